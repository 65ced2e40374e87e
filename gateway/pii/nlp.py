"""The NLP engine Presidio runs on. Models cannot be downloaded here, so the default needs none.

`BlankNlpEngine` is a blank spaCy pipeline (a tokenizer) plus a component that sets each token's lemma to
its lower-case text, so Presidio's context words still raise scores. Every pattern and checksum recognizer
works with it; named entities (PERSON, LOCATION, ...) need a model: `pii.nlp_model: en_core_web_lg` loads
an installed spaCy model instead.
"""

from __future__ import annotations

import bisect
from typing import Any

import spacy
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpEngine, SpacyNlpEngine
from spacy.language import Language
from spacy.tokens import Doc

from gateway.errors import ConfigError


@Language.component("gateway_lower_lemma")
def _lower_lemma(doc: Doc) -> Doc:
    for token in doc:
        token.lemma_ = token.lower_
    return doc


class BlankNlpEngine(SpacyNlpEngine):
    """Tokens and lemmas, no entities: enough for Presidio's pattern recognizers and their context words."""

    def __init__(self, languages: list[str]) -> None:
        super().__init__(models=[{"lang_code": lang, "model_name": f"blank:{lang}"} for lang in languages])
        self.nlp = {lang: self._blank(lang) for lang in languages}  # type: ignore[assignment]

    @staticmethod
    def _blank(lang: str) -> Language:
        nlp = spacy.blank(lang)
        nlp.add_pipe("gateway_lower_lemma")
        return nlp

    def load(self) -> None:  # nothing to download
        pass


class ModelNlpEngine(SpacyNlpEngine):
    """An installed spaCy pipeline (a model package, or one built in code), never downloaded."""

    def __init__(self, pipelines: dict[str, Any]) -> None:
        super().__init__(models=[{"lang_code": lang, "model_name": "installed"} for lang in pipelines])
        self.nlp = dict(pipelines)  # type: ignore[assignment]

    def load(self) -> None:
        pass


def build_nlp_engine(languages: list[str], model: str | None) -> NlpEngine:
    if model is None:
        return BlankNlpEngine(languages)
    try:
        pipeline = spacy.load(model)
    except OSError as exc:
        raise ConfigError(f"pii.nlp_model: spaCy model {model!r} is not installed ({exc})") from exc
    return ModelNlpEngine({lang: pipeline for lang in languages})


class FastContextEnhancer(LemmaContextAwareEnhancer):
    """Presidio's context enhancer, finding a match's token by bisection instead of a walk over every
    token (the walk made context scoring most of the analysis time on long texts)."""

    @staticmethod
    def _find_index_of_match_token(word: str, start: int, tokens: Any, tokens_indices: list[int]) -> int:
        i = bisect.bisect_right(tokens_indices, start) - 1
        if i >= 0 and start < tokens_indices[i] + len(tokens[i]):
            return i
        if i + 1 < len(tokens_indices):
            return i + 1
        raise ValueError(f"no token at offset {start}")
