"""Endpoints: ``parse_endpoint`` (and ``redact``) on generated text, mutated URLs and values that
are no string at all."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from restate_versioning import InvalidEndpoint
from restate_versioning.endpoints import parse_endpoint, redact
from restate_versioning.testing.strategies import endpoints

from . import _mutations, _tally

pytestmark = pytest.mark.fuzz

SURFACE = "endpoints"
SEEDS = [
    "http://127.0.0.1:9080/",
    "https://user:secret@greeter.example.com:443/a/b?q=1#f",
    "http://[::1]:9080",
    "arn:aws:lambda:eu-central-1:123456789012:function:greeter:7",
]


@st.composite
def _mutated_url(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        splice = draw(
            st.sampled_from([":", "@", "//", "[", "]", "%", "%zz", " ", "\n", "\x00", "é", "99999"])
            | st.text(max_size=4)
        )
        end = at + draw(st.integers(0, 3))
        text = text[:at] + splice + text[end:]
    return text


_INPUTS: st.SearchStrategy[Any] = st.one_of(
    st.text(max_size=40),
    endpoints(),
    _mutated_url(),
    _mutated_url(),
    st.sampled_from(["http://" + "a" * 100_000, "http://h:" + "9" * 5_000, "arn:" * 20_000]),
    st.none() | st.integers() | st.binary(max_size=8) | _mutations.hostile_values,
)


@given(endpoint=_INPUTS)
@_tally.settings_for(SURFACE)
def _one_endpoint(endpoint: Any) -> None:
    _tally.attempt(SURFACE, endpoint, lambda: parse_endpoint(endpoint), (InvalidEndpoint,))
    if isinstance(endpoint, str):
        _tally.attempt(SURFACE, endpoint, lambda: redact(endpoint), ())


def test_a_hostile_endpoint_is_parsed_or_refused_with_invalid_endpoint() -> None:
    """Any value given as an endpoint is parsed or refused with ``InvalidEndpoint`` within the
    time bound, and ``redact`` never fails on a string."""
    _one_endpoint()
    _tally.check(SURFACE)
