"""The approvals JSON API under /admin/api/: the same queue and rules as the web page, for scripts and tools.

Reviewers authenticate with `Authorization: Bearer rvt_...` (`gateway reviewers token NAME`); agent keys are
refused. Errors are `{"error": {"code", "message"}}` with 401, 403, 404, 409, 429 or 503. The queue enforces
approver groups and four eyes, and audits every refusal. `docs/approvals-api.md` has examples; the OpenAPI
document is served at /admin/api/openapi.json.

    curl -H "Authorization: Bearer $TOKEN" https://gateway.example.com/admin/api/approvals?status=pending
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway import rendering
from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.records import STATUSES, Approval, Reviewer
from gateway.approvals.session import api_reviewer, refusal_status, services_of, visible
from gateway.errors import AccessDenied, ApprovalRefused, GatewayError, StoreUnavailable

PREFIX = "/admin/api/approvals"
NO_STORE = {"Cache-Control": "no-store"}


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The admin API's error shape (`gateway.rendering`), not cached."""
    body = rendering.admin_body(AccessDenied(status, code, message))
    return JSONResponse(body, status, headers={**NO_STORE, **(headers or {})})


def approval_json(a: Approval) -> dict[str, Any]:
    """An approval as the API shows it (no payload: `GET .../{id}` adds the action)."""
    return {
        "id": a.approval_id,
        "status": a.status,
        "phase": a.phase,
        "kind": a.kind,
        "surface": a.surface,
        "agent": a.agent,
        "team": a.team,
        "end_user": a.end_user,
        "target": a.target,
        "approvers": a.approvers,
        "reason": a.reason,
        "reasons": a.reasons,
        "tool_calls": a.tool_calls,
        "required": a.required,
        "votes": a.votes,
        "decided_by": a.decided_by,
        "comment": a.comment,
        "created_at": a.created_at.isoformat(),
        "expires_at": a.expires_at.isoformat(),
        "decided_at": a.decided_at.isoformat() if a.decided_at else None,
        "used_at": a.used_at.isoformat() if a.used_at else None,
        "notify": a.notify,
        "policy_version": a.policy_version,
    }


Handler = Callable[[Request, Reviewer, ApprovalQueue], Awaitable[Response]]


def reviewer_api(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Bearer token in, JSON errors out: every endpoint's failure modes rendered in one place."""

    async def endpoint(request: Request) -> Response:
        try:
            _, queue, _ = services_of(request)
            reviewer = await api_reviewer(request)
            return await handler(request, reviewer, queue)
        except AccessDenied as exc:
            return error(exc.status, exc.code, exc.message, exc.headers)
        except StoreUnavailable as exc:
            return error(503, exc.code, exc.message)
        except GatewayError as exc:
            return error(exc.status, exc.code, exc.message)

    return endpoint


async def list_approvals(request: Request, reviewer: Reviewer, queue: ApprovalQueue) -> Response:
    q = request.query_params
    status = q.get("status") or None
    if status is not None and status not in STATUSES:
        return error(400, "invalid_request", f"status must be one of {', '.join(STATUSES)}")
    try:
        limit = min(max(int(q.get("limit", "200")), 1), 1000)
    except ValueError:
        return error(400, "invalid_request", "limit must be a whole number")
    found = await queue.find(
        status=status,  # checked against STATUSES above
        agent=q.get("agent") or None,
        team=q.get("team") or None,
        group=q.get("group") or None,
        limit=limit,
    )
    return JSONResponse({"object": "list", "data": [approval_json(a) for a in found]}, headers=NO_STORE)


async def show(request: Request, reviewer: Reviewer, queue: ApprovalQueue) -> Response:
    approval = await queue.get(request.path_params["approval_id"])
    if approval is None:
        return error(404, "not_found", "no such approval")
    services, _, _ = services_of(request)
    payload = await queue.payload(approval.approval_id)
    action, masked = await visible(services, reviewer, payload.get("action"))
    flagged, masked_too = await visible(services, reviewer, payload.get("flagged") or [])
    body = {**approval_json(approval), "action": action, "flagged": flagged, "pii_masked": masked or masked_too}
    return JSONResponse(body, headers=NO_STORE)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise AccessDenied(400, "invalid_request", f"the body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise AccessDenied(400, "invalid_request", "the body must be a JSON object")
    return body


async def _decided(queue: ApprovalQueue, approval_id: str, run: Callable[[], Awaitable[Approval]]) -> Response:
    try:
        approval = await run()
    except ApprovalRefused as exc:
        status = await refusal_status(queue, approval_id, exc)
        code = {404: "not_found", 409: "conflict"}.get(status, exc.code)
        return error(status, code, exc.message)
    return JSONResponse(approval_json(approval), headers=NO_STORE)


def decide(verdict: str) -> Handler:
    async def handler(request: Request, reviewer: Reviewer, queue: ApprovalQueue) -> Response:
        approval_id = request.path_params["approval_id"]
        comment = (await _body(request)).get("comment")
        if comment is not None and not isinstance(comment, str):
            return error(400, "invalid_request", "comment must be a string")
        return await _decided(queue, approval_id, lambda: queue.decide(approval_id, reviewer, verdict, comment))

    return handler


async def extend(request: Request, reviewer: Reviewer, queue: ApprovalQueue) -> Response:
    approval_id = request.path_params["approval_id"]
    seconds = (await _body(request)).get("seconds")
    limit = queue.config.max_extend_s
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
        return error(400, "invalid_request", f"seconds must be a number from 1 to {limit:g}")
    if not 0 < seconds <= limit:
        return error(400, "invalid_request", f"seconds must be from 1 to {limit:g} (approvals.max_extend_s)")
    return await _decided(queue, approval_id, lambda: queue.extend(approval_id, reviewer, float(seconds)))


async def openapi(request: Request) -> Response:
    return JSONResponse(OPENAPI)


# -- the OpenAPI 3.1 document -------------------------------------------------------------------------------


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {
        400: "Bad request body or query",
        401: "No token, or an unknown or revoked one",
        403: "Refused: an agent key, or a decision the queue does not allow (approvers group, four eyes)",
        404: "No such approval",
        409: "The approval is no longer pending, or changed meanwhile",
        429: "Too many bad tokens from this address (see Retry-After)",
        503: "The approval store is unavailable",
    }
    body = {"application/json": {"schema": _ref("Error")}}
    return {str(s): {"description": text[s], "content": body} for s in statuses}


def _operation(summary: str, ok: str, *statuses: int, body: str | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": _ref(ok)}}}}
        | _errors(401, 403, 429, 503, *statuses),
    }
    if body:
        op["requestBody"] = {"required": body == "Extend", "content": {"application/json": {"schema": _ref(body)}}}
    return op


_ID = {"name": "approval_id", "in": "path", "required": True, "schema": {"type": "string"}}
_FILTERS = [
    {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(STATUSES)}},
    *({"name": n, "in": "query", "schema": {"type": "string"}} for n in ("agent", "team", "group")),
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 200}},
]
_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_TIME = {"type": "string", "format": "date-time"}
_NTIME = {"type": ["string", "null"], "format": "date-time"}
_APPROVAL_PROPS: dict[str, Any] = {
    **{k: _STR for k in ("id", "phase", "kind", "surface", "agent", "reason", "policy_version")},
    "status": {"type": "string", "enum": list(STATUSES)},
    **{k: _NSTR for k in ("team", "end_user", "target", "approvers", "decided_by", "comment")},
    "reasons": {"type": "array", "items": _STR},
    "tool_calls": {"type": "array", "items": _STR},
    "required": {"type": "integer", "description": "different reviewers who must approve"},
    "votes": {"type": "array", "items": {"type": "object", "properties": {"reviewer": _STR, "via": _STR, "at": _TIME}}},
    "created_at": _TIME,
    "expires_at": _TIME,
    "decided_at": _NTIME,
    "used_at": _NTIME,
    "notify": {"type": "object", "description": "webhook delivery: status, attempts, error"},
}
OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Gateway approvals API", "version": "1", "description": "Decide held agent calls."},
    "components": {
        "securitySchemes": {"reviewerToken": {"type": "http", "scheme": "bearer", "description": "rvt_... token"}},
        "schemas": {
            "Approval": {"type": "object", "properties": _APPROVAL_PROPS, "required": list(_APPROVAL_PROPS)},
            "ApprovalWithAction": {
                "allOf": [
                    _ref("Approval"),
                    {
                        "type": "object",
                        "properties": {
                            "action": {
                                "description": "the held action, exactly as it would run (PII masked unless "
                                "the reviewer is in approvals.reveal_pii_groups)"
                            },
                            "pii_masked": {"type": "boolean"},
                        },
                    },
                ]
            },
            "ApprovalList": {
                "type": "object",
                "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": _ref("Approval")}},
            },
            "Comment": {"type": "object", "properties": {"comment": {"type": ["string", "null"], "maxLength": 2000}}},
            "Extend": {
                "type": "object",
                "properties": {"seconds": {"type": "number", "exclusiveMinimum": 0}},
                "required": ["seconds"],
            },
            "Error": {
                "type": "object",
                "properties": {"error": {"type": "object", "properties": {"code": _STR, "message": _STR}}},
                "required": ["error"],
            },
        },
    },
    "security": [{"reviewerToken": []}],
    "paths": {
        PREFIX: {"get": _operation("List approvals, pending first", "ApprovalList", 400) | {"parameters": _FILTERS}},
        PREFIX + "/{approval_id}": {
            "parameters": [_ID],
            "get": _operation("One approval with its held action", "ApprovalWithAction", 404),
        },
        **{
            f"{PREFIX}/{{approval_id}}/{verb}": {
                "parameters": [_ID],
                "post": _operation(summary, "Approval", 400, 404, 409, body=body),
            }
            for verb, summary, body in (
                ("approve", "Approve (one vote of `required`; the policy is asked again)", "Comment"),
                ("reject", "Reject, with a comment the agent is told", "Comment"),
                ("extend", "Push the deadline back by `seconds` (at most approvals.max_extend_s)", "Extend"),
            )
        },
    },
}

routes: list[BaseRoute] = [
    Route("/admin/api/openapi.json", openapi, methods=["GET"]),
    Route(PREFIX, reviewer_api(list_approvals), methods=["GET"]),
    Route(PREFIX + "/{approval_id}", reviewer_api(show), methods=["GET"]),
    Route(PREFIX + "/{approval_id}/approve", reviewer_api(decide("approve")), methods=["POST"]),
    Route(PREFIX + "/{approval_id}/reject", reviewer_api(decide("reject")), methods=["POST"]),
    Route(PREFIX + "/{approval_id}/extend", reviewer_api(extend), methods=["POST"]),
]
