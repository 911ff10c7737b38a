"""The invocation lifecycle as restate-server 1.7.12 runs it, on the model; each rule here is
pinned on the real server too, in ``tests/test_lifecycle_server.py``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from restate_versioning import (
    Failure,
    InvalidInvocation,
    InvalidTransition,
    InvocationNotFound,
    InvocationStatus,
    ManualClock,
    Registry,
    SequentialIds,
)
from restate_versioning.rules.invocations import (
    HANDLER_NOT_FOUND,
    HANDLER_NOT_FOUND_CODE,
    NO_DEPLOYMENT_CODE,
    can_run,
)
from restate_versioning.serialization import dumps, loads
from restate_versioning.storage import SQLiteStorage, StoredRegistry

from .helpers import SDK_MANIFEST, handler, manifest, service

S = InvocationStatus
V1, V2 = "http://127.0.0.1:9181", "http://127.0.0.1:9182"


def objects(h1: str = "EXCLUSIVE", *, h2: bool = True) -> dict[str, Any]:
    """``B``: an exclusive ``hold`` that keeps its key, ``h1`` of the given type, and ``h2``."""
    handlers = [handler("hold", "EXCLUSIVE"), handler("h1", h1)]
    if h2:
        handlers.append(handler("h2", "EXCLUSIVE"))
    return manifest(service("B", "VIRTUAL_OBJECT", handlers))


def test_a_call_waiting_on_its_key_stays_queued_when_its_handler_becomes_shared(
    registry: Registry, versioning_clock: ManualClock
) -> None:
    registry.register(V1, objects("EXCLUSIVE"))
    holder = registry.invoke("B", "hold", key="k1")
    waiting = registry.invoke("B", "h1", key="k1")
    delayed = registry.invoke("B", "h1", key="k1", delay=timedelta(seconds=3))
    v2 = registry.register(V2, objects("SHARED")).deployment.id
    versioning_clock.advance(timedelta(seconds=3))
    (due,) = registry.start_due()
    assert (due.id, due.status) == (delayed.id, S.PENDING)
    assert registry.invocation(waiting.id).status is S.PENDING
    registry.kill(holder.id)
    first = registry.invocation(waiting.id)
    assert (first.status, first.pinned_deployment_id) == (S.RUNNING, v2)
    assert registry.invocation(delayed.id).status is S.PENDING  # sent exclusive: one at a time


def test_a_call_sent_to_a_shared_handler_runs_at_once_when_it_becomes_exclusive(
    registry: Registry, versioning_clock: ManualClock
) -> None:
    registry.register(V1, objects("SHARED"))
    registry.invoke("B", "hold", key="k1")
    delayed = registry.invoke("B", "h1", key="k1", delay=timedelta(seconds=3))
    v2 = registry.register(V2, objects("EXCLUSIVE")).deployment.id
    versioning_clock.advance(timedelta(seconds=3))
    (due,) = registry.start_due()
    assert (due.id, due.status, due.pinned_deployment_id) == (delayed.id, S.RUNNING, v2)


def test_a_due_call_on_a_held_key_waits_even_if_its_service_has_no_deployment_left(
    registry: Registry, versioning_clock: ManualClock
) -> None:
    only = registry.register(V1, objects()).deployment.id
    holder = registry.invoke("B", "hold", key="k1")
    delayed = registry.invoke("B", "h1", key="k1", delay=timedelta(seconds=3))
    free = registry.invoke("B", "h1", key="k9", delay=timedelta(seconds=3))
    registry.remove(only, force=True)
    versioning_clock.advance(timedelta(seconds=3))
    moved = {i.id: i for i in registry.start_due()}
    assert moved[delayed.id].status is S.PENDING
    failed = moved[free.id]
    assert (failed.status, failed.pinned_deployment_id) == (S.BACKING_OFF, None)
    assert failed.last_failure is not None
    assert failed.last_failure.code == NO_DEPLOYMENT_CODE
    assert registry.locked_keys() == (("B", "k1", holder.id, 1), ("B", "k9", free.id, 0))


def test_a_due_call_whose_handler_is_gone_fails_its_attempt_unpinned_until_it_is_back(
    registry: Registry, versioning_clock: ManualClock
) -> None:
    registry.register(V1, objects())
    delayed = registry.invoke("B", "h2", key="k2", delay=timedelta(seconds=2))
    registry.register(V2, objects(h2=False))
    versioning_clock.advance(timedelta(seconds=2))
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


def _family(registry: Registry) -> dict[str, Any]:
    """``P/k/spawn`` sends calls as ``tests/test_lifecycle_server.py``'s ``P/k/spawn`` does:
    a running ``C/hold``, a scheduled one, ``P/k/self`` (pending on its own key) and a running
    ``P/other/self``; ``C/hold`` sends a grandchild."""
    registry.register(
        V1,
        manifest(
            service(
                "P", "VIRTUAL_OBJECT", [handler("spawn", "EXCLUSIVE"), handler("self", "EXCLUSIVE")]
            ),
            service("C", handlers=[handler("hold")]),
        ),
    )
    parent = registry.invoke("P", "spawn", key="k")
    running = registry.invoke("C", "hold", caller=parent)
    return {
        "parent": parent,
        "running": running,
        "scheduled": registry.invoke("C", "hold", caller=parent, delay=timedelta(hours=1)),
        "own_key": registry.invoke("P", "self", key="k", caller=parent),
        "other_key": registry.invoke("P", "self", key="other", caller=parent),
        "grandchild": registry.invoke("C", "hold", caller=running),
        "stranger": registry.invoke("C", "hold"),
    }


def test_killing_a_call_kills_the_calls_it_sent_and_theirs(registry: Registry) -> None:
    family = _family(registry)
    registry.kill(family["parent"].id)
    for name in ("parent", "running", "other_key", "grandchild"):
        killed = registry.invocation(family[name].id)
        assert (name, killed.status) == (name, S.COMPLETED)
        assert killed.pinned_deployment_id == family[name].pinned_deployment_id
    own_key = registry.invocation(family["own_key"].id)
    assert (own_key.status, own_key.pinned_deployment_id) == (S.COMPLETED, None)
    known = {i.id for i in registry.invocations()}
    assert family["scheduled"].id not in known
    assert registry.invocation(family["stranger"].id).status is S.RUNNING
    assert registry.locked_keys() == ()
    assert registry.verify() == ()


def _sender(registry: Registry) -> None:
    registry.register(
        V1,
        manifest(
            service(
                "T",
                "VIRTUAL_OBJECT",
                [handler(name, "EXCLUSIVE") for name in ("hold", "send", "peek", "reserve")],
            )
        ),
    )


def test_a_kill_keeps_the_calls_of_the_tree_next_in_line_for_the_killed_callers_key(
    registry: Registry,
) -> None:
    """Mirrors ``tests/test_lifecycle_server.py``: two calls a caller sent to its own key wait
    at the head of its inbox, then a call from the ingress. Killing the caller, each of its
    two takes the key in turn and is killed: kept, completed, pinned nowhere; the other call
    gets the key and starts."""
    _sender(registry)
    sender = registry.invoke("T", "send", key="q2")
    own = [registry.invoke("T", h, key="q2", caller=sender) for h in ("hold", "peek")]
    outsider = registry.invoke("T", "reserve", key="q2")
    registry.kill(sender.id)
    for call in own:
        kept = registry.invocation(call.id)
        assert (kept.status, kept.pinned_deployment_id) == (S.COMPLETED, None)
    started = registry.invocation(outsider.id)
    assert started.status is S.RUNNING
    assert started.pinned_deployment_id is not None
    assert registry.verify() == ()


def test_a_kill_forgets_the_calls_of_the_tree_waiting_behind_a_call_from_outside_it(
    registry: Registry,
) -> None:
    """Mirrors ``tests/test_lifecycle_server.py``: the caller started after another call had
    queued on its key, so the calls it sent to its own key wait behind that one; killing the
    caller, that call gets the key, and the caller's calls are forgotten."""
    _sender(registry)
    holder = registry.invoke("T", "hold", key="q1")
    sender = registry.invoke("T", "send", key="q1")
    other = registry.invoke("T", "reserve", key="q1")
    registry.kill(holder.id)
    assert registry.invocation(sender.id).status is S.RUNNING
    own = [registry.invoke("T", h, key="q1", caller=sender) for h in ("hold", "peek")]
    registry.kill(sender.id)
    assert registry.invocation(other.id).status is S.RUNNING
    known = {i.id for i in registry.invocations()}
    assert known.isdisjoint(call.id for call in own)
    assert registry.verify() == ()


def test_a_refused_kill_of_a_completed_call_kills_nothing_it_sent(registry: Registry) -> None:
    family = _family(registry)
    registry.complete(family["parent"].id)
    before = registry.snapshot()
    with pytest.raises(InvalidTransition):
        registry.kill(family["parent"].id)
    assert registry.snapshot() == before


def test_a_failed_attempt_backs_off_pinned_until_resumed(registry: Registry) -> None:
    v1 = registry.register(V1, objects()).deployment.id
    running = registry.invoke("B", "hold", key="k1")
    failed = registry.fail(
        running.id, code="RT0018", message="the service handler Nope/x was not found"
    )
    assert (failed.status, failed.pinned_deployment_id) == (S.BACKING_OFF, v1)
    assert failed.last_failure is not None
    assert (failed.last_failure.code, failed.last_failure.message) == (
        "RT0018",
        "the service handler Nope/x was not found",
    )
    assert registry.locked_keys() == (("B", "k1", running.id, 0),)
    retried = registry.resume(running.id)
    assert (retried.status, retried.last_failure) == (S.RUNNING, None)
    assert registry.fail(running.id, code=HANDLER_NOT_FOUND_CODE).last_failure == Failure(
        HANDLER_NOT_FOUND_CODE, HANDLER_NOT_FOUND
    )


@pytest.mark.parametrize(
    ("code", "message"), [("rt0012", None), ("", None), (12, None), ("RT0012", 5)]
)
def test_a_failure_needs_a_code_and_a_message_as_restate_spells_them(
    registry: Registry, code: Any, message: Any
) -> None:
    registry.register(V1, objects())
    running = registry.invoke("B", "hold", key="k1")
    before = registry.snapshot()
    with pytest.raises(InvalidInvocation) as refused:
        registry.fail(running.id, code=code, message=message)
    assert repr(code if message is None else message) in str(refused.value)
    assert registry.snapshot() == before


@pytest.mark.parametrize("status", ["suspended", "paused", "completed"])
def test_only_a_running_attempt_can_fail(registry: Registry, status: str) -> None:
    registry.register(V1, objects())
    call = registry.invoke("B", "hold", key="k1")
    {"suspended": registry.suspend, "paused": registry.pause, "completed": registry.complete}[
        status
    ](call.id)
    before = registry.snapshot()
    with pytest.raises(InvalidTransition, match=f"cannot fail invocation .* it is {status}"):
        registry.fail(call.id, code="RT0012")
    assert registry.snapshot() == before


@pytest.mark.parametrize("lacks", ["the handler", "the service"])
def test_a_call_moved_to_a_deployment_that_cannot_run_it_fails_there(
    registry: Registry, lacks: str
) -> None:
    """As on the server: the move is accepted (200) and the attempt there fails with RT0012,
    backing-off, pinned to the deployment it was moved to."""
    registry.register(V1, objects())
    paused = registry.pause(registry.invoke("B", "h2", key="k1").id)
    other = (
        objects(h2=False)
        if lacks == "the handler"
        else manifest(service("Other", handlers=[handler("x")]))
    )
    target = registry.register(V2, other).deployment
    assert not can_run(target, "B", "h2")
    moved = registry.resume(paused.id, deployment=target.id)
    assert (moved.status, moved.pinned_deployment_id) == (S.BACKING_OFF, target.id)
    assert moved.last_failure == Failure(HANDLER_NOT_FOUND_CODE, HANDLER_NOT_FOUND)


def test_a_stored_failure_and_a_kill_of_a_call_tree_replay_to_the_same_state(
    tmp_path: Path, versioning_clock: ManualClock
) -> None:
    path = tmp_path / "store.db"
    stored = StoredRegistry(SQLiteStorage(path), clock=versioning_clock, ids=SequentialIds())
    stored.register(V1, objects())
    parent = stored.invoke("B", "hold", key="k1")
    stored.invoke("B", "h1", key="k2", caller=parent)
    failed = stored.fail(parent.id, code="RT0018")
    assert [r.command for r in stored.history()][-1] == "fail"
    stored.resume(parent.id)
    stored.kill(parent.id)
    state = stored.registry.snapshot()
    stored.close()
    reopened = StoredRegistry(SQLiteStorage(path), clock=versioning_clock)
    assert reopened.registry.snapshot() == state
    assert failed.last_failure is not None
    reopened.close()


def test_a_call_that_pins_at_its_first_command_runs_and_suspends_unpinned(
    registry: Registry,
) -> None:
    """As on the server (``tests/test_lifecycle_server.py``): a handler whose first step waits
    on an awakeable is suspended with no pin; its deployment counts nothing (Active 0); it
    resumes on the latest revision, but cannot be moved to a given deployment (409 "not
    pinned yet"); it is pinned when its first command comes."""
    v1 = registry.register(V1, objects()).deployment.id
    started = registry.invoke("B", "hold", key="k1", pin_on_start=False)
    assert (started.status, started.pinned_deployment_id) == (S.RUNNING, None)
    assert started.pins_at_first_command
    suspended = registry.suspend(started.id)
    assert (suspended.status, suspended.pinned_deployment_id) == (S.SUSPENDED, None)
    assert registry.active_invocations(v1) == 0
    assert registry.locked_keys() == (("B", "k1", started.id, 0),)
    before = registry.snapshot()
    with pytest.raises(InvalidInvocation, match="not pinned yet"):
        registry.resume(started.id, deployment=v1)
    assert registry.snapshot() == before
    v2 = registry.register(V2, objects()).deployment.id
    resumed = registry.resume(started.id, deployment="latest")  # where it runs anyway
    assert (resumed.status, resumed.pinned_deployment_id) == (S.RUNNING, None)
    pinned = registry.pin(started.id)
    assert (pinned.pinned_deployment_id, pinned.pinned_protocol_version) == (v2, 6)
    assert registry.active_invocations(v2) == 1
    assert registry.verify() == ()


def test_only_a_running_call_not_pinned_yet_can_be_pinned(registry: Registry) -> None:
    registry.register(V1, objects())
    pinned = registry.invoke("B", "hold", key="k1")
    waiting = registry.invoke("B", "hold", key="k1", pin_on_start=False)
    before = registry.snapshot()
    for call in (pinned, waiting):
        with pytest.raises(InvalidTransition, match="cannot pin"):
            registry.pin(call.id)
    assert registry.snapshot() == before


def test_a_queued_call_that_pins_at_its_first_command_starts_unpinned_when_its_turn_comes(
    registry: Registry, versioning_clock: ManualClock
) -> None:
    registry.register(V1, objects())
    holder = registry.invoke("B", "hold", key="k1")
    waiting = registry.invoke("B", "h1", key="k1", pin_on_start=False)
    delayed = registry.invoke("B", "h2", key="k2", delay=timedelta(seconds=1), pin_on_start=False)
    registry.complete(holder.id)
    versioning_clock.advance(timedelta(seconds=1))
    registry.start_due()
    for call in (waiting, delayed):
        started = registry.invocation(call.id)
        assert (started.status, started.pinned_deployment_id) == (S.RUNNING, None)
    assert registry.verify() == ()


def test_a_store_replays_calls_that_pin_at_their_first_command(
    tmp_path: Path, versioning_clock: ManualClock
) -> None:
    path = tmp_path / "store.db"
    stored = StoredRegistry(SQLiteStorage(path), clock=versioning_clock, ids=SequentialIds())
    stored.register(V1, objects())
    call = stored.invoke("B", "hold", key="k1", pin_on_start=False)
    stored.suspend(call.id)
    stored.resume(call.id)
    stored.pin(call.id)
    plain = stored.invoke("B", "hold", key="k2")
    assert stored.history()[-1].arguments["pin_on_start"] is True
    state = stored.registry.snapshot()
    stored.close()
    reopened = StoredRegistry(SQLiteStorage(path), clock=versioning_clock)
    assert reopened.registry.snapshot() == state
    assert reopened.registry.invocation(plain.id).pins_at_first_command is False
    reopened.close()


def test_a_kill_keeps_a_grandchild_next_in_line_for_a_key_another_branch_holds(
    registry: Registry,
) -> None:
    """Mirrors ``tests/test_lifecycle_server.py``: a grandchild pending behind a call of
    another branch of the tree takes that key when its holder is killed, and is killed
    there: kept, completed, pinned nowhere, whatever order the calls were sent in."""
    registry.register(
        V1,
        manifest(
            service("Svc", handlers=[handler("go")]),
            service("Obj", "VIRTUAL_OBJECT", [handler("h", "EXCLUSIVE")]),
        ),
    )
    for order in ("object first", "service first"):
        parent = registry.invoke("Svc", "go")
        if order == "object first":
            holder = registry.invoke("Obj", "h", key=order, caller=parent)
            branch = registry.invoke("Svc", "go", caller=parent)
        else:
            branch = registry.invoke("Svc", "go", caller=parent)
            holder = registry.invoke("Obj", "h", key=order, caller=parent)
        grandchild = registry.invoke("Obj", "h", key=order, caller=branch)
        assert grandchild.status is S.PENDING
        registry.kill(parent.id)
        kept = registry.invocation(grandchild.id)
        assert (kept.status, kept.pinned_deployment_id) == (S.COMPLETED, None), order
        assert registry.invocation(holder.id).status is S.COMPLETED
    assert registry.verify() == ()


def test_a_kill_follows_each_call_once_even_through_a_loop_of_callers(
    registry: Registry,
) -> None:
    registry.register(V1, manifest(service("Svc", handlers=[handler("go")])))
    first = registry.invoke("Svc", "go")
    document = json.loads(dumps(registry))
    document["registry"]["invocations"][0].update(caller="Svc/go", caller_id=first.id)
    looped = loads(json.dumps(document))
    assert looped.kill(first.id).status is S.COMPLETED


def test_a_chain_of_calls_thousands_deep_is_killed_whole(registry: Registry) -> None:
    registry.register(V1, manifest(service("Svc", handlers=[handler("go")])))
    root = call = registry.invoke("Svc", "go")
    for _ in range(3000):
        call = registry.invoke("Svc", "go", caller=call)
    registry.kill(root.id)
    assert registry.invocation(call.id).status is S.COMPLETED


def test_a_call_from_an_invocation_not_pinned_yet_pins_it(registry: Registry) -> None:
    """Making a call is a command: it pins the caller, as the server does."""
    v1 = registry.register(V1, objects()).deployment.id
    caller = registry.invoke("B", "hold", key="k1", pin_on_start=False)
    registry.invoke("B", "h1", key="k2", caller=caller)
    assert registry.invocation(caller.id).pinned_deployment_id == v1


def test_a_call_refused_for_its_delay_records_no_caller(registry: Registry) -> None:
    registry.register(V1, objects())
    before = registry.snapshot()
    with pytest.raises(InvalidInvocation, match="beyond any date"):
        registry.invoke("B", "h1", key="k", caller="Svc/go", delay=timedelta(days=999_999_999))
    assert registry.snapshot() == before


def test_a_purged_call_is_forgotten_and_its_workflow_key_can_run_again(
    registry: Registry,
) -> None:
    """Seen on the server: purging a completed workflow run answers 200, then the invocation
    does not exist (404), and the key runs again ("Accepted")."""
    registry.register(V1, SDK_MANIFEST)
    run = registry.invoke("Signup", "run", key="u1")
    registry.complete(run.id)
    assert registry.invoke("Signup", "run", key="u1").id == run.id  # still its run
    purged = registry.purge(run.id)
    assert purged.status is S.COMPLETED
    with pytest.raises(InvocationNotFound):
        registry.invocation(run.id)
    again = registry.invoke("Signup", "run", key="u1")
    assert again.id != run.id
    assert again.status is S.RUNNING
    assert registry.verify() == ()


@pytest.mark.parametrize("status", ["running", "pending", "scheduled"])
def test_only_a_completed_call_can_be_purged(registry: Registry, status: str) -> None:
    registry.register(V1, SDK_MANIFEST)
    holder = registry.invoke("TicketObject", "reserve", key="k")
    calls = {
        "running": holder,
        "pending": registry.invoke("TicketObject", "reserve", key="k"),
        "scheduled": registry.invoke("Greeter", "greet", delay=timedelta(hours=1)),
    }
    before = registry.snapshot()
    with pytest.raises(InvalidTransition, match="cannot purge"):
        registry.purge(calls[status].id)
    assert registry.snapshot() == before


def test_a_store_replays_a_purge(tmp_path: Path) -> None:
    stored = StoredRegistry(SQLiteStorage(tmp_path / "r.db"))
    stored.register(V1, SDK_MANIFEST)
    call = stored.invoke("Greeter", "greet")
    stored.complete(call.id)
    stored.purge(call.id)
    reopened = StoredRegistry(SQLiteStorage(tmp_path / "r.db"))
    assert [i.id for i in reopened.registry.invocations()] == []
