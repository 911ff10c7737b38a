"""The admin-shaped views and :class:`AdminSource` keep what restate-server 1.7.12 shows of a
service and its handlers: documentation, metadata, payload descriptions and JSON Schemas,
timeouts, retentions, retry policy and lazy state, with the server's defaults for what a service
leaves unset. ``tests/test_admin_views_server.py`` compares the same views with a real server;
the expectations here are what that server answered.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from restate_versioning import (
    DeploymentNotFound,
    Handler,
    ManualClock,
    OnMaxAttempts,
    ProtocolMode,
    Registry,
    RetryPolicy,
    SequentialIds,
    ServiceNotFound,
    ServiceRevision,
    ServiceType,
)
from restate_versioning._durations import format_millis, parse_millis
from restate_versioning.admin import AdminApiError
from restate_versioning.endpoints import display_endpoint
from restate_versioning.manifest import HANDLER_OPTIONS, PAYLOAD_FIELDS, SERVICE_OPTIONS
from restate_versioning.rules.registration import payload_view
from restate_versioning.serialization import (
    DEFAULT_ABORT_TIMEOUT_MS,
    DEFAULT_ENABLE_LAZY_STATE,
    DEFAULT_IDEMPOTENCY_RETENTION_MS,
    DEFAULT_INACTIVITY_TIMEOUT_MS,
    DEFAULT_JOURNAL_RETENTION_MS,
    DEFAULT_RETRY_POLICY,
    DEFAULT_WORKFLOW_COMPLETION_RETENTION_MS,
    admin_deployment,
    admin_deployments,
    admin_service,
    admin_services,
    dumps,
    loads,
)
from restate_versioning.storage import MemoryStorage, StoredRegistry
from restate_versioning.testing.strategies import manifests

from .helpers import (
    EMPTY_QUERY,
    PAYLOADS,
    V1,
    V2,
    Admin,
    every_option,
    manifest,
)


def test_the_manifest_sets_every_option_the_manifest_schema_has() -> None:
    """What the tests here and against the server register covers every option name."""
    document = every_option(mode="BIDI_STREAM")
    flow = document["services"][0]
    assert set(SERVICE_OPTIONS) <= set(flow)
    handlers = flow["handlers"]
    assert set(HANDLER_OPTIONS) <= set(handlers[0]) | set(handlers[1])
    assert set(PAYLOAD_FIELDS["input"]) <= set(handlers[0]["input"])
    assert set(PAYLOAD_FIELDS["output"]) <= set(handlers[0]["output"])


# --- the revision keeps what the server shows -----------------------------------------------


def test_a_revision_keeps_the_documentation_metadata_payloads_and_options_of_its_manifest(
    registry: Registry,
) -> None:
    registry.register(V1, every_option(mode="BIDI_STREAM"))
    flow = registry.service("ViewsFlow")
    assert flow.documentation == "signs people up"
    assert dict(flow.metadata) == {"team": "growth", "tier": "1"}
    assert (flow.inactivity_timeout_ms, flow.abort_timeout_ms) == (3_600_001, 3_600_002)
    assert (flow.journal_retention_ms, flow.idempotency_retention_ms) == (3_600_003, 3_600_004)
    assert flow.enable_lazy_state is True
    # A Workflow's completion retention is set on its WORKFLOW handler, shown on the service.
    assert flow.workflow_completion_retention_ms == 90_061_008
    assert flow.retry_policy == RetryPolicy(3_600_005, 1.5, 7, 3_600_006, OnMaxAttempts.KILL)
    run = flow.handlers["run"]
    assert (run.documentation, dict(run.metadata)) == ("the run", {"owner": "ana"})
    assert (run.input_description, run.output_description) == ("JSON object", "JSON string")
    assert run.input_schema() == {"type": "object", "properties": {"x": {"type": "integer"}}}
    assert run.input_json_schema == '{"properties":{"x":{"type":"integer"}},"type":"object"}'
    assert run.output_schema() == {"type": "string"}
    assert run.inactivity_timeout_ms == 90_061_001
    assert run.idempotency_retention_ms is None
    assert run.retry_policy.on_max_attempts is OnMaxAttempts.PAUSE
    status = flow.handlers["status"]
    assert status.enable_lazy_state is False
    assert status.retry_policy == RetryPolicy()
    assert (status.input_description, status.input_schema()) == ("*/*", None)
    bare = registry.service("ViewsBare")
    assert bare.retry_policy == RetryPolicy()
    assert bare.inactivity_timeout_ms is None
    assert bare.handlers["greet"] == Handler("greet", bare.handlers["greet"].type)


def test_a_manifests_zero_max_attempts_is_kept_as_one_as_the_server_shows_it(
    registry: Registry,
) -> None:
    registry.register(V1, every_option(mode="BIDI_STREAM"))
    assert registry.service("ViewsObject").retry_policy.max_attempts == 1
    assert admin_service(registry, "ViewsObject")["retry_policy"]["max_attempts"] == 1


@pytest.mark.parametrize(("payload", "output", "description", "schema"), PAYLOADS)
def test_payloads_are_described_as_the_server_describes_them(
    payload: dict[str, Any] | None, output: bool, description: str, schema: Any
) -> None:
    shown, text = payload_view(payload, output=output)
    assert shown == description
    assert (json.loads(text) if text is not None else None) == schema


@pytest.mark.parametrize(
    ("millis", "text"),
    [
        (0, "0s"),
        (1, "1ms"),
        (999, "999ms"),
        (1000, "1s"),
        (60_000, "1m"),
        (600_000, "10m"),
        (86_400_000, "1d"),
        (90_061_004, "1d 1h 1m 1s 4ms"),
        (3_600_004, "1h 4ms"),
        (604_800_000, "7d"),
        (3_456_000_000, "40d"),
        (2_630_016_000, "30d 10h 33m 36s"),
        (31_557_600_000, "365d 6h"),
        (315_576_000_000_000, "3652500d"),
    ],
)
def test_durations_show_as_the_server_prints_them_and_read_back(millis: int, text: str) -> None:
    assert format_millis(millis) == text
    assert parse_millis(text) == millis


@pytest.mark.parametrize(
    "text", ["", "1", "1x", "1m 1h", "1s 1s", "1 s", "-1s", "1.5s", "1us", "9" * 5000 + "d"]
)
def test_a_duration_the_server_would_not_print_does_not_read(text: str) -> None:
    assert parse_millis(text) is None


# --- the views --------------------------------------------------------------------------------


def test_a_service_that_sets_nothing_shows_the_servers_defaults(registry: Registry) -> None:
    registry.register(V1, every_option(mode="BIDI_STREAM"))
    registry.register(
        V2,
        manifest(
            {"name": "Other", "ty": "WORKFLOW", "handlers": [{"name": "run", "ty": "WORKFLOW"}]},
            mode="REQUEST_RESPONSE",
        ),
    )
    bare = admin_service(registry, "ViewsBare")
    assert {k: v for k, v in bare.items() if k not in ("handlers", "deployment_id")} == {
        "name": "ViewsBare",
        "ty": "Service",
        "revision": 1,
        "public": True,
        "idempotency_retention": "1d",
        "journal_retention": "1d",
        "inactivity_timeout": "1m",
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
    assert bare["handlers"] == [
        {
            "name": "greet",
            "public": True,
            "input_description": "*/*",
            "output_description": "application/json",
            "retry_policy": {"max_attempts": None},
        }
    ]
    other = admin_service(registry, "Other")
    assert other["workflow_completion_retention"] == "1d"
    assert other["inactivity_timeout"] == "0s"  # REQUEST_RESPONSE: never applied
    assert "info" not in other


def test_a_handler_shows_only_the_options_it_sets_itself(registry: Registry) -> None:
    registry.register(V1, every_option(mode="BIDI_STREAM"))
    handlers = {h["name"]: h for h in admin_service(registry, "ViewsFlow")["handlers"]}
    assert handlers["confirm"] == {
        "name": "confirm",
        "ty": "Shared",
        "documentation": "",
        "idempotency_retention": "9ms",
        "journal_retention": "8ms",
        "inactivity_timeout": "6ms",
        "abort_timeout": "7ms",
        "enable_lazy_state": True,
        "public": False,
        "input_description": "*/*",
        "output_description": "application/json",
        "retry_policy": {
            "initial_interval": "10ms",
            "exponentiation_factor": 1.5,
            "max_attempts": 7,
            "max_interval": "11ms",
            "on_max_attempts": "Pause",
        },
    }
    assert "workflow_completion_retention" not in handlers["run"]  # on the service instead
    assert handlers["status"]["enable_lazy_state"] is False


def test_a_request_response_deployment_notes_the_inactivity_timeouts_it_does_not_apply(
    registry: Registry,
) -> None:
    registry.register(V1, every_option(mode="REQUEST_RESPONSE"))
    flow = admin_service(registry, "ViewsFlow")
    assert flow["inactivity_timeout"] == "0s"
    assert flow["info"] == [
        {
            "code": "RT0021",
            "message": "The configured inactivity_timeout 1h 1ms will not be applied because "
            "the service is exposed in Request/Response mode.",
        }
    ]
    run = next(h for h in flow["handlers"] if h["name"] == "run")
    assert "inactivity_timeout" not in run
    assert run["info"][0]["message"] == (
        "The configured inactivity_timeout 1d 1h 1m 1s 1ms will not be applied because the "
        "handler is exposed in Request/Response mode."
    )


def test_a_deployment_shows_its_revisions_in_full_and_the_list_by_revision(
    registry: Registry,
) -> None:
    deployment = registry.register(V1, every_option(mode="BIDI_STREAM")).deployment
    shown = admin_deployment(registry, deployment.id)
    assert [s["name"] for s in shown["services"]] == list(deployment.services)
    assert shown["services"][0] == admin_service(registry, "ViewsFlow")
    (listed,) = admin_deployments(registry)["deployments"]
    assert {
        **shown,
        "services": [{"name": s["name"], "revision": 1} for s in shown["services"]],
    } == (listed)
    assert admin_services(registry)["services"] == [
        admin_service(registry, s.name) for s in registry.services()
    ]


def test_the_single_views_refuse_what_the_registry_does_not_hold(registry: Registry) -> None:
    registry.register(V1, every_option(mode="BIDI_STREAM"))
    with pytest.raises(ServiceNotFound):
        admin_service(registry, "Nobody")
    with pytest.raises(DeploymentNotFound):
        admin_deployment(registry, "dp_11111111111111111111111")


# --- back through AdminSource ---------------------------------------------------------------


def served(registry: Registry) -> Admin:
    """The registry's views, served as the admin API (each deployment's too)."""
    answers = {
        ("GET", "/deployments"): (200, json.dumps(admin_deployments(registry))),
        ("GET", "/services"): (200, json.dumps(admin_services(registry))),
        ("POST", "/query"): (200, EMPTY_QUERY),
    }
    for deployment in registry.deployments():
        answers[("GET", f"/deployments/{deployment.id}")] = (
            200,
            json.dumps(admin_deployment(registry, deployment.id)),
        )
    return Admin(answers)


def test_what_the_views_show_of_every_option_loads_back_into_the_same_revisions() -> None:
    """Model, admin JSON, :class:`AdminSource`: the same revisions, older ones (read from
    ``GET /deployments/{id}``) and those of a REQUEST_RESPONSE deployment (whose inactivity
    timeouts are only in the server's notes) included."""
    registry = Registry(clock=ManualClock(), ids=SequentialIds())
    registry.register(V1, every_option(mode="REQUEST_RESPONSE"))
    registry.register(V2, every_option(mode="BIDI_STREAM"))
    admin = served(registry)
    loaded = admin.source().load()
    assert ("GET", f"/deployments/{registry.deployments()[0].id}") in admin.paths()
    for deployment in registry.deployments():
        assert loaded.deployment(deployment.id) == attrs.evolve(
            deployment,
            manifest=None,
            endpoint=display_endpoint(deployment.endpoint),
            http_version=deployment.transport,
        )
    assert loaded.services() == registry.services()


def test_a_service_option_set_to_the_servers_default_reads_back_as_unset() -> None:
    """The admin API shows a service option set to the server's default as it shows one left
    unset, so :class:`AdminSource` reads it as unset (the view is the same either way)."""
    registry = Registry(clock=ManualClock(), ids=SequentialIds())
    document = manifest(
        {
            "name": "Defaults",
            "ty": "SERVICE",
            "journalRetention": DEFAULT_JOURNAL_RETENTION_MS,
            "inactivityTimeout": DEFAULT_INACTIVITY_TIMEOUT_MS,
            "handlers": [{"name": "greet", "journalRetention": DEFAULT_JOURNAL_RETENTION_MS}],
        },
        mode="BIDI_STREAM",
    )
    registry.register(V1, document)
    loaded = served(registry).source().load()
    revision = loaded.service("Defaults")
    assert (revision.journal_retention_ms, revision.inactivity_timeout_ms) == (None, None)
    assert revision.handlers["greet"].journal_retention_ms == DEFAULT_JOURNAL_RETENTION_MS
    assert admin_services(loaded) == admin_services(registry)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("journal_retention", "a day"),
        ("journal_retention", 86400000),
        ("retry_policy", {"max_attempts": "70"}),
        ("retry_policy", {"exponentiation_factor": True}),
        ("retry_policy", {"on_max_attempts": "Retry"}),
        ("info", [{"code": "RT0021", "message": "The configured inactivity_timeout soon"}]),
        ("info", "RT0021"),
    ],
)
def test_an_option_shown_in_a_shape_the_server_does_not_use_is_an_admin_api_error(
    field: str, value: Any
) -> None:
    registry = Registry(clock=ManualClock(), ids=SequentialIds())
    registry.register(V1, every_option(mode="BIDI_STREAM"))
    admin = served(registry)
    services = admin_services(registry)
    services["services"][0][field] = value
    admin.answers[("GET", "/services")] = (200, json.dumps(services))
    with pytest.raises(AdminApiError, match=rf"\$\.services\[0\]\.{field}"):
        admin.source().load()


# --- snapshots and stores from before ---------------------------------------------------------

#: The fields a revision and a handler have had since they keep what the admin API shows.
NEW_REVISION_FIELDS = (
    "inactivity_timeout_ms",
    "abort_timeout_ms",
    "journal_retention_ms",
    "idempotency_retention_ms",
    "workflow_completion_retention_ms",
    "enable_lazy_state",
    "retry_policy",
)
NEW_HANDLER_FIELDS = (
    "documentation",
    "metadata",
    "input_description",
    "output_description",
    "input_json_schema",
    "output_json_schema",
    "inactivity_timeout_ms",
    "abort_timeout_ms",
    "journal_retention_ms",
    "idempotency_retention_ms",
    "enable_lazy_state",
    "retry_policy",
)


def from_before(registry: Registry, *, keep_manifests: bool) -> str:
    """The registry's snapshot as one written before revisions kept what the admin API
    shows: without those fields (and, unless ``keep_manifests``, without kept manifests)."""
    document = json.loads(dumps(registry))
    for deployment in document["registry"]["deployments"]:
        if not keep_manifests:
            del deployment["manifest"]
        for revision in deployment["services"].values():
            for field in NEW_REVISION_FIELDS:
                del revision[field]
            for handler in revision["handlers"].values():
                for field in NEW_HANDLER_FIELDS:
                    del handler[field]
    return json.dumps(document)


def test_a_snapshot_from_before_the_new_fields_takes_them_from_its_kept_manifests(
    registry: Registry,
) -> None:
    """What a registration keeps of the manifest, a revision loaded from an older snapshot
    takes from its deployment's kept manifest; what changed since (visibility) stays."""
    registry.register(V1, every_option(mode="REQUEST_RESPONSE"))
    registry.set_public("ViewsFlow", False)
    registry.register(V2, every_option(mode="BIDI_STREAM"))
    loaded = loads(from_before(registry, keep_manifests=True))
    assert loaded.snapshot() == registry.snapshot()
    older = loaded.deployments()[0].services["ViewsFlow"]
    assert older.public is False
    assert older.retry_policy.on_max_attempts is OnMaxAttempts.KILL
    assert loads(dumps(registry)).snapshot() == registry.snapshot()


def test_a_snapshot_from_before_the_new_fields_without_manifests_loads_with_defaults(
    registry: Registry,
) -> None:
    """Without a kept manifest a revision loads with no option set and handlers that declare
    no payload."""
    registry.register(V1, every_option(mode="BIDI_STREAM"))
    loaded = loads(from_before(registry, keep_manifests=False))
    for before in registry.services():
        assert loaded.service(before.name) == ServiceRevision(
            name=before.name,
            revision=before.revision,
            type=before.type,
            deployment_id=before.deployment_id,
            public=before.public,
            handlers={n: Handler(h.name, h.type, h.public) for n, h in before.handlers.items()},
            documentation=before.documentation,
            metadata=before.metadata,
            state=before.state,
        )


@pytest.mark.parametrize("snapshot_every", [1, 10_000])
def test_a_store_replays_the_options_of_its_registrations(snapshot_every: int) -> None:
    storage = MemoryStorage()
    stored = StoredRegistry(storage, snapshot_every=snapshot_every)
    stored.register(V1, every_option(mode="REQUEST_RESPONSE"))
    stored.register(V2, every_option(mode="BIDI_STREAM"))
    reopened = StoredRegistry(storage, snapshot_every=snapshot_every)
    assert reopened.registry.snapshot() == stored.registry.snapshot()
    assert admin_services(reopened.registry) == admin_services(stored.registry)


# --- any manifest, round trip -------------------------------------------------------------------

_texts = st.text(max_size=8)
_durations = st.integers(0, 10**12)
#: Service options, often at the server's default (which reads back as unset).
_option_values: dict[str, st.SearchStrategy[Any]] = {
    "inactivityTimeout": _durations | st.just(DEFAULT_INACTIVITY_TIMEOUT_MS),
    "abortTimeout": _durations | st.just(600_000),
    "journalRetention": _durations | st.just(DEFAULT_JOURNAL_RETENTION_MS),
    "idempotencyRetention": _durations | st.just(86_400_000),
    "retryPolicyInitialInterval": _durations | st.just(500),
    "retryPolicyMaxInterval": _durations | st.just(60_000),
    "enableLazyState": st.booleans(),
    "retryPolicyMaxAttempts": st.integers(0, 2**32) | st.just(70),
    "retryPolicyExponentiationFactor": st.floats(0, 1e6) | st.integers(0, 10),
    "retryPolicyOnMaxAttempts": st.sampled_from(["PAUSE", "KILL"]),
}
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | _texts,
    lambda children: st.lists(children, max_size=2) | st.dictionaries(_texts, children, max_size=2),
    max_leaves=4,
)
_schemas = st.booleans() | st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["object", "string", "array"]) | st.just(["string", "null"]),
        "title": _texts,
        "description": _texts,
        "default": _json_values,
    },
)
_payloads = st.none() | st.fixed_dictionaries(
    {},
    optional={
        "required": st.booleans(),
        "contentType": st.sampled_from(["application/json", "text/plain", "*/*"]),
        "jsonSchema": _schemas,
    },
)


def _decorated(draw: st.DrawFn, item: dict[str, Any], options: dict[str, Any]) -> None:
    for name, values in options.items():
        if draw(st.booleans()):
            item[name] = draw(values)
    if draw(st.booleans()):
        item["documentation"] = draw(_texts)
    if draw(st.booleans()):
        item["metadata"] = draw(st.dictionaries(_texts, _texts, max_size=2))


@st.composite
def decorated_manifests(draw: st.DrawFn) -> dict[str, Any]:
    """A valid manifest whose services and handlers set any options, documentation, metadata
    and payloads (a ``WORKFLOW`` handler its completion retention, and no idempotency)."""
    document = draw(manifests(max_services=2))
    for service in document["services"]:
        _decorated(draw, service, _option_values)
        for handler in service["handlers"]:
            workflow = handler.get("ty") == "WORKFLOW"
            options = {
                k: v
                for k, v in _option_values.items()
                if not (workflow and k == "idempotencyRetention")
            }
            if workflow:
                options["workflowCompletionRetention"] = _durations | st.just(86_400_000)
            _decorated(draw, handler, options)
            handler.pop("ingressPrivate", None)
            for field, output in (("input", False), ("output", True)):
                payload = draw(_payloads)
                if payload is not None:
                    if output:
                        payload.pop("required", None)
                        payload["setContentTypeIfEmpty"] = draw(st.booleans())
                    handler[field] = payload
    return document


def as_read_back(revision: ServiceRevision, mode: ProtocolMode) -> ServiceRevision:
    """What :class:`AdminSource` reads of ``revision``: a service option at the server's
    default reads as unset (in a BIDI_STREAM deployment only for the inactivity timeout, which
    a REQUEST_RESPONSE one notes as configured)."""
    defaults = {
        "abort_timeout_ms": DEFAULT_ABORT_TIMEOUT_MS,
        "journal_retention_ms": DEFAULT_JOURNAL_RETENTION_MS,
        "idempotency_retention_ms": DEFAULT_IDEMPOTENCY_RETENTION_MS,
        "enable_lazy_state": DEFAULT_ENABLE_LAZY_STATE,
    }
    if revision.type is ServiceType.WORKFLOW:
        defaults["workflow_completion_retention_ms"] = DEFAULT_WORKFLOW_COMPLETION_RETENTION_MS
    if mode is ProtocolMode.BIDI_STREAM:
        defaults["inactivity_timeout_ms"] = DEFAULT_INACTIVITY_TIMEOUT_MS
    unset: dict[str, Any] = {
        field: None for field, value in defaults.items() if getattr(revision, field) == value
    }
    policy = revision.retry_policy
    retry: dict[str, Any] = {
        field.name: None
        for field in attrs.fields(RetryPolicy)
        if getattr(policy, field.name) == getattr(DEFAULT_RETRY_POLICY, field.name)
    }
    return attrs.evolve(revision, **unset, retry_policy=attrs.evolve(policy, **retry))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=decorated_manifests(), second=decorated_manifests())
def test_any_manifests_revisions_load_back_from_what_the_views_show(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    registry = Registry(clock=ManualClock(), ids=SequentialIds())
    registry.register(V1, first)
    registry.register(V2, second, breaking=True)
    loaded = served(registry).source().load()
    for deployment in registry.deployments():
        for name, revision in loaded.deployment(deployment.id).services.items():
            assert revision == as_read_back(deployment.services[name], deployment.protocol_mode)
    assert admin_services(loaded) == admin_services(registry)
