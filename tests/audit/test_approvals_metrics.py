"""`/metrics` counts holds: `gateway_approvals_pending` from the store, `gateway_approvals_decided_total`."""

from __future__ import annotations

from typing import Any

import httpx

from tests.approvals import add_reviewer, allow_all_policy, held, hold


def samples(gw: Any) -> dict[str, float]:
    text = httpx.get(f"{gw.url}/metrics", timeout=10).text
    found = {}
    for line in text.splitlines():
        if line.startswith("gateway_approvals_"):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


def test_pending_and_decided_holds_are_metrics(gateway_factory: Any, sqlite_url: str, tmp_path: Any) -> None:
    gw = gateway_factory(sqlite_url, policy=allow_all_policy(tmp_path))
    token = add_reviewer(gw.settings, "alice", ["finance"], token=True)
    assert samples(gw)["gateway_approvals_pending"] == 0
    one, two, _ = hold(gw.settings, held(), held(), held())
    assert samples(gw)["gateway_approvals_pending"] == 3
    auth = {"Authorization": f"Bearer {token}"}
    for approval_id, verb in ((one, "approve"), (two, "reject")):
        url = f"{gw.url}/admin/api/approvals/{approval_id}/{verb}"
        assert httpx.post(url, headers=auth, json={}, timeout=10).status_code == 200
    assert samples(gw) == {
        "gateway_approvals_pending": 1,
        'gateway_approvals_decided_total{outcome="approved"}': 1,
        'gateway_approvals_decided_total{outcome="rejected"}': 1,
        'gateway_approvals_decided_total{outcome="expired"}': 0,
    }
