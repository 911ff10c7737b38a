"""Registering endpoints (docs/rules.md, "Registering"), their identity (docs/rules.md,
"Deployments and their identity") and what a removal does to revisions (docs/rules.md,
"Removing").

Each test's name states the rule; where the rule was seen on restate-server 1.7.12, the docstring
says what the server answered.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from restate_versioning import (
    DeploymentStatus,
    DeploymentUpdateRefused,
    EndpointManifest,
    InvalidEndpoint,
    InvalidInvocation,
    InvalidManifest,
    InvalidServiceOptions,
    ManualClock,
    Outcome,
    Registry,
    RevisionChange,
    SequentialIds,
    ServiceNotFound,
    ServiceType,
    ServiceTypeChanged,
    VersioningError,
)
from restate_versioning.manifest import Discovery
from restate_versioning.rules.invocations import is_public
from restate_versioning.storage import MemoryStorage, StoredRegistry

from .helpers import SDK_MANIFEST, V1, V2, V3, handler, manifest, service


def revisions(registry: Registry) -> dict[str, int]:
    return {s.name: s.revision for s in registry.services()}


def test_a_new_endpoint_creates_a_deployment_and_new_services_start_at_revision_1(
    registry: Registry,
) -> None:
    """A new endpoint creates a deployment (201); unknown services get revision 1."""
    result = registry.register(V1, SDK_MANIFEST)
    assert result.outcome is Outcome.CREATED
    assert result.dry_run is False
    assert revisions(registry) == {"Greeter": 1, "Signup": 1, "TicketObject": 1}
    assert result.changes == (
        RevisionChange("Greeter", None, 1),
        RevisionChange("TicketObject", None, 1),
        RevisionChange("Signup", None, 1),
    )
    assert registry.deployment(result.deployment.id) == result.deployment
    assert result.deployment.endpoint == V1
    assert (result.deployment.min_protocol_version, result.deployment.max_protocol_version) == (
        5,
        7,
    )


def test_every_service_of_a_new_deployment_gets_latest_plus_one(registry: Registry) -> None:
    """Registering a new deployment bumps the revision of every service it contains."""
    registry.register(V1, manifest(service("A"), service("B")))
    registry.register(V2, manifest(service("B"), service("C")))
    third = registry.register(V3, manifest(service("A"), service("B")))
    assert revisions(registry) == {"A": 2, "B": 3, "C": 1}
    assert third.changes == (RevisionChange("A", 1, 2), RevisionChange("B", 2, 3))
    assert registry.service("B").deployment_id == third.deployment.id


def test_older_revisions_stay_in_their_deployments(registry: Registry) -> None:
    first = registry.register(V1, SDK_MANIFEST)
    registry.register(V2, SDK_MANIFEST)
    assert first.deployment.services["Greeter"].revision == 1
    assert [r.revision for r in registry.service_revisions("Greeter")] == [1, 2]


def test_a_known_endpoint_without_force_is_unchanged_even_if_it_now_serves_other_services(
    registry: Registry,
) -> None:
    """Seen on the server: same URI without force -> 200 and the stored deployment, and no
    discovery at all, even though the endpoint's manifest had changed."""
    first = registry.register(V1, manifest(service("YSvc", handlers=[handler("a")])))
    before = registry.snapshot()
    again = registry.register(V1, manifest(service("YSvc", handlers=[handler("a"), handler("b")])))
    assert again.outcome is Outcome.UNCHANGED
    assert again.deployment == first.deployment
    assert again.changes == ()
    assert registry.snapshot() == before


def test_an_unchanged_registration_does_not_look_at_the_manifest(registry: Registry) -> None:
    """No discovery happens for a known endpoint, so not even a broken manifest is read."""
    registry.register(V1, SDK_MANIFEST)
    assert registry.register(V1, "{not json").outcome is Outcome.UNCHANGED


@pytest.mark.parametrize(
    "spelling",
    [
        "http://127.0.0.1:9081/",
        "https://127.0.0.1:9081",
        "http://127.0.0.1:9081/?x=1",
        "HTTP://127.0.0.1:9081",
    ],
)
def test_spellings_of_one_endpoint_are_one_deployment(registry: Registry, spelling: str) -> None:
    """Authority and path decide; scheme, query and a trailing slash on the root do not."""
    registry.register(V1, SDK_MANIFEST)
    assert registry.register(spelling, SDK_MANIFEST).outcome is Outcome.UNCHANGED


def test_host_names_compare_case_insensitively(registry: Registry) -> None:
    registry.register("http://MyHost:9081/svc", SDK_MANIFEST)
    assert registry.register("http://myhost:9081/svc", SDK_MANIFEST).outcome is Outcome.UNCHANGED


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("http://localhost:9081", "http://127.0.0.1:9081"),
        ("http://127.0.0.1:9090/ysame", "http://127.0.0.1:9090/ysame/"),
        ("http://127.0.0.1:9081", "http://127.0.0.1:9082"),
        ("http://h:80", "http://h"),
    ],
)
def test_different_authorities_or_paths_are_different_deployments(
    registry: Registry, first: str, second: str
) -> None:
    """Nothing is resolved: localhost and 127.0.0.1 are two. Seen on the server: ``/ysame`` and
    ``/ysame/`` registered as two deployments (201 both times)."""
    registry.register(first, SDK_MANIFEST)
    assert registry.register(second, SDK_MANIFEST).outcome is Outcome.CREATED


def test_a_relative_uri_is_refused_with_the_servers_message(registry: Registry) -> None:
    with pytest.raises(InvalidEndpoint) as caught:
        registry.register("127.0.0.1:9102", SDK_MANIFEST)
    assert "The provided uri 127.0.0.1:9102 is not absolute, only absolute URIs can be used." in (
        str(caught.value)
    )
    assert registry.deployments() == ()


def test_force_overwrites_in_place_keeping_the_id_and_resetting_created_at(
    registry: Registry, versioning_clock: ManualClock
) -> None:
    """Seen on the server: force on a known URI answers 200 with the same id, every service
    bumped, and created_at reset to the time of the force."""
    first = registry.register(V1, SDK_MANIFEST)
    versioning_clock.advance(timedelta(minutes=5))
    forced = registry.register(V1, SDK_MANIFEST, force=True)
    assert forced.outcome is Outcome.OVERWRITTEN
    assert forced.deployment.id == first.deployment.id
    assert forced.deployment.created_at == first.deployment.created_at + timedelta(minutes=5)
    assert revisions(registry) == {"Greeter": 2, "Signup": 2, "TicketObject": 2}
    assert len(registry.deployments()) == 1


def test_force_makes_a_draining_deployment_the_latest_again(registry: Registry) -> None:
    old = registry.register(V1, SDK_MANIFEST).deployment
    registry.invoke("Greeter", "greet")
    registry.register(V2, SDK_MANIFEST)
    assert registry.deployment_status(old.id) is DeploymentStatus.DRAINING
    registry.register(V1, SDK_MANIFEST, force=True)
    assert registry.service("Greeter").deployment_id == old.id
    assert registry.service("Greeter").revision == 3
    assert registry.deployment_status(old.id) is DeploymentStatus.ACTIVE


def test_force_drops_services_missing_from_the_new_manifest(registry: Registry) -> None:
    """A dropped service falls back to its highest revision elsewhere, or vanishes."""
    registry.register(V1, manifest(service("Kept"), service("Elsewhere")))
    registry.register(V2, manifest(service("Elsewhere")))
    registry.register(V3, manifest(service("Gone"), service("Moved")))
    registry.register(V2, manifest(service("Moved")), force=False)  # unchanged
    result = registry.register(V3, manifest(service("Kept")), force=True)
    assert revisions(registry) == {"Elsewhere": 2, "Kept": 2}
    assert RevisionChange("Gone", 1, None) in result.changes
    assert RevisionChange("Moved", 1, None) in result.changes
    with pytest.raises(ServiceNotFound):
        registry.service("Gone")
    assert set(registry.deployment(result.deployment.id).services) == {"Kept"}


def test_a_forced_drop_falls_back_to_the_highest_remaining_revision(registry: Registry) -> None:
    registry.register(V1, manifest(service("A")))
    registry.register(V2, manifest(service("A")))
    third = registry.register(V3, manifest(service("A"), service("B")))
    result = registry.register(V3, manifest(service("B")), force=True)
    assert registry.service("A").revision == 2
    assert registry.service("A").deployment_id != third.deployment.id
    assert RevisionChange("A", 3, 2) in result.changes


def test_the_service_type_cannot_change_without_breaking(registry: Registry) -> None:
    """Seen on the server: 409 META0006, also with dry_run."""
    registry.register(V1, manifest(service("Greeter")))
    before = registry.snapshot()
    for dry_run in (False, True):
        with pytest.raises(ServiceTypeChanged) as caught:
            registry.register(V2, manifest(service("Greeter", "VIRTUAL_OBJECT")), dry_run=dry_run)
        error = caught.value
        assert error.code == "META0006"
        assert (error.service, error.old_type, error.new_type) == (
            "Greeter",
            ServiceType.SERVICE,
            ServiceType.VIRTUAL_OBJECT,
        )
        assert str(error) == (
            "[META0006] detected a new service revision for 'Greeter' changing the service type "
            "from previous revision. Service type cannot be changed across revisions."
        )
    assert registry.snapshot() == before


def test_breaking_allows_a_service_type_change(registry: Registry) -> None:
    registry.register(V1, manifest(service("Greeter")))
    registry.register(V2, manifest(service("Greeter", "VIRTUAL_OBJECT")), breaking=True)
    assert registry.service("Greeter").type is ServiceType.VIRTUAL_OBJECT
    assert registry.service("Greeter").revision == 2


def test_force_implies_breaking(registry: Registry) -> None:
    registry.register(V1, manifest(service("Greeter")))
    registry.register(V1, manifest(service("Greeter", "WORKFLOW")), force=True)
    assert registry.service("Greeter").type is ServiceType.WORKFLOW


def test_added_removed_and_retyped_handlers_are_accepted_without_complaint(
    registry: Registry,
) -> None:
    registry.register(
        V1,
        manifest(service("Obj", "VIRTUAL_OBJECT", [handler("a", "EXCLUSIVE"), handler("b")])),
    )
    registry.register(
        V2, manifest(service("Obj", "VIRTUAL_OBJECT", [handler("a", "SHARED"), handler("c")]))
    )
    assert set(registry.service("Obj").handlers) == {"a", "c"}


def test_dry_run_returns_the_would_be_result_and_stores_nothing(registry: Registry) -> None:
    """Seen on the server: a dry run of a new URI answers 201 with an id that is never stored."""
    registry.register(V1, SDK_MANIFEST)
    before = registry.snapshot()
    would = registry.register(V2, SDK_MANIFEST, dry_run=True)
    assert would.outcome is Outcome.CREATED
    assert would.dry_run is True
    assert would.deployment.services["Greeter"].revision == 2
    assert registry.snapshot() == before
    forced = registry.register(V1, SDK_MANIFEST, force=True, dry_run=True)
    assert forced.outcome is Outcome.OVERWRITTEN
    assert registry.snapshot() == before


def test_a_new_revision_is_public_again_even_if_the_previous_one_was_made_private(
    registry: Registry,
) -> None:
    """Seen on the server: PATCH public=false, then a new deployment or a force re-register:
    the service is public again."""
    first = registry.register(V1, SDK_MANIFEST).deployment
    registry.set_public("Greeter", False)
    registry.register(V1, SDK_MANIFEST, force=True)
    assert registry.service("Greeter").public is True
    registry.set_public("Greeter", False)
    registry.register(V2, SDK_MANIFEST)
    assert registry.service("Greeter").public is True
    assert first.services["Greeter"].public is True


def test_ingress_private_in_the_manifest_keeps_a_new_revision_private(registry: Registry) -> None:
    registry.register(V1, manifest(service("Greeter", ingressPrivate=True)))
    greeter = registry.service("Greeter")
    assert greeter.public is False
    assert greeter.handlers["greet"].public is None  # it follows its service
    assert not is_public(greeter, greeter.handlers["greet"])


def test_making_a_manifest_private_service_public_opens_its_handlers(registry: Registry) -> None:
    """The server resolves a handler's visibility as ``handler.public.unwrap_or(service
    .public)``, and PATCH /services changes the service's flag only."""
    registry.register(V1, manifest(service("Greeter", ingressPrivate=True)))
    registry.set_public("Greeter", True)
    assert registry.invoke("Greeter", "greet").status.value == "running"


def test_set_public_changes_the_latest_revision_only(registry: Registry) -> None:
    old = registry.register(V1, SDK_MANIFEST).deployment
    registry.register(V2, SDK_MANIFEST)
    updated = registry.set_public("Greeter", False)
    assert updated.public is False
    assert updated.revision == 2
    assert registry.deployment(old.id).services["Greeter"].public is True


def test_set_public_of_an_unknown_service_raises_and_changes_nothing(registry: Registry) -> None:
    registry.register(V1, SDK_MANIFEST)
    before = registry.snapshot()
    with pytest.raises(ServiceNotFound, match="'Nope'"):
        registry.set_public("Nope", False)
    assert registry.snapshot() == before


def test_set_options_changes_the_latest_revision_only_and_a_new_revision_resets_them(
    registry: Registry,
) -> None:
    """Seen on the server: PATCH /services/Greeter with retentions and timeouts changes what
    GET shows; the next registration shows the manifest's (the defaults) again."""
    old = registry.register(V1, SDK_MANIFEST).deployment
    updated = registry.set_options(
        "Greeter", idempotency_retention_ms=3_600_000, abort_timeout_ms=240_000
    )
    assert (updated.idempotency_retention_ms, updated.abort_timeout_ms) == (3_600_000, 240_000)
    assert updated.journal_retention_ms is None  # left as it was
    assert registry.service("Greeter") == updated
    assert registry.deployment(old.id).services["Greeter"] == updated
    again = registry.register(V2, SDK_MANIFEST).deployment.services["Greeter"]
    assert (again.idempotency_retention_ms, again.abort_timeout_ms) == (None, None)


def test_set_options_with_no_option_changes_nothing(registry: Registry) -> None:
    registry.register(V1, SDK_MANIFEST)
    changes = registry.changes
    assert registry.set_options("Greeter") == registry.service("Greeter")
    assert registry.changes == changes


def test_a_workflow_completion_retention_is_refused_for_a_service_that_is_not_a_workflow(
    registry: Registry,
) -> None:
    registry.register(V1, SDK_MANIFEST)
    before = registry.snapshot()
    with pytest.raises(
        InvalidServiceOptions,
        match="modifying retention time for service type Service is unsupported",
    ):
        registry.set_options("Greeter", workflow_completion_retention_ms=1000)
    with pytest.raises(InvalidServiceOptions, match="-5"):
        registry.set_options("Greeter", journal_retention_ms=-5)
    assert registry.snapshot() == before
    signup = registry.set_options("Signup", workflow_completion_retention_ms=1000)
    assert signup.workflow_completion_retention_ms == 1000


def test_a_deployment_moved_to_another_address_keeps_its_id_revisions_and_pins(
    registry: Registry,
) -> None:
    """Seen on the server: PATCH /deployments/{id} with the uri of an endpoint serving the
    same code answers 200; the id, created_at and revisions stay, the uri changes, and a
    call pinned to it stays pinned."""
    old = registry.register(V1, SDK_MANIFEST).deployment
    call = registry.invoke("Greeter", "greet")
    dry = registry.update_deployment(old.id, V3, SDK_MANIFEST, dry_run=True)
    assert dry.endpoint == V3
    assert registry.deployment(old.id) == old
    moved = registry.update_deployment(old.id, V3, SDK_MANIFEST, sdk_version="sdk/2")
    assert (moved.id, moved.created_at, moved.services) == (old.id, old.created_at, old.services)
    assert (moved.endpoint, moved.sdk_version) == (V3, "sdk/2")
    assert registry.find_deployment(V3) == moved
    assert registry.find_deployment(V1) is None
    assert registry.invocation(call.id).pinned_deployment_id == old.id
    assert registry.verify() == ()


def test_a_move_to_an_endpoint_of_other_protocol_versions_is_refused_as_the_server_refuses(
    registry: Registry,
) -> None:
    """Seen on the server: 400 META0016 "... from 5..=6 to 5..=7"."""
    old = registry.register(V1, SDK_MANIFEST).deployment
    before = registry.snapshot()
    other = {**SDK_MANIFEST, "maxProtocolVersion": SDK_MANIFEST["maxProtocolVersion"] + 1}
    with pytest.raises(DeploymentUpdateRefused, match=r"\[META0016\].*protocol versions from"):
        registry.update_deployment(old.id, V3, other)
    assert registry.snapshot() == before


def test_a_move_to_an_endpoint_serving_other_code_is_refused_where_the_server_takes_it(
    registry: Registry,
) -> None:
    """The server takes it (200) and keeps showing the services the deployment had, so what
    it shows is no longer what runs; the model refuses, as it does a move onto another
    deployment's address (the server keeps two deployments at one)."""
    old = registry.register(V1, SDK_MANIFEST).deployment
    registry.register(V2, manifest(service("Other")))
    before = registry.snapshot()
    with pytest.raises(DeploymentUpdateRefused, match="The endpoint serves Other"):
        registry.update_deployment(old.id, V3, manifest(service("Other")))
    with pytest.raises(DeploymentUpdateRefused, match="is the address of deployment"):
        registry.update_deployment(old.id, V2, SDK_MANIFEST)
    assert registry.snapshot() == before


def test_a_store_replays_a_move(tmp_path: Any) -> None:
    from restate_versioning.storage import SQLiteStorage

    stored = StoredRegistry(SQLiteStorage(tmp_path / "r.db"))
    old = stored.register(V1, SDK_MANIFEST).deployment
    stored.update_deployment(old.id, V3, SDK_MANIFEST)
    reopened = StoredRegistry(SQLiteStorage(tmp_path / "r.db"))
    assert reopened.registry.deployment(old.id).endpoint == V3


def test_removing_the_latest_falls_back_and_revision_numbers_are_reused(
    registry: Registry,
) -> None:
    """Seen on the server: after force-deleting the deployment of rev 7, rev 6 was latest again,
    and the next registration got rev 7 again."""
    registry.register(V1, SDK_MANIFEST)
    second = registry.register(V2, SDK_MANIFEST).deployment
    registry.remove(second.id, force=True)
    assert revisions(registry) == {"Greeter": 1, "Signup": 1, "TicketObject": 1}
    again = registry.register(V3, SDK_MANIFEST)
    assert again.deployment.services["Greeter"].revision == 2
    assert registry.was_removed(second.id)


def test_a_service_whose_only_deployment_is_removed_vanishes(registry: Registry) -> None:
    """Seen on the server: 404 afterwards; re-registering the same URI gives a new id and
    revision 1."""
    only = registry.register(V1, SDK_MANIFEST).deployment
    registry.remove(only.id, force=True)
    assert registry.services() == ()
    with pytest.raises(ServiceNotFound):
        registry.invoke("Greeter", "greet")
    again = registry.register(V1, SDK_MANIFEST)
    assert again.outcome is Outcome.CREATED
    assert again.deployment.id != only.id
    assert registry.service("Greeter").revision == 1


def test_a_manifest_naming_a_service_twice_is_served_by_the_last_definition(
    registry: Registry,
) -> None:
    """Seen on the server: duplicate service names are accepted, the last one wins."""
    result = registry.register(
        V1,
        manifest(
            service("DupSvc", handlers=[handler("a")]), service("DupSvc", handlers=[handler("b")])
        ),
    )
    assert set(registry.service("DupSvc").handlers) == {"b"}
    assert result.changes == (RevisionChange("DupSvc", None, 1),)


def test_an_invalid_manifest_reports_every_problem_and_registers_nothing(
    registry: Registry,
) -> None:
    registry.register(V1, SDK_MANIFEST)
    before = registry.snapshot()
    bad = manifest(service("restateFoo"), service("Obj", "SERVICE", [handler("x", "EXCLUSIVE")]))
    bad["minProtocolVersion"] = 1
    bad["maxProtocolVersion"] = 2
    with pytest.raises(InvalidManifest) as caught:
        registry.register(V2, bad)
    codes = [p.code for p in caught.value.problems]
    assert codes == ["META0012", "META0005", None]
    assert caught.value.code == "META0012"
    assert registry.snapshot() == before


def test_an_endpoint_manifest_value_registers_like_its_json(registry: Registry) -> None:
    value = EndpointManifest.from_json(SDK_MANIFEST)
    other = Registry(clock=ManualClock(), ids=SequentialIds())
    registry.register(V1, value)
    other.register(V1, SDK_MANIFEST)
    assert registry.snapshot() == other.snapshot()


def test_a_naive_clock_is_refused() -> None:
    broken = Registry(clock=lambda: datetime(2026, 1, 1))
    with pytest.raises(VersioningError, match="aware datetime"):
        broken.register(V1, SDK_MANIFEST)
    assert broken.deployments() == ()


@pytest.mark.parametrize("argument", ["http_version", "sdk_version"])
def test_discovery_details_must_be_text(registry: Registry, argument: str) -> None:
    with pytest.raises(InvalidInvocation, match="must be a str, got 2"):
        registry.register(V1, SDK_MANIFEST, **{argument: 2})  # type: ignore[arg-type]
    assert registry.deployments() == ()


def test_register_takes_what_a_transport_discovers_with_its_http_and_sdk_version(
    registry: Registry,
) -> None:
    """``register(url, transport.discover(url))`` registers the discovered manifest and records
    the HTTP version and SDK version discovery saw (unless they are given)."""
    discovery = Discovery(
        EndpointManifest.from_json(SDK_MANIFEST), "HTTP/1.1", "restate-sdk-python/1.3.0"
    )
    deployment = registry.register(V1, discovery).deployment
    assert (deployment.http_version, deployment.sdk_version) == (
        "HTTP/1.1",
        "restate-sdk-python/1.3.0",
    )
    assert deployment.manifest == discovery.manifest
    given = registry.register(V2, discovery, http_version="HTTP/2.0").deployment
    assert given.http_version == "HTTP/2.0"


def test_a_stored_registry_takes_what_a_transport_discovers_too() -> None:
    """The journaled ``register`` takes a :class:`Discovery` as the registry does, and a reopened
    store holds the same deployment."""
    storage = MemoryStorage()
    discovery = Discovery(EndpointManifest.from_json(SDK_MANIFEST), "HTTP/2.0", "sdk/1")
    deployment = StoredRegistry(storage, ids=SequentialIds()).register(V1, discovery).deployment
    assert (deployment.http_version, deployment.sdk_version) == ("HTTP/2.0", "sdk/1")
    assert StoredRegistry(storage).registry.deployments() == (deployment,)


@pytest.mark.parametrize("manifest", [42, None, ["services"], object()])
def test_register_refuses_what_it_cannot_take_saying_what_it_takes(
    manifest: Any, registry: Registry
) -> None:
    """Anything that is not a discovery answer is an :class:`InvalidManifest` that names what
    ``register`` takes and quotes what it got, and nothing changes."""
    before = registry.snapshot()
    with pytest.raises(InvalidManifest, match="register takes what discovery answered") as raised:
        registry.register(V1, manifest)
    assert "Discovery" in raised.value.message
    assert registry.snapshot() == before
