"""docker-compose.yml and the Dockerfile: no Docker engine runs here, so check they parse and that
everything they reference exists and is valid."""

from __future__ import annotations

import yaml

from gateway.settings import load_settings
from tests.conftest import ROOT


def test_compose_file_parses_and_references_exist():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"gateway", "opa", "postgres", "nginx"} <= set(services)
    assert services["gateway"]["build"] == "." and services["gateway"]["deploy"]["replicas"] == 2
    for volume in services["nginx"]["volumes"]:
        assert (ROOT / volume.split(":")[0]).exists()
    assert "server gateway:8080" in (ROOT / "deploy/nginx.conf").read_text()
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


def test_every_setting_is_documented_in_the_readme():
    from pydantic import BaseModel

    from gateway.limits.config import LimitConfig, Price, UsageConfig
    from gateway.settings import (
        AgentConfig,
        AnchorsConfig,
        ApprovalsConfig,
        AuditConfig,
        McpServerConfig,
        OidcConfig,
        PiiConfig,
        PolicyConfig,
        ProviderConfig,
        ResponsesConfig,
        RouteConfig,
        Settings,
        WebhookConfig,
        WitnessConfig,
    )

    readme = (ROOT / "README.md").read_text()
    config_block = readme[readme.index("## Configure") : readme.index("## Commands")]
    models: list[type[BaseModel]] = [
        Settings,
        PolicyConfig,
        PiiConfig,
        ProviderConfig,
        RouteConfig,
        ApprovalsConfig,
        WebhookConfig,
        OidcConfig,
        AuditConfig,
        AnchorsConfig,
        WitnessConfig,
        McpServerConfig,
        AgentConfig,
        ResponsesConfig,
        LimitConfig,
        UsageConfig,
        Price,
    ]
    missing = [
        f"{m.__name__}.{name}"
        for m in models
        for name, field in m.model_fields.items()
        if not field.exclude and f"{name}:" not in config_block
    ]
    assert not missing, f"settings not documented in README's Configure section: {missing}"
