"""Held payloads are encrypted at rest (Fernet: AES-128-CBC with an HMAC-SHA256 tag, from `cryptography`).

The key comes from `approvals.key_env` or `approvals.key_file` (created 0600 beside a SQLite store on first
run). The reviewer session cookies are signed with a key derived from the same secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from gateway.errors import GatewayError
from gateway.secrets_file import load_key
from gateway.settings import Settings


class PayloadCipher:
    def __init__(self, secret: bytes) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"payload:" + secret).digest()))
        self.session_secret = hmac.new(secret, b"reviewer-sessions", hashlib.sha256).hexdigest()

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
