"""The reviewers' web page over HTTP: sign-in, rate limits, CSRF, decisions by form, live events."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from gateway.clock import FakeClock
from tests.approvals import PASSWORD, add_reviewer, allow_all_policy, approval, held, hold, refusals
from tests.conftest import ServerThread

APPROVALS = {"key_env": "GATEWAY_TEST_APPROVALS_KEY", "poll_s": 0.2, "reveal_pii_groups": ["privacy"]}


@pytest.fixture
def web(gateway_factory: Any, sqlite_url: str, tmp_path: Any) -> Any:
    gw = gateway_factory(sqlite_url, policy=allow_all_policy(tmp_path), approvals=APPROVALS)
    add_reviewer(gw.settings, "alice", ["finance"])
    add_reviewer(gw.settings, "priya", ["finance", "privacy"])
    add_reviewer(gw.settings, "mallory", ["support"])
    return gw


@pytest.fixture
def clients() -> Iterator[list[httpx.Client]]:
    opened: list[httpx.Client] = []
    yield opened
    for client in opened:
        client.close()


def browser(gw: Any, clients: list[httpx.Client]) -> httpx.Client:
    client = httpx.Client(base_url=gw.url, timeout=10)
    clients.append(client)
    return client


def sign_in(gw: Any, clients: list[httpx.Client], name: str = "alice") -> tuple[httpx.Client, str]:
    client = browser(gw, clients)
    response = client.post("/ui/login", data={"name": name, "password": PASSWORD})
    assert response.status_code == 303 and response.headers["location"] == "/ui/"
    page = client.get("/ui/")
    assert page.status_code == 200
    match = re.search(r'<meta name="csrf" content="([^"]+)">', page.text)
    assert match
    return client, match.group(1)


def test_sign_in_and_out(web: Any, clients: list[httpx.Client]) -> None:
    anonymous = browser(web, clients)
    assert anonymous.get("/ui/").headers["location"] == "/ui/login"
    assert anonymous.get("/ui/events").status_code == 401
    assert "Sign in to review" in anonymous.get("/ui/login").text
    wrong = anonymous.post("/ui/login", data={"name": "alice", "password": "nope"})
    assert wrong.status_code == 401 and "wrong name or password" in wrong.text
    assert [r["reasons"] for r in refusals(web.settings)] == [["sign-in failed: wrong name or password"]]

    client = browser(web, clients)
    signed = client.post("/ui/login", data={"name": "alice", "password": PASSWORD})
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=28800" in cookie and "path=/ui" in cookie
    assert "secure" not in cookie  # plain http here; https (or an https public_url) adds Secure
    page = client.get("/ui/")
    assert '<span class="name">alice</span>' in page.text and '<span class="group">finance</span>' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    csrf = re.search(r'name="csrf" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert client.post("/ui/logout").status_code == 403
    out = client.post("/ui/logout", data={"csrf": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert client.get("/ui/").status_code == 303


def _copy(gw: Any, clients: list[httpx.Client], signed_in: httpx.Client) -> httpx.Client:
    """Another browser holding a copy of `signed_in`'s session cookie (stolen, or sent from a second tab)."""
    copy = browser(gw, clients)
    copy.cookies.set("gw_reviewer", signed_in.cookies["gw_reviewer"], domain="127.0.0.1", path="/ui")
    return copy


def test_logging_out_ends_the_session_on_the_server(
    gateway_factory: Any, sqlite_url: str, tmp_path: Any, clients: list[httpx.Client]
) -> None:
    """The cookie is signed, not stateless: once its reviewer logs out a copy of it approves nothing, on this
    gateway or on another replica sharing the store."""
    gw = gateway_factory(sqlite_url, policy=allow_all_policy(tmp_path), approvals=APPROVALS)
    replica = gateway_factory(sqlite_url, policy=allow_all_policy(tmp_path), approvals=APPROVALS)
    add_reviewer(gw.settings, "alice", ["finance"])
    (approval_id,) = hold(gw.settings, held())
    client, csrf = sign_in(gw, clients)
    copy, on_replica = _copy(gw, clients, client), _copy(gw, clients, client)
    on_replica.base_url = httpx.URL(replica.url)
    assert copy.get("/ui/").status_code == 200 and on_replica.get("/ui/").status_code == 200
    assert client.post("/ui/logout", data={"csrf": csrf}).status_code == 303
    for stale in (copy, on_replica):
        assert stale.get("/ui/").headers["location"] == "/ui/login"
        refused = stale.post(f"/ui/approvals/{approval_id}/approve", data={"csrf": csrf})
        assert refused.status_code == 303 and refused.headers["location"] == "/ui/login"
    assert approval(gw.settings, approval_id).status == "pending"
    again, _ = sign_in(gw, clients)  # signing in again is a new session
    assert again.get("/ui/").status_code == 200


def test_a_forged_cookie_is_not_a_session(web: Any, clients: list[httpx.Client]) -> None:
    client = browser(web, clients)
    client.cookies.set("gw_reviewer", "eyJuYW1lIjoiYWxpY2UifQ.forged.signature")
    assert client.get("/ui/").status_code == 303


def test_failed_sign_ins_are_rate_limited(gateway_factory: Any, sqlite_url: str, clients: list[httpx.Client]) -> None:
    gw = gateway_factory(sqlite_url, approvals={**APPROVALS, "login_attempts": 2})
    add_reviewer(gw.settings, "alice", ["finance"])
    client = browser(gw, clients)
    statuses = [client.post("/ui/login", data={"name": "alice", "password": "guess"}).status_code for _ in range(2)]
    assert statuses == [401, 401]
    limited = client.post("/ui/login", data={"name": "alice", "password": PASSWORD})  # even the right password
    assert limited.status_code == 429 and 0 < int(limited.headers["retry-after"]) <= 60
    assert "too many failed sign-ins" in limited.text
    # another name from the same address is counted on its own
    assert client.post("/ui/login", data={"name": "bob", "password": "guess"}).status_code == 401


def test_a_sign_in_posted_from_another_site_is_refused(web: Any, clients: list[httpx.Client]) -> None:
    client = browser(web, clients)
    forged = client.post(
        "/ui/login", data={"name": "alice", "password": PASSWORD}, headers={"Origin": "https://evil.example"}
    )
    assert forged.status_code == 403 and "set-cookie" not in forged.headers


def test_decisions_need_the_sessions_csrf_token(web: Any, clients: list[httpx.Client]) -> None:
    (approval_id,) = hold(web.settings, held())
    client, csrf = sign_in(web, clients)
    missing = client.post(f"/ui/approvals/{approval_id}/approve")
    assert missing.status_code == 403 and "stale" in missing.text
    wrong = client.post(f"/ui/approvals/{approval_id}/approve", data={"csrf": "x" * len(csrf)})
    assert wrong.status_code == 403
    assert approval(web.settings, approval_id).status == "pending"
    assert len([r for r in refusals(web.settings) if "CSRF" in r["reasons"][0] and r["actor"] == "alice"]) == 2
    # another reviewer's token does not fit this session either
    _, other = sign_in(web, clients, "priya")
    assert client.post(f"/ui/approvals/{approval_id}/approve", data={"csrf": other}).status_code == 403
    # the header works as well as the form field
    by_header = client.post(
        f"/ui/approvals/{approval_id}/approve", headers={"X-CSRF-Token": csrf, "Accept": "application/json"}
    )
    assert by_header.status_code == 200 and by_header.json()["ok"] is True


def test_approve_and_reject_by_form(web: Any, clients: list[httpx.Client]) -> None:
    one, two, other_group = hold(web.settings, held(), held(), held(approvers="legal"))
    client, csrf = sign_in(web, clients)
    page = client.get("/ui/").text
    assert all(f'id="item-{i}"' in page for i in (one, two, other_group))
    assert "Only the legal group can decide this." in page

    approved = client.post(f"/ui/approvals/{one}/approve", data={"csrf": csrf})
    assert approved.status_code == 303 and approved.headers["location"] == "/ui/"
    after = client.get("/ui/")
    assert "transfer_funds approved." in after.text and f'id="item-{one}"' not in after.text
    assert "transfer_funds approved." not in client.get("/ui/").text  # the notice is shown once

    client.post(f"/ui/approvals/{two}/reject", data={"csrf": csrf, "reason": "Amount too high", "comment": "split it"})
    rejected = approval(web.settings, two)
    assert (rejected.status, rejected.decided_by, rejected.comment) == (
        "rejected",
        "alice",
        "Amount too high: split it",
    )

    refused = client.post(
        f"/ui/approvals/{other_group}/approve", data={"csrf": csrf}, headers={"Accept": "application/json"}
    )
    assert refused.status_code == 403 and refused.json()["message"] == (
        "Refused: alice is not in the approvers group 'legal'"
    )
    again = client.post(f"/ui/approvals/{one}/approve", data={"csrf": csrf}, follow_redirects=True)
    assert "Refused: the approval is approved, not pending" in again.text

    history = client.get("/ui/history").text
    assert history.count('<tr class="status-') == 2 and "Amount too high: split it" in history
    assert "✓ alice" in history


def test_bulk_decisions(web: Any, clients: list[httpx.Client]) -> None:
    ids = hold(web.settings, held(), held(), held(approvers="legal"))
    client, csrf = sign_in(web, clients)
    answer = client.post(
        "/ui/bulk",
        data={"csrf": csrf, "verdict": "reject", "reason": "Wrong recipient", "ids": ids},
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == 207
    assert [r["ok"] for r in answer.json()["results"]] == [True, True, False]
    assert [approval(web.settings, i).status for i in ids] == ["rejected", "rejected", "pending"]


def test_the_page_shows_hidden_characters_and_masks_pii(web: Any, clients: list[httpx.Client]) -> None:
    action = {
        "tool_calls": [{"name": "send_email", "arguments": {"to": "jane.doe@example.com", "body": "ok\u202e\u200bgo"}}]
    }
    (approval_id,) = hold(web.settings, held(action=action, tool_calls=["send_email"]))
    client, _ = sign_in(web, clients)
    page = client.get("/ui/").text
    assert "⟨U+202E⟩" in page and "⟨U+200B⟩" in page and "RIGHT-TO-LEFT OVERRIDE" in page
    assert "\u202e" not in page and "\u200b" not in page
    assert "2 hidden or invisible characters" in page
    assert "jane.doe@example.com" not in page and "PII masked" in page
    privacy, _ = sign_in(web, clients, "priya")
    assert "jane.doe@example.com" in privacy.get(f"/ui/items/{approval_id}").text


def test_filters(web: Any, clients: list[httpx.Client]) -> None:
    mine, theirs = hold(web.settings, held(), held(agent="billing-bot", team="finance"))
    client, _ = sign_in(web, clients)
    page = client.get("/ui/", params={"agent": "billing-bot"}).text
    assert f'id="item-{theirs}"' in page and f'id="item-{mine}"' not in page
    assert client.get(f"/ui/items/{mine}", params={"agent": "billing-bot"}).status_code == 204
    assert client.get(f"/ui/items/{mine}", params={"status": "approved"}).status_code == 204
    assert client.get(f"/ui/items/{mine}").status_code == 200


def test_live_events_name_each_changed_approval(gateway_factory: Any, sqlite_url: str, tmp_path: Any) -> None:
    approvals = {**APPROVALS, "keepalive_s": 0.3}
    gw = gateway_factory(sqlite_url, policy=allow_all_policy(tmp_path), approvals=approvals)
    add_reviewer(gw.settings, "alice", ["finance"])
    (approval_id,) = hold(gw.settings, held())
    opened: list[httpx.Client] = []
    try:
        client, csrf = sign_in(gw, opened)
        with client.stream("GET", "/ui/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert _until(lines, lambda line: line == ": connected")
            assert _until(lines, lambda line: line == ": keep-alive")
            decider, decider_csrf = sign_in(gw, opened)
            decider.post(f"/ui/approvals/{approval_id}/approve", data={"csrf": decider_csrf})
            assert _until(lines, lambda line: line == "event: approval")
            assert next(lines) == f"data: {approval_id}"
            # a hold made by another process arrives too (by polling the store)
            (later,) = hold(gw.settings, held())
            assert _until(lines, lambda line: line == f"data: {later}")
    finally:
        for opened_client in opened:
            opened_client.close()


def _until(lines: Iterator[str], wanted: Any, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    for line in lines:
        if wanted(line):
            return True
        if time.monotonic() > deadline:
            return False
    return False


@pytest.fixture
def issuer() -> Iterator[tuple[str, Any]]:
    """An OIDC issuer on loopback: its discovery document, its published key, and the private key."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": "k1", "use": "sig", "alg": "RS256"}
    urls: dict[str, str] = {}
    app = Starlette(
        routes=[
            Route("/.well-known/openid-configuration", lambda _: JSONResponse(urls)),
            Route("/jwks.json", lambda _: JSONResponse({"keys": [jwk]})),
        ]
    )
    with ServerThread(app) as server:
        urls.update(issuer=server.url, jwks_uri=f"{server.url}/jwks.json")
        yield server.url, key


def _id_token(issuer: str, key: Any, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": issuer, "aud": "gateway-reviewers", "iat": now, "exp": now + 300, "preferred_username": "olivia"}
    body |= {"groups": ["finance"], **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm="RS256", headers={"kid": "k1"})


def test_oidc_sign_in(
    gateway_factory: Any, sqlite_url: str, tmp_path: Any, clients: list[httpx.Client], issuer: tuple[str, Any]
) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    issuer_url, key = issuer
    oidc = {"issuer": issuer_url, "audience": "gateway-reviewers"}  # keys found by discovery
    gw = gateway_factory(sqlite_url, policy=allow_all_policy(tmp_path), approvals={**APPROVALS, "oidc": oidc})
    (approval_id,) = hold(gw.settings, held())
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for bad, why in (
        (_id_token(issuer_url, key, aud="someone-else"), "audience"),
        (_id_token(issuer_url, key, exp=int(time.time()) - 120), "expired"),
        (_id_token(issuer_url, stranger), "signature"),
        (_id_token(issuer_url, key, preferred_username=None), "lacks &#39;preferred_username&#39;"),
    ):
        refused = browser(gw, clients).post("/ui/login/oidc", data={"id_token": bad})
        assert refused.status_code == 401 and why in refused.text.lower(), (
            why,
            re.findall(r"role=\"alert\">(.*?)</div>", refused.text),
        )
    client = browser(gw, clients)
    signed = client.post("/ui/login/oidc", data={"id_token": _id_token(issuer_url, key)})
    assert signed.status_code == 303
    page = client.get("/ui/").text
    assert '<span class="name">olivia</span>' in page and '<span class="via">SSO</span>' in page
    csrf = re.search(r'name="csrf" content="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    client.post(f"/ui/approvals/{approval_id}/approve", data={"csrf": csrf})
    decided = approval(gw.settings, approval_id)
    assert (decided.status, decided.decided_by, decided.votes[0]["via"]) == ("approved", "olivia", "oidc")


def test_an_sso_session_ends_when_the_id_token_expires(
    gateway_factory: Any, sqlite_url: str, tmp_path: Any, clients: list[httpx.Client], issuer: tuple[str, Any]
) -> None:
    issuer_url, key = issuer
    oidc = {"issuer": issuer_url, "audience": "gateway-reviewers"}
    approvals = {**APPROVALS, "oidc": oidc}
    gw = gateway_factory(sqlite_url, FakeClock(), policy=allow_all_policy(tmp_path), approvals=approvals)
    (approval_id,) = hold(gw.settings, held())
    client = browser(gw, clients)
    exp = int(gw.clock.now().timestamp()) + 3
    signed = client.post("/ui/login/oidc", data={"id_token": _id_token(issuer_url, key, exp=exp)})
    assert signed.status_code == 303
    max_age = int(re.search(r"max-age=(\d+)", signed.headers["set-cookie"], re.I).group(1))  # type: ignore[union-attr]
    assert 0 < max_age <= 3  # the browser drops the cookie with the token
    page = client.get("/ui/")
    assert page.status_code == 200
    csrf = re.search(r'name="csrf" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    copy = _copy(gw, clients, client)
    gw.clock.advance(3)
    # and the server ends the session then, whatever the browser keeps: the reviewer signs in again
    assert copy.get("/ui/").headers["location"] == "/ui/login"
    refused = copy.post(f"/ui/approvals/{approval_id}/approve", data={"csrf": csrf})
    assert refused.status_code == 303 and approval(gw.settings, approval_id).status == "pending"


def test_behind_https_the_cookie_is_secure(gateway_factory: Any, sqlite_url: str, clients: list[httpx.Client]) -> None:
    public = "https://gateway.example.com"
    gw = gateway_factory(sqlite_url, approvals={**APPROVALS, "public_url": public})
    add_reviewer(gw.settings, "alice", ["finance"])
    client = browser(gw, clients)
    # the proxy's public origin is this gateway's own origin too
    signed = client.post("/ui/login", data={"name": "alice", "password": PASSWORD}, headers={"Origin": public})
    assert signed.status_code == 303 and "secure" in signed.headers["set-cookie"].lower()
