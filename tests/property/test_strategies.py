"""The shipped strategies produce what they promise."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings

from restate_versioning import (
    EndpointManifest,
    InvalidManifest,
    ManualClock,
    Registry,
    parse_endpoint,
)
from restate_versioning.rules.manifest import HANDLER_NAME, SERVICE_NAME
from restate_versioning.testing.strategies import (
    REASONS,
    Step,
    apply,
    endpoints,
    handler_names,
    invalid_manifests,
    manifests,
    service_names,
    steps,
)

from ..helpers import SDK_MANIFEST, V1


@given(service_names(), handler_names())
def test_names_match_the_servers_patterns(service: str, handler: str) -> None:
    assert SERVICE_NAME.fullmatch(service)
    assert HANDLER_NAME.fullmatch(handler)


@given(manifests(), endpoints())
def test_generated_manifests_register(document: dict[str, Any], endpoint: str) -> None:
    if endpoint.startswith("arn:"):
        document["protocolMode"] = "REQUEST_RESPONSE"
    registration = Registry().register(endpoint, document)
    assert registration.outcome.value == "CREATED"
    assert parse_endpoint(endpoint).text == endpoint


@given(invalid_manifests())
def test_invalid_manifests_are_refused_for_their_reason(case: tuple[dict[str, Any], str]) -> None:
    document, reason = case
    with pytest.raises(InvalidManifest) as caught:
        Registry().register("http://127.0.0.1:9081", EndpointManifest.from_json(document))
    assert caught.value.code == REASONS[reason]


@settings(max_examples=50)
@given(steps())
def test_command_sequences_run_and_refusals_change_nothing(sequence: list[Step]) -> None:
    registry = Registry()
    for step in sequence:
        before = registry.snapshot()
        changes = registry.changes
        if apply(registry, step) is None and registry.changes == changes:
            assert registry.snapshot() == before, str(step)
    assert registry.verify() == ()


def test_the_pytest_plugin_gives_a_deterministic_registry(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_uses_the_fixture(registry, versioning_clock):
            deployment = registry.register(
                "http://127.0.0.1:9081",
                {"protocolMode": "REQUEST_RESPONSE", "minProtocolVersion": 5,
                 "maxProtocolVersion": 7,
                 "services": [{"name": "S", "ty": "SERVICE", "handlers": [{"name": "h"}]}]},
            ).deployment
            assert deployment.id == "dp_101SZwviYzes2mjOn86AK9r"
            assert deployment.created_at == versioning_clock()
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_this_suite_takes_its_registry_from_the_plugin_loaded_once_by_its_entry_point(
    pytestconfig: pytest.Config, registry: Registry, versioning_clock: ManualClock
) -> None:
    """The suite uses the plugin as a user's project does: pytest loads it once, by the
    ``pytest11`` entry point, and no fixture of the suite's own stands in for its ``registry``."""
    from restate_versioning.testing import plugin

    names = [
        name for name, loaded in pytestconfig.pluginmanager.list_name_plugin() if loaded is plugin
    ]
    assert names == ["restate_versioning"]
    deployment = registry.register(V1, SDK_MANIFEST).deployment
    assert deployment.id == "dp_101SZwviYzes2mjOn86AK9r"
    assert deployment.created_at == versioning_clock()
