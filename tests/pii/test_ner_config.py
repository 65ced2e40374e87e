"""The NER wiring, proven without a model package: pattern-only by default, the Docker build argument's config
step, and a pipeline's entity labels that Presidio has no type for ignored without a warning."""

from __future__ import annotations

import logging
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import spacy
from presidio_analyzer.predefined_recognizers import SpacyRecognizer

from gateway.errors import ConfigError
from gateway.pii.analyzer import Inspector
from gateway.pii.nlp import TokenNlpEngine
from gateway.settings import PiiConfig, load_settings
from tests.conftest import ROOT


def tiny_model(path: Path) -> str:
    """A spaCy pipeline saved as a model: an EntityRuler with a person, a place and a sum of money."""
    nlp = spacy.blank("en")
    ruler: Any = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(
        [
            {"label": "PERSON", "pattern": "Ada Lovelace"},
            {"label": "GPE", "pattern": "London"},
            {"label": "MONEY", "pattern": "five pounds"},
        ]
    )
    nlp.to_disk(path)
    return str(path)


def test_without_a_model_no_spacy_pipeline_runs_and_no_named_entity_is_looked_for() -> None:
    inspector = Inspector(PiiConfig(), key=b"k")
    assert type(inspector.analyzer.nlp_engine) is TokenNlpEngine
    assert not any(isinstance(r, SpacyRecognizer) for r in inspector.analyzer.registry.recognizers)
    assert not {"PERSON", "LOCATION", "ORGANIZATION", "NRP"} & inspector.supported


def test_labels_presidio_has_no_type_for_are_ignored_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Else Presidio warns for each one in each text, and the log scrubber runs the model again on each line."""
    inspector = Inspector(PiiConfig(nlp_model=tiny_model(tmp_path / "tiny")), key=b"k")
    text = "Ada Lovelace paid five pounds in London"
    with caplog.at_level(logging.WARNING, logger="presidio-analyzer"):
        hits = inspector.analyze(text)
    assert [(h.type, text[h.start : h.end]) for h in hits] == [("PERSON", "Ada Lovelace"), ("LOCATION", "London")]
    assert caplog.records == []
    assert inspector.analyzer.nlp_engine.ner_model_configuration.labels_to_ignore == ["MONEY"]  # type: ignore[attr-defined]


def dockerfile_config_step() -> str:
    """The Python the Dockerfile runs when SPACY_MODEL is set, to name the model in the image's config."""
    text = (ROOT / "Dockerfile").read_text()
    assert '\nARG SPACY_MODEL=""\n' in text  # off unless asked for: the default image stays pattern-only
    runs = [line for line in text.replace("\\\n", "").splitlines() if line.startswith("RUN ") and "nlp_model" in line]
    words = shlex.split(runs[0])
    return words[words.index("-c") + 1]


def test_the_docker_build_argument_names_the_model_in_the_images_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "gateway.yaml"
    shutil.copy(ROOT / "deploy/gateway.yaml", config)
    model = tiny_model(tmp_path / "tiny")
    monkeypatch.setattr(sys, "argv", ["-c", str(config), model])
    exec(dockerfile_config_step(), {})
    settings = load_settings(config, env={})
    assert settings.pii.nlp_model == model
    assert settings.pii.key_env == "GATEWAY_PII_KEY" and settings.policy.engine == "opa"  # the rest is kept


def test_the_docker_build_fails_when_the_model_does_not_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "gateway.yaml"
    shutil.copy(ROOT / "deploy/gateway.yaml", config)
    monkeypatch.setattr(sys, "argv", ["-c", str(config), "en_core_web_nonexistent"])
    with pytest.raises(ConfigError, match="not installed"):
        exec(dockerfile_config_step(), {})
