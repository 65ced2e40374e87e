"""The responses the gateway keeps (`store: true`, the API's default), per agent, for `retention_s`.

Providers behind the gateway may speak only Chat Completions or Messages, which keep no state; so the
gateway keeps what `previous_response_id` needs: each response with its input items and the conversation
up to and including its output (earlier turns first). The payload is sealed with the approvals key
(encrypted at rest); an agent sees only its own responses.

    >>> store = ResponseStore(db, cipher, retention_s=86400)  # doctest: +SKIP
    >>> await store.save("support-bot", response, input_items, conversation)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError

from gateway.approvals.cipher import PayloadCipher
from gateway.clock import SYSTEM_CLOCK, Clock
from gateway.errors import StoreUnavailable
from gateway.store.db import Database
from gateway.store.tables import StoredResponse


@dataclass(frozen=True)
class Kept:
    """One kept response: the response object, this turn's input items, and the whole conversation."""

    response: dict[str, Any]
    input_items: list[dict[str, Any]]
    conversation: list[dict[str, Any]]
    decision_id: str | None = None  # the request-phase decision that let the call through
    session: str | None = None  # the conversation's session (its first response's id): gateway.sessions


class ResponseStore:
    def __init__(self, db: Database, cipher: PayloadCipher, retention_s: float, clock: Clock = SYSTEM_CLOCK) -> None:
        self.db = db
        self.cipher = cipher
        self.retention = timedelta(seconds=retention_s)
        self.clock = clock  # kept responses expire by it

    async def save(self, agent: str, kept: Kept) -> None:
        now = self.clock.now()
        sealed = self.cipher.seal(
            {
                "response": kept.response,
                "input_items": kept.input_items,
                "conversation": kept.conversation,
                "decision_id": kept.decision_id,
                "session": kept.session,
            }
        )
        row = StoredResponse(
            response_id=kept.response["id"],
            agent=agent,
            created_at=now,
            expires_at=now + self.retention,
            payload=sealed,
        )
        try:
            async with self.db.sessions() as session, session.begin():
                await session.execute(delete(StoredResponse).where(StoredResponse.expires_at < now))
                session.add(row)
        except SQLAlchemyError as exc:
            raise StoreUnavailable("the response store is unavailable; the response was not kept") from exc

    async def get(self, agent: str, response_id: str) -> Kept | None:
        """The response, if it is this agent's and has not expired."""
        query = select(StoredResponse).where(
            StoredResponse.response_id == response_id,
            StoredResponse.agent == agent,
            StoredResponse.expires_at >= self.clock.now(),
        )
        try:
            async with self.db.sessions() as session:
                row = await session.scalar(query)
        except SQLAlchemyError as exc:
            raise StoreUnavailable("the response store is unavailable; try again shortly") from exc
        if row is None:
            return None
        value = self.cipher.open(row.payload)
        items, conversation = value["input_items"], value["conversation"]
        return Kept(value["response"], items, conversation, value.get("decision_id"), value.get("session"))

    async def delete(self, agent: str, response_id: str) -> bool:
        query = delete(StoredResponse).where(StoredResponse.response_id == response_id, StoredResponse.agent == agent)
        try:
            async with self.db.sessions() as session, session.begin():
                result = await session.execute(query)
        except SQLAlchemyError as exc:
            raise StoreUnavailable("the response store is unavailable; try again shortly") from exc
        return bool(getattr(result, "rowcount", 0))
