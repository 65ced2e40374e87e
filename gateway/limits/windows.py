"""Where a window begins and ends: fixed windows aligned to the Unix epoch, calendar days and months in a zone.

>>> bounds("1m", 125.0, ZoneInfo("UTC"))
(120, 180)
>>> bounds("month", 1_700_000_000.0, ZoneInfo("UTC"))  # 2023-11-14
(1698796800, 1701388800)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.limits.config import window_seconds


def bounds(spec: str, now: float, zone: ZoneInfo) -> tuple[int, int]:
    """The start and end (Unix seconds) of the window `spec` that holds `now`."""
    length = window_seconds(spec)
    if length is not None:
        start = int(now // length * length)
        return start, start + length
    local = datetime.fromtimestamp(now, zone)
    if spec == "day":
        first = local.replace(hour=0, minute=0, second=0, microsecond=0)
        following = first + timedelta(days=1)  # wall-clock arithmetic: a day of 23 or 25 hours too
    else:
        first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        following = (first + timedelta(days=32)).replace(day=1)
    return int(_wall(first, zone).timestamp()), int(_wall(following, zone).timestamp())


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    """`moment`'s wall-clock time in `zone` again (after arithmetic that crossed a change of offset)."""
    return datetime(moment.year, moment.month, moment.day, moment.hour, tzinfo=zone)
