"""Several search processes on one study: a lock every process takes around its reads
that decide a write (create the schema and the study, find or create the parent run, count
the budget and ask, promote the front once).

Optuna alone is not enough: two processes opening a new PostgreSQL database both create
its tables (one dies of UniqueViolation), and "read the parent run attribute, create the
run if missing, set the attribute" or "count the trials, ask one more" are read-then-write
races that would give a study two parent runs or spend its budget twice.

- PostgreSQL: a session advisory lock (`pg_advisory_lock`) on a key hashed from the lock's
  name, on a connection of its own; the server drops it when the process dies.
- SQLite: an exclusive `flock` on a file in `.<database>.locks/` beside it (the processes share
  the file, so they share its directory); the kernel drops it when the process dies.
- Other databases (MySQL): no lock; Optuna's own retries are all there is.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# The lock around creating the schema and a study: one per database, since the schema is.
OPEN_LOCK = "mlflow_tflite.search.open"

_engines: dict[str, Any] = {}


def lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for `name` (stable across processes)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _engine(url: str) -> Any:
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    if url not in _engines:
        # A connection per hold: a lock never outlives the `with` that took it.
        _engines[url] = sqlalchemy.create_engine(url, poolclass=NullPool)
    return _engines[url]


@contextlib.contextmanager
def _advisory_lock(url: str, name: str) -> Iterator[None]:
    import sqlalchemy

    key = lock_key(name)
    with _engine(url).connect() as connection:
        connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": key})
        try:
            yield
        finally:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": key})


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for an in-memory database."""
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    return Path(database).resolve() if database and database != ":memory:" else None


@contextlib.contextmanager
def locked(storage_url: str, name: str) -> Iterator[None]:
    """Hold the lock `name` of the study database `storage_url` across processes.

    Args:
        storage_url: the `search.storage` URL (PostgreSQL or SQLite; others are not locked).
        name: what is locked, e.g. `OPEN_LOCK` or a study's name.
    """
    if storage_url.startswith("postgresql"):
        with _advisory_lock(storage_url, name):
            yield
    elif storage_url.startswith("sqlite") and (path := _sqlite_file(storage_url)):
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        # One hidden folder beside the database, not a file per lock in the user's working
        # directory. The lock files stay: unlinking one while another process waits on it
        # would let a third process lock a new file of the same name at the same time.
        with _file_lock(path.with_name(f".{path.name}.locks") / f"{digest}.lock"):
            yield
    else:
        yield
