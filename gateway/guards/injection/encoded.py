"""Heuristic for instructions hidden in an encoding: `encoded_payload`.

Base64, hex and percent-encoded runs are decoded (the first `MAX_DECODE` characters of each) and kept only
if they decode to readable text; that text is then judged by the caller (the instruction heuristics and the
model). An image in a data URI, a UUID, a SHA-256 digest or a JWT's binary signature decode to bytes, not
text, and are left alone; so is encoded text that reads as data rather than as an instruction.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from urllib.parse import unquote

from .hits import Hit

MAX_DECODE = 4096
MAX_BLOBS = 1024
MIN_JUDGED = 0.35

_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{24,}={0,2}")
_HEX = re.compile(r"[0-9A-Fa-f]{32,}")
_ESCAPED_HEX = re.compile(r"(?:\\x[0-9A-Fa-f]{2}){12,}")
_PERCENT = re.compile(r"(?:%[0-9A-Fa-f]{2}){12,}")
_PRINTABLE = re.compile(r"[\t\n\r\x20-\x7e]")
_WORDS = re.compile(r"[A-Za-z]{2,}")


def encoded_hits(text: str, judge: Callable[[str], float]) -> Iterator[Hit]:
    """A hit for each blob whose decoded text `judge` scores at MIN_JUDGED or more."""
    blobs = 0
    for pattern, cue, decode in _ENCODINGS:
        if cue is not None and cue not in text:
            continue
        for match in pattern.finditer(text):
            blobs += 1
            if blobs > MAX_BLOBS:
                return
            decoded = decode(match.group()[:MAX_DECODE])
            if decoded is None or not _readable(decoded):
                continue
            judged = judge(decoded)
            if judged >= MIN_JUDGED:
                yield Hit(match.start(), match.end(), "encoded_payload", min(1.0, 0.3 + judged))


def _from_base64(blob: str) -> str | None:
    blob = blob.rstrip("=")
    blob = blob[: len(blob) - len(blob) % 4]
    try:
        raw = base64.b64decode(blob.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.decode("utf-8", errors="replace")


def _from_hex(blob: str) -> str | None:
    digits = blob.replace("\\x", "")
    try:
        raw = bytes.fromhex(digits[: len(digits) - len(digits) % 2])
    except ValueError:
        return None
    return raw.decode("utf-8", errors="replace")


def _from_percent(blob: str) -> str | None:
    return unquote(blob, errors="replace")


# Each encoding, the text its input must contain to be worth a scan (None: always scan) and its decoder.
_ENCODINGS: tuple[tuple[re.Pattern[str], str | None, Callable[[str], str | None]], ...] = (
    (_BASE64, None, _from_base64),
    (_HEX, None, _from_hex),
    (_ESCAPED_HEX, "\\x", _from_hex),
    (_PERCENT, "%", _from_percent),
)


def _readable(decoded: str) -> bool:
    """Mostly printable ASCII with a few words in it, as text is and binary data is not."""
    if len(decoded) < 12:
        return False
    printable = len(_PRINTABLE.findall(decoded))
    return printable >= 0.95 * len(decoded) and len(_WORDS.findall(decoded)) >= 3
