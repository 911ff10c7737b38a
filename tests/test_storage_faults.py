"""Stores under real faults: writers in several processes at once, and a writer killed with
SIGKILL in the middle of its commands. Run on SQLite and on PostgreSQL.

What must hold: no committed command is lost or applied twice, the records number 1..N
without gaps, reopening gives exactly the state of replaying the committed records, and a new
writer can go on.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable, Sequence
from multiprocessing.synchronize import Barrier as BarrierType
from pathlib import Path
from typing import Any

import pytest

from restate_versioning.serialization import dumps, loads
from restate_versioning.storage import (
    CommandRecord,
    Snapshot,
    SQLiteStorage,
    Storage,
    StoredRegistry,
    StoredState,
)

from .helpers import STORE_KINDS, manifest, new_store, service

#: Which store, and where: ("sqlite", path, "") or ("postgres", dsn, table prefix). Plain
#: strings, so that a child process can be handed it.
StoreSpec = tuple[str, str, str]

MANIFEST = manifest(service("Greeter"), service("Ticket", "VIRTUAL_OBJECT"))
WRITERS = 3
COMMANDS = 200
SHARED_KEY = "shared"
SPAWN = multiprocessing.get_context("spawn")


def open_store(spec: StoreSpec) -> Storage:
    kind, where, prefix = spec
    if kind == "sqlite":
        return SQLiteStorage(where)
    from restate_versioning.storage.postgres import PostgresStorage

    return PostgresStorage(where, table_prefix=prefix)


class WithoutSnapshots:
    """A store seen as if it had no snapshots: opening it replays every record from 1."""

    def __init__(self, store: Storage) -> None:
        self._store = store

    def load(self) -> StoredState:
        return StoredState(None, self._store.read(0))

    def read(self, after: int) -> tuple[CommandRecord, ...]:
        return self._store.read(after)

    def append(self, records: Sequence[CommandRecord], expected_version: int) -> int:
        return self._store.append(records, expected_version)

    def save_snapshot(self, snapshot: Snapshot) -> None:
        pass

    def history(self, after: int = 0, limit: int | None = None) -> tuple[CommandRecord, ...]:
        return self._store.history(after, limit)

    def close(self) -> None:
        self._store.close()


@pytest.fixture(params=STORE_KINDS)
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSpec:
    return new_store(request.param, request, tmp_path)


def what_it_did(record: CommandRecord) -> tuple[str, str]:
    """A record as (command, what it was about): unique for every command these tests run."""
    if record.command == "register":
        return ("register", record.arguments["endpoint"])
    if record.command == "invoke":
        return ("invoke", record.ids[0])
    return (record.command, record.arguments["invocation_id"])


def replayed_from_scratch(spec: StoreSpec) -> Any:
    replay = StoredRegistry(WithoutSnapshots(open_store(spec)))
    state = replay.registry.snapshot()
    replay.close()
    return state


def check_committed_state(spec: StoreSpec) -> tuple[StoredRegistry, tuple[CommandRecord, ...]]:
    """Open the store: its records number 1..N, and the state it opens to is the replay of
    all of them from scratch (and survives a serialization round trip)."""
    stored = StoredRegistry(open_store(spec))
    history = stored.history()
    assert [r.sequence for r in history] == list(range(1, len(history) + 1))
    assert stored.version == len(history)
    state = stored.registry.snapshot()
    assert replayed_from_scratch(spec) == state
    independent = StoredRegistry(open_store(spec))
    assert independent.registry.snapshot() == state
    independent.close()
    assert loads(dumps(stored.registry)).snapshot() == state
    return stored, history


# --- concurrent writers --------------------------------------------------------------------


def concurrent_writer(
    spec: StoreSpec, child: int, commands: int, report: str, start: BarrierType
) -> None:
    """One of several processes writing to one store at once (they all ``start`` together,
    once every one has opened the store): registers its own endpoint,
    then calls Greeter (completing, killing or leaving each call running) and, every tenth
    command, the exclusive Ticket/reserve on a key all writers share, completing those calls
    as they start. It writes what it did and the status it left each call in to ``report``."""
    stored = StoredRegistry(open_store(spec), snapshot_every=25)
    start.wait(30)
    done: list[tuple[str, str]] = []
    waiting: list[str] = []  # our exclusive calls, not yet completed

    def finish_started() -> None:
        for invocation_id in list(waiting):
            if stored.registry.invocation(invocation_id).status.value == "running":
                stored.complete(invocation_id)
                done.append(("complete", invocation_id))
                waiting.remove(invocation_id)

    endpoint = f"http://127.0.0.1:{9100 + child}"
    stored.register(endpoint, MANIFEST)
    done.append(("register", endpoint))
    step = 0
    while len(done) < commands:
        step += 1
        if step % 10 == 0:
            call = stored.invoke("Ticket", "reserve", key=SHARED_KEY)
            done.append(("invoke", call.id))
            waiting.append(call.id)
        else:
            call = stored.invoke("Greeter", "greet")
            done.append(("invoke", call.id))
            if step % 7 == 0:
                pass  # left running
            elif step % 11 == 0:
                stored.kill(call.id)
                done.append(("kill", call.id))
            else:
                stored.complete(call.id)
                done.append(("complete", call.id))
        finish_started()
    deadline = time.monotonic() + 30
    while waiting and time.monotonic() < deadline:  # the others free the key as they go
        time.sleep(0.005)
        stored.refresh()
        finish_started()
    statuses = {
        subject: stored.registry.invocation(subject).status.value
        for command, subject in done
        if command == "invoke"
    }
    stored.close()
    Path(report).write_text(json.dumps({"done": done, "statuses": statuses}))


def test_concurrent_writers_lose_nothing_and_agree_on_the_state(
    spec: StoreSpec, tmp_path: Path
) -> None:
    """Three processes, each with its own StoredRegistry, run 200 commands on one store at
    once. Every command each of them made is committed exactly once, in the order it made
    them, and every invocation has the status its writer left it in."""
    open_store(spec).close()  # create the store before the race
    reports = [tmp_path / f"writer-{child}.json" for child in range(WRITERS)]
    start = SPAWN.Barrier(WRITERS)
    writers = [
        SPAWN.Process(target=concurrent_writer, args=(spec, child, COMMANDS, str(report), start))
        for child, report in enumerate(reports)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(45)
    for writer in writers:
        if writer.is_alive():
            writer.kill()
    assert [writer.exitcode for writer in writers] == [0] * WRITERS
    results = [json.loads(report.read_text()) for report in reports]

    stored, history = check_committed_state(spec)
    committed = [what_it_did(record) for record in history]
    made = [tuple(item) for result in results for item in result["done"]]
    assert Counter(committed) == Counter(made), "every command committed exactly once"
    writer_of = {tuple(item): n for n, result in enumerate(results) for item in result["done"]}
    turns = [writer_of[item] for item in committed]
    switches = sum(1 for a, b in itertools.pairwise(turns) if a != b)
    assert switches > WRITERS - 1, "the writers' commands interleave: they ran at once"
    position = {item: sequence for sequence, item in enumerate(committed, start=1)}
    for result in results:
        sequences = [position[tuple(item)] for item in result["done"]]
        assert sequences == sorted(sequences), "each writer's commands in its order"
        for invocation_id, status in result["statuses"].items():
            assert stored.registry.invocation(invocation_id).status.value == status
    assert all(len(result["done"]) >= COMMANDS for result in results)
    stored.close()


# --- a writer killed mid-command -----------------------------------------------------------


def endless_writer(spec: StoreSpec, batch: int, ready: str) -> None:
    """Write commands until killed: invoke and complete pairs, one command per append, or
    ``batch`` commands per ``with stored.batch():``. Touches ``ready`` once some are
    committed."""
    stored = StoredRegistry(open_store(spec))
    stored.register("http://127.0.0.1:9200", MANIFEST)
    step = 0

    def some(commands: int) -> None:
        nonlocal step
        for _ in range(commands // 2):
            step += 1
            if step % 5 == 0:
                call = stored.invoke("Ticket", "reserve", key=f"k{step % 3}")
            else:
                call = stored.invoke("Greeter", "greet")
            stored.complete(call.id)

    while True:
        if batch:
            with stored.batch():
                some(batch)
        else:
            some(2)
        if step >= 5:
            Path(ready).touch(exist_ok=True)


@pytest.mark.parametrize("batch", [0, 100], ids=["unbatched", "batches-of-100"])
def test_a_writer_killed_mid_command_leaves_exactly_its_committed_commands(
    spec: StoreSpec, tmp_path: Path, batch: int
) -> None:
    """SIGKILL a process in the middle of writing: the store opens to exactly the replay of
    the records committed before the kill (a batch is all there or not at all), and a new
    writer goes on from there."""
    ready = tmp_path / "ready"
    writer = SPAWN.Process(target=endless_writer, args=(spec, batch, str(ready)))
    writer.start()
    wait_for(lambda: ready.exists() or not writer.is_alive(), 30)
    assert writer.is_alive(), f"the writer died by itself (exit {writer.exitcode})"
    time.sleep(0.5)
    writer.kill()  # SIGKILL
    writer.join(10)
    assert writer.exitcode == -9

    stored, history = check_committed_state(spec)
    assert len(history) > 1
    if batch:
        assert (len(history) - 1) % batch == 0, "a batch is committed whole or not at all"
    registry = stored.registry
    for record in history[1:]:
        kind, invocation_id = what_it_did(record)
        status = registry.invocation(invocation_id).status.value
        if kind == "complete":
            assert status == "completed"
    invoked = {what_it_did(r)[1] for r in history if r.command == "invoke"}
    assert {i.id for i in registry.invocations()} == invoked

    version = stored.version
    call = stored.invoke("Greeter", "greet")
    stored.complete(call.id)
    assert stored.version == version + 2
    expected = stored.registry.snapshot()
    stored.close()
    again, _ = check_committed_state(spec)
    assert again.registry.snapshot() == expected
    again.close()


def wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {seconds} s")
        time.sleep(0.01)
