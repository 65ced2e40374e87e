"""Builds the configured policy engine and swaps in new policy versions (hot reload)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from gateway.errors import ConfigError, StoreUnavailable
from gateway.policy.check import require_supported
from gateway.policy.embedded import EmbeddedEngine, compile_source, runtime_name
from gateway.policy.engine import PolicyEngine
from gateway.policy.opa import OpaEngine
from gateway.policy.source import PolicySource, load_source
from gateway.settings import PolicyConfig

log = logging.getLogger("gateway.policy")


def load_checked(config: PolicyConfig) -> PolicySource:
    """Read the policy dir; for rego-cpp refuse builtins it cannot evaluate, at load time."""
    source = load_source(config.dir)
    if config.engine == "embedded" and runtime_name(config.runtime) == "rego-cpp":
        require_supported(source, source.policy_modules())
    return source


async def build_engine(config: PolicyConfig) -> PolicyEngine:
    source = load_checked(config)
    if config.engine == "opa":
        return await OpaEngine.start(config, source)
    engine = EmbeddedEngine(source, runtime=config.runtime)
    if runtime_name(config.runtime) == "rego-cpp":
        log.warning("embedded policy engine on rego-cpp: inputs holding quotes or backslashes are denied")
    return engine


async def apply(engine: PolicyEngine, source: PolicySource) -> None:
    """Compile/push a new version; raises ConfigError and leaves the old version serving if it is refused."""
    if isinstance(engine, EmbeddedEngine):
        engine.swap(compile_source(source, runtime=engine.runtime))
    elif isinstance(engine, OpaEngine):
        await engine.push(source)


async def _keep(served: Callable[[PolicySource], Awaitable[None]], source: PolicySource) -> None:
    try:
        await served(source)
    except StoreUnavailable as exc:  # it serves all the same; `policy why` cannot fetch it later
        log.warning("policy version %s not kept: %s", source.version, exc.message)


def _signature(root: Path) -> tuple[tuple[str, int, int], ...]:
    try:
        files = sorted(p for p in root.rglob("*") if p.is_file())
        return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    except OSError:
        return ()


async def watch(
    engine: PolicyEngine,
    config: PolicyConfig,
    interval_s: float = 1.0,
    served: Callable[[PolicySource], Awaitable[None]] | None = None,
) -> None:
    """Poll the policy dir; swap in each version that compiles, log and keep the old one otherwise. `served` is
    told of each version put in force (`gateway.policy.versions`)."""
    seen = _signature(config.dir)
    while True:
        await asyncio.sleep(interval_s)
        current = _signature(config.dir)
        if current == seen:
            continue
        seen = current
        try:
            source = load_checked(config)
            if source.version == engine.version:
                continue
            await apply(engine, source)
            log.warning("policy reloaded: version %s now serving", source.version)
            if served is not None:
                await _keep(served, source)
        except ConfigError as exc:
            log.error("policy change rejected, version %s keeps serving: %s", engine.version, exc.message)
