"""The approvals admin API over HTTP: bearer tokens only, the queue's rules, audited refusals, OpenAPI."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.clock import FakeClock
from tests.approvals import add_reviewer, allow_all_policy, approval, held, hold, refusals


@pytest.fixture
def api(gateway_factory: Any, database_url: str, tmp_path: Any) -> Any:
    gw = gateway_factory(database_url, policy=allow_all_policy(tmp_path))
    gw.alice = add_reviewer(gw.settings, "alice", ["finance"], token=True)
    gw.bob = add_reviewer(gw.settings, "bob", ["finance"], token=True)
    gw.mallory = add_reviewer(gw.settings, "mallory", ["support"], token=True)
    return gw


def call(gw: Any, method: str, path: str, token: str | None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{gw.url}/admin/api/approvals{path}", headers=headers, timeout=10, **kwargs)


def test_list_filters_and_show_the_held_action(api: Any) -> None:
    first, second = hold(api.settings, held(), held(agent="billing-bot", team="finance", approvers=None))
    listed = call(api, "GET", "", api.alice, params={"status": "pending"}).json()["data"]
    assert [a["id"] for a in listed] == [first, second]  # oldest first: they expire soonest
    assert [a["id"] for a in call(api, "GET", "", api.alice, params={"agent": "billing-bot"}).json()["data"]] == [
        second
    ]
    assert [a["id"] for a in call(api, "GET", "", api.alice, params={"group": "finance"}).json()["data"]] == [first]
    assert call(api, "GET", "", api.alice, params={"status": "nonsense"}).status_code == 400
    shown = call(api, "GET", f"/{first}", api.alice).json()
    assert shown["action"]["tool_calls"][0]["arguments"] == {"amount": 5000, "to": "<IBAN_CODE>"}
    assert shown["pii_masked"] is True  # alice is not in approvals.reveal_pii_groups
    assert (shown["status"], shown["agent"], shown["approvers"], shown["required"]) == (
        "pending",
        "support-bot",
        "finance",
        1,
    )
    assert call(api, "GET", "/nope", api.alice).json() == {
        "error": {"code": "not_found", "message": "no such approval"}
    }


def test_approve_reject_extend(api: Any) -> None:
    one, two, three = hold(api.settings, held(), held(), held())
    approved = call(api, "POST", f"/{one}/approve", api.alice, json={"comment": "fine"})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert approved.json()["decided_by"] == "alice"
    rejected = call(api, "POST", f"/{two}/reject", api.bob, json={"comment": "Wrong recipient"})
    assert rejected.json()["status"] == "rejected" and rejected.json()["comment"] == "Wrong recipient"
    before = approval(api.settings, three).expires_at
    extended = call(api, "POST", f"/{three}/extend", api.alice, json={"seconds": 600})
    assert extended.status_code == 200 and approval(api.settings, three).expires_at > before
    assert call(api, "POST", f"/{three}/extend", api.alice, json={"seconds": "soon"}).status_code == 400
    assert call(api, "POST", f"/{three}/extend", api.alice, json={"seconds": 10**9}).status_code == 400
    # deciding again is a conflict, and refused in the audit log
    again = call(api, "POST", f"/{one}/reject", api.bob, json={})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert "not pending" in again.json()["error"]["message"]


def test_the_wrong_group_is_refused_and_audited(api: Any) -> None:
    (approval_id,) = hold(api.settings, held(approvers="finance"))
    refused = call(api, "POST", f"/{approval_id}/approve", api.mallory)
    assert refused.status_code == 403
    assert refused.json()["error"] == {
        "code": "approval_refused",
        "message": "mallory is not in the approvers group 'finance'",
    }
    assert approval(api.settings, approval_id).status == "pending"
    rows = refusals(api.settings)
    assert [(r["approval_id"], r["actor"]) for r in rows] == [(approval_id, "mallory")]


def test_four_eyes(gateway_factory: Any, database_url: str, tmp_path: Any) -> None:
    gw = gateway_factory(
        database_url,
        policy=allow_all_policy(tmp_path),
        approvals={"key_env": "GATEWAY_TEST_APPROVALS_KEY", "poll_s": 0.2, "required": 2},
    )
    alice, bob = (add_reviewer(gw.settings, name, ["finance"], token=True) for name in ("alice", "bob"))
    (approval_id,) = hold(gw.settings, held())
    first = call(gw, "POST", f"/{approval_id}/approve", alice)
    assert first.status_code == 200 and first.json()["status"] == "pending"
    assert [v["reviewer"] for v in first.json()["votes"]] == ["alice"]
    twice = call(gw, "POST", f"/{approval_id}/approve", alice)
    assert twice.status_code == 403
    assert "a different reviewer must give the next approval" in twice.json()["error"]["message"]
    second = call(gw, "POST", f"/{approval_id}/approve", bob)
    assert second.status_code == 200 and second.json()["status"] == "approved"
    assert [v["reviewer"] for v in second.json()["votes"]] == ["alice", "bob"]
    assert [(r["approval_id"], r["actor"]) for r in refusals(gw.settings)] == [(approval_id, "alice")]


def test_agent_keys_and_missing_tokens(api: Any) -> None:
    (approval_id,) = hold(api.settings, held())
    no_token = call(api, "GET", "", None)
    assert no_token.status_code == 401 and no_token.json()["error"]["code"] == "unauthenticated"
    assert call(api, "GET", "", "rvt_not-a-real-token").status_code == 401
    agent = call(api, "POST", f"/{approval_id}/approve", api.key)
    assert agent.status_code == 403 and agent.json()["error"]["code"] == "forbidden"
    assert approval(api.settings, approval_id).status == "pending"
    rows = refusals(api.settings)
    assert [(r["agent"], r["surface"], r["reasons"]) for r in rows] == [
        ("support-bot", "approvals", ["an agent key was used on the reviewers' API"])
    ]
    assert api.key not in str(rows)  # the key itself is never written down


def test_bad_tokens_are_rate_limited(gateway_factory: Any, sqlite_url: str) -> None:
    gw = gateway_factory(sqlite_url, approvals={"key_env": "GATEWAY_TEST_APPROVALS_KEY", "login_attempts": 2})
    statuses = [call(gw, "GET", "", f"rvt_guess{i}").status_code for i in range(3)]
    assert statuses == [401, 401, 429]
    limited = call(gw, "GET", "", "rvt_guess")
    assert limited.json()["error"]["code"] == "rate_limited" and int(limited.headers["retry-after"]) > 0


def test_bad_tokens_do_not_lock_out_a_good_one(gateway_factory: Any, sqlite_url: str) -> None:
    """Behind a proxy every reviewer shares one address: five unknown tokens must not shut out the valid ones."""
    gw = gateway_factory(sqlite_url, approvals={"key_env": "GATEWAY_TEST_APPROVALS_KEY", "login_attempts": 2})
    alice = add_reviewer(gw.settings, "alice", ["finance"], token=True)
    assert [call(gw, "GET", "", f"rvt_guess{i}").status_code for i in range(5)] == [401, 401, 429, 429, 429]
    assert call(gw, "GET", "", alice).status_code == 200  # checked first: a good token is never limited
    assert call(gw, "GET", "", "rvt_guess").status_code == 429  # while bad ones still are


def test_the_bad_token_limit_holds_across_workers(gateway_factory: Any, database_url: str) -> None:
    """Two gateways on one store (two workers, or two replicas) count one address's bad tokens together."""
    approvals = {"key_env": "GATEWAY_TEST_APPROVALS_KEY", "login_attempts": 3}
    clock = FakeClock()  # one clock that stands still: the five tries never span a window's end
    one, two = (gateway_factory(database_url, clock, approvals=approvals) for _ in range(2))
    statuses = [call(gw, "GET", "", f"rvt_guess{i}").status_code for i, gw in enumerate([one, two, one, two, one])]
    assert statuses == [401, 401, 401, 429, 429]


def test_openapi_document_describes_every_route(api: Any) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    document = httpx.get(f"{api.url}/admin/api/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    assert set(paths) == {
        "/admin/api/approvals",
        "/admin/api/approvals/{approval_id}",
        *(f"/admin/api/approvals/{{approval_id}}/{verb}" for verb in ("approve", "reject", "extend")),
    }
    # what the API answers fits the schema it publishes
    (approval_id,) = hold(api.settings, held())
    schemas = {"components": document["components"]}
    shown = call(api, "GET", f"/{approval_id}", api.alice).json()
    jsonschema.validate(shown, {**schemas, **document["components"]["schemas"]["ApprovalWithAction"]})
    error = call(api, "GET", "/nope", api.alice).json()
    jsonschema.validate(error, {**schemas, **document["components"]["schemas"]["Error"]})
