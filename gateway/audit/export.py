"""The audit log as JSON lines or CSV, one event at a time (for the CLI, the HTTP export and bundles).

Columns are `EXPORT_FIELDS` then `seq` and `leaf_hash`; CSV writes lists and objects as JSON.

    >>> rows = Rows("csv")
    >>> rows.header().startswith("ts,decision_id")
    True
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncGenerator
from typing import Any

from sqlalchemy import ColumnElement

from gateway.audit.records import STORED_FIELDS, AuditLog, Filters

FORMATS = ("jsonl", "csv")
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


class Rows:
    """Formats events as lines of `fmt`: `header()` once (empty for JSON lines), then `line(event)` each."""

    def __init__(self, fmt: str) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}")
        self.fmt = fmt
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer)

    def header(self) -> str:
        return self._csv_line(STORED_FIELDS) if self.fmt == "csv" else ""

    def line(self, event: dict[str, Any]) -> str:
        if self.fmt == "jsonl":
            return json.dumps(event, ensure_ascii=False) + "\n"
        return self._csv_line([_cell(event[name]) for name in STORED_FIELDS])

    def _csv_line(self, cells: list[Any]) -> str:
        self._csv.writerow(cells)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text


def _cell(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value


async def chunks(
    log: AuditLog, filters: Filters, fmt: str, size: int = 256, where: ColumnElement[bool] | None = None
) -> AsyncGenerator[tuple[str, int], None]:
    """The export as text chunks of up to `size` events, with how many each holds (fewer, larger writes;
    memory stays bounded whatever the number of events). `where` narrows it further (the console's search)."""
    rows = Rows(fmt)
    batch, count = [rows.header()], 0
    async for event in log.read(filters=filters, where=where):
        batch.append(rows.line(event))
        count += 1
        if count >= size:
            yield "".join(batch), count
            batch, count = [], 0
    if count or any(batch):
        yield "".join(batch), count
