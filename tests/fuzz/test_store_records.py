"""Store records: a real SQLite store whose rows (record bodies, commands, times, sequence
numbers, snapshots, meta) are mutated, then opened with ``StoredRegistry``."""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from restate_versioning import StorageError
from restate_versioning.storage import SQLiteStorage, StoredRegistry

from ..helpers import SDK_MANIFEST
from . import _mutations, _tally

pytestmark = pytest.mark.fuzz

SURFACE = "store records"
_KEPT = ("meta", "records")


def _rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """What a refusal must leave as it was: the meta data and every record. (Snapshots are an
    optimisation: a store that opened, and then refused to read a damaged older record for
    its history, may snapshot the state it opened to when it closes.)"""
    with sqlite3.connect(path) as db:
        return {t: sorted(db.execute(f"SELECT * FROM {t}"), key=repr) for t in _KEPT}


@pytest.fixture(scope="module")
def template() -> Iterator[Path]:
    """A store with a snapshot and records after it: a registration, calls, a private service."""
    folder = Path(tempfile.mkdtemp(prefix="fuzz-store-"))
    path = folder / "template.db"
    with StoredRegistry(SQLiteStorage(path)) as stored:
        stored.register("http://127.0.0.1:9081", SDK_MANIFEST)
        call = stored.invoke("TicketObject", "reserve", key="k")
        stored.snapshot()
        stored.invoke("Greeter", "greet", caller="TicketObject/reserve")
        stored.complete(call.id)
        stored.set_public("Greeter", False)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    yield path
    shutil.rmtree(folder)


_COLUMNS = {
    "records": ["sequence", "at", "command", "body"],
    "snapshots": ["version", "state"],
    "meta": ["value"],
}
_ODD = st.one_of(
    _mutations.json_values.map(json.dumps),
    st.text(max_size=30),
    st.integers(),
    st.sampled_from(["", "NaN", "9999-12-31T23:59:59+00:00", "register", "remove", "[]", "{}"]),
)


@st.composite
def _mutation(draw: st.DrawFn) -> tuple[str, str, int, Any]:
    table = draw(st.sampled_from(sorted(_COLUMNS)))
    column = draw(st.sampled_from(_COLUMNS[table]))
    return table, column, draw(st.integers(0, 5)), draw(_ODD | st.just(None))


def _apply(data: st.DataObject, path: Path, table: str, column: str, row: int, value: Any) -> None:
    with sqlite3.connect(path) as db:
        key = "rowid"
        rows = [r[0] for r in db.execute(f"SELECT {key}, {column} FROM {table} ORDER BY {key}")]
        if not rows:
            return
        target = rows[row % len(rows)]
        if value is None:
            db.execute(f"DELETE FROM {table} WHERE {key} = ?", (target,))
            return
        (current,) = db.execute(f"SELECT {column} FROM {table} WHERE {key} = ?", (target,))
        if isinstance(current[0], str) and current[0][:1] in "{[" and isinstance(value, str):
            try:  # mutate the JSON inside as well as replacing it
                seed = json.loads(current[0])
            except ValueError:
                seed = None
            if seed is not None and len(value) % 2 == 0:
                value = json.dumps(data.draw(_mutations.mutated_values(seed)))
        with contextlib.suppress(sqlite3.IntegrityError, OverflowError):  # taken twice, too big
            db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (value, target))


def _open(path: Path) -> None:
    with StoredRegistry(SQLiteStorage(path, create=False)) as stored:
        stored.history()
        stored.registry.verify()


def test_a_store_with_mutated_records_opens_or_is_refused_with_storage_error(
    template: Path, tmp_path: Path
) -> None:
    """A store whose rows were changed opens (its history and registry readable), or is refused
    with ``StorageError`` and its rows exactly as they were, within the time bound."""

    @given(mutations=st.lists(_mutation(), min_size=1, max_size=3), data=st.data())
    @_tally.settings_for(SURFACE)
    def one_store(mutations: list[tuple[str, str, int, Any]], data: st.DataObject) -> None:
        path = tmp_path / "store.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(template, path)
        for mutation in mutations:
            _apply(data, path, *mutation)
        _tally.attempt(
            SURFACE, mutations, lambda: _open(path), (StorageError,), state=lambda: _rows(path)
        )

    one_store()
    _tally.check(SURFACE)
