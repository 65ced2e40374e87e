"""docker-compose.yml and the Dockerfile: no Docker engine runs here, so check they parse and that
everything they reference exists and is valid."""

from __future__ import annotations

import yaml

from gateway.settings import load_settings
from tests.conftest import ROOT


def test_compose_file_parses_and_references_exist():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"gateway", "opa", "postgres"} <= set(services)
    assert services["gateway"]["build"] == "."
    assert services["opa"]["image"].startswith("openpolicyagent/opa:")
    for volume in services["gateway"]["volumes"]:
        assert (ROOT / volume.split(":")[0]).exists()
    for dependency in services["gateway"]["depends_on"]:
        assert dependency in services


def test_dockerfile_copies_files_that_exist():
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source


def test_deployed_config_is_valid_and_points_at_the_compose_services():
    settings = load_settings(ROOT / "deploy/gateway.yaml", env={})
    assert settings.policy.engine == "opa" and settings.policy.opa_url == "http://opa:8181"
    assert "@postgres:5432/" in settings.database_url
