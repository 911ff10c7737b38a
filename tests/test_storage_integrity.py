"""Damage to a store is detected: a changed character, a missing field, a wrong type, deep
nesting, bytes that are not UTF-8, a damaged page, a path that is not a store. Every one is a
StorageError naming the store (and the record or snapshot); none replays into another state.
A store of format 1 still opens to the same state."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from restate_versioning import ManualClock, RandomIds, StorageError
from restate_versioning.snapshot import RegistrySnapshot
from restate_versioning.storage import MemoryStorage, SQLiteStorage, StoredRegistry
from restate_versioning.storage.base import (
    STORE_FORMAT_VERSION,
    record_checksum,
    snapshot_checksum,
)

from .helpers import SDK_MANIFEST, V1, V2

FORMAT_1 = Path(__file__).parent / "data" / "store-format-1.sqlite3"


def format_1_script(stored: StoredRegistry, versioning_clock: ManualClock) -> None:
    """The commands that made ``tests/data/store-format-1.sqlite3`` (with the versioning_clock at
    2026-03-01 and ``RandomIds(seed=7)``; a snapshot after the fifth, no final one)."""
    stored.register(V1, SDK_MANIFEST)
    versioning_clock.advance(timedelta(seconds=1))
    first = stored.invoke("Greeter", "greet")
    stored.invoke("TicketObject", "reserve", key="k")
    versioning_clock.advance(timedelta(seconds=1))
    stored.invoke("TicketObject", "reserve", key="k")
    stored.invoke("Greeter", "greet", delay=timedelta(hours=1))
    stored.snapshot()
    versioning_clock.advance(timedelta(seconds=1))
    stored.register(V2, SDK_MANIFEST)
    stored.set_public("Signup", False)
    stored.suspend(first.id)
    stored.declare_caller("Greeter", "Signup/run")
    versioning_clock.advance(timedelta(seconds=1))
    stored.complete(stored.invoke("Greeter", "greet").id)


def format_1_state() -> Any:
    clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    stored = StoredRegistry(MemoryStorage(), clock=clock, ids=RandomIds(seed=7))
    format_1_script(stored, clock)
    return stored.registry.snapshot()


def _without_handler_types(snapshot: RegistrySnapshot) -> RegistrySnapshot:
    return attrs.evolve(
        snapshot,
        invocations=tuple(attrs.evolve(i, handler_type=None) for i in snapshot.invocations),
    )


@pytest.fixture
def format_1(tmp_path: Path) -> Path:
    path = tmp_path / "old.sqlite3"
    shutil.copy(FORMAT_1, path)
    return path


def test_a_store_of_format_1_opens_to_the_same_state_and_is_upgraded(format_1: Path) -> None:
    """Opening a store written by the release before checksums gives exactly its state, and
    upgrades it: every record and snapshot gets its checksum, the format becomes 2, and the
    next command is appended with a checksum too."""
    stored = StoredRegistry(SQLiteStorage(format_1))
    assert stored.version == 11
    # The release before did not record the handler type a call was sent with: calls from its
    # snapshot have none (the latest revision decides their queueing, as it did then).
    assert _without_handler_types(stored.registry.snapshot()) == _without_handler_types(
        format_1_state()
    )
    db = sqlite3.connect(format_1)
    assert db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone() == (
        str(STORE_FORMAT_VERSION),
    )
    assert db.execute("SELECT count(*) FROM records WHERE checksum IS NULL").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM snapshots WHERE checksum IS NULL").fetchone() == (0,)
    db.close()
    stored.invoke("Greeter", "greet")
    expected = stored.registry.snapshot()
    stored.close()
    again = StoredRegistry(SQLiteStorage(format_1))
    assert (again.version, again.registry.snapshot()) == (12, expected)
    again.close()


def test_a_damaged_store_of_format_1_is_not_upgraded(format_1: Path) -> None:
    """A format-1 record that does not read back refuses the upgrade and the file keeps its
    bytes."""
    db = sqlite3.connect(format_1)
    db.execute("UPDATE records SET body = '[[[' WHERE sequence = 3")
    db.commit()
    db.close()
    before = format_1.read_bytes()
    with pytest.raises(StorageError, match="record 3 is damaged") as caught:
        SQLiteStorage(format_1)
    assert caught.value.location == str(format_1)
    assert format_1.read_bytes() == before


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "registry.sqlite3"
    stored = StoredRegistry(SQLiteStorage(path), snapshot_every=3)
    deployment = stored.register(V1, SDK_MANIFEST).deployment
    call = stored.invoke("Greeter", "greet")
    stored.complete(call.id)  # a snapshot at 3
    stored.remove(deployment.id, force=True)
    stored._storage.close()
    return path


def rewrite(path: Path, sequence: int, change: Any, *, checksum: bool = False) -> None:
    """Change record ``sequence``'s body with ``change(body_text) -> text``; with
    ``checksum``, also give it the checksum of its new content (damage that a checksum cannot
    see, to reach the checks behind it)."""
    db = sqlite3.connect(path)
    at, command, body = db.execute(
        "SELECT at, command, body FROM records WHERE sequence = ?", (sequence,)
    ).fetchone()
    new = change(body)
    fields = "body = ?" + (", checksum = ?" if checksum else "")
    values: list[object] = [new]
    if checksum:
        values.append(record_checksum(sequence, at, command, new))
    db.execute(f"UPDATE records SET {fields} WHERE sequence = ?", (*values, sequence))
    db.commit()
    db.close()


def one_character(body: str) -> str:
    return body.replace('"force":true', '"force":fals').replace("fals", "false", 1)


def edit(change: Any) -> Any:
    def apply(body: str) -> str:
        data = json.loads(body)
        change(data)
        return json.dumps(data)

    return apply


DAMAGE = {
    "one-changed-character": (one_character, False, "its checksum does not match"),
    "a-missing-field": (edit(lambda d: d.pop("ids")), True, "its body has no ids"),
    "a-missing-argument": (
        edit(lambda d: d["arguments"].pop("force")),
        True,
        r"\(remove\) is damaged: the argument 'force' is missing",
    ),
    "force-yes": (
        edit(lambda d: d["arguments"].update(force="yes")),
        True,
        r"\(remove\) is damaged: expected bool, got 'yes' @ \$\.arguments\.force",
    ),
    "an-unknown-argument": (
        edit(lambda d: d["arguments"].update(extra=1)),
        True,
        r"\(remove\) is damaged: extra fields found \(extra\) @ \$\.arguments",
    ),
    "deep-nesting": (lambda body: "[" * 2000 + "]" * 2000, True, "nested deeper than 127"),
    "a-key-twice": (lambda body: body[:-1] + ',"ids":[]}', True, "appears twice"),
    "nan": (edit(lambda d: d.update(summary=float("nan"))), True, "NaN is not a JSON value"),
}


@pytest.mark.parametrize(("change", "with_checksum", "reason"), DAMAGE.values(), ids=DAMAGE)
def test_a_damaged_record_is_a_storage_error_naming_the_store_and_the_record(
    store: Path, change: Any, with_checksum: bool, reason: str
) -> None:
    rewrite(store, 4, change, checksum=with_checksum)
    with pytest.raises(StorageError, match=reason) as caught:
        StoredRegistry(SQLiteStorage(store))
    assert caught.value.location == str(store)
    assert "record 4" in caught.value.reason


def test_a_record_that_is_not_utf_8_is_a_storage_error(store: Path) -> None:
    db = sqlite3.connect(store)
    db.execute("UPDATE records SET body = CAST(X'7B22FF' AS TEXT) WHERE sequence = 4")
    db.commit()
    db.close()
    with pytest.raises(StorageError) as caught:
        StoredRegistry(SQLiteStorage(store))
    assert caught.value.location == str(store)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("UPDATE snapshots SET state = replace(state, 'completed', 'running')", "checksum"),
        ("UPDATE snapshots SET checksum = ''", "checksum"),
        ("UPDATE snapshots SET version = 9", "checksum"),
    ],
    ids=["one-changed-word", "no-checksum", "another-version"],
)
def test_a_damaged_snapshot_is_a_storage_error_naming_its_version(
    store: Path, change: str, reason: str
) -> None:
    db = sqlite3.connect(store)
    db.execute(change)
    db.commit()
    db.close()
    with pytest.raises(StorageError, match=reason) as caught:
        StoredRegistry(SQLiteStorage(store))
    assert caught.value.location == str(store)
    assert "snapshot of version" in caught.value.reason


def test_a_snapshot_newer_than_the_last_record_is_refused_on_open(store: Path) -> None:
    """A snapshot of version 9 in a store of 4 records (with a valid checksum) holds state
    no record journals: opening refuses it."""
    db = sqlite3.connect(store)
    (state,) = db.execute("SELECT state FROM snapshots WHERE version = 3").fetchone()
    db.execute("INSERT INTO snapshots VALUES (9, ?, ?)", (state, snapshot_checksum(9, state)))
    db.commit()
    db.close()
    with pytest.raises(StorageError, match="version 9 is newer than the last record") as caught:
        StoredRegistry(SQLiteStorage(store))
    assert caught.value.location == str(store)


def test_paths_that_are_not_a_store_are_storage_errors(tmp_path: Path) -> None:
    """A character device, a directory: StorageError naming the path; nothing is written."""
    for path in (Path("/dev/null"), tmp_path):
        with pytest.raises(StorageError, match="not a regular file") as caught:
            SQLiteStorage(path)
        assert caught.value.location == str(path)
    assert list(tmp_path.iterdir()) == []


FUZZ_FILES = 256


def test_randomly_damaged_files_open_to_a_storage_error_or_to_exactly_their_replay(
    store: Path, tmp_path: Path
) -> None:
    """Seeded random byte changes to a store file: each opens to a StorageError, or to a
    state that is exactly the replay of its records; never to another exception."""
    StoredRegistry(SQLiteStorage(store)).close()  # checkpointed into one file
    original = store.read_bytes()
    rng = random.Random(20261201)
    locations: set[str] = set()
    outcomes = {
        "StorageError": 0,
        "replays exactly": 0,
        "opens; damaged history before its snapshot is a StorageError": 0,
    }
    for n in range(FUZZ_FILES):
        damaged = bytearray(original)
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(100, len(damaged))] = rng.randrange(256)
        path = tmp_path / f"fuzz-{n}.sqlite3"
        path.write_bytes(bytes(damaged))
        try:
            opened = StoredRegistry(SQLiteStorage(path))
        except StorageError as exc:
            locations.add(exc.location)
            outcomes["StorageError"] += 1
            continue
        state, version = opened.registry.snapshot(), opened.version
        opened._storage.close()
        replayed = StoredRegistry(MemoryStorage())
        store_again = SQLiteStorage(path)
        try:  # the history before the snapshot is read (and checked) only when asked for
            replayed._replay(store_again.read(0))
        except StorageError as exc:
            locations.add(exc.location)
            outcomes["opens; damaged history before its snapshot is a StorageError"] += 1
            continue
        finally:
            store_again.close()
        assert (replayed.version, replayed.registry.snapshot()) == (version, state)
        outcomes["replays exactly"] += 1
    assert sum(outcomes.values()) == FUZZ_FILES, outcomes
    assert locations <= {str(tmp_path / f"fuzz-{n}.sqlite3") for n in range(FUZZ_FILES)}
    assert outcomes["StorageError"] > 0
