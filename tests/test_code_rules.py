"""Rules of the code itself that a reviewer could miss."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_no_check_relies_on_assert():
    """`python -O` strips assert statements: a check the gateway relies on must be an `if` that raises."""
    found = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for folder in ("gateway", "connectors")
        for path in sorted((REPO / folder).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert not found, f"assert statements in production code: {found}"
