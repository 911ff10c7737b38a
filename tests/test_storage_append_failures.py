"""A failed append never leaves the command applied, on SQLite and on PostgreSQL.

Each kind of failure is real where it can be: SQLite's write lock held by another connection
past the busy timeout, a full disk (a child process whose file-size limit ``RLIMIT_FSIZE`` is
reached), PostgreSQL's tables locked by another session past ``lock_timeout``, the writer's
PostgreSQL connection terminated by the server; an I/O error and a record the adapter cannot
encode come through a wrapping ``Storage``. After every one: the writer is at its last
committed version with exactly the committed state, the next command commits cleanly on top
of it, another process opens the store to the same state, and ``close()`` snapshots nothing
that was refused.
"""

from __future__ import annotations

import errno
import multiprocessing
import resource
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from restate_versioning import StorageError, VersioningError
from restate_versioning.storage import (
    CommandRecord,
    Snapshot,
    SQLiteStorage,
    Storage,
    StoredRegistry,
    StoredState,
)

from .helpers import STORE_KINDS, STORE_MARKS, manifest, new_store, service

MANIFEST = manifest(service("Greeter"), service("Ticket", "VIRTUAL_OBJECT"))
SPAWN = multiprocessing.get_context("spawn")
#: Seconds a writer waits for a lock in these tests, and the margin a failure may take past it.
LOCK_WAIT = 0.3
MARGIN = 5.0


class FailingAppends:
    """A store whose appends fail on demand: ``before`` raises ``OSError(EIO)`` without
    writing, ``after`` writes and then raises (a commit whose answer was lost), ``unencodable``
    hands the store a record it cannot journal (an argument that is not JSON)."""

    def __init__(self, store: Storage) -> None:
        self.store = store
        self.location = getattr(store, "location", "wrapped")
        self.mode: str | None = None

    def load(self) -> StoredState:
        return self.store.load()

    def read(self, after: int) -> tuple[CommandRecord, ...]:
        return self.store.read(after)

    def append(self, records: Sequence[CommandRecord], expected_version: int) -> int:
        if self.mode == "before":
            raise OSError(errno.EIO, "Input/output error")
        if self.mode == "unencodable":
            first = records[0]
            bad = CommandRecord(
                first.sequence,
                first.at,
                first.command,
                {**first.arguments, "extra": float("nan")},
                first.ids,
                first.summary,
            )
            records = [bad, *records[1:]]
        version = self.store.append(records, expected_version)
        if self.mode == "after":
            raise OSError(errno.EIO, "Input/output error")
        return version

    def save_snapshot(self, snapshot: Snapshot) -> None:
        self.store.save_snapshot(snapshot)

    def history(self, after: int = 0, limit: int | None = None) -> tuple[CommandRecord, ...]:
        return self.store.history(after, limit)

    def close(self) -> None:
        self.store.close()


def open_store(kind: str, where: str, prefix: str) -> Storage:
    if kind == "sqlite":
        return SQLiteStorage(where, timeout=LOCK_WAIT)
    from restate_versioning.storage.postgres import PostgresStorage

    return PostgresStorage(where, table_prefix=prefix, lock_timeout=LOCK_WAIT)


@pytest.fixture(params=STORE_KINDS)
def where(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, str]:
    return new_store(request.param, request, tmp_path)


@contextmanager
def sqlite_lock_held(where: tuple[str, str, str], stored: StoredRegistry) -> Iterator[None]:
    """Another connection holds SQLite's write lock for the whole block."""
    holder = sqlite3.connect(where[1], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@contextmanager
def postgres_tables_locked(where: tuple[str, str, str], stored: StoredRegistry) -> Iterator[None]:
    """Another session holds an exclusive lock on the records table for the whole block."""
    with psycopg.connect(where[1]) as holder:
        holder.execute(f"LOCK TABLE {where[2]}records IN ACCESS EXCLUSIVE MODE".encode())
        try:
            yield
        finally:
            holder.rollback()


@contextmanager
def postgres_connection_terminated(
    where: tuple[str, str, str], stored: StoredRegistry
) -> Iterator[None]:
    """The server terminates every other session of the database: the writer's connection
    is gone when it appends. (Afterwards the writer reopens its store to go on.)"""
    with psycopg.connect(where[1], autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    yield


def wrapped(mode: str) -> Callable[[tuple[str, str, str], StoredRegistry], Any]:
    @contextmanager
    def failing(where: tuple[str, str, str], stored: StoredRegistry) -> Iterator[None]:
        store = stored._storage
        assert isinstance(store, FailingAppends)
        store.mode = mode
        try:
            yield
        finally:
            store.mode = None

    return failing


FAILURES: dict[str, dict[str, Callable[..., AbstractContextManager[None]]]] = {
    "sqlite": {
        "write-lock-held-past-the-timeout": sqlite_lock_held,
        "io-error-before-writing": wrapped("before"),
        "io-error-after-committing": wrapped("after"),
        "a-record-that-cannot-be-journaled": wrapped("unencodable"),
    },
    "postgres": {
        "tables-locked-past-the-lock-timeout": postgres_tables_locked,
        "connection-terminated": postgres_connection_terminated,
        "io-error-before-writing": wrapped("before"),
        "io-error-after-committing": wrapped("after"),
        "a-record-that-cannot-be-journaled": wrapped("unencodable"),
    },
}
CASES = [
    pytest.param(kind, name, id=f"{kind}-{name}", marks=STORE_MARKS[kind])
    for kind, table in FAILURES.items()
    for name in table
]


def committed_state(kind: str, where: str, prefix: str) -> tuple[int, Any]:
    """What another opener of the store sees: its version and state."""
    other = StoredRegistry(open_store(kind, where, prefix))
    try:
        return other.version, other.registry.snapshot()
    finally:
        other._storage.close()


@pytest.mark.parametrize(("kind", "failure"), CASES)
@pytest.mark.parametrize("batched", [False, True], ids=["one-command", "a-batch"])
def test_a_failed_append_leaves_the_writer_at_the_last_committed_version(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str, failure: str, batched: bool
) -> None:
    """Whatever makes the append fail, the command (or the whole batch) raises a
    StorageError naming the store, is not in the writer's state, is not what the next
    command commits on top of, and is not in the snapshot ``close()`` writes."""
    where = new_store(kind, request, tmp_path)
    store = FailingAppends(open_store(*where))
    stored = StoredRegistry(store)
    stored.register("http://127.0.0.1:9081", MANIFEST)
    first = stored.invoke("Greeter", "greet")
    version, before = stored.version, stored.registry.snapshot()

    def command() -> None:
        if batched:
            with stored.batch():
                stored.complete(first.id)
                stored.invoke("Ticket", "reserve", key="k")
        else:
            stored.complete(first.id)

    started = time.monotonic()
    with FAILURES[kind][failure](where, stored), pytest.raises(VersioningError) as caught:
        command()
    assert time.monotonic() - started < LOCK_WAIT + MARGIN, "the failure did not hang"
    assert isinstance(caught.value, StorageError)
    assert caught.value.location == store.location
    assert stored.version == version
    assert stored.registry.snapshot() == before
    assert stored.registry.invocation(first.id).status.value == "running"

    if failure == "connection-terminated":  # this connection is gone: go on with a new one
        stored._storage.close()
        stored = StoredRegistry(FailingAppends(open_store(*where)))
    # The next command commits cleanly on the committed state; what a lost answer did commit,
    # it catches up on first.
    stored.invoke("Greeter", "greet")
    after = stored.version
    lost = (2 if batched else 1) if failure == "io-error-after-committing" else 0
    assert after == version + lost + 1
    history = stored.history()
    assert [r.sequence for r in history] == list(range(1, after + 1))
    assert history[-1].command == "invoke"
    expected = stored.registry.snapshot()
    assert committed_state(*where) == (after, expected)
    stored.close()
    assert committed_state(*where) == (after, expected)
    reopened = open_store(*where)
    snapshot = reopened.load().snapshot
    assert snapshot is not None
    assert snapshot.version == after
    reopened.close()


def full_disk_writer(path: str, report: str) -> None:
    """In a child process: fill its file-size limit so that SQLite's writes fail with EFBIG
    (SIGXFSZ ignored), try a command, then lift the limit and run the next one."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    stored = StoredRegistry(SQLiteStorage(path))
    first = stored.invoke("Greeter", "greet")
    version, before = stored.version, stored.registry.snapshot()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1, hard))
    outcome = "no error"
    try:
        stored.complete(first.id)
    except StorageError as exc:
        outcome = f"StorageError: {exc.reason}"
    except BaseException as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    same = stored.version == version and stored.registry.snapshot() == before
    stored.complete(first.id)
    stored.close()
    Path(report).write_text(f"{outcome}\n{same}\n{stored.version}")


def test_a_full_disk_leaves_the_sqlite_writer_at_the_last_committed_version(
    tmp_path: Path,
) -> None:
    """A write past the process's file-size limit fails (EFBIG, as on a full disk): the
    command raises StorageError, the writer keeps its committed state, and once there is room
    the next command commits on top of the committed state."""
    path, report = tmp_path / "registry.sqlite3", tmp_path / "report"
    setup = StoredRegistry(SQLiteStorage(path))
    setup.register("http://127.0.0.1:9081", MANIFEST)
    setup.close()
    child = SPAWN.Process(target=full_disk_writer, args=(str(path), str(report)))
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
        child.join()
    assert child.exitcode == 0
    outcome, same, version = report.read_text().splitlines()
    assert outcome.startswith("StorageError: "), outcome
    assert same == "True"
    assert version == "3"
    reopened = StoredRegistry(SQLiteStorage(path))
    assert reopened.version == 3
    assert [r.command for r in reopened.history()] == ["register", "invoke", "complete"]
    reopened.close()


@pytest.mark.parametrize(
    "argument",
    [float("nan"), float("inf"), object(), b"bytes", {1: "int key"}, ""],
    ids=["nan", "infinity", "object", "bytes", "int-key", "empty-string"],
)
def test_an_adapter_refuses_a_record_it_cannot_journal_and_writes_nothing(
    where: tuple[str, str, str], argument: object
) -> None:
    """A record whose arguments are not JSON values is a StorageError naming the store and
    the record, and the store stays at its version (an empty string is JSON: it is kept)."""
    store = open_store(*where)
    from datetime import UTC, datetime

    good = CommandRecord(1, datetime(2026, 1, 1, tzinfo=UTC), "x", {"a": 1})
    store.append([good], 0)
    record = CommandRecord(2, datetime(2026, 1, 1, tzinfo=UTC), "x", {"a": argument})
    if argument == "":
        assert store.append([record], 1) == 2
        store.close()
        return
    with pytest.raises(StorageError, match=r"record 2 .*cannot be journaled") as caught:
        store.append([record], 1)
    assert caught.value.location == getattr(store, "location", None)
    assert [r.sequence for r in store.read(0)] == [1]
    store.close()


@pytest.mark.integration
def test_a_postgres_append_waits_at_most_the_lock_timeout(postgres_dsn: str) -> None:
    """With the records table locked by another session, an append fails with StorageError
    within ``lock_timeout`` (plus a margin), instead of waiting for ever."""
    from restate_versioning.storage.postgres import PostgresStorage

    from .postgres_server import fresh_prefix

    prefix = fresh_prefix()
    store = PostgresStorage(postgres_dsn, table_prefix=prefix, lock_timeout=LOCK_WAIT)
    stored = StoredRegistry(store)
    with postgres_tables_locked(("postgres", postgres_dsn, prefix), stored):
        started = time.monotonic()
        with pytest.raises(StorageError, match="lock") as caught:
            stored.register("http://127.0.0.1:9081", MANIFEST)
        waited = time.monotonic() - started
    assert LOCK_WAIT * 0.9 <= waited < LOCK_WAIT + MARGIN
    assert "password" not in caught.value.location
    assert stored.version == 0
    stored.register("http://127.0.0.1:9081", MANIFEST)
    assert stored.version == 1
    stored.close()


@pytest.mark.parametrize("timeout", [0, -1, float("inf"), float("nan")])
def test_a_lock_timeout_must_be_positive_seconds(timeout: float) -> None:
    from restate_versioning.storage.postgres import PostgresStorage

    with pytest.raises(ValueError, match="lock_timeout must be positive seconds"):
        PostgresStorage("host=127.0.0.1", lock_timeout=timeout)
