"""Who is reviewing, and what they may see.

The web page signs reviewers in with a password (`ReviewerStore.authenticate`) or an OIDC ID token, and
keeps them signed in with a signed cookie that names a sign-in kept in the store (`gateway.approvals.signins`:
8 hours, or until the ID token's `exp`; logging out ends it for every worker and replica) and carries a
per-session CSRF token; every state-changing request must send that token back (form field `csrf` or header
`X-CSRF-Token`). Sign-in attempts are limited per name and address, bad admin API tokens per address, counted
in the store (`gateway.approvals.limits`); the address is the client's, as a trusted proxy reports it
(`gateway.proxies`). The admin API takes `Authorization: Bearer rvt_...` only: an agent key is refused (and
audited). Held payloads are shown with PII scrubbed unless one of the reviewer's groups is in
`approvals.reveal_pii_groups`.

>>> session = await current(request)  # doctest: +SKIP
>>> if session is None or not csrf_ok(request, session, form): ...  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jwt
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from gateway.approvals.limits import Limit
from gateway.approvals.queue import ApprovalQueue, refusal
from gateway.approvals.records import Reviewer
from gateway.approvals.reviewers import TOKEN_PREFIX, ReviewerStore
from gateway.errors import AccessDenied, ApprovalConflict, ApprovalRefused
from gateway.services import Services
from gateway.settings import ApprovalsConfig, OidcConfig

COOKIE = "gw_reviewer"
MAX_AGE_S = 8 * 3600
ALGORITHMS = ["RS256", "ES256"]


class ReviewerSession(BaseModel):
    """What the signed cookie holds: the sign-in it names in the store, the reviewer, how they signed in, until
    when (unix time), and the session's CSRF token."""

    sid: str
    name: str
    groups: list[str]
    via: str  # web (password) or oidc
    expires: float  # 8 hours after signing in, or the single sign-on token's exp if sooner
    csrf: str

    @property
    def reviewer(self) -> Reviewer:
        return Reviewer(name=self.name, groups=self.groups, via=self.via)


# -- services -----------------------------------------------------------------------------------------------


def services_of(request: Request) -> tuple[Services, ApprovalQueue, ReviewerStore]:
    """The services the reviewer side needs; 404 when this gateway has no approval queue."""
    services: Services = request.app.state.pipeline.services
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
    """The client's address: behind a trusted proxy, the one it reports (`gateway.proxies` put it in the scope)."""
    return request.client.host if request.client else "unknown"


# -- the session cookie ---------------------------------------------------------------------------------


def _serializer(queue: ApprovalQueue) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(queue.cipher.session_secret, salt="gateway.reviewer-session")


async def current(request: Request) -> ReviewerSession | None:
    """The signed-in reviewer, or None. The sign-in must still be live in the store (not logged out, not past its
    end: an SSO session ends with the identity provider's token). Password accounts are looked up again, so a
    disabled reviewer is signed out at once and group changes apply without signing in again."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    services, queue, reviewers = services_of(request)
    try:
        session = ReviewerSession.model_validate(_serializer(queue).loads(raw, max_age=MAX_AGE_S))
    except (BadSignature, ValidationError):  # also SignatureExpired: older than 8 hours; and cookies of before
        return None
    if session.expires <= services.clock.now().timestamp() or not await reviewers.signins.live(session.sid):
        return None
    if session.via == "web":
        account = await reviewers.get(session.name)
        if account is None:
            return None
        session = session.model_copy(update={"groups": account.groups})
    return session


async def start_session(
    request: Request, response: Response, reviewer: Reviewer, until: float | None = None
) -> ReviewerSession:
    """Sign `reviewer` in for 8 hours, or until `until` (an ID token's exp) if sooner."""
    services, queue, reviewers = services_of(request)
    now = services.clock.now().timestamp()
    expires = min(now + MAX_AGE_S, until if until is not None else now + MAX_AGE_S)
    sid = await reviewers.signins.start(reviewer, datetime.fromtimestamp(expires, UTC))
    session = ReviewerSession(
        sid=sid,
        name=reviewer.name,
        groups=reviewer.groups,
        via=reviewer.via,
        expires=expires,
        csrf=secrets.token_urlsafe(32),
    )
    response.set_cookie(
        COOKIE,
        _serializer(queue).dumps(session.model_dump()),
        max_age=max(1, int(expires - now)),
        path="/ui",  # only the web page needs it (the admin API takes bearer tokens)
        secure=_https(request),
        httponly=True,
        samesite="strict",
    )
    return session


async def end_session(request: Request, response: Response, session: ReviewerSession) -> None:
    """Log out: the sign-in ends in the store (a copy of the cookie stops working too), and the cookie goes."""
    _, _, reviewers = services_of(request)
    await reviewers.signins.end(session.sid)
    response.delete_cookie(COOKIE, path="/ui", secure=_https(request), httponly=True, samesite="strict")


def _https(request: Request) -> bool:
    """Whether reviewers reach the page over https: as a trusted proxy reports it, or as public_url says."""
    public_url = request.app.state.pipeline.services.settings.approvals.public_url or ""
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
    public_url = (request.app.state.pipeline.services.settings.approvals.public_url or "").rstrip("/")
    return origin in (own, public_url) or (public_url != "" and public_url.startswith(origin + "/"))


async def refuse(services: Services, problem: str, actor: str | None = None, **fields: Any) -> None:
    """Audit a request turned away before it reached the queue (which audits its own refusals)."""
    await services.audit.write([refusal(actor, problem, **fields).row()])


async def refuse_credentials(
    request: Request, reason: str, problem: str, actor: str | None = None, **fields: Any
) -> None:
    """Count and audit a request refused for its credentials (`reason` labels the metric): the log takes the first
    of each address and problem a minute in full, and counts the rest in a summary (`gateway.audit.refusals`)."""
    services: Services = request.app.state.pipeline.services
    services.metrics.auth_failures.labels("approvals", reason).inc()
    await services.audit.refusal(refusal(actor, problem, **fields), client_address(request))


# -- sign-in rate limits --------------------------------------------------------------------------------


def sign_in_limits(request: Request, name: str) -> list[Limit]:
    """Sign-ins per name and address (`approvals.login_attempts` a minute), and 10x that per address, so that one
    address cannot spray passwords over many names."""
    limit, address = request.app.state.pipeline.services.settings.approvals.login_attempts, client_address(request)
    return [Limit.named("signin", name, address, limit), Limit.of("signin-address", address, limit * 10)]


async def count_attempt(request: Request, limits: list[Limit]) -> None:
    """Count a sign-in attempt before the password is checked (so that attempts sent all at once are counted
    too); 429 once a limit is passed. `attempt_succeeded` takes it back."""
    _, _, reviewers = services_of(request)
    wait = await reviewers.limits.hit(limits)
    if wait is not None:
        raise AccessDenied(429, "rate_limited", f"too many failed sign-ins; try again in {wait} s", retry_after=wait)


async def attempt_succeeded(request: Request, limits: list[Limit]) -> None:
    """A sign-in went through: the name at this address starts afresh; the address's count loses this attempt."""
    _, _, reviewers = services_of(request)
    await reviewers.limits.forget(limits[0])
    await reviewers.limits.undo(limits[1:])


# -- OIDC -------------------------------------------------------------------------------------------------


class OidcVerifier:
    """Checks ID tokens against the issuer's published keys (discovered once, then cached by PyJWKClient).
    Blocking (urllib): call `verify` in a thread."""

    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        self._jwks: jwt.PyJWKClient | None = None

    def verify(self, token: str) -> tuple[Reviewer, float]:
        """The reviewer the token names, and when the token expires (its `exp`, unix time)."""
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
        return Reviewer(name=name, groups=sorted({str(g) for g in groups}), via="oidc"), float(claims["exp"])

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


async def oidc_reviewer(request: Request, token: str) -> tuple[Reviewer, float]:
    config = request.app.state.pipeline.services.settings.approvals.oidc
    if config is None:
        raise AccessDenied(404, "not_found", "OIDC sign-in is not configured (approvals.oidc)")
    verifier: OidcVerifier = _per_app(request, "reviewer_oidc", lambda: OidcVerifier(config))
    return await asyncio.to_thread(verifier.verify, token)


# -- the admin API's bearer tokens --------------------------------------------------------------------------


async def api_reviewer(request: Request) -> Reviewer:
    """The reviewer behind `Authorization: Bearer rvt_...`; agent keys are refused (403, audited). The token is
    checked first: only a token that fails counts against its address (`login_attempts` a minute, then 429), so
    a flood of bad tokens from an address (or from behind the same proxy) never locks out a good one."""
    services, _, reviewers = services_of(request)
    return await token_reviewer(request, services, reviewers)


async def token_reviewer(request: Request, services: Services, reviewers: ReviewerStore) -> Reviewer:
    """`api_reviewer` for an API that needs no approval queue (the audit log's)."""
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
        fields = {"agent": principal.agent, "team": principal.team, "key_id": principal.key_id}
        await refuse_credentials(request, "agent_key", problem, **fields)
        raise AccessDenied(403, "forbidden", f"{problem}: agents have no access here; use a reviewer token")
    services.metrics.auth_failures.labels("approvals", "invalid_token").inc()
    limit = Limit.of("token", client_address(request), services.settings.approvals.login_attempts)
    wait = await reviewers.limits.hit([limit])
    if wait is not None:
        raise AccessDenied(429, "rate_limited", f"too many bad tokens; try again in {wait} s", retry_after=wait)
    raise AccessDenied(401, "invalid_token", "unknown or revoked reviewer token")


# -- what a reviewer may see, and what a refusal means to them --------------------------------------------


async def refusal_status(queue: ApprovalQueue, approval_id: str, exc: ApprovalRefused) -> int:
    """The HTTP status of a queue refusal: 404 unknown, 409 no longer pending or changed meanwhile (try again),
    403 otherwise (not in the approvers group, a second vote from the same reviewer)."""
    approval = await queue.get(approval_id)
    if approval is None:
        return 404
    if approval.status != "pending" or isinstance(exc, ApprovalConflict):
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
