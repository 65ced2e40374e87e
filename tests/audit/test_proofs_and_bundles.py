"""One event proved offline; a bundle checked offline; retention archives, prunes, and the rest verifies."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.audit import retention
from gateway.audit.bundle import verify_bundle
from gateway.audit.records import AuditLog
from gateway.audit.verify import verify_store
from gateway.store.db import Database
from tests.audit.helpers import cli, events, fill, settings, verifier, with_database


def _public_key(tmp_path: Path, url: str) -> Path:
    result = cli(tmp_path, url, "audit", "public-key")
    assert result.returncode == 0, result.stderr
    path = tmp_path / "gateway.pub"
    path.write_text(result.stdout)
    return path


def test_one_event_is_proved_and_the_proof_checks_offline(database_url, tmp_path):
    asyncio.run(fill(database_url, 21))
    exported = cli(tmp_path, database_url, "audit", "export").stdout.splitlines()
    target = json.loads(exported[13])
    proof = tmp_path / "proof.json"
    result = cli(tmp_path, database_url, "audit", "prove", target["decision_id"], "--out", str(proof))
    assert result.returncode == 0, result.stderr
    key = _public_key(tmp_path, database_url)
    offline = cli(
        tmp_path,
        "sqlite+aiosqlite:////nonexistent/none.db",
        "audit",
        "verify",
        "--proof",
        str(proof),
        "--public-key",
        str(key),
    )
    assert offline.returncode == 0 and f"event seq 13 ({target['decision_id']})" in offline.stdout, offline.stdout

    document = json.loads(proof.read_text())
    document["event"]["allow"] = not document["event"]["allow"]
    proof.write_text(json.dumps(document))
    forged = cli(tmp_path, database_url, "audit", "verify", "--proof", str(proof), "--public-key", str(key))
    assert forged.returncode == 1 and "is not in the log the checkpoint signs" in forged.stdout


def test_a_bundle_verifies_offline_and_an_edited_one_does_not(database_url, tmp_path):
    asyncio.run(fill(database_url, 20))
    bundle = tmp_path / "bundle"
    result = cli(tmp_path, database_url, "audit", "export", "--bundle", str(bundle))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in bundle.iterdir()) == [
        "checkpoints.jsonl",
        "events.jsonl",
        "manifest.json",
        "public-key.txt",
    ]
    key = _public_key(tmp_path, database_url)
    assert (
        cli(tmp_path, database_url, "audit", "verify", "--bundle", str(bundle), "--public-key", str(key)).returncode
        == 0
    )

    lines = (bundle / "events.jsonl").read_text().splitlines()
    event = json.loads(lines[4])
    event["agent"] = "someone-else"
    lines[4] = json.dumps(event)
    (bundle / "events.jsonl").write_text("\n".join(lines) + "\n")
    assert "does not match the manifest" in (verify_bundle(bundle, verifier(database_url)).problem or "")
    manifest = json.loads((bundle / "manifest.json").read_text())  # a forger fixes the manifest too
    manifest["files"]["events.jsonl"] = __import__("hashlib").sha256((bundle / "events.jsonl").read_bytes()).hexdigest()
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    problem = verify_bundle(bundle, verifier(database_url)).problem or ""
    assert f"event seq 4 ({event['decision_id']})" in problem


def test_a_time_range_bundle_starts_mid_log_and_verifies(database_url, tmp_path):
    asyncio.run(fill(database_url, 20))
    rows = with_database(database_url, lambda db: _all(db))
    since = rows[11]["ts"]
    result = cli(tmp_path, database_url, "audit", "export", "--bundle", str(tmp_path / "b"), "--since", since)
    assert result.returncode == 0, result.stderr
    report = verify_bundle(tmp_path / "b", verifier(database_url))
    assert report.ok and report.first_seq is not None and report.first_seq <= 11, report.problem


async def _all(db: Database) -> list[dict]:
    return [row async for row in AuditLog(db).read()]


def test_retention_archives_prunes_and_the_rest_still_verifies(database_url, tmp_path):
    async def write() -> None:
        db = Database(database_url)
        await db.migrate()
        log = AuditLog.from_settings(db, settings(database_url, every=8))
        old = datetime.now(UTC) - timedelta(days=400)
        try:
            for i, row in enumerate(events(30)):
                row["ts"] = old + timedelta(seconds=i) if i < 20 else row["ts"]
                await log.write([row])
        finally:
            await log.aclose()
            await db.aclose()

    asyncio.run(write())
    done = with_database(
        database_url, lambda db: retention.prune(db, 183, tmp_path / "archive", verifier(database_url))
    )
    assert "archived seq 0 to 15" in done  # the last checkpoint (16) before the first recent event (20)
    archived = tmp_path / "archive" / "audit-0-15"
    assert verify_bundle(archived, verifier(database_url)).ok
    report = with_database(database_url, lambda db: verify_store(db, verifier(database_url)))
    assert report.ok and report.first_seq == 16 and report.events == 14, report.problem
    proof = cli(tmp_path, database_url, "audit", "prove", _all_ids(database_url)[3])
    assert proof.returncode == 0, proof.stderr


def _all_ids(url: str) -> list[str]:
    return [row["decision_id"] for row in with_database(url, _all)]
