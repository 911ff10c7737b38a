"""The registry's fast way of making an invocation makes the very value the class makes."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from restate_versioning.model import (
    Failure,
    HandlerType,
    Invocation,
    InvocationStatus,
    make_invocation,
)

texts = st.text(max_size=8)
optional_texts = st.none() | texts
times = st.datetimes(timezones=st.just(UTC))
fields = st.tuples(
    texts,
    texts,
    texts,
    optional_texts,
    optional_texts,
    st.sampled_from(InvocationStatus),
    optional_texts,
    times,
    st.none() | st.integers(1, 7),
    st.none() | times,
    st.none() | st.builds(Failure, texts, texts),
    optional_texts,
    optional_texts,
    st.none() | st.sampled_from(HandlerType),
    st.booleans(),
)


@given(fields)
def test_make_invocation_makes_the_value_invocation_makes(values: tuple[object, ...]) -> None:
    made = make_invocation(*values)  # type: ignore[arg-type]
    built = Invocation(*values)  # type: ignore[arg-type]
    assert type(made) is Invocation
    assert made == built
    assert hash(made) == hash(built)
    assert repr(made) == repr(built)
    assert attrs.astuple(made, recurse=False) == values
    assert pickle.loads(pickle.dumps(made)) == built
    assert copy.copy(made) == built


def test_a_made_invocation_is_frozen() -> None:
    made = make_invocation(
        "inv_1", "S", "h", None, None, InvocationStatus.RUNNING, None,
        datetime(2026, 1, 1, tzinfo=UTC), None, None, None, None, None, None, False,
    )  # fmt: skip
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        made.status = InvocationStatus.COMPLETED  # type: ignore[misc]


def test_an_invocation_takes_no_validator_or_converter_the_fast_way_would_skip() -> None:
    for field in attrs.fields(Invocation):
        assert field.validator is None, field.name
        assert field.converter is None, field.name
