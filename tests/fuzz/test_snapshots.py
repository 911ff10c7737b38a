"""Snapshots: ``serialization.loads`` on mutations of a real snapshot, as values and as text."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from restate_versioning import InvalidSnapshot, ManualClock, Registry, SequentialIds, serialization

from ..helpers import SDK_MANIFEST
from . import _mutations, _tally

pytestmark = pytest.mark.fuzz

SURFACE = "snapshots"


def _seed() -> Any:
    registry = Registry(clock=ManualClock(), ids=SequentialIds())
    registry.register("http://127.0.0.1:9081", SDK_MANIFEST)
    running = registry.invoke("TicketObject", "reserve", key="k")
    registry.invoke("TicketObject", "reserve", key="k")  # waits on the key
    done = registry.invoke("Greeter", "greet")
    registry.complete(done.id)
    registry.register("http://127.0.0.1:9082", SDK_MANIFEST)
    registry.suspend(running.id)
    registry.set_public("Greeter", False)
    return json.loads(serialization.dumps(registry))


SEED = _seed()


def _text(document: Any) -> str | bytes:
    if isinstance(document, bytes):
        return document
    try:
        return json.dumps(document, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        return repr(document)


@given(document=_mutations.either(SEED, hostile=False), as_bytes=st.booleans())
@_tally.settings_for(SURFACE)
def _one_snapshot(document: Any, as_bytes: bool) -> None:
    text = _text(document)
    if as_bytes and isinstance(text, str):
        text = text.encode("utf-8", "surrogatepass")
    _tally.attempt(SURFACE, text, lambda: serialization.loads(text), (InvalidSnapshot,))


def test_a_hostile_snapshot_loads_or_is_refused_with_invalid_snapshot() -> None:
    """A mutated snapshot (text or bytes) loads, or is refused with ``InvalidSnapshot`` and
    builds nothing, within the time bound."""
    _one_snapshot()
    _tally.check(SURFACE)
