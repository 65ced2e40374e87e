"""The `opa` engine: an OPA server (sidecar or central) asked for `data.gateway.decision` over its REST API
with `opa-python-client` (async, one pooled session). The policies in `policy.dir` are pushed at start
and on every change, unless `policy.push: false` leaves them to an OPA bundle.

An OPA server that restarts comes back empty, and its data can be deleted on its own (`DELETE
/v1/data/gateway`) while the modules stay: the default policy would then allow what `risky_tools` forbids.
So the pushed data carries a revision mark in each top-level document, and every decision is asked through a
small guard module that answers the decision together with the marks it sees. Marks missing or stale, or the
guard itself missing, mean the server lost part of what was pushed: the engine pushes the serving version
again (a watcher also checks every few seconds); until that succeeds `/readyz` says unready and calls are
denied as `policy_unavailable` (503, Retry-After), never decided on partial data.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from opa_client import AsyncOpaClient

from gateway.errors import ConfigError, PolicyEngineError, PolicyUnavailable
from gateway.policy.source import PolicySource
from gateway.settings import PolicyConfig

POLICY_PREFIX = "gateway/"
GUARD_ID = f"{POLICY_PREFIX}.guard.rego"
GUARD_PACKAGE = "gateway_internal_guard"
MARK = "_gateway_data_revision"
log = logging.getLogger("gateway.policy")


def data_revision(source: PolicySource) -> str:
    return hashlib.sha256(json.dumps(source.data, sort_keys=True).encode()).hexdigest()[:16]


def marked_documents(source: PolicySource) -> dict[str, Any]:
    """The top-level data documents to push, each object among them carrying the revision mark."""
    revision = data_revision(source)
    return {key: {**value, MARK: revision} if isinstance(value, dict) else value for key, value in source.data.items()}


def guard_module(source: PolicySource) -> str:
    """Answers the decision with the revision marks the server holds (null where a document lost its mark).
    Each mark is a rule of its own with a direct reference: a reference to all of `data` would include this
    module (recursion) and evaluate every rule."""
    keys = sorted(key for key, value in source.data.items() if isinstance(value, dict))
    marks = "".join(
        f"default mark_{i} := null\n\nmark_{i} := data[{json.dumps(key)}][{json.dumps(MARK)}]\n\n"
        for i, key in enumerate(keys)
    )
    listed = ", ".join(f"mark_{i}" for i in range(len(keys)))
    return (
        f"package {GUARD_PACKAGE}\n\nimport rego.v1\n\n{marks}revisions := [{listed}]\n\n"
        'answer["decision"] := data.gateway.decision\n\nanswer["revisions"] := revisions\n'
    )


def expected_marks(source: PolicySource) -> list[str]:
    return [data_revision(source)] * sum(isinstance(value, dict) for value in source.data.values())


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
        self._marks = expected_marks(source)  # what the guard must answer (hashing the data once per version)
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
        async with self._repush:  # a check meanwhile waits, rather than push the version being replaced
            previous = self.source
            try:
                await self._replace(source, previous)
            except Exception as exc:  # noqa: BLE001 - the client raises its own types for a refused policy
                if previous is not source:
                    with contextlib.suppress(Exception):
                        await self._replace(previous, source)
                if isinstance(exc, aiohttp.ClientError | TimeoutError | OSError):
                    raise ConfigError(f"cannot push policies to OPA at {self.config.opa_url}: {exc}") from exc
                message = getattr(exc, "message", exc)
                raise ConfigError(f"OPA refused the policies in {source.root}: {message}") from exc
            self.source, self._version, self._marks = source, source.version, expected_marks(source)

    async def _replace(self, source: PolicySource, current: PolicySource) -> None:
        """The server ends up with exactly `source` (it had `current`): policy ids under `gateway/` are ours."""
        wanted = {f"{POLICY_PREFIX}{name}": text for name, text in source.policy_modules().items()}
        wanted[GUARD_ID] = guard_module(source)
        stale = [p for p in await self.client.get_policies_list() if p.startswith(POLICY_PREFIX) and p not in wanted]
        for key, value in marked_documents(source).items():
            await self.client.update_or_create_data(value, key)
        for policy_id in stale:
            await self.client.delete_policy(policy_id)
        for policy_id, text in wanted.items():
            await self.client.update_policy_from_string(text, policy_id, rego_compat=False)
        for key in set(current.data) - set(source.data):
            await self.client.delete_data(key)

    async def evaluate(self, input_doc: dict[str, Any]) -> Any:
        if not self.config.push:  # the server loads its own bundle: what it holds is the operator's to keep
            return await self._query(input_doc, "gateway", "decision")
        answer = await self._query(input_doc, GUARD_PACKAGE, "answer")
        if not self._intact(answer):
            if await self.ensure_loaded():
                answer = await self._query(input_doc, GUARD_PACKAGE, "answer")
            if not self._intact(answer):
                raise PolicyUnavailable(f"OPA at {self.config.opa_url} does not hold the gateway's policies and data")
        return answer.get("decision")

    def _intact(self, answer: Any) -> bool:
        return isinstance(answer, dict) and answer.get("revisions") == self._marks

    async def _marks_intact(self) -> bool:
        marks = await self._query({}, GUARD_PACKAGE, "revisions")
        return bool(marks == self._marks)

    async def _query(self, input_doc: dict[str, Any], package: str, rule: str) -> Any:
        try:
            answer = await self.client.query_rule(input_doc, package, rule)
        except aiohttp.ClientResponseError as exc:
            raise PolicyEngineError(f"OPA answered {exc.status}: {exc.message}") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PolicyUnavailable(f"OPA at {self.config.opa_url} unreachable: {type(exc).__name__}") from exc
        if not isinstance(answer, dict):
            raise PolicyEngineError("OPA sent an answer that is not an object")
        return answer.get("result")

    async def ensure_loaded(self) -> bool:
        """Whether the server holds our modules and data; pushes the serving version again when it lost any
        (a restarted or emptied server, deleted data). False when it cannot be reached or refuses."""
        async with self._repush:
            try:
                held = set(await self.client.get_policies_list())
                wanted = {f"{POLICY_PREFIX}{name}" for name in self.source.policy_modules()} | {GUARD_ID}
                if wanted <= held and await self._marks_intact():
                    self._loaded = True
                    return True
                log.warning(
                    "OPA at %s lost the gateway's policies or data; pushing version %s again",
                    self.config.opa_url,
                    self.version,
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
