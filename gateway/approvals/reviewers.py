"""Reviewer accounts: groups, a scrypt-hashed password for the web page, bearer tokens for the admin API; who is
signed in (`signins`) and who failed to sign in or sent a bad token (`limits`), all in the store.

>>> store = ReviewerStore(db)  # doctest: +SKIP
>>> await store.add("alice", ["finance"], password="...")  # doctest: +SKIP
>>> (await store.authenticate("alice", "...")).groups  # doctest: +SKIP
['finance']
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from sqlalchemy import select, update

from gateway.approvals.limits import FailureLimits
from gateway.approvals.records import HeldCall, Reviewer
from gateway.approvals.signins import SignIns
from gateway.clock import SYSTEM_CLOCK, Clock
from gateway.store.db import Database
from gateway.store.tables import Reviewer as ReviewerRow
from gateway.store.tables import ReviewerToken

TOKEN_PREFIX = "rvt_"
_N, _R, _P = 2**14, 8, 1  # scrypt cost: ~50 ms per check, 16 MiB


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(key).decode()}"


def check_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


_DUMMY = hash_password(secrets.token_hex(8))  # checked for unknown names, so timing does not tell who exists


class ReviewerStore:
    def __init__(self, db: Database, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.signins = SignIns(db, clock)  # sign-ins end, and failed ones are counted, by the clock
        self.limits = FailureLimits(db, clock=clock)

    async def add(
        self, name: str, groups: list[str], password: str | None = None, owns: list[str] | None = None
    ) -> Reviewer:
        """Create a reviewer, or add groups and owned principals (and set the password, if given) to one."""
        owned = [check_owned(entry) for entry in owns or []]
        async with self.db.sessions.begin() as session:
            row = await session.get(ReviewerRow, name)
            if row is None:
                row = ReviewerRow(
                    name=name, groups=sorted(set(groups)), owns=sorted(set(owned)), created_at=datetime.now(UTC)
                )
                session.add(row)
            else:
                row.groups = sorted({*row.groups, *groups})
                row.owns = sorted({*(row.owns or []), *owned})
                row.disabled_at = None
            if password is not None:
                row.password_hash = hash_password(password)
            return Reviewer(name=row.name, groups=list(row.groups))

    async def get(self, name: str) -> Reviewer | None:
        async with self.db.sessions() as session:
            row = await session.get(ReviewerRow, name)
        if row is None or row.disabled_at is not None:
            return None
        return Reviewer(name=row.name, groups=list(row.groups))

    async def all(self) -> list[Reviewer]:
        async with self.db.sessions() as session:
            rows = (await session.scalars(select(ReviewerRow).where(ReviewerRow.disabled_at.is_(None)))).all()
        return [Reviewer(name=r.name, groups=list(r.groups)) for r in rows]

    async def authenticate(self, name: str, password: str) -> Reviewer | None:
        async with self.db.sessions() as session:
            row = await session.get(ReviewerRow, name)
        stored = row.password_hash if row is not None and row.disabled_at is None else None
        ok = check_password(password, stored or _DUMMY) and stored is not None
        return Reviewer(name=row.name, groups=list(row.groups)) if ok and row is not None else None

    async def disable(self, name: str) -> bool:
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(ReviewerRow).where(ReviewerRow.name == name).values(disabled_at=datetime.now(UTC))
            )
            await session.execute(
                update(ReviewerToken)
                .where(ReviewerToken.reviewer == name, ReviewerToken.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def create_token(self, name: str) -> str:
        """A new admin API token for `name` (shown once; only its hash is kept)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with self.db.sessions.begin() as session:
            session.add(ReviewerToken(token_hash=_digest(token), reviewer=name, created_at=datetime.now(UTC)))
        return token

    async def by_token(self, token: str) -> Reviewer | None:
        if not token.startswith(TOKEN_PREFIX):
            return None  # an agent key (agk_...) is never a reviewer
        async with self.db.sessions() as session:
            row = await session.scalar(
                select(ReviewerToken).where(
                    ReviewerToken.token_hash == _digest(token), ReviewerToken.revoked_at.is_(None)
                )
            )
        if row is None:
            return None
        reviewer = await self.get(row.reviewer)
        return reviewer.model_copy(update={"via": "api"}) if reviewer else None


OWNED_KINDS = ("agent", "team", "key")


def check_owned(entry: str) -> str:
    """`agent:NAME`, `team:NAME` or `key:KEY_ID`; ValueError otherwise."""
    kind, _, value = entry.partition(":")
    if kind not in OWNED_KINDS or not value.strip():
        raise ValueError(f"{entry!r}: expected agent:NAME, team:NAME or key:KEY_ID")
    return f"{kind}:{value.strip()}"


def owner_of(held: HeldCall, owned: list[str]) -> str | None:
    """The entry of `owned` that names who asked for `held` (its agent, team or key), if any."""
    asked = {f"agent:{held.agent}", f"key:{held.key_id}", *([f"team:{held.team}"] if held.team else [])}
    return next((entry for entry in owned if entry in asked), None)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
