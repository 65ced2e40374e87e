"""The key that makes value hashes and hash-mode redactions unguessable (HMAC-SHA256).

From the environment variable `pii.key_env` when set; else from `pii.key_file`, or, for a SQLite store, a
file beside the database (`<db>.pii-key`), created with a random key and 0600 permissions (the embedded
default); several replicas sharing PostgreSQL must share the key, so there it must be configured.
"""

from __future__ import annotations

from gateway.secrets_file import load_key as _load
from gateway.settings import Settings


def load_key(settings: Settings) -> bytes:
    return _load("pii", settings.pii.key_env, settings.pii.key_file, settings.database_url, "pii-key")
