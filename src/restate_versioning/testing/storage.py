"""The storage conformance kit: run it on any :class:`~restate_versioning.storage.Storage`.

``check_storage(make_storage)`` calls ``make_storage()`` for a fresh, empty store each time it
needs one, and ``make_storage.reopen(store)`` where given (or ``make_storage()`` again for stores
that share their backing, such as a file path it closes over) to open the same store again. It
raises ``AssertionError`` naming the broken guarantee, and imports no test framework, so it runs
under pytest, unittest or a plain script. This library runs it on its own adapters.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import ConcurrentModification
from ..ids import RandomIds
from ..storage.base import CommandRecord, Snapshot, Storage
from ..storage.stored import StoredRegistry

__all__ = ["check_storage"]

_T0 = datetime(2026, 1, 1, tzinfo=UTC)

MANIFEST: dict[str, Any] = {
    "protocolMode": "REQUEST_RESPONSE",
    "minProtocolVersion": 5,
    "maxProtocolVersion": 7,
    "services": [
        {"name": "Greeter", "ty": "SERVICE", "handlers": [{"name": "greet"}]},
        {
            "name": "Ticket",
            "ty": "VIRTUAL_OBJECT",
            "handlers": [{"name": "reserve", "ty": "EXCLUSIVE"}],
        },
    ],
}


def _record(sequence: int, command: str = "declare_caller", **arguments: Any) -> CommandRecord:
    return CommandRecord(
        sequence,
        _T0 + timedelta(milliseconds=sequence),
        command,
        arguments or {"service": "S", "caller": f"C{sequence}/h", "nested": {"a": [1, None]}},
        (f"id-{sequence}",),
        f"record {sequence}",
        2,  # the journal format comes back too
    )


def _expect(condition: bool, guarantee: str) -> None:
    if not condition:
        raise AssertionError(f"storage contract broken: {guarantee}")


def _expect_conflict(action: Callable[[], object], guarantee: str) -> None:
    try:
        action()
    except ConcurrentModification:
        return
    raise AssertionError(f"storage contract broken: {guarantee}")


def check_storage(
    make_storage: Callable[[], Storage],
    *,
    reopen: Callable[[Storage], Storage] | None = None,
    large: int = 2_000,
) -> None:
    """Check every guarantee of the :class:`Storage` contract on stores from
    ``make_storage``; ``reopen(store)`` closes ``store`` and opens the same one again (omit it
    for a store that cannot be reopened, such as an in-memory one)."""
    _check_append_and_read(make_storage())
    _check_version_conflicts(make_storage())
    _check_atomic_batches(make_storage())
    _check_snapshots(make_storage())
    _check_history(make_storage())
    _check_stored_registry(make_storage, reopen)
    if reopen is not None:
        _check_reopen(make_storage(), reopen)
    _check_large_state(make_storage, reopen, large)


def _check_append_and_read(store: Storage) -> None:
    _expect(store.load().records == () and store.load().snapshot is None, "a new store is empty")
    _expect(store.append([_record(1)], 0) == 1, "append returns the new version")
    _expect(store.append([_record(2), _record(3)], 1) == 3, "append of several records")
    records = store.read(0)
    _expect([r.sequence for r in records] == [1, 2, 3], "read returns every record in order")
    _expect(records[0] == _record(1), "a record reads back exactly as it was appended")
    _expect([r.sequence for r in store.read(2)] == [3], "read(after) starts after `after`")
    _expect(store.read(3) == (), "nothing after the last record")
    _expect(store.load().version == 3, "load reports the version")
    store.close()


def _check_version_conflicts(store: Storage) -> None:
    store.append([_record(1)], 0)
    _expect_conflict(lambda: store.append([_record(1)], 0), "an append at a stale version fails")
    _expect_conflict(lambda: store.append([_record(3)], 2), "an append ahead of the store fails")
    _expect([r.sequence for r in store.read(0)] == [1], "a refused append writes nothing")
    store.close()


def _check_atomic_batches(store: Storage) -> None:
    store.append([_record(1)], 0)
    try:
        store.append([_record(2), _record(4)], 1)
    except (ValueError, ConcurrentModification):
        pass
    else:
        raise AssertionError("storage contract broken: records with a gap are refused")
    _expect([r.sequence for r in store.read(0)] == [1], "a refused batch writes none of it")
    store.append([_record(n) for n in range(2, 52)], 1)
    _expect(len(store.read(0)) == 51, "a batch is written whole")
    store.close()


def _check_snapshots(store: Storage) -> None:
    store.append([_record(n) for n in range(1, 6)], 0)
    store.save_snapshot(Snapshot(3, json.dumps({"at": 3})))
    state = store.load()
    _expect(state.snapshot == Snapshot(3, json.dumps({"at": 3})), "load returns the snapshot")
    _expect([r.sequence for r in state.records] == [4, 5], "load returns records after it")
    store.save_snapshot(Snapshot(5, "{}"))
    _expect(store.load().records == (), "a snapshot of the last version leaves no records")
    _expect(store.load().version == 5, "the version survives a snapshot")
    try:
        store.save_snapshot(Snapshot(9, "{}"))
    except ValueError:
        pass
    else:
        raise AssertionError("storage contract broken: a snapshot ahead of the records")
    _expect(len(store.history()) == 5, "snapshots never drop history")
    store.close()


def _check_history(store: Storage) -> None:
    store.append([_record(n) for n in range(1, 11)], 0)
    _expect([r.sequence for r in store.history(after=4, limit=3)] == [5, 6, 7], "history pages")
    _expect(len(store.history()) == 10, "history has every record")
    store.close()


def _check_reopen(store: Storage, reopen: Callable[[Storage], Storage]) -> None:
    store.append([_record(n) for n in range(1, 4)], 0)
    store.save_snapshot(Snapshot(2, "{}"))
    again = reopen(store)
    state = again.load()
    _expect(state.snapshot == Snapshot(2, "{}"), "a reopened store keeps its snapshot")
    _expect([r.sequence for r in state.records] == [3], "a reopened store keeps its records")
    _expect(again.read(0)[2] == _record(3), "records read back exactly after a reopen")
    again.close()


def _fill(stored: StoredRegistry, commands: int) -> None:
    stored.register("http://127.0.0.1:9081", MANIFEST)
    for n in range(commands):
        if n % 50 == 0:
            stored.register(f"http://127.0.0.1:9081/{n}", MANIFEST)
        invocation = stored.invoke("Ticket", "reserve", key=f"k{n % 7}")
        if invocation.status.value == "running":
            stored.complete(invocation.id)


def _check_stored_registry(
    make_storage: Callable[[], Storage], reopen: Callable[[Storage], Storage] | None
) -> None:
    store = make_storage()
    first = StoredRegistry(store, ids=RandomIds(seed=1))
    _fill(first, 40)
    expected = first.registry.snapshot()
    second = StoredRegistry(store, ids=RandomIds(seed=2))
    _expect(second.registry.snapshot() == expected, "a second registry sees the committed state")
    third_call = first.invoke("Greeter", "greet")
    second.invoke("Greeter", "greet")  # based on a stale version: catches up, then appends
    _expect(
        second.registry.invocation(third_call.id).id == third_call.id,
        "a writer catches up on what another committed before it appends",
    )
    first.refresh()
    _expect(first.registry.snapshot() == second.registry.snapshot(), "writers converge")
    history = second.history()
    _expect(len(history) == second.version, "every change is one history record")
    _expect(history[-1].command == "invoke", "history names the command")
    if reopen is not None:
        reopened = StoredRegistry(reopen(store))
        _expect(
            reopened.registry.snapshot() == second.registry.snapshot(),
            "reopening gives exactly the committed state",
        )
        reopened.close()
    else:
        store.close()


def _check_large_state(
    make_storage: Callable[[], Storage],
    reopen: Callable[[Storage], Storage] | None,
    large: int,
) -> None:
    store = make_storage()
    stored = StoredRegistry(store, ids=RandomIds(seed=3), snapshot_every=large // 3)
    with stored.batch():
        _fill(stored, large)
    expected = stored.registry.snapshot()
    _expect(stored.version >= large, "a large batch is committed")
    again = StoredRegistry(reopen(store) if reopen is not None else store)
    _expect(again.registry.snapshot() == expected, "a large state reloads exactly")
    again.close()
