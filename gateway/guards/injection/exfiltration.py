"""Heuristic for links that would carry conversation data out: `exfiltration`.

A markdown image (or HTML <img>) is fetched as soon as a client renders the answer, so an image whose URL
has a template placeholder ("?q={conversation}", "$SECRET", "<DATA>") or a long data-like query string is
a zero-click channel. A link needs a click, so the same shapes count for less; a link to a page with a
short query string ("?utm_source=mail", "?page=2") is nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import unquote_plus

from .hits import MAX_HITS, Hit

_URL = r"(https?://[^\s)\"'<>]{1,4096})"
_LINKS = (
    (re.compile(r"!\[[^\]\n]{0,200}\]\(\s*<?" + _URL), "image"),
    (re.compile(r"<img\b[^>]{0,200}?\bsrc\s*=\s*[\"']?" + _URL, re.IGNORECASE), "image"),
    (re.compile(r"(?<!!)\[[^\]\n]{0,200}\]\(\s*<?" + _URL), "link"),
    (re.compile(r"(?<![(\"'=])" + _URL), "bare"),
)
_PLACEHOLDER = re.compile(
    r"\{\{?\s*[A-Za-z_][\w.-]{0,40}\s*\}\}?|\$\{?[A-Z_][A-Z0-9_]{2,40}\}?|<[A-Za-z_]{3,40}>|%7B[\w.%-]{1,60}%7D|"
    r"\[(?:DATA|CONVERSATION|HISTORY|SECRET|PROMPT|SUMMARY|INFO)[A-Z_]{0,20}\]",
    re.IGNORECASE,
)
_STRENGTH = {  # (kind, shape) -> strength
    ("image", "placeholder"): 0.95,
    ("image", "data"): 0.75,
    ("link", "placeholder"): 0.85,
    ("link", "data"): 0.35,
    ("bare", "placeholder"): 0.6,
}
LONG_QUERY = 100
LONG_VALUE = 48


def exfiltration_hits(text: str) -> Iterator[Hit]:
    if "://" not in text:
        return
    seen: set[int] = set()
    for pattern, kind in _LINKS:
        for count, match in enumerate(pattern.finditer(text)):
            if count >= MAX_HITS:
                break
            url_start = match.start(1)
            if url_start in seen:
                continue
            seen.add(url_start)
            shape = _shape(match.group(1))
            strength = _STRENGTH.get((kind, shape)) if shape else None
            if strength is not None:
                yield Hit(match.start(), match.end(), "exfiltration", strength)


def _shape(url: str) -> str | None:
    """ "placeholder", "data" or None for a URL's query string (and fragment)."""
    cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=-1)
    if cut < 0:
        return "placeholder" if _PLACEHOLDER.search(url) else None
    query = url[cut + 1 :]
    if _PLACEHOLDER.search(query) or _PLACEHOLDER.search(unquote_plus(query)):
        return "placeholder"
    values = [pair.partition("=")[2] for pair in re.split(r"[&;]", query)]
    if len(query) >= LONG_QUERY or any(len(value) >= LONG_VALUE or _prose(value) for value in values):
        return "data"
    return None


def _prose(value: str) -> bool:
    """A query value that is words: three or more, joined by '+' or '%20'."""
    return len(re.findall(r"[A-Za-z]{2,}(?:\+|%20)", value)) >= 3
