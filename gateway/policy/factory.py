"""Builds the configured policy engine."""

from __future__ import annotations

from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.engine import PolicyEngine
from gateway.policy.source import load_source
from gateway.settings import PolicyConfig


async def build_engine(config: PolicyConfig) -> PolicyEngine:
    return EmbeddedEngine(load_source(config.dir))
