"""Removing deployments: the removal plan's blockers and effects, forced removal, promote and the
garbage-collection plan (docs/rules.md, "Removing"). The plan goes further than the server and
the CLI on purpose; each blocker has a test named after it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from restate_versioning import (
    BlockerKind,
    DeploymentNotFound,
    DeploymentRemoved,
    DeploymentStatus,
    EffectKind,
    InvalidId,
    InvalidInvocation,
    InvocationStatus,
    ManualClock,
    Outcome,
    Registry,
    RemovalBlocked,
    VersioningError,
)
from restate_versioning.rules.removal import LISTED_INVOCATIONS

from .helpers import SDK_MANIFEST, V1, V2, V3, manifest, service


def kinds(registry: Registry, deployment_id: str) -> list[BlockerKind]:
    return [b.kind for b in registry.removal_plan(deployment_id).blockers]


def test_a_drained_deployment_is_safe_to_remove(registry: Registry) -> None:
    old = registry.register(V1, SDK_MANIFEST).deployment.id
    registry.register(V2, SDK_MANIFEST)
    plan = registry.removal_plan(old)
    assert plan.safe
    assert plan.status is DeploymentStatus.DRAINED
    assert {e.kind for e in plan.effects} == {EffectKind.UNAFFECTED}
    removal = registry.remove(old)
    assert removal.deployment.id == old
    assert not removal.forced


def test_rollback_blocks_removing_the_latest_when_older_revisions_exist(
    registry: Registry,
) -> None:
    """Removing it would silently route new calls to old code."""
    v1 = registry.register(V1, SDK_MANIFEST).deployment.id
    v2 = registry.register(V2, SDK_MANIFEST).deployment.id
    plan = registry.removal_plan(v2)
    blocker = plan.blocker(BlockerKind.ROLLBACK)
    assert blocker is not None
    assert blocker.services == ("Greeter", "TicketObject", "Signup")
    assert "Deploy the code you want to keep first" in blocker.message
    greeter = next(e for e in plan.effects if e.service == "Greeter")
    assert (greeter.kind, greeter.revision, greeter.fallback_revision) == (
        EffectKind.ROLLS_BACK,
        2,
        1,
    )
    assert greeter.fallback_deployment_id == v1


def test_public_blocks_removing_the_last_revision_of_a_public_service(registry: Registry) -> None:
    only = registry.register(V1, manifest(service("Retired"))).deployment.id
    plan = registry.removal_plan(only)
    assert kinds(registry, only) == [BlockerKind.PUBLIC]
    assert plan.effects[0].kind is EffectKind.VANISHES
    assert "Make it private first" in plan.blockers[0].message


def test_a_private_idle_uncalled_service_can_be_retired_on_purpose(registry: Registry) -> None:
    """All four prerequisites met: nothing calls it, nothing else to keep, private, drained."""
    only = registry.register(V1, manifest(service("Retired"))).deployment.id
    registry.set_public("Retired", False)
    assert registry.deployment_status(only) is DeploymentStatus.ACTIVE
    assert registry.removal_plan(only).safe
    registry.remove(only)
    assert registry.services() == ()


def test_callers_block_when_a_service_that_stays_calls_one_that_vanishes(
    registry: Registry,
) -> None:
    registry.register(V1, manifest(service("Checkout")))
    target = registry.register(V2, manifest(service("Payments"))).deployment.id
    registry.set_public("Payments", False)
    registry.complete(registry.invoke("Payments", "greet", caller="Checkout/greet").id)
    plan = registry.removal_plan(target)
    assert [b.kind for b in plan.blockers] == [BlockerKind.CALLERS]
    assert plan.blockers[0].callers == ("Checkout/greet",)
    assert plan.blockers[0].services == ("Payments",)


def test_a_declared_caller_blocks_before_any_call_happened(registry: Registry) -> None:
    registry.register(V1, manifest(service("Checkout")))
    target = registry.register(V2, manifest(service("Payments"))).deployment.id
    registry.set_public("Payments", False)
    registry.declare_caller("Payments", "Checkout/pay")
    assert kinds(registry, target) == [BlockerKind.CALLERS]
    registry.forget_caller("Payments", "Checkout/pay")
    assert registry.removal_plan(target).safe


def test_callers_that_vanish_too_do_not_block(registry: Registry) -> None:
    both = registry.register(V1, manifest(service("A"), service("B"))).deployment.id
    registry.set_public("A", False)
    registry.set_public("B", False)
    registry.declare_caller("B", "A/greet")
    assert registry.removal_plan(both).safe


def test_callers_of_a_service_that_rolls_back_do_not_block(registry: Registry) -> None:
    """The service stays (only its revision moves), so its callers keep working."""
    registry.register(V1, manifest(service("Payments")))
    v2 = registry.register(V2, manifest(service("Payments"), service("Checkout"))).deployment.id
    registry.declare_caller("Payments", "Other/x")
    assert BlockerKind.CALLERS not in kinds(registry, v2)


def test_queued_blocks_for_pending_and_scheduled_work_the_cli_misses(
    registry: Registry,
) -> None:
    """Pending and scheduled calls are pinned nowhere, so the CLI does not count them, yet they
    fail once their service vanishes."""
    only = registry.register(V1, SDK_MANIFEST).deployment.id
    for name in ("Greeter", "TicketObject", "Signup"):
        registry.set_public(name, False)
    holder = registry.invoke("TicketObject", "reserve", key="k", caller="Greeter/greet")
    pending = registry.invoke("TicketObject", "reserve", key="k", caller="Greeter/greet")
    scheduled = registry.invoke("Greeter", "greet", delay=timedelta(hours=1), caller="Signup/run")
    plan = registry.removal_plan(only)
    assert [b.kind for b in plan.blockers] == [BlockerKind.QUEUED, BlockerKind.IN_FLIGHT]
    queued = plan.blockers[0]
    assert (queued.count, queued.invocation_ids) == (2, (scheduled.id, pending.id))
    assert queued.services == ("Greeter", "TicketObject")
    assert plan.blockers[1].invocation_ids == (holder.id,)
    registry.kill(scheduled.id)
    registry.kill(pending.id)
    registry.complete(holder.id)
    assert registry.removal_plan(only).safe


def test_in_flight_blocks_while_started_invocations_are_pinned(registry: Registry) -> None:
    old = registry.register(V1, SDK_MANIFEST).deployment.id
    running = registry.invoke("Greeter", "greet")
    paused = registry.pause(registry.invoke("Greeter", "greet").id)
    suspended = registry.suspend(registry.invoke("Greeter", "greet").id)
    registry.register(V2, SDK_MANIFEST)
    plan = registry.removal_plan(old)
    assert plan.status is DeploymentStatus.DRAINING
    assert [b.kind for b in plan.blockers] == [BlockerKind.IN_FLIGHT]
    assert plan.blockers[0].invocation_ids == (running.id, paused.id, suspended.id)
    assert plan.blockers[0].count == 3


def test_a_blocker_lists_the_oldest_invocations_and_counts_them_all(registry: Registry) -> None:
    old = registry.register(V1, SDK_MANIFEST).deployment.id
    calls = [registry.invoke("Greeter", "greet") for _ in range(LISTED_INVOCATIONS + 5)]
    registry.register(V2, SDK_MANIFEST)
    blocker = registry.removal_plan(old).blocker(BlockerKind.IN_FLIGHT)
    assert blocker is not None
    assert blocker.count == len(calls)
    assert blocker.invocation_ids == tuple(c.id for c in calls[:LISTED_INVOCATIONS])
    assert "and 5 more" in blocker.message


def test_every_blocker_at_once(registry: Registry) -> None:
    registry.register(V1, manifest(service("Kept")))
    registry.register(V2, manifest(service("Stays")))
    target = registry.register(V3, manifest(service("Kept"), service("Gone"))).deployment.id
    registry.invoke("Gone", "greet", caller="Stays/greet")
    registry.invoke("Gone", "greet", delay=timedelta(minutes=1))
    assert kinds(registry, target) == [
        BlockerKind.ROLLBACK,
        BlockerKind.PUBLIC,
        BlockerKind.CALLERS,
        BlockerKind.QUEUED,
        BlockerKind.IN_FLIGHT,
    ]


def test_an_unsafe_removal_without_force_raises_with_the_plan_and_changes_nothing(
    registry: Registry,
) -> None:
    registry.register(V1, SDK_MANIFEST)
    v2 = registry.register(V2, SDK_MANIFEST).deployment.id
    before = registry.snapshot()
    with pytest.raises(RemovalBlocked) as caught:
        registry.remove(v2)
    assert caught.value.plan == registry.removal_plan(v2)
    assert "ROLLBACK" in str(caught.value)
    assert registry.snapshot() == before


def test_force_removes_anyway_and_reports_what_it_overrode(registry: Registry) -> None:
    registry.register(V1, SDK_MANIFEST)
    v2 = registry.register(V2, SDK_MANIFEST).deployment.id
    removal = registry.remove(v2, force=True)
    assert removal.forced
    assert [b.kind for b in removal.overridden] == [BlockerKind.ROLLBACK]
    assert registry.service("Greeter").revision == 1


def test_a_queued_call_whose_service_vanished_fails_with_rt0011_when_its_turn_comes(
    registry: Registry,
) -> None:
    only = registry.register(V1, SDK_MANIFEST).deployment.id
    holder = registry.invoke("TicketObject", "reserve", key="k")
    waiting = registry.invoke("TicketObject", "reserve", key="k")
    registry.remove(only, force=True)
    assert registry.complete(holder.id).status is InvocationStatus.COMPLETED
    failed = registry.invocation(waiting.id)
    assert failed.status is InvocationStatus.BACKING_OFF
    assert failed.last_failure is not None
    assert failed.last_failure.code == "RT0011"
    assert failed.pinned_deployment_id is None


def test_removed_deployments_are_gone_for_queries_and_commands(registry: Registry) -> None:
    old = registry.register(V1, SDK_MANIFEST).deployment.id
    registry.register(V2, SDK_MANIFEST)
    registry.remove(old)
    before = registry.snapshot()
    for command in (registry.deployment, registry.removal_plan, registry.promote, registry.remove):
        with pytest.raises(DeploymentRemoved, match="was removed"):
            command(old)
    assert isinstance(DeploymentRemoved(old), DeploymentNotFound)
    assert registry.snapshot() == before


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ("inv_1iyF5Za7tVoR4RdJmJGFHpIlkKyJhKoqI3", InvalidId),
        ("dp_1", InvalidId),
        ("dp_131iEjmRB5Z36mzIJBmSNkl", DeploymentNotFound),
    ],
)
def test_unknown_or_malformed_ids_raise_and_change_nothing(
    registry: Registry, bad: str, error: type[Exception]
) -> None:
    registry.register(V1, SDK_MANIFEST)
    before = registry.snapshot()
    for command in (registry.removal_plan, registry.remove, registry.promote):
        with pytest.raises(error, match=repr(bad)):
            command(bad)
    assert registry.snapshot() == before


def test_promote_makes_an_older_deployment_latest_again(
    registry: Registry, versioning_clock: ManualClock
) -> None:
    """Instant rollback: the force re-register semantics, without rediscovery."""
    v1 = registry.register(V1, SDK_MANIFEST).deployment
    registry.set_public("Greeter", False)
    registry.register(V2, SDK_MANIFEST)
    versioning_clock.advance(timedelta(minutes=1))
    promoted = registry.promote(v1.id)
    assert promoted.outcome is Outcome.OVERWRITTEN
    assert promoted.deployment.id == v1.id
    assert promoted.deployment.created_at == versioning_clock()
    assert registry.service("Greeter").deployment_id == v1.id
    assert registry.service("Greeter").revision == 3
    assert registry.service("Greeter").public is True
    assert registry.deployment_status(v1.id) is DeploymentStatus.ACTIVE
    again = registry.register(V1, SDK_MANIFEST, force=True)
    assert again.deployment.services == registry.deployment(v1.id).services


def test_drained_lists_every_deployment_safe_to_remove_now(registry: Registry) -> None:
    v1 = registry.register(V1, SDK_MANIFEST).deployment.id
    call = registry.invoke("Greeter", "greet")
    v2 = registry.register(V2, SDK_MANIFEST).deployment.id
    retired = registry.register(V3, manifest(service("Retired"))).deployment.id
    registry.set_public("Retired", False)
    assert [p.deployment_id for p in registry.drained()] == [retired]
    registry.complete(call.id)
    assert [p.deployment_id for p in registry.drained()] == [v1, retired]
    assert v2 not in [p.deployment_id for p in registry.drained()]


def test_declaring_a_malformed_caller_is_refused(registry: Registry) -> None:
    before = registry.snapshot()
    with pytest.raises(InvalidInvocation, match="'nobody'"):
        registry.declare_caller("Payments", "nobody")
    with pytest.raises(InvalidInvocation, match="'1bad'"):
        registry.declare_caller("1bad", "A/b")
    with pytest.raises(InvalidInvocation, match="not known to call"):
        registry.forget_caller("Payments", "A/b")
    assert registry.snapshot() == before


def test_a_deployment_without_a_kept_manifest_cannot_be_promoted(registry: Registry) -> None:
    import attrs

    from restate_versioning import RegistrySnapshot

    deployment = registry.register(V1, SDK_MANIFEST).deployment
    snapshot = registry.snapshot()
    stripped = attrs.evolve(snapshot, deployments=(attrs.evolve(deployment, manifest=None),))
    loaded = Registry.from_snapshot(stripped)
    assert isinstance(stripped, RegistrySnapshot)
    with pytest.raises(VersioningError, match="keeps no manifest"):
        loaded.promote(deployment.id)


def test_a_caller_that_repeats_a_workflow_run_is_a_caller_too(registry: Registry) -> None:
    registry.register(V1, manifest(service("Caller")))
    workflow = registry.register(
        V2, manifest(service("Signup", "WORKFLOW", ingressPrivate=True))
    ).deployment.id
    run = registry.invoke("Signup", "run", key="k", caller="Other/x")
    registry.complete(run.id)
    assert registry.invoke("Signup", "run", key="k", caller="Caller/greet").id == run.id
    blocker = registry.removal_plan(workflow).blocker(BlockerKind.CALLERS)
    assert blocker is not None
    assert blocker.callers == ("Caller/greet",)


def test_a_paused_call_keeps_its_deployment_draining_and_blocks_the_removal(
    registry: Registry,
) -> None:
    """A paused call keeps its pin, and the real CLI counts it (``status != 'completed'``):
    the old deployment is Draining 1, as ``tests/test_lifecycle_server.py`` shows."""
    old = registry.register(V1, SDK_MANIFEST).deployment.id
    paused = registry.pause(registry.invoke("Greeter", "greet").id)
    registry.register(V2, SDK_MANIFEST)
    assert registry.deployment_status(old) is DeploymentStatus.DRAINING
    assert registry.active_invocations(old) == 1
    assert registry.in_flight_count(old) == 1
    plan = registry.removal_plan(old)
    assert [(b.kind, b.invocation_ids) for b in plan.blockers] == [
        (BlockerKind.IN_FLIGHT, (paused.id,))
    ]
    assert registry.drained() == ()
    registry.resume(paused.id)
    assert registry.deployment_status(old) is DeploymentStatus.DRAINING
    registry.complete(paused.id)
    assert registry.deployment_status(old) is DeploymentStatus.DRAINED
