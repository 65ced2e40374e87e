"""PII inspection as a service the stages share: built once in the app's lifespan (Presidio is imported only
when `pii.enabled`), run on the event loop for small texts and in a worker thread for large ones."""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable

from gateway.pii.findings import Findings
from gateway.pii.redactor import Pseudonyms, redact_spans, replacement
from gateway.settings import PiiConfig, Settings

INLINE_CHARS = 2_000  # up to this many characters are inspected inline; more go to a worker thread
_GATEWAY_ID = re.compile(r"[0-9a-f]{32}")  # an id the gateway made (`new_id`): nothing an agent chose


class PiiService:
    def __init__(self, config: PiiConfig, key: bytes) -> None:
        from gateway.pii.analyzer import Inspector  # Presidio and spaCy load here, not at import

        self.config = config
        self.key = key
        self.inspector = Inspector(config, key)
        self._identifiers = functools.lru_cache(maxsize=4096)(self.scrub)

    @classmethod
    def from_settings(cls, settings: Settings) -> PiiService | None:
        if not settings.pii.enabled:
            return None
        from gateway.pii.keys import load_key

        return cls(settings.pii, load_key(settings))

    @property
    def supported(self) -> frozenset[str]:
        return self.inspector.supported

    async def inspect(self, texts: list[tuple[str, int, str]]) -> Findings:
        if sum(len(t) for _, _, t in texts) <= INLINE_CHARS:
            return self.inspector.inspect(texts)
        return await asyncio.to_thread(self.inspector.inspect, texts)

    def scrub(self, text: str) -> str:
        """Every value found in `text` replaced by its type tag: for texts the gateway itself writes down
        (upstream error details, policy reasons) before they reach the audit log."""
        hits = self.inspector.analyze(text) if text else []
        return redact_spans(text, [(h.start, h.end, h.type) for h in hits], lambda entity, _: f"<{entity}>")

    @property
    def scrubbers(self) -> tuple[Callable[[str], str], Callable[[str], str]]:
        """What the audit scrubs its events with: texts, and the names an agent chose."""
        return self.scrub, self.scrub_identifier

    def scrub_identifier(self, value: str) -> str:
        """`scrub` for a short name an agent chose (an end user, a model, a request id), remembered by value:
        the same few names come back call after call."""
        if _GATEWAY_ID.fullmatch(value):
            return value
        return str(self._identifiers(value))

    def output_mode(self, entity: str, overrides: dict[str, str]) -> str:
        """How `entity` is redacted in what a model wrote: as configured, but never a restorable placeholder."""
        mode = self.mode(entity, overrides)
        return "replace" if mode == "pseudonymize" else mode

    def mode(self, entity: str, overrides: dict[str, str]) -> str:
        """How `entity` is redacted: the decision's `redact_modes`, else the configured mode."""
        return overrides.get(entity) or self.config.mode(entity)

    def redact(
        self,
        text: str,
        spans: list[tuple[int, int, str]],
        modes: dict[str, str],
        pseudonyms: Pseudonyms,
        restorable: bool = True,
    ) -> str:
        """`text` with the spans replaced as their modes say. Not `restorable` (what a model wrote, on its way to
        the agent): `pseudonymize` becomes `replace`, as a placeholder there would be turned back into the value."""

        def substitute(entity: str, value: str) -> str:
            mode = self.mode(entity, modes) if restorable else self.output_mode(entity, modes)
            return replacement(entity, value, mode, self.key, pseudonyms)  # type: ignore[arg-type]

        return redact_spans(text, spans, substitute)
