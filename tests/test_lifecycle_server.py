"""The invocation lifecycle on a real restate-server 1.7.12, next to the model.

``Holder/hold`` (a real restate-sdk 1.3.0 endpoint, ``tests/sdk/services.py``) runs a first
step and waits on an awakeable, so the call stays running and pinned. Two endpoints serve it,
so registering the second makes the first a deployment that only drains.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import attrs
import httpx
import pytest

from restate_versioning import DeploymentStatus, InvocationStatus, Registry, SequentialIds
from restate_versioning.admin import AdminSource
from restate_versioning.transport import HttpTransport

from .restate_server import RestateServer
from .sdk.endpoint import SdkEndpoint


def _needed(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def server() -> Iterator[RestateServer]:
    """A restate-server of its own: these tests pause and leave calls the others do not
    expect."""
    from .restate_server import RestateUnavailable

    try:
        started = RestateServer.start()
    except RestateUnavailable as exc:
        _needed(f"no restate-server (scripts/ensure-restate installs it): {exc}")
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def endpoints() -> Iterator[tuple[str, str]]:
    from .sdk.endpoint import SdkUnavailable

    started: list[SdkEndpoint] = []
    try:
        try:
            for _ in range(2):
                started.append(SdkEndpoint.start("tests.sdk.services:app_lifecycle"))
        except SdkUnavailable as exc:
            _needed(f"no Restate Python SDK endpoint: {exc}")
        yield started[0].url, started[1].url
    finally:
        for endpoint in started:
            endpoint.stop()


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

    def status(self, invocation_id: str) -> dict[str, Any]:
        answer = self.client.post(
            f"{self.server.admin_url}/query",
            json={
                "query": "SELECT status, pinned_deployment_id FROM sys_invocation "
                f"WHERE id = '{invocation_id}'"
            },
            headers={"accept": "application/json"},
        )
        answer.raise_for_status()
        rows: list[dict[str, Any]] = answer.json()["rows"]
        return rows[0] if rows else {}

    def wait_for(self, invocation_id: str, status: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (row := self.status(invocation_id)).get("status") != status:
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
    assert live.wait_for(held, "running")["pinned_deployment_id"] == old
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
