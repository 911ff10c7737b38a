"""PostgreSQL, for one registry shared by many processes and machines (the ``postgres`` extra,
psycopg 3).

Layout: three tables in the connection's current schema, named with a prefix so that several
stores and other applications can share one database: ``{prefix}meta`` (format name and
version), ``{prefix}records`` (one row per committed command, keyed by its sequence) and
``{prefix}snapshots``; every record and snapshot carries a checksum of itself (store format 2).
An append is one transaction that reads the store's version and inserts
its records; two writers racing for the same sequence collide on the primary key, and the loser
gets :class:`~restate_versioning.ConcurrentModification`, so no lock is held between commands.
A commit returns once PostgreSQL has made it durable (its default ``synchronous_commit=on``):
a committed command survives the writing process being killed at any point, and an
interrupted transaction leaves nothing behind.

No statement waits for a lock longer than ``lock_timeout`` seconds (PostgreSQL's own
``lock_timeout`` setting, for this connection): an append or snapshot that would wait longer,
because another session holds a lock on the tables, fails with
:class:`~restate_versioning.StorageError` and writes nothing, instead of blocking for ever.

A store of format 1 (no checksums, written by earlier releases) is upgraded when it is opened,
in the transaction that checks its tables: every record is read back strictly, the checksum
columns are added and filled, and the format becomes 2. A damaged record refuses the upgrade
and leaves the tables as they were. A process of an earlier release still writing to the store
then fails its appends (the checksum is required) rather than writing records without one.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

try:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "PostgresStorage needs psycopg 3: pip install 'restate-versioning[postgres]'"
    ) from exc

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

__all__ = ["TABLE_PREFIX", "PostgresStorage"]

#: What a whole ``table_prefix`` may be: a lower-case SQL identifier of at most 41 characters,
#: so that every table name stays within PostgreSQL's 63 and needs no quoting.
TABLE_PREFIX = re.compile(r"[a-z_][a-z0-9_]{0,40}")

_KEEP_SNAPSHOTS = 2
_URL = re.compile(r"^postgres(?:ql)?://", re.IGNORECASE)


def _redact_dsn(dsn: str) -> str:
    """``dsn`` without its password, to name the store in messages."""
    if _URL.match(dsn):
        parts = urlsplit(dsn)
        user, at, hosts = parts.netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}@{hosts}" if at else hosts
        query = "&".join(
            item for item in parts.query.split("&") if not item.lower().startswith("password=")
        )
        return urlunsplit(parts._replace(netloc=netloc, query=query))
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        return "<a DSN that does not parse>"
    params.pop("password", None)
    return make_conninfo("", **params)


def _password_of(dsn: str) -> str | None:
    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        return None
    return str(password) if password else None


class PostgresStorage:
    """A :class:`~restate_versioning.storage.Storage` in three tables of a PostgreSQL database.

    ``dsn`` is a libpq connection string (``"host=... dbname=..."`` or a
    ``postgresql://`` URL). Missing tables are created (unless ``create=False``, which then
    raises :class:`~restate_versioning.StorageError`); creating is serialised between
    processes, so several may open a new store at once. Tables of another format, a store
    written by a newer format version, or only some of the three tables raise
    :class:`~restate_versioning.StorageError` and are left untouched. So do a server that
    cannot be reached within ``connect_timeout`` seconds (libpq counts whole seconds, at least
    2) and any database error later, including a lock held by another session for longer than
    ``lock_timeout`` seconds (see the module); messages name the store by its DSN without the
    password.

    ``table_prefix`` must match :data:`TABLE_PREFIX` whole (``ValueError`` otherwise). One
    object holds one connection, used by one operation at a time, so it may be shared by the
    threads of a process; each process opens its own.
    """

    def __init__(
        self,
        dsn: str,
        *,
        table_prefix: str = "restate_versioning_",
        create: bool = True,
        connect_timeout: float = 10,
        lock_timeout: float = 10,
    ) -> None:
        if not isinstance(table_prefix, str) or not TABLE_PREFIX.fullmatch(table_prefix):
            raise ValueError(
                f"table_prefix must match ^{TABLE_PREFIX.pattern}$ (a lower-case SQL "
                f"identifier of at most 41 characters), got {table_prefix!r}"
            )
        if not 0 < connect_timeout < math.inf:
            raise ValueError(f"connect_timeout must be positive seconds, got {connect_timeout!r}")
        if not 0 < lock_timeout < math.inf:
            raise ValueError(f"lock_timeout must be positive seconds, got {lock_timeout!r}")
        self.lock_timeout = lock_timeout
        self.table_prefix = table_prefix
        #: The DSN without its password: how messages name this store.
        self.location = _redact_dsn(dsn)
        self._secret = _password_of(dsn)
        self._lock = threading.Lock()  # one operation at a time on the one connection
        self._tables = {name: f"{table_prefix}{name}" for name in ("meta", "records", "snapshots")}
        meta, records, snapshots = (sql.Identifier(t) for t in self._tables.values())
        self._sql_schema = [
            sql.SQL("CREATE TABLE {} (key text PRIMARY KEY, value text NOT NULL)").format(meta),
            sql.SQL(
                "CREATE TABLE {} (sequence bigint PRIMARY KEY, at text NOT NULL, "
                "command text NOT NULL, body text NOT NULL, checksum text NOT NULL)"
            ).format(records),
            sql.SQL(
                "CREATE TABLE {} (version bigint PRIMARY KEY, state text NOT NULL, "
                "checksum text NOT NULL)"
            ).format(snapshots),
        ]
        self._sql_upgrade = [
            sql.SQL("ALTER TABLE {} ADD COLUMN checksum text").format(records),
            sql.SQL("ALTER TABLE {} ADD COLUMN checksum text").format(snapshots),
        ]
        self._sql_upgrade_rows = sql.SQL("SELECT sequence, at, command, body FROM {}").format(
            records
        )
        self._sql_upgrade_snapshots = sql.SQL("SELECT version, state FROM {}").format(snapshots)
        self._sql_upgrade_record = sql.SQL(
            "UPDATE {} SET checksum = %s WHERE sequence = %s"
        ).format(records)
        self._sql_upgrade_snapshot = sql.SQL(
            "UPDATE {} SET checksum = %s WHERE version = %s"
        ).format(snapshots)
        self._sql_upgrade_done = [
            sql.SQL("ALTER TABLE {} ALTER COLUMN checksum SET NOT NULL").format(records),
            sql.SQL("ALTER TABLE {} ALTER COLUMN checksum SET NOT NULL").format(snapshots),
            sql.SQL("UPDATE {} SET value = %s WHERE key = 'version'").format(meta),
        ]
        self._sql_meta_insert = sql.SQL("INSERT INTO {} (key, value) VALUES (%s, %s)").format(meta)
        self._sql_meta = sql.SQL("SELECT key, value FROM {}").format(meta)
        self._sql_version = sql.SQL("SELECT coalesce(max(sequence), 0) FROM {}").format(records)
        self._sql_records = sql.SQL(
            "SELECT sequence, at, command, body, checksum FROM {} WHERE sequence > %s "
            "ORDER BY sequence LIMIT %s"
        ).format(records)
        # Check the version and insert in one statement (one round trip): nothing is inserted
        # unless the store is at the expected version; a racing writer that read the same
        # version hits the primary key instead.
        self._sql_append = sql.SQL(
            "INSERT INTO {records} (sequence, at, command, body, checksum) "
            "SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[]) "
            "WHERE (SELECT coalesce(max(sequence), 0) FROM {records}) = %s"
        ).format(records=records)
        self._sql_snapshot = sql.SQL(
            "SELECT version, state, checksum FROM {} ORDER BY version DESC LIMIT 1"
        ).format(snapshots)
        self._sql_snapshot_lock = sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(
            snapshots
        )
        self._sql_snapshot_save = sql.SQL(
            "INSERT INTO {} (version, state, checksum) VALUES (%s, %s, %s) "
            "ON CONFLICT (version) DO UPDATE SET state = EXCLUDED.state, "
            "checksum = EXCLUDED.checksum"
        ).format(snapshots)
        self._sql_snapshot_prune = sql.SQL(
            "DELETE FROM {0} WHERE version NOT IN "
            "(SELECT version FROM {0} ORDER BY version DESC LIMIT %s)"
        ).format(snapshots)
        try:
            self._db = psycopg.connect(
                dsn, autocommit=True, connect_timeout=max(1, math.ceil(connect_timeout))
            )
        except psycopg.Error as exc:
            raise StorageError(self.location, f"cannot connect: {self._text(exc)}") from None
        try:
            self._db.execute(
                sql.SQL("SET lock_timeout = {}").format(
                    sql.Literal(f"{max(1, math.ceil(lock_timeout * 1000))}ms")
                )
            )
            self._prepare(create)
        except psycopg.Error as exc:
            self._db.close()
            raise self._error(exc) from None
        except BaseException:
            self._db.close()
            raise

    def _text(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split())
        if self._secret:
            for form in {self._secret, quote(self._secret, safe="")}:
                text = text.replace(form, "***")
        return text

    def _error(self, exc: BaseException) -> StorageError:
        return StorageError(self.location, f"{type(exc).__name__}: {self._text(exc)}")

    @contextmanager
    def _using(self) -> Iterator[None]:
        """Hold the connection for one operation; database errors become StorageError."""
        with self._lock:
            try:
                yield
            except (psycopg.Error, UnicodeDecodeError) as exc:
                raise self._error(exc) from None

    def _prepare(self, create: bool) -> None:
        names = list(self._tables.values())
        try:
            with self._db.transaction():
                # Serialise creators: two processes opening one new store both see no tables.
                self._db.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))",
                    (f"restate_versioning:{self.table_prefix}",),
                )
                present = {
                    row[0]
                    for row in self._db.execute(
                        "SELECT tablename FROM pg_catalog.pg_tables "
                        "WHERE schemaname = current_schema() AND tablename = ANY(%s)",
                        (names,),
                    )
                }
                if not present:
                    if not create:
                        raise StorageError(
                            self.location,
                            f"the database has no tables {', '.join(names)} "
                            "(create=True makes them)",
                        )
                    for statement in self._sql_schema:
                        self._db.execute(statement)
                    with self._db.cursor() as cursor:
                        cursor.executemany(
                            self._sql_meta_insert,
                            [("format", STORE_FORMAT), ("version", str(STORE_FORMAT_VERSION))],
                        )
                elif len(present) != len(names):
                    missing = [name for name in names if name not in present]
                    raise StorageError(
                        self.location,
                        f"a damaged or foreign store: it has tables {sorted(present)} but not "
                        f"{missing}",
                    )
                meta: dict[Any, Any] = dict(self._db.execute(self._sql_meta).fetchall())
                version = check_meta(self.location, meta, self._tables["meta"])
                if version < STORE_FORMAT_VERSION:
                    self._upgrade()
        except psycopg.Error as exc:
            raise self._error(exc) from None

    def _upgrade(self) -> None:
        """Format 1 to 2, inside the opening transaction: checksums for every row."""
        rows = self._db.execute(self._sql_upgrade_rows).fetchall()
        checksums = upgrade_checksums(self.location, rows)
        snapshots = [
            (snapshot_checksum(version, state), version)
            for version, state in self._db.execute(self._sql_upgrade_snapshots).fetchall()
        ]
        for statement in self._sql_upgrade:
            self._db.execute(statement)
        with self._db.cursor() as cursor:
            cursor.executemany(self._sql_upgrade_record, checksums)
            cursor.executemany(self._sql_upgrade_snapshot, snapshots)
        for statement in self._sql_upgrade_done[:-1]:
            self._db.execute(statement)
        self._db.execute(self._sql_upgrade_done[-1], (str(STORE_FORMAT_VERSION),))

    def _version(self) -> int:
        row = self._db.execute(self._sql_version).fetchone()
        assert row is not None
        return int(row[0])

    def _records(self, after: int, limit: int | None = None) -> tuple[CommandRecord, ...]:
        rows = self._db.execute(self._sql_records, (after, limit)).fetchall()
        return tuple(record_from_row(self.location, *row) for row in rows)

    def load(self) -> StoredState:
        with self._using(), self._db.transaction():
            row = self._db.execute(self._sql_snapshot).fetchone()
            snapshot = snapshot_from_row(self.location, *row) if row is not None else None
            check_snapshot_version(self.location, snapshot, self._version())
            return StoredState(snapshot, self._records(snapshot.version if snapshot else 0))

    def read(self, after: int) -> tuple[CommandRecord, ...]:
        with self._using():
            return self._records(after)

    def append(self, records: Sequence[CommandRecord], expected_version: int) -> int:
        check_sequences(records, expected_version)
        if not records:
            with self._using():
                version = self._version()
            if version != expected_version:
                raise ConcurrentModification(expected_version, version)
            return version
        rows = [encode_record(self.location, r) for r in records]
        columns = tuple(list(column) for column in zip(*rows, strict=True))
        with self._using():
            try:
                inserted = self._db.execute(self._sql_append, (*columns, expected_version))
            except psycopg.errors.UniqueViolation:
                # A writer that read the same version committed first: its rows took ours.
                raise ConcurrentModification(expected_version, self._version()) from None
            if inserted.rowcount != len(records):
                raise ConcurrentModification(expected_version, self._version())
        return expected_version + len(records)

    def save_snapshot(self, snapshot: Snapshot) -> None:
        with self._using(), self._db.transaction():
            # One snapshot writer at a time (readers go on), so that pruning never races.
            self._db.execute(self._sql_snapshot_lock)
            version = self._version()
            if snapshot.version > version:
                raise ValueError(f"cannot snapshot version {snapshot.version}: not committed")
            self._db.execute(
                self._sql_snapshot_save,
                (
                    snapshot.version,
                    snapshot.state,
                    snapshot_checksum(snapshot.version, snapshot.state),
                ),
            )
            self._db.execute(self._sql_snapshot_prune, (_KEEP_SNAPSHOTS,))

    def history(self, after: int = 0, limit: int | None = None) -> tuple[CommandRecord, ...]:
        with self._using():
            return self._records(after, limit)

    def close(self) -> None:
        with self._lock:
            self._db.close()
