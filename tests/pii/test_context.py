"""Context words read around a match give what Presidio's walk over every token of the text gives."""

from __future__ import annotations

import random

import pytest
from presidio_analyzer.nlp_engine import NlpArtifacts

from gateway.pii.nlp import FastContextEnhancer, TextArtifacts, TokenNlpEngine

VOCABULARY = (
    "l'été (fax) tel: é_b x_y the phone is call me at fax ssn card : - ( ) 555-1234 a of and number "
    "social security abc:def"
).split()


@pytest.mark.parametrize("seed", range(4))
def test_local_context_words_match_presidios_walk(seed: int) -> None:
    engine = TokenNlpEngine(["en"])
    enhancer = FastContextEnhancer(context_suffix_count=2)
    rng = random.Random(seed)
    compared = 0
    for _ in range(1500):
        text = " ".join(rng.choice(VOCABULARY) + rng.choice(["", ",", ".", ""]) for _ in range(rng.randint(1, 80)))
        start = rng.randrange(len(text))
        if text[start].isspace():
            continue  # a match never starts on whitespace
        end = min(len(text), start + rng.randint(1, 12))
        lazy = TextArtifacts(text, "en", engine)
        whole = NlpArtifacts([], lazy.tokens, lazy.tokens_indices, lazy.lemmas, engine, "en")  # type: ignore[arg-type]
        expected = set(enhancer._extract_surrounding_words(whole, text[start:end], start))
        got = engine.context_words(text, start, end, enhancer.context_prefix_count, enhancer.context_suffix_count, "en")
        assert set(got) == expected, (text, start, end)
        compared += 1
    assert compared > 1000


def test_tokens_are_made_only_when_asked() -> None:
    artifacts = TokenNlpEngine(["en"]).process_text("call 555-1234 now", "en")
    assert "tokens" not in vars(artifacts)
    assert artifacts.tokens == ["call", "555", "-", "1234", "now"]
    assert artifacts.tokens_indices == [0, 5, 8, 9, 14]
    assert artifacts.keywords == ["555", "1234"]  # "call" and "now" are stop words
