"""The admin-shaped views against a real restate-server 1.7.12, field by field.

The same manifest (``every_option`` of ``tests/helpers.py``: every service-level and
handler-level option of the manifest schema, documentation and metadata on services and
handlers, input/output with ``required``, ``contentType``, ``setContentTypeIfEmpty`` and
``jsonSchema``, a service that sets nothing, and handlers with the payloads whose descriptions
``PAYLOADS`` lists) is served twice by discovery endpoints of our own
(``tests/discovery_endpoint.py``, HTTP/1.1): once as REQUEST_RESPONSE, then as BIDI_STREAM, so the
first deployment holds the older revisions. Both are registered on the server and on a
:class:`Registry` whose ids and clock are the server's (so nothing needs normalising but order),
and ``GET /services/{name}``, ``GET /services``, ``GET /deployments/{id}``,
``GET /deployments`` and :meth:`AdminSource.load` are compared with the model.

What restate-server 1.7.12 answered (and the model now shows):

* A service shows ``documentation`` and ``metadata`` only when set (``metadata: {}`` is not
  shown, ``documentation: ""`` is), then ``deployment_id``, ``revision``, ``public``, and
  always, its own value or the server's default: ``idempotency_retention`` ("1d"),
  ``workflow_completion_retention`` (Workflows only, "1d"; the manifest sets it on the
  ``WORKFLOW`` handler, the server shows it on the service and not on the handler),
  ``journal_retention`` ("1d"), ``inactivity_timeout`` ("1m"), ``abort_timeout`` ("10m"),
  ``enable_lazy_state`` (false) and ``retry_policy`` (``initial_interval`` "500ms",
  ``exponentiation_factor`` 2.0, ``max_attempts`` 70, ``max_interval`` "1m",
  ``on_max_attempts`` "Pause"). Durations are humantime-like strings, days the largest unit,
  zero parts left out: 90061004 ms is "1d 1h 1m 1s 4ms", 365.25 days "365d 6h", 0 "0s"; never
  milliseconds. ``exponentiation_factor`` is a float (3 shows as 3.0), ``on_max_attempts``
  "Pause" / "Kill", a ``retryPolicyMaxAttempts`` of 0 shows as 1.
* A handler shows ``documentation``, ``metadata`` and the options it sets itself (none of the
  defaults), ``public``, ``input_description`` and ``output_description`` always,
  ``input_json_schema`` / ``output_json_schema`` when the payload has a content type and a
  schema, and ``retry_policy`` always, with ``max_attempts`` null when unset and only the
  other fields it sets. The descriptions: "*/*" / "application/json" for no payload, "none"
  for a payload without ``contentType`` ("<invalid rules>" for an input that is also
  ``required``), "JSON 'Title'" or "JSON <type>" from the schema, else the content type,
  after "optional " for an output with ``setContentTypeIfEmpty``.
* In a REQUEST_RESPONSE deployment a service's ``inactivity_timeout`` is "0s" whatever the
  manifest says, a handler's is not shown, and each configured one is in ``info``:
  ``{"code": "RT0021", "message": "The configured inactivity_timeout 1h 1ms will not be
  applied because the service is exposed in Request/Response mode."}`` ("handler" for one of
  a handler).
* ``GET /deployments/{id}`` shows ``id``, ``uri`` (with its root path ``/``),
  ``protocol_type``, ``http_version``, ``created_at``, the protocol versions, and each
  service as ``GET /services/{name}`` shows it; ``GET /deployments`` the services by name
  and revision only.
* The order of services in a deployment and of handlers in a service is the server's own (a
  hash map's) and changes between answers: the only thing normalised here (by name).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import attrs
import httpx
import pytest

from restate_versioning import ManualClock, Registry
from restate_versioning.admin import AdminSource
from restate_versioning.endpoints import display_endpoint
from restate_versioning.serialization import (
    admin_deployment,
    admin_deployments,
    admin_service,
    admin_services,
)

from .discovery_endpoint import discovery_endpoint
from .helpers import every_option, start_restate_server
from .restate_server import RestateServer

pytestmark = pytest.mark.integration  # a real restate-server

SERVICES = ("ViewsFlow", "ViewsObject", "ViewsPayloads", "ViewsBare")


class ServerIds:
    """Hands the model the ids the server gave, in order: the views then match as they are."""

    def __init__(self) -> None:
        self.waiting: list[str] = []

    def deployment_id(self, now: datetime) -> str:
        return self.waiting.pop(0)

    def invocation_id(self, now: datetime) -> str:
        raise AssertionError("nothing is invoked here")


@attrs.frozen
class Registered:
    server: RestateServer
    registry: Registry
    request_response_id: str
    bidi_id: str


def _created_at(text: str) -> datetime:
    """``2026-12-01T23:46:29.015000000Z``: the server's creation times are whole milliseconds."""
    return datetime.fromisoformat(text[:26]).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def registered() -> Iterator[Registered]:
    """A restate-server of its own (these services are not the other tests'), with the
    manifest registered twice, and a registry with the same registrations."""
    server = start_restate_server()
    documents = [every_option(mode="REQUEST_RESPONSE"), every_option(mode="BIDI_STREAM")]
    ids = ServerIds()
    clock = ManualClock()
    registry = Registry(clock=clock, ids=ids)
    registered_ids = []
    try:
        with (
            discovery_endpoint(lambda: json.dumps(documents[0]).encode()) as first,
            discovery_endpoint(lambda: json.dumps(documents[1]).encode()) as second,
            httpx.Client(timeout=30) as client,
        ):
            for url, document in ((first, documents[0]), (second, documents[1])):
                answer = client.post(
                    f"{server.admin_url}/deployments", json={"uri": url, "use_http_11": True}
                )
                assert answer.status_code == 201, answer.text
                deployment_id = answer.json()["id"]
                shown = client.get(f"{server.admin_url}/deployments/{deployment_id}").json()
                clock.set(_created_at(shown["created_at"]))
                ids.waiting.append(deployment_id)
                registry.register(url, document, http_version="HTTP/1.1")
                registered_ids.append(deployment_id)
            yield Registered(server, registry, *registered_ids)
    finally:
        server.stop()


def _get(registered: Registered, path: str) -> Any:
    answer = httpx.get(f"{registered.server.admin_url}{path}", timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _service(shown: dict[str, Any]) -> dict[str, Any]:
    """A service with its handlers by name: the server's order is its own."""
    return {**shown, "handlers": sorted(shown["handlers"], key=lambda h: h["name"])}


def _deployment(shown: dict[str, Any]) -> dict[str, Any]:
    """A deployment with its services by name (each normalised as :func:`_service`)."""
    services = sorted(shown["services"], key=lambda s: s["name"])
    return {**shown, "services": [_service(s) if "handlers" in s else s for s in services]}


@pytest.mark.parametrize("name", SERVICES)
def test_get_services_name_shows_every_field_the_model_shows(
    registered: Registered, name: str
) -> None:
    shown = _get(registered, f"/services/{name}")
    assert _service(shown) == _service(admin_service(registered.registry, name))
    assert shown["deployment_id"] == registered.bidi_id


def test_get_deployments_id_shows_every_field_the_model_shows(registered: Registered) -> None:
    """The REQUEST_RESPONSE deployment (older revisions, inactivity timeouts in notes) and the
    BIDI_STREAM one (the latest)."""
    for deployment_id in (registered.request_response_id, registered.bidi_id):
        shown = _get(registered, f"/deployments/{deployment_id}")
        modelled = admin_deployment(registered.registry, deployment_id)
        assert _deployment(shown) == _deployment(modelled)
    older = _get(registered, f"/deployments/{registered.request_response_id}")
    flow = next(s for s in older["services"] if s["name"] == "ViewsFlow")
    assert (flow["revision"], flow["inactivity_timeout"]) == (1, "0s")
    assert flow["info"][0]["code"] == "RT0021"


def test_get_services_and_get_deployments_list_what_the_model_lists(
    registered: Registered,
) -> None:
    shown = sorted((_service(s) for s in _get(registered, "/services")["services"]), key=str)
    modelled = sorted(
        (_service(s) for s in admin_services(registered.registry)["services"]), key=str
    )
    assert shown == modelled
    listed = sorted(_get(registered, "/deployments")["deployments"], key=lambda d: d["id"])
    assert [_deployment(d) for d in listed] == sorted(
        (_deployment(d) for d in admin_deployments(registered.registry)["deployments"]),
        key=lambda d: d["id"],
    )


def test_admin_source_loads_the_revisions_the_model_registered(registered: Registered) -> None:
    """Every revision loads back with what the model keeps, older ones included; the kept
    manifest is not in the admin API, and the endpoint is shown with its root path."""
    live = AdminSource(registered.server.admin_url).load()
    for deployment in registered.registry.deployments():
        assert live.deployment(deployment.id) == attrs.evolve(
            deployment, manifest=None, endpoint=display_endpoint(deployment.endpoint)
        )
    assert live.services() == registered.registry.services()
    # The loaded revisions keep the server's order of handlers; the revisions compare by name.
    assert [_service(s) for s in admin_services(live)["services"]] == [
        _service(s) for s in admin_services(registered.registry)["services"]
    ]
