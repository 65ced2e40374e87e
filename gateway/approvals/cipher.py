"""Held payloads are encrypted at rest (Fernet: AES-128-CBC with an HMAC-SHA256 tag, from `cryptography`).

The key comes from `approvals.key_env` or `approvals.key_file` (created 0600 beside a SQLite store on first
run). Both keys are derived from that secret with HKDF-SHA256 (RFC 5869), one per purpose: the payload key
and the key that signs reviewer session cookies. Payloads sealed by earlier versions (whose key was a plain
SHA-256 of the secret) still open.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.errors import GatewayError
from gateway.secrets_file import load_key
from gateway.settings import Settings


class PayloadCipher:
    def __init__(self, secret: bytes) -> None:
        legacy = Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"payload:" + secret).digest()))
        self._fernet = MultiFernet([Fernet(base64.urlsafe_b64encode(derive(secret, b"approvals payload"))), legacy])
        self.session_secret = derive(secret, b"reviewer sessions").hex()

    @classmethod
    def from_settings(cls, settings: Settings) -> PayloadCipher:
        a = settings.approvals
        return cls(load_key("approvals", a.key_env, a.key_file, settings.database_url, "approvals-key"))

    def seal(self, value: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(value, separators=(",", ":")).encode())

    def open(self, token: bytes) -> dict[str, Any]:
        try:
            value: dict[str, Any] = json.loads(self._fernet.decrypt(token))
        except InvalidToken as exc:
            raise GatewayError("a held payload cannot be decrypted with this gateway's approvals key") from exc
        return value


def derive(secret: bytes, purpose: bytes) -> bytes:
    """A 32-byte key for one purpose, from the approvals secret (HKDF-SHA256, the purpose as its info)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"gateway " + purpose).derive(secret)
