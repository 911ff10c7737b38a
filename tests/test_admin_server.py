"""``AdminSource`` against a real restate-server 1.7.12 and real restate-sdk 1.3.0 endpoints.

The scenario, through the real admin API and ingress: two endpoints serve the same services
(``tests/sdk/services.py``) on two ports; v1 is registered; ``Greeter/greet`` "slow-1" starts
(it sleeps 60 s, so it stays in flight, pinned to v1), ``TicketObject/k/reserve`` "slow-a" takes
key ``k`` and "b" queues behind it, a ``Greeter/greet`` is delayed by 10 minutes; then v2 is
registered. What :meth:`AdminSource.load` builds must match what the server and its CLI report.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import attrs
import httpx
import pytest

from restate_versioning import DeploymentStatus, InvocationStatus, Registry
from restate_versioning.admin import INVOCATIONS_QUERY, AdminSource
from restate_versioning.rules.removal import BlockerKind, EffectKind
from restate_versioning.serialization import admin_deployments, admin_services
from restate_versioning.views import deployments_list, render_deployments_list

from .helpers import needed
from .restate_server import RestateServer, RestateUnavailable, find_binary

pytestmark = pytest.mark.integration  # a real restate-server, SDK endpoints and the restate CLI


@attrs.frozen
class Scenario:
    server: RestateServer
    v1: str
    v2: str
    v1_url: str
    v2_url: str
    slow_greet: str
    key_holder: str
    queued: str
    delayed: str
    v1_revision: int


@pytest.fixture(scope="module")
def scenario(restate_server: RestateServer) -> Iterator[Scenario]:
    from .sdk.endpoint import SdkEndpoint, SdkUnavailable

    endpoints: list[SdkEndpoint] = []
    try:
        try:
            endpoints.append(SdkEndpoint.start())
            endpoints.append(SdkEndpoint.start())
        except SdkUnavailable as exc:
            needed("Restate Python SDK endpoint", exc)
        first, second = endpoints
        with httpx.Client(timeout=30) as client:
            admin, ingress = restate_server.admin_url, restate_server.ingress_url

            def register(url: str) -> dict[str, Any]:
                response = client.post(f"{admin}/deployments", json={"uri": url})
                assert response.status_code == 201, response.text
                answer: dict[str, Any] = response.json()
                return answer

            def send(path: str, body: str) -> str:
                response = client.post(f"{ingress}{path}", json=body)
                assert response.status_code == 202, response.text
                invocation_id: str = response.json()["invocationId"]
                return invocation_id

            v1 = register(first.url)
            slow_greet = send("/Greeter/greet/send", "slow-1")
            key_holder = send("/TicketObject/k/reserve/send", "slow-a")
            queued = send("/TicketObject/k/reserve/send", "b")
            delayed = send("/Greeter/greet/send?delay=10m", "later")
            v2 = register(second.url)
        scenario = Scenario(
            restate_server,
            v1["id"],
            v2["id"],
            first.url,
            second.url,
            slow_greet,
            key_holder,
            queued,
            delayed,
            v1["services"][0]["revision"],
        )
        _settle(scenario)
        yield scenario
    finally:
        for endpoint in endpoints:
            endpoint.stop()


def _settle(scenario: Scenario, timeout: float = 15) -> None:
    """Wait until the two slow calls have started (they are accepted before they run)."""
    source = AdminSource(scenario.server.admin_url)
    deadline = time.monotonic() + timeout
    while True:
        registry = source.load()
        statuses = {i.id: i.status for i in registry.invocations()}
        if {statuses.get(scenario.slow_greet), statuses.get(scenario.key_holder)} <= _STARTED:
            return
        assert time.monotonic() < deadline, statuses
        time.sleep(0.1)


_STARTED = {InvocationStatus.RUNNING, InvocationStatus.SUSPENDED}


@pytest.fixture
def registry(scenario: Scenario) -> Registry:
    return AdminSource(scenario.server.admin_url).load()


def _get(scenario: Scenario, path: str) -> Any:
    response = httpx.get(scenario.server.admin_url + path, timeout=10)
    response.raise_for_status()
    return response.json()


def test_the_server_listens_on_loopback_only(scenario: Scenario) -> None:
    listening = scenario.server.listening()
    if not listening:
        pytest.skip("no /proc to read the server's sockets from")
    assert {ip for ip, _ in listening} == {"127.0.0.1"}
    assert {port for _, port in listening} == set(scenario.server.ports.values())


def test_services_match_get_services(scenario: Scenario, registry: Registry) -> None:
    """Each service's latest revision, type, visibility, handlers and deployment, and every
    other field ``GET /services`` shows (payloads, options, the server's defaults); the
    server's order of handlers varies, so they are compared by name."""

    def by_name(services: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {
            s["name"]: {**s, "handlers": sorted(s["handlers"], key=lambda h: h["name"])}
            for s in services
        }

    shown = by_name(_get(scenario, "/services")["services"])
    assert by_name(admin_services(registry)["services"]) == shown
    for name in ("Greeter", "TicketObject", "Signup"):
        latest = registry.service(name)
        assert (latest.revision, latest.deployment_id) == (scenario.v1_revision + 1, scenario.v2)


def test_deployments_match_get_deployments(scenario: Scenario, registry: Registry) -> None:
    """Endpoint, protocol, SDK, creation time and the revision of each service held."""

    def by_id(deployments: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {
            d["id"]: {**d, "services": sorted(d["services"], key=lambda s: s["name"])}
            for d in deployments
        }

    shown = by_id(_get(scenario, "/deployments")["deployments"])
    assert by_id(admin_deployments(registry)["deployments"]) == shown
    assert set(shown) == {scenario.v1, scenario.v2}
    assert registry.deployment(scenario.v1).endpoint == scenario.v1_url + "/"
    assert registry.find_deployment(scenario.v2_url) == registry.deployment(scenario.v2)
    for service in registry.deployment(scenario.v1).services.values():
        assert service.revision == scenario.v1_revision


def test_invocations_match_sys_invocation(scenario: Scenario, registry: Registry) -> None:
    """Status and pin of every invocation; queued work is pinned nowhere."""
    answer = httpx.post(
        scenario.server.admin_url + "/query",
        json={"query": INVOCATIONS_QUERY},
        headers={"accept": "application/json"},
        timeout=10,
    ).json()
    shown = {r["id"]: (r["status"], r.get("pinned_deployment_id")) for r in answer["rows"]}
    loaded = {i.id: (i.status.value, i.pinned_deployment_id) for i in registry.invocations()}
    assert loaded == shown
    slow = registry.invocation(scenario.slow_greet)
    assert slow.status in _STARTED
    assert slow.pinned_deployment_id == scenario.v1
    assert registry.invocation(scenario.key_holder).pinned_deployment_id == scenario.v1
    queued = registry.invocation(scenario.queued)
    assert (queued.status, queued.pinned_deployment_id) == (InvocationStatus.PENDING, None)
    delayed = registry.invocation(scenario.delayed)
    assert (delayed.status, delayed.pinned_deployment_id) == (InvocationStatus.SCHEDULED, None)
    assert delayed.execute_at is not None
    snapshot = registry.snapshot()
    assert ("TicketObject", "k", scenario.key_holder) in snapshot.locks
    assert ("TicketObject", "k", (scenario.queued,)) in snapshot.inboxes


def test_deployment_statuses_match_the_cli(scenario: Scenario, registry: Registry) -> None:
    """``restate deployments list --extra``, as the real CLI prints it for this cluster."""
    try:
        find_binary("restate")
    except RestateUnavailable as exc:
        needed("restate CLI", exc)
    done = scenario.server.cli("deployments", "list", "--extra")
    assert done.returncode == 0, done.stderr
    printed = [line.rstrip() for line in done.stdout.splitlines()]
    assert render_deployments_list(deployments_list(registry)).splitlines() == printed
    assert registry.deployment_status(scenario.v1) is DeploymentStatus.DRAINING
    assert registry.deployment_status(scenario.v2) is DeploymentStatus.ACTIVE


def test_removal_plans(scenario: Scenario, registry: Registry) -> None:
    """v1 is draining: its removal would break the calls pinned to it. v2 holds the latest
    revisions: its removal would route new calls back to v1."""
    v1 = registry.removal_plan(scenario.v1)
    assert [b.kind for b in v1.blockers] == [BlockerKind.IN_FLIGHT]
    assert scenario.slow_greet in v1.blockers[0].invocation_ids
    assert scenario.key_holder in v1.blockers[0].invocation_ids
    v2 = registry.removal_plan(scenario.v2)
    assert [b.kind for b in v2.blockers] == [BlockerKind.ROLLBACK]
    assert {(e.kind, e.fallback_deployment_id) for e in v2.effects} == {
        (EffectKind.ROLLS_BACK, scenario.v1)
    }
