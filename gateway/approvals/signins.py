"""Reviewers' sign-ins, kept in the store: the session cookie names one, and it is good only while it is there.

The cookie is signed, but a signature cannot be taken back: without this, a copied cookie would go on approving
after its reviewer logged out. So each sign-in is a row (a hash of the session's id, who, until when); logging out
ends it, and every worker and replica sees that at the next request. A single sign-on session ends when the
identity provider's token expires (its `exp`): the reviewer signs in again, and the provider is asked again.

    >>> signins = SignIns(db)  # doctest: +SKIP
    >>> session_id = await signins.start(reviewer, until)  # doctest: +SKIP
    >>> await signins.live(session_id)  # doctest: +SKIP
    True
    >>> await signins.end(session_id)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.approvals.records import Reviewer
from gateway.clock import SYSTEM_CLOCK, Clock
from gateway.errors import StoreUnavailable
from gateway.store.db import Database
from gateway.store.tables import ReviewerSignIn

KEEP_ENDED = timedelta(days=1)  # ended and expired sign-ins are deleted this long after their end


class SignIns:
    def __init__(self, db: Database, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.clock = clock

    async def start(self, reviewer: Reviewer, until: datetime) -> str:
        """A new sign-in of `reviewer`, good until `until` unless ended first; its id (for the cookie)."""
        session_id = secrets.token_urlsafe(32)
        now = self.clock.now()
        row = ReviewerSignIn(
            session_hash=_digest(session_id), reviewer=reviewer.name, via=reviewer.via, created_at=now, expires_at=until
        )
        async with self._session() as session, session.begin():
            await session.execute(delete(ReviewerSignIn).where(ReviewerSignIn.expires_at < now - KEEP_ENDED))
            session.add(row)
        return session_id

    async def live(self, session_id: str) -> bool:
        """Whether the sign-in is there, not ended and not expired."""
        t = ReviewerSignIn
        query = select(t.session_hash).where(
            t.session_hash == _digest(session_id), t.ended_at.is_(None), t.expires_at > self.clock.now()
        )
        async with self._session() as session:
            return (await session.scalar(query)) is not None

    async def end(self, session_id: str) -> None:
        """Log out: the sign-in stops working at once, wherever its cookie is sent."""
        async with self._session() as session, session.begin():
            await session.execute(
                update(ReviewerSignIn)
                .where(ReviewerSignIn.session_hash == _digest(session_id), ReviewerSignIn.ended_at.is_(None))
                .values(ended_at=self.clock.now())
            )

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        """A store session within its deadline; a store that fails or stops answering is a 503."""
        try:
            async with self.db.deadline(), self.db.sessions() as session:
                yield session
        except (SQLAlchemyError, OSError) as exc:  # OSError: unreachable, or past the store's deadline
            raise StoreUnavailable("the reviewer session store is unavailable; try again shortly") from exc


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()
