"""The views users read: the CLI's tables as data and as text (docs/rules.md, "What the CLI
views show")."""

from __future__ import annotations

from datetime import timedelta

import pytest

from restate_versioning import (
    DeploymentStatus,
    InvocationStatus,
    ManualClock,
    Registry,
    SequentialIds,
    ServiceNotFound,
)
from restate_versioning.storage import MemoryStorage, StoredRegistry
from restate_versioning.views import (
    active_keys,
    deployments_list,
    describe_deployment,
    render_active_keys,
    render_deployment_description,
    render_deployments_list,
    render_history,
    render_invocations,
    render_removal_plan,
    render_services_list,
    render_services_status,
    services_list,
    services_status,
)

from .helpers import SDK_MANIFEST, V1, V2, V3, manifest, service


@pytest.fixture
def story(registry: Registry, versioning_clock: ManualClock) -> tuple[str, str, str]:
    """v1 draining with one call in flight, v2 active, v3 drained."""
    v1 = registry.register(V1, SDK_MANIFEST).deployment.id
    registry.suspend(registry.invoke("Greeter", "greet").id)
    versioning_clock.advance(timedelta(minutes=1))
    v3 = registry.register(V3, manifest(service("Greeter"))).deployment.id
    versioning_clock.advance(timedelta(minutes=1))
    v2 = registry.register(V2, SDK_MANIFEST).deployment.id
    return v1, v2, v3


def test_services_list_shows_revision_flavor_and_visibility(
    registry: Registry, story: tuple[str, str, str]
) -> None:
    _, v2, _ = story
    registry.set_public("Signup", False)
    rows = {r.name: r for r in services_list(registry)}
    assert (rows["Greeter"].revision, rows["Greeter"].flavor) == (3, "")
    assert rows["TicketObject"].flavor == "virtual object"
    assert rows["Signup"].flavor == "workflow"
    assert rows["Signup"].public is False
    assert rows["Greeter"].deployment_id == v2
    text = render_services_list(services_list(registry))
    assert text.splitlines()[0].split() == [
        "NAME",
        "REVISION",
        "FLAVOR",
        "DEPLOYMENT-TYPE",
        "DEPLOYMENT-ID",
    ]
    assert f" [public]   Greeter       3                         HTTP             {v2}" in text
    assert "[private]  Signup" in text


def test_deployments_list_sorts_active_draining_drained_newest_first(
    registry: Registry, story: tuple[str, str, str]
) -> None:
    v1, v2, v3 = story
    rows = deployments_list(registry)
    assert [(r.id, r.status) for r in rows] == [
        (v2, DeploymentStatus.ACTIVE),
        (v1, DeploymentStatus.DRAINING),
        (v3, DeploymentStatus.DRAINED),
    ]
    assert rows[1].active_invocations == 1
    assert rows[0].endpoint == "http://127.0.0.1:9082/"
    text = render_deployments_list(rows)
    header = text.splitlines()[0].split()
    assert header == [
        "DEPLOYMENT",
        "TYPE",
        "STATUS",
        "ACTIVE-INVOCATIONS",
        "ID",
        "CREATED-AT",
        "SERVICES",
    ]
    assert "Thu 01 Jan 2026 00:02:00 +00:00  - Greeter [3]" in text
    assert text.splitlines()[2].strip() == "- TicketObject [2]"


def test_describe_marks_the_latest_revision_or_says_where_it_is(
    registry: Registry, story: tuple[str, str, str]
) -> None:
    v1, v2, _ = story
    old = describe_deployment(registry, v1)
    greeter = next(s for s in old.services if s.name == "Greeter")
    assert greeter.marker == f"[Latest 3 is in deployment ID {v2}]"
    assert (old.status, old.active_invocations) == (DeploymentStatus.DRAINING, 1)
    new = describe_deployment(registry, v2)
    assert all(s.marker == "[Latest]" for s in new.services)
    text = render_deployment_description(old)
    assert f"Revision: 1 [Latest 3 is in deployment ID {v2}]" in text
    assert " Protocol Style:  Request/Response" in text
    assert " Protocol:        [5, 7]" in text


def test_services_status_counts_per_handler_and_status_with_the_oldest_not_suspended(
    registry: Registry, versioning_clock: ManualClock
) -> None:
    registry.register(V1, SDK_MANIFEST)
    suspended = registry.suspend(registry.invoke("Greeter", "greet").id)
    versioning_clock.advance(timedelta(seconds=1))
    running = registry.invoke("Greeter", "greet")
    registry.invoke("Greeter", "greet", delay=timedelta(hours=1))
    registry.invoke("TicketObject", "reserve", key="k")
    registry.invoke("TicketObject", "reserve", key="k")
    rows = {(r.service, r.handler): r for r in services_status(registry)}
    greet = rows[("Greeter", "greet")]
    assert greet.count(InvocationStatus.SUSPENDED) == 1
    assert greet.count(InvocationStatus.RUNNING) == 1
    assert greet.count(InvocationStatus.SCHEDULED) == 1
    assert greet.oldest == running
    assert greet.oldest != suspended
    reserve = rows[("TicketObject", "reserve")]
    assert (reserve.count(InvocationStatus.RUNNING), reserve.count(InvocationStatus.PENDING)) == (
        1,
        1,
    )
    assert rows[("Signup", "run")].counts == ()
    text = render_services_status(services_status(registry, "Greeter")).splitlines()
    # As restate services status printed it: a Summary block, a line for the service, one per
    # handler, "-" for none, and the oldest invocation that is not suspended.
    assert text[1:3] == [" Summary:", "―" * 9]
    assert text[3].split() == [
        "PENDING",
        "SCHEDULED",
        "READY",
        "RUNNING",
        "BACKING-OFF",
        "SUSPENDED",
        "OLDEST-NON-SUSPENDED-INVOCATION",
    ]
    assert text[4].strip() == "Greeter"
    assert text[5].split()[:9] == ["greet", "-", "1", "-", "1", "-", "1", running.id, "running"]
    reserve_text = render_services_status(services_status(registry, "TicketObject"))
    assert reserve_text.splitlines()[4].strip() == "TicketObject virtual object"


def test_active_keys_show_the_holder_and_the_queue(registry: Registry) -> None:
    registry.register(V1, SDK_MANIFEST)
    holder = registry.invoke("TicketObject", "reserve", key="k")
    registry.invoke("TicketObject", "reserve", key="k")
    registry.invoke("TicketObject", "reserve", key="other")
    (first, second) = active_keys(registry)
    assert (first.key, first.locked_by, first.queue) == ("k", holder, 1)
    assert (second.key, second.queue) == ("other", 0)
    text = render_active_keys(active_keys(registry, "TicketObject")).splitlines()
    assert text[3].split() == ["QUEUE", "LOCKED-BY", "HANDLER"]
    assert text[4].strip() == "TicketObject (2 active keys)"
    assert text[5].split() == ["k", "1", holder.id, "(running)", "reserve"]


def test_completed_work_leaves_the_counts(registry: Registry) -> None:
    registry.register(V1, SDK_MANIFEST)
    registry.complete(registry.invoke("Greeter", "greet").id)
    assert registry.status_counts() == {}
    (row,) = services_status(registry, "Greeter")
    assert row.oldest is None


def test_services_status_of_an_unknown_service_raises(registry: Registry) -> None:
    with pytest.raises(ServiceNotFound):
        services_status(registry, "Nope")


def test_a_removal_plan_reads_as_verdict_blockers_and_effects(
    registry: Registry, story: tuple[str, str, str]
) -> None:
    _, v2, v3 = story
    text = render_removal_plan(registry.removal_plan(v2))
    assert text.startswith(f"Deployment {v2} (Active) is NOT safe to remove.")
    assert "  - ROLLBACK: " in text
    assert "Greeter: rolls back from revision 3 to revision 2 in deployment" in text
    safe = render_removal_plan(registry.removal_plan(v3))
    assert f"Deployment {v3} (Drained) is safe to remove." in safe
    assert "Greeter: unaffected (revision 2 is not the latest)" in safe


def test_invocations_render_a_line_each_with_target_status_and_pin(registry: Registry) -> None:
    v1 = registry.register(V1, SDK_MANIFEST).deployment.id
    running = registry.invoke("TicketObject", "reserve", key="k")
    waiting = registry.invoke("TicketObject", "reserve", key="k")
    assert render_invocations(tuple(registry.invocations())).splitlines() == [
        " ID                                      TARGET                  STATUS   "
        "DEPLOYMENT                  INVOKED-BY",
        f" {running.id}  TicketObject/k/reserve  running  {v1}  -",
        f" {waiting.id}  TicketObject/k/reserve  pending  -                           -",
    ]


def test_history_renders_a_command_a_line(versioning_clock: ManualClock) -> None:
    stored = StoredRegistry(MemoryStorage(), clock=versioning_clock, ids=SequentialIds())
    v1 = stored.register(V1, manifest(service("Greeter"))).deployment.id
    versioning_clock.advance(timedelta(seconds=5))
    stored.set_public("Greeter", False)
    lines = render_history(stored.history()).splitlines()
    assert lines[0] == " #  AT                   COMMAND     SUMMARY"
    assert lines[1].startswith(f" 1  2026-01-01 00:00:00  register    CREATED {v1}")
    assert lines[2].startswith(" 2  2026-01-01 00:00:05  set_public  ")
