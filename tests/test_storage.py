"""Keeping a registry in a store: the contract on the in-memory and SQLite adapters, journaling,
reopening, history, batches, and stores that must be refused."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from restate_versioning import (
    ConcurrentModification,
    InvalidManifest,
    ManualClock,
    RandomIds,
    ServiceNotFound,
    StorageError,
)
from restate_versioning.serialization import JOURNAL_FORMAT
from restate_versioning.storage import (
    CommandRecord,
    MemoryStorage,
    SQLiteStorage,
    Storage,
    StoredRegistry,
)
from restate_versioning.storage.base import STORE_FORMAT_VERSION, record_checksum
from restate_versioning.testing import check_storage

from .helpers import SDK_MANIFEST, V1, V2


def test_the_memory_storage_meets_the_contract() -> None:
    check_storage(MemoryStorage)


def test_the_sqlite_storage_meets_the_contract(tmp_path: Path) -> None:
    counter = itertools.count()

    def make() -> Storage:
        return SQLiteStorage(tmp_path / f"store-{next(counter)}.db")

    def reopen(store: Storage) -> Storage:
        assert isinstance(store, SQLiteStorage)
        store.close()
        return SQLiteStorage(store.path)

    check_storage(make, reopen=reopen)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "registry.db"


def open_stored(path: Path, versioning_clock: ManualClock | None = None) -> StoredRegistry:
    return StoredRegistry(SQLiteStorage(path), clock=versioning_clock, ids=RandomIds())


def test_reopening_gives_exactly_the_committed_state(path: Path) -> None:
    stored = open_stored(path)
    old = stored.register(V1, SDK_MANIFEST).deployment.id
    running = stored.invoke("Greeter", "greet")
    stored.invoke("TicketObject", "reserve", key="k")
    queued = stored.invoke("TicketObject", "reserve", key="k")
    stored.invoke("Greeter", "greet", delay=timedelta(hours=1))
    stored.register(V2, SDK_MANIFEST)
    stored.set_public("Signup", False)
    stored.suspend(running.id)
    stored.declare_caller("Greeter", "Signup/run")
    expected = stored.registry.snapshot()
    stored.close()  # with a snapshot
    again = open_stored(path)
    assert again.registry.snapshot() == expected
    assert again.registry.invocation(queued.id).status.value == "pending"
    assert again.registry.deployment_status(old).value == "Draining"
    again.close()


def test_reopening_after_a_crash_replays_the_records_after_the_last_snapshot(
    path: Path,
) -> None:
    stored = StoredRegistry(SQLiteStorage(path), snapshot_every=5)
    stored.register(V1, SDK_MANIFEST)
    for _ in range(12):
        stored.invoke("Greeter", "greet")
    expected = stored.registry.snapshot()
    state = SQLiteStorage(path).load()
    assert state.snapshot is not None
    assert state.snapshot.version == 10
    assert [r.sequence for r in state.records] == [11, 12, 13]
    # no close(): as if the process had been killed
    assert open_stored(path).registry.snapshot() == expected


def test_only_changes_are_journaled(path: Path) -> None:
    """Dry runs, UNCHANGED registrations, repeated workflow runs and refused commands change
    nothing, so they leave no record."""
    stored = open_stored(path)
    stored.register(V1, SDK_MANIFEST)
    stored.register(V1, SDK_MANIFEST)
    stored.register(V2, SDK_MANIFEST, dry_run=True)
    run = stored.invoke("Signup", "run", key="w")
    assert stored.invoke("Signup", "run", key="w") == run
    assert stored.start_due() == ()
    with pytest.raises(ServiceNotFound):
        stored.invoke("Nope", "x")
    with pytest.raises(InvalidManifest):
        stored.register(V2, {"services": []})
    assert [r.command for r in stored.history()] == ["register", "invoke"]


def test_history_says_what_was_done_when_and_what_it_did(path: Path) -> None:
    clock = ManualClock()
    stored = open_stored(path, clock)
    created = stored.register(V1, SDK_MANIFEST).deployment
    clock.advance(timedelta(minutes=1))
    call = stored.invoke("Greeter", "greet")
    first, second = stored.history()
    assert (first.sequence, first.command, first.at) == (
        1,
        "register",
        clock() - timedelta(1 / 1440),
    )
    assert first.ids == (created.id,)
    assert first.summary.startswith(f"CREATED {created.id} at {V1}: Greeter new -> 1")
    assert first.arguments["manifest"] == SDK_MANIFEST
    assert (second.command, second.at, second.ids) == ("invoke", clock(), (call.id,))
    assert second.summary == f"{call.id} Greeter/greet running on {created.id}"
    assert stored.history(after=1) == (second,)


def test_two_writers_on_one_file_both_land_and_converge(path: Path) -> None:
    """A writer whose version is stale catches up and runs its command on the new state:
    no command is lost, none is applied twice."""
    one, two = open_stored(path), open_stored(path)
    one.register(V1, SDK_MANIFEST)
    held = two.invoke("TicketObject", "reserve", key="k")  # catches up on the registration
    waiting = one.invoke("TicketObject", "reserve", key="k")  # sees the lock two took
    assert waiting.status.value == "pending"
    two.complete(held.id)
    one.refresh()
    assert one.registry.invocation(waiting.id).status.value == "running"
    assert one.registry.snapshot() == two.registry.snapshot()
    assert [r.sequence for r in one.history()] == [1, 2, 3, 4]


def test_an_append_on_a_stale_version_is_refused_and_writes_nothing() -> None:
    store = MemoryStorage()
    StoredRegistry(store).register(V1, SDK_MANIFEST)
    stale = store.history()[0]
    with pytest.raises(ConcurrentModification) as caught:
        store.append([stale], 0)
    assert (caught.value.expected, caught.value.actual) == (0, 1)
    assert len(store.history()) == 1


def in_batch(stored: StoredRegistry, *steps: Callable[[], object]) -> None:
    with stored.batch():
        for step in steps:
            step()


def test_a_batch_commits_in_one_append(path: Path) -> None:
    stored = open_stored(path)
    with stored.batch():
        stored.register(V1, SDK_MANIFEST)
        calls = [stored.invoke("Greeter", "greet") for _ in range(10)]
        assert SQLiteStorage(path).load().version == 0  # nothing visible yet
    assert stored.version == 11
    assert open_stored(path).registry.invocation(calls[-1].id) == calls[-1]


def test_a_batch_that_raises_is_undone_whole(path: Path) -> None:
    stored = open_stored(path)
    stored.register(V1, SDK_MANIFEST)
    before = stored.registry.snapshot()
    with pytest.raises(ServiceNotFound):
        in_batch(
            stored,
            lambda: stored.invoke("Greeter", "greet"),
            lambda: stored.invoke("Nope", "greet"),
        )
    assert stored.registry.snapshot() == before
    assert stored.version == 1


def test_a_batch_overtaken_by_another_writer_is_undone_and_raises(path: Path) -> None:
    one, two = open_stored(path), open_stored(path)
    one.register(V1, SDK_MANIFEST)
    two.refresh()
    with pytest.raises(ConcurrentModification):
        in_batch(
            one, lambda: one.invoke("Greeter", "greet"), lambda: two.invoke("Greeter", "greet")
        )
    assert one.registry.snapshot() == two.registry.snapshot()


def test_a_missing_file_is_created_unless_told_not_to(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no such file"):
        SQLiteStorage(tmp_path / "absent.db", create=False)
    assert not (tmp_path / "absent.db").exists()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"this is not a database at all, just some text" * 50, "not a SQLite database"),
        (b"SQLite format 3\x00" + b"\xff" * 200, "not a SQLite database"),
    ],
)
def test_a_corrupted_file_is_refused_and_left_untouched(
    path: Path, content: bytes, reason: str
) -> None:
    path.write_bytes(content)
    with pytest.raises(StorageError, match=reason) as caught:
        SQLiteStorage(path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == content


def test_a_foreign_database_is_refused_and_left_untouched(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(StorageError, match=r"a foreign database: it has tables \['orders'\]"):
        SQLiteStorage(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("version", str(STORE_FORMAT_VERSION + 1), "newer than this library reads"),
        ("format", "somebody-else/store", "a foreign store of format 'somebody-else/store'"),
    ],
)
def test_a_store_of_another_or_a_newer_format_is_refused(
    path: Path, key: str, value: str, reason: str
) -> None:
    SQLiteStorage(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
    db.commit()
    db.close()
    with pytest.raises(StorageError, match=reason):
        SQLiteStorage(path)


def test_a_damaged_record_is_reported_with_its_sequence(path: Path) -> None:
    open_stored(path).register(V1, SDK_MANIFEST)
    db = sqlite3.connect(path)
    db.execute("UPDATE records SET body = '{broken' WHERE sequence = 1")
    db.commit()
    db.close()
    with pytest.raises(StorageError, match="record 1 is damaged"):
        open_stored(path)


def test_a_record_that_no_longer_replays_is_reported(path: Path) -> None:
    stored = open_stored(path)
    stored.register(V1, SDK_MANIFEST)
    stored.invoke("Greeter", "greet")
    db = sqlite3.connect(path)
    at, command, text = db.execute(
        "SELECT at, command, body FROM records WHERE sequence = 2"
    ).fetchone()
    body = json.loads(text)
    body["arguments"]["service"] = "Nope"
    text = json.dumps(body)
    db.execute(
        "UPDATE records SET body = ?, checksum = ? WHERE sequence = 2",
        (text, record_checksum(2, at, command, text)),
    )
    db.commit()
    db.close()
    with pytest.raises(StorageError, match=r"record 2 \(invoke\) no longer applies"):
        open_stored(path)


def test_records_keep_their_fields_through_sqlite(path: Path) -> None:
    stored = open_stored(path)
    stored.register(V1, SDK_MANIFEST)
    stored.invoke("Greeter", "greet", delay=timedelta(seconds=90))
    record = SQLiteStorage(path).history()[-1]
    assert isinstance(record, CommandRecord)
    assert record.arguments["delay"] == 90_000_000  # microseconds
    assert record.journal == JOURNAL_FORMAT
    assert record == stored.history()[-1]


def test_one_sqlite_store_object_serves_several_threads(path: Path) -> None:
    """A store object may be shared by threads, each with its own registry."""
    import threading

    store = SQLiteStorage(path)
    StoredRegistry(store).register(V1, SDK_MANIFEST)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            stored = StoredRegistry(store)
            for _ in range(25):
                stored.complete(stored.invoke("Greeter", "greet").id)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.history()) == 1 + 4 * 25 * 2


def test_a_command_value_run_on_a_stored_registry_is_journaled_as_its_method_journals_it(
    path: Path,
) -> None:
    """``execute(Register(url, discovery))`` takes the discovery whole (its HTTP and SDK
    versions too), and ``execute(Invoke(..., caller=an_invocation))`` journals the caller's
    id: both replay to the same state as the methods' records."""
    from restate_versioning.commands import Complete, Invoke, Register
    from restate_versioning.manifest import Discovery, EndpointManifest

    stored = open_stored(path)
    discovery = Discovery(EndpointManifest.from_json(SDK_MANIFEST), "HTTP/2.0", "sdk/1.3.0")
    registered = stored.execute(Register(V1, discovery))
    assert (registered.deployment.http_version, registered.deployment.sdk_version) == (
        "HTTP/2.0",
        "sdk/1.3.0",
    )
    caller = stored.execute(Invoke("Greeter", "greet"))
    stored.execute(Invoke("TicketObject", "reserve", key="k", caller=caller))
    stored.execute(Complete(caller.id))
    assert stored.history()[-2].arguments["caller"] == caller.id
    again = open_stored(path)  # replays every record: no snapshot yet
    assert again.registry.snapshot() == stored.registry.snapshot()
    again.close()
    stored.close()
