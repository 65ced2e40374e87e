"""Nothing unexpected is a plain-text 500: the catch-all answers in the caller's protocol's shape with a decision
id (and logs it); bad input that once fell through to it is a 400."""

from __future__ import annotations

import httpx
import pytest
from starlette.routing import Route

from gateway.app import create_app
from gateway.settings import Settings


def _broken(request):
    raise RuntimeError("a bug")


@pytest.mark.parametrize(
    ("path", "headers", "shape"),
    [
        ("/v1/broken", {}, "openai"),
        ("/v1/messages/broken", {"anthropic-version": "2023-06-01"}, "anthropic"),
        ("/mcp/x/broken", {}, "mcp"),
    ],
)
async def test_an_unexpected_error_is_the_protocols_500_with_a_decision_id(path, headers, shape):
    app = create_app(Settings())
    app.router.routes.append(Route(path, _broken, methods=["GET"]))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        answer = await client.get(path, headers=headers)
    assert answer.status_code == 500 and answer.headers["content-type"] == "application/json"
    assert answer.headers["x-gateway-decision-id"]
    body = answer.json()
    if shape == "anthropic":
        assert body["type"] == "error" and body["error"]["code"] == "internal_error"
    elif shape == "mcp":
        assert body["jsonrpc"] == "2.0" and body["error"]["data"]["code"] == "internal_error"
    else:
        assert body["error"]["code"] == "internal_error" and "a bug" not in body["error"]["message"]


def test_a_bad_page_size_of_kept_input_items_is_a_400(gateway):
    auth = {"authorization": f"Bearer {gateway.key}"}
    made = httpx.post(f"{gateway.url}/v1/responses", json={"model": "gpt", "input": "hi"}, headers=auth).json()
    for limit in ("abc", "0", "101", "1e9"):
        got = httpx.get(f"{gateway.url}/v1/responses/{made['id']}/input_items?limit={limit}", headers=auth)
        assert got.status_code == 400 and got.json()["error"]["param"] == "limit", got.text
