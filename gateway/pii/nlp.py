"""The NLP engine Presidio runs on. Models cannot be downloaded here, so the default needs none.

`TokenNlpEngine` (the default) splits text into words and punctuation with one regular expression and uses
each word's lower-case form as its lemma, so Presidio's context words ("phone", "ssn", ...) still raise
scores; it is several times faster than even a blank spaCy pipeline, and splits `3732695155-Fax` so the
context word is seen. It tokenizes lazily: context scoring (the only user of tokens without a model) reads
the few words around each match from the text itself, so a long text is never tokenized whole.
Named entities (PERSON, LOCATION, ...) need a model: `pii.nlp_model: en_core_web_lg` loads an installed
spaCy model instead (`ModelNlpEngine`).
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable, Iterator
from typing import Any

import spacy
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer, LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, NlpEngine, SpacyNlpEngine

from gateway.errors import ConfigError


class ModelNlpEngine(SpacyNlpEngine):
    """An installed spaCy pipeline (a model package, or one built in code), never downloaded.

    The entity labels Presidio has no type for (CARDINAL, MONEY, FAC, ...) are ignored: else Presidio logs a
    warning for each one in each text, and the gateway's log scrubber runs the model again on every such line.
    """

    def __init__(self, pipelines: dict[str, Any]) -> None:
        config = NerModelConfiguration()
        unmapped = {label for nlp in pipelines.values() for label in _entity_labels(nlp)}
        config.labels_to_ignore = sorted(unmapped - set(config.model_to_presidio_entity_mapping or {}))
        super().__init__(
            models=[{"lang_code": lang, "model_name": "installed"} for lang in pipelines],
            ner_model_configuration=config,
        )
        self.nlp = dict(pipelines)  # type: ignore[assignment]

    def load(self) -> None:
        pass


def _entity_labels(nlp: Any) -> set[str]:
    """The labels of the pipeline's components that set entities (a trained `ner`, an `entity_ruler`)."""
    return {
        label
        for name, labels in nlp.pipe_labels.items()
        if "doc.ents" in nlp.get_pipe_meta(name).assigns
        for label in labels
    }


_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\w+")
_PUNCT = re.compile(r"[^\w\s]+")


class TokenNlpEngine(NlpEngine):
    """Words and punctuation by a regular expression; lemmas are lower-case words; no entities."""

    def __init__(self, languages: list[str]) -> None:
        self.languages = languages
        self.stop_words = {lang: _stop_words(lang) for lang in languages}

    def load(self) -> None:
        pass

    def is_loaded(self) -> bool:
        return True

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        return TextArtifacts(text, language, self)

    def context_words(self, text: str, start: int, end: int, before: int, after: int, language: str) -> list[str]:
        """What Presidio's context enhancer collects around the match at `start`: walking back from the
        match's first token (itself included) the first `before` + 1 words that are neither stop words nor
        punctuation, and as many forward; lower-case. Only the text near the match is tokenized, wider
        until enough words are found or the text ends."""
        stop = self.stop_words.get(language, set())
        first = start  # the word the match starts in (punctuation is never a context word)
        while first > 0 and _WORD.match(text, first - 1) and _WORD.match(text, start):
            first -= 1
        word = _WORD.match(text, start)
        last = word.end() if word else start

        def keep(words: Iterable[str], count: int) -> list[str]:
            return list(itertools.islice((w for w in map(str.lower, words) if w not in stop and w != "be"), count))

        width = 120
        while True:
            lo, hi = max(0, first - width), min(len(text), last + width)
            while lo > 0 and not text[lo - 1].isspace():  # whole words only
                lo -= 1
            while hi < len(text) and not text[hi].isspace():
                hi += 1
            back = keep(reversed(_WORD.findall(text, lo, last)), before + 1)
            ahead = keep(_WORD.findall(text, first, hi), after + 1)
            if (len(back) > before or lo == 0) and (len(ahead) > after or hi == len(text)):
                break
            width *= 4
        return list({*back, *ahead})

    def process_batch(
        self, texts: Iterable[str], language: str, batch_size: int = 1, n_process: int = 1, **kwargs: Any
    ) -> Iterator[tuple[str, NlpArtifacts]]:
        for text in texts:
            yield text, self.process_text(text, language)

    def is_stopword(self, word: str, language: str) -> bool:
        return word.lower() in self.stop_words.get(language, set())

    def is_punct(self, word: str, language: str) -> bool:
        return _PUNCT.fullmatch(word) is not None

    def get_supported_entities(self) -> list[str]:
        return []

    def get_supported_languages(self) -> list[str]:
        return list(self.languages)


class TextArtifacts(NlpArtifacts):
    """NlpArtifacts whose tokens are made only if something asks for them (nothing does on the default
    path: `FastContextEnhancer` asks the engine for the words around a match instead)."""

    def __init__(self, text: str, language: str, engine: TokenNlpEngine) -> None:  # noqa: D107
        self.text, self.language, self.nlp_engine = text, language, engine
        self.entities, self.scores = [], []

    def __getattr__(self, name: str) -> Any:
        if name not in {"tokens", "tokens_indices", "lemmas", "keywords"}:
            raise AttributeError(name)
        tokens, indices = [], []
        for match in _TOKEN.finditer(self.text):
            tokens.append(match.group(0))
            indices.append(match.start())
        self.tokens, self.tokens_indices = tokens, indices  # type: ignore[assignment]
        self.lemmas = [token.lower() for token in tokens]
        self.keywords = self.set_keywords(self.nlp_engine, self.lemmas, self.language)
        return getattr(self, name)


def _stop_words(lang: str) -> set[str]:
    """spaCy's stop words for `lang` (shipped with spaCy, no model needed); none for an unknown language."""
    try:
        return set(spacy.blank(lang).Defaults.stop_words)
    except (ImportError, OSError, KeyError):
        return set()


def build_nlp_engine(languages: list[str], model: str | None) -> NlpEngine:
    if model is None:
        return TokenNlpEngine(languages)
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
            if metadata.get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY) or result.score >= 1.0:
                continue  # already boosted, or nothing a context word could add
            if isinstance(nlp_artifacts, TextArtifacts):
                words = nlp_artifacts.nlp_engine.context_words(
                    text,
                    result.start,
                    result.end,
                    self.context_prefix_count,
                    self.context_suffix_count,
                    nlp_artifacts.language,
                )
            else:
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
