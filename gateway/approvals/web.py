"""The reviewers' web page under /ui/: the queue (live, keyboard-driven), decisions, and the history.

Pages are server-rendered (Jinja2, autoescaped) and work without JavaScript; `static/app.js` adds the
keyboard, live countdowns, bulk decisions and live updates: it listens on `/ui/events` (server-sent events
carrying the ids of changed approvals) and re-fetches each changed row from `/ui/items/{id}`. Nothing is
loaded from elsewhere (the page works offline) and the content security policy allows only this origin.
Agent-controlled text is shown with hidden and invisible characters made visible (`reveal`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from gateway import rendering
from gateway.approvals.limits import Limit
from gateway.approvals.queue import ApprovalQueue
from gateway.approvals.records import STATUSES, Approval, Reviewer
from gateway.approvals.session import (
    ReviewerSession,
    attempt_succeeded,
    count_attempt,
    csrf_ok,
    current,
    end_session,
    oidc_reviewer,
    refusal_status,
    refuse,
    refuse_credentials,
    same_origin,
    services_of,
    sign_in_limits,
    start_session,
    visible,
)
from gateway.errors import AccessDenied, ApprovalRefused, GatewayError, StoreUnavailable

HERE = Path(__file__).parent
STATIC = {
    "app.js": "text/javascript; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make browsers send Origin: null
    "Cache-Control": "no-store",
}
STATUS_CHOICES = [("pending", "Pending"), ("", "All"), *((s, s.capitalize()) for s in STATUSES if s != "pending")]
EXTEND_CHOICES = [(900, "15 min"), (3600, "1 h"), (4 * 3600, "4 h"), (24 * 3600, "24 h")]
STREAM_LIFETIME_S = 600.0  # then the browser reconnects (and the session cookie is checked again)

# Shown as ⟨U+XXXX⟩ wherever agent-controlled text appears: format characters (zero-width, bidi controls,
# tags), controls, private use, unassigned, every space but U+0020, and invisible letters and selectors.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp", "Zs"})
_HIDDEN_EXTRA = frozenset(
    {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x2800, 0x3164, 0xFFA0}
    | set(range(0xFE00, 0xFE10))
    | set(range(0xE0100, 0xE01F0))
    | set(range(0x180B, 0x1810))
)

_CANDIDATE = re.compile(r"[^\t\n\x20-\x7e]")
_MARKER = Markup('<mark class="uc" title="{}">⟨U+{:04X}⟩</mark>')

_env = Environment(
    loader=FileSystemLoader(str(HERE / "templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _hidden(char: str) -> bool:
    if " " <= char <= "~" or char in "\n\t":
        return False
    return unicodedata.category(char) in _HIDDEN_CATEGORIES or ord(char) in _HIDDEN_EXTRA


def reveal(text: object) -> Markup:
    """`text`, escaped, with every hidden or invisible character shown as a visible ⟨U+XXXX⟩ marker."""
    value, parts, last = str(text), [], 0
    for match in _CANDIDATE.finditer(value):  # only what is not printable ASCII needs a closer look
        char = match.group()
        if _hidden(char):
            name = unicodedata.name(char, "unnamed character")
            parts += [escape(value[last : match.start()]), _MARKER.format(name, ord(char))]
            last = match.end()
    return Markup("").join([*parts, escape(value[last:])])


def hidden_chars(text: str) -> tuple[list[tuple[str, str]], int]:
    """The distinct hidden characters in `text` (code, name) and how many there are in all."""
    found = [c for c in text if _hidden(c)]
    distinct = sorted(set(found))
    return [(f"U+{ord(c):04X}", unicodedata.name(c, "unnamed character")) for c in distinct], len(found)


_env.filters["reveal"] = reveal


def human(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


@dataclass
class Filters:
    """The queue's filters, from the query string (also sent by the page when it re-fetches a row)."""

    status: str
    agent: str
    team: str
    group: str

    @classmethod
    def of(cls, request: Request, default: str = "pending") -> Filters:
        q = request.query_params
        status = q.get("status", default)
        return cls(
            status=status if status in STATUSES else "",
            agent=q.get("agent", "").strip(),
            team=q.get("team", "").strip(),
            group=q.get("group", "").strip(),
        )

    def matches(self, a: Approval) -> bool:
        wanted = ((self.status, a.status), (self.agent, a.agent), (self.team, a.team), (self.group, a.approvers))
        return all(not want or want == have for want, have in wanted)

    async def find(self, queue: ApprovalQueue) -> list[Approval]:
        return await queue.find(
            status=self.status or None,  # type: ignore[arg-type]  # checked against STATUSES in `of`
            agent=self.agent or None,
            team=self.team or None,
            group=self.group or None,
        )


# -- rendering --------------------------------------------------------------------------------------------


def _render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    services = request.app.state.pipeline.services
    config = services.settings.approvals
    extend = [(s, label) for s, label in EXTEND_CHOICES if s <= config.max_extend_s] or [
        (int(config.max_extend_s), human(config.max_extend_s))
    ]
    context = {
        "reject_reasons": config.reject_reasons,
        "extend_options": extend,
        "statuses": STATUS_CHOICES,
        "default_status": "pending",
        "notice": None,
        "session": None,
        "readers": services.settings.audit.readers,  # the groups that see the activity console
        **context,
    }
    return HTMLResponse(_env.get_template(template).render(**context), status, headers=SECURITY_HEADERS)


def _message(request: Request, status: int, title: str, message: str, session: Any = None) -> HTMLResponse:
    return _render(request, "message.html", status, title=title, message=message, session=session)


async def _item(request: Request, session: ReviewerSession, approval: Approval) -> dict[str, Any]:
    """One approval as the page shows it: the action pretty-printed, masked per the reviewer's groups."""
    services, queue, _ = services_of(request)
    reviewer, now, error = session.reviewer, services.clock.now(), None
    try:
        payload = await queue.payload(approval.approval_id)
        action, masked = await visible(services, reviewer, payload.get("action"))
        flagged, masked_too = await visible(services, reviewer, payload.get("flagged") or [])
        masked = masked or masked_too
    except GatewayError as exc:
        action, masked, error = None, False, f"the held action cannot be shown: {exc.message}"
        flagged = []
    text = json.dumps(action, indent=2, ensure_ascii=False, default=str)
    hidden, count = hidden_chars(text)
    voted = any(v.get("reviewer") == reviewer.name for v in approval.votes)
    why_not = (
        f"Only the {approval.approvers} group can decide this."
        if not reviewer.may_decide(approval.approvers)
        else "You approved this; a different reviewer must give the next approval."
    )
    left = (approval.expires_at - now).total_seconds()
    took = (approval.decided_at - approval.created_at).total_seconds() if approval.decided_at else None
    return {
        "a": approval,
        "action": reveal(text),
        "flagged": flagged,
        "hidden": hidden,
        "hidden_count": count,
        "masked": masked,
        "error": error,
        "may_decide": reviewer.may_decide(approval.approvers) and not voted,
        "why_not": why_not,
        "left": f"expires in {human(left)}" if left > 0 else "overdue",
        "waited": human((now - approval.created_at).total_seconds()),
        "took": human(took) if took is not None else None,
    }


# -- flash messages (post, redirect, get) ------------------------------------------------------------------


def _flasher(request: Request) -> URLSafeTimedSerializer:
    _, queue, _ = services_of(request)
    return URLSafeTimedSerializer(queue.cipher.session_secret, salt="gateway.reviewer-flash")


def _flash(request: Request, response: Response, level: str, message: str) -> None:
    value = _flasher(request).dumps({"level": level, "message": message[:500]})
    response.set_cookie("gw_flash", value, max_age=60, path="/ui/", httponly=True, samesite="strict")


def _take_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get("gw_flash")
    with contextlib.suppress(BadSignature, TypeError):
        value = _flasher(request).loads(raw, max_age=60) if raw else None
        return value if isinstance(value, dict) else None
    return None


# -- the guard every reviewer endpoint passes through ------------------------------------------------------

Handler = Callable[[Request, ReviewerSession], Awaitable[Response]]


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def reviewer_only(handler: Handler, write: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """Signed in, or sent to sign in; for writes, the session's CSRF token too (else 403, audited)."""

    async def endpoint(request: Request) -> Response:
        try:
            session = await current(request)
            if session is None:
                if _wants_json(request) or request.url.path.endswith("/events"):
                    return JSONResponse(
                        rendering.admin_body(AccessDenied(401, "unauthenticated", "sign in first")), 401
                    )
                return RedirectResponse("/ui/login", 303)
            if write and not csrf_ok(request, session, await request.form()):
                services, _, _ = services_of(request)
                await refuse(services, f"missing or wrong CSRF token on {request.url.path}", actor=session.name)
                raise AccessDenied(403, "csrf", "This form is stale or did not come from this page; reload and retry.")
            return await handler(request, session)
        except AccessDenied as exc:
            if _wants_json(request):
                return JSONResponse({"ok": False, "message": exc.message}, exc.status, headers=exc.headers)
            return _message(request, exc.status, "Refused", exc.message)
        except StoreUnavailable as exc:
            return _message(request, 503, "Unavailable", exc.message)

    return endpoint


# -- pages ------------------------------------------------------------------------------------------------


async def queue_page(request: Request, session: ReviewerSession) -> Response:
    _, queue, _ = services_of(request)
    filters = Filters.of(request)
    items = [await _item(request, session, a) for a in await filters.find(queue)]
    heading = "waiting for a decision" if filters.status == "pending" else (filters.status or "approvals")
    context: dict[str, Any] = {
        "session": session,
        "page": "queue",
        "filters": filters,
        "items": items,
        "heading": heading,
    }
    response = _render(request, "queue.html", notice=_take_flash(request), action_url="/ui/", **context)
    response.delete_cookie("gw_flash", path="/ui/")
    return response


async def history_page(request: Request, session: ReviewerSession) -> Response:
    _, queue, _ = services_of(request)
    filters = Filters.of(request, default="")
    decided = [a for a in await filters.find(queue) if a.status != "pending"]
    decided.sort(key=lambda a: a.decided_at or a.updated_at, reverse=True)
    rows = [{"a": a, "took": human(((a.decided_at or a.updated_at) - a.created_at).total_seconds())} for a in decided]
    statuses = [c for c in STATUS_CHOICES if c[0] != "pending"]
    context: dict[str, Any] = {
        "session": session,
        "page": "history",
        "filters": filters,
        "rows": rows,
        "statuses": statuses,
    }
    return _render(request, "history.html", default_status="", action_url="/ui/history", **context)


async def item_fragment(request: Request, session: ReviewerSession) -> Response:
    """One row, re-rendered for the live view; 204 when it no longer belongs on the page's filtered list."""
    _, queue, _ = services_of(request)
    approval = await queue.get(request.path_params["approval_id"])
    if approval is None or not Filters.of(request).matches(approval):
        return Response(status_code=204, headers=SECURITY_HEADERS)
    it = await _item(request, session, approval)
    return _render(request, "item.html", it=it, session=session)


async def events(request: Request, session: ReviewerSession) -> Response:
    services, queue, _ = services_of(request)
    keepalive = services.settings.approvals.keepalive_s
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(_stream(queue, keepalive), media_type="text/event-stream", headers=headers)


async def _stream(queue: ApprovalQueue, keepalive: float) -> AsyncIterator[str]:
    """Changed approval ids as `approval` events, a comment every `keepalive` seconds so proxies keep the
    connection, and an end after STREAM_LIFETIME_S (the browser reconnects)."""
    changed: asyncio.Queue[str] = asyncio.Queue()

    async def pump() -> None:
        async for approval_id in queue.changes.subscribe():
            changed.put_nowait(approval_id)

    task = asyncio.create_task(pump())
    await asyncio.sleep(0)  # let the subscription register before the client hears it is connected
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STREAM_LIFETIME_S
    try:
        yield "retry: 2000\n: connected\n\n"
        while loop.time() < deadline:
            try:
                approval_id = await asyncio.wait_for(changed.get(), keepalive)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            yield f"event: approval\ndata: {approval_id}\n\n"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- decisions --------------------------------------------------------------------------------------------


def _comment(form: Any, verdict: str) -> str | None:
    """A rejection's comment is the preset reason and the reviewer's note, as given."""
    note = str(form.get("comment") or "").strip()
    reason = str(form.get("reason") or "").strip() if verdict == "reject" else ""
    return ": ".join(part for part in (reason, note) if part) or None


def _outcome(approval: Approval, reviewer: Reviewer, verdict: str) -> tuple[str, str]:
    """(level, message) for the reviewer, saying what their action did."""
    what = ", ".join(approval.tool_calls) or f"{approval.kind} call to {approval.target}"
    if verdict == "extend":
        return "ok", f"Deadline for {what} extended to {approval.expires_at:%H:%M:%S} UTC."
    if approval.status == "pending":
        votes = len(approval.votes)
        return "ok", f"Your approval of {what} is recorded ({votes} of {approval.required}); another must follow."
    if approval.status == "rejected" and approval.decided_by != reviewer.name:
        return "warn", f"{what} was rejected instead: {approval.comment or 'the policy now denies it'}."
    return "ok", f"{what} {approval.status}."


async def _apply(
    request: Request, reviewer: Reviewer, approval_id: str, verdict: str, form: Any
) -> tuple[int, str, str]:
    """Carry out one decision: (HTTP status, level, message). Refusals come back as a status and message."""
    _, queue, _ = services_of(request)
    try:
        if verdict == "extend":
            try:
                seconds = float(str(form.get("seconds") or ""))
            except ValueError:
                return 400, "error", "Pick how long to extend the deadline by."
            approval = await queue.extend(approval_id, reviewer, seconds)
        elif verdict in ("approve", "reject"):
            approval = await queue.decide(approval_id, reviewer, verdict, _comment(form, verdict))
        else:
            return 404, "error", f"Unknown action {verdict[:20]!r}."
    except ApprovalRefused as exc:
        return await refusal_status(queue, approval_id, exc), "error", f"Refused: {exc.message}"
    level, message = _outcome(approval, reviewer, verdict)
    return 200, level, message


def _answer(request: Request, status: int, level: str, message: str, results: list[dict[str, Any]]) -> Response:
    if _wants_json(request):
        body = {"ok": status == 200, "level": level, "message": message, "results": results}
        return JSONResponse(body, status)
    response = RedirectResponse("/ui/", 303)
    _flash(request, response, level, message)
    return response


async def decide(request: Request, session: ReviewerSession) -> Response:
    approval_id, verdict = request.path_params["approval_id"], request.path_params["verdict"]
    status, level, message = await _apply(request, session.reviewer, approval_id, verdict, await request.form())
    return _answer(request, status, level, message, [{"id": approval_id, "ok": status == 200, "message": message}])


async def bulk(request: Request, session: ReviewerSession) -> Response:
    """Decide several at once; each is decided (and refused) on its own."""
    form = await request.form()
    verdict = str(form.get("verdict") or "")
    ids = [str(i) for i in form.getlist("ids")][:200]
    if not ids:
        return _answer(request, 400, "error", "Select items first (x).", [])
    results: list[dict[str, Any]] = []
    for approval_id in ids:
        status, _, message = await _apply(request, session.reviewer, approval_id, verdict, form)
        results.append({"id": approval_id, "ok": status == 200, "message": message})
    failed = [r["message"] for r in results if not r["ok"]]
    message = f"{len(ids) - len(failed)} of {len(ids)} done." + (f" {'; '.join(failed)}" if failed else "")
    return _answer(request, 200 if not failed else 207, "error" if failed else "ok", message, results)


# -- signing in and out ------------------------------------------------------------------------------------


async def login_page(request: Request) -> Response:
    try:
        if await current(request) is not None:
            return RedirectResponse("/ui/", 303)
    except AccessDenied as exc:
        return _message(request, exc.status, "Unavailable", exc.message)
    except StoreUnavailable as exc:
        return _message(request, 503, "Unavailable", exc.message)
    return _render(request, "login.html", oidc=request.app.state.pipeline.services.settings.approvals.oidc)


async def _signed_in(request: Request, reviewer: Reviewer, limits: list[Limit], until: float | None = None) -> Response:
    await attempt_succeeded(request, limits)
    response = RedirectResponse("/ui/", 303)
    await start_session(request, response, reviewer, until)
    return response


async def _sign_in_failed(request: Request, reason: str, problem: str, status: int, name: str = "") -> Response:
    """The attempt was counted before the check (`count_attempt`); here it is audited (`refuse_credentials`)."""
    await refuse_credentials(request, reason, f"sign-in failed: {problem}", actor=name or None)
    oidc = request.app.state.pipeline.services.settings.approvals.oidc
    return _render(request, "login.html", status, error=problem, name=name, oidc=oidc)


def _login_guard(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            services_of(request)
            if not same_origin(request):
                raise AccessDenied(403, "csrf", "Sign-in forms must be posted from this gateway's own page.")
            return await handler(request)
        except AccessDenied as exc:
            oidc = request.app.state.pipeline.services.settings.approvals.oidc
            response = _render(request, "login.html", exc.status, error=exc.message, oidc=oidc)
            response.headers.update(exc.headers)
            return response
        except StoreUnavailable as exc:
            return _message(request, 503, "Unavailable", exc.message)

    return endpoint


async def login(request: Request) -> Response:
    form = await request.form()
    name, password = str(form.get("name") or "").strip()[:200], str(form.get("password") or "")
    limits = sign_in_limits(request, name)
    await count_attempt(request, limits)
    _, _, reviewers = services_of(request)
    reviewer = await reviewers.authenticate(name, password) if name and password else None
    if reviewer is None:
        return await _sign_in_failed(request, "bad_password", "wrong name or password", 401, name)
    return await _signed_in(request, reviewer, limits)


async def login_oidc(request: Request) -> Response:
    token = str((await request.form()).get("id_token") or "").strip()
    limits = sign_in_limits(request, "oidc")
    await count_attempt(request, limits)
    try:
        reviewer, expires = await oidc_reviewer(request, token)
    except AccessDenied as exc:
        if exc.status != 401:
            raise
        return await _sign_in_failed(request, "bad_id_token", exc.message, 401)
    services, _, _ = services_of(request)
    if expires <= services.clock.now().timestamp():  # accepted within the clock-skew leeway, but over: no session
        return await _sign_in_failed(request, "bad_id_token", "the ID token was not accepted: it has expired", 401)
    return await _signed_in(request, reviewer, limits, until=expires)


async def logout(request: Request, session: ReviewerSession) -> Response:
    response = RedirectResponse("/ui/login", 303)
    await end_session(request, response, session)
    return response


async def to_queue(request: Request) -> Response:
    return RedirectResponse("/ui/", 308)


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC:
        return Response("not found", 404)
    return FileResponse(HERE / "static" / name, media_type=STATIC[name], headers={"Cache-Control": "no-cache"})


routes: list[BaseRoute] = [
    Route("/ui", to_queue, methods=["GET"]),
    Route("/ui/", reviewer_only(queue_page), methods=["GET"]),
    Route("/ui/history", reviewer_only(history_page), methods=["GET"]),
    Route("/ui/items/{approval_id}", reviewer_only(item_fragment), methods=["GET"]),
    Route("/ui/events", reviewer_only(events), methods=["GET"]),
    Route("/ui/approvals/{approval_id}/{verdict}", reviewer_only(decide, write=True), methods=["POST"]),
    Route("/ui/bulk", reviewer_only(bulk, write=True), methods=["POST"]),
    Route("/ui/login", login_page, methods=["GET"]),
    Route("/ui/login", _login_guard(login), methods=["POST"]),
    Route("/ui/login/oidc", _login_guard(login_oidc), methods=["POST"]),
    Route("/ui/logout", reviewer_only(logout, write=True), methods=["POST"]),
    Route("/ui/static/{name}", static, methods=["GET"]),
]
