"""A store written by the release before commands became values (journal format 1: per-command
arguments, ``delay_us``, ``service`` for ``set_public``) opens with the same state, and new
commands are journaled in format 2 on top of it."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from restate_versioning import SequentialIds
from restate_versioning.commands import COMMANDS, Invoke, SetPublic
from restate_versioning.serialization import JOURNAL_FORMAT, command_from_arguments, dumps
from restate_versioning.storage import SQLiteStorage, StoredRegistry

from .helpers import DATA

RECORDED = DATA / "store-journal-1.sqlite3"
#: The commands a store of format 1 cannot hold: they came later, and changed no other.
ADDED_SINCE = {"purge", "set_options", "update_deployment"}
RECORDED_STATE = DATA / "store-journal-1.state.json"


def test_a_store_of_journal_format_1_opens_with_the_state_it_was_written_with(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.sqlite3"
    shutil.copy(RECORDED, path)
    stored = StoredRegistry(SQLiteStorage(path), ids=SequentialIds(start=1000))
    history = stored.history()
    assert {r.journal for r in history} == {1}
    # every command of format 1; the ones added since format 2 are new, not changed
    assert {r.command for r in history} == set(COMMANDS) - ADDED_SINCE
    assert dumps(stored.registry, indent=1) + "\n" == RECORDED_STATE.read_text()
    assert stored.registry.verify() == ()
    stored.set_public("Greeter", False)
    assert stored.history()[-1].journal == JOURNAL_FORMAT
    state = dumps(stored.registry)
    stored.close()
    reopened = StoredRegistry(SQLiteStorage(path))
    assert dumps(reopened.registry) == state
    reopened.close()


def test_format_1_arguments_read_as_the_commands_they_were() -> None:
    """``delay_us`` is Invoke's ``delay``, ``service`` SetPublic's ``name``."""
    assert command_from_arguments(
        "invoke",
        {"service": "S", "handler": "h", "key": None, "caller": None, "delay_us": 5},
        journal=1,
    ) == Invoke("S", "h", delay=timedelta(microseconds=5))
    assert command_from_arguments("set_public", {"service": "S", "public": True}, 1) == SetPublic(
        "S", True
    )
