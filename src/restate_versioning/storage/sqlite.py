"""SQLite, the embedded default for a registry that must survive a restart: one file, WAL.

Layout: ``meta`` (format name and version), ``records`` (one row per committed command, keyed
by its sequence) and ``snapshots``. Writers serialise on SQLite's write lock
(``BEGIN IMMEDIATE``), so an append checks the version and inserts in one transaction. The
database runs in WAL mode with ``synchronous=NORMAL``: a committed command survives the process
being killed at any point; an operating-system crash may lose the last commits, never corrupt
the file.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..errors import ConcurrentModification, StorageError
from .base import (
    STORE_FORMAT,
    STORE_FORMAT_VERSION,
    CommandRecord,
    Snapshot,
    StoredState,
    check_meta,
    check_sequences,
    record_body,
    record_from_row,
)

__all__ = ["SQLiteStorage"]

_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE records (sequence INTEGER PRIMARY KEY, at TEXT NOT NULL, "
    "command TEXT NOT NULL, body TEXT NOT NULL)",
    "CREATE TABLE snapshots (version INTEGER PRIMARY KEY, state TEXT NOT NULL)",
)
_OURS = {"meta", "records", "snapshots"}
_KEEP_SNAPSHOTS = 2


class SQLiteStorage:
    """A :class:`~restate_versioning.storage.Storage` in one SQLite file.

    A missing file is created (unless ``create=False``); an empty database gets the tables. A
    file that is not SQLite, a database with other tables, or one written by a newer format
    raises :class:`~restate_versioning.StorageError` and is left untouched.
    """

    def __init__(self, path: str | Path, *, create: bool = True, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._location = str(self.path)
        self._lock = threading.Lock()  # one connection, shared by the threads that use it
        if not create and not self.path.exists():
            raise StorageError(self._location, "no such file (create=True makes one)")
        try:
            self._db = sqlite3.connect(
                self._location, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StorageError(self._location, f"cannot open: {exc}") from None
        try:
            self._prepare(create)
        except BaseException:
            self._db.close()
            raise

    def _error(self, exc: sqlite3.Error) -> StorageError:
        return StorageError(self._location, f"{type(exc).__name__}: {exc}")

    def _prepare(self, create: bool) -> None:
        try:
            tables = {
                row[0]
                for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        except sqlite3.DatabaseError as exc:
            raise StorageError(self._location, f"not a SQLite database ({exc})") from None
        if not tables:
            if not create:
                raise StorageError(self._location, "the database has no tables")
            self._db.execute("PRAGMA journal_mode=WAL")
            with self._write():
                for statement in _SCHEMA:
                    self._db.execute(statement)
                self._db.executemany(
                    "INSERT INTO meta VALUES (?, ?)",
                    [("format", STORE_FORMAT), ("version", str(STORE_FORMAT_VERSION))],
                )
        elif not tables >= _OURS:
            raise StorageError(
                self._location,
                f"a foreign database: it has tables {sorted(tables)}, not {sorted(_OURS)}",
            )
        check_meta(self._location, dict(self._db.execute("SELECT key, value FROM meta")))
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")

    @contextmanager
    def _write(self) -> Iterator[None]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[None]:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield
            finally:
                self._db.execute("COMMIT")

    def _records(self, after: int, limit: int | None = None) -> tuple[CommandRecord, ...]:
        rows = self._db.execute(
            "SELECT sequence, at, command, body FROM records WHERE sequence > ? "
            "ORDER BY sequence LIMIT ?",
            (after, -1 if limit is None else limit),
        )
        return tuple(record_from_row(self._location, *row) for row in rows)

    def load(self) -> StoredState:
        try:
            with self._read():
                row = self._db.execute(
                    "SELECT version, state FROM snapshots ORDER BY version DESC LIMIT 1"
                ).fetchone()
                snapshot = Snapshot(row[0], row[1]) if row is not None else None
                return StoredState(snapshot, self._records(snapshot.version if snapshot else 0))
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def read(self, after: int) -> tuple[CommandRecord, ...]:
        try:
            with self._read():
                return self._records(after)
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def append(self, records: Sequence[CommandRecord], expected_version: int) -> int:
        check_sequences(records, expected_version)
        rows = [(r.sequence, r.at.isoformat(), r.command, record_body(r)) for r in records]
        try:
            with self._write():
                actual = self._db.execute("SELECT coalesce(max(sequence), 0) FROM records")
                version = actual.fetchone()[0]
                if version != expected_version:
                    raise ConcurrentModification(expected_version, version)
                self._db.executemany("INSERT INTO records VALUES (?, ?, ?, ?)", rows)
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        return expected_version + len(records)

    def save_snapshot(self, snapshot: Snapshot) -> None:
        try:
            with self._write():
                version = self._db.execute(
                    "SELECT coalesce(max(sequence), 0) FROM records"
                ).fetchone()[0]
                if snapshot.version > version:
                    raise ValueError(f"cannot snapshot version {snapshot.version}: not committed")
                self._db.execute(
                    "INSERT OR REPLACE INTO snapshots VALUES (?, ?)",
                    (snapshot.version, snapshot.state),
                )
                self._db.execute(
                    "DELETE FROM snapshots WHERE version NOT IN "
                    "(SELECT version FROM snapshots ORDER BY version DESC LIMIT ?)",
                    (_KEEP_SNAPSHOTS,),
                )
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def history(self, after: int = 0, limit: int | None = None) -> tuple[CommandRecord, ...]:
        try:
            with self._read():
                return self._records(after, limit)
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def close(self) -> None:
        with self._lock:
            self._db.close()
