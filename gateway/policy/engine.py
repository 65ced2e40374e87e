"""The interface both policy engines implement.

An engine answers one question: the document at `data.gateway.decision` for an input, or `None` when it
is undefined. It raises `PolicyEngineError` / `PolicyUnavailable` when it cannot answer; the decide
stage turns every such failure into a deny (fail closed).
"""

from __future__ import annotations

from typing import Any, Protocol

ENTRYPOINT = "gateway/decision"


class PolicyEngine(Protocol):
    @property
    def version(self) -> str:
        """Content hash of the policy version now serving."""
        ...

    async def evaluate(self, input_doc: dict[str, Any]) -> Any:
        """The decision document, or None when undefined."""
        ...

    async def ready(self) -> bool: ...

    async def aclose(self) -> None: ...
