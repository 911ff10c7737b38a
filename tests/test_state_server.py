"""State declared by real restate-sdk 1.3.0 services, discovered over HTTP, and what a real
restate-server 1.7.12 does with it: it keeps service metadata verbatim, replaces it with every
new revision, and checks nothing across revisions (docs/rules.md, "State"). The model refuses what
the server lets through, on purpose."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from restate_versioning import (
    STATE_METADATA_PREFIX,
    IncompatibleState,
    Registry,
    Verdict,
    state_metadata,
)
from restate_versioning.admin import AdminSource
from restate_versioning.serialization import admin_services
from restate_versioning.transport import HttpTransport, register_endpoint

from .helpers import (
    own_restate_server,
    sdk_endpoint_url,
    start_restate_server,
    start_sdk_endpoint,
)
from .restate_server import RestateServer
from .sdk.endpoint import SdkEndpoint
from .sdk.services import CartStateV1, CartStateV2, CartStateWithNote

pytestmark = pytest.mark.integration  # a real restate-server and SDK endpoints


@pytest.fixture(scope="module")
def carts() -> Iterator[tuple[str, str]]:
    """Two real SDK endpoints: Cart v1 and Cart v2 (a narrowed state schema)."""
    started: list[SdkEndpoint] = []
    try:
        started.append(start_sdk_endpoint("cart_v1"))
        started.append(start_sdk_endpoint("cart_v2"))
        yield started[0].url, started[1].url
    finally:
        for endpoint in started:
            endpoint.stop()


@pytest.fixture(scope="module")
def cart_with_note() -> Iterator[str]:
    """A real SDK endpoint: Cart with an optional field added to v1's state model."""
    yield from sdk_endpoint_url("cart_with_note")


@pytest.fixture(scope="module")
def server() -> Iterator[RestateServer]:
    """A restate-server of its own: these tests add a Cart service the others do not expect."""
    yield from own_restate_server()


def _schema(model: Any) -> dict[str, Any]:
    schema: dict[str, Any] = model.model_json_schema()
    return schema


def test_a_real_service_declares_its_state_in_metadata(carts: tuple[str, str]) -> None:
    v1, _ = carts
    registry = Registry()
    revision = register_endpoint(registry, v1, HttpTransport()).deployment.services["Cart"]
    assert revision.state_schema("cart") == _schema(CartStateV1)
    assert set(revision.metadata) == {f"{STATE_METADATA_PREFIX}cart"}


def test_the_model_refuses_a_revision_that_cannot_read_the_state_unless_breaking(
    carts: tuple[str, str],
) -> None:
    v1, v2 = carts
    registry = Registry()
    register_endpoint(registry, v1, HttpTransport())
    with pytest.raises(IncompatibleState) as raised:
        register_endpoint(registry, v2, HttpTransport())
    (check,) = raised.value.checks
    (key,) = check.keys
    assert key.key == "cart"
    assert {f.path for f in key.compatibility.findings} == {"$.lines[*].quantity"}
    counterexample = json.loads(key.compatibility.findings[0].counterexample or "")
    CartStateV1.model_validate(counterexample)  # pydantic's v1 model takes it...
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        CartStateV2.model_validate(counterexample)  # ...and v2's refuses it
    result = register_endpoint(registry, v2, HttpTransport(), breaking=True)
    assert result.state_checks[0].verdict is Verdict.INCOMPATIBLE
    assert registry.service("Cart").revision == 2


def test_the_server_keeps_the_declarations_verbatim_and_checks_nothing(
    carts: tuple[str, str], server: RestateServer
) -> None:
    v1, v2 = carts
    registry = Registry()
    with httpx.Client(timeout=30) as client:
        for url in (v1, v2):
            answer = client.post(f"{server.admin_url}/deployments", json={"uri": url})
            assert answer.status_code == 201, answer.text  # no check across revisions
            register_endpoint(registry, url, HttpTransport(), breaking=True)
        shown = client.get(f"{server.admin_url}/services/Cart").json()
    assert shown["revision"] == 2
    assert shown["metadata"] == state_metadata({"cart": _schema(CartStateV2)})
    (modelled,) = admin_services(registry)["services"]
    assert modelled["metadata"] == shown["metadata"]
    assert registry.service("Cart").state_schema("cart") == _schema(CartStateV2)
    live = AdminSource(server.admin_url).load()  # the declarations, read from the cluster
    assert live.service("Cart").state_schema("cart") == _schema(CartStateV2)
    v1_id = next(d.id for d in live.deployments() if d.services["Cart"].revision == 1)
    assert live.deployment(v1_id).services["Cart"].state_schema("cart") == _schema(CartStateV1)


def test_a_real_pydantic_model_with_an_optional_field_added_reads_what_v1_wrote(
    carts: tuple[str, str], cart_with_note: str
) -> None:
    """pydantic's default model (no additionalProperties) is read as closed when it writes:
    the model takes the revision, as a real server does (on a server of its own, which checks
    nothing either way)."""
    v1, _ = carts
    registry = Registry()
    register_endpoint(registry, v1, HttpTransport())
    result = register_endpoint(registry, cart_with_note, HttpTransport())
    (check,) = result.state_checks
    assert check.verdict is Verdict.COMPATIBLE
    assert "additionalProperties" not in _schema(CartStateV1)
    server = start_restate_server()
    try:
        with httpx.Client(timeout=30) as client:
            for url in (v1, cart_with_note):
                answer = client.post(f"{server.admin_url}/deployments", json={"uri": url})
                assert answer.status_code == 201, answer.text
            shown = client.get(f"{server.admin_url}/services/Cart").json()
    finally:
        server.stop()
    assert shown["revision"] == registry.service("Cart").revision == 2
    assert shown["metadata"] == state_metadata({"cart": _schema(CartStateWithNote)})
