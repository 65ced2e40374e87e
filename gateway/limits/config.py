"""What an operator writes about limits: prices, the limits themselves, and how usage is metered.

    >>> limit = LimitConfig.model_validate({"match": {"team": "research"}, "requests": {"per": "1m", "max": 600}})
    >>> (limit.label, limit.requests.max if limit.requests else None)
    ('team=research', 600)

Windows are `<n>s`, `<n>m`, `<n>h`, `<n>d` (fixed, aligned to the Unix epoch) or `day`/`month` (the calendar's,
in `usage.timezone`). A match value `*` gives each agent (team, key, label value) a counter of its own.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

WINDOW = r"^([1-9][0-9]{0,5}[smhd]|day|month)$"
Window = Annotated[str, Field(pattern=WINDOW)]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:=*@/-]+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Strict):
    """US dollars per million tokens."""

    input: float = Field(ge=0, le=1_000_000)
    output: float = Field(default=0.0, ge=0, le=1_000_000)


class Rate(_Strict):
    per: Window
    max: int = Field(ge=0, le=10**15)


class Money(_Strict):
    per: Window
    max: float = Field(ge=0, le=10**9)  # US dollars


class Match(_Strict):
    """Whom a limit is for: every field given must match the caller (`*`: each value its own counter)."""

    agent: Name | None = None
    team: Name | None = None
    key_id: Name | None = None
    labels: dict[Name, Name] = Field(default_factory=dict)

    def fields(self) -> list[tuple[str, str]]:
        """(field, wanted) pairs, labels as `label.<name>`, in a fixed order."""
        out = [(name, value) for name, value in (("agent", self.agent), ("team", self.team), ("key_id", self.key_id))]
        out += [(f"label.{name}", value) for name, value in sorted(self.labels.items())]
        return [(name, value) for name, value in out if value is not None]


class LimitConfig(_Strict):
    """One limit: whom it matches, and any of requests, tokens (input + output) and money per window, and
    calls in flight at once. A caller matched by several limits must stay inside every one."""

    name: Name | None = None  # how errors, metrics and `gateway usage` name it (default: its match)
    match: Match = Field(default_factory=Match)
    requests: Rate | None = None
    tokens: Rate | None = None
    spend_usd: Money | None = None
    concurrent: int | None = Field(default=None, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _limits_something(self) -> LimitConfig:
        if self.requests is None and self.tokens is None and self.spend_usd is None and self.concurrent is None:
            raise ValueError("a limit needs at least one of requests, tokens, spend_usd, concurrent")
        return self

    @property
    def label(self) -> str:
        fields = self.match.fields()
        return self.name or (",".join(f"{k}={v}" for k, v in fields) if fields else "everyone")


class UsageConfig(_Strict):
    """How calls are metered against `limits`."""

    # a call whose model has no price, while a money limit applies to its caller: deny it, or count it as free
    unknown_price: Literal["deny", "zero"] = "deny"
    timezone: str = "UTC"  # where calendar windows (`day`, `month`) begin
    output_ceiling: int = Field(default=4096, ge=1, le=10_000_000)  # output tokens reserved when a call sets no max
    chars_per_token: float = Field(default=3.0, gt=0, le=16)  # input tokens are estimated from the text's length
    # a reservation whose call never settled it (its process was killed) is released after this long
    lease_s: float = Field(default=900.0, ge=10, le=7 * 86_400)
    keep_days: int = Field(default=400, ge=1)  # counters of windows that ended longer ago are deleted

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


def check_limits(limits: list[LimitConfig]) -> list[LimitConfig]:
    """Two limits may not share a name (give them `name:`)."""
    seen: set[str] = set()
    for limit in limits:
        if limit.label in seen:
            raise ValueError(f"two limits are named {limit.label!r}; give one a 'name'")
        seen.add(limit.label)
    return limits


def window_seconds(spec: str) -> int | None:
    """The length of a fixed window (None for calendar windows)."""
    found = re.fullmatch(r"([0-9]+)([smhd])", spec)
    if found is None:
        return None
    return int(found.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86_400}[found.group(2)]
