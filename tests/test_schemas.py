"""The JSON Schema compatibility check: every value valid under the old schema is valid under
the new one (backward), or the reverse (forward); unknown features say so."""

from __future__ import annotations

import copy
import json
import re
import time
import tracemalloc
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from restate_versioning import InvalidStateSchema, schemas
from restate_versioning.schemas import (
    SchemaCompatibility,
    Verdict,
    backward,
    closed,
    forward,
    schema_problem,
)


def verdict(old: Any, new: Any, *, open_objects: bool = False) -> Verdict:
    result = backward(old, new, open_objects=open_objects)
    for finding in result.findings:  # every incompatibility comes with a checked counterexample
        if finding.verdict is Verdict.INCOMPATIBLE:
            assert finding.counterexample is not None
            value = json.loads(finding.counterexample)
            assert Draft202012Validator(old).is_valid(value)
            if not open_objects:  # a value the writer writes: no property it does not declare
                assert Draft202012Validator(closed(old)).is_valid(value)
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
        "$defs": {
            "a b": {"type": "integer"},
            "a%20b": {"type": "string"},
            "f": {"$anchor": "foo", "type": "integer"},
        },
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
        schema_problem(deep) == "it is nested too deeply to check (nested deeper than 127 levels)"
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


NAMED = {"type": "object", "properties": {"name": {"type": "string"}}}
TYPED = {"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer"}}}


def test_a_writers_object_without_additional_properties_is_closed() -> None:
    # the old revision wrote only "name": a reader that adds an optional "n" reads all of it
    assert verdict(NAMED, TYPED) is COMPATIBLE
    assert verdict(NAMED, {**TYPED, "required": ["n"]}) is INCOMPATIBLE  # a new required one


def test_open_objects_restores_json_schema_where_an_object_may_hold_any_other_property() -> None:
    result = backward(NAMED, TYPED, open_objects=True)
    assert result.verdict is INCOMPATIBLE
    (finding,) = result.findings
    assert finding.path == "$.n"
    assert "additionalProperties" in finding.reason
    assert verdict(NAMED, TYPED, open_objects=True) is INCOMPATIBLE
    assert forward(TYPED, NAMED, open_objects=True).verdict is INCOMPATIBLE


@pytest.mark.parametrize(
    ("additional", "new_n", "expected"),
    [
        (True, {"type": "integer"}, INCOMPATIBLE),  # any other property, with any value
        ({"type": "integer"}, {"type": "number"}, COMPATIBLE),
        ({"type": "integer"}, {"type": "string"}, INCOMPATIBLE),
        (False, {"type": "string"}, COMPATIBLE),
    ],
)
def test_a_writer_that_says_what_its_other_properties_are_keeps_them(
    additional: Any, new_n: Any, expected: Verdict
) -> None:
    old = {**NAMED, "additionalProperties": additional}
    new = {"type": "object", "properties": {"name": {"type": "string"}, "n": new_n}}
    assert verdict(old, new) is expected


def test_a_writer_object_that_declares_no_properties_is_a_map_and_stays_open() -> None:
    assert verdict({"type": "object"}, TYPED) is INCOMPATIBLE
    assert verdict({"type": "object", "required": ["n"]}, TYPED) is INCOMPATIBLE


def test_the_reader_is_read_as_json_schema_defines_it_so_it_may_drop_a_property() -> None:
    # an open reader takes the properties it no longer declares; a closed one refuses them
    assert verdict(TYPED, NAMED) is COMPATIBLE
    assert verdict(TYPED, {**NAMED, "additionalProperties": False}) is INCOMPATIBLE
    result = backward(TYPED, {**NAMED, "additionalProperties": False})
    assert json.loads(result.findings[0].counterexample or "") == {"n": 0}


def test_a_writer_object_beside_keywords_that_may_admit_other_properties_stays_open() -> None:
    beside_any_of = {**NAMED, "anyOf": [{"required": ["name"]}, {"required": ["n"]}]}
    assert backward(beside_any_of, TYPED).verdict is not COMPATIBLE


def test_a_part_unchanged_is_compatible_closed_as_it_is_open_whatever_it_uses() -> None:
    unreasoned: Any = {"not": {"type": "null"}, "properties": {"y": {"properties": {"z": {}}}}}
    old: dict[str, Any] = {
        "type": "object",
        "properties": {"n": {"type": "integer"}, "m": unreasoned},
    }
    new = copy.deepcopy(old)
    new["properties"]["n"] = {"type": "number"}
    assert verdict(old, new) is COMPATIBLE
    assert verdict(old, new, open_objects=True) is COMPATIBLE


def test_forward_closes_the_new_schema_which_is_the_writer_of_a_rollback() -> None:
    assert forward(NAMED, TYPED).verdict is COMPATIBLE  # v1 ignores v2's "n"
    closed_v1 = {**NAMED, "additionalProperties": False}
    assert forward(closed_v1, TYPED).verdict is INCOMPATIBLE  # v1 refuses it
    assert forward(TYPED, NAMED).verdict is COMPATIBLE  # v2 reads what v1 wrote, no "n"


def test_closed_closes_each_object_that_declares_properties_and_nothing_admitting_more() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "line": {"$ref": "#/$defs/Line"},
            "tags": {"type": "object", "additionalProperties": {"type": "string"}},
            "extra": {"type": "object"},
            "either": {"anyOf": [{"properties": {"a": {}}}, {"type": "null"}]},
            "both": {"allOf": [{"properties": {"a": {}}}, {"properties": {"b": {}}}]},
            "not": {"not": {"properties": {"a": {}}}},
            "patterned": {"properties": {"a": {}}, "patternProperties": {"^x": {}}},
        },
        "$defs": {"Line": {"type": "object", "properties": {"sku": {"type": "string"}}}},
    }
    before = copy.deepcopy(schema)
    shut = closed(schema)
    assert schema == before  # a new value
    assert shut["additionalProperties"] is False
    assert shut["$defs"]["Line"]["additionalProperties"] is False
    properties = shut["properties"]
    assert properties["line"] == {"$ref": "#/$defs/Line"}
    assert properties["tags"] == before["properties"]["tags"]  # says what the others are
    assert properties["extra"] == {"type": "object"}  # declares no properties: a map
    assert properties["either"]["anyOf"][0]["additionalProperties"] is False
    for unchanged in ("both", "not", "patterned"):
        assert properties[unchanged] == before["properties"][unchanged]
    with pytest.raises(InvalidStateSchema, match="'nonsense'"):
        closed({"type": "nonsense"})


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


@pytest.mark.parametrize(
    ("schema", "ref"),
    [
        ({"$ref": "#/$defs/Missing"}, "$ref '#/$defs/Missing'"),
        (
            {"type": "object", "properties": {"a": {"$ref": "#/$defs/B"}}, "$defs": {"A": {}}},
            "$ref '#/$defs/B'",
        ),
        ({"items": {"$ref": "#item"}}, "$ref '#item'"),  # an anchor nobody declares
        (  # a resource the schema embeds, under its own $id
            {
                "$id": "https://example.com/cart",
                "$defs": {"line": {"$id": "line", "type": "object"}},
                "$ref": "line#/properties/sku",
            },
            "$ref 'line#/properties/sku'",
        ),
        ({"$dynamicRef": "#meta"}, "$dynamicRef '#meta'"),
    ],
)
def test_a_ref_that_points_at_nothing_in_the_schema_makes_it_no_schema(
    schema: Any, ref: str
) -> None:
    assert schema_problem(schema) == f"its {ref} points at nothing in the schema"
    with pytest.raises(InvalidStateSchema, match=re.escape(ref)) as raised:
        backward({"type": "integer"}, schema)
    assert [p.path for p in raised.value.problems] == ["new"]


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#/$defs/A", "$defs": {"A": {"type": "integer"}}},
        {"$ref": "#/$defs/a%20b", "$defs": {"a b": {}}},
        {"$ref": "#a", "$defs": {"A": {"$anchor": "a"}}},
        {"$ref": "#"},
        {"enum": [{"$ref": "#/nowhere"}]},  # a value, not a reference
        {"$ref": "https://example.com/schema.json"},  # another document: not fetched
        {"$ref": "other.json#/$defs/A"},
    ],
)
def test_a_ref_that_resolves_or_names_another_document_is_no_problem(schema: Any) -> None:
    assert schema_problem(schema) is None


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


def test_pydantic_models_adding_an_optional_field_is_compatible() -> None:
    # pydantic's default (extra="ignore") writes only the fields of the model, and its schema
    # has no additionalProperties: the writer's object is closed, so v1 never wrote "coupon"
    v1, v3 = CartV1.model_json_schema(), CartV3.model_json_schema()
    assert "additionalProperties" not in v1
    assert verdict(v1, v3) is COMPATIBLE
    written = CartV1(lines=[LineV1(sku="a", quantity=0)], note="n").model_dump(mode="json")
    CartV3.model_validate(written)
    assert verdict(v1, v1) is COMPATIBLE
    assert verdict(v3, v1) is COMPATIBLE  # v1 ignores "coupon" (a rollback)
    # with JSON Schema's own reading, v1's values could hold "coupon" with any value
    result = backward(v1, v3, open_objects=True)
    assert result.verdict is INCOMPATIBLE
    assert {f.path for f in result.findings} == {"$.coupon"}


class CartRequired(BaseModel):
    lines: list[LineV1]
    note: str | None = None
    coupon: str


class LineGift(BaseModel):
    sku: str
    quantity: int
    gift: bool = False


class CartGift(BaseModel):
    lines: list[LineGift]
    note: str | None = None


def test_pydantic_models_adding_a_required_field_is_incompatible() -> None:
    result = backward(CartV1.model_json_schema(), CartRequired.model_json_schema())
    assert result.verdict is INCOMPATIBLE
    (finding,) = result.findings
    assert finding.path == "$.coupon"
    with pytest.raises(ValidationError, match="coupon"):
        CartRequired.model_validate(json.loads(finding.counterexample or ""))


def test_pydantic_models_adding_an_optional_field_to_a_nested_model_is_compatible() -> None:
    assert verdict(CartV1.model_json_schema(), CartGift.model_json_schema()) is COMPATIBLE


class ForbidV1(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str
    quantity: int


class ForbidV2(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str
    quantity: int
    note: str | None = None


def test_pydantic_models_with_extra_forbid_are_closed_on_both_sides() -> None:
    v1, v2 = ForbidV1.model_json_schema(), ForbidV2.model_json_schema()
    assert v1["additionalProperties"] is False
    assert verdict(v1, v2) is COMPATIBLE
    assert verdict(v1, v2, open_objects=True) is COMPATIBLE  # closed whichever way it is read
    result = backward(v2, v1)  # v1 refuses the "note" v2 wrote
    assert result.verdict is INCOMPATIBLE
    counterexample = json.loads(result.findings[0].counterexample or "")
    ForbidV2.model_validate(counterexample)
    with pytest.raises(ValidationError, match="note"):
        ForbidV1.model_validate(counterexample)


class AllowV1(BaseModel):
    model_config = ConfigDict(extra="allow")
    sku: str
    quantity: int


class AllowV2(BaseModel):
    model_config = ConfigDict(extra="allow")
    sku: str
    quantity: int
    note: str | None = None


class AllowAnything(BaseModel):
    model_config = ConfigDict(extra="allow")
    sku: str
    quantity: int
    note: Any = None


def test_pydantic_models_with_extra_allow_are_open_so_typing_an_added_field_narrows_them() -> None:
    # extra="allow" keeps and writes back any other key it was given: v1 may have stored
    # {"note": false}, which v2 (a string or null) refuses
    v1, v2 = AllowV1.model_json_schema(), AllowV2.model_json_schema()
    assert v1["additionalProperties"] is True
    result = backward(v1, v2)
    assert result.verdict is INCOMPATIBLE
    (finding,) = result.findings
    assert finding.path == "$.note"
    counterexample = json.loads(finding.counterexample or "")
    written = AllowV1.model_validate(counterexample).model_dump(mode="json")
    assert written == counterexample  # v1 keeps the extra key and writes it back
    with pytest.raises(ValidationError, match="note"):
        AllowV2.model_validate(written)
    assert verdict(v1, AllowAnything.model_json_schema()) is COMPATIBLE  # any value is fine


# --- bounds: a check never runs long or grows large ------------------------------------------

#: A check that should take milliseconds is given this long before it counts as a hang: the
#: time bound of one check plus a margin for a loaded machine (not a performance target).
HANG = schemas.CHECK_SECONDS + 3.0


def timed_backward(old: Any, new: Any) -> tuple[SchemaCompatibility, float]:
    started = time.monotonic()
    result = backward(old, new)
    return result, time.monotonic() - started


def reasons(result: SchemaCompatibility) -> str:
    return "; ".join(f.reason for f in result.findings)


@pytest.mark.parametrize("side", ["old", "new"])
def test_an_enum_longer_than_the_bound_is_unknown_and_names_the_bound(side: str) -> None:
    big = {"enum": [f"v{i}" for i in range(5_000)]}
    small = {"enum": ["v0", "v1"]}
    old, new = (big, small) if side == "old" else (small, big)
    result, elapsed = timed_backward(old, new)
    assert result.verdict is UNKNOWN
    assert f"enum of 5,000 values, more than the {schemas.MAX_ENUM_VALUES:,}" in reasons(result)
    assert elapsed < HANG


def test_an_unchanged_enum_of_any_size_is_compatible() -> None:
    statuses = {"enum": [f"s{i}" for i in range(5_000)]}
    old: dict[str, Any] = {
        "type": "object",
        "properties": {"status": statuses, "n": {"type": "integer"}},
    }
    new = copy.deepcopy(old)
    new["properties"]["n"] = {"type": "number"}
    assert verdict(old, new) is COMPATIBLE


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            {"enum": [f"v{i}" for i in range(1_000)]},
            {"enum": [f"v{i}" for i in range(999)]},
            INCOMPATIBLE,
        ),
        (
            {"enum": [f"v{i}" for i in range(999)]},
            {"enum": [f"v{i}" for i in range(1_000)]},
            COMPATIBLE,
        ),
        (
            {"enum": [float(i) for i in range(1_000)]},
            {"enum": list(range(1_000))},  # 1.0 and 1 are one value to the validator
            COMPATIBLE,
        ),
        ({"enum": [True, *range(999)]}, {"enum": list(range(1_000))}, INCOMPATIBLE),
        (
            {"type": "string", "enum": [f"v{i}" for i in range(1_000)], "maxLength": 2},
            {"enum": [f"v{i}" for i in range(10)]},
            COMPATIBLE,
        ),
    ],
)
def test_enums_up_to_the_bound_are_compared_value_by_value_without_a_long_search(
    old: Any, new: Any, expected: Verdict
) -> None:
    started = time.monotonic()
    assert verdict(old, new) is expected
    assert time.monotonic() - started < HANG


@pytest.mark.parametrize(
    ("old", "new", "bound"),
    [
        (
            {"type": "array", "minItems": 10**9},
            {"type": "array", "maxItems": 5},
            "arrays of at least 1,000,000,000 items",
        ),
        (
            {"type": "array", "minItems": 10**18, "uniqueItems": True},
            {"type": "array", "items": {"type": "string"}},
            "arrays of at least 1,000,000,000,000,000,000 items",
        ),
        (
            {"type": "string", "minLength": 10**9},
            {"type": "string", "maxLength": 10},
            "strings of at least 1,000,000,000 characters",
        ),
        (
            {
                "type": "object",
                "properties": {"lines": {"type": "array", "minItems": 10**9}},
                "required": ["lines"],
            },
            {"type": "object", "properties": {"lines": {"type": "array", "maxItems": 1}}},
            "arrays of at least 1,000,000,000 items",
        ),
    ],
)
def test_values_too_large_to_build_are_not_built_and_the_verdict_names_the_bound(
    old: Any, new: Any, bound: str
) -> None:
    tracemalloc.start()
    try:
        result, elapsed = timed_backward(old, new)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.verdict is UNKNOWN
    assert bound in reasons(result)
    assert peak < 50 * 2**20  # nothing of the size the schema asks for was built
    assert elapsed < HANG


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (  # re backtracks for ever on "xxx...x": regex does not, and is bounded anyway
            {"type": "string", "pattern": "^x+$"},
            {"type": "string", "pattern": "(x+x+)+y"},
        ),
        ({"enum": ["a" * 60 + "!"]}, {"type": "string", "pattern": "^(a|aa)+$"}),
        (
            {"type": "array", "items": {"enum": ["a" * 60 + "!", "b", "c"]}},
            {"type": "array", "items": {"type": "string", "pattern": "^(a|aa)+$"}},
        ),
        (  # property names are matched too: patternProperties, beside additionalProperties
            {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {"a" * 60 + "!": {"type": "null"}},
                    "required": ["a" * 60 + "!"],
                },
            },
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "patternProperties": {"^(a|aa)+$": {}},
                    "additionalProperties": {"type": "null"},
                },
                "minItems": 2,
            },
        ),
    ],
)
def test_a_pattern_that_backtracks_for_ever_is_matched_within_its_time_bound(
    old: Any, new: Any
) -> None:
    result, elapsed = timed_backward(old, new)
    assert result.verdict in (UNKNOWN, INCOMPATIBLE)
    if result.verdict is UNKNOWN:
        assert f"ran past its bound of {schemas.PATTERN_SECONDS:g} s" in reasons(result)
    assert elapsed < HANG


def test_a_pattern_that_ran_past_its_bound_is_not_matched_again_in_the_same_check() -> None:
    slow = ["a" * 60 + f"!{i}" for i in range(200)]
    result, elapsed = timed_backward({"enum": slow}, {"type": "string", "pattern": "^(a|aa)+$"})
    assert result.verdict is UNKNOWN
    assert elapsed < HANG  # 200 values, each would take the bound


def test_a_check_past_its_time_bound_is_unknown_and_names_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(schemas, "CHECK_SECONDS", 0.0)
    result = backward({"type": "integer"}, {"type": "string"})
    assert result.verdict is UNKNOWN
    assert reasons(result) == "the check stopped at its time bound of 0 s"


def test_a_schema_that_refers_to_one_definition_from_many_places_stops_at_the_bound() -> None:
    """Ten levels of ten properties that all refer to the next level: 10^10 paths."""
    defs: dict[str, Any] = {"l10": {"type": "integer"}}
    for level in range(10):
        defs[f"l{level}"] = {
            "type": "object",
            "properties": {f"p{i}": {"$ref": f"#/$defs/l{level + 1}"} for i in range(10)},
        }
    old: dict[str, Any] = {"$defs": defs, "$ref": "#/$defs/l0"}
    new = copy.deepcopy(old)
    new["$defs"]["l10"] = {"type": "number"}
    result, elapsed = timed_backward(old, new)
    assert result.verdict is UNKNOWN
    assert f"stopped after {schemas.MAX_COMPARISONS:,} comparisons" in reasons(result)
    assert elapsed < HANG


@pytest.mark.parametrize(
    ("schema", "quoted"),
    [
        ({"type": "string", "pattern": "a{4294967296}"}, "the repetition number is too large"),
        ({"propertyNames": {"pattern": "a{4294967296}"}}, "the repetition number is too large"),
        ({"type": "string", "pattern": "(" * 2_000 + ")" * 2_000}, "nested too deeply"),
        ({"type": "number", "maximum": float("inf")}, "inf"),
        ({"enum": [{1, 2}]}, "{1, 2}"),
    ],
)
def test_schema_problem_names_a_pattern_or_value_it_cannot_read_instead_of_raising(
    schema: Any, quoted: str
) -> None:
    problem = schema_problem(schema)
    assert problem is not None
    assert quoted in problem


def test_schema_problem_of_a_schema_nested_without_end_is_a_problem_not_a_crash() -> None:
    deep: dict[str, Any] = {}
    for _ in range(100_000):
        deep = {"items": deep}
    assert (
        schema_problem(deep) == "it is nested too deeply to check (nested deeper than 127 levels)"
    )
    looped: dict[str, Any] = {"type": "object", "properties": {}}
    looped["properties"]["self"] = looped
    assert (schema_problem(looped) or "").startswith("it is nested too deeply to check")


def test_backward_refuses_an_invalid_schema_with_the_librarys_error_quoting_it() -> None:
    with pytest.raises(InvalidStateSchema, match="'nonsense'") as raised:
        backward({"type": "integer"}, {"type": "nonsense"})
    assert [p.path for p in raised.value.problems] == ["new"]


def test_a_writer_that_requires_properties_it_does_not_declare_stays_open() -> None:
    """Closed, it would admit no object at all, and every reader would look compatible."""
    old = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"]}
    new = {"type": "object", "properties": {"b": {"type": "integer"}}}
    assert backward(old, new).verdict is Verdict.INCOMPATIBLE
    least = {"type": "object", "properties": {"a": {"type": "string"}}, "minProperties": 2}
    assert backward(least, new).verdict is not Verdict.COMPATIBLE
