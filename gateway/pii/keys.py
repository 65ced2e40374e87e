"""The key that makes value hashes and hash-mode redactions unguessable (HMAC-SHA256).

From the environment variable `pii.key_env` when set; else from `pii.key_file`, or, for a SQLite store, a
file beside the database. A missing file is created with a random key and 0600 permissions (the embedded
default); several replicas sharing PostgreSQL must share the key, so there it must be configured.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from sqlalchemy import make_url

from gateway.errors import ConfigError
from gateway.settings import Settings


def _key_file(settings: Settings) -> Path:
    if settings.pii.key_file is not None:
        return settings.pii.key_file
    if settings.database_url.startswith("sqlite"):
        database = make_url(settings.database_url).database
        if database and database != ":memory:":
            return Path(f"{database}.pii-key")
    raise ConfigError("pii: set pii.key_env or pii.key_file (replicas sharing a database must share the key)")


def load_key(settings: Settings) -> bytes:
    if settings.pii.key_env:
        value = os.environ.get(settings.pii.key_env)
        if not value:
            raise ConfigError(f"pii.key_env: environment variable {settings.pii.key_env} is not set")
        return value.encode()
    path = _key_file(settings)
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
        return path.read_text().strip().encode()
    except OSError as exc:
        raise ConfigError(f"pii key file {path}: {exc.strerror}") from exc
