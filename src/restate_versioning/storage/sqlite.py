"""SQLite, the embedded default for a registry that must survive a restart: one file, WAL.

Layout (store format 2): ``meta`` (format name and version), ``records`` (one row per committed
command, keyed by its sequence, with a checksum of the row) and ``snapshots`` (with a checksum
each). Writers serialise on SQLite's write lock (``BEGIN IMMEDIATE``), so an append checks the
version and inserts in one transaction. The database runs in WAL mode with
``synchronous=NORMAL``: a committed command survives the process being killed at any point; an
operating-system crash may lose the last commits, never corrupt the file.

A store of format 1 (no checksums, written by earlier releases) is upgraded when it is opened:
in one transaction, every record is read back strictly, and the checksums are added; a damaged
one refuses the upgrade (:class:`~restate_versioning.StorageError`) and leaves the file as it
was. After the upgrade the store is of format 2, which earlier releases refuse to open.
"""

from __future__ import annotations

import sqlite3
import stat
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
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
    check_snapshot_version,
    encode_record,
    record_from_row,
    snapshot_checksum,
    snapshot_from_row,
    upgrade_checksums,
)

__all__ = ["SQLiteStorage"]

_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE records (sequence INTEGER PRIMARY KEY, at TEXT NOT NULL, "
    "command TEXT NOT NULL, body TEXT NOT NULL, checksum TEXT NOT NULL)",
    "CREATE TABLE snapshots (version INTEGER PRIMARY KEY, state TEXT NOT NULL, "
    "checksum TEXT NOT NULL)",
)
_OURS = {"meta", "records", "snapshots"}
_KEEP_SNAPSHOTS = 2
#: What reading a damaged file can raise besides sqlite3.Error: text that is not UTF-8, an
#: integer out of range.
_DAMAGE = (sqlite3.Error, UnicodeDecodeError, OverflowError)


class SQLiteStorage:
    """A :class:`~restate_versioning.storage.Storage` in one SQLite file.

    A missing file is created (unless ``create=False``); an empty database gets the tables. A
    path that is not a regular file (a directory, ``/dev/null``), a file that is not SQLite or
    cannot be read, a damaged database, a database with other tables, or one written by a
    newer format raises :class:`~restate_versioning.StorageError` naming the file, and is left
    untouched. A store of format 1 is upgraded (see the module).

    A writer waits at most ``timeout`` seconds for another's write lock; past it, the append
    (or snapshot) raises :class:`~restate_versioning.StorageError` and writes nothing. Every
    failure of SQLite (a full disk, an I/O error, a damaged page) is a
    :class:`~restate_versioning.StorageError` naming the file.
    """

    def __init__(self, path: str | Path, *, create: bool = True, timeout: float = 30.0) -> None:
        self.path = Path(path)
        #: How messages name this store: its path.
        self.location = str(self.path)
        self._location = self.location
        self._lock = threading.Lock()  # one connection, shared by the threads that use it
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            if not create:
                raise StorageError(self._location, "no such file (create=True makes one)") from None
        except OSError as exc:
            raise StorageError(self._location, f"cannot open: {exc.strerror or exc}") from None
        else:
            if not stat.S_ISREG(mode):
                raise StorageError(self._location, "not a regular file")
        try:
            self._db = sqlite3.connect(
                self._location, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StorageError(self._location, f"cannot open: {exc}") from None
        try:
            self._prepare(create)
        except _DAMAGE as exc:
            self._db.close()
            raise self._error(exc) from None
        except BaseException:
            self._db.close()
            raise

    def _error(self, exc: BaseException) -> StorageError:
        return StorageError(self._location, f"{type(exc).__name__}: {exc}")

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """SQLite's errors (and what a damaged file makes it raise) as StorageError."""
        try:
            yield
        except _DAMAGE as exc:
            raise self._error(exc) from None

    def _prepare(self, create: bool) -> None:
        try:
            tables = {
                row[0]
                for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        except _DAMAGE as exc:
            raise StorageError(self._location, f"not a SQLite database ({exc})") from None
        if not tables:
            if not create:
                raise StorageError(self._location, "the database has no tables")
            self._db.execute("PRAGMA journal_mode=WAL")
            with self._write():  # another process may be creating it too: look again, locked
                tables = {
                    row[0]
                    for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
                }
                if not tables:
                    for statement in _SCHEMA:
                        self._db.execute(statement)
                    self._db.executemany(
                        "INSERT INTO meta VALUES (?, ?)",
                        [("format", STORE_FORMAT), ("version", str(STORE_FORMAT_VERSION))],
                    )
                    tables = set(_OURS)
        if not tables >= _OURS:
            raise StorageError(
                self._location,
                f"a foreign database: it has tables {sorted(tables)}, not {sorted(_OURS)}",
            )
        version = check_meta(self._location, dict(self._db.execute("SELECT key, value FROM meta")))
        if version < STORE_FORMAT_VERSION:
            self._upgrade()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")

    def _upgrade(self) -> None:
        """Format 1 to 2, in one transaction: checksums for every record and snapshot."""
        with self._write():
            meta = dict(self._db.execute("SELECT key, value FROM meta"))
            if check_meta(self._location, meta) >= STORE_FORMAT_VERSION:
                return  # another process upgraded it first
            rows = self._db.execute("SELECT sequence, at, command, body FROM records").fetchall()
            checksums = upgrade_checksums(self._location, rows)
            snapshots = [
                (snapshot_checksum(version, state), version)
                for version, state in self._db.execute("SELECT version, state FROM snapshots")
                if type(version) is int and isinstance(state, str)
            ]
            self._db.execute("ALTER TABLE records ADD COLUMN checksum TEXT")
            self._db.execute("ALTER TABLE snapshots ADD COLUMN checksum TEXT")
            self._db.executemany("UPDATE records SET checksum = ? WHERE sequence = ?", checksums)
            self._db.executemany("UPDATE snapshots SET checksum = ? WHERE version = ?", snapshots)
            self._db.execute(
                "UPDATE meta SET value = ? WHERE key = 'version'", (str(STORE_FORMAT_VERSION),)
            )

    @contextmanager
    def _write(self) -> Iterator[None]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                # SQLite may have rolled back already (a full disk, an I/O error)
                with suppress(sqlite3.Error):
                    if self._db.in_transaction:
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
                if self._db.in_transaction:
                    self._db.execute("COMMIT")

    def _records(self, after: int, limit: int | None = None) -> tuple[CommandRecord, ...]:
        rows = self._db.execute(
            "SELECT sequence, at, command, body, checksum FROM records WHERE sequence > ? "
            "ORDER BY sequence LIMIT ?",
            (after, -1 if limit is None else limit),
        )
        return tuple(record_from_row(self._location, *row) for row in rows)

    def _last(self) -> int:
        version = self._db.execute("SELECT coalesce(max(sequence), 0) FROM records").fetchone()[0]
        if type(version) is not int:
            raise StorageError(self._location, f"a damaged record sequence {version!r}")
        return version

    def load(self) -> StoredState:
        with self._guard(), self._read():
            row = self._db.execute(
                "SELECT version, state, checksum FROM snapshots ORDER BY version DESC LIMIT 1"
            ).fetchone()
            snapshot = snapshot_from_row(self._location, *row) if row is not None else None
            check_snapshot_version(self._location, snapshot, self._last())
            return StoredState(snapshot, self._records(snapshot.version if snapshot else 0))

    def read(self, after: int) -> tuple[CommandRecord, ...]:
        with self._guard(), self._read():
            return self._records(after)

    def append(self, records: Sequence[CommandRecord], expected_version: int) -> int:
        check_sequences(records, expected_version)
        rows = [encode_record(self._location, r) for r in records]
        with self._guard(), self._write():
            version = self._last()
            if version != expected_version:
                raise ConcurrentModification(expected_version, version)
            self._db.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?)", rows)
        return expected_version + len(records)

    def save_snapshot(self, snapshot: Snapshot) -> None:
        checksum = snapshot_checksum(snapshot.version, snapshot.state)
        with self._guard(), self._write():
            if snapshot.version > self._last():
                raise ValueError(f"cannot snapshot version {snapshot.version}: not committed")
            self._db.execute(
                "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?)",
                (snapshot.version, snapshot.state, checksum),
            )
            self._db.execute(
                "DELETE FROM snapshots WHERE version NOT IN "
                "(SELECT version FROM snapshots ORDER BY version DESC LIMIT ?)",
                (_KEEP_SNAPSHOTS,),
            )

    def history(self, after: int = 0, limit: int | None = None) -> tuple[CommandRecord, ...]:
        with self._guard(), self._read():
            return self._records(after, limit)

    def close(self) -> None:
        with self._lock:
            self._db.close()
