"""Routing, queueing, pinning and the invocation status machine (docs/rules.md, "Routing and
pinning"), and deployment status (docs/rules.md, "Deployment status")."""

from __future__ import annotations

from datetime import timedelta

import pytest

from restate_versioning import (
    DeploymentStatus,
    HandlerNotFound,
    InvalidId,
    InvalidInvocation,
    InvalidTransition,
    Invocation,
    InvocationNotFound,
    InvocationStatus,
    ManualClock,
    Registry,
    ServiceNotFound,
    ServiceNotPublic,
)
from restate_versioning.rules.invocations import (
    NO_CHANGE,
    NO_DEPLOYMENT,
    PINNED_DEPLOYMENT_MISSING,
    TRANSITIONS,
    Action,
    next_status,
)

from .helpers import SDK_MANIFEST, V1, V2, V3, handler, manifest, service

S = InvocationStatus


@pytest.fixture
def v1(registry: Registry) -> str:
    return registry.register(V1, SDK_MANIFEST).deployment.id


def test_new_invocations_go_to_the_latest_revision(registry: Registry, v1: str) -> None:
    first = registry.invoke("Greeter", "greet")
    v2 = registry.register(V2, SDK_MANIFEST).deployment.id
    second = registry.invoke("Greeter", "greet")
    assert (first.pinned_deployment_id, second.pinned_deployment_id) == (v1, v2)
    assert first.status is second.status is S.RUNNING


def test_a_started_invocation_stays_pinned_through_suspension_and_resumption(
    registry: Registry, v1: str
) -> None:
    inv = registry.invoke("Greeter", "greet")
    registry.register(V2, SDK_MANIFEST)
    registry.suspend(inv.id)
    registry.register(V3, SDK_MANIFEST)
    resumed = registry.resume(inv.id)
    assert resumed.status is S.RUNNING
    assert resumed.pinned_deployment_id == v1
    assert registry.complete(inv.id).pinned_deployment_id == v1


def test_an_invocation_is_pinned_to_the_highest_protocol_version_both_sides_speak(
    registry: Registry,
) -> None:
    """Seen on restate-server 1.7.12: calls to the Python SDK, which speaks [5, 7], were pinned
    at 6: the server discovers version 7 but does not run it by default."""
    registry.register(V1, manifest(service("Old"), low=5, high=5))
    registry.register(V2, manifest(service("New"), low=6, high=99))
    registry.register(V3, manifest(service("Only7"), low=7, high=7))
    assert registry.invoke("Old", "greet").pinned_protocol_version == 5
    assert registry.invoke("New", "greet").pinned_protocol_version == 6
    assert registry.invoke("Only7", "greet").pinned_protocol_version == 7


def test_exclusive_calls_on_one_key_queue_unpinned_and_pin_to_latest_when_they_start(
    registry: Registry, v1: str
) -> None:
    """Seen on the server: the second call on key t1 was ``pending`` with no pinned deployment,
    and ran on v3, registered while it waited."""
    first = registry.invoke("TicketObject", "reserve", key="t1")
    waiting = registry.invoke("TicketObject", "reserve", key="t1")
    assert (waiting.status, waiting.pinned_deployment_id) == (S.PENDING, None)
    v2 = registry.register(V2, SDK_MANIFEST).deployment.id
    registry.complete(first.id)
    started = registry.invocation(waiting.id)
    assert (started.status, started.pinned_deployment_id) == (S.RUNNING, v2)
    assert first.pinned_deployment_id == v1


def test_exclusive_calls_on_different_keys_run_at_once(registry: Registry, v1: str) -> None:
    a = registry.invoke("TicketObject", "reserve", key="a")
    b = registry.invoke("TicketObject", "reserve", key="b")
    assert a.status is b.status is S.RUNNING


def test_shared_handlers_run_concurrently_with_an_exclusive_call(
    registry: Registry, v1: str
) -> None:
    registry.invoke("TicketObject", "reserve", key="t1")
    assert registry.invoke("TicketObject", "status", key="t1").status is S.RUNNING


def test_queued_calls_start_in_order_one_at_a_time(registry: Registry, v1: str) -> None:
    calls = [registry.invoke("TicketObject", "reserve", key="k") for _ in range(3)]
    assert [c.status for c in calls] == [S.RUNNING, S.PENDING, S.PENDING]
    registry.complete(calls[0].id)
    assert [registry.invocation(c.id).status for c in calls] == [S.COMPLETED, S.RUNNING, S.PENDING]
    registry.kill(calls[1].id)
    assert registry.invocation(calls[2].id).status is S.RUNNING


def test_a_suspended_exclusive_call_still_holds_its_key(registry: Registry, v1: str) -> None:
    first = registry.invoke("TicketObject", "reserve", key="k")
    registry.suspend(first.id)
    assert registry.invoke("TicketObject", "reserve", key="k").status is S.PENDING


def test_killing_a_pending_call_takes_it_out_of_the_queue(registry: Registry, v1: str) -> None:
    first = registry.invoke("TicketObject", "reserve", key="k")
    dropped = registry.invoke("TicketObject", "reserve", key="k")
    kept = registry.invoke("TicketObject", "reserve", key="k")
    assert registry.kill(dropped.id).status is S.COMPLETED
    registry.complete(first.id)
    assert registry.invocation(kept.id).status is S.RUNNING
    with pytest.raises(InvocationNotFound):  # never started: not kept, as on the server
        registry.invocation(dropped.id)


def test_a_delayed_call_is_scheduled_unpinned_and_pins_to_latest_when_due(
    registry: Registry, versioning_clock: ManualClock, v1: str
) -> None:
    """Seen on the server: a send with delay=45s was ``scheduled`` with no pinned deployment,
    and ran on v3, registered while it waited."""
    delayed = registry.invoke("Greeter", "greet", delay=timedelta(seconds=45))
    assert (delayed.status, delayed.pinned_deployment_id) == (S.SCHEDULED, None)
    assert delayed.execute_at == versioning_clock() + timedelta(seconds=45)
    v2 = registry.register(V2, SDK_MANIFEST).deployment.id
    versioning_clock.advance(timedelta(seconds=44))
    assert registry.start_due() == ()
    versioning_clock.advance(timedelta(seconds=1))
    (started,) = registry.start_due()
    assert (started.id, started.status, started.pinned_deployment_id) == (delayed.id, S.RUNNING, v2)
    assert registry.start_due() == ()


def test_due_calls_start_in_due_order(
    registry: Registry, versioning_clock: ManualClock, v1: str
) -> None:
    late = registry.invoke("Greeter", "greet", delay=timedelta(seconds=20))
    early = registry.invoke("Greeter", "greet", delay=timedelta(seconds=10))
    versioning_clock.advance(timedelta(minutes=1))
    assert [i.id for i in registry.start_due()] == [early.id, late.id]


def test_a_due_exclusive_call_waits_behind_its_key(
    registry: Registry, versioning_clock: ManualClock, v1: str
) -> None:
    holder = registry.invoke("TicketObject", "reserve", key="k")
    delayed = registry.invoke("TicketObject", "reserve", key="k", delay=timedelta(seconds=5))
    versioning_clock.advance(timedelta(seconds=5))
    (moved,) = registry.start_due()
    assert (moved.id, moved.status) == (delayed.id, S.PENDING)
    registry.complete(holder.id)
    assert registry.invocation(delayed.id).status is S.RUNNING


def test_a_killed_scheduled_call_never_starts(
    registry: Registry, versioning_clock: ManualClock, v1: str
) -> None:
    delayed = registry.invoke("Greeter", "greet", delay=timedelta(seconds=5))
    assert registry.kill(delayed.id).status is S.COMPLETED
    versioning_clock.advance(timedelta(seconds=5))
    assert registry.start_due() == ()


def test_a_killed_call_that_never_started_is_not_kept(registry: Registry, v1: str) -> None:
    """Seen on restate-server 1.7.12: a killed pending or scheduled invocation disappears from
    sys_invocation, and killing it again answers 404; one that started stays, completed."""
    registry.invoke("TicketObject", "reserve", key="k")
    pending = registry.invoke("TicketObject", "reserve", key="k")
    scheduled = registry.invoke("Greeter", "greet", delay=timedelta(minutes=10))
    started = registry.invoke("Greeter", "greet")
    for never_started in (pending, scheduled):
        registry.kill(never_started.id)
        with pytest.raises(InvocationNotFound):
            registry.kill(never_started.id)
    assert registry.kill(started.id).status is S.COMPLETED
    assert registry.invocation(started.id).status is S.COMPLETED
    assert registry.verify() == ()


def test_a_workflow_run_killed_before_it_started_frees_its_key(
    registry: Registry, versioning_clock: ManualClock, v1: str
) -> None:
    run = registry.invoke("Signup", "run", key="w", delay=timedelta(minutes=1))
    registry.kill(run.id)
    assert registry.invoke("Signup", "run", key="w").id != run.id


def test_a_zero_delay_starts_at_once(registry: Registry, v1: str) -> None:
    assert registry.invoke("Greeter", "greet", delay=timedelta(0)).status is S.RUNNING


def test_a_workflow_run_happens_once_per_key(registry: Registry, v1: str) -> None:
    """Seen on the server: a second send to Signup/w1/run answered ``PreviouslyAccepted`` with
    the first invocation's id, while running and after completion."""
    run = registry.invoke("Signup", "run", key="w1")
    assert registry.invoke("Signup", "run", key="w1") == run
    registry.complete(run.id)
    assert registry.invoke("Signup", "run", key="w1").id == run.id
    assert registry.invoke("Signup", "run", key="w2").id != run.id


def test_a_workflows_shared_handlers_run_concurrently_with_its_run(
    registry: Registry, v1: str
) -> None:
    registry.invoke("Signup", "run", key="w1")
    first = registry.invoke("Signup", "confirm", key="w1")
    second = registry.invoke("Signup", "confirm", key="w1")
    assert first.status is second.status is S.RUNNING
    assert first.id != second.id


def test_ingress_calls_need_a_public_service(registry: Registry, v1: str) -> None:
    """Seen on the server: 400 "the invoked service is not public"."""
    registry.set_public("Greeter", False)
    before = registry.snapshot()
    with pytest.raises(ServiceNotPublic, match="the invoked service is not public"):
        registry.invoke("Greeter", "greet")
    assert registry.snapshot() == before


def test_calls_from_another_handler_reach_private_services(registry: Registry, v1: str) -> None:
    registry.set_public("Greeter", False)
    inv = registry.invoke("Greeter", "greet", caller="TicketObject/reserve")
    assert inv.caller == "TicketObject/reserve"
    assert inv.status is S.RUNNING


def test_ingress_calls_need_a_public_handler(registry: Registry) -> None:
    registry.register(
        V1,
        manifest(
            service("Svc", handlers=[handler("open"), handler("hidden", ingressPrivate=True)])
        ),
    )
    registry.invoke("Svc", "open")
    with pytest.raises(ServiceNotPublic):
        registry.invoke("Svc", "hidden")
    registry.invoke("Svc", "hidden", caller="Svc/open")


@pytest.mark.parametrize(
    ("target", "kwargs", "error", "quoted"),
    [
        (("Nope", "greet"), {}, ServiceNotFound, "service 'Nope' not found"),
        (("TicketObject", "nope"), {"key": "t1"}, HandlerNotFound, "'nope'"),
        (("Greeter", "greet"), {"key": "k"}, InvalidInvocation, "got 'k'"),
        (("TicketObject", "reserve"), {}, InvalidInvocation, "need a key"),
        (("Signup", "run"), {"key": 7}, InvalidInvocation, "got 7"),
        (("Greeter", "greet"), {"delay": timedelta(seconds=-1)}, InvalidInvocation, "-1"),
        (("Greeter", "greet"), {"delay": 5}, InvalidInvocation, "got 5"),
        (("Greeter", "greet"), {"caller": "no slash"}, InvalidInvocation, "'no slash'"),
        (("Greeter", "greet"), {"caller": "1bad/x"}, InvalidInvocation, "'1bad/x'"),
    ],
)
def test_a_bad_call_raises_a_specific_error_quoting_the_input_and_changes_nothing(
    registry: Registry,
    v1: str,
    target: tuple[str, str],
    kwargs: dict[str, object],
    error: type[Exception],
    quoted: str,
) -> None:
    registry.invoke("TicketObject", "reserve", key="t1")
    before = registry.snapshot()
    with pytest.raises(error) as caught:
        registry.invoke(*target, **kwargs)  # type: ignore[arg-type]
    assert quoted in str(caught.value)
    assert registry.snapshot() == before


def test_the_server_message_for_a_missing_handler(registry: Registry, v1: str) -> None:
    with pytest.raises(HandlerNotFound) as caught:
        registry.invoke("TicketObject", "nope", key="t1")
    assert str(caught.value).startswith(
        "the service 'TicketObject' exists, but the handler 'nope' was not found, check that "
        "the handler exists in the latest registered service version."
    )


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("action", list(Action))
def test_the_transition_table_allows_exactly_its_entries(status: S, action: Action) -> None:
    allowed = TRANSITIONS[status]
    if action in allowed:
        assert next_status("inv", status, action) is allowed[action]
    else:
        with pytest.raises(InvalidTransition) as caught:
            next_status("inv", status, action)
        assert caught.value.allowed == tuple(a.value for a in allowed)


def test_a_completed_invocation_allows_only_a_purge() -> None:
    assert TRANSITIONS[S.COMPLETED] == {Action.PURGE: S.COMPLETED}


def test_only_started_invocations_are_pinned_in_the_table() -> None:
    """Every way out of a queued status that starts work goes to RUNNING (pinned then)."""
    for status in (S.PENDING, S.SCHEDULED, S.READY):
        assert TRANSITIONS[status][Action.START] is S.RUNNING


def _in_status(registry: Registry, versioning_clock: ManualClock, status: S) -> Invocation:
    if status is S.PENDING:
        registry.invoke("TicketObject", "reserve", key="busy")
        return registry.invoke("TicketObject", "reserve", key="busy")
    if status is S.SCHEDULED:
        return registry.invoke("Greeter", "greet", delay=timedelta(hours=1))
    inv = registry.invoke("Greeter", "greet")
    if status is S.SUSPENDED:
        return registry.suspend(inv.id)
    if status is S.PAUSED:
        return registry.pause(inv.id)
    if status is S.COMPLETED:
        return registry.complete(inv.id)
    return inv


COMMANDS = {
    "complete": lambda r, i: r.complete(i),
    "suspend": lambda r, i: r.suspend(i),
    "resume": lambda r, i: r.resume(i),
    "pause": lambda r, i: r.pause(i),
    "kill": lambda r, i: r.kill(i),
}
ILLEGAL = [
    (status, command)
    for status in (S.PENDING, S.SCHEDULED, S.RUNNING, S.SUSPENDED, S.PAUSED, S.COMPLETED)
    for command in COMMANDS
    if Action(command) not in TRANSITIONS[status]
    and Action(command) not in NO_CHANGE.get(status, ())
]


@pytest.mark.parametrize(("status", "command"), ILLEGAL)
def test_an_illegal_transition_raises_and_nothing_happens(
    registry: Registry, versioning_clock: ManualClock, v1: str, status: S, command: str
) -> None:
    """Completing twice, resuming a completed invocation, suspending queued work...: each
    raises InvalidTransition naming the invocation and its status, and changes nothing."""
    inv = _in_status(registry, versioning_clock, status)
    assert inv.status is status
    before = registry.snapshot()
    with pytest.raises(InvalidTransition) as caught:
        COMMANDS[command](registry, inv.id)
    assert inv.id in str(caught.value)
    assert status.value in str(caught.value)
    assert registry.snapshot() == before


def test_commands_on_unknown_or_malformed_invocation_ids_raise(registry: Registry, v1: str) -> None:
    before = registry.snapshot()
    with pytest.raises(InvocationNotFound):
        registry.complete("inv_1iyF5Za7tVoR4RdJmJGFHpIlkKyJhKoqI3")
    with pytest.raises(InvalidId, match="dp_"):
        registry.kill(v1)
    with pytest.raises(InvalidId, match="'nonsense'"):
        registry.invocation("nonsense")
    assert registry.snapshot() == before


def test_deployment_status_follows_latest_revisions_and_pinned_work(
    registry: Registry, v1: str
) -> None:
    """Active while it holds a latest revision; then Draining while pinned invocations are
    not completed; then Drained."""
    assert registry.deployment_status(v1) is DeploymentStatus.ACTIVE
    running = registry.invoke("Greeter", "greet")
    suspended = registry.suspend(registry.invoke("Greeter", "greet").id)
    v2 = registry.register(V2, SDK_MANIFEST).deployment.id
    assert registry.deployment_status(v1) is DeploymentStatus.DRAINING
    assert registry.in_flight_count(v1) == 2
    registry.complete(running.id)
    assert registry.deployment_status(v1) is DeploymentStatus.DRAINING
    registry.kill(suspended.id)
    assert registry.deployment_status(v1) is DeploymentStatus.DRAINED
    assert registry.deployment_status(v2) is DeploymentStatus.ACTIVE


def test_queued_work_does_not_keep_a_deployment_draining(registry: Registry, v1: str) -> None:
    """Pending and scheduled calls are not pinned, so the CLI's status does not count them."""
    registry.invoke("Greeter", "greet", delay=timedelta(hours=1))
    registry.register(V2, SDK_MANIFEST)
    assert registry.deployment_status(v1) is DeploymentStatus.DRAINED


def test_resuming_on_a_force_removed_deployment_fails_the_attempt_with_rt0011(
    registry: Registry, v1: str
) -> None:
    inv = registry.suspend(registry.invoke("Greeter", "greet").id)
    registry.register(V2, SDK_MANIFEST)
    registry.remove(v1, force=True)
    failed = registry.resume(inv.id)
    assert failed.status is S.BACKING_OFF
    assert failed.pinned_deployment_id == v1
    assert failed.last_failure is not None
    assert (failed.last_failure.code, failed.last_failure.message) == (
        "RT0011",
        PINNED_DEPLOYMENT_MISSING,
    )


def test_a_running_invocation_on_a_removed_deployment_can_still_complete(
    registry: Registry, v1: str
) -> None:
    """Seen on the server: a call already running on a force-deleted deployment completed; only
    new attempts fail."""
    inv = registry.invoke("TicketObject", "reserve", key="t2")
    registry.register(V2, SDK_MANIFEST)
    registry.remove(v1, force=True)
    assert registry.complete(inv.id).status is S.COMPLETED


def test_due_work_for_a_vanished_service_fails_with_no_deployment_found(
    registry: Registry, versioning_clock: ManualClock, v1: str
) -> None:
    delayed = registry.invoke("Greeter", "greet", delay=timedelta(seconds=1))
    registry.remove(v1, force=True)
    versioning_clock.advance(timedelta(seconds=1))
    (failed,) = registry.start_due()
    assert failed.id == delayed.id
    assert failed.status is S.BACKING_OFF
    assert failed.pinned_deployment_id is None
    assert failed.last_failure is not None
    assert failed.last_failure.message == NO_DEPLOYMENT
    registry.register(V2, SDK_MANIFEST)
    retried = registry.resume(delayed.id)
    assert retried.status is S.RUNNING
    assert retried.last_failure is None


def test_resume_can_move_a_suspended_invocation_to_the_latest_deployment(
    registry: Registry, v1: str
) -> None:
    inv = registry.suspend(registry.invoke("Greeter", "greet").id)
    v2 = registry.register(V2, SDK_MANIFEST).deployment.id
    moved = registry.resume(inv.id, deployment="latest")
    assert (moved.status, moved.pinned_deployment_id) == (S.RUNNING, v2)
    assert registry.in_flight_count(v1) == 0
    assert registry.in_flight_count(v2) == 1


def test_resume_can_move_a_paused_invocation_to_a_given_deployment(
    registry: Registry, v1: str
) -> None:
    v2 = registry.register(V2, SDK_MANIFEST).deployment.id
    inv = registry.pause(registry.invoke("Greeter", "greet").id)
    assert inv.pinned_deployment_id == v2
    assert registry.resume(inv.id, deployment=v1).pinned_deployment_id == v1


def test_a_move_needs_the_targets_protocol_range_to_hold_the_pinned_version(
    registry: Registry, v1: str
) -> None:
    old = registry.register(V2, manifest(service("Greeter"), low=5, high=5)).deployment.id
    registry.register(V3, SDK_MANIFEST)
    inv = registry.suspend(registry.invoke("Greeter", "greet").id)
    assert inv.pinned_protocol_version == 6
    before = registry.snapshot()
    with pytest.raises(InvalidInvocation, match=r"\[5, 5\]"):
        registry.resume(inv.id, deployment=old)
    assert registry.snapshot() == before


def test_a_running_or_unpinned_invocation_cannot_be_moved(registry: Registry, v1: str) -> None:
    running = registry.invoke("Greeter", "greet")
    queued = registry.invoke("Greeter", "greet", delay=timedelta(hours=1))
    before = registry.snapshot()
    with pytest.raises(InvalidTransition):
        registry.resume(running.id, deployment="latest")
    with pytest.raises(InvalidTransition):
        registry.resume(queued.id, deployment="latest")
    assert registry.snapshot() == before


def test_a_due_exclusive_call_that_cannot_start_holds_its_key_while_it_retries(
    registry: Registry, versioning_clock: ManualClock
) -> None:
    """As on the server (``tests/test_lifecycle_server.py``): a delayed exclusive call that
    falls due on a free key with no deployment left fails its attempt (RT0011) and holds the
    key, so a later call waits behind it; the retry runs it on the next deployment."""
    v1 = registry.register(V1, SDK_MANIFEST).deployment.id
    early = registry.invoke("TicketObject", "reserve", key="k", delay=timedelta(seconds=1))
    registry.remove(v1, force=True)
    versioning_clock.advance(timedelta(seconds=1))
    (failed,) = registry.start_due()
    assert (failed.status, failed.pinned_deployment_id) == (S.BACKING_OFF, None)
    assert registry.locked_keys() == (("TicketObject", "k", early.id, 0),)
    (locked,) = registry.locked_keys()
    assert (locked.service, locked.key, locked.holder_id, locked.waiting) == (
        "TicketObject",
        "k",
        early.id,
        0,
    )
    v2 = registry.register(V2, SDK_MANIFEST).deployment.id
    later = registry.invoke("TicketObject", "reserve", key="k")
    assert later.status is S.PENDING
    resumed = registry.resume(early.id)
    assert (resumed.status, resumed.pinned_deployment_id) == (S.RUNNING, v2)
    registry.complete(early.id)
    assert registry.invocation(later.id).status is S.RUNNING
    assert registry.locked_keys() == (("TicketObject", "k", later.id, 0),)


def test_a_call_that_fails_to_start_keeps_the_key_it_queued_for(registry: Registry) -> None:
    only = registry.register(V1, SDK_MANIFEST).deployment.id
    holder = registry.invoke("TicketObject", "reserve", key="k")
    queued = registry.invoke("TicketObject", "reserve", key="k")
    registry.remove(only, force=True)
    registry.complete(holder.id)
    assert registry.invocation(queued.id).status is S.BACKING_OFF
    assert registry.locked_keys() == (("TicketObject", "k", queued.id, 0),)


def test_an_unpinned_invocation_cannot_be_moved(
    registry: Registry, versioning_clock: ManualClock
) -> None:
    only = registry.register(V1, SDK_MANIFEST).deployment.id
    delayed = registry.invoke("Greeter", "greet", delay=timedelta(seconds=1))
    registry.remove(only, force=True)
    versioning_clock.advance(timedelta(seconds=1))
    registry.start_due()
    before = registry.snapshot()
    with pytest.raises(InvalidInvocation, match="not pinned yet"):
        registry.resume(delayed.id, deployment="latest")
    assert registry.snapshot() == before


def test_a_delay_beyond_any_date_is_refused(registry: Registry, v1: str) -> None:
    before = registry.snapshot()
    with pytest.raises(InvalidInvocation, match="beyond any date"):
        registry.invoke("Greeter", "greet", delay=timedelta.max)
    assert registry.snapshot() == before
