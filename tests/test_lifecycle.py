"""The invocation lifecycle as restate-server 1.7.12 runs it, on the model; each rule here is
pinned on the real server too, in ``tests/test_lifecycle_server.py``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from restate_versioning import InvalidTransition, InvocationStatus, ManualClock, Registry
from restate_versioning.rules.invocations import (
    HANDLER_NOT_FOUND,
    HANDLER_NOT_FOUND_CODE,
    NO_DEPLOYMENT_CODE,
)

from .conftest import handler, manifest, service

S = InvocationStatus
V1, V2 = "http://127.0.0.1:9181", "http://127.0.0.1:9182"


def objects(h1: str = "EXCLUSIVE", *, h2: bool = True) -> dict[str, Any]:
    """``B``: an exclusive ``hold`` that keeps its key, ``h1`` of the given type, and ``h2``."""
    handlers = [handler("hold", "EXCLUSIVE"), handler("h1", h1)]
    if h2:
        handlers.append(handler("h2", "EXCLUSIVE"))
    return manifest(service("B", "VIRTUAL_OBJECT", handlers))


def test_a_call_waiting_on_its_key_stays_queued_when_its_handler_becomes_shared(
    registry: Registry, clock: ManualClock
) -> None:
    registry.register(V1, objects("EXCLUSIVE"))
    holder = registry.invoke("B", "hold", key="k1")
    waiting = registry.invoke("B", "h1", key="k1")
    delayed = registry.invoke("B", "h1", key="k1", delay=timedelta(seconds=3))
    v2 = registry.register(V2, objects("SHARED")).deployment.id
    clock.advance(timedelta(seconds=3))
    (due,) = registry.start_due()
    assert (due.id, due.status) == (delayed.id, S.PENDING)
    assert registry.invocation(waiting.id).status is S.PENDING
    registry.kill(holder.id)
    first = registry.invocation(waiting.id)
    assert (first.status, first.pinned_deployment_id) == (S.RUNNING, v2)
    assert registry.invocation(delayed.id).status is S.PENDING  # sent exclusive: one at a time


def test_a_call_sent_to_a_shared_handler_runs_at_once_when_it_becomes_exclusive(
    registry: Registry, clock: ManualClock
) -> None:
    registry.register(V1, objects("SHARED"))
    registry.invoke("B", "hold", key="k1")
    delayed = registry.invoke("B", "h1", key="k1", delay=timedelta(seconds=3))
    v2 = registry.register(V2, objects("EXCLUSIVE")).deployment.id
    clock.advance(timedelta(seconds=3))
    (due,) = registry.start_due()
    assert (due.id, due.status, due.pinned_deployment_id) == (delayed.id, S.RUNNING, v2)


def test_a_due_call_on_a_held_key_waits_even_if_its_service_has_no_deployment_left(
    registry: Registry, clock: ManualClock
) -> None:
    only = registry.register(V1, objects()).deployment.id
    holder = registry.invoke("B", "hold", key="k1")
    delayed = registry.invoke("B", "h1", key="k1", delay=timedelta(seconds=3))
    free = registry.invoke("B", "h1", key="k9", delay=timedelta(seconds=3))
    registry.remove(only, force=True)
    clock.advance(timedelta(seconds=3))
    moved = {i.id: i for i in registry.start_due()}
    assert moved[delayed.id].status is S.PENDING
    failed = moved[free.id]
    assert (failed.status, failed.pinned_deployment_id) == (S.BACKING_OFF, None)
    assert failed.last_failure is not None
    assert failed.last_failure.code == NO_DEPLOYMENT_CODE
    assert registry.locked_keys() == (("B", "k1", holder.id, 1), ("B", "k9", free.id, 0))


def test_a_due_call_whose_handler_is_gone_fails_its_attempt_unpinned_until_it_is_back(
    registry: Registry, clock: ManualClock
) -> None:
    registry.register(V1, objects())
    delayed = registry.invoke("B", "h2", key="k2", delay=timedelta(seconds=2))
    registry.register(V2, objects(h2=False))
    clock.advance(timedelta(seconds=2))
    (failed,) = registry.start_due()
    assert (failed.status, failed.pinned_deployment_id) == (S.BACKING_OFF, None)
    assert failed.last_failure is not None
    assert (failed.last_failure.code, failed.last_failure.message) == (
        HANDLER_NOT_FOUND_CODE,
        HANDLER_NOT_FOUND,
    )
    assert registry.locked_keys() == (("B", "k2", delayed.id, 0),)
    assert registry.resume(delayed.id).status is S.BACKING_OFF  # still no h2 in the latest
    v3 = registry.register("http://127.0.0.1:9183", objects()).deployment.id
    retried = registry.resume(delayed.id)
    assert (retried.status, retried.pinned_deployment_id, retried.last_failure) == (
        S.RUNNING,
        v3,
        None,
    )


def test_what_the_server_answers_with_200_and_no_change_changes_nothing(
    registry: Registry,
) -> None:
    """Resuming a running call where it runs, pausing a suspended or paused one: the server
    answers 200 and leaves the call as it is (``tests/test_lifecycle_server.py``)."""
    registry.register(V1, objects())
    running = registry.invoke("B", "hold", key="k1")
    suspended = registry.suspend(registry.invoke("B", "hold", key="k2").id)
    paused = registry.pause(registry.invoke("B", "hold", key="k3").id)
    before = registry.snapshot()
    changes = registry.changes
    assert registry.resume(running.id) == running
    assert registry.pause(suspended.id) == suspended
    assert registry.pause(paused.id) == paused
    assert (registry.snapshot(), registry.changes) == (before, changes)


@pytest.mark.parametrize("where", ["latest", "own"])
def test_moving_a_running_call_is_refused_as_the_server_answers_409(
    registry: Registry, where: str
) -> None:
    v1 = registry.register(V1, objects()).deployment.id
    running = registry.invoke("B", "hold", key="k1")
    before = registry.snapshot()
    with pytest.raises(InvalidTransition, match="cannot move"):
        registry.resume(running.id, deployment="latest" if where == "latest" else v1)
    assert registry.snapshot() == before
