"""A witness for the audit log: it keeps the latest checkpoint it saw of each log it watches, and cosigns a new
one only if the log's signature verifies and an RFC 6962 consistency proof shows the new tree extends the one it
saw, so a log cannot show a shorter or different history later without a witness refusing it.

It speaks the C2SP `tlog-witness` protocol (`POST /add-checkpoint`) and answers with C2SP `tlog-cosignature`
Ed25519 cosignatures (`cosignature/v1`):

    request body   old <size the client believes the witness has>
                   <base64 consistency proof hash>   (one per line)
                   <blank line>
                   <the signed checkpoint note>
    200            the cosignature line: "— <witness name> base64(key id || timestamp || signature)"
    400            the old size is above the checkpoint's size, or the body does not parse
    403            the checkpoint is not signed by the log's key
    404            not a log this witness watches (its origin)
    409            the old size is not the witness's: the body is the size it has (text/x.tlog.size)
    422            the proof does not show the new tree extends the old one

`gateway audit witness --dir DIR --log VKEY` runs one (its state, one file per log, and its key in DIR). The
state is written (atomically, fsynced) before the cosignature goes out.

    >>> from gateway.audit.signing import Signer
    >>> signer = Signer(Ed25519PrivateKey.generate(), "example/log")
    >>> witness = WitnessKey(Ed25519PrivateKey.generate(), "example/witness")
    >>> note = signer.sign_checkpoint(3, bytes(32))
    >>> line = witness.cosign(note, 1_700_000_000)
    >>> witness.verifier().cosigned(note, line)
    1700000000
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from gateway.audit.merkle import EMPTY_ROOT, consistent
from gateway.audit.signing import DASH, BadCheckpoint, Checkpoint, Verifier, key_id, load_private_key, read_vkey, vkey

COSIGNATURE = b"\x04"  # the signed-note signature type of a tlog-cosignature/v1 Ed25519 cosignature
MAX_BODY = 64 * 1024
MAX_PROOF = 63  # hashes: a consistency proof of a tree below 2**63 is shorter


def cosigner_key_id(name: str, public: bytes) -> bytes:
    return key_id(name, public, COSIGNATURE)


def _message(note: str, timestamp: int) -> bytes:
    body = note.partition("\n\n")[0] + "\n"
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


@dataclass(frozen=True)
class CosignerVerifier:
    name: str
    public: Ed25519PublicKey

    @property
    def raw(self) -> bytes:
        return self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def vkey(self) -> str:
        return vkey(self.name, self.raw, COSIGNATURE)

    @classmethod
    def parse(cls, text: str) -> CosignerVerifier:
        return cls(*read_vkey(text, COSIGNATURE))

    def cosigned(self, note: str, line: str) -> int | None:
        """The timestamp of this witness's cosignature `line` on `note`, or None if it is not one."""
        prefix = f"{DASH} {self.name} "
        if not line.startswith(prefix):
            return None
        try:
            raw = base64.b64decode(line[len(prefix) :].strip(), validate=True)
        except binascii.Error:
            return None
        if len(raw) != 4 + 8 + 64 or raw[:4] != cosigner_key_id(self.name, self.raw):
            return None
        (timestamp,) = struct.unpack(">Q", raw[4:12])
        try:
            self.public.verify(raw[12:], _message(note, timestamp))
        except InvalidSignature:
            return None
        return int(timestamp)


class WitnessKey:
    def __init__(self, private: Ed25519PrivateKey, name: str) -> None:
        self.private, self.name = private, name

    def verifier(self) -> CosignerVerifier:
        return CosignerVerifier(self.name, self.private.public_key())

    def cosign(self, note: str, timestamp: int | None = None) -> str:
        timestamp = int(time.time()) if timestamp is None else timestamp
        signature = self.private.sign(_message(note, timestamp))
        raw = cosigner_key_id(self.name, self.verifier().raw) + struct.pack(">Q", timestamp) + signature
        return f"{DASH} {self.name} {base64.b64encode(raw).decode()}\n"


# -- the request and its parts ----------------------------------------------------------------------------


class Refused(Exception):
    def __init__(self, status: int, message: str, body: str | None = None) -> None:
        super().__init__(message)
        self.status, self.body = status, body


def parse_request(text: str) -> tuple[int, list[bytes], str]:
    """(old size, proof, note) of an add-checkpoint body."""
    head, sep, note = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or not lines[0].startswith("old ") or not lines[0][4:].isdigit():
        raise Refused(400, "the body is not `old N`, the proof lines, a blank line and the checkpoint")
    if len(lines) - 1 > MAX_PROOF:
        raise Refused(400, "the proof is too long")
    try:
        proof = [base64.b64decode(line, validate=True) for line in lines[1:]]
    except binascii.Error as exc:
        raise Refused(400, "a proof line is not base64") from exc
    if any(len(h) != 32 for h in proof):
        raise Refused(400, "a proof hash is not 32 bytes")
    return int(lines[0][4:]), proof, note


def request_body(old: int, proof: list[bytes], note: str) -> str:
    return f"old {old}\n" + "".join(base64.b64encode(h).decode() + "\n" for h in proof) + "\n" + note


# -- the witness ---------------------------------------------------------------------------------------------


class Witness:
    """The witness's state (the latest checkpoint of each log it watches, one file each) and its decisions."""

    def __init__(self, directory: Path, key: WitnessKey, logs: list[Verifier]) -> None:
        self.directory, self.key = directory, key
        self.logs = {log.name: log for log in logs}
        self.lock = asyncio.Lock()

    def _state_file(self, origin: str) -> Path:
        return self.directory / f"{hashlib.sha256(origin.encode()).hexdigest()[:32]}.json"

    def state(self, origin: str) -> tuple[int, bytes]:
        path = self._state_file(origin)
        if not path.exists():
            return 0, EMPTY_ROOT
        saved = json.loads(path.read_text())
        return int(saved["size"]), bytes.fromhex(saved["root"])

    def _save(self, checkpoint: Checkpoint) -> None:
        path = self._state_file(checkpoint.origin)
        record = {"origin": checkpoint.origin, "size": checkpoint.size, "root": checkpoint.root.hex()}
        record["note"] = checkpoint.note
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            out.write(json.dumps(record))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    async def add(self, text: str) -> str:
        """Cosign the checkpoint of an add-checkpoint body, or raise `Refused`."""
        old, proof, note = parse_request(text)
        origin = note.split("\n", 1)[0]
        log = self.logs.get(origin)
        if log is None:
            raise Refused(404, f"this witness does not watch the log {origin[:100]!r}")
        try:
            checkpoint = Checkpoint.parse(note, log)
        except BadCheckpoint as exc:
            raise Refused(403, f"the checkpoint is not signed by the log's key: {exc}") from exc
        if old > checkpoint.size:
            raise Refused(400, f"old size {old} is above the checkpoint's size {checkpoint.size}")
        async with self.lock:
            size, root = self.state(origin)
            if old != size:
                raise Refused(409, f"this witness has size {size}, not {old}", body=f"{size}\n")
            if not consistent(size, checkpoint.size, root, checkpoint.root, proof) and not (size == 0 and not proof):
                raise Refused(422, f"the proof does not show the tree of {checkpoint.size} extends the one of {size}")
            if checkpoint.size == 0 and checkpoint.root != EMPTY_ROOT:
                raise Refused(422, "a tree of size 0 has the empty tree's root")
            if checkpoint.size > size or size == 0:
                await asyncio.to_thread(self._save, checkpoint)
        return self.key.cosign(note)

    def app(self) -> Starlette:
        async def add_checkpoint(request: Request) -> Response:
            raw = await request.body()
            if len(raw) > MAX_BODY:
                return PlainTextResponse("the body is too large\n", status_code=400)
            try:
                line = await self.add(raw.decode("utf-8"))
            except UnicodeDecodeError:
                return PlainTextResponse("the body is not UTF-8\n", status_code=400)
            except Refused as exc:
                if exc.body is not None:
                    return Response(exc.body, status_code=exc.status, media_type="text/x.tlog.size")
                return PlainTextResponse(f"{exc}\n", status_code=exc.status)
            return PlainTextResponse(line)

        return Starlette(routes=[Route("/add-checkpoint", add_checkpoint, methods=["POST"])])


def witness_key(directory: Path, name: str) -> WitnessKey:
    """The witness's key: `DIR/witness.key` (created 0600 on first run)."""
    private = load_private_key(None, directory / "witness.key", "", create=True)
    if private is None:
        raise BadCheckpoint("the witness's key could not be made")
    return WitnessKey(private, name)
