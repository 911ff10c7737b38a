"""JSON at the edge: snapshots round-trip exactly, bad snapshots are refused whole, and the admin
views use the server's field names (as answered by restate-server 1.7.12)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import cattrs
import pytest

from restate_versioning import InvalidSnapshot, Invocation, ManualClock, Registry, SequentialIds
from restate_versioning.serialization import (
    FORMAT,
    FORMAT_VERSION,
    admin_deployments,
    admin_services,
    dumps,
    loads,
    make_converter,
)
from restate_versioning.views import describe_deployment

from .helpers import SDK_MANIFEST, V1, manifest, populate, service


@pytest.fixture
def busy(registry: Registry, versioning_clock: ManualClock) -> Registry:
    return populate(registry, versioning_clock)


def test_a_snapshot_round_trips_exactly(busy: Registry) -> None:
    text = dumps(busy)
    loaded = loads(text)
    assert loaded.snapshot() == busy.snapshot()
    assert dumps(loaded) == text


def test_a_loaded_registry_goes_on_exactly_like_the_original(versioning_clock: ManualClock) -> None:
    ids = SequentialIds()
    original = populate(Registry(clock=versioning_clock, ids=ids), versioning_clock)
    twin = loads(dumps(original), clock=versioning_clock, ids=copy.deepcopy(ids))
    for registry in (original, twin):
        holder = next(
            i for i in registry.invocations() if i.key == "t1" and i.status.value == "running"
        )
        registry.complete(holder.id)
        registry.invoke("TicketObject", "reserve", key="t1")
    versioning_clock.advance(timedelta(seconds=10))
    assert original.start_due() == twin.start_due()
    assert original.snapshot() == twin.snapshot()


def test_a_snapshot_carries_its_format_and_version(busy: Registry) -> None:
    document = json.loads(dumps(busy))
    assert (document["format"], document["version"]) == (FORMAT, FORMAT_VERSION)


def _document(registry: Registry) -> dict[str, Any]:
    return json.loads(dumps(registry))  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda d: d.update(extra=1), "$.extra"),
        (lambda d: d.update(version=FORMAT_VERSION + 1), "$.version"),
        (lambda d: d.update(format="something-else"), "$.format"),
        (lambda d: d["registry"].update(surprise=[]), "$.registry"),
        (
            lambda d: d["registry"]["deployments"][0].update(color="red"),
            "$.registry.deployments[0]",
        ),
        (
            lambda d: d["registry"]["deployments"][0].update(created_at="2026-01-01T00:00:00"),
            "$.registry.deployments[0].created_at",
        ),
        (
            lambda d: d["registry"]["invocations"][0].update(status="sleeping"),
            "$.registry.invocations[0].status",
        ),
        (lambda d: d.pop("registry"), "$.registry"),
    ],
)
def test_a_bad_snapshot_is_refused_with_the_path_of_the_problem(
    busy: Registry, change: Any, path: str
) -> None:
    document = _document(busy)
    change(document)
    with pytest.raises(InvalidSnapshot) as caught:
        loads(json.dumps(document))
    paths = [p.path for p in caught.value.problems]
    assert any(p.startswith(path) for p in paths), paths


def test_a_newer_format_version_says_so(busy: Registry) -> None:
    document = _document(busy)
    document["version"] = FORMAT_VERSION + 1
    with pytest.raises(InvalidSnapshot, match="newer than this library reads"):
        loads(json.dumps(document))


@pytest.mark.parametrize("text", ["", "{", "[]", '"registry"', "null"])
def test_malformed_json_is_refused(text: str) -> None:
    with pytest.raises(InvalidSnapshot):
        loads(text)


def test_dangling_references_are_refused(busy: Registry) -> None:
    document = _document(busy)
    invocations = document["registry"]["invocations"]
    pinned = next(i for i in invocations if i["pinned_deployment_id"])
    pinned["pinned_deployment_id"] = "dp_1000000000000000000000"
    document["registry"]["locks"][0][2] = "inv_1iyF5Za7tVoR4RdJmJGFHpIlkKyJhKoqI3"
    with pytest.raises(InvalidSnapshot) as caught:
        loads(json.dumps(document))
    messages = " ".join(p.message for p in caught.value.problems)
    assert "unknown deployment 'dp_1000000000000000000000'" in messages
    assert "inv_1iyF5Za7tVoR4RdJmJGFHpIlkKyJhKoqI3" in messages


def test_a_pending_call_outside_every_inbox_is_refused(busy: Registry) -> None:
    document = _document(busy)
    document["registry"]["inboxes"] = []
    with pytest.raises(InvalidSnapshot, match="is in no inbox"):
        loads(json.dumps(document))


def test_two_deployments_at_one_endpoint_are_refused(registry: Registry) -> None:
    registry.register(V1, SDK_MANIFEST)
    document = _document(registry)
    twin = dict(document["registry"]["deployments"][0])
    twin["id"] = "dp_1000000000000000000001"
    twin["endpoint"] = V1 + "/"
    twin["services"] = {}
    document["registry"]["deployments"].append(twin)
    with pytest.raises(InvalidSnapshot, match="is the endpoint of"):
        loads(json.dumps(document))


def test_admin_services_use_the_servers_field_names_and_spellings(registry: Registry) -> None:
    """As ``GET /services`` answered: ``ty`` is Service / VirtualObject / Workflow, handlers of a
    plain Service have no ``ty``, and a private service shows private handlers; payloads as the
    server describes them, and the server's defaults for the options (a REQUEST_RESPONSE
    deployment's inactivity timeout is ``"0s"``)."""
    deployment = registry.register(V1, SDK_MANIFEST).deployment
    registry.set_public("Greeter", False)
    view = {s["name"]: s for s in admin_services(registry)["services"]}
    strings = {
        "input_description": "JSON string",
        "output_description": "JSON string",
        "input_json_schema": {"type": "string"},
        "output_json_schema": {"type": "string"},
        "retry_policy": {"max_attempts": None},
    }
    assert view["Greeter"] == {
        "name": "Greeter",
        "ty": "Service",
        "handlers": [{"name": "greet", "public": False, **strings}],
        "deployment_id": deployment.id,
        "revision": 1,
        "public": False,
        "idempotency_retention": "1d",
        "journal_retention": "1d",
        "inactivity_timeout": "0s",
        "abort_timeout": "10m",
        "enable_lazy_state": False,
        "retry_policy": {
            "initial_interval": "500ms",
            "exponentiation_factor": 2.0,
            "max_attempts": 70,
            "max_interval": "1m",
            "on_max_attempts": "Pause",
        },
    }
    assert view["TicketObject"]["ty"] == "VirtualObject"
    assert [
        {k: h[k] for k in ("name", "ty", "public")} for h in view["TicketObject"]["handlers"]
    ] == [
        {"name": "reserve", "ty": "Exclusive", "public": True},
        {"name": "status", "ty": "Shared", "public": True},
    ]
    assert [h["ty"] for h in view["Signup"]["handlers"]] == ["Workflow", "Shared"]
    assert view["Signup"]["workflow_completion_retention"] == "1d"


def test_admin_deployments_use_the_servers_field_names_and_spellings() -> None:
    """As ``GET /deployments`` answered: the URI printed with its root path, created_at with
    nine fractional digits, protocol_type BidiStream or RequestResponse."""
    clock = ManualClock(datetime(2026, 11, 26, 5, 42, 5, 549000, tzinfo=UTC))
    registry = Registry(clock=clock, ids=SequentialIds())
    bidi = dict(SDK_MANIFEST, protocolMode="BIDI_STREAM")
    deployment = registry.register(
        "http://127.0.0.1:9081",
        bidi,
        http_version="HTTP/2.0",
        sdk_version="restate-sdk-python/1.3.0",
    ).deployment
    (view,) = admin_deployments(registry)["deployments"]
    assert view == {
        "id": deployment.id,
        "uri": "http://127.0.0.1:9081/",
        "protocol_type": "BidiStream",
        "http_version": "HTTP/2.0",
        "created_at": "2026-11-26T05:42:05.549000000Z",
        "min_protocol_version": 5,
        "max_protocol_version": 7,
        "sdk_version": "restate-sdk-python/1.3.0",
        "services": [
            {"name": "Greeter", "revision": 1},
            {"name": "TicketObject", "revision": 1},
            {"name": "Signup", "revision": 1},
        ],
    }


def test_a_lambda_deployment_shows_its_arn(registry: Registry) -> None:
    arn = "arn:aws:lambda:eu-central-1:123456789012:function:greeter:7"
    registry.register(arn, SDK_MANIFEST)
    (view,) = admin_deployments(registry)["deployments"]
    assert view["arn"] == arn
    assert "uri" not in view


def test_a_kept_manifest_that_no_longer_parses_is_refused_with_its_problem(busy: Registry) -> None:
    document = _document(busy)
    document["registry"]["deployments"][0]["manifest"]["services"][0]["name"] = 5
    with pytest.raises(InvalidSnapshot) as caught:
        loads(json.dumps(document))
    (problem,) = caught.value.problems
    assert problem.path == "$.registry.deployments[0].manifest"
    assert "expected a string, got 5 @ $.services[0].name" in problem.message


def test_callers_round_trip_and_malformed_callers_are_refused(busy: Registry) -> None:
    busy.declare_caller("Greeter", "Other/greet")
    loaded = loads(dumps(busy))
    assert loaded.callers_of("Greeter") == ("Other/greet",)
    document = _document(busy)
    document["registry"]["declared_callers"][0][1] = "nobody"
    with pytest.raises(InvalidSnapshot, match="'nobody'"):
        loads(json.dumps(document))


def test_work_that_failed_before_it_started_round_trips(
    registry: Registry, versioning_clock: ManualClock
) -> None:
    """Backing-off and paused invocations that never started are pinned nowhere; a snapshot
    holding them loads (``rules.invocations.PINNING`` is the one rule for both)."""
    only = registry.register(V1, SDK_MANIFEST).deployment.id
    retrying = registry.invoke("Greeter", "greet", delay=timedelta(seconds=1))
    paused = registry.invoke("Greeter", "greet", delay=timedelta(seconds=1))
    registry.remove(only, force=True)
    versioning_clock.advance(timedelta(seconds=1))
    registry.start_due()
    registry.pause(paused.id)
    assert registry.invocation(retrying.id).pinned_deployment_id is None
    assert loads(dumps(registry)).snapshot() == registry.snapshot()


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d.update(registry=[]), "$.registry"),
        (lambda d: d.update(version=True), "$.version"),
        (lambda d: d["registry"]["deployments"][0].update(id="dp_oops"), "dp_oops"),
        (lambda d: d["registry"]["invocations"][0].update(id="not-an-id"), "not-an-id"),
    ],
)
def test_a_snapshot_of_the_wrong_shape_or_with_bad_ids_is_refused(
    busy: Registry, change: Any, fragment: str
) -> None:
    document = _document(busy)
    change(document)
    with pytest.raises(InvalidSnapshot) as caught:
        loads(json.dumps(document))
    assert fragment in str(caught.value)


def test_pinned_work_keeps_its_order_through_a_snapshot(registry: Registry) -> None:
    """Removal plans list pinned work in the order it was pinned; a reloaded registry lists
    it the same way (a call that waited on its key was pinned after later calls)."""
    v1 = registry.register(V1, SDK_MANIFEST).deployment.id
    holder = registry.invoke("TicketObject", "reserve", key="k")
    waited = registry.invoke("TicketObject", "reserve", key="k")
    later = registry.invoke("Greeter", "greet")
    registry.complete(holder.id)
    live = registry.removal_plan(v1)
    reloaded = loads(dumps(registry)).removal_plan(v1)
    assert [i.id for i in registry.pinned_invocations(v1)] == [later.id, waited.id]
    assert reloaded == live


def test_pinned_lists_that_do_not_match_the_invocations_are_refused(busy: Registry) -> None:
    document = _document(busy)
    document["registry"]["pinned"] = []
    with pytest.raises(InvalidSnapshot, match="pinned lists"):
        loads(json.dumps(document))


def test_state_that_is_not_a_json_schema_is_refused_in_a_snapshot(registry: Registry) -> None:
    schema = {"type": "object"}
    registry.register(
        V1, manifest(service("Cart", "VIRTUAL_OBJECT")), state={"Cart": {"items": schema}}
    )
    document = _document(registry)
    assert loads(json.dumps(document)).service("Cart").state_schema("items") == schema
    document["registry"]["deployments"][0]["services"]["Cart"]["state"]["items"] = '{"type": 3}'
    with pytest.raises(InvalidSnapshot) as caught:
        loads(json.dumps(document))
    (problem,) = caught.value.problems
    assert problem.path == "$.deployments[0].services.Cart.state['items']"
    assert "not a JSON Schema" in problem.message


# --- JSON a snapshot must be, and consistency a loaded one must have --------------------------

_NOT_JSON_WE_READ: list[tuple[str | bytes, str]] = [
    ("[" * 2048 + "]" * 2048, "nested deeper than 127 levels"),
    ('{"format": NaN}', "NaN is not a JSON value"),
    ('{"format": -Infinity}', "-Infinity is not a JSON value"),
    ('{"format": "a", "format": "b"}', "the key 'format' appears twice in one object"),
    (b'{"format": "\xff"}', "not UTF-8 text"),
    ("{", "malformed JSON"),
]


@pytest.mark.parametrize(("text", "reason"), _NOT_JSON_WE_READ)
def test_json_the_library_does_not_read_is_an_invalid_snapshot(
    text: str | bytes, reason: str
) -> None:
    """A snapshot is read as the server reads JSON: about 2 KB of ``[`` (deeper than 127
    levels), ``NaN`` or ``Infinity``, a key twice, bytes that are not UTF-8 are each an
    :class:`InvalidSnapshot` with the path of the problem, never a ``RecursionError`` or a
    ``ValueError`` of :mod:`json`."""
    with pytest.raises(InvalidSnapshot) as caught:
        loads(text)
    (problem,) = caught.value.problems
    assert problem.path == "$"
    assert reason in problem.message


def test_a_duplicate_key_deep_in_a_registry_is_refused(busy: Registry) -> None:
    """A key twice anywhere in the document (here in a deployment) is refused too: no value
    silently wins."""
    text = dumps(busy).replace('"id": ', '"id": "dp_1000000000000000000000", "id": ', 1)
    with pytest.raises(InvalidSnapshot, match="the key 'id' appears twice"):
        loads(text)


def test_running_out_of_stack_while_structuring_is_an_invalid_snapshot(
    busy: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``RecursionError`` anywhere while a snapshot is structured is an
    :class:`InvalidSnapshot` at ``$.registry``, never the bare error (the JSON reader's depth
    bound keeps real snapshots far from it)."""
    from restate_versioning import serialization

    class Exhausted:
        def structure(self, *_: object) -> None:
            raise RecursionError("maximum recursion depth exceeded")

    text = dumps(busy)
    monkeypatch.setattr(serialization, "_CONVERTER", Exhausted())
    with pytest.raises(InvalidSnapshot) as caught:
        loads(text)
    assert [p.path for p in caught.value.problems] == ["$.registry"]


BEYOND_UTC = ["9999-12-31T23:59:59-14:00", "9999-12-31T23:00:00-01:00", "0001-01-01T00:00:00+00:01"]


@pytest.mark.parametrize("stamp", BEYOND_UTC)
@pytest.mark.parametrize(
    ("where", "path"),
    [
        (lambda d: d["registry"]["deployments"][0], "$.registry.deployments[0].created_at"),
        (lambda d: d["registry"]["invocations"][0], "$.registry.invocations[0].created_at"),
    ],
)
def test_a_timestamp_with_no_utc_equivalent_is_refused_where_it_enters(
    busy: Registry, stamp: str, where: Any, path: str
) -> None:
    """``9999-12-31T23:59:59-14:00`` is a valid ISO 8601 time whose UTC equivalent is past
    the year 9999: a snapshot holding one is refused with the path, instead of crashing the
    views and the admin source later."""
    document = _document(busy)
    where(document)["created_at"] = stamp
    with pytest.raises(InvalidSnapshot) as caught:
        loads(json.dumps(document))
    assert [p.path for p in caught.value.problems] == [path]
    assert "no UTC equivalent" in caught.value.problems[0].message


def test_a_hand_made_snapshot_with_a_time_beyond_utc_is_refused(busy: Registry) -> None:
    """:meth:`Registry.from_snapshot` checks times too, with the snapshot's path."""
    import attrs

    stamp = datetime.fromisoformat(BEYOND_UTC[0])
    snapshot = busy.snapshot()
    scheduled = next(i for i in snapshot.invocations if i.execute_at is not None)
    index = snapshot.invocations.index(scheduled)
    invocations = list(snapshot.invocations)
    invocations[index] = attrs.evolve(scheduled, execute_at=stamp)
    with pytest.raises(InvalidSnapshot) as caught:
        Registry.from_snapshot(attrs.evolve(snapshot, invocations=tuple(invocations)))
    assert [p.path for p in caught.value.problems] == [f"$.invocations[{index}].execute_at"]


def _inbox(document: dict[str, Any]) -> list[Any]:
    (inbox,) = document["registry"]["inboxes"]
    return inbox  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: _inbox(d)[2].append(_inbox(d)[2][0]), ["is listed twice in this inbox"]),
        (
            lambda d: d["registry"]["inboxes"].append(copy.deepcopy(_inbox(d))),
            ["has two inboxes", "is listed twice (in $.inboxes[0])"],
        ),
        (lambda d: _inbox(d)[2].clear(), ["has an empty inbox", "is in no inbox"]),
        (
            lambda d: d["registry"]["locks"].append(copy.deepcopy(d["registry"]["locks"][0])),
            ["is listed twice"],
        ),
        (
            lambda d: d["registry"]["locks"][0].__setitem__(2, _inbox(d)[2][0]),
            ["holds TicketObject/t1 but is pending"],
        ),
    ],
)
def test_queues_and_locks_that_disagree_with_statuses_are_refused(
    busy: Registry, change: Any, expected: list[str]
) -> None:
    """A call listed twice in one inbox or in two, two inboxes for one key, an empty inbox, a
    key held twice or by a call that never started: the loaded indexes would be wrong, so
    the snapshot is refused, with every problem."""
    document = _document(busy)
    change(document)
    with pytest.raises(InvalidSnapshot) as caught:
        loads(json.dumps(document))
    messages = [p.message for p in caught.value.problems]
    for fragment in expected:
        assert any(fragment in m for m in messages), messages


def test_a_loaded_registry_passes_verify_and_verify_applies_the_snapshot_rules(
    busy: Registry,
) -> None:
    """What loads is consistent: ``verify()`` of a loaded registry is empty. ``verify()`` of a
    live registry applies the same rules a snapshot must pass (one home for each): a call
    queued twice is reported by both."""
    loaded = loads(dumps(busy))
    assert loaded.verify() == ()
    (queue,) = loaded._keys._inboxes.values()
    queue.append(queue[0])
    problems = loaded.verify()
    assert any("is listed twice in this inbox" in p for p in problems), problems
    with pytest.raises(InvalidSnapshot, match="is listed twice in this inbox"):
        Registry.from_snapshot(loaded.snapshot())


def test_a_deep_value_where_a_snapshot_has_a_fixed_shape_is_refused_as_the_wrong_shape() -> None:
    """Nesting not deep enough to exhaust the stack, where a snapshot has a fixed shape, is an
    :class:`InvalidSnapshot` at its path (the kept manifests, a snapshot's free-form part, are
    read as manifests are: 127 levels at most)."""
    with pytest.raises(InvalidSnapshot) as caught:
        loads('{"format": ' + "[" * 200 + "]" * 200 + "}")
    (problem, *_) = caught.value.problems
    assert problem.path == "$.format"
    assert len(problem.message) < 200


@pytest.mark.parametrize("mode", ["BIDI_STREAM", "REQUEST_RESPONSE"])
def test_the_http_version_is_unknown_without_a_discovery(mode: str) -> None:
    """Real SDKs serve either protocol mode over h2c or HTTP/1.1: the mode tells nothing."""
    registry = Registry(ids=SequentialIds())
    deployment = registry.register(
        "http://127.0.0.1:9081", dict(SDK_MANIFEST, protocolMode=mode)
    ).deployment
    assert deployment.transport is None
    (view,) = admin_deployments(registry)["deployments"]
    assert "http_version" not in view
    assert describe_deployment(registry, deployment.id).transport == "unknown (not discovered)"


def _plain_converter() -> cattrs.Converter:
    """The library's converter without its fast :class:`Invocation` hook."""
    from restate_versioning.serialization import _structure_datetime

    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    converter.register_structure_hook(datetime, _structure_datetime)
    return converter


@pytest.mark.parametrize(
    "edit",
    [
        {},
        {"key": 5},
        {"status": "sleeping"},
        {"status": ["running"]},
        {"handler_type": "NOPE"},
        {"last_failure": {"code": "RT0011"}},
        {"last_failure": {"code": "RT0011", "message": 3}},
        {"pinned_protocol_version": "6"},
        {"created_at": "yesterday"},
        {"extra": 1},
        {"pins_at_first_command": "yes"},
        {"key": None, "drop": "key"},
        {"drop": "caller"},
        {"drop": "pinned_deployment_id"},
    ],
)
def test_invocations_read_from_a_snapshot_as_cattrs_reads_them(
    registry: Registry, versioning_clock: ManualClock, edit: dict[str, Any]
) -> None:
    """A snapshot's invocations are read by a fast hook; whatever a record holds, it gives
    what cattrs' own hook gives: the same value, or the same error."""
    registry.register(V1, SDK_MANIFEST)
    caller = registry.invoke("TicketObject", "reserve", key="k")
    registry.invoke("Greeter", "greet", caller=caller, delay=timedelta(seconds=5))
    registry.fail(caller.id, code="RT0012")
    registry.invoke("Greeter", "greet", pin_on_start=False)
    library, plain = make_converter(), _plain_converter()
    for invocation in registry.invocations():
        record = {**library.unstructure(invocation), **edit}
        record.pop(record.pop("drop", None), None)
        outcomes: list[object] = []
        for converter in (library, plain):
            try:
                outcomes.append(converter.structure(record, Invocation))
            except Exception as exc:
                outcomes.append(
                    (type(exc), str(exc), [str(e) for e in getattr(exc, "exceptions", ())])
                )
        assert outcomes[0] == outcomes[1]
