"""Limits enforced before anything is buffered, on the real server process: huge headers get 431 in the
protocol's shape and the connection is closed; the server keeps answering; big bodies are not mistaken for
big heads."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest

from gateway.server import MAX_HEAD_BYTES
from tests.conftest import POLICIES
from tests.processes import gateway_env, serve

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("limits")
    (tmp / "gateway.yaml").write_text(
        f"database_url: sqlite+aiosqlite:///{tmp}/gateway.db\npolicy: {{dir: {POLICIES}}}\n"
        "pii: {key_file: pii.key}\napprovals: {key_file: approvals.key}\n"
        "providers: {demo: {kind: echo}}\nroutes: {assistant: {provider: demo, model: echo}}\n"
    )
    with serve(gateway_env(tmp / "gateway.yaml")) as served:
        yield served.port, served.proc


def _raw(port: int, path: str, header_bytes: int) -> bytes:
    """Send a request whose one header is `header_bytes` long, in pieces; return what came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nhost: x\r\nx-big: ".encode())
        sent = 0
        try:
            while sent < header_bytes:
                sock.sendall(b"a" * 65536)
                sent += 65536
            sock.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused and closed mid-way: what we expect
        return _answer(sock)


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


@pytest.mark.parametrize(("path", "shape"), [("/v1/chat/completions", "openai"), ("/v1/messages", "anthropic")])
def test_huge_headers_are_refused_with_431_in_the_protocols_shape(server: Any, path: str, shape: str) -> None:
    port, proc = server
    answer = _raw(port, path, 8 * 1024 * 1024)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431"), answer[:200]
    error = json.loads(body)
    if shape == "openai":
        assert error["error"]["code"] == "headers_too_large"
    else:
        assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    assert proc.poll() is None


def test_a_big_body_behind_a_small_head_is_not_a_big_head(server: Any) -> None:
    port, _ = server
    content = "x" * (4 * MAX_HEAD_BYTES)
    body = {"model": "assistant", "messages": [{"role": "user", "content": content}]}
    response = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=30)
    assert response.status_code == 401  # read and answered (no key), not refused as a huge head


def test_headers_just_under_the_limit_pass(server: Any) -> None:
    port, _ = server
    response = httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"x-pad": "a" * (MAX_HEAD_BYTES // 2)})
    assert response.status_code == 200


def test_a_big_head_in_one_read_is_refused_too(server: Any) -> None:
    """A 119 KB head sent in one write (with its body) arrives whole in one read: it is counted anyway."""
    port, proc = server
    body = json.dumps({"model": "assistant", "messages": [{"role": "user", "content": "hi"}]}).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        f"x-big: {'a' * (119 * 1024)}\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert b"HTTP/1.1 401" not in answer and b"HTTP/1.1 400" not in answer  # never reached the app
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200 and proc.poll() is None
