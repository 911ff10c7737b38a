"""A call made from an invocation, on a real restate-server 1.7.12 and on the model.

``Forwarder/kc/forward`` (a real restate-sdk 1.3.0 endpoint, ``tests/sdk/services.py``) sends a
one-way call to ``Greeter/greet`` and sleeps. The server records the calling invocation on the
call (``invoked_by_id``) and its target with the key (``invoked_by_target`` =
``Forwarder/kc/forward``); :class:`AdminSource` must load both, and the model, given the
calling invocation, must record the same.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from restate_versioning import InvocationStatus, Registry
from restate_versioning.admin import AdminSource
from restate_versioning.ids import SequentialIds
from restate_versioning.transport import HttpTransport

from .helpers import own_restate_server, sdk_endpoint_url
from .restate_server import RestateServer

pytestmark = pytest.mark.integration  # a real restate-server and SDK endpoints


@pytest.fixture(scope="module")
def server() -> Iterator[RestateServer]:
    """A restate-server of its own: these tests add a Forwarder service the others do not
    expect."""
    yield from own_restate_server()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    yield from sdk_endpoint_url("app_callers")


def _rows(server: RestateServer, query: str) -> list[dict[str, Any]]:
    answer = httpx.post(
        f"{server.admin_url}/query",
        json={"query": query},
        headers={"accept": "application/json"},
        timeout=10,
    )
    answer.raise_for_status()
    rows: list[dict[str, Any]] = answer.json()["rows"]
    return rows


@pytest.fixture(scope="module")
def forwarded(server: RestateServer, endpoint: str) -> tuple[str, dict[str, Any]]:
    """The forwarding invocation's id, and the ``sys_invocation`` row of the call it made."""
    with httpx.Client(timeout=30) as client:
        registered = client.post(f"{server.admin_url}/deployments", json={"uri": endpoint})
        assert registered.status_code == 201, registered.text
        sent = client.post(f"{server.ingress_url}/Forwarder/kc/forward/send", json="x")
        assert sent.status_code == 202, sent.text
    caller_id: str = sent.json()["invocationId"]
    query = (
        "SELECT id, status, invoked_by_id, invoked_by_target, invoked_by_service_name "
        f"FROM sys_invocation WHERE invoked_by_id = '{caller_id}'"
    )
    deadline = time.monotonic() + 20
    while not (rows := _rows(server, query)) or rows[0]["status"] not in ("running", "suspended"):
        assert time.monotonic() < deadline, rows
        time.sleep(0.1)
    return caller_id, rows[0]


def test_the_server_records_the_calling_invocation_and_its_keyed_target(
    forwarded: tuple[str, dict[str, Any]],
) -> None:
    caller_id, row = forwarded
    assert row["invoked_by_id"] == caller_id
    assert row["invoked_by_target"] == "Forwarder/kc/forward"
    assert row["invoked_by_service_name"] == "Forwarder"


def test_admin_source_keeps_the_calling_invocation_and_its_key(
    server: RestateServer, forwarded: tuple[str, dict[str, Any]]
) -> None:
    caller_id, row = forwarded
    loaded = AdminSource(server.admin_url).load()
    called = loaded.invocation(row["id"])
    assert (called.caller, called.caller_key, called.caller_id) == (
        "Forwarder/forward",
        "kc",
        caller_id,
    )
    assert called.invoked_by_target == row["invoked_by_target"]
    assert loaded.callers_of("Greeter") == ("Forwarder/forward",)
    assert loaded.invocation(caller_id).status in (
        InvocationStatus.RUNNING,
        InvocationStatus.SUSPENDED,
    )


def test_a_call_from_an_invocation_is_recorded_as_the_server_records_it(
    endpoint: str, forwarded: tuple[str, dict[str, Any]]
) -> None:
    _, row = forwarded
    registry = Registry(ids=SequentialIds())
    registry.register(endpoint, HttpTransport().discover(endpoint))
    forward = registry.invoke("Forwarder", "forward", key="kc")
    called = registry.invoke("Greeter", "greet", caller=forward)
    assert called.caller_id == forward.id
    assert called.invoked_by_target == row["invoked_by_target"]
