"""Paths the gateway does not serve answer in the caller's protocol's shape, with the ids, and are audited."""

from __future__ import annotations

import httpx

from tests.helpers import audit_rows


def test_an_unknown_path_is_a_protocol_shaped_audited_404(gateway):
    response = httpx.get(f"{gateway.url}/v1/nope", headers={"x-request-id": "probe-1"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found" and "GET /v1/nope" in response.json()["error"]["message"]
    assert response.headers["x-request-id"] == "probe-1" and response.headers["request-id"] == "probe-1"
    decision_id = response.headers["x-gateway-decision-id"]
    (row,) = [r for r in audit_rows(gateway.settings.database_url) if r["decision_id"] == decision_id]
    assert (row["allow"], row["error_code"], row["request_id"]) == (False, "not_found", "probe-1")


def test_anthropic_callers_get_anthropics_shape(gateway):
    response = httpx.post(f"{gateway.url}/v1/messages/batches", json={}, headers={"anthropic-version": "2023-06-01"})
    assert response.status_code == 404
    assert response.json()["type"] == "error" and response.json()["error"]["type"] == "not_found_error"
    assert response.headers["x-gateway-decision-id"]


def test_a_wrong_method_is_a_405_in_shape(gateway):
    response = httpx.get(f"{gateway.url}/v1/chat/completions")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
    assert response.headers["x-gateway-decision-id"]


def test_every_error_response_names_its_audit_record(gateway):
    """401 (bad key), 400 (bad body) and 502 (upstream down) carry the decision id of the call's record."""
    url = f"{gateway.url}/v1/chat/completions"
    good = {"authorization": f"Bearer {gateway.key}"}
    cases = [
        (httpx.post(url, json={"model": "echo", "messages": []}, headers={"authorization": "Bearer nope"}), 401),
        (httpx.post(url, content=b"{not json", headers=good), 400),
        (
            httpx.post(url, json={"model": "all-down", "messages": [{"role": "user", "content": "x"}]}, headers=good),
            502,
        ),
    ]
    ids = {r["decision_id"] for r in audit_rows(gateway.settings.database_url)}
    for response, status in cases:
        assert response.status_code == status
        assert response.headers["x-gateway-decision-id"] in ids
