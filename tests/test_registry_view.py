"""``StoredRegistry.registry`` is a read-only view: it answers every query of the registry and
refuses every command, so that none skips the journal."""

from __future__ import annotations

import pytest

from restate_versioning import Registry, SequentialIds
from restate_versioning.queries import QUERIES, ReadOnly, read_only
from restate_versioning.storage import MemoryStorage, StoredRegistry

from .helpers import SDK_MANIFEST, V1

COMMANDS = (
    "register",
    "promote",
    "set_public",
    "remove",
    "declare_caller",
    "forget_caller",
    "invoke",
    "start_due",
    "pin",
    "suspend",
    "fail",
    "pause",
    "resume",
    "complete",
    "kill",
)


def test_the_view_of_a_stored_registry_refuses_every_command_and_changes_nothing() -> None:
    stored = StoredRegistry(MemoryStorage(), ids=SequentialIds())
    stored.register(V1, SDK_MANIFEST)
    before, history = stored.registry.snapshot(), stored.history()
    for command in COMMANDS:
        with pytest.raises(ReadOnly, match=repr(command)):
            getattr(stored.registry, command)
    with pytest.raises(ReadOnly, match="'_deployments'"):
        getattr(stored.registry, "_deployments")  # noqa: B009 -- the state behind it is kept
    with pytest.raises(ReadOnly):
        stored.registry.changes = 0  # type: ignore[misc]
    assert stored.registry.snapshot() == before
    assert stored.history() == history


def test_the_view_answers_every_query_as_the_registry_does() -> None:
    registry = Registry(ids=SequentialIds())
    deployment = registry.register(V1, SDK_MANIFEST).deployment
    call = registry.invoke("Greeter", "greet")
    view = read_only(registry)
    assert QUERIES.isdisjoint(COMMANDS)
    assert view.snapshot() == registry.snapshot()
    assert view.services() == registry.services()
    assert view.invocation(call.id) == call
    assert view.active_invocations(deployment.id) == 1
    assert view.changes == registry.changes
    registry.complete(call.id)
    assert view.invocation(call.id).status is registry.invocation(call.id).status
