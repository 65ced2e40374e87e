"""A bounded look-behind for streamed text: release what no pending match can still need, scrub it, go on.

Text arrives in small deltas, and a card number or an email can be split across them. `StreamScrubber`
holds back only the trailing run of characters that PII values, secrets and placeholders are made of
(letters, digits, `@._%+-:/#=<>()~`, and a space between digit groups), at most `hold` characters, and
releases the rest, to be scrubbed. So text keeps flowing a word behind, and a value is always scrubbed whole.

    >>> s = StreamScrubber()
    >>> s.feed("mail jo"), s.feed("e@x.io now"), s.flush()
    ('mail ', 'joe@x.io ', 'now')
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

_TOKEN = frozenset("@._%+-:/#=<>()~")


def _joins_digits(buffer: str, space: int) -> bool:
    """A space between digit groups, as in `4111 1111` or `(415) 555`, or after one at the end of the buffer
    (the next group may be on its way)."""
    before = buffer[space - 1] if space > 0 else ""
    after = buffer[space + 1] if space + 1 < len(buffer) else None
    return (before.isdigit() or before == ")") and (after is None or after.isdigit() or after == "(")


def safe_cut(buffer: str, hold: int) -> int:
    """How much of `buffer` can be released: all but its pending tail (at most `hold` characters)."""
    i = len(buffer)
    while i > 0 and len(buffer) - i < hold:
        c = buffer[i - 1]
        if c.isalnum() or c in _TOKEN or (c == " " and _joins_digits(buffer, i - 1)):
            i -= 1
            continue
        break
    return i


class StreamScrubber:
    """The look-behind alone: `feed` returns the text that can be released now, `flush` the rest at the end;
    the caller scrubs what it gets (off the event loop when it is long)."""

    def __init__(self, hold: int = 128) -> None:
        self.hold = hold
        self.buffer = ""

    def feed(self, text: str) -> str:
        self.buffer += text
        cut = safe_cut(self.buffer, self.hold)
        out, self.buffer = self.buffer[:cut], self.buffer[cut:]
        return out

    def flush(self) -> str:
        out, self.buffer = self.buffer, ""
        return out


class LogprobAligner:
    """Re-aligns OpenAI logprobs with streamed text that the look-behind re-chunked and the scrubber may change.

    Each token entry covers a span of the streamed text (the tokens of a delta spell out its text). A token is
    released with the chunk that holds its last character, and only if every chunk it overlaps reached the agent
    unchanged: so an entry never spells out text that a redaction removed or a pseudonym restored. A delta whose
    tokens do not add up to its text (no logprobs, byte-level tokens) is one opaque span without entries.

        >>> a = LogprobAligner()
        >>> a.feed("Hi jo", {"content": [{"token": "Hi"}, {"token": " jo"}]})
        >>> a.release(3, unchanged=True)
        {'content': [{'token': 'Hi'}], 'refusal': None}
        >>> a.release(2, unchanged=False) is None
        True
    """

    def __init__(self) -> None:
        self.fed = 0  # characters of upstream text seen
        self.released = 0  # characters of upstream text released
        self.tokens: deque[_Token] = deque()

    def feed(self, text: str, logprobs: dict[str, Any] | None) -> None:
        entries = (logprobs or {}).get("content") or []
        if entries and "".join(str(e.get("token", "")) for e in entries) == text:
            for entry in entries:
                length = len(str(entry.get("token", "")))
                self.tokens.append(_Token(self.fed, self.fed + length, entry))
                self.fed += length
            return
        self.tokens.append(_Token(self.fed, self.fed + len(text), None))
        self.fed += len(text)

    def release(self, length: int, unchanged: bool) -> dict[str, Any] | None:
        """The logprobs of the next `length` characters of upstream text, released now (changed or not)."""
        end = self.released = self.released + length
        out: list[dict[str, Any]] = []
        while self.tokens and (self.tokens[0].start < end or self.tokens[0].end <= end):
            token = self.tokens[0]
            token.clean = token.clean and unchanged
            if token.end > end:
                break  # it goes on in text still held back
            self.tokens.popleft()
            if token.clean and token.entry is not None:
                out.append(token.entry)
        return {"content": out, "refusal": None} if out else None


@dataclass(slots=True)
class _Token:
    start: int
    end: int
    entry: dict[str, Any] | None
    clean: bool = True
