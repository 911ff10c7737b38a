"""Bounded fuzzing of the state check: generated state schemas (the package's strategies) and
realistic ones (pydantic models), mutated the way hostile or careless declarations are (huge
enums, huge sizes, patterns that backtrack for ever, deep nesting, odd keywords, refs that go
nowhere). Whatever the input, :func:`schema_problem` names a problem or the check returns a
verdict, within a time bound per input, and nothing else is raised.

``make test`` runs a small slice; ``FUZZ_EXAMPLES=5000 pytest -m fuzz tests/property`` runs as
many inputs as the fuzzing behind this file tried."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from typing import Any, Literal

import pytest
from hypothesis import event, given, note
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import BaseModel, Field

from restate_versioning import (
    IncompatibleState,
    InvalidStateSchema,
    Registry,
    SequentialIds,
    Verdict,
    schemas,
    state_metadata,
)
from restate_versioning.schemas import backward, forward, schema_problem
from restate_versioning.testing.strategies import evolved_schemas, state_schemas

from ..helpers import fuzz_settings

pytestmark = pytest.mark.fuzz

#: A few dozen inputs per test in ``make test``; ``FUZZ_EXAMPLES`` sets more.
FUZZ = fuzz_settings(30)
#: The time one input may take before it counts as a hang: the meta-schema checks, then
#: backward and forward, each within CHECK_SECONDS, plus a margin for a loaded machine.
HANG = 2 * schemas.CHECK_SECONDS + 4.0


class Line(BaseModel):
    sku: str = Field(pattern=r"^[A-Z]{3}-[0-9]+$", max_length=32)
    quantity: int = Field(ge=0)
    price: float


class Address(BaseModel):
    street: str = Field(max_length=200)
    zip: str = Field(pattern=r"^[0-9]{5}(-[0-9]{4})?$")


class Order(BaseModel):
    lines: list[Line] = Field(max_length=100)
    ship_to: Address | None = None
    status: Literal["open", "paid", "shipped"]
    tags: list[str] = Field(default_factory=list)


class Node(BaseModel):
    value: int
    children: list[Node] = Field(default_factory=list)


REALISTIC = [Order.model_json_schema(), Address.model_json_schema(), Node.model_json_schema()]

#: Patterns that backtrack for ever in re on the right text, and texts they meet.
SLOW_PATTERNS = ["(x+x+)+y", "^(a|aa)+$", "^(a|a?)+$", "(a*)*b", r"^(\w+\s?)*$", "^(x+)+$"]
SLOW_TEXTS = ["x" * 64, "a" * 60 + "!", "a" * 40 + "b", "word " * 30 + "!"]
HUGE = [10**9, 10**18, 2**63, 1e300]
SIZES = ["minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"]
ODD: list[dict[str, Any]] = [
    {"not": {"type": "null"}},
    {"if": {"type": "string"}, "then": {"minLength": 1}, "else": {"type": "integer"}},
    {"x-custom": {"deep": [1, 2]}},
    {"$ref": "#"},
    {"$ref": "#/$defs/nowhere"},
    {"$ref": "#/properties/~1odd~0"},
    {"type": []},
    {"type": ["integer", "integer"]},
    {"multipleOf": 1e-300},
    {"minimum": 1e308, "maximum": -1e308},
    {"minimum": 10**400},
    {"exclusiveMinimum": True},
    {"$schema": "http://json-schema.org/draft-04/schema#"},
    {"$schema": "https://example.com/unknown"},
    {"prefixItems": [{"type": "string"}], "items": False},
    {"patternProperties": {"^(a|aa)+$": {"type": "string"}}, "unevaluatedProperties": False},
    {"propertyNames": {"pattern": "^(x+)+$"}},
    {"dependentSchemas": {"a": {"required": ["b"]}}},
    {"allOf": [{"type": "string"}, {"maxLength": 3}]},
    {"oneOf": [{"type": "integer"}, {"type": "number"}]},
    {"anyOf": []},
    {"enum": []},
    {"const": {"a": [1, {"b": None}]}},
    {"pattern": "a{4294967296}"},
    {"pattern": "(" * 300 + ")" * 300},
    {"pattern": "[[a]"},
    {"required": ["a", "a"]},
    {"additionalProperties": {"$ref": "#"}},
]


def _nodes(schema: Any) -> list[dict[str, Any]]:
    """Every subschema of ``schema`` that is an object, the root first."""
    found: list[dict[str, Any]] = []
    stack = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        found.append(node)
        for keyword in ("properties", "$defs"):
            if isinstance(node.get(keyword), dict):
                stack.extend(node[keyword].values())
        for keyword in ("items", "additionalProperties"):
            stack.append(node.get(keyword))
        for keyword in ("anyOf", "oneOf", "allOf"):
            if isinstance(node.get(keyword), list):
                stack.extend(node[keyword])
    return found


Mutation = Callable[[dict[str, Any], st.DrawFn], None]


def _huge_enum(node: dict[str, Any], draw: st.DrawFn) -> None:
    size = draw(st.sampled_from([schemas.MAX_ENUM_VALUES, schemas.MAX_ENUM_VALUES + 1, 5_000]))
    node["enum"] = [f"v{i}" for i in range(size)]


def _huge_size(node: dict[str, Any], draw: st.DrawFn) -> None:
    value = draw(st.sampled_from(HUGE))
    node[draw(st.sampled_from(SIZES))] = int(value) if draw(st.booleans()) else value


def _slow_pattern(node: dict[str, Any], draw: st.DrawFn) -> None:
    node.clear()
    node.update(type="string", pattern=draw(st.sampled_from(SLOW_PATTERNS)))


def _slow_text(node: dict[str, Any], draw: st.DrawFn) -> None:
    node.clear()
    node["enum"] = draw(st.lists(st.sampled_from(SLOW_TEXTS), min_size=1, max_size=4))


def _deep(node: dict[str, Any], draw: st.DrawFn) -> None:
    inner = copy.deepcopy(node)
    for _ in range(draw(st.integers(10, 150))):
        inner = {"type": "array", "items": inner}
    node.clear()
    node.update(inner)


def _odd(node: dict[str, Any], draw: st.DrawFn) -> None:
    node.update(copy.deepcopy(draw(st.sampled_from(ODD))))


MUTATIONS: list[Mutation] = [_huge_enum, _huge_size, _slow_pattern, _slow_text, _deep, _odd]


@st.composite
def mutated(draw: st.DrawFn, schema: Any) -> Any:
    """``schema`` with up to three hostile changes, each at a subschema drawn at random."""
    schema = copy.deepcopy(schema)
    for _ in range(draw(st.integers(0, 3))):
        if not isinstance(schema, dict):
            schema = {}
        nodes = _nodes(schema)
        node = nodes[draw(st.integers(0, len(nodes) - 1))]
        draw(st.sampled_from(MUTATIONS))(node, draw)
    return schema


@st.composite
def hostile_pairs(draw: st.DrawFn) -> tuple[Any, Any]:
    """An old state schema (generated, or as pydantic writes one) and a new one that evolved
    from it, either or both mutated."""
    old = draw(st.one_of(state_schemas(), st.sampled_from(REALISTIC)))
    new = draw(evolved_schemas(old))
    return draw(mutated(old)), draw(mutated(new))


def _has_pattern(schema: Any) -> bool:
    """Whether a schema has a ``pattern`` or ``patternProperties`` somewhere."""
    return "pattern" in json.dumps(schema)


@FUZZ
@given(hostile_pairs())
def test_any_pair_of_schemas_gets_a_verdict_or_a_named_problem_within_the_bound(
    pair: tuple[Any, Any],
) -> None:
    old, new = pair
    note(f"old={json.dumps(old)[:2000]}\nnew={json.dumps(new)[:2000]}")
    started = time.monotonic()
    problems = [schema_problem(old), schema_problem(new)]
    assert all(p is None or (isinstance(p, str) and p) for p in problems)
    if any(problems):
        event("refused: not a JSON Schema")
        with pytest.raises(InvalidStateSchema):
            backward(old, new)
    else:
        for writer, reader, result in (
            (old, new, backward(old, new)),
            (new, old, forward(old, new)),
        ):
            event(f"{result.verdict.value}")
            assert isinstance(result.verdict, Verdict)
            assert result.compatible == (result.verdict is Verdict.COMPATIBLE)
            incompatible = [f for f in result.findings if f.verdict is Verdict.INCOMPATIBLE]
            assert (result.verdict is Verdict.INCOMPATIBLE) == bool(incompatible)
            if result.verdict is Verdict.UNKNOWN:
                assert all(f.reason for f in result.findings)
            for finding in incompatible:
                assert finding.counterexample is not None
                if not _has_pattern(writer) and not _has_pattern(reader):  # re, unbounded
                    value = json.loads(finding.counterexample)
                    assert Draft202012Validator(writer).is_valid(value), finding
                    assert not Draft202012Validator(reader).is_valid(value), finding
    assert time.monotonic() - started < HANG


def _cart(schema_text: str) -> dict[str, Any]:
    return {
        "protocolMode": "REQUEST_RESPONSE",
        "minProtocolVersion": 5,
        "maxProtocolVersion": 7,
        "services": [
            {
                "name": "Cart",
                "ty": "VIRTUAL_OBJECT",
                "handlers": [{"name": "add", "ty": "EXCLUSIVE"}],
                "metadata": {"restate-versioning.state.cart": schema_text},
            }
        ],
    }


@st.composite
def declared_texts(draw: st.DrawFn) -> str:
    """What a service's metadata may declare as a state schema: JSON text of a hostile
    schema, or text that is not quite JSON."""
    schema = draw(mutated(draw(st.one_of(state_schemas(), st.sampled_from(REALISTIC)))))
    text = json.dumps(schema)
    broken = [
        text,
        text[: len(text) // 2],
        text.replace("}", ', "type": "string"}', 1),  # perhaps a key twice
        text.replace("0", "NaN", 1),
        "[" * 10_000 + "]" * 10_000,
    ]
    return draw(st.one_of(st.just(text), st.sampled_from(broken)))


def _register(registry: Registry, endpoint: str, text: str, breaking: bool) -> str:
    """What registering a Cart that declares ``text`` as its state schema came to."""
    try:
        result = registry.register(endpoint, _cart(text), breaking=breaking)
    except InvalidStateSchema:
        return "refused: not a state declaration"
    except IncompatibleState:
        return "refused: incompatible state"
    return f"registered: {[c.verdict.value for c in result.state_checks]}"


@FUZZ
@given(declared_texts(), declared_texts(), st.booleans())
def test_registering_any_declared_state_gives_a_registration_or_the_librarys_error(
    first: str, second: str, breaking: bool
) -> None:
    registry = Registry(ids=SequentialIds())
    started = time.monotonic()
    for endpoint, text in (("http://127.0.0.1:9081", first), ("http://127.0.0.1:9082", second)):
        outcome = _register(registry, endpoint, text, breaking)
        event(outcome)
        assert not (breaking and outcome == "refused: incompatible state")
    assert time.monotonic() - started < HANG


def test_the_realistic_schemas_round_trip_as_declarations() -> None:
    """The fuzz's realistic schemas are valid declarations, so mutations start from real ones."""
    for schema in REALISTIC:
        assert schema_problem(schema) is None
        assert state_metadata({"cart": schema})
