"""Ids: ``parse_deployment_id``, ``parse_invocation_id`` and the registry's lookups by id, on
mutated real ids, generated text and values that are no string."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from restate_versioning import ManualClock, Registry, SequentialIds, VersioningError
from restate_versioning.errors import InvalidId
from restate_versioning.ids import parse_deployment_id, parse_invocation_id

from ..helpers import SDK_MANIFEST
from . import _mutations, _tally

pytestmark = pytest.mark.fuzz

SURFACE = "ids"


def _registry() -> tuple[Registry, list[str]]:
    registry = Registry(clock=ManualClock(), ids=SequentialIds())
    deployment = registry.register("http://127.0.0.1:9081", SDK_MANIFEST).deployment.id
    call = registry.invoke("TicketObject", "reserve", key="k").id
    return registry, [deployment, call]


_, REAL_IDS = _registry()


@st.composite
def _mutated_id(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(REAL_IDS))
    at = draw(st.integers(0, len(text)))
    operation = draw(st.sampled_from(["cut", "replace", "insert", "prefix", "case"]))
    if operation == "cut":
        return text[:at]
    if operation == "replace":
        return text[:at] + draw(st.characters()) + text[at + 1 :]
    if operation == "insert":
        return text[:at] + draw(st.text(max_size=3)) + text[at:]
    if operation == "prefix":
        return draw(st.sampled_from(["dp_", "inv_", "DP_", "", "dp", "inv_dp_"])) + text[3:]
    return text.swapcase()


_INPUTS: st.SearchStrategy[Any] = st.one_of(
    _mutated_id(),
    _mutated_id(),
    st.text(max_size=40),
    st.sampled_from(["dp_" + "z" * 100_000, "inv_" + "1" * 100_000, "dp_" + "\U0001d7d9" * 23]),
    st.none() | st.integers() | st.binary(max_size=8) | _mutations.hostile_values,
)
_LOOKUPS = ["deployment", "removal_plan", "remove", "promote", "invocation", "kill", "resume"]


@given(value=_INPUTS, lookup=st.sampled_from(_LOOKUPS))
@_tally.settings_for(SURFACE)
def _one_id(value: Any, lookup: str) -> None:
    _tally.attempt(SURFACE, value, lambda: parse_deployment_id(value), (InvalidId,))
    _tally.attempt(SURFACE, value, lambda: parse_invocation_id(value), (InvalidId,))
    registry, _ = _registry()
    _tally.attempt(
        SURFACE,
        (lookup, value),
        lambda: getattr(registry, lookup)(value),
        (VersioningError,),
        state=registry.snapshot,
    )


def test_a_hostile_id_is_parsed_or_refused_and_a_refused_lookup_changes_nothing() -> None:
    """Any value given as an id is parsed or refused with ``InvalidId``, and any registry
    command or query by id succeeds or is refused with the library's error, the registry as it
    was, within the time bound."""
    _one_id()
    _tally.check(SURFACE)
