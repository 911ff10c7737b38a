"""Storage figures for ``make bench``: commands per second through each adapter, batched and
not, and the time to open a store holding 100,000 commands."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from restate_versioning import SequentialIds
from restate_versioning.storage import MemoryStorage, SQLiteStorage, Storage, StoredRegistry

MANIFEST: dict[str, Any] = {
    "protocolMode": "REQUEST_RESPONSE",
    "minProtocolVersion": 5,
    "maxProtocolVersion": 7,
    "services": [{"name": "Greeter", "ty": "SERVICE", "handlers": [{"name": "greet"}]}],
}
BATCH = 100  # commands per batch in the batched figure


def _ready(storage: Storage) -> StoredRegistry:
    stored = StoredRegistry(storage, ids=SequentialIds())
    stored.register("http://127.0.0.1:9081", MANIFEST)
    return stored


def commands_per_second(make: Callable[[], Storage], commands: int, batched: bool) -> float:
    """Invoke + complete pairs through a StoredRegistry, each command its own append or
    :data:`BATCH` commands to an append; commands per second."""
    stored = _ready(make())
    pairs = commands // 2
    started = time.perf_counter()
    if batched:
        for _ in range(pairs // (BATCH // 2)):
            with stored.batch():
                for _ in range(BATCH // 2):
                    stored.complete(stored.invoke("Greeter", "greet").id)
    else:
        for _ in range(pairs):
            stored.complete(stored.invoke("Greeter", "greet").id)
    elapsed = time.perf_counter() - started
    stored.close()
    return pairs * 2 / elapsed


def open_seconds(path: Path, commands: int) -> tuple[float, float]:
    """Write ``commands`` commands to a SQLite store, then time opening it: after a crash
    (no final snapshot: the records since the last periodic snapshot are replayed) and after
    a clean close. Best of three opens each."""
    writer = _ready(SQLiteStorage(path))
    while writer.version < commands:
        with writer.batch():
            for _ in range(250):
                writer.complete(writer.invoke("Greeter", "greet").id)

    def best_open() -> float:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            opened = StoredRegistry(SQLiteStorage(path))
            best = min(best, time.perf_counter() - started)
            if opened.version != writer.version:
                raise RuntimeError("benchmark premise failed: the reopened store is complete")
        return best

    after_crash = best_open()
    writer.close()
    return after_crash, best_open()


def sqlite_factory(directory: Path) -> Callable[[], Storage]:
    counter = iter(range(1_000_000))
    return lambda: SQLiteStorage(directory / f"bench-{next(counter)}.db")


def postgres_figures(commands: int) -> tuple[dict[str, float], str]:
    """PostgreSQL's figures, on a throwaway server on 127.0.0.1 (the tests' helper), or none
    and the reason there is no PostgreSQL to measure."""
    sys.path.insert(0, str(Path(__file__).parent.parent))
    try:
        from tests.postgres_server import PostgresServer, PostgresUnavailable, fresh_prefix

        from restate_versioning.storage.postgres import PostgresStorage
    except ImportError as exc:
        return {}, f"not measured: {exc}"
    finally:
        sys.path.pop(0)
    try:
        server = PostgresServer.start()
    except PostgresUnavailable as exc:
        return {}, f"not measured: {exc}"
    try:

        def make() -> Storage:
            return PostgresStorage(server.dsn, table_prefix=fresh_prefix())

        return {
            "postgres, unbatched": commands_per_second(make, commands, False),
            "postgres, batched": commands_per_second(make, commands, True),
        }, "a throwaway PostgreSQL on 127.0.0.1 (fsync off)"
    finally:
        server.stop()


def run_storage(commands: int, open_commands: int) -> tuple[dict[str, float], str]:
    """Every storage figure, by name, and how PostgreSQL was measured."""
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        figures = {
            "memory, unbatched": commands_per_second(MemoryStorage, commands, False),
            "memory, batched": commands_per_second(MemoryStorage, commands, True),
            "sqlite, unbatched": commands_per_second(sqlite_factory(directory), commands, False),
            "sqlite, batched": commands_per_second(sqlite_factory(directory), commands, True),
        }
        crash, clean = open_seconds(directory / "open.db", open_commands)
        figures["open after a crash"] = crash
        figures["open after close"] = clean
    postgres, how = postgres_figures(commands)
    figures.update(postgres)
    return figures, how
