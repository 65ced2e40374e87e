"""The store is the critical dependency: an outage fails calls promptly with 503 `store_unavailable` (never a
hang, never a forward without its record), and kill -9 leaves no forwarded call without its record."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url

from tests.conftest import POLICIES, ServerThread, _postgres_url, _reset_postgres, create_key
from tests.helpers import audit_rows, wait_until
from tests.processes import free_port, gateway_env, serve
from tests.upstreams import OpenAIUpstream

pytestmark = pytest.mark.e2e


class TcpProxy:
    """A loopback TCP relay to the real PostgreSQL that the test can cut (an outage the gateway sees as
    refused and reset connections), blackhole (a silent partition: connections stay open, nothing is
    forwarded either way, new ones are accepted and never answered) and restore, without stopping the shared
    database server."""

    def __init__(self, target_port: int) -> None:
        self.port, self.target_port = free_port(), target_port
        self.silent = False
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if self.silent:
                    continue  # dropped, as a partition drops packets
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        if self.silent:  # accepted, never answered
            while await reader.read(65536):
                pass
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def start(self) -> None:
        async def go() -> None:
            self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

        self._call(go())

    def cut(self) -> None:
        async def go() -> None:
            assert self.server is not None
            self.server.close()
            for writer in self.writers:
                writer.transport.abort()
            self.writers.clear()

        self._call(go())

    def blackhole(self) -> None:
        self.silent = True

    def close(self) -> None:
        self.silent = False
        self.cut()


def test_a_postgres_outage_fails_calls_promptly_and_recovers(gateway_factory, tmp_path: Path) -> None:
    real = _postgres_url()
    asyncio.run(_reset_postgres(real))
    proxy = TcpProxy(make_url(real).port or 5432)
    proxy.start()
    via_proxy = make_url(real).set(port=proxy.port).render_as_string(hide_password=False)
    gw = gateway_factory(via_proxy)
    body = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
    auth = {"authorization": f"Bearer {gw.key}"}
    assert httpx.post(f"{gw.url}/v1/chat/completions", json=body, headers=auth, timeout=30).status_code == 200
    proxy.cut()
    started = time.monotonic()
    answers = [httpx.post(f"{gw.url}/v1/chat/completions", json=body, headers=auth, timeout=30) for _ in range(3)]
    assert all(a.status_code == 503 for a in answers), [a.text for a in answers]
    assert all(a.json()["error"]["code"] == "store_unavailable" for a in answers)
    assert all(a.headers.get("retry-after") for a in answers)
    assert time.monotonic() - started < 20  # promptly: no call hangs on a dead store
    assert httpx.get(f"{gw.url}/readyz", timeout=10).status_code == 503
    assert "gateway_audit_failures_total" in httpx.get(f"{gw.url}/metrics").text
    proxy.start()  # the store comes back: so do the calls
    again = wait_until(
        lambda: httpx.post(f"{gw.url}/v1/chat/completions", json=body, headers=auth, timeout=30),
        lambda answer: answer.status_code == 200,
        timeout_s=20,
        every_s=0.5,
    )
    assert again.status_code == 200


def test_a_silent_partition_to_postgres_is_bounded_calls_readiness_and_shutdown(tmp_path: Path) -> None:
    """Packets dropped, nothing refused: calls fail with 503 within the store timeout (not the outage's length),
    /readyz answers unready within its bound, and SIGTERM ends the process within the shutdown deadline."""
    real = _postgres_url()
    asyncio.run(_reset_postgres(real))
    proxy = TcpProxy(make_url(real).port or 5432)
    proxy.start()
    via_proxy = make_url(real).set(port=proxy.port).render_as_string(hide_password=False)
    (tmp_path / "gateway.yaml").write_text(
        f"database_url: '{via_proxy}'\ndatabase_timeout_s: 2\nshutdown_timeout_s: 5\npolicy: {{dir: {POLICIES}}}\n"
        "pii: {key_file: pii.key}\napprovals: {key_file: approvals.key}\n"
    )
    key = create_key(real)
    body = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
    auth = {"authorization": f"Bearer {key}"}
    try:
        with serve(gateway_env(tmp_path / "gateway.yaml"), cwd=tmp_path) as server:
            url = f"{server.url}/v1/chat/completions"
            assert httpx.post(url, json=body, headers=auth, timeout=30).status_code == 200
            proxy.blackhole()
            started = time.monotonic()
            with ThreadPoolExecutor(3) as pool:
                answers = list(pool.map(lambda _: httpx.post(url, json=body, headers=auth, timeout=60), range(3)))
            waited = time.monotonic() - started
            assert all(a.status_code == 503 for a in answers), [a.text for a in answers]
            assert all(a.json()["error"]["code"] == "store_unavailable" and a.headers["retry-after"] for a in answers)
            assert waited < 30, f"calls waited {waited:.0f} s on a silent store"  # the outage itself is unbounded
            started = time.monotonic()
            ready = httpx.get(f"{server.url}/readyz", timeout=60)
            assert ready.status_code == 503 and ready.json()["checks"]["database"] is False
            assert time.monotonic() - started < 10
            started = time.monotonic()
            server.proc.terminate()
            server.proc.wait(timeout=60)
            assert time.monotonic() - started < 30, "SIGTERM did not finish within the shutdown deadline"
    finally:
        proxy.close()


def test_kill_9_leaves_no_forwarded_call_without_its_record(tmp_path: Path) -> None:
    upstream = OpenAIUpstream()
    with ServerThread(upstream.app) as up:
        database = f"sqlite+aiosqlite:///{tmp_path}/gateway.db"
        (tmp_path / "gateway.yaml").write_text(
            f"database_url: {database}\npolicy: {{dir: {POLICIES}}}\n"
            "pii: {key_file: pii.key}\napprovals: {key_file: approvals.key}\n"
            f"providers: {{up: {{kind: openai, base_url: '{up.url}/v1'}}}}\n"
            "routes: {slow: {provider: up, model: gpt-slow, retries: 0, timeout_s: 30}}\n"
        )
        key = create_key(database)
        with serve(gateway_env(tmp_path / "gateway.yaml")) as server:
            url = f"{server.url}/v1/chat/completions"

            def call(i: int) -> None:
                body = {"model": "slow", "messages": [{"role": "user", "content": f"call {i}"}]}
                headers = {"authorization": f"Bearer {key}", "x-request-id": f"req-{i}"}
                try:
                    httpx.post(url, json=body, headers=headers, timeout=30)
                except httpx.HTTPError:
                    pass  # the gateway is killed under it

            with ThreadPoolExecutor(8) as pool:
                for i in range(8):
                    pool.submit(call, i)
                deadline = time.monotonic() + 20  # then kill anyway: what was forwarded by then must be recorded
                while len(upstream.received) < 8 and time.monotonic() < deadline:
                    time.sleep(0.05)
                server.proc.send_signal(signal.SIGKILL)  # while every call waits on the (slow) upstream
                server.proc.wait(timeout=10)
    forwarded = {m["messages"][0]["content"].split()[-1] for m in upstream.received}
    assert forwarded, "nothing reached the upstream before the kill"
    recorded = {r["request_id"] for r in audit_rows(database) if r["event"] == "decision" and r["allow"]}
    missing = [i for i in forwarded if f"req-{i}" not in recorded]
    assert not missing, f"forwarded without a record: {missing}"
