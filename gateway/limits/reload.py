"""Limits and prices take effect on reload, like policies: the config file is watched, and each version that
validates swaps in its `limits`, `prices` and `usage` (the rest of the file needs a restart)."""

from __future__ import annotations

import logging
from pathlib import Path

from gateway.clock import Clock
from gateway.errors import ConfigError
from gateway.limits.limiter import Limiter, Limits
from gateway.settings import load_settings

log = logging.getLogger("gateway.limits")


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


async def watch_limits(limiter: Limiter, path: Path, clock: Clock, interval_s: float = 1.0) -> None:
    """Poll the config file; swap in the limits of each version that validates, keep the old ones otherwise."""
    seen = _stamp(path)
    while True:
        await clock.sleep(interval_s)
        current = _stamp(path)
        if current == seen or current is None:
            continue
        seen = current
        try:
            fresh = Limits.of(load_settings(path))
        except ConfigError as exc:
            log.error("limits change rejected, the old limits stay in force: %s", exc.message)
            continue
        if fresh != limiter.limits:
            limiter.reload(fresh)
            log.warning("limits reloaded: %d limits, %d prices", len(fresh.limits), len(fresh.prices))
