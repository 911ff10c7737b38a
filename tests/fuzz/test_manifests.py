"""Manifests: ``EndpointManifest.from_json`` and ``Registry.register`` on generated manifests
and on mutations of the real ones in ``tests/data``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from restate_versioning import ManualClock, Registry, SequentialIds, VersioningError
from restate_versioning.manifest import EndpointManifest
from restate_versioning.testing.strategies import invalid_manifests, manifests

from ..helpers import DATA, SDK_MANIFEST
from . import _mutations, _tally

pytestmark = pytest.mark.fuzz

SURFACE = "manifests"
_CASES = json.loads((DATA / "restate-1.7.12-manifest-cases.json").read_text())["cases"]
#: The seed corpus: the SDK's manifest and every manifest the real server was shown.
SEEDS: list[Any] = [SDK_MANIFEST] + [
    case["manifest"] for case in _CASES if isinstance(case.get("manifest"), dict)
]


def _documents() -> st.SearchStrategy[Any]:
    seeded = st.sampled_from(SEEDS).flatmap(_mutations.either)
    generated = manifests() | invalid_manifests().map(lambda pair: pair[0])
    return st.one_of(seeded, seeded, generated, generated.flatmap(_mutations.either))


def _registry() -> Registry:
    registry = Registry(clock=ManualClock(), ids=SequentialIds())
    registry.register("http://127.0.0.1:9081", SDK_MANIFEST)
    return registry


@given(document=_documents(), force=st.booleans(), breaking=st.booleans())
@_tally.settings_for(SURFACE)
def _one_manifest(document: Any, force: bool, breaking: bool) -> None:
    read = _tally.attempt(
        SURFACE, document, lambda: EndpointManifest.from_json(document), (VersioningError,)
    )
    registry = _registry()
    endpoint = "http://127.0.0.1:9081" if force else "http://127.0.0.1:9082"
    given_as = read if read is not None else document
    _tally.attempt(
        SURFACE,
        given_as,
        lambda: registry.register(endpoint, given_as, force=force, breaking=breaking),
        (VersioningError,),
        state=registry.snapshot,
    )


def test_a_hostile_manifest_is_read_or_refused_and_a_refused_registration_changes_nothing() -> None:
    """A manifest, as text, bytes or Python values (generated, or a mutated real one), is read
    or refused with the library's error within the time bound; registering it (read, or as
    given) either succeeds or is refused with the registry exactly as it was."""
    _one_manifest()
    _tally.check(SURFACE)
