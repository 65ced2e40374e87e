"""What every agent-facing surface shares: reading the body, the key, and streaming SSE safely."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

from starlette.requests import Request

from gateway.errors import GatewayError, InvalidRequest
from gateway.model import Inbound, Trace, new_id


async def read_json(request: Request) -> Any:
    body = await request.body()
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _Unparsable(body)


class _Unparsable:
    """A body that is not JSON: the parse stage (after authentication) turns it into a 400."""

    def __init__(self, body: bytes) -> None:
        self.size = len(body)


def bearer_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key") or None


def inbound(request: Request, surface: Literal["openai", "anthropic"], body: Any) -> Inbound:
    return Inbound(
        surface=surface,
        api_key=bearer_key(request),
        body=body,
        request_id=request.headers.get("x-request-id") or new_id(),
        end_user=request.headers.get("x-end-user"),
    )


def ensure_json(body: Any) -> Any:
    if isinstance(body, _Unparsable):
        raise InvalidRequest(f"the request body is not valid JSON ({body.size} bytes)")
    return body


def headers(trace: Trace | None, request_id: str, exc: GatewayError | None = None) -> dict[str, str]:
    out = {"x-request-id": request_id}
    decision_id = getattr(exc, "decision_id", None) or (trace.last_decision_id() if trace else None)
    if decision_id:
        out["x-gateway-decision-id"] = decision_id
    return out


async def sse(events: AsyncIterator[bytes], on_error: Callable[[GatewayError], bytes]) -> AsyncIterator[bytes]:
    """Relay encoded events; a gateway error after the stream started becomes the protocol's error event."""
    try:
        async for chunk in events:
            yield chunk
    except GatewayError as exc:
        yield on_error(exc)
