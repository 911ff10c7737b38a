"""The invocation lifecycle on a real restate-server 1.7.12, next to the model.

``Holder/hold`` (a real restate-sdk 1.3.0 endpoint, ``tests/sdk/services.py``) runs a first
step and waits on an awakeable, so the call stays running and pinned. Two endpoints serve it,
so registering the second makes the first a deployment that only drains.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import httpx
import pytest

from restate_versioning import (
    DeploymentStatus,
    InvalidInvocation,
    InvocationStatus,
    Registry,
    SequentialIds,
    ServiceNotFound,
)
from restate_versioning.admin import AdminSource
from restate_versioning.transport import HttpTransport

from .helpers import endpoint_starter, own_restate_server
from .restate_server import RestateServer

pytestmark = pytest.mark.integration  # a real restate-server and SDK endpoints


@pytest.fixture(scope="module")
def server() -> Iterator[RestateServer]:
    """A restate-server of its own: these tests pause and leave calls the others do not
    expect."""
    yield from own_restate_server()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Callable[[str], str]]:
    """Start a new endpoint serving ``tests.sdk.services:{app}``; all stop with the module."""
    yield from endpoint_starter()


@pytest.fixture(scope="module")
def endpoints(endpoint: Callable[[str], str]) -> tuple[str, str]:
    return endpoint("app_lifecycle"), endpoint("app_lifecycle")


@attrs.frozen
class Live:
    server: RestateServer
    client: httpx.Client

    def register(self, url: str) -> str:
        answer = self.client.post(f"{self.server.admin_url}/deployments", json={"uri": url})
        assert answer.status_code == 201, answer.text
        deployment_id: str = answer.json()["id"]
        return deployment_id

    def send(self, path: str, body: str) -> str:
        answer = self.client.post(f"{self.server.ingress_url}{path}", json=body)
        assert answer.status_code == 202, answer.text
        invocation_id: str = answer.json()["invocationId"]
        return invocation_id

    def query(self, query: str) -> list[dict[str, Any]]:
        answer = self.client.post(
            f"{self.server.admin_url}/query",
            json={"query": query},
            headers={"accept": "application/json"},
        )
        answer.raise_for_status()
        rows: list[dict[str, Any]] = answer.json()["rows"]
        return rows

    def status(self, invocation_id: str) -> dict[str, Any]:
        rows = self.query(
            "SELECT status, pinned_deployment_id, last_failure_error_code, last_failure "
            f"FROM sys_invocation WHERE id = '{invocation_id}'"
        )
        return rows[0] if rows else {}

    def key_holder(self, service: str, key: str) -> str | None:
        rows = self.query(
            "SELECT invocation_id FROM sys_keyed_service_status "
            f"WHERE service_name = '{service}' AND service_key = '{key}'"
        )
        return str(rows[0]["invocation_id"]) if rows else None

    def wait_for(
        self, invocation_id: str, status: str, *, pinned: bool = False, timeout: float = 20
    ) -> dict[str, Any]:
        """Wait until the call is in ``status`` (and, with ``pinned``, has its pin: a call
        that has started is pinned only once its handler's first command reaches the server)."""
        deadline = time.monotonic() + timeout
        while (row := self.status(invocation_id)).get("status") != status or (
            pinned and row.get("pinned_deployment_id") is None
        ):
            assert time.monotonic() < deadline, row
            time.sleep(0.1)
        return row

    def listed(self) -> dict[str, tuple[str, str]]:
        """``restate deployments list --extra``: each deployment's status and count."""
        shown = self.server.cli("deployments", "list", "--extra").stdout
        rows: dict[str, tuple[str, str]] = {}
        for line in shown.splitlines()[1:]:
            cells = line.split()
            if len(cells) > 5:
                rows[cells[4]] = (cells[2], cells[3])
        return rows


@pytest.fixture(scope="module")
def live(server: RestateServer) -> Iterator[Live]:
    with httpx.Client(timeout=30) as client:
        yield Live(server, client)


def test_a_paused_call_keeps_its_deployment_draining_on_the_server_and_the_model(
    live: Live, endpoints: tuple[str, str]
) -> None:
    first, second = endpoints
    old = live.register(first)
    held = live.send("/Holder/hold/send", "paused")
    assert live.wait_for(held, "running", pinned=True)["pinned_deployment_id"] == old
    live.register(second)
    paused = live.client.patch(f"{live.server.admin_url}/invocations/{held}/pause")
    assert paused.status_code == 202, paused.text
    assert live.wait_for(held, "paused")["pinned_deployment_id"] == old
    assert live.listed()[old] == ("Draining", "1")
    loaded = AdminSource(live.server.admin_url).load()
    assert loaded.invocation(held).status is InvocationStatus.PAUSED
    assert loaded.deployment_status(old) is DeploymentStatus.DRAINING
    assert loaded.active_invocations(old) == 1

    model = Registry(ids=SequentialIds())
    transport = HttpTransport()
    model_old = model.register(first, transport.discover(first)).deployment.id
    call = model.invoke("Holder", "hold")
    model.register(second, transport.discover(second))
    model.pause(call.id)
    assert model.deployment_status(model_old) is DeploymentStatus.DRAINING
    assert model.active_invocations(model_old) == 1
    assert not model.removal_plan(model_old).safe
    assert model.drained() == ()


def test_calls_keep_the_handler_type_they_were_sent_with_on_the_server(
    live: Live, endpoint: Callable[[str], str]
) -> None:
    """Mirrors ``tests/test_lifecycle.py``: sent exclusive, a call stays queued on its held key
    after a new revision makes the handler shared; sent shared, it runs at once on a held key
    after a new revision makes it exclusive."""
    live.register(endpoint("lifecycle_exclusive"))
    holder = live.send("/B/k1/hold/send", "hold")
    live.wait_for(holder, "running", pinned=True)
    waiting = live.send("/B/k1/h1/send", "now")
    delayed = live.send("/B/k1/h1/send?delay=2s", "later")
    live.register(endpoint("lifecycle_shared"))
    shared = live.send("/B/k1/h1/send?delay=2s", "shared")
    live.register(endpoint("lifecycle_exclusive"))
    live.wait_for(shared, "completed")  # sent shared: ran although k1 is held
    time.sleep(0.5)
    assert live.status(delayed)["status"] == "pending"
    assert live.status(waiting)["status"] == "pending"
    assert live.key_holder("B", "k1") == holder
    _kill(live, holder)
    live.wait_for(delayed, "completed")


def test_a_due_call_on_a_held_key_waits_with_no_deployment_left_on_the_server(
    live: Live, endpoint: Callable[[str], str]
) -> None:
    """Mirrors ``tests/test_lifecycle.py``: after every deployment of B is force-removed, a
    due call on a held key stays pending; one on a free key fails (RT0011), holding it."""
    live.register(endpoint("lifecycle_exclusive"))
    holder = live.send("/B/k3/hold/send", "hold")
    live.wait_for(holder, "running", pinned=True)
    delayed = live.send("/B/k3/h1/send?delay=2s", "held")
    free = live.send("/B/k4/h1/send?delay=2s", "free")
    listed = live.client.get(f"{live.server.admin_url}/deployments").json()["deployments"]
    for deployment in listed:
        if any(s["name"] == "B" for s in deployment["services"]):
            url = f"{live.server.admin_url}/deployments/{deployment['id']}?force=true"
            assert live.client.delete(url).status_code == 202
    failed = live.wait_for(free, "backing-off")
    assert (failed.get("pinned_deployment_id"), failed["last_failure_error_code"]) == (
        None,
        "RT0011",
    )
    assert live.key_holder("B", "k4") == free
    time.sleep(0.5)
    assert live.status(delayed)["status"] == "pending"
    assert live.key_holder("B", "k3") == holder


def test_a_due_call_whose_handler_is_gone_fails_unpinned_on_the_server(
    live: Live, endpoint: Callable[[str], str]
) -> None:
    """Mirrors ``tests/test_lifecycle.py``: the latest revision has no ``h2``, so the SDK
    answers the attempt 404: RT0012, backing-off, pinned nowhere, holding its key."""
    live.register(endpoint("lifecycle_exclusive"))
    delayed = live.send("/B/k5/h2/send?delay=2s", "gone")
    live.register(endpoint("lifecycle_without_h2"))
    failed = live.wait_for(delayed, "backing-off")
    assert failed.get("pinned_deployment_id") is None
    assert failed["last_failure_error_code"] == "RT0012"
    assert failed["last_failure"].endswith("unexpected http status code: 404 Not Found")
    assert live.key_holder("B", "k5") == delayed


def test_what_the_server_answers_with_200_and_no_change_on_the_server(
    live: Live, endpoint: Callable[[str], str]
) -> None:
    """Mirrors ``tests/test_lifecycle.py``: resuming a running call where it runs and pausing
    a paused or suspended one answer 200 and change nothing; moving a running call is 409."""
    admin = live.server.admin_url
    pinned = live.register(endpoint("app_lifecycle"))
    running = live.send("/Holder/hold/send", "running")
    live.wait_for(running, "running", pinned=True)
    for path in ("resume", "resume?deployment=keep"):
        answer = live.client.patch(f"{admin}/invocations/{running}/{path}")
        assert answer.status_code == 200, (path, answer.text)
    for deployment in ("latest", pinned):
        moved = live.client.patch(f"{admin}/invocations/{running}/resume?deployment={deployment}")
        assert moved.status_code == 409, moved.text
    assert live.status(running)["status"] == "running"
    assert live.client.patch(f"{admin}/invocations/{running}/pause").status_code == 202
    live.wait_for(running, "paused")
    assert live.client.patch(f"{admin}/invocations/{running}/pause").status_code == 200
    assert live.status(running)["status"] == "paused"
    live.register(endpoint("app_lifecycle_request_response"))
    suspended = live.send("/Holder/hold/send", "suspended")
    live.wait_for(suspended, "suspended")
    assert live.client.patch(f"{admin}/invocations/{suspended}/pause").status_code == 200
    time.sleep(0.5)
    assert live.status(suspended)["status"] == "suspended"


def _sent_by(live: Live, caller_id: str) -> dict[str, dict[str, Any]]:
    rows = live.query(
        "SELECT id, target, status, pinned_deployment_id, invoked_by_id FROM sys_invocation "
        f"WHERE invoked_by_id = '{caller_id}'"
    )
    return {str(r["id"]): r for r in rows}


def test_killing_a_call_kills_the_calls_it_sent_on_the_server(
    live: Live, endpoint: Callable[[str], str]
) -> None:
    """Mirrors ``tests/test_lifecycle.py``: started calls it sent (and theirs) complete, the
    scheduled one vanishes, the one pending on its own key is kept, completed (see _kept)."""
    deployment = live.register(endpoint("app_family"))
    parent = live.send("/Parent/k/spawn/send", "parent")
    deadline = time.monotonic() + 20
    while len(sent := _sent_by(live, parent)) < 4 or not any(
        r["target"] == "Child/relay" and r["status"] == "running" for r in sent.values()
    ):
        assert time.monotonic() < deadline, sent
        time.sleep(0.1)
    by_target = {r["target"]: r for r in sent.values()}
    relay = by_target["Child/relay"]["id"]
    while not (grandchildren := _sent_by(live, relay)):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    (grandchild,) = grandchildren
    assert by_target["Parent/k/wait"]["status"] == "pending"
    assert by_target["Child/hold"]["status"] == "scheduled"
    _kill(live, parent)
    for started in (relay, grandchild, by_target["Parent/other/wait"]["id"]):
        row = live.wait_for(started, "completed")
        assert row.get("pinned_deployment_id") is not None
    _kept(live, by_target["Parent/k/wait"]["id"], deployment)
    assert live.status(by_target["Child/hold"]["id"]) == {}  # the scheduled one is gone


def _wait_for_sent(live: Live, caller_id: str, count: int) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + 20
    while len(sent := _sent_by(live, caller_id)) < count:
        assert time.monotonic() < deadline, sent
        time.sleep(0.1)
    return {str(r["target"]): r for r in sent.values()}


def _kept(live: Live, invocation_id: str, deployment_id: str) -> None:
    """A queued call a kill kept: completed, and pinned nowhere, as the server nearly always
    shows it (its kill comes before it runs); on a loaded machine its attempt can start first,
    and then it is pinned to the deployment it started on (a race on the server)."""
    kept = live.wait_for(invocation_id, "completed")
    assert kept.get("pinned_deployment_id") in (None, deployment_id), kept


def _kill(live: Live, invocation_id: str) -> None:
    killed = live.client.patch(f"{live.server.admin_url}/invocations/{invocation_id}/kill")
    assert killed.status_code == 200, killed.text
    live.wait_for(invocation_id, "completed")


def test_a_kill_keeps_the_calls_of_the_tree_next_in_line_for_the_killed_callers_key_on_the_server(
    live: Live, endpoint: Callable[[str], str]
) -> None:
    """``TicketObject/q2/send`` sends ``hold`` and ``peek`` to its own key (both exclusive),
    then a call from the ingress queues behind them. Killing the sender, the two are kept,
    completed (each took the key in turn, and its kill came after; see _kept), and the
    ingress call then runs and completes on its deployment."""
    deployment = live.register(endpoint("conformance_v1"))
    sender = live.send("/TicketObject/q2/send/send", "sender")
    sent = _wait_for_sent(live, sender, 4)
    outsider = live.send("/TicketObject/q2/reserve/send", "outsider")
    live.wait_for(outsider, "pending")
    _kill(live, sender)
    for target in ("TicketObject/q2/hold", "TicketObject/q2/peek"):
        _kept(live, sent[target]["id"], deployment)
    done = live.wait_for(outsider, "completed")
    assert done.get("pinned_deployment_id") is not None


def test_a_kill_forgets_the_calls_of_the_tree_waiting_behind_a_call_from_outside_it_on_the_server(
    live: Live, endpoint: Callable[[str], str]
) -> None:
    """``TicketObject/q1/send`` starts only when the holder of ``q1`` is killed, after a slow
    ``reserve`` queued behind it; the two calls it sends to its own key wait behind that
    ``reserve``. Killing the sender, the ``reserve`` runs, and the two are gone."""
    live.register(endpoint("conformance_v1"))
    holder = live.send("/TicketObject/q1/hold/send", "holder")
    live.wait_for(holder, "running", pinned=True)
    sender = live.send("/TicketObject/q1/send/send", "sender")
    other = live.send("/TicketObject/q1/reserve/send", "slow-other")
    live.wait_for(other, "pending")
    _kill(live, holder)
    sent = _wait_for_sent(live, sender, 4)
    _kill(live, sender)
    live.wait_for(other, "running", pinned=True)
    for target in ("TicketObject/q1/hold", "TicketObject/q1/peek"):
        assert live.status(sent[target]["id"]) == {}


def test_a_kill_keeps_a_grandchild_next_in_line_for_a_key_another_branch_holds_on_the_server(
    live: Live, endpoint: Callable[[str], str]
) -> None:
    """``Parent/g/spawn_pair`` sends ``Parent/g-shared/wait`` (it takes that key) and
    ``Child/forward``, whose own ``Parent/g-shared/wait`` waits behind it. Killing the
    parent, that grandchild is kept, completed (see _kept)."""
    deployment = live.register(endpoint("app_family"))
    parent = live.send("/Parent/g/spawn_pair/send", "parent")
    sent = _wait_for_sent(live, parent, 2)
    holder = live.wait_for(sent["Parent/g-shared/wait"]["id"], "running", pinned=True)
    assert holder
    forward = sent["Child/forward"]["id"]
    (grandchild,) = _wait_for_sent(live, forward, 1).values()
    live.wait_for(grandchild["id"], "pending")
    _kill(live, parent)
    _kept(live, grandchild["id"], deployment)


def test_a_call_moved_to_a_deployment_that_cannot_run_it_fails_there_on_the_server(
    live: Live, endpoint: Callable[[str], str]
) -> None:
    """Mirrors ``tests/test_lifecycle.py``: the move answers 200, and the attempt on the
    deployment that lacks the handler, or the whole service, fails with RT0012, pinned there."""
    admin = live.server.admin_url
    live.register(endpoint("app_lifecycle"))
    calls = [live.send("/Holder/hold/send", f"moved {n}") for n in range(2)]
    for call in calls:
        live.wait_for(call, "running", pinned=True)
        assert live.client.patch(f"{admin}/invocations/{call}/pause").status_code == 202
        live.wait_for(call, "paused")
    lacking_handler = live.register(endpoint("app_holder_without_hold"))
    lacking_service = live.register(endpoint("app_other"))
    for call, target in zip(calls, (lacking_handler, lacking_service), strict=True):
        moved = live.client.patch(f"{admin}/invocations/{call}/resume?deployment={target}")
        assert moved.status_code == 200, moved.text
        failed = live.wait_for(call, "backing-off")
        assert (failed["pinned_deployment_id"], failed["last_failure_error_code"]) == (
            target,
            "RT0012",
        )
        assert failed["last_failure"].endswith("unexpected http status code: 404 Not Found")


def test_a_call_to_a_service_that_does_not_exist_fails_the_callers_attempt_on_the_server(
    live: Live, endpoint: Callable[[str], str]
) -> None:
    """The server fails the caller's attempt with RT0018 (backing-off, still pinned when the
    call came after its first step); the model refuses the call and a harness fails the
    caller with ``Registry.fail(code="RT0018")``, which gives the same status."""
    url = endpoint("app_family")
    deployment = live.register(url)
    caller = live.send("/Parent/n/call_nope/send", "caller")
    failed = live.wait_for(caller, "backing-off")
    assert (failed["pinned_deployment_id"], failed["last_failure_error_code"]) == (
        deployment,
        "RT0018",
    )
    assert "the service handler Nope/x was not found" in failed["last_failure"]

    model = Registry(ids=SequentialIds())
    model_deployment = model.register(url, HttpTransport().discover(url)).deployment.id
    calling = model.invoke("Parent", "call_nope", key="n")
    with pytest.raises(ServiceNotFound):
        model.invoke("Nope", "x", caller=calling)
    modelled = model.fail(calling.id, code="RT0018")
    assert (modelled.status.value, modelled.pinned_deployment_id) == (
        failed["status"],
        model_deployment,
    )


def test_a_call_is_pinned_at_its_first_command_on_the_server(
    live: Live, endpoint: Callable[[str], str]
) -> None:
    """Mirrors ``tests/test_lifecycle.py``: a handler whose first step waits on an awakeable
    is suspended with no pin, its deployment shows Active 0, resuming it on the latest
    deployment is 200 (its next attempt runs there anyway) and moving it to a given deployment
    is 409 "not pinned yet"; the model has it with ``pin_on_start=False``."""
    url = endpoint("app_waiter")
    deployment = live.register(url)
    call = live.send("/Waiter/wait_first/send", "first")
    suspended = live.wait_for(call, "suspended")
    assert suspended.get("pinned_deployment_id") is None
    assert live.listed()[deployment] == ("Active", "0")
    moved = live.client.patch(
        f"{live.server.admin_url}/invocations/{call}/resume?deployment=latest"
    )
    # "latest" is where its next attempt runs anyway: 200, and it suspends again, unpinned
    assert moved.status_code == 200, moved.text
    time.sleep(0.5)
    assert live.status(call) == {"status": "suspended"}
    pinned_to = live.client.patch(
        f"{live.server.admin_url}/invocations/{call}/resume?deployment={deployment}"
    )
    assert pinned_to.status_code == 409, pinned_to.text
    assert "not pinned yet" in pinned_to.text
    loaded = AdminSource(live.server.admin_url).load().invocation(call)
    assert (loaded.status, loaded.pinned_deployment_id, loaded.pins_at_first_command) == (
        InvocationStatus.SUSPENDED,
        None,
        True,
    )

    model = Registry(ids=SequentialIds())
    model_deployment = model.register(url, HttpTransport().discover(url)).deployment.id
    modelled = model.suspend(model.invoke("Waiter", "wait_first", pin_on_start=False).id)
    assert (modelled.status, modelled.pinned_deployment_id) == (InvocationStatus.SUSPENDED, None)
    assert model.active_invocations(model_deployment) == 0
    with pytest.raises(InvalidInvocation, match="not pinned yet"):
        model.resume(modelled.id, deployment=model_deployment)
    resumed = model.resume(modelled.id, deployment="latest")
    assert (resumed.status, resumed.pinned_deployment_id) == (InvocationStatus.RUNNING, None)
