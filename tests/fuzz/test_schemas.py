"""Schemas: ``schema_problem``, ``backward`` and ``forward`` on generated state schemas, their
mutations, and values that are no schema."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from restate_versioning import VersioningError
from restate_versioning.schemas import backward, forward, schema_problem
from restate_versioning.testing.strategies import schema_pairs, state_schemas

from . import _mutations, _tally

pytestmark = pytest.mark.fuzz

SURFACE = "schemas"

_SCHEMAS: st.SearchStrategy[Any] = st.one_of(
    state_schemas(),
    state_schemas().flatmap(lambda s: _mutations.mutated_values(s, hostile=True)),
    _mutations.json_values,
    _mutations.hostile_values,
)


@given(
    pair=st.one_of(schema_pairs(), st.tuples(_SCHEMAS, _SCHEMAS)),
    direction=st.sampled_from([backward, forward]),
)
@_tally.settings_for(SURFACE)
def _one_pair(pair: tuple[Any, Any], direction: Any) -> None:
    old, new = pair
    _tally.attempt(SURFACE, old, lambda: schema_problem(old), ())
    _tally.attempt(SURFACE, pair, lambda: direction(old, new), (VersioningError,))


def test_a_hostile_schema_is_compared_or_refused_with_the_librarys_error() -> None:
    """``schema_problem`` answers for any value without raising, and ``backward``/``forward``
    compare any two values or refuse them with the library's error, within the time bound."""
    _one_pair()
    _tally.check(SURFACE)
