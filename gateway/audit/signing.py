"""Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes, signed with Ed25519.

A checkpoint says "after SIZE events the log's root hash was ROOT", signed by the gateway:

    agent-governance-gateway/audit
    1024
    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

    — agent-governance-gateway/audit Az3grlgt...base64(key id || signature)...

The signature covers the text above the blank line; the key id is the first 4 bytes of
SHA-256(name || "\\n" || 0x01 || public key), as signed notes define it. The public key is published as a
verifier key, `name+hex key id+base64(0x01 || public key)` (`gateway audit public-key`), or as PEM.

    >>> signer = Signer(Ed25519PrivateKey.generate(), "example.com/log")
    >>> note = signer.sign_checkpoint(3, bytes(32))
    >>> Checkpoint.parse(note, signer.verifier).size
    3
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import make_url

from gateway.errors import ConfigError
from gateway.settings import Settings

ED25519 = b"\x01"  # the signed-note signature type of Ed25519
DASH = "\u2014"  # a signature line starts with an em dash


class BadCheckpoint(Exception):
    """A checkpoint that does not parse or whose signature does not verify."""


def key_id(name: str, public: bytes, kind: bytes = ED25519) -> bytes:
    """A signed-note key id: the first 4 bytes of SHA-256(name || "\\n" || signature type || public key)."""
    return hashlib.sha256(name.encode() + b"\n" + kind + public).digest()[:4]


def vkey(name: str, public: bytes, kind: bytes = ED25519) -> str:
    """A signed-note verifier key: `name+keyid+base64(type || key)`."""
    return f"{name}+{key_id(name, public, kind).hex()}+{base64.b64encode(kind + public).decode()}"


def read_vkey(text: str, kind: bytes = ED25519) -> tuple[str, Ed25519PublicKey]:
    """The name and Ed25519 key of a verifier key of signature type `kind`."""
    try:
        name, kid, encoded = text.strip().split("+", 2)  # a name has no "+"; base64 may
        raw = base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise BadCheckpoint(f"not a verifier key: {exc}") from exc
    if raw[:1] != kind or len(raw) != 33 or key_id(name, raw[1:], kind).hex() != kid:
        raise BadCheckpoint("not an Ed25519 verifier key of this signature type, or its key id does not match")
    return name, Ed25519PublicKey.from_public_bytes(raw[1:])


@dataclass(frozen=True)
class Verifier:
    """A public key and the name it signs under."""

    name: str
    public: Ed25519PublicKey

    @property
    def raw(self) -> bytes:
        return self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def vkey(self) -> str:
        """The signed-note verifier key: `name+keyid+base64(0x01 || key)`."""
        return vkey(self.name, self.raw)

    def pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    @classmethod
    def parse(cls, text: str, name: str | None = None) -> Verifier:
        """A verifier key (`name+id+key`) or a PEM public key (then `name` says which name it signs as)."""
        text = text.strip()
        if not text.startswith("-----BEGIN"):
            return cls(*read_vkey(text))
        try:
            public = serialization.load_pem_public_key(text.encode())
        except ValueError as exc:
            raise BadCheckpoint(f"not a verifier key or PEM public key: {exc}") from exc
        if not isinstance(public, Ed25519PublicKey):
            raise BadCheckpoint("the PEM key is not an Ed25519 key")
        return cls(name or "", public)


class Signer:
    """Signs checkpoints as `origin` (the log's name, also the key's name)."""

    def __init__(self, private: Ed25519PrivateKey, origin: str) -> None:
        if not origin or any(c.isspace() or c == "+" for c in origin):
            raise ConfigError(f"audit.origin {origin!r}: must be non-empty, without spaces or '+'")
        self.private = private
        self.origin = origin
        self.verifier = Verifier(origin, private.public_key())

    def sign_checkpoint(self, size: int, root: bytes) -> str:
        body = f"{self.origin}\n{size}\n{base64.b64encode(root).decode()}\n"
        signature = self.private.sign(body.encode())
        kid = key_id(self.origin, self.verifier.raw)
        return f"{body}\n{DASH} {self.origin} {base64.b64encode(kid + signature).decode()}\n"


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint whose signature has been verified."""

    origin: str
    size: int
    root: bytes
    note: str

    @classmethod
    def parse(cls, note: str, verifier: Verifier) -> Checkpoint:
        body, sep, signatures = note.partition("\n\n")
        if not sep:
            raise BadCheckpoint("no blank line between the checkpoint and its signatures")
        body += "\n"
        lines = body.splitlines()
        if len(lines) < 3 or not lines[1].isdigit() or (lines[1] != "0" and lines[1].startswith("0")):
            raise BadCheckpoint("the checkpoint is not origin, tree size and root hash lines")
        name = verifier.name or lines[0]  # a PEM key signs as the checkpoint's origin
        if not any(_signed(body, line, name, verifier) for line in signatures.splitlines()):
            raise BadCheckpoint(f"no valid signature by {name} (key {key_id(name, verifier.raw).hex()})")
        if lines[0] != name:
            raise BadCheckpoint(f"the checkpoint's origin {lines[0]!r} is not the key's name {name!r}")
        try:
            root = base64.b64decode(lines[2], validate=True)
        except binascii.Error as exc:
            raise BadCheckpoint("the root hash line is not base64") from exc
        if len(root) != 32:
            raise BadCheckpoint("the root hash is not 32 bytes")
        return cls(lines[0], int(lines[1]), root, note)


def _signed(body: str, line: str, name: str, verifier: Verifier) -> bool:
    prefix = f"{DASH} {name} "
    if not line.startswith(prefix):
        return False
    try:
        blob = base64.b64decode(line[len(prefix) :], validate=True)
    except binascii.Error:
        return False
    if blob[:4] != key_id(name, verifier.raw):
        return False
    try:
        verifier.public.verify(blob[4:], body.encode())
    except InvalidSignature:
        return False
    return True


def signer_from(settings: Settings, create: bool = True) -> Signer | None:
    """The gateway's checkpoint signer, or None when no key is configured (PostgreSQL without one)."""
    audit = settings.audit
    private = load_private_key(audit.signing_key_env, audit.signing_key_file, settings.database_url, create)
    return Signer(private, audit.origin) if private is not None else None


def load_private_key(
    key_env: str | None, key_file: Path | None, database_url: str, create: bool = True
) -> Ed25519PrivateKey | None:
    """The signing key: `audit.signing_key_env`, else `audit.signing_key_file`, else (a SQLite store) a file
    beside the database, created 0600 on first run when `create`. A 32-byte seed in base64, or PEM (PKCS#8).
    None when none is configured (PostgreSQL without a key: replicas must share one, so it is not invented)."""
    if key_env:
        value = os.environ.get(key_env)
        if not value:
            raise ConfigError(f"audit.signing_key_env: environment variable {key_env} is not set")
        return _private_from_text(value, f"environment variable {key_env}")
    path = key_file or _beside_database(database_url)
    if path is None:
        return None
    try:
        if not path.exists():
            if not create:
                return None
            path.parent.mkdir(parents=True, exist_ok=True)
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
                handle.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
        return _private_from_text(path.read_text(), str(path))
    except FileExistsError:  # another process created it a moment ago
        return _private_from_text(path.read_text(), str(path))
    except OSError as exc:
        raise ConfigError(f"audit signing key file {path}: {exc.strerror}") from exc


def _private_from_text(text: str, where: str) -> Ed25519PrivateKey:
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError("not an Ed25519 key")
            return key
        seed = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if "-" in text or "_" in text else None)
        return Ed25519PrivateKey.from_private_bytes(seed)
    except (ValueError, binascii.Error) as exc:
        raise ConfigError(f"audit signing key in {where}: not a base64 32-byte seed or a PEM Ed25519 key") from exc


def _beside_database(database_url: str) -> Path | None:
    if database_url.startswith("sqlite"):
        database = make_url(database_url).database
        if database and database != ":memory:":
            return Path(f"{database}.audit-key")
    return None
