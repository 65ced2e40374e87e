"""Keys the gateway keeps: from an environment variable, or a file created with a random key (0600).

The PII key (hashes, pseudonyms) and the approvals key (held payloads at rest, reviewer sessions) are read
the same way: `<section>.key_env` when set; else `<section>.key_file`; else, for a SQLite store (the
embedded default), a file beside the database, created on first run. Replicas sharing PostgreSQL must share
their keys, so there one must be configured.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from sqlalchemy import make_url

from gateway.errors import ConfigError


def load_key(section: str, key_env: str | None, key_file: Path | None, database_url: str, suffix: str) -> bytes:
    """The key of config section `section`; a missing file is created (beside a SQLite store: `<db>.<suffix>`)."""
    if key_env:
        value = os.environ.get(key_env)
        if not value:
            raise ConfigError(f"{section}.key_env: environment variable {key_env} is not set")
        return value.encode()
    path = key_file or _beside_database(database_url, suffix)
    if path is None:
        raise ConfigError(
            f"{section}: set {section}.key_env or {section}.key_file (replicas sharing a database must share the key)"
        )
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
        return path.read_text().strip().encode()
    except FileExistsError:  # another process created it a moment ago
        return path.read_text().strip().encode()
    except OSError as exc:
        raise ConfigError(f"{section} key file {path}: {exc.strerror}") from exc


def _beside_database(database_url: str, suffix: str) -> Path | None:
    if database_url.startswith("sqlite"):
        database = make_url(database_url).database
        if database and database != ":memory:":
            return Path(f"{database}.{suffix}")
    return None
