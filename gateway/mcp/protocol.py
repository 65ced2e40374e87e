"""Which MCP revision a request speaks, and whether it is well-formed for it.

- **2026-07-28** (stateless): every request carries `params._meta` with the protocol version and client
  capabilities, and the `MCP-Protocol-Version`, `Mcp-Method` and (for `tools/call`, `prompts/get`,
  `resources/read`) `Mcp-Name` headers, which must agree with the body. The SDK's own validation ladder
  (`mcp.shared.inbound.classify_inbound_request`) decides, so the gateway refuses exactly what an
  `mcp` server refuses (`HEADER_MISMATCH`, unsupported versions, a missing envelope); a routing header
  sent twice is refused too.
- **2025-11-25** (sessions): `initialize` opens a session (`Mcp-Session-Id`), bound to the agent key;
  later requests must carry it. Routing headers, if a client sends them anyway, must still match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp.shared.inbound import (
    MCP_METHOD_HEADER,
    MCP_PROTOCOL_VERSION_HEADER,
    InboundLadderRejection,
    classify_inbound_request,
    find_duplicated_routing_header,
)
from mcp_types import HEADER_MISMATCH
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from starlette.requests import Request

from gateway.mcp.hub import McpHub, Session
from gateway.mcp.jsonrpc import refused
from gateway.model import Principal
from gateway.rendering import INVALID_REQUEST

LEGACY_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")
SESSION_HEADER = "mcp-session-id"
PROTOCOL_META_KEY = "io.modelcontextprotocol/protocolVersion"


@dataclass(frozen=True)
class Exchange:
    """One checked JSON-RPC message and how to answer it."""

    server: str
    message: dict[str, Any]
    modern: bool
    session: Session | None = None

    @property
    def request_id(self) -> Any:
        return self.message.get("id")

    @property
    def method(self) -> str | None:
        method = self.message.get("method")
        return method if isinstance(method, str) else None


def is_modern(request: Request, message: dict[str, Any]) -> bool:
    """2026-07-28 when the client says so (header or envelope) and is not using a 2025-11-25 session."""
    if message.get("method") == "initialize" or SESSION_HEADER in request.headers:
        return False
    if request.headers.get(MCP_PROTOCOL_VERSION_HEADER) in MODERN_PROTOCOL_VERSIONS:
        return True
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return isinstance(meta, dict) and PROTOCOL_META_KEY in meta


def _headers(request: Request) -> dict[str, str]:
    return {name.lower(): value for name, value in request.headers.items()}


def _duplicates(request: Request) -> None:
    raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
    duplicated = find_duplicated_routing_header(raw)
    if duplicated:
        raise refused(HEADER_MISMATCH, f"the {duplicated} header was sent more than once", http_status=400)


def check_modern(request: Request, server: str, message: dict[str, Any]) -> Exchange:
    _duplicates(request)
    if "id" in message:  # requests carry the envelope; notifications are acknowledged and dropped
        verdict = classify_inbound_request(message, headers=_headers(request))
        if isinstance(verdict, InboundLadderRejection):
            raise refused(verdict.code, verdict.message, verdict.data, http_status=400)
    return Exchange(server, message, modern=True)


def check_legacy(request: Request, hub: McpHub, server: str, message: dict[str, Any], principal: Principal) -> Exchange:
    _duplicates(request)
    method_header = request.headers.get(MCP_METHOD_HEADER)
    if method_header is not None and method_header != message.get("method"):
        raise refused(HEADER_MISMATCH, "Mcp-Method header does not match the request body's method", http_status=400)
    version = request.headers.get(MCP_PROTOCOL_VERSION_HEADER)
    if version is not None and version not in LEGACY_VERSIONS:
        raise refused(INVALID_REQUEST, f"unsupported MCP-Protocol-Version: {version}", http_status=400)
    if message.get("method") == "initialize":
        return Exchange(server, message, modern=False)
    session_id = request.headers.get(SESSION_HEADER)
    if not session_id:
        raise refused(
            INVALID_REQUEST,
            "missing Mcp-Session-Id: send initialize first (2025-11-25), or speak 2026-07-28",
            http_status=400,
        )
    session = hub.session(session_id)
    if session is None or session.server != server or session.key_id != principal.key_id:
        raise refused(INVALID_REQUEST, "unknown or expired session: initialize again", http_status=404)
    return Exchange(server, message, modern=False, session=session)


def negotiate(message: dict[str, Any]) -> str:
    """The 2025-era version to answer `initialize` with: the client's if the gateway speaks it."""
    params = message.get("params")
    asked = params.get("protocolVersion") if isinstance(params, dict) else None
    return asked if asked in LEGACY_VERSIONS else LEGACY_VERSIONS[0]
