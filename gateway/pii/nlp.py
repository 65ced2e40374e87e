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
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer, LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine, SpacyNlpEngine
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
    token (the walk made context scoring most of the analysis time on long texts), and scoring the results
    in place instead of on a deep copy (they are fresh from the recognizers and nothing else holds them)."""

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        by_id = {recognizer.id: recognizer for recognizer in recognizers}
        extra = [word.lower() for word in context or []]
        if nlp_artifacts is None:
            return raw_results
        for result in raw_results:
            metadata = result.recognition_metadata or {}
            recognizer = by_id.get(metadata.get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY))
            if recognizer is None or not recognizer.context:
                continue
            if metadata.get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY):
                continue
            words = self._extract_surrounding_words(nlp_artifacts, text[result.start : result.end], result.start)
            supportive = self._find_supportive_word_in_context(
                [*words, *extra], recognizer.context, self.context_matching_mode
            )
            if supportive:
                score = max(result.score + self.context_similarity_factor, self.min_score_with_context_similarity)
                result.score = min(score, ContextAwareEnhancer.MAX_SCORE)
                result.analysis_explanation.set_supportive_context_word(supportive)
                result.analysis_explanation.set_improved_score(result.score)
        return raw_results

    @staticmethod
    def _find_index_of_match_token(word: str, start: int, tokens: Any, tokens_indices: list[int]) -> int:
        i = bisect.bisect_right(tokens_indices, start) - 1
        if i >= 0 and start < tokens_indices[i] + len(tokens[i]):
            return i
        if i + 1 < len(tokens_indices):
            return i + 1
        raise ValueError(f"no token at offset {start}")
