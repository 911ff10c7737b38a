"""Calls a real restate-sdk 1.3.0 service declares in its metadata, on a real restate-server
1.7.12 (docs/rules.md, "Calls a manifest declares"): the server keeps the declaration verbatim
and relates nothing; the model, and a registry loaded from the live cluster, block removing the
last revision of the service it calls."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from restate_versioning import BlockerKind, Registry, calls_metadata
from restate_versioning.admin import AdminSource
from restate_versioning.ids import SequentialIds
from restate_versioning.transport import HttpTransport, register_endpoint

from .helpers import own_restate_server, sdk_endpoint_url
from .restate_server import RestateServer

pytestmark = pytest.mark.integration  # a real restate-server and SDK endpoints


@pytest.fixture(scope="module")
def server() -> Iterator[RestateServer]:
    """A restate-server of its own: these tests add services the others do not expect."""
    yield from own_restate_server()


@pytest.fixture(scope="module")
def notifier() -> Iterator[str]:
    yield from sdk_endpoint_url("app_notifier")


@pytest.fixture(scope="module")
def child() -> Iterator[str]:
    yield from sdk_endpoint_url("app_other")


def test_a_declared_call_of_a_real_service_blocks_removing_its_target_live_and_modelled(
    server: RestateServer, notifier: str, child: str
) -> None:
    model = Registry(ids=SequentialIds())
    with httpx.Client(timeout=30) as client:
        for url in (notifier, child):
            answer = client.post(f"{server.admin_url}/deployments", json={"uri": url})
            assert answer.status_code == 201, answer.text
            register_endpoint(model, url, HttpTransport())
        answer = client.patch(f"{server.admin_url}/services/Child", json={"public": False})
        assert answer.status_code == 200, answer.text
        shown = client.get(f"{server.admin_url}/services/Notifier").json()
    model.set_public("Child", False)
    assert shown["metadata"] == calls_metadata(["Child/forward"])  # kept verbatim
    live = AdminSource(server.admin_url).load()
    assert live.callers_of("Child") == model.callers_of("Child") == ("Notifier/*",)
    for registry in (live, model):
        target = next(d.id for d in registry.deployments() if "Child" in d.services)
        (blocker,) = registry.removal_plan(target).blockers
        assert blocker.kind is BlockerKind.CALLERS
        assert blocker.callers == ("Notifier/*",)
        assert blocker.services == ("Child",)
