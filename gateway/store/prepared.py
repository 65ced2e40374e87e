"""A statement compiled once by SQLAlchemy and run on the DB-API cursor, for the audit writer's hot path.

`Connection.execute` builds an execution context per call (parameters checked, processed, result metadata
made): on SQLite that is most of an audit batch's CPU, more than the database's own work. A `Prepared` keeps
what SQLAlchemy compiled (the SQL text, the order of its parameters, each type's bind processor, so values
are stored exactly as `Connection.execute` stores them) and hands tuples straight to the driver's cursor.
Only for statements on the hot path; everything else goes through SQLAlchemy as usual.

    >>> insert_event = Prepared(insert(AuditEventRow), dialect, keys=[...])  # doctest: +SKIP
    >>> insert_event.executemany(cursor, rows)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from gateway.errors import GatewayError


class Prepared:
    def __init__(self, statement: ClauseElement, dialect: Dialect, keys: Sequence[str] | None = None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None)
        if not isinstance(compiled, SQLCompiler):
            raise GatewayError("internal check failed: isinstance(compiled, SQLCompiler)")
        if compiled.positiontup is None:
            raise ValueError(f"{dialect.name} does not take positional parameters")
        self.sql = str(compiled)
        self._params: list[tuple[str, Any, Callable[[Any], Any] | None]] = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            self._params.append((name, bind.value, processor))

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The positional parameters for `values` (a statement's own literals where `values` has no entry);
        KeyError for a parameter with neither."""
        out = []
        for name, default, processor in self._params:
            value = values[name] if name in values or default is None else default
            out.append(processor(value) if processor is not None else value)
        return tuple(out)

    def execute(self, cursor: Any, values: Mapping[str, Any] | None = None) -> Any:
        return cursor.execute(self.sql, self.parameters(values or {}))

    def executemany(self, cursor: Any, rows: Sequence[Mapping[str, Any]]) -> None:
        cursor.executemany(self.sql, [self.parameters(row) for row in rows])
