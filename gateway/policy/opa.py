"""The `opa` engine: an OPA server (sidecar or central) asked for `data.gateway.decision` over its REST API
with `opa-python-client` (async, one pooled session). The policies in `policy.dir` are pushed at start
and on every change, unless `policy.push: false` leaves them to an OPA bundle.

An OPA server that restarts comes back empty. The engine notices (a watcher checks every few seconds that
the server holds our modules; an undefined decision checks at once) and pushes the serving version again;
until then `/readyz` says unready and calls are denied as `policy_unavailable` (503, Retry-After), never as
a policy verdict.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from opa_client import AsyncOpaClient

from gateway.errors import ConfigError, PolicyEngineError, PolicyUnavailable
from gateway.policy.source import PolicySource
from gateway.settings import PolicyConfig

POLICY_PREFIX = "gateway/"
log = logging.getLogger("gateway.policy")


def _client(url: str, timeout_s: float) -> AsyncOpaClient:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"policy.opa_url {url!r} is not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return AsyncOpaClient(host=parts.hostname, port=port, ssl=parts.scheme == "https", retries=0, timeout=timeout_s)


class OpaEngine:
    """Create with `await OpaEngine.start(config, source)`; close with `aclose()`."""

    def __init__(self, config: PolicyConfig, source: PolicySource, client: AsyncOpaClient) -> None:
        self.config = config
        self.source = source
        self.client = client
        self._version = source.version if config.push else "opa-bundle"
        self._loaded = config.push  # whether the server is known to hold our modules
        self._repush = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, config: PolicyConfig, source: PolicySource) -> OpaEngine:
        client = _client(config.opa_url, config.timeout_ms / 1000)
        await client.__aenter__()
        engine = cls(config, source, client)
        if config.push:
            try:
                await engine.push(source)
            except BaseException:
                await client.close_connection()
                raise
            engine._watcher = asyncio.create_task(engine._watch())
        return engine

    @property
    def version(self) -> str:
        return self._version

    async def push(self, source: PolicySource) -> None:
        """Load data and modules into the server. A version OPA refuses is a ConfigError, and the modules
        already replaced are put back, so the previous version keeps serving whole."""
        previous = self.source
        try:
            await self._replace(source, previous)
        except Exception as exc:  # noqa: BLE001 - the client raises its own types for a refused policy
            if previous is not source:
                with contextlib.suppress(Exception):
                    await self._replace(previous, source)
            if isinstance(exc, aiohttp.ClientError | TimeoutError | OSError):
                raise ConfigError(f"cannot push policies to OPA at {self.config.opa_url}: {exc}") from exc
            raise ConfigError(f"OPA refused the policies in {source.root}: {getattr(exc, 'message', exc)}") from exc
        self.source, self._version = source, source.version

    async def _replace(self, source: PolicySource, current: PolicySource) -> None:
        """The server ends up with exactly `source` (it had `current`): policy ids under `gateway/` are ours."""
        wanted = {f"{POLICY_PREFIX}{name}": text for name, text in source.policy_modules().items()}
        stale = [p for p in await self.client.get_policies_list() if p.startswith(POLICY_PREFIX) and p not in wanted]
        for key, value in source.data.items():
            await self.client.update_or_create_data(value, key)
        for policy_id in stale:
            await self.client.delete_policy(policy_id)
        for policy_id, text in wanted.items():
            await self.client.update_policy_from_string(text, policy_id, rego_compat=False)
        for key in set(current.data) - set(source.data):
            await self.client.delete_data(key)

    async def evaluate(self, input_doc: dict[str, Any]) -> Any:
        result = await self._query(input_doc)
        if result is None and self.config.push and not await self.ensure_loaded():
            raise PolicyUnavailable(f"OPA at {self.config.opa_url} does not hold the gateway's policies")
        return await self._query(input_doc) if result is None and self.config.push else result

    async def _query(self, input_doc: dict[str, Any]) -> Any:
        try:
            answer = await self.client.query_rule(input_doc, "gateway", "decision")
        except aiohttp.ClientResponseError as exc:
            raise PolicyEngineError(f"OPA answered {exc.status}: {exc.message}") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PolicyUnavailable(f"OPA at {self.config.opa_url} unreachable: {type(exc).__name__}") from exc
        if not isinstance(answer, dict):
            raise PolicyEngineError("OPA sent an answer that is not an object")
        return answer.get("result")

    async def ensure_loaded(self) -> bool:
        """Whether the server holds our modules; pushes the serving version again when it lost them (a
        restarted or emptied server). False when it cannot be reached or refuses."""
        async with self._repush:
            try:
                held = set(await self.client.get_policies_list())
                wanted = {f"{POLICY_PREFIX}{name}" for name in self.source.policy_modules()}
                if wanted <= held:
                    self._loaded = True
                    return True
                log.warning(
                    "OPA at %s lost the gateway's policies; pushing version %s again", self.config.opa_url, self.version
                )
                await self._replace(self.source, self.source)
            except Exception as exc:  # noqa: BLE001 - unreachable, or the client's own error types
                log.warning("OPA at %s: cannot check or push the policies: %s", self.config.opa_url, exc)
                self._loaded = False
                return False
            self._loaded = True
            return True

    async def _watch(self, interval_s: float = 2.0) -> None:
        while True:
            await asyncio.sleep(interval_s)
            await self.ensure_loaded()

    async def ready(self) -> bool:
        try:
            healthy = bool(await asyncio.wait_for(self.client.check_health(), timeout=1.0))
        except TimeoutError:
            return False
        if not healthy or not self.config.push:
            return healthy
        return await asyncio.wait_for(self.ensure_loaded(), timeout=2.0)

    async def aclose(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await self.client.close_connection()
