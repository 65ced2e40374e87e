"""The Inspector on its own: every recognizer finds what it should and leaves look-alikes alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import spacy

from gateway.errors import ConfigError
from gateway.pii.analyzer import Inspector
from gateway.settings import PiiConfig

INSPECTOR = Inspector(PiiConfig(), key=b"test")


def found(text: str, inspector: Inspector = INSPECTOR) -> list[tuple[str, str]]:
    return [(h.type, text[h.start : h.end]) for h in inspector.analyze(text)]


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        ("write to jane.roe@example.com today", "EMAIL_ADDRESS", "jane.roe@example.com"),
        ("call (415) 555-2671 now", "PHONE_NUMBER", "(415) 555-2671"),
        ("fax 751-954-9268 (area code not assigned)", "PHONE_NUMBER", "751-954-9268"),
        ("office 0348 2102744 ext. 12 please", "PHONE_NUMBER", "0348 2102744 ext. 12"),
        ("intl +44 20 7946 0958", "PHONE_NUMBER", "+44 20 7946 0958"),
        ("fax: 3732695155", "PHONE_NUMBER", "3732695155"),  # a bare run, next to a phone word
        ("my iban is gb50mvfc38361978683032", "IBAN_CODE", "gb50mvfc38361978683032"),
        ("card 4111 1111 1111 1111 ok", "CREDIT_CARD", "4111 1111 1111 1111"),
        ("ssn 536-22-8456 on file", "US_SSN", "536-22-8456"),
        ("iban DE89 3704 0044 0532 0130 00 please", "IBAN_CODE", "DE89 3704 0044 0532 0130 00"),
        ("from 192.168.12.7 yesterday", "IP_ADDRESS", "192.168.12.7"),
        ("from 2001:db8:85a3::8a2e:370:7334 today", "IP_ADDRESS", "2001:db8:85a3::8a2e:370:7334"),
        ("device 00:1A:2B:3C:4D:5E online", "MAC_ADDRESS", "00:1A:2B:3C:4D:5E"),
        ("device 00-1a-2b-3c-4d-5e online", "MAC_ADDRESS", "00-1a-2b-3c-4d-5e"),
        ("switch port 001a.2b3c.4d5e up", "MAC_ADDRESS", "001a.2b3c.4d5e"),
        ("write to ops@corp.example.com or see docs.example.com", "URL", "docs.example.com"),
        ("pay to 1BoatSLRHtKNngkdXEeobR76b53LETtpyT now", "CRYPTO", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"),
        ("see https://intranet.corp.com/a for it", "URL", "https://intranet.corp.com/a"),
        (
            "key sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD here",
            "OPENAI_API_KEY",
            "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD",
        ),
        (
            "key sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789_-AB here",
            "ANTHROPIC_API_KEY",
            "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789_-AB",
        ),
        ("aws AKIAIOSFODNN7EXAMPLE here", "AWS_ACCESS_KEY", "AKIAIOSFODNN7EXAMPLE"),
        (
            "token ghp_abcdefghijklmnopqrstuvwxyz0123456789 here",
            "GITHUB_TOKEN",
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        ),
        ("slack xoxb-1234567890-abcdefghij here", "SLACK_TOKEN", "xoxb-1234567890-abcdefghij"),
        (
            "google AIzaSyA1234567890abcdefghijklmnopqrstuv here",
            "GOOGLE_API_KEY",
            "AIzaSyA1234567890abcdefghijklmnopqrstuv",
        ),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U ok",
            "JWT",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        ),
        (
            "Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345 sent",
            "BEARER_TOKEN",
            "abcdefghijklmnopqrstuvwxyz012345",
        ),
        ("db postgres://app:s3cr3t-pw@db.internal:5432/prod ok", "CONNECTION_STRING_PASSWORD", "app:s3cr3t-pw"),
    ],
)
def test_each_recognizer_finds_its_value(text, entity, value):
    assert (entity, value) in found(text)


def test_a_private_key_block_is_found_whole():
    block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc\n-----END RSA PRIVATE KEY-----"
    assert found(f"here:\n{block}\nthanks") == [("PRIVATE_KEY", block)]


@pytest.mark.parametrize(
    "text",
    [
        "the meeting is at 10:30 in room 4",  # times and small numbers
        "version 1.2.3 of sk-learn is out",  # a package, not a key
        "the risk-assessment skill is key",  # sk- inside words
        "akia is a name, AKIA alone is not a key",
        "order 12345 shipped",  # too short for a card or a phone
        "order 3732695155 shipped",  # a bare run of digits without a phone word
        "ghp_short is not a token",
        "Bearer of bad news",  # a bearer, not a token
        "see section 4.2.1 of the 2024-01-15 release",  # a version and a date, not a phone number
        "https://example.com without credentials",
    ],
)
def test_look_alikes_are_left_alone(text):
    assert [f for f in found(text) if f[0] != "URL"] == []


def test_a_url_inside_an_email_is_the_email():
    assert found("mail john.doe@example.com") == [("EMAIL_ADDRESS", "john.doe@example.com")]


def test_allow_and_deny_lists():
    inspector = Inspector(
        PiiConfig(allow_list=["support@example.com"], deny_list={"EMPLOYEE_ID": ["E-1001"]}), key=b"k"
    )
    assert found("ask support@example.com or bob@example.com about E-1001", inspector) == [
        ("EMAIL_ADDRESS", "bob@example.com"),
        ("EMPLOYEE_ID", "E-1001"),
    ]


def test_only_the_configured_entities_are_looked_for():
    inspector = Inspector(PiiConfig(entities=["US_SSN"]), key=b"k")
    assert found("mail a@example.com ssn 536-22-8456", inspector) == [("US_SSN", "536-22-8456")]
    with pytest.raises(ConfigError, match="no recognizer finds NOPE"):
        Inspector(PiiConfig(entities=["NOPE"]), key=b"k")


def test_text_beyond_max_chars_is_not_inspected_and_says_so():
    inspector = Inspector(PiiConfig(max_chars=30), key=b"k")
    findings = inspector.inspect([("user", 0, "a@example.com " + "x" * 40 + " b@example.com")])
    assert findings.truncated and [f.type for f in findings.items] == ["EMAIL_ADDRESS"]


def test_the_same_value_has_the_same_keyed_hash_and_another_key_another():
    other = Inspector(PiiConfig(), key=b"other")
    assert INSPECTOR.value_hash("a@example.com") == INSPECTOR.value_hash("a@example.com")
    assert INSPECTOR.value_hash("a@example.com") != other.value_hash("a@example.com")


def test_named_entities_with_an_installed_pipeline(tmp_path: Path):
    """The NER path, proven without a download: a tiny spaCy pipeline (an EntityRuler) saved as a model."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "PERSON", "pattern": "Ada Lovelace"}, {"label": "GPE", "pattern": "London"}])
    nlp.to_disk(tmp_path / "tiny_ner")
    inspector = Inspector(PiiConfig(nlp_model=str(tmp_path / "tiny_ner")), key=b"k")
    assert {"PERSON", "LOCATION"} <= inspector.supported
    assert found("Ada Lovelace lived in London", inspector) == [("PERSON", "Ada Lovelace"), ("LOCATION", "London")]


def test_a_model_that_is_not_installed_is_a_config_error():
    with pytest.raises(ConfigError, match="not installed"):
        Inspector(PiiConfig(nlp_model="en_core_web_nonexistent"), key=b"k")
