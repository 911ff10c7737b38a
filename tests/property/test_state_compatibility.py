"""The state compatibility check against the values themselves: values generated from the old
schema (hypothesis-jsonschema) validate under the new one whenever the check says compatible,
and a checked counterexample exists whenever it says incompatible. The old schema is the
writer's: its values are those of ``closed(old)`` (its objects hold only the properties they
declare), or of ``old`` itself with ``open_objects``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator

from restate_versioning.schemas import Verdict, backward, closed, forward, schema_problem
from restate_versioning.testing.strategies import schema_pairs, state_schemas

SLOW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@given(state_schemas())
def test_generated_schemas_are_valid_and_compatible_with_themselves(schema: Any) -> None:
    assert schema_problem(schema) is None
    assert backward(schema, schema).verdict is Verdict.COMPATIBLE


@SLOW
@pytest.mark.parametrize("open_objects", [False, True])
@given(schema_pairs(), st.data())
def test_values_of_the_old_schema_validate_under_the_new_when_compatible(
    open_objects: bool, pair: tuple[Any, Any], data: st.DataObject
) -> None:
    old, new = pair
    note(f"old={json.dumps(old)}\nnew={json.dumps(new)}")
    verdict = backward(old, new, open_objects=open_objects).verdict
    event(f"backward: {verdict.value}")
    if verdict is not Verdict.COMPATIBLE or old is False:
        return
    written = old if open_objects else closed(old)
    writer, reader = Draft202012Validator(old), Draft202012Validator(new)
    for _ in range(5):
        value = data.draw(from_schema(written), label="value written under the old schema")
        assert writer.is_valid(value), value  # closing only leaves some values out
        assert reader.is_valid(value), value


@SLOW
@pytest.mark.parametrize("open_objects", [False, True])
@given(schema_pairs())
def test_incompatible_always_comes_with_a_counterexample(
    open_objects: bool, pair: tuple[Any, Any]
) -> None:
    old, new = pair
    note(f"old={json.dumps(old)}\nnew={json.dumps(new)}")
    for writer, reader, result in (
        (old, new, backward(old, new, open_objects=open_objects)),
        (new, old, forward(old, new, open_objects=open_objects)),
    ):
        incompatible = [f for f in result.findings if f.verdict is Verdict.INCOMPATIBLE]
        assert (result.verdict is Verdict.INCOMPATIBLE) == bool(incompatible)
        for finding in incompatible:
            value = json.loads(finding.counterexample or "null")
            assert Draft202012Validator(writer).is_valid(value), finding
            if not open_objects:
                assert Draft202012Validator(closed(writer)).is_valid(value), finding
            assert not Draft202012Validator(reader).is_valid(value), finding
