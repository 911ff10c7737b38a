"""Discovery against the real Restate Python SDK (restate-sdk 1.3.0 under hypercorn).

(docs/rules.md, "Discovery"): the SDK answers the manifest of
``tests/data/python-sdk-1.3.0-v4.json`` with the v4 content type and
``x-restate-server: restate-sdk-python/1.3.0``; plain http speaks h2c unless HTTP/1.1 is asked
for. Registering it goes through discovery once (docs/rules.md, "Registering").
"""

from __future__ import annotations

from typing import Any, Literal

import pytest

from restate_versioning import EndpointManifest, Outcome, ProtocolMode, Registry
from restate_versioning.transport import Discovery, HttpTransport, register_endpoint

from .helpers import SDK_MANIFEST

pytest.importorskip("httpx")

pytestmark = pytest.mark.integration  # real SDK endpoints

MODES = {"bidi": ProtocolMode.BIDI_STREAM, "request_response": ProtocolMode.REQUEST_RESPONSE}


def handlers(manifest: EndpointManifest | dict[str, Any]) -> dict[str, list[str]]:
    if isinstance(manifest, dict):
        manifest = EndpointManifest.from_json(manifest)
    return {s.name: [h.name for h in s.handlers] for s in manifest.services}


@pytest.fixture(params=["bidi", "request_response"])
def sdk(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(mode, URL) of a real SDK endpoint in each protocol mode."""
    mode: str = request.param
    return mode, request.getfixturevalue(f"sdk_{mode}_url")


@pytest.mark.parametrize(("version", "printed"), [("2", "HTTP/2.0"), ("1.1", "HTTP/1.1")])
def test_the_sdk_answers_its_manifest_in_both_modes_over_both_http_versions(
    sdk: tuple[str, str], version: Literal["2", "1.1"], printed: str
) -> None:
    mode, url = sdk
    discovery = HttpTransport(http_version=version).discover(url)
    assert handlers(discovery.manifest) == handlers(SDK_MANIFEST)
    assert discovery.manifest.protocol_mode is MODES[mode]
    assert discovery.http_version == printed
    assert discovery.sdk_version is not None
    assert discovery.sdk_version.startswith("restate-sdk-python/")


def test_the_request_response_manifest_is_the_recorded_one(sdk_request_response_url: str) -> None:
    discovery = HttpTransport(http_version="1.1").discover(sdk_request_response_url)
    assert discovery.manifest == EndpointManifest.from_json(SDK_MANIFEST)


def test_a_bidi_endpoint_is_discovered_over_h2c(sdk_bidi_url: str) -> None:
    discovery = HttpTransport().discover(sdk_bidi_url)
    assert discovery.http_version == "HTTP/2.0"
    assert discovery.manifest.protocol_mode is ProtocolMode.BIDI_STREAM


class CountingTransport:
    """An HttpTransport that counts its discoveries."""

    def __init__(self, **options: Any) -> None:
        self.inner = HttpTransport(**options)
        self.calls = 0

    def discover(self, endpoint: str) -> Discovery:
        self.calls += 1
        return self.inner.discover(endpoint)


def test_registering_the_sdk_discovers_it_once(sdk: tuple[str, str], registry: Registry) -> None:
    mode, url = sdk
    transport = CountingTransport(http_version="2" if mode == "bidi" else "1.1")
    created = register_endpoint(registry, url, transport)
    assert created.outcome is Outcome.CREATED
    deployment = created.deployment
    assert sorted(deployment.services) == ["Greeter", "Signup", "TicketObject"]
    assert deployment.protocol_mode is MODES[mode]
    assert deployment.http_version == ("HTTP/2.0" if mode == "bidi" else "HTTP/1.1")
    assert deployment.sdk_version is not None
    assert deployment.sdk_version.startswith("restate-sdk-python/")
    again = register_endpoint(registry, url + "/", transport)
    assert again.outcome is Outcome.UNCHANGED
    assert again.deployment == deployment
    assert transport.calls == 1
