"""Reading a cluster through its admin API: the mapping, on answers a real server gave.

The ``REPORT_*`` answers are quoted from the observation report of restate-server 1.7.12
(its answers 2.9, 2.10 and 2.12: two deployments of Greeter, TicketObject and Signup,
revisions 2 and 3). The ``LIVE_*`` answers were recorded from restate-server 1.7.12 and
restate-sdk 1.3.0 (``tests/sdk/services.py``) running the scenario of
``tests/test_admin_server.py``: register v1; send ``Greeter/greet`` "slow-1" (stays running),
``TicketObject/k/reserve`` "slow-a" (holds key ``k``) and "b" (pending behind it), a
``Greeter/greet`` with ``?delay=10m`` (scheduled) and ``Signup/w1/run`` (waits for its
promise); register v2. ``REMOVED_*`` are the answers after ``DELETE /deployments/{v1}?force=true``.
They are kept as the server sent them in ``tests/data/restate-1.7.12-admin/``. Each test
serves them with ``httpx.MockTransport`` (``helpers.Admin``), so it needs no server.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import attrs
import httpx
import pytest

from restate_versioning import (
    DeploymentStatus,
    HandlerType,
    InvocationStatus,
    ProtocolMode,
    Registry,
    ServiceType,
    VersioningError,
)
from restate_versioning.admin import (
    DEFAULT_MAX_RESPONSE_BYTES,
    INVOCATIONS_QUERY,
    AdminApiError,
    AdminSource,
)
from restate_versioning.rules.removal import BlockerKind, EffectKind
from restate_versioning.serialization import admin_deployment, admin_deployments, admin_services
from restate_versioning.views import deployments_list, render_deployments_list

from .helpers import ADMIN, EMPTY_QUERY, Admin, recorded

REPORT_V1_ID = "dp_131iEjmRB5Z36mzIJBmSNkl"
REPORT_V2_ID = "dp_15ol5Jdgl5VjRmNPZ8USZix"
LIVE_V1_ID = "dp_10HoQ4R5EoTrslZD8yadJEB"
LIVE_V2_ID = "dp_15576ZZP6OSVUCOvjVR5a6t"
SLOW_GREET = "inv_12p1snxuIoJT6rtAXokfbiJnoHoXzU9F0O"
KEY_HOLDER = "inv_10T5Thwsbi8d7uEMkFcoS4ATWSJCBeAGoI"
QUEUED = "inv_10T5Thwsbi8d7uhFnjaAGsrMiIo1t7eKvb"
DELAYED = "inv_11NnjMq1NF8J2Me6J3BvB0bPrFl3IxZQav"
SIGNUP_RUN = "inv_12kpUQONmeFb11Km8kYitYGzVISS24A1yv"

# --- recorded answers (tests/data/restate-1.7.12-admin) -----------------------------------------

#: Report answer 2.9: ``GET /deployments`` after v1 (force-registered: revision 2) and v2
#: (revision 3).
REPORT_DEPLOYMENTS = recorded("restate-1.7.12-admin/report-deployments.json")

#: Report answer 2.10: ``GET /services`` at the same moment.
REPORT_SERVICES = recorded("restate-1.7.12-admin/report-services.json")

#: Report answer 2.12: ``GET /deployments/dp_131iEjmRB5Z36mzIJBmSNkl`` (v1).
REPORT_V1 = recorded("restate-1.7.12-admin/report-deployment-v1.json")

#: ``GET /deployments`` after v1, five calls (see the module docstring) and v2.
LIVE_DEPLOYMENTS = recorded("restate-1.7.12-admin/live-deployments.json")

#: ``GET /services`` at the same moment.
LIVE_SERVICES = recorded("restate-1.7.12-admin/live-services.json")

#: ``GET /deployments/{v1}``.
LIVE_V1 = recorded("restate-1.7.12-admin/live-deployment-v1.json")

#: ``POST /query`` with ``INVOCATIONS_QUERY``.
LIVE_QUERY = recorded("restate-1.7.12-admin/live-query.json")

#: ``restate deployments list --extra`` at the same moment (CLI 1.7.12, no TTY).
LIVE_CLI = recorded("restate-1.7.12-admin/live-deployments-list-extra.txt")

#: ``GET /deployments`` after ``DELETE /deployments/{v1}?force=true``.
REMOVED_DEPLOYMENTS = recorded("restate-1.7.12-admin/removed-deployments.json")

#: ``GET /services`` then.
REMOVED_SERVICES = recorded("restate-1.7.12-admin/removed-services.json")

#: ``POST /query`` then: the calls pinned to v1 still run.
REMOVED_QUERY = recorded("restate-1.7.12-admin/removed-query.json")


# --- serving canned answers --------------------------------------------------------------------


def report_admin(query: str = EMPTY_QUERY) -> Admin:
    return Admin(
        {
            ("GET", "/deployments"): (200, REPORT_DEPLOYMENTS),
            ("GET", "/services"): (200, REPORT_SERVICES),
            ("GET", f"/deployments/{REPORT_V1_ID}"): (200, REPORT_V1),
            ("POST", "/query"): (200, query),
        }
    )


def live_admin(query: str = LIVE_QUERY) -> Admin:
    return Admin(
        {
            ("GET", "/deployments"): (200, LIVE_DEPLOYMENTS),
            ("GET", "/services"): (200, LIVE_SERVICES),
            ("GET", f"/deployments/{LIVE_V1_ID}"): (200, LIVE_V1),
            ("POST", "/query"): (200, query),
        }
    )


def removed_admin() -> Admin:
    return Admin(
        {
            ("GET", "/deployments"): (200, REMOVED_DEPLOYMENTS),
            ("GET", "/services"): (200, REMOVED_SERVICES),
            ("POST", "/query"): (200, REMOVED_QUERY),
        }
    )


def edited(text: str, edit: Callable[[Any], None]) -> str:
    """A canned answer with one change made to its JSON."""
    document = json.loads(text)
    edit(document)
    return json.dumps(document)


def rows(query: str) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in json.loads(query)["rows"]}


# --- deployments and services ------------------------------------------------------------------


def test_deployments_and_revisions_load_as_the_admin_api_shows_them() -> None:
    """Every deployment with its endpoint, protocol, SDK, creation time and revisions; the
    latest revisions from ``GET /services``, the older ones from ``GET /deployments/{id}``."""
    admin = report_admin()
    registry = admin.source().load()
    v1 = registry.deployment(REPORT_V1_ID)
    assert v1.endpoint == "http://127.0.0.1:9081/"
    assert v1.created_at == datetime(2026, 11, 26, 5, 42, 5, 549000, tzinfo=UTC)
    assert (v1.min_protocol_version, v1.max_protocol_version) == (5, 7)
    assert v1.protocol_mode is ProtocolMode.BIDI_STREAM
    assert (v1.http_version, v1.sdk_version) == ("HTTP/2.0", "restate-sdk-python/1.3.0")
    assert v1.manifest is None  # the admin API does not give it back
    assert {n: s.revision for n, s in v1.services.items()} == {
        "Signup": 2,
        "Greeter": 2,
        "TicketObject": 2,
    }
    ticket = v1.services["TicketObject"]
    assert ticket.type is ServiceType.VIRTUAL_OBJECT
    assert {h.name: h.type for h in ticket.handlers.values()} == {
        "status": HandlerType.SHARED,
        "reserve": HandlerType.EXCLUSIVE,
    }
    assert v1.services["Signup"].handlers["run"].type is HandlerType.WORKFLOW
    assert v1.services["Greeter"].handlers["greet"].type is HandlerType.SHARED
    for name in ("Greeter", "Signup", "TicketObject"):
        latest = registry.service(name)
        assert (latest.revision, latest.deployment_id, latest.public) == (3, REPORT_V2_ID, True)
    assert registry.deployment_status(REPORT_V1_ID) is DeploymentStatus.DRAINED
    assert registry.deployment_status(REPORT_V2_ID) is DeploymentStatus.ACTIVE
    # Only the deployment holding older revisions is asked for its details.
    assert admin.paths() == [
        ("GET", "/deployments"),
        ("GET", "/services"),
        ("POST", "/query"),
        ("GET", f"/deployments/{REPORT_V1_ID}"),
    ]


def test_the_loaded_registry_shows_what_the_admin_api_showed() -> None:
    """``admin_services`` / ``admin_deployments`` of the loaded registry give back the answers
    it was loaded from, field for field (the server's handler order varies: by name here)."""
    registry = report_admin().source().load()

    def by_name(services: list[Any]) -> list[Any]:
        return sorted(
            ({**s, "handlers": sorted(s["handlers"], key=lambda h: h["name"])} for s in services),
            key=lambda s: s["name"],
        )

    shown = json.loads(REPORT_SERVICES)["services"]
    assert by_name(admin_services(registry)["services"]) == by_name(shown)
    listed = json.loads(REPORT_DEPLOYMENTS)["deployments"]
    assert admin_deployments(registry)["deployments"] == listed
    detailed = json.loads(REPORT_V1)
    shown_v1 = admin_deployment(registry, REPORT_V1_ID)
    assert {**shown_v1, "services": by_name(shown_v1["services"])} == {
        **detailed,
        "services": by_name(detailed["services"]),
    }


def test_a_handler_private_on_its_own_keeps_its_setting_and_one_following_its_service_none() -> (
    None
):
    def private_greet(document: Any) -> None:
        for service in document["services"]:
            if service["name"] == "Greeter":
                service["handlers"][0]["public"] = False

    def private_signup(document: Any) -> None:
        for service in document["services"]:
            if service["name"] == "Signup":
                service["public"] = False
                for handler in service["handlers"]:
                    handler["public"] = False

    admin = report_admin()
    services = edited(edited(REPORT_SERVICES, private_greet), private_signup)
    admin.answers[("GET", "/services")] = (200, services)
    registry = admin.source().load()
    assert registry.service("Greeter").handlers["greet"].public is False
    assert registry.service("Signup").public is False
    assert all(h.public is None for h in registry.service("Signup").handlers.values())
    assert admin_services(registry)["services"][1]["handlers"][0]["public"] is False


# --- invocations -------------------------------------------------------------------------------


def test_invocations_load_with_their_status_pin_and_queue() -> None:
    """Started calls are pinned (protocol 6: the server does not speak 7 yet); the call
    queued behind key ``k`` and the delayed call are not; the key's holder and inbox, and the
    workflow key's run, load too."""
    registry = live_admin().source().load()
    greet = registry.invocation(SLOW_GREET)
    assert (greet.service, greet.handler, greet.key, greet.caller) == (
        "Greeter",
        "greet",
        None,
        None,
    )
    assert greet.status is InvocationStatus.RUNNING
    assert (greet.pinned_deployment_id, greet.pinned_protocol_version) == (LIVE_V1_ID, 6)
    assert greet.created_at == datetime(2026, 11, 26, 6, 57, 21, 291000, tzinfo=UTC)
    holder = registry.invocation(KEY_HOLDER)
    assert (holder.key, holder.status, holder.pinned_deployment_id) == (
        "k",
        InvocationStatus.RUNNING,
        LIVE_V1_ID,
    )
    queued = registry.invocation(QUEUED)
    assert (queued.status, queued.pinned_deployment_id) == (InvocationStatus.PENDING, None)
    delayed = registry.invocation(DELAYED)
    assert (delayed.status, delayed.pinned_deployment_id) == (InvocationStatus.SCHEDULED, None)
    assert delayed.execute_at == datetime(2026, 11, 26, 7, 7, 21, 299000, tzinfo=UTC)
    snapshot = registry.snapshot()
    assert snapshot.locks == (("TicketObject", "k", KEY_HOLDER),)
    assert snapshot.inboxes == (("TicketObject", "k", (QUEUED,)),)
    assert snapshot.workflow_runs == (("Signup", "w1", SIGNUP_RUN),)
    assert registry.in_flight_count(LIVE_V1_ID) == 3
    assert registry.in_flight_count(LIVE_V2_ID) == 0


def test_deployment_statuses_match_the_cli() -> None:
    """The loaded registry renders ``restate deployments list --extra`` as the real CLI
    printed it for the same cluster (the CLI pads lines with spaces)."""
    registry = live_admin().source().load()
    rendered = render_deployments_list(deployments_list(registry))
    assert rendered.splitlines() == [line.rstrip() for line in LIVE_CLI.splitlines()]
    assert registry.deployment_status(LIVE_V1_ID) is DeploymentStatus.DRAINING
    assert registry.deployment_status(LIVE_V2_ID) is DeploymentStatus.ACTIVE


def test_removal_plans_of_a_loaded_cluster() -> None:
    """v1 is draining: removing it breaks the three calls pinned to it. v2 holds the latest
    revisions: removing it rolls every service back to v1."""
    registry = live_admin().source().load()
    v1 = registry.removal_plan(LIVE_V1_ID)
    assert [b.kind for b in v1.blockers] == [BlockerKind.IN_FLIGHT]
    in_flight = v1.blockers[0]
    assert set(in_flight.invocation_ids) == {SLOW_GREET, KEY_HOLDER, SIGNUP_RUN}
    assert {e.kind for e in v1.effects} == {EffectKind.UNAFFECTED}
    v2 = registry.removal_plan(LIVE_V2_ID)
    assert [b.kind for b in v2.blockers] == [BlockerKind.ROLLBACK]
    assert {(e.service, e.fallback_revision, e.fallback_deployment_id) for e in v2.effects} == {
        (name, 1, LIVE_V1_ID) for name in ("Greeter", "Signup", "TicketObject")
    }


def test_calls_pinned_to_a_force_removed_deployment_load_as_zombies() -> None:
    """After ``DELETE /deployments/{v1}?force=true`` the calls pinned to v1 are still there
    (they fail with RT0011 at their next attempt): v1 loads as a removed deployment."""
    admin = removed_admin()
    registry = admin.source().load()
    assert [d.id for d in registry.deployments()] == [LIVE_V2_ID]
    assert registry.was_removed(LIVE_V1_ID)
    assert registry.invocation(SLOW_GREET).pinned_deployment_id == LIVE_V1_ID
    assert registry.deployment_status(LIVE_V2_ID) is DeploymentStatus.ACTIVE
    plan = registry.removal_plan(LIVE_V2_ID)
    assert [b.kind for b in plan.blockers] == [BlockerKind.PUBLIC, BlockerKind.QUEUED]
    queued = plan.blocker(BlockerKind.QUEUED)
    assert queued is not None
    assert set(queued.invocation_ids) == {QUEUED, DELAYED}
    assert ("GET", f"/deployments/{LIVE_V1_ID}") not in admin.paths()


def test_callers_are_recorded_from_invoked_by_target() -> None:
    """``invoked_by_target`` is ``Caller/call``, or ``Object/key/handler`` for a keyed caller;
    the model names the calling handler ``Service/handler``."""

    def add_callers(document: Any) -> None:
        for row in document["rows"]:
            if row["id"] == SLOW_GREET:
                row.update(invoked_by_service_name="Caller", invoked_by_target="Caller/call")
            if row["id"] == DELAYED:
                row.update(
                    invoked_by_service_name="TicketObject",
                    invoked_by_target="TicketObject/k/reserve",
                )

    registry = live_admin(edited(LIVE_QUERY, add_callers)).source().load()
    assert registry.invocation(SLOW_GREET).caller == "Caller/call"
    assert registry.invocation(DELAYED).caller == "TicketObject/reserve"
    assert registry.callers_of("Greeter") == ("Caller/call", "TicketObject/reserve")
    assert registry.invocation(QUEUED).caller is None


@pytest.mark.parametrize(
    ("shown", "pinned", "loaded"),
    [
        ("ready", True, InvocationStatus.RUNNING),
        ("ready", False, InvocationStatus.READY),
        ("running", False, InvocationStatus.RUNNING),
        ("suspended", True, InvocationStatus.SUSPENDED),
        ("suspended", False, InvocationStatus.SUSPENDED),
        ("backing-off", True, InvocationStatus.BACKING_OFF),
        ("backing-off", False, InvocationStatus.BACKING_OFF),
        ("paused", True, InvocationStatus.PAUSED),
        ("completed", True, InvocationStatus.COMPLETED),
    ],
)
def test_statuses_map_to_the_model(shown: str, pinned: bool, loaded: InvocationStatus) -> None:
    """The server's spellings; a started call briefly ``ready`` with its pin is in flight, and
    a ``running`` or ``suspended`` call not pinned yet is read as it is: one that pins at its
    first command."""

    def set_status(document: Any) -> None:
        for row in document["rows"]:
            if row["id"] == SLOW_GREET:
                row["status"] = shown
                if not pinned:
                    del row["pinned_deployment_id"], row["pinned_service_protocol_version"]

    registry = live_admin(edited(LIVE_QUERY, set_status)).source().load()
    invocation = registry.invocation(SLOW_GREET)
    assert invocation.status is loaded
    assert (invocation.pinned_deployment_id is not None) is (pinned and loaded.value != "ready")
    started = loaded in (InvocationStatus.RUNNING, InvocationStatus.SUSPENDED)
    assert invocation.pins_at_first_command is (started and not pinned)


def test_a_backing_off_call_keeps_its_last_failure() -> None:
    def fail(document: Any) -> None:
        for row in document["rows"]:
            if row["id"] == SLOW_GREET:
                row.update(
                    status="backing-off",
                    last_failure="[RT0011] no deployment was found",
                    last_failure_error_code="RT0011",
                )

    registry = live_admin(edited(LIVE_QUERY, fail)).source().load()
    failure = registry.invocation(SLOW_GREET).last_failure
    assert failure is not None
    assert (failure.code, failure.message) == ("RT0011", "[RT0011] no deployment was found")


def test_the_query_selects_scheduled_at_so_that_the_server_fills_scheduled_start_at() -> None:
    """restate-server 1.7.12 leaves ``scheduled_start_at`` out of a row unless
    ``scheduled_at`` is selected too (observed on the real server)."""
    assert "i.scheduled_at" in INVOCATIONS_QUERY
    assert "i.scheduled_start_at" in INVOCATIONS_QUERY
    admin = live_admin()
    admin.source().load()
    (query,) = [r for r in admin.requests if r.method == "POST"]
    assert json.loads(query.content) == {"query": INVOCATIONS_QUERY}
    assert query.headers["accept"] == "application/json"


def test_it_only_reads() -> None:
    """GET requests, and one POST: the SQL query (a SELECT)."""
    for admin in (report_admin(), live_admin(), removed_admin()):
        admin.source().load()
        for method, path in admin.paths():
            assert method == "GET" or (method, path) == ("POST", "/query")
    assert INVOCATIONS_QUERY.startswith("SELECT ")


def test_load_takes_the_clock_and_ids_the_registry_goes_on_with() -> None:
    from restate_versioning import ManualClock, SequentialIds

    clock = ManualClock(datetime(2026, 11, 26, 7, 8, tzinfo=UTC))
    registry = live_admin().source().load(clock=clock, ids=SequentialIds())
    assert isinstance(registry, Registry)
    moved = registry.start_due()  # the delayed call is due at 07:07:21
    assert [i.id for i in moved] == [DELAYED]
    assert moved[0].pinned_deployment_id == LIVE_V2_ID


# --- what cannot be modelled -------------------------------------------------------------------


def _set(path: tuple[Any, ...], value: Any) -> Callable[[Any], None]:
    def edit(document: Any) -> None:
        for step in path[:-1]:
            document = document[step]
        document[path[-1]] = value

    return edit


BAD_ANSWERS = [
    pytest.param("/deployments", "not json", "malformed JSON", id="garbage-json"),
    pytest.param(
        "/deployments",
        '{"deployments": {}}',
        "expected a list, got {} @ $.deployments",
        id="not-a-list",
    ),
    pytest.param("/deployments", "[]", "expected an object, got [] @ $", id="top-level-list"),
    pytest.param(
        "/deployments",
        edited(REPORT_DEPLOYMENTS, _set(("deployments", 0, "services", 0, "revision"), "2")),
        "expected an integer, got '2' @ $.deployments[0].services[0].revision",
        id="revision-as-string",
    ),
    pytest.param(
        "/deployments",
        edited(REPORT_DEPLOYMENTS, _set(("deployments", 0, "created_at"), "yesterday")),
        "expected an RFC 3339 timestamp, got 'yesterday' @ $.deployments[0].created_at",
        id="bad-time",
    ),
    pytest.param(
        "/deployments",
        edited(REPORT_DEPLOYMENTS, _set(("deployments", 1, "protocol_type"), "Carrier pigeon")),
        "expected one of BidiStream, RequestResponse, got 'Carrier pigeon'",
        id="unknown-protocol",
    ),
    pytest.param(
        "/services",
        edited(REPORT_SERVICES, _set(("services", 0, "ty"), "Actor")),
        "expected one of Service, VirtualObject, Workflow, got 'Actor' @ $.services[0].ty",
        id="unknown-service-type",
    ),
    pytest.param(
        "/services",
        edited(REPORT_SERVICES, _set(("services", 0, "public"), "yes")),
        "expected true or false, got 'yes' @ $.services[0].public",
        id="public-as-string",
    ),
    pytest.param(
        "/services",
        edited(REPORT_SERVICES, _set(("services", 0, "handlers", 0, "ty"), "Sometimes")),
        "@ $.services[0].handlers[0].ty",
        id="unknown-handler-type",
    ),
    pytest.param(
        "/query",
        edited(LIVE_QUERY, _set(("rows", 0, "status"), "zombie")),
        "got 'zombie' @ $.rows[0].status",
        id="unknown-status",
    ),
    pytest.param("/query", '{"rows": null}', "expected a list, got None @ $.rows", id="no-rows"),
    pytest.param(
        "/query",
        edited(LIVE_QUERY, _set(("rows", 4, "scheduled_start_at"), None)),
        "a scheduled invocation has no start time @ $.rows[4].scheduled_start_at",
        id="scheduled-without-time",
    ),
    # Strict JSON (restate_versioning._json), as the server's own decoder reads it.
    pytest.param("/deployments", "[" * 2000, "nested deeper than 127 levels @ $", id="deep-lists"),
    pytest.param(
        "/services", '{"services":' * 200 + "[]" + "}" * 200, "nested deeper", id="deep-objects"
    ),
    pytest.param(
        "/query",
        LIVE_QUERY.replace(
            '"pinned_service_protocol_version":6', '"pinned_service_protocol_version":NaN', 1
        ),
        "NaN is not a JSON value",
        id="nan",
    ),
    pytest.param(
        "/deployments",
        '{"deployments": [], "deployments": []}',
        "the key 'deployments' appears twice",
        id="duplicate-key",
    ),
    # Ids, checked before anything uses them (a request path, a key of the model).
    pytest.param(
        "/deployments",
        edited(REPORT_DEPLOYMENTS, _set(("deployments", 0, "id"), "../services")),
        "'../services' is not a valid deployment id",
        id="deployment-id-path-trick",
    ),
    pytest.param(
        "/services",
        edited(REPORT_SERVICES, _set(("services", 1, "deployment_id"), "dp_x")),
        "@ $.services[1].deployment_id",
        id="service-deployment-id",
    ),
    pytest.param(
        "/query",
        edited(LIVE_QUERY, _set(("rows", 0, "id"), "inv_../../etc")),
        "@ $.rows[0].id",
        id="invocation-id",
    ),
    pytest.param(
        "/query",
        edited(LIVE_QUERY, _set(("rows", 0, "pinned_deployment_id"), "dp_/deployments")),
        "@ $.rows[0].pinned_deployment_id",
        id="pinned-deployment-id",
    ),
    pytest.param(
        "/query",
        edited(LIVE_QUERY, _set(("rows", 1, "key_holder"), "somebody")),
        "@ $.rows[1].key_holder",
        id="key-holder-id",
    ),
]


@pytest.mark.parametrize(("path", "body", "problem"), BAD_ANSWERS)
def test_an_answer_that_cannot_be_modelled_is_an_admin_api_error(
    path: str, body: str, problem: str
) -> None:
    admin = live_admin() if path == "/query" else report_admin()
    method = "POST" if path == "/query" else "GET"
    admin.answers[(method, path)] = (200, body)
    with pytest.raises(AdminApiError) as caught:
        admin.source().load()
    assert problem in caught.value.problem
    assert caught.value.status == 200
    assert caught.value.url == ADMIN + path
    assert isinstance(caught.value, VersioningError)


@pytest.mark.parametrize(
    "trick",
    [
        "../services",
        "dp_131iEjmRB5Z36mzIJBmSNkl/../../query",
        "%2e%2e",
        "dp_131iEjmRB5Z36mzIJBmSNkl?x",
    ],
)
def test_a_deployment_id_from_an_answer_never_reaches_a_request_path(trick: str) -> None:
    """A listed deployment whose id is not a deployment id fails the load before any
    ``GET /deployments/{id}`` is sent: nothing the server answers chooses another path."""
    admin = report_admin()
    admin.answers[("GET", "/deployments")] = (
        200,
        edited(REPORT_DEPLOYMENTS, _set(("deployments", 0, "id"), trick)),
    )
    with pytest.raises(AdminApiError) as caught:
        admin.source().load()
    assert caught.value.problem.startswith(f"{trick!r} is not a valid deployment id")
    assert caught.value.problem.endswith("@ $.deployments[0].id")
    assert admin.paths() == [("GET", "/deployments")]


def test_an_answer_over_the_size_limit_is_an_admin_api_error() -> None:
    admin = report_admin()
    client = httpx.Client(transport=httpx.MockTransport(admin))
    source = AdminSource(ADMIN, client=client, max_response_bytes=len(REPORT_DEPLOYMENTS) - 1)
    with pytest.raises(AdminApiError) as caught:
        source.load()
    assert caught.value.url == ADMIN + "/deployments"
    assert f"larger than {len(REPORT_DEPLOYMENTS) - 1} bytes" in caught.value.problem


def test_the_default_size_limit_holds_a_cluster_of_100_000_invocations() -> None:
    """1,000 deployments and 100,000 invocations with 1 KB failure messages each fit in one
    answer under :data:`DEFAULT_MAX_RESPONSE_BYTES` (the sizes, measured on the JSON)."""
    row = dict(rows(LIVE_QUERY)[SLOW_GREET], last_failure="x" * 1000)
    size = len(json.dumps({"rows": [row]})) * 100_000
    listing = json.loads(REPORT_DEPLOYMENTS)["deployments"][0]
    assert size < DEFAULT_MAX_RESPONSE_BYTES
    assert len(json.dumps(listing)) * 1000 < DEFAULT_MAX_RESPONSE_BYTES


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/deployments", 500, '{"message":"boom","restate_code":null}'),
        ("/services", 404, '{"message":"not found"}'),
        ("/query", 500, '{"message":"Datafusion error: Schema error: No field named nope."}'),
        (f"/deployments/{REPORT_V1_ID}", 503, ""),
    ],
)
def test_an_http_error_is_an_admin_api_error_with_its_status(
    path: str, status: int, body: str
) -> None:
    admin = report_admin()
    method = "POST" if path == "/query" else "GET"
    admin.answers[(method, path)] = (status, body)
    with pytest.raises(AdminApiError) as caught:
        admin.source().load()
    assert (caught.value.status, caught.value.url) == (status, ADMIN + path)
    # the admin API's error: its message (and Restate code, when it has one)
    assert caught.value.problem == (json.loads(body)["message"] if body else "(empty body)")
    assert caught.value.restate_code is None
    assert str(status) in str(caught.value)


def test_an_error_answer_with_a_restate_code_keeps_it() -> None:
    admin = report_admin()
    admin.answers[("GET", "/deployments")] = (
        500,
        '{"message":"[META0003] cannot reach it","restate_code":"META0003"}',
    )
    with pytest.raises(AdminApiError) as caught:
        admin.source().load()
    assert caught.value.restate_code == "META0003"
    assert caught.value.problem == "[META0003] cannot reach it"


def test_answers_that_do_not_fit_together_are_read_again_then_refused() -> None:
    """A queued call whose key nobody holds is a moment between two calls: read again; if
    it stays that way, refuse."""

    def no_holder(document: Any) -> None:
        for row in document["rows"]:
            row.pop("key_holder", None)

    admin = live_admin(edited(LIVE_QUERY, no_holder))
    with pytest.raises(AdminApiError, match="do not fit together after 3 reads") as caught:
        admin.source().load()
    assert "TicketObject/k has queued calls but no call holds it" in caught.value.problem
    assert admin.paths().count(("GET", "/deployments")) == 3


def test_a_detail_that_changed_since_the_list_is_read_again() -> None:
    """v1 registered again between ``GET /deployments`` and ``GET /deployments/{id}``: the
    next read sees the new state."""
    admin = report_admin()
    stale = edited(REPORT_V1, _set(("services", 0, "revision"), 4))
    answers = iter([stale, REPORT_V1])

    original = admin.__call__

    def serve(request: httpx.Request) -> httpx.Response:
        if request.url.path == f"/deployments/{REPORT_V1_ID}":
            admin.requests.append(request)
            return httpx.Response(200, content=next(answers).encode())
        return original(request)

    client = httpx.Client(transport=httpx.MockTransport(serve))
    registry = AdminSource(ADMIN, client=client).load()
    assert registry.deployment(REPORT_V1_ID).services["Signup"].revision == 2
    assert admin.paths().count(("GET", "/deployments")) == 2


def test_an_unreachable_admin_api_is_an_admin_api_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(AdminApiError) as caught:
        AdminSource(f"http://127.0.0.1:{port}", timeout=2).load()
    assert time.monotonic() - started < 2
    assert caught.value.status is None
    assert caught.value.url == f"http://127.0.0.1:{port}/deployments"
    assert "ConnectError" in caught.value.problem


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        accepted: list[socket.socket] = []
        stop = threading.Event()

        def accept() -> None:
            server.settimeout(0.1)
            while not stop.is_set():
                try:
                    accepted.append(server.accept()[0])
                except OSError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        yield server.getsockname()[1]
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()


def test_an_admin_api_that_does_not_answer_fails_within_the_timeout(silent_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(AdminApiError, match=r"no answer within the timeout of 0\.5 s") as caught:
        AdminSource(f"http://127.0.0.1:{silent_port}", timeout=0.5).load()
    assert time.monotonic() - started < 1.5
    assert caught.value.status is None


def test_the_timeout_bounds_the_whole_load() -> None:
    """Slow answers add up: the load gives up when the timeout is spent, not per request."""
    admin = live_admin()

    def slow(request: httpx.Request) -> httpx.Response:
        time.sleep(0.2)
        return admin(request)

    client = httpx.Client(transport=httpx.MockTransport(slow))
    with pytest.raises(AdminApiError, match="no answer within the timeout"):
        AdminSource(ADMIN, client=client, timeout=0.5).load()


def test_a_failed_load_leaves_nothing_behind_and_the_next_one_works() -> None:
    """An error builds no registry and keeps no state: the source and its client go on."""
    admin = live_admin()
    good = admin.answers[("POST", "/query")]
    admin.answers[("POST", "/query")] = (500, "boom")
    source = admin.source()
    with pytest.raises(AdminApiError):
        source.load()
    admin.answers[("POST", "/query")] = good
    assert len(list(source.load().invocations())) == 5


@pytest.mark.parametrize(("url", "timeout"), [("127.0.0.1:9070", 10), (ADMIN, 0), (ADMIN, -1)])
def test_a_source_needs_an_http_url_and_a_positive_timeout(url: str, timeout: float) -> None:
    with pytest.raises(ValueError, match=r"admin URL|timeout"):
        AdminSource(url, timeout=timeout)


@pytest.mark.parametrize("limit", [0, -1, 1.5])
def test_a_source_needs_a_positive_size_limit(limit: Any) -> None:
    with pytest.raises(ValueError, match="max_response_bytes"):
        AdminSource(ADMIN, max_response_bytes=limit)


def test_a_source_shows_its_url_without_credentials() -> None:
    source = AdminSource("http://ops:s3cret@127.0.0.1:9070/")
    assert repr(source) == "AdminSource('http://***@127.0.0.1:9070', timeout=10)"
    assert source.admin_url == "http://ops:s3cret@127.0.0.1:9070"  # what the requests use


def test_a_trailing_slash_on_the_admin_url_is_ignored() -> None:
    admin = report_admin()
    client = httpx.Client(transport=httpx.MockTransport(admin))
    AdminSource(ADMIN + "/", client=client).load()
    assert admin.paths()[0] == ("GET", "/deployments")
    assert str(admin.requests[0].url) == ADMIN + "/deployments"


def test_what_the_admin_views_show_loads_back(registry: Registry) -> None:
    """``admin_deployments`` / ``admin_services`` of a registry, served as the admin API,
    load back into the same deployments (a Lambda one too), minus the kept manifests."""
    from restate_versioning import EndpointKind
    from restate_versioning.endpoints import display_endpoint

    from .helpers import manifest, service

    registry.register("http://greeter:9080", manifest(service("Greeter")))
    registry.register(
        "arn:aws:lambda:eu-central-1:123456789012:function:tickets:7",
        manifest(service("TicketObject", "VIRTUAL_OBJECT"), service("Signup", "WORKFLOW")),
    )
    admin = Admin(
        {
            ("GET", "/deployments"): (200, json.dumps(admin_deployments(registry))),
            ("GET", "/services"): (200, json.dumps(admin_services(registry))),
            ("POST", "/query"): (200, EMPTY_QUERY),
        }
    )
    loaded = admin.source().load()
    # As the server shows them: the URI with its "/", and the HTTP version it speaks.
    expected = [
        attrs.evolve(
            d,
            manifest=None,
            endpoint=display_endpoint(d.endpoint),
            http_version=d.transport if d.kind is EndpointKind.HTTP else None,
        )
        for d in registry.deployments()
    ]
    assert list(loaded.deployments()) == expected
    assert loaded.services() == registry.services()
    snapshot = admin.source().snapshot()
    assert snapshot.deployments == loaded.deployments()


# --- state declared in service metadata ----------------------------------------------------


def _declare(document: Any, service: str, metadata: dict[str, str]) -> None:
    for item in document["services"]:
        if item["name"] == service:
            item["metadata"] = metadata


def test_state_declared_in_service_metadata_loads_with_the_revision() -> None:
    from restate_versioning import state_metadata

    schema = {"type": "object", "properties": {"seat": {"type": "string"}}}
    declared = state_metadata({"status": schema})
    admin = report_admin()
    admin.answers[("GET", "/services")] = (
        200,
        edited(REPORT_SERVICES, lambda d: _declare(d, "TicketObject", declared)),
    )
    revision = admin.source().load().service("TicketObject")
    assert revision.metadata == declared
    assert revision.state_schema("status") == schema


def test_a_broken_state_declaration_in_a_cluster_is_an_admin_api_error() -> None:
    from restate_versioning import STATE_METADATA_PREFIX

    admin = report_admin()
    broken = {f"{STATE_METADATA_PREFIX}status": "{nope"}
    admin.answers[("GET", "/services")] = (
        200,
        edited(REPORT_SERVICES, lambda d: _declare(d, "TicketObject", broken)),
    )
    with pytest.raises(AdminApiError) as caught:
        admin.source().load()
    assert "the schema of state key 'status' is not JSON" in caught.value.problem


def test_a_server_error_is_asked_again_within_the_timeout() -> None:
    """A cluster that has just started answers the query with 500 for a moment (seen on
    restate-server 1.7.12: "node lookup for partition 1 failed")."""
    admin = live_admin()
    good = admin.answers[("POST", "/query")]
    failures = iter([(500, '{"message":"node lookup for partition 1 failed"}')] * 2)

    def flaky(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/query":
            admin.answers[("POST", "/query")] = next(failures, good)
        return admin(request)

    client = httpx.Client(transport=httpx.MockTransport(flaky))
    assert len(list(AdminSource(ADMIN, client=client).load().invocations())) == 5
    assert admin.paths().count(("POST", "/query")) == 3


def test_a_time_with_no_utc_equivalent_in_an_answer_is_an_admin_api_error() -> None:
    """A timestamp the server could not have meant (``9999-12-31T23:59:59-14:00`` has no UTC
    equivalent) is an :class:`AdminApiError` naming the field, not an ``OverflowError``."""
    from restate_versioning.admin import _Misfit, _time

    with pytest.raises(_Misfit, match=r"no UTC equivalent @ \$\.x\.created_at"):
        _time({"created_at": "9999-12-31T23:59:59-14:00"}, "created_at", "$.x")
