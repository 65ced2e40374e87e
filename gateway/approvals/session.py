"""Who is reviewing, and what they may see.

The web page signs reviewers in with a password (`ReviewerStore.authenticate`) or an OIDC ID token, and
keeps them signed in with a signed cookie (8 hours) that carries a per-session CSRF token; every
state-changing request must send that token back (form field `csrf` or header `X-CSRF-Token`). Failed
sign-ins are limited per name and address. The admin API takes `Authorization: Bearer rvt_...` only: an
agent key is refused (and audited). Held payloads are shown with PII scrubbed unless one of the reviewer's
groups is in `approvals.reveal_pii_groups`.

>>> session = await current(request)  # doctest: +SKIP
>>> if session is None or not csrf_ok(request, session, form): ...  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import secrets
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from typing import Any

import jwt
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from gateway.approvals.queue import ApprovalQueue, refusal
from gateway.approvals.records import Reviewer
from gateway.approvals.reviewers import TOKEN_PREFIX, ReviewerStore
from gateway.errors import ApprovalRefused
from gateway.services import Services
from gateway.settings import ApprovalsConfig, OidcConfig

COOKIE = "gw_reviewer"
MAX_AGE_S = 8 * 3600
WINDOW_S = 60.0
ALGORITHMS = ["RS256", "ES256"]


class AccessDenied(Exception):
    """A request the reviewer side turns away: rendered as JSON by the API and as a page by the web."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}


class ReviewerSession(BaseModel):
    """What the signed cookie holds: the reviewer, how they signed in, and the session's CSRF token."""

    name: str
    groups: list[str]
    via: str  # web (password) or oidc
    csrf: str

    @property
    def reviewer(self) -> Reviewer:
        return Reviewer(name=self.name, groups=self.groups, via=self.via)


# -- services -----------------------------------------------------------------------------------------------


def services_of(request: Request) -> tuple[Services, ApprovalQueue, ReviewerStore]:
    """The services the reviewer side needs; 404 when this gateway has no approval queue."""
    services: Services = request.app.state.services
    if services.approvals is None or services.reviewers is None:
        raise AccessDenied(404, "not_found", "this gateway has no approval queue (approvals.enabled is false)")
    return services, services.approvals, services.reviewers


def _per_app(request: Request, name: str, build: Callable[[], Any]) -> Any:
    """State that lives as long as the app (not the module), so two apps in one process stay apart."""
    value = getattr(request.app.state, name, None)
    if value is None:
        value = build()
        setattr(request.app.state, name, value)
    return value


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# -- the session cookie ---------------------------------------------------------------------------------


def _serializer(queue: ApprovalQueue) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(queue.cipher.session_secret, salt="gateway.reviewer-session")


async def current(request: Request) -> ReviewerSession | None:
    """The signed-in reviewer, or None. Password accounts are looked up again, so a disabled reviewer is
    signed out at once and group changes apply without signing in again."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    _, queue, reviewers = services_of(request)
    try:
        session = ReviewerSession.model_validate(_serializer(queue).loads(raw, max_age=MAX_AGE_S))
    except (BadSignature, ValidationError):  # also SignatureExpired: older than 8 hours
        return None
    if session.via == "web":
        account = await reviewers.get(session.name)
        if account is None:
            return None
        session = session.model_copy(update={"groups": account.groups})
    return session


def start_session(request: Request, response: Response, reviewer: Reviewer) -> ReviewerSession:
    _, queue, _ = services_of(request)
    session = ReviewerSession(
        name=reviewer.name, groups=reviewer.groups, via=reviewer.via, csrf=secrets.token_urlsafe(32)
    )
    response.set_cookie(
        COOKIE,
        _serializer(queue).dumps(session.model_dump()),
        max_age=MAX_AGE_S,
        path="/ui",  # only the web page needs it (the admin API takes bearer tokens)
        secure=_https(request),
        httponly=True,
        samesite="strict",
    )
    return session


def end_session(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path="/ui", secure=_https(request), httponly=True, samesite="strict")


def _https(request: Request) -> bool:
    public_url = request.app.state.services.settings.approvals.public_url or ""
    return request.url.scheme == "https" or public_url.startswith("https://")


def csrf_ok(request: Request, session: ReviewerSession, form: Any = None) -> bool:
    """The session's token came back in the header or the form (compared in constant time)."""
    sent = request.headers.get("x-csrf-token") or (form.get("csrf") if form is not None else None)
    return isinstance(sent, str) and hmac.compare_digest(sent.encode(), session.csrf.encode())


def same_origin(request: Request) -> bool:
    """A sign-in form posted from another site is refused (login CSRF); browsers send Origin on POST."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    own = f"{request.url.scheme}://{request.url.netloc}"
    public_url = (request.app.state.services.settings.approvals.public_url or "").rstrip("/")
    return origin in (own, public_url) or (public_url != "" and public_url.startswith(origin + "/"))


async def refuse(services: Services, problem: str, actor: str | None = None, **fields: Any) -> None:
    """Audit a request turned away before it reached the queue (which audits its own refusals)."""
    await services.audit.write([refusal(actor, problem, **fields).row()])


# -- sign-in rate limits --------------------------------------------------------------------------------


class Attempts:
    """Failed sign-ins in the last minute, per (name, address) and per address (10x the limit, so one
    address cannot spray passwords over many names). Kept in memory: each replica counts its own."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def retry_after(self, name: str, address: str) -> int | None:
        """Seconds until another try is allowed, or None when it is allowed now."""
        waits = [self._wait((name, address), self.limit), self._wait(("*", address), self.limit * 10)]
        worst = max((w for w in waits if w is not None), default=None)
        return None if worst is None else max(1, math.ceil(worst))

    def failed(self, name: str, address: str) -> None:
        if len(self._failures) > 100_000:  # bounded memory under a flood of names
            self._failures.clear()
        now = time.monotonic()
        for key in ((name, address), ("*", address)):
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, name: str, address: str) -> None:
        self._failures.pop((name, address), None)

    def _wait(self, key: tuple[str, str], limit: int) -> float | None:
        failures = self._failures.get(key)
        if not failures:
            return None
        now = time.monotonic()
        while failures and failures[0] <= now - WINDOW_S:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        return failures[0] + WINDOW_S - now if len(failures) >= limit else None


def attempts(request: Request) -> Attempts:
    limit = request.app.state.services.settings.approvals.login_attempts
    found: Attempts = _per_app(request, "reviewer_attempts", lambda: Attempts(limit))
    return found


def check_rate(request: Request, name: str) -> None:
    wait = attempts(request).retry_after(name, client_address(request))
    if wait is not None:
        raise AccessDenied(429, "rate_limited", f"too many failed sign-ins; try again in {wait} s", retry_after=wait)


# -- OIDC -------------------------------------------------------------------------------------------------


class OidcVerifier:
    """Checks ID tokens against the issuer's published keys (discovered once, then cached by PyJWKClient).
    Blocking (urllib): call `verify` in a thread."""

    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        self._jwks: jwt.PyJWKClient | None = None

    def verify(self, token: str) -> Reviewer:
        config = self.config
        try:
            key = self._client().get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                audience=config.audience,
                issuer=config.issuer,
                options={"require": ["exp", "iss", "aud"]},
                leeway=30,
            )
        except (jwt.PyJWTError, OSError, ValueError, KeyError) as exc:
            raise AccessDenied(401, "invalid_token", f"the ID token was not accepted: {exc}") from exc
        name, groups = claims.get(config.name_claim), claims.get(config.groups_claim, [])
        if isinstance(groups, str):
            groups = [groups]
        if not isinstance(name, str) or not name or not isinstance(groups, list):
            raise AccessDenied(
                401, "invalid_token", f"the ID token lacks {config.name_claim!r} or {config.groups_claim!r}"
            )
        return Reviewer(name=name, groups=sorted({str(g) for g in groups}), via="oidc")

    def _client(self) -> jwt.PyJWKClient:
        if self._jwks is None:
            url = self.config.jwks_url or _discover(self.config.issuer)
            self._jwks = jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=5)
        return self._jwks


def _discover(issuer: str) -> str:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    with urllib.request.urlopen(url, timeout=5) as response:
        document = json.loads(response.read())
    jwks_uri = document.get("jwks_uri") if isinstance(document, dict) else None
    if not isinstance(jwks_uri, str):
        raise ValueError(f"{url} names no jwks_uri")
    return jwks_uri


async def oidc_reviewer(request: Request, token: str) -> Reviewer:
    config = request.app.state.services.settings.approvals.oidc
    if config is None:
        raise AccessDenied(404, "not_found", "OIDC sign-in is not configured (approvals.oidc)")
    verifier: OidcVerifier = _per_app(request, "reviewer_oidc", lambda: OidcVerifier(config))
    return await asyncio.to_thread(verifier.verify, token)


# -- the admin API's bearer tokens --------------------------------------------------------------------------


async def api_reviewer(request: Request) -> Reviewer:
    """The reviewer behind `Authorization: Bearer rvt_...`; agent keys are refused (403, audited)."""
    services, _, reviewers = services_of(request)
    address = client_address(request)
    wait = attempts(request).retry_after("token", address)
    if wait is not None:
        raise AccessDenied(429, "rate_limited", f"too many bad tokens; try again in {wait} s", retry_after=wait)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AccessDenied(401, "unauthenticated", "send Authorization: Bearer rvt_... (gateway reviewers token NAME)")
    reviewer = await reviewers.by_token(token)
    if reviewer is not None:
        return reviewer
    principal = None if token.startswith(TOKEN_PREFIX) else await services.keys.lookup(token)
    if principal is not None:
        problem = "an agent key was used on the reviewers' API"
        await refuse(services, problem, agent=principal.agent, team=principal.team, key_id=principal.key_id)
        raise AccessDenied(403, "forbidden", f"{problem}: agents cannot decide approvals; use a reviewer token")
    attempts(request).failed("token", address)
    raise AccessDenied(401, "invalid_token", "unknown or revoked reviewer token")


# -- what a reviewer may see, and what a refusal means to them --------------------------------------------


async def refusal_status(queue: ApprovalQueue, approval_id: str, exc: ApprovalRefused) -> int:
    """The HTTP status of a queue refusal: 404 unknown, 409 no longer pending or changed meanwhile (try again),
    403 otherwise (not in the approvers group, a second vote from the same reviewer)."""
    approval = await queue.get(approval_id)
    if approval is None:
        return 404
    if approval.status != "pending" or "changed meanwhile" in exc.message:
        return 409
    return 403


def sees_pii(reviewer: Reviewer, config: ApprovalsConfig) -> bool:
    return bool(set(reviewer.groups) & set(config.reveal_pii_groups))


async def visible(services: Services, reviewer: Reviewer, value: Any) -> tuple[Any, bool]:
    """`value` as `reviewer` may see it, and whether any PII in it was masked (every string scrubbed, off
    the loop: the analyzer is CPU-bound)."""
    if services.pii is None or sees_pii(reviewer, services.settings.approvals):
        return value, False
    scrubbed = await asyncio.to_thread(_scrub_all, services.pii.scrub, value)
    return scrubbed, scrubbed != value


def _scrub_all(scrub: Callable[[str], str], value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [_scrub_all(scrub, v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub_all(scrub, v) for k, v in value.items()}
    return value
