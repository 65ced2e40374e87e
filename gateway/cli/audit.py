"""`gateway audit ...`: export the log, verify it, prove one event, publish the key, archive and prune.

Verification exits 0 only if everything checks, 1 naming the first problem, 2 when it cannot run (no key).
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import func, select

from gateway.audit import retention
from gateway.audit.anchors import anchor_file, read_anchors
from gateway.audit.bundle import BundleError, stretch_for, verify_bundle, write_bundle
from gateway.audit.events import AuditEvent
from gateway.audit.export import FORMATS, chunks
from gateway.audit.proofs import ProofError, check_proof, prove
from gateway.audit.records import AuditLog, Filters
from gateway.audit.signing import BadCheckpoint, Checkpoint, Verifier, signer_from
from gateway.audit.verify import Report, verify_store
from gateway.audit.witness import CosignerVerifier, Witness, witness_key
from gateway.cli.common import ConfigOption, error, settings_from, with_db
from gateway.errors import ConfigError
from gateway.model import new_id
from gateway.settings import Settings
from gateway.store.db import Database
from gateway.store.tables import AuditCheckpoint, AuditEventRow

app = typer.Typer(help="The audit log: export, verify, prove, prune.", no_args_is_help=True)
PublicKeyOption = Annotated[
    Path | None, typer.Option("--public-key", help="The gateway's public key (verifier key or PEM) to trust")
]


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time") from exc


def _filters(
    since: str | None, until: str | None, agent: str | None, team: str | None, event: str | None, decision: str | None
) -> Filters:
    if decision not in (None, "allow", "deny"):
        raise typer.BadParameter("--decision must be allow or deny")
    allow = None if decision is None else decision == "allow"
    return Filters(_parse_time(since), _parse_time(until), agent, team, event, allow)


@app.command("export")
def export(
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
    since: Annotated[str | None, typer.Option(help="ISO time, inclusive")] = None,
    until: Annotated[str | None, typer.Option(help="ISO time, exclusive")] = None,
    agent: Annotated[str | None, typer.Option(help="Only this agent's events")] = None,
    team: Annotated[str | None, typer.Option(help="Only this team's events")] = None,
    event: Annotated[str | None, typer.Option(help="Only this event type (decision, held, approved, ...)")] = None,
    decision: Annotated[str | None, typer.Option(help="allow or deny")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="File (default: stdout)")] = None,
    bundle: Annotated[
        Path | None, typer.Option("--bundle", help="Write a verifiable bundle into this directory")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Export audit events in log order, streamed; or a bundle that `gateway audit verify --bundle` checks."""
    if fmt not in FORMATS:
        raise typer.BadParameter("--format must be jsonl or csv")
    filters = _filters(since, until, agent, team, event, decision)
    settings = settings_from(config)
    if bundle is not None:
        if (agent, team, event, decision) != (None, None, None, None):
            raise typer.BadParameter("a bundle is a contiguous stretch of the log: only --since/--until apply")
        _export_bundle(settings, bundle, filters, {"since": since, "until": until})
        return

    asked = {"format": fmt, "since": since, "until": until, "agent": agent, "team": team, "event": event}
    asked["decision"] = decision

    async def run(db: Database) -> None:
        count = 0
        with _output(out) as stream, _progress(out is not None, await _count(db, filters)) as advance:
            async for chunk, events in chunks(AuditLog(db), filters, fmt):
                stream.write(chunk)
                advance(events)
                count += events
        await _record(db, settings, "audit.export", f"audit log exported: {count} events", asked)

    with_db(settings, run)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container's uid with no name
        return "unknown"


async def _record(db: Database, settings: Settings, target: str, what: str, asked: dict[str, Any]) -> None:
    """A read of the log is itself an audit event: who (the operating system user), what, which filters."""
    filters = ", ".join(f"{k}={str(v)[:100]}" for k, v in sorted(asked.items()) if v is not None) or "none"
    event = AuditEvent(
        decision_id=new_id(),
        call_id=new_id(),
        request_id=new_id(),
        surface="cli",
        kind="read",
        target=target,
        allow=True,
        actor=f"cli:{_user()}"[:200],
        reasons=[what],
        detail=f"filters: {filters}",
    )
    log = AuditLog.from_settings(db, settings)
    try:
        if not await log.write([event.row()]):
            error("the read could not be recorded in the audit log")
    finally:
        await log.aclose()


def _export_bundle(settings: Settings, directory: Path, filters: Filters, asked: dict[str, Any]) -> None:
    verifier = _own_verifier(settings, None)

    async def run(db: Database) -> dict[str, Any]:
        stretch = await stretch_for(db, filters)
        with _progress(True, stretch.end - stretch.first) as advance:
            manifest = await write_bundle(db, directory, stretch, verifier, asked, advance)
        await _record(db, settings, "audit.bundle", f"audit bundle written: {manifest['events']} events", asked)
        return manifest

    try:
        manifest = with_db(settings, run)
    except BundleError as exc:
        error(str(exc))
        raise typer.Exit(1) from exc
    typer.echo(
        f"bundle {directory}: {manifest['events']} events, seq {manifest['first_seq']} to {manifest['end_seq'] - 1}"
    )


async def _count(db: Database, filters: Filters) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(filters.apply(select(func.count()).select_from(AuditEventRow)))).scalar_one())


@contextmanager
def _output(out: Path | None) -> Iterator[TextIO]:
    if out is None:
        yield sys.stdout
        return
    with out.open("w", newline="", encoding="utf-8") as stream:
        yield stream


@contextmanager
def _progress(show: bool, total: int) -> Iterator[Callable[[int], None]]:
    """A Rich progress bar on stderr while writing to a file (never mixed into exported data on stdout)."""
    if not show:
        yield lambda _: None
        return
    columns = (TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task("export", total=total)
        yield lambda n: progress.advance(task, n)


def _own_verifier(settings: Settings, public_key: Path | None) -> Verifier:
    """The key to check against: the file given, else the public half of the configured signing key."""
    try:
        if public_key is not None:
            return Verifier.parse(public_key.read_text(), settings.audit.origin)
        signer = signer_from(settings, create=False)
    except (OSError, BadCheckpoint, ConfigError) as exc:
        error(str(getattr(exc, "message", exc)))
        raise typer.Exit(2) from exc
    if signer is None:
        error("no public key: pass --public-key FILE (or configure audit.signing_key_env / signing_key_file)")
        raise typer.Exit(2)
    return signer.verifier


def _key_file(path: Path) -> Verifier:
    try:
        return Verifier.parse(path.read_text())
    except (OSError, BadCheckpoint) as exc:
        error(f"{path}: {exc}")
        raise typer.Exit(2) from exc


def _conclude(report: Report) -> None:
    typer.echo(report.summary())
    if not report.ok:
        raise typer.Exit(1)


@app.command("verify")
def verify(
    bundle: Annotated[Path | None, typer.Option("--bundle", help="Check an exported bundle, offline")] = None,
    proof: Annotated[Path | None, typer.Option("--proof", help="Check an inclusion proof, offline")] = None,
    against: Annotated[
        list[Path] | None,
        typer.Option("--against", help="A checkpoint saved with `audit checkpoint --out` the log must still extend"),
    ] = None,
    anchors: Annotated[
        Path | None, typer.Option("--anchors", help="The audit.anchors directory: every checkpoint anchored there")
    ] = None,
    witness: Annotated[
        list[str] | None,
        typer.Option("--witness", help="A witness's verifier key: each anchored checkpoint must carry its cosignature"),
    ] = None,
    public_key: PublicKeyOption = None,
    config: ConfigOption = None,
) -> None:
    """Recompute the log's tree and check every checkpoint, its own and those kept outside it; exit 1 naming the
    first bad event, or how many events are missing."""
    if bundle is not None:
        verifier = _key_file(public_key) if public_key else None
        if verifier is None:
            typer.echo("note: checking against the bundle's own key; pin yours with --public-key", err=True)
        _conclude(verify_bundle(bundle, verifier))
        return
    if proof is not None:
        _verify_proof(proof, public_key, config)
        return
    settings = settings_from(config)
    verifier = _own_verifier(settings, public_key)
    try:
        outside = _outside(settings, verifier, against or [], anchors, witness or [])
    except (OSError, BadCheckpoint) as exc:
        typer.echo(f"FAILED: {exc}")
        raise typer.Exit(1) from exc
    _conclude(with_db(settings, lambda db: verify_store(db, verifier, outside)))


def _outside(
    settings: Settings, verifier: Verifier, against: list[Path], anchors: Path | None, witnesses: list[str]
) -> list[tuple[str, Checkpoint]]:
    """The signed checkpoints kept outside the store that the log must still extend."""
    out = [(f"the checkpoint saved in {path.name}", Checkpoint.parse(path.read_text(), verifier)) for path in against]
    if anchors is not None:
        cosigners = [CosignerVerifier.parse(key) for key in witnesses]
        path = anchor_file(anchors, settings.audit.origin)
        if not path.exists():
            raise BadCheckpoint(f"no anchor file {path.name} in {anchors}")
        out.extend(read_anchors(path, verifier, cosigners))
    return out


def _verify_proof(proof: Path, public_key: Path | None, config: Path | None) -> None:
    try:
        document = json.loads(proof.read_text())
        verifier = _key_file(public_key) if public_key else _own_verifier(settings_from(config), None)
        checkpoint = check_proof(document, verifier)
    except (OSError, ValueError, BadCheckpoint, ProofError) as exc:
        typer.echo(f"FAILED: {exc}")
        raise typer.Exit(1) from exc
    event = document["event"]
    typer.echo(f"ok: event seq {event['seq']} ({event['decision_id']}) is in the log signed at size {checkpoint.size}")


@app.command("prove")
def prove_command(
    decision_id: Annotated[str, typer.Argument(help="The event's decision id (X-Gateway-Decision-Id)")],
    out: Annotated[Path | None, typer.Option("--out", help="File (default: stdout)")] = None,
    config: ConfigOption = None,
) -> None:
    """Write an inclusion proof of one event: the event, its audit path, the checkpoint that covers it."""
    settings = settings_from(config)

    async def run(db: Database) -> dict[str, Any]:
        document = await prove(db, decision_id)
        await _record(db, settings, "audit.prove", f"inclusion proof of {decision_id[:64]}", {})
        return document

    try:
        document = with_db(settings, run)
    except ProofError as exc:
        error(str(exc))
        raise typer.Exit(1) from exc
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


@app.command("public-key")
def public_key_command(
    pem: Annotated[bool, typer.Option("--pem", help="PEM instead of a signed-note verifier key")] = False,
    config: ConfigOption = None,
) -> None:
    """Print the public key that checkpoints are signed with (give it to auditors)."""
    verifier = _own_verifier(settings_from(config), None)
    typer.echo(verifier.pem().strip() if pem else verifier.vkey())


@app.command("checkpoint")
def checkpoint_command(
    out: Annotated[
        Path | None, typer.Option("--out", help="Save the signed checkpoint here, for `verify --against` later")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Sign a checkpoint of the log now (the gateway also does every N events, every T seconds, at shutdown);
    with --out, save it: the log must extend it from then on."""
    settings = settings_from(config)
    if signer_from(settings) is None:  # a SQLite store's key is created on first use, as `serve` does
        error("no signing key: configure audit.signing_key_env or audit.signing_key_file")
        raise typer.Exit(2)

    async def run(db: Database) -> int | None:
        return await AuditLog.from_settings(db, settings).checkpoint()

    size = with_db(settings, run)
    typer.echo(f"checkpoint at size {size}" if size is not None else "the latest checkpoint is current")
    if out is not None:
        note = with_db(settings, _latest_note)
        if note is None:
            error("the log is empty: no checkpoint to save")
            raise typer.Exit(1)
        out.write_text(note, encoding="utf-8")
        typer.echo(f"saved to {out}")


async def _latest_note(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        found = await conn.execute(select(AuditCheckpoint.note).order_by(AuditCheckpoint.tree_size.desc()).limit(1))
        return found.scalar_one_or_none()


@app.command("witness")
def witness_command(
    directory: Annotated[Path, typer.Option("--dir", help="Its state (the latest checkpoint of each log) and key")],
    logs: Annotated[list[str], typer.Option("--log", help="The verifier key of a log it watches (`audit public-key`)")],
    name: Annotated[str, typer.Option("--name", help="The name it cosigns as")] = "gateway-audit-witness",
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8750,
) -> None:
    """Run a witness (C2SP tlog-witness): it cosigns a log's checkpoint only if a consistency proof shows it
    extends the last one it saw. Prints its own verifier key (for `verify --witness` and audit.anchors)."""
    import uvicorn

    try:
        directory.mkdir(parents=True, exist_ok=True)
        verifiers = [Verifier.parse(key) for key in logs]
        key = witness_key(directory, name)
    except (OSError, BadCheckpoint, ConfigError) as exc:
        error(str(getattr(exc, "message", exc)))
        raise typer.Exit(2) from exc
    typer.echo(key.verifier().vkey())
    uvicorn.run(Witness(directory, key, verifiers).app(), host=host, port=port, log_level="warning")


@app.command("prune")
def prune(
    archive: Annotated[Path, typer.Option("--archive", help="Directory for the bundle of what is removed")],
    days: Annotated[int | None, typer.Option(help="Keep this many days (default: audit.retention_days)")] = None,
    config: ConfigOption = None,
) -> None:
    """Archive events older than the retention period to a bundle, then delete them from the store."""
    settings = settings_from(config)
    keep = days or settings.audit.retention_days
    if keep is None:
        error("no retention period: set audit.retention_days or pass --days")
        raise typer.Exit(2)
    if keep < retention.SIX_MONTHS_DAYS:
        typer.echo(f"warning: {keep} days is under the six months high-risk AI systems' logs must be kept", err=True)
    verifier = _own_verifier(settings, None)
    work: Callable[[Database], Awaitable[str]] = lambda db: retention.prune(db, keep, archive, verifier)  # noqa: E731
    try:
        typer.echo(with_db(settings, work))
    except BundleError as exc:
        error(str(exc))
        raise typer.Exit(1) from exc
