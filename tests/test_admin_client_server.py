"""Acting on a real restate-server 1.7.12 through :class:`AdminClient`, each write checked by the
model first (docs/rules.md, "Removing"): removal is refused while work is pinned to the
deployment, or while it is the latest of a service that would vanish or roll back, and succeeds
once that clears; prune never removes such a deployment; wait-drained returns when the last call
is killed; a registration whose state the latest revision could not read is refused before the
server sees it; every refused write leaves the cluster as it was (read back)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from restate_versioning import (
    BlockerKind,
    IncompatibleState,
    InvocationStatus,
    RemovalBlocked,
    ResumeOn,
    ServiceNotFound,
)
from restate_versioning.admin import AdminApiError, AdminClient, DrainProgress, DrainTimeout

from .helpers import endpoint_starter, own_restate_server
from .restate_server import RestateServer

pytestmark = pytest.mark.integration  # a real restate-server and SDK endpoints


@pytest.fixture(scope="module")
def server() -> Iterator[RestateServer]:
    """A restate-server of its own: these tests remove deployments the others rely on."""
    yield from own_restate_server()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Callable[[str], str]]:
    """Start a new endpoint serving ``tests.sdk.services:{app}``; all stop with the module."""
    yield from endpoint_starter()


@pytest.fixture(scope="module")
def admin(server: RestateServer) -> AdminClient:
    return AdminClient(server.admin_url, timeout=30)


def _send(server: RestateServer, path: str, body: str) -> str:
    answer = httpx.post(f"{server.ingress_url}{path}", json=body, timeout=30)
    assert answer.status_code == 202, answer.text
    invocation_id: str = answer.json()["invocationId"]
    return invocation_id


def _wait_pinned(admin: AdminClient, invocation_id: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        found = {i.id: i for i in admin.load().invocations()}.get(invocation_id)
        if found is not None and found.pinned_deployment_id is not None:
            return
        assert time.monotonic() < deadline, found
        time.sleep(0.2)


def _pause(server: RestateServer, admin: AdminClient, invocation_id: str) -> None:
    """Pause a call through the admin API, and wait until the cluster shows it paused."""
    answer = httpx.patch(f"{server.admin_url}/invocations/{invocation_id}/pause", timeout=30)
    assert answer.status_code in (200, 202), answer.text
    deadline = time.monotonic() + 30
    while admin.load().invocation(invocation_id).status is not InvocationStatus.PAUSED:
        assert time.monotonic() < deadline
        time.sleep(0.2)


def _kill(server: RestateServer, invocation_id: str) -> None:
    answer = httpx.patch(f"{server.admin_url}/invocations/{invocation_id}/kill", timeout=30)
    assert answer.status_code in (200, 202), answer.text


def _listed(server: RestateServer) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server.admin_url}/deployments", timeout=30)
    deployments: list[dict[str, Any]] = answer.json()["deployments"]
    return sorted(deployments, key=lambda d: d["id"])


def test_removal_waits_for_the_work_pinned_to_a_deployment_and_prune_keeps_it_meanwhile(
    server: RestateServer, admin: AdminClient, endpoint: Callable[[str], str]
) -> None:
    v1 = admin.register(endpoint("app_lifecycle")).deployment.id
    held = _send(server, "/Holder/hold/send", "held")
    _wait_pinned(admin, held)
    v2 = admin.register(endpoint("app_lifecycle")).deployment.id
    before = _listed(server)

    with pytest.raises(RemovalBlocked) as caught:
        admin.remove(v1)
    assert [b.kind for b in caught.value.plan.blockers] == [BlockerKind.IN_FLIGHT]
    assert caught.value.plan.blockers[0].invocation_ids == (held,)
    with pytest.raises(RemovalBlocked) as latest:
        admin.remove(v2)  # the latest of Holder: removing it would roll Holder back
    assert BlockerKind.ROLLBACK in [b.kind for b in latest.value.plan.blockers]
    pruned = admin.prune()
    assert pruned.removed == ()
    assert {p.deployment_id for p in pruned.kept} == {v1, v2}
    assert _listed(server) == before  # every refusal left the cluster as it was

    with pytest.raises(DrainTimeout) as timed_out:
        admin.wait_drained(v1, timeout=1, poll=0.5)
    assert timed_out.value.plan.deployment_id == v1

    reports: list[DrainProgress] = []
    killer = threading.Timer(1.0, _kill, (server, held))
    killer.start()
    try:
        drained = admin.wait_drained(v1, timeout=60, poll=0.5, progress=reports.append)
    finally:
        killer.join()
    assert drained.safe
    assert reports[0].in_flight == 1
    assert reports[-1].in_flight == 0
    assert all(r.deployment_id == v1 for r in reports)

    pruned = admin.prune(dry_run=True)
    assert [r.deployment.id for r in pruned.removed] == [v1]
    assert [d["id"] for d in _listed(server)] == sorted([v1, v2])  # a dry run removes nothing
    pruned = admin.prune()
    assert [r.deployment.id for r in pruned.removed] == [v1]
    assert [d["id"] for d in _listed(server)] == [v2]
    with pytest.raises(RemovalBlocked) as vanishing:
        admin.remove(v2)  # Holder would vanish, and it is public
    assert BlockerKind.PUBLIC in [b.kind for b in vanishing.value.plan.blockers]


def test_a_registration_whose_state_the_latest_cannot_take_over_is_refused_before_the_server(
    server: RestateServer, admin: AdminClient, endpoint: Callable[[str], str]
) -> None:
    v1 = admin.register(endpoint("cart_v1")).deployment.id
    before = _listed(server)
    with pytest.raises(IncompatibleState):
        admin.register(endpoint("cart_v2"))  # a narrowed state schema
    assert _listed(server) == before
    forced = admin.register(endpoint("cart_v2"), breaking=True)
    assert forced.deployment.services["Cart"].revision == 2
    assert v1 in {d["id"] for d in _listed(server)}


def test_a_write_the_model_or_the_server_refuses_leaves_the_cluster_as_it_was(
    server: RestateServer, admin: AdminClient
) -> None:
    before = _listed(server)
    with pytest.raises(ServiceNotFound):
        admin.set_public("Nope", False)
    with pytest.raises(AdminApiError) as unreachable:
        admin.register("http://127.0.0.1:1/")
    assert unreachable.value.status == 500
    assert unreachable.value.restate_code == "META0003"
    assert _listed(server) == before


def test_a_paused_call_resumes_through_the_client_once_the_model_allows_it(
    server: RestateServer, admin: AdminClient, endpoint: Callable[[str], str]
) -> None:
    admin.register(endpoint("app_lifecycle"))
    held = _send(server, "/Holder/hold/send", "paused")
    _wait_pinned(admin, held)
    with pytest.raises(Exception, match="running"):
        admin.resume(held, ResumeOn.LATEST)  # a running call cannot be moved: refused first
    _pause(server, admin, held)
    resumed = admin.resume(held)
    assert resumed.status is not InvocationStatus.PAUSED
    _kill(server, held)


def _cli(server: RestateServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "restate_versioning", "--admin-url", server.admin_url, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_line_removes_from_a_live_cluster_only_what_is_safe(
    server: RestateServer, admin: AdminClient, endpoint: Callable[[str], str]
) -> None:
    registered = _cli(server, "deployments", "register", endpoint("app_family"), "--yes")
    assert registered.returncode == 0, registered.stderr
    v1 = registered.stdout.split()[0]
    held = _send(server, "/Child/hold/send", "held")
    _wait_pinned(admin, held)
    newer = _cli(server, "deployments", "register", endpoint("app_family"))
    assert newer.returncode == 0, newer.stderr
    v2 = newer.stdout.split()[0]
    before = _listed(server)

    refused = _cli(server, "deployments", "remove", v1, "--yes")
    assert refused.returncode == 1, refused.stderr
    assert "in_flight" in refused.stdout.lower() or held in refused.stdout
    assert refused.stderr.startswith("error: ")
    pruned = _cli(server, "deployments", "prune", "--dry-run", "--json")
    assert pruned.returncode == 0, pruned.stderr
    would = json.loads(pruned.stdout)["removed"]  # others of this module's cluster may go
    assert v1 not in would
    assert v2 not in would
    waited = _cli(server, "deployments", "wait-drained", v1, "--timeout", "1", "--poll", "0.5")
    assert waited.returncode == 1, waited.stderr
    assert _listed(server) == before

    _kill(server, held)
    drained = _cli(
        server, "deployments", "wait-drained", v1, "--timeout", "60", "--poll", "0.5", "--json"
    )
    assert drained.returncode == 0, drained.stderr
    assert json.loads(drained.stdout)["deployment_id"] == v1
    removed = _cli(server, "deployments", "remove", v1, "--yes")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.startswith(f"removed {v1}")
    assert v1 not in {d["id"] for d in _listed(server)}


def test_a_call_that_lands_after_a_plan_blocks_the_removal_the_plan_allowed(
    server: RestateServer, admin: AdminClient, endpoint: Callable[[str], str]
) -> None:
    """The race as far as the admin API allows: a plan said the removal was safe, then a call
    was moved onto the deployment; ``remove`` plans again from a fresh read right before it
    deletes, and refuses. (What lands after that read, in the one round trip before the
    deletion, the API gives no way to stop.)"""
    v1 = admin.register(endpoint("app_holder_without_hold")).deployment.id
    admin.register(endpoint("app_lifecycle"))  # Holder/hold: the latest revision of Holder
    call = _send(server, "/Holder/hold/send", "moved")
    _wait_pinned(admin, call)
    _pause(server, admin, call)
    assert admin.load().removal_plan(v1).safe  # the plan a person looked at

    moved = httpx.patch(
        f"{server.admin_url}/invocations/{call}/resume?deployment={v1}", timeout=30
    )  # the call lands on v1 (its attempt there fails: v1 has no hold)
    assert moved.status_code in (200, 202), moved.text
    with pytest.raises(RemovalBlocked) as caught:
        admin.remove(v1)
    assert BlockerKind.IN_FLIGHT in [b.kind for b in caught.value.plan.blockers]
    assert v1 in {d["id"] for d in _listed(server)}
    _kill(server, call)


def test_removal_waits_for_queued_and_scheduled_work_of_a_service_that_would_vanish(
    server: RestateServer, admin: AdminClient, endpoint: Callable[[str], str]
) -> None:
    """``B`` (a Virtual Object) is served by one deployment only: removing it makes B vanish.
    A call holds ``B/q``, a second waits behind it (pending), a third is delayed an hour
    (scheduled): the server pins neither, the CLI counts neither, and the removal waits for
    both (``QUEUED``) as well as for the holder (``IN_FLIGHT``)."""
    only = admin.register(endpoint("lifecycle_exclusive")).deployment.id
    holder = httpx.post(f"{server.ingress_url}/B/q/hold/send", json="holder", timeout=30)
    assert holder.status_code == 202, holder.text
    _wait_pinned(admin, holder.json()["invocationId"])
    queued = httpx.post(f"{server.ingress_url}/B/q/h2/send", json="queued", timeout=30)
    delayed = httpx.post(f"{server.ingress_url}/B/d/h2/send?delay=1h", json="later", timeout=30)
    assert queued.status_code == delayed.status_code == 202, (queued.text, delayed.text)
    ids = [a.json()["invocationId"] for a in (holder, queued, delayed)]
    admin.set_public("B", False)  # now only the work is in the way
    before = _listed(server)

    with pytest.raises(RemovalBlocked) as caught:
        admin.remove(only)
    blockers = {b.kind: b for b in caught.value.plan.blockers}
    assert set(blockers) == {BlockerKind.IN_FLIGHT, BlockerKind.QUEUED}
    assert blockers[BlockerKind.QUEUED].count == 2
    assert set(blockers[BlockerKind.QUEUED].invocation_ids) == set(ids[1:])
    assert _listed(server) == before  # the refusal left the cluster as it was
    assert only not in {r.deployment.id for r in admin.prune().removed}  # others may go
    assert only in {d["id"] for d in _listed(server)}

    for invocation_id in reversed(ids):
        _kill(server, invocation_id)
    admin.wait_drained(only, timeout=60, poll=0.5)
    assert admin.remove(only).deployment.id == only
    assert only not in {d["id"] for d in _listed(server)}
