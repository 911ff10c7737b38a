"""The JSON Schema compatibility check: every value valid under the old schema is valid under
the new one (backward), or the reverse (forward); unknown features say so."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, Field

from restate_versioning.schemas import Verdict, backward, forward, schema_problem


def verdict(old: Any, new: Any) -> Verdict:
    result = backward(old, new)
    for finding in result.findings:  # every incompatibility comes with a checked counterexample
        if finding.verdict is Verdict.INCOMPATIBLE:
            assert finding.counterexample is not None
            value = json.loads(finding.counterexample)
            assert Draft202012Validator(old).is_valid(value)
            assert not Draft202012Validator(new).is_valid(value)
    return result.verdict


OBJ = {"type": "object"}
COMPATIBLE, INCOMPATIBLE, UNKNOWN = Verdict.COMPATIBLE, Verdict.INCOMPATIBLE, Verdict.UNKNOWN


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({"type": "string"}, {"type": "string"}, COMPATIBLE),
        ({"type": "string"}, {"type": ["string", "null"]}, COMPATIBLE),
        ({"type": ["string", "null"]}, {"type": "string"}, INCOMPATIBLE),
        ({"type": "integer"}, {"type": "number"}, COMPATIBLE),
        ({"type": "number"}, {"type": "integer"}, INCOMPATIBLE),
        ({"type": "string"}, {"type": "integer"}, INCOMPATIBLE),
        ({"type": "boolean"}, {"enum": [True, False]}, COMPATIBLE),
        ({"type": "boolean"}, {"const": True}, INCOMPATIBLE),
        (True, {"type": "string"}, INCOMPATIBLE),
        ({"type": "string"}, True, COMPATIBLE),
        ({"type": "string"}, {}, COMPATIBLE),
        (False, {"type": "string"}, COMPATIBLE),
    ],
)
def test_types_may_widen_but_not_narrow(old: Any, new: Any, expected: Verdict) -> None:
    assert verdict(old, new) is expected


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({"minimum": 0, "maximum": 10}, {"minimum": -5}, COMPATIBLE),
        ({"minimum": 0}, {"minimum": 1}, INCOMPATIBLE),
        ({"maximum": 10}, {"exclusiveMaximum": 10}, INCOMPATIBLE),
        ({"exclusiveMaximum": 10}, {"maximum": 10}, COMPATIBLE),
        ({}, {"maximum": 10}, INCOMPATIBLE),
        ({"multipleOf": 4}, {"multipleOf": 2}, COMPATIBLE),
        ({"multipleOf": 2}, {"multipleOf": 4}, INCOMPATIBLE),
        ({"multipleOf": 0.5}, {"multipleOf": 0.5}, COMPATIBLE),
        ({"multipleOf": 0.25}, {"multipleOf": 0.5}, INCOMPATIBLE),
        ({}, {"multipleOf": 2}, INCOMPATIBLE),
        # the validator divides by a float step in floating point: 0.3 / 0.1 is not 3
        ({"multipleOf": 0.3}, {"multipleOf": 0.1}, INCOMPATIBLE),
    ],
)
def test_number_bounds_may_widen_but_not_narrow(
    old: dict[str, Any], new: dict[str, Any], expected: Verdict
) -> None:
    assert verdict({"type": "number", **old}, {"type": "number", **new}) is expected


def test_float_steps_are_not_reasoned_about_only_tried() -> None:
    # 1.7000000000000002 is a multiple of 0.1 for the validator, not of 0.01: no proof either way
    assert backward(
        {"type": "number", "multipleOf": 0.1}, {"type": "number", "multipleOf": 0.01}
    ).verdict in (UNKNOWN, INCOMPATIBLE)
    assert verdict({"type": "integer"}, {"type": "number", "multipleOf": 1e-05}) is INCOMPATIBLE


def test_bounds_compare_with_the_exact_value_of_a_float() -> None:
    # 1e23 is 99999999999999991611392 as a float, which the validator compares exactly
    assert verdict(
        {"type": "integer", "maximum": 10**23}, {"type": "integer", "maximum": 1e23}
    ) is (INCOMPATIBLE)


def test_true_and_false_are_not_one_and_zero() -> None:
    assert verdict({"const": True}, {"const": 1}) is INCOMPATIBLE
    assert verdict({"enum": [False]}, {"enum": [0]}) is INCOMPATIBLE
    nested_true = {"type": "object", "properties": {"a": {"const": True}}}
    nested_one = {"type": "object", "properties": {"a": {"const": 1}}}
    assert verdict(nested_true, nested_one) is INCOMPATIBLE


def test_one_of_with_a_listed_value_that_another_branch_accepts_is_unknown() -> None:
    one_of = {"oneOf": [{"enum": [1]}, {"type": "integer"}]}  # 1 matches both: refused
    assert backward({"type": "integer"}, one_of).verdict is UNKNOWN


@pytest.mark.parametrize("ref", ["#foo", "#/$defs/a%20b", "https://example.com/s.json#/$defs/a"])
def test_only_plain_pointers_into_the_schema_are_followed(ref: str) -> None:
    old = {
        "type": "object",
        "properties": {"a": {"$ref": ref}},
        "$defs": {"a b": {"type": "integer"}, "a%20b": {"type": "string"}},
    }
    new = {"type": "object", "properties": {"a": {"type": "object"}}}
    assert backward(old, new).verdict is UNKNOWN


def test_schemas_of_other_drafts_are_unknown() -> None:
    draft4 = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "integer"}
    result = backward({"type": "integer"}, draft4)  # draft 4 refuses 1.0 as an integer
    assert result.verdict is UNKNOWN
    assert "Draft4Validator" in result.findings[0].reason
    assert verdict(draft4, dict(draft4)) is COMPATIBLE  # the very same schema


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"type": "string", "minLength": 2.0}, {"type": "string", "minLength": 3}),
        ({"type": "array", "minItems": 100, "uniqueItems": True}, {"type": "array", "maxItems": 5}),
        ({"type": "number", "minimum": 10**400}, {"type": "number", "minimum": 10**401}),
        (
            {"type": "integer", "minimum": 10**400},
            {"type": "number", "multipleOf": 0.5, "minimum": 10**401},
        ),
    ],
)
def test_unusual_but_valid_schemas_get_an_answer_not_a_crash(old: Any, new: Any) -> None:
    assert verdict(old, new) in (INCOMPATIBLE, UNKNOWN)


def test_a_recursive_schema_whose_values_cannot_be_built_is_unknown_not_a_long_search() -> None:
    branches = [
        {"type": "object", "properties": {f"p{i}": {"$ref": "#/$defs/n"}}, "required": [f"p{i}"]}
        for i in range(10)
    ]
    old = {"$defs": {"n": {"anyOf": branches}}, "$ref": "#/$defs/n"}
    assert backward(old, {"type": "string"}).verdict is UNKNOWN


def test_schemas_nested_too_deeply_to_check_are_refused_with_the_reason() -> None:
    deep: dict[str, Any] = {"type": "object"}
    for _ in range(200):
        deep = {"type": "object", "properties": {"a": deep}}
    assert (
        schema_problem(deep) == "it is nested too deeply to check (nested deeper than 128 levels)"
    )


def test_integer_bounds_compare_as_integers() -> None:
    assert verdict(
        {"type": "integer", "exclusiveMinimum": 0}, {"type": "integer", "minimum": 1}
    ) is (COMPATIBLE)
    assert verdict({"type": "integer"}, {"type": "number", "multipleOf": 1}) is COMPATIBLE


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({"maxLength": 5}, {"maxLength": 10}, COMPATIBLE),
        ({"maxLength": 10}, {"maxLength": 5}, INCOMPATIBLE),
        ({"minLength": 1}, {}, COMPATIBLE),
        ({}, {"minLength": 1}, INCOMPATIBLE),
        ({"pattern": "^a"}, {"pattern": "^a"}, COMPATIBLE),
        ({}, {"pattern": "^[a-z]+$"}, INCOMPATIBLE),
        ({"pattern": "^[a-z]+$"}, {"pattern": "^[a-z]*$"}, UNKNOWN),
    ],
)
def test_strings_lengths_and_patterns(
    old: dict[str, Any], new: dict[str, Any], expected: Verdict
) -> None:
    assert verdict({"type": "string", **old}, {"type": "string", **new}) is expected


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({"enum": ["a", "b"]}, {"enum": ["a", "b", "c"]}, COMPATIBLE),
        ({"enum": ["a", "b", "c"]}, {"enum": ["a", "b"]}, INCOMPATIBLE),
        ({"enum": ["a", "b"]}, {"type": "string", "maxLength": 1}, COMPATIBLE),
        ({"type": "string"}, {"enum": ["a", "b"]}, INCOMPATIBLE),
        ({"const": 3}, {"type": "integer", "minimum": 3}, COMPATIBLE),
        ({"enum": [1, "x", None]}, {"type": ["integer", "string"]}, INCOMPATIBLE),
    ],
)
def test_enums_are_compared_value_by_value(old: Any, new: Any, expected: Verdict) -> None:
    assert verdict(old, new) is expected


CLOSED: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name"],
    "additionalProperties": False,
}


def evolved(**changes: Any) -> dict[str, Any]:
    schema = copy.deepcopy(CLOSED)
    schema.update(changes)
    return schema


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        (evolved(required=[]), COMPATIBLE),  # a required property becomes optional
        (evolved(required=["name", "age"]), INCOMPATIBLE),  # an optional one becomes required
        (evolved(additionalProperties=True), COMPATIBLE),
        (  # a property added to a closed object: old values never have it
            evolved(properties={**CLOSED["properties"], "email": {"type": "string"}}),
            COMPATIBLE,
        ),
        (  # a renamed field: old values have "name", which the new closed schema refuses
            evolved(
                properties={"fullName": {"type": "string"}, "age": {"type": "integer"}},
                required=["fullName"],
            ),
            INCOMPATIBLE,
        ),
        (evolved(properties={"name": {"type": "string"}}), INCOMPATIBLE),  # age is refused now
        (
            evolved(properties={"name": {"type": "string"}, "age": {"type": "number"}}),
            COMPATIBLE,
        ),
        (
            evolved(properties={"name": {"type": "string"}, "age": {"type": "string"}}),
            INCOMPATIBLE,
        ),
        (evolved(minProperties=2), INCOMPATIBLE),
        (evolved(maxProperties=2), COMPATIBLE),
    ],
)
def test_object_properties_required_and_additional(new: Any, expected: Verdict) -> None:
    assert verdict(CLOSED, new) is expected


def test_an_open_object_may_hold_any_property_so_typing_a_new_one_narrows_it() -> None:
    open_schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    typed = {"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer"}}}
    result = backward(open_schema, typed)
    assert result.verdict is INCOMPATIBLE
    assert "additionalProperties" in result.findings[0].reason
    assert result.findings[0].path == "$.n"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({"items": {"type": "integer"}}, {"items": {"type": "number"}}, COMPATIBLE),
        ({"items": {"type": "number"}}, {"items": {"type": "integer"}}, INCOMPATIBLE),
        ({}, {"items": {"type": "string"}}, INCOMPATIBLE),
        ({"maxItems": 3}, {"maxItems": 5}, COMPATIBLE),
        ({"maxItems": 5}, {"maxItems": 3}, INCOMPATIBLE),
        ({"uniqueItems": True}, {}, COMPATIBLE),
        ({}, {"uniqueItems": True}, INCOMPATIBLE),
        ({"maxItems": 0}, {"items": {"type": "string"}}, COMPATIBLE),
        ({"prefixItems": [{"type": "string"}]}, {}, UNKNOWN),
    ],
)
def test_arrays_items_sizes_and_uniqueness(
    old: dict[str, Any], new: dict[str, Any], expected: Verdict
) -> None:
    assert verdict({"type": "array", **old}, {"type": "array", **new}) is expected


def test_nested_objects_report_the_path_and_a_whole_counterexample() -> None:
    old: dict[str, Any] = {
        "type": "object",
        "properties": {
            "lines": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"qty": {"type": "integer"}},
                    "required": ["qty"],
                },
            }
        },
        "required": ["lines"],
    }
    new = copy.deepcopy(old)
    new["properties"]["lines"]["items"]["properties"]["qty"]["minimum"] = 1
    result = backward(old, new)
    assert result.verdict is INCOMPATIBLE
    (finding,) = result.findings
    assert finding.path == "$.lines[*].qty"
    assert json.loads(finding.counterexample or "") == {"lines": [{"qty": 0}]}


def test_nullable_written_as_any_of_with_null() -> None:
    optional = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert verdict({"type": "string"}, optional) is COMPATIBLE
    assert verdict(optional, {"type": "string"}) is INCOMPATIBLE
    assert verdict(optional, {"type": ["string", "null"]}) is COMPATIBLE


def test_any_of_branches_of_one_type_are_tried_one_by_one() -> None:
    small = {"type": "integer", "maximum": 5}
    big = {"type": "integer", "minimum": 10}
    assert verdict(small, {"anyOf": [big, small]}) is COMPATIBLE
    # 0..20 fits in neither branch alone, though it fits in neither union either
    assert verdict({"type": "integer", "minimum": 0, "maximum": 20}, {"anyOf": [big, small]}) is (
        INCOMPATIBLE
    )


def test_local_refs_and_recursive_schemas() -> None:
    node: dict[str, Any] = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "value": {"type": "integer"},
                    "next": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]},
                },
                "required": ["value"],
            }
        },
        "$ref": "#/$defs/Node",
    }
    wider = copy.deepcopy(node)
    wider["$defs"]["Node"]["properties"]["value"] = {"type": "number"}
    assert verdict(node, wider) is COMPATIBLE
    assert verdict(wider, node) is INCOMPATIBLE


@pytest.mark.parametrize(
    "feature",
    [
        {"not": {"type": "string"}},
        {"type": "object", "patternProperties": {"^x": {"type": "string"}}},
        {"if": {"type": "string"}, "then": {"minLength": 1}},
        {"allOf": [{"type": "string"}, {"minLength": 1}]},
        {"type": "string", "x-custom": 1},
        {"$ref": "https://example.com/schema.json"},
    ],
)
def test_unknown_features_say_unknown_not_compatible(feature: dict[str, Any]) -> None:
    result = backward(feature, {"type": "integer"})
    assert result.verdict is UNKNOWN
    assert result.findings[0].reason
    assert backward({"type": "integer"}, feature).verdict is UNKNOWN


def test_identical_schemas_are_compatible_whatever_they_use() -> None:
    schema = {"type": "object", "patternProperties": {"^x": {"type": "string"}}}
    assert verdict(schema, copy.deepcopy(schema)) is COMPATIBLE


def test_annotations_do_not_count() -> None:
    old = {"type": "string", "title": "Name", "description": "who", "format": "email"}
    assert verdict(old, {"type": "string", "examples": ["x"], "default": ""}) is COMPATIBLE


def test_forward_is_backward_with_the_roles_swapped() -> None:
    narrow, wide = {"type": "integer"}, {"type": "number"}
    assert backward(narrow, wide).verdict is COMPATIBLE
    assert forward(narrow, wide).verdict is INCOMPATIBLE


def test_invalid_schemas_are_refused_with_the_reason() -> None:
    assert schema_problem({"type": "nonsense"}) is not None
    assert schema_problem([1]) == "a JSON Schema is an object or a boolean, not [1]"
    assert schema_problem({"type": "string"}) is None
    with pytest.raises(ValueError, match="'nonsense'"):
        backward({"type": "nonsense"}, {})


# --- schemas as pydantic writes them, the way Python services declare state ----------------


class LineV1(BaseModel):
    sku: str
    quantity: int


class CartV1(BaseModel):
    lines: list[LineV1]
    note: str | None = None


class LineV2(BaseModel):
    sku: str
    quantity: int = Field(ge=1)
    gift: bool = False


class CartV2(BaseModel):
    lines: list[LineV2]
    note: str | None = None


class CartV3(BaseModel):
    lines: list[LineV1]
    note: str | None = None
    coupon: str | None = None


def test_pydantic_models_a_narrowed_field_is_incompatible() -> None:
    result = backward(CartV1.model_json_schema(), CartV2.model_json_schema())
    assert result.verdict is INCOMPATIBLE
    paths = {f.path for f in result.findings}
    assert "$.lines[*].quantity" in paths


def test_pydantic_models_are_open_so_an_added_optional_field_is_a_narrowing() -> None:
    # pydantic does not close its models (no additionalProperties: false), so a value written
    # by v1 may hold "coupon" with any value; v3 wants a string or null there.
    result = backward(CartV1.model_json_schema(), CartV3.model_json_schema())
    assert result.verdict is INCOMPATIBLE
    assert {f.path for f in result.findings} == {"$.coupon"}
    assert verdict(CartV1.model_json_schema(), CartV1.model_json_schema()) is COMPATIBLE
