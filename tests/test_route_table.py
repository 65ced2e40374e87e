"""Every route the gateway serves is in the README's table, with the stages it runs or why not; a route added
without a line there fails here."""

from __future__ import annotations

import re

from gateway.app import create_app
from gateway.settings import Settings
from tests.test_code_rules import REPO


def _table() -> set[tuple[str, str]]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Every route, and what it runs", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (GET|POST|DELETE|PUT|PATCH) \| `([^`]+)` \|([^|]*)\|([^|]*)\|$", section, re.M)
    assert rows, "the README's route table is missing"
    for method, path, runs, why in rows:
        assert runs.strip() or why.strip(), f"{method} {path}: say what it runs or why not"
    return {(method, path) for method, path, _, _ in rows}


def test_every_route_is_in_the_readme_table():
    app = create_app(Settings())
    served = {
        (method, route.path.replace("{model_id:path}", "{model_id}"))
        for route in app.routes
        for method in getattr(route, "methods", None) or ()
        if method != "HEAD"
    }
    table = _table()
    assert served - table == set(), "routes the README's table does not list"
    assert table - served == set(), "the README lists routes the gateway does not serve"
