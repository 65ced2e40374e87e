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
