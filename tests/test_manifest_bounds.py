"""Manifests and state schemas are read as the server reads them, within bounds.

restate-server 1.7.12 decodes a discovery answer with serde_json: it refuses ``NaN`` and
``Infinity``, numbers too large for a double, bytes that are not UTF-8, a field twice in one
object and nesting deeper than its recursion limit, each as "received a bad response from the
SDK that cannot be decoded: <words>" (``test_manifest_server.py`` pins those answers). The
library refuses the same with :class:`InvalidManifest`, one problem at the ``$.path`` of the
offending value, and never with another exception; it also bounds what it reads
(:data:`MAX_MANIFEST_BYTES` of text, :data:`MAX_MANIFEST_VALUES` values in a ``Mapping``), and a
refused registration leaves the registry exactly as it was.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import attrs
import pytest

from restate_versioning import (
    STATE_METADATA_PREFIX,
    EndpointManifest,
    HandlerManifest,
    InvalidManifest,
    InvalidStateSchema,
    Problem,
    ProtocolMode,
    Registry,
    ServiceManifest,
    ServiceType,
    state_metadata,
)
from restate_versioning.manifest import (
    DURATION_OPTIONS,
    MAX_MANIFEST_BYTES,
    MAX_MANIFEST_VALUES,
    MAX_U64,
)
from restate_versioning.storage import MemoryStorage, StoredRegistry

from .helpers import SDK_MANIFEST, V1, V2, handler, manifest, service

#: Where a handler's input ``jsonSchema`` sits: six levels down (the manifest, ``services``, the
#: service, ``handlers``, the handler, ``input``).
SCHEMA_PATH = "$.services[0].handlers[0].input.jsonSchema"
SCHEMA_DEPTH = 6


def base_text(**service_fields: Any) -> str:
    """A valid manifest as JSON text: Service ``Greeter`` with handler ``greet``."""
    return json.dumps(manifest(service("Greeter", **service_fields)))


def with_schema(schema_text: str) -> str:
    """:func:`base_text` with ``schema_text`` (JSON text, maybe not valid) as the handler's
    input ``jsonSchema``."""
    text = base_text()
    return text.replace(
        '{"name": "greet"}', f'{{"name": "greet", "input": {{"jsonSchema": {schema_text}}}}}'
    )


def nested(levels: int) -> str:
    """``levels`` arrays, one inside the other, as JSON text."""
    return "[" * levels + "]" * levels


def deep_value(levels: int) -> Any:
    """``levels`` arrays, one inside the other, as Python lists (built without recursion)."""
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


def only_problem(document: Any) -> Problem:
    with pytest.raises(InvalidManifest) as raised:
        EndpointManifest.from_json(document)
    (problem,) = raised.value.problems
    assert raised.value.code is None
    return problem


# --- text the server refuses ----------------------------------------------------------------

REFUSED_TEXT = [
    pytest.param(
        base_text().replace(
            '"minProtocolVersion": 5', '"minProtocolVersion": 5, "minProtocolVersion": 6'
        ),
        "$.minProtocolVersion",
        "duplicate field `minProtocolVersion`",
        id="a-field-twice",
    ),
    pytest.param(
        base_text().replace('"name": "Greeter"', '"name": "Greeter", "name": "Other"'),
        "$.services[0].name",
        "duplicate field `name`",
        id="a-service-field-twice",
    ),
    pytest.param(
        with_schema('{"type": "object", "type": "string"}'),
        f"{SCHEMA_PATH}.type",
        "duplicate field `type`",
        id="a-key-twice-in-a-json-schema",
    ),
    pytest.param(
        base_text().replace('"ty": "SERVICE"', '"ty": "SERVICE", "metadata": {"k": "a", "k": "b"}'),
        "$.services[0].metadata.k",
        "duplicate field `k`",
        id="a-metadata-key-twice",
    ),
    pytest.param(
        base_text(retryPolicyExponentiationFactor=1.5).replace("1.5", "NaN"),
        "$.services[0].retryPolicyExponentiationFactor",
        "expected value: NaN is not a JSON value",
        id="nan-in-an-option",
    ),
    pytest.param(
        with_schema('{"maximum": Infinity}'),
        f"{SCHEMA_PATH}.maximum",
        "expected value: Infinity is not a JSON value",
        id="infinity-in-a-json-schema",
    ),
    pytest.param(
        with_schema("[1, 2, -Infinity]"),
        f"{SCHEMA_PATH}[2]",
        "expected value: -Infinity is not a JSON value",
        id="minus-infinity-in-an-array",
    ),
    pytest.param(
        with_schema('{"maximum": 1e400}'),
        f"{SCHEMA_PATH}.maximum",
        "number out of range",
        id="a-number-too-large-for-a-double",
    ),
    pytest.param(
        with_schema(nested(200)),
        SCHEMA_PATH + "[0]" * (127 - SCHEMA_DEPTH),
        "recursion limit exceeded: nested deeper than 127 levels",
        id="nested-200-levels",
    ),
    pytest.param(
        nested(100_000),
        "$" + "[0]" * 127,
        "recursion limit exceeded: nested deeper than 127 levels",
        id="100000-brackets",
    ),
    pytest.param(
        "{" + '"a": {' * 3000,
        "$" + ".a" * 127,
        "recursion limit exceeded",
        id="3000-unclosed-objects",
    ),
    pytest.param(
        base_text().replace("Greeter", "Gr\u00fc\u00dfer").encode("latin-1"),
        "$",
        "invalid unicode code point: not UTF-8 text",
        id="latin-1-bytes",
    ),
    pytest.param(
        base_text().encode("utf-16"),
        "$",
        "invalid unicode code point: not UTF-8 text",
        id="utf-16-bytes",
    ),
    pytest.param(
        b"\xef\xbb\xbf" + base_text().encode(),
        "$",
        "malformed JSON",
        id="a-utf-8-byte-order-mark",
    ),
    pytest.param(
        base_text(inactivityTimeout=1).replace(
            '"inactivityTimeout": 1', '"inactivityTimeout": ' + "9" * 5000
        ),
        "$",
        "malformed JSON",
        id="an-integer-of-5000-digits",
    ),
]


@pytest.mark.parametrize(("text", "path", "words"), REFUSED_TEXT)
def test_text_the_server_cannot_decode_is_one_problem_at_its_path_in_the_servers_words(
    text: str | bytes, path: str, words: str
) -> None:
    """Each is one problem, with no code (the server's ``restate_code`` is null too), at the
    path of the offending value (``$`` when the text as a whole is wrong), starting with the
    words serde_json has for it and quoting the start of the input; within 5 s, however
    large or deep the input."""
    started = time.monotonic()
    problem = only_problem(text)
    assert time.monotonic() - started < 5
    assert problem.path == path
    assert problem.message.startswith(words)
    assert repr(text[:80]) in problem.message


def test_nesting_up_to_127_levels_is_read_and_frozen() -> None:
    """127 levels of arrays and objects in all are read, and the manifest freezes, hashes and
    writes back the same JSON; the 128th level is refused, as serde_json (the server) refuses
    it."""
    text = with_schema(nested(127 - SCHEMA_DEPTH))
    parsed = EndpointManifest.from_json(text)
    assert hash(parsed) == hash(EndpointManifest.from_json(text))
    assert parsed.to_json() == json.loads(text)
    assert only_problem(with_schema(nested(128 - SCHEMA_DEPTH))).path == SCHEMA_PATH + "[0]" * (
        127 - SCHEMA_DEPTH
    )


def test_a_key_twice_is_found_where_the_reading_found_it() -> None:
    """When one object holds a key twice inside another object that does too, the problem is
    the one the reading met first (the inner object closes first), at its own path."""
    text = with_schema('{"a": 1, "a": {"b": 1, "b": 2}}')
    problem = only_problem(text)
    assert problem.path == f"{SCHEMA_PATH}.a.b"
    assert problem.message.startswith("duplicate field `b`")


# --- sizes ----------------------------------------------------------------------------------


def padded(size: int) -> str:
    """A valid manifest of exactly ``size`` bytes of UTF-8 text (its documentation padded)."""
    text = base_text(documentation="")
    return text.replace(
        '"documentation": ""', '"documentation": "' + "x" * (size - len(text)) + '"'
    )


@pytest.mark.parametrize(
    "as_input",
    [
        pytest.param(lambda text: text, id="str"),
        pytest.param(lambda text: text.encode(), id="bytes"),
        pytest.param(lambda text: bytearray(text.encode()), id="bytearray"),
    ],
)
def test_text_over_the_size_limit_is_refused_quoting_its_size_and_the_limit(as_input: Any) -> None:
    """:data:`MAX_MANIFEST_BYTES` (1 MiB, what discovery reads) of text are read; one byte
    more is one problem at ``$`` that says how large the input is and what the limit is."""
    assert MAX_MANIFEST_BYTES == 1024 * 1024
    assert EndpointManifest.from_json(as_input(padded(MAX_MANIFEST_BYTES))).services
    problem = only_problem(as_input(padded(MAX_MANIFEST_BYTES + 1)))
    assert problem.path == "$"
    assert f"{MAX_MANIFEST_BYTES + 1} bytes is more than the limit of {MAX_MANIFEST_BYTES}" in (
        problem.message
    )


def test_the_size_of_text_is_counted_in_utf_8_bytes() -> None:
    """A ``str`` is measured as the UTF-8 bytes it would be sent as: 600,000 characters of
    two bytes each are over the limit."""
    text = base_text(documentation="\u00e9" * 600_000)
    problem = only_problem(text)
    assert f"{len(text.encode())} bytes is more than the limit" in problem.message


def test_a_mapping_with_more_values_than_the_limit_is_refused() -> None:
    """A manifest given as a ``Mapping`` holds at most :data:`MAX_MANIFEST_VALUES` values (as
    many as the largest text can), counted before anything else is looked at."""
    assert MAX_MANIFEST_VALUES == MAX_MANIFEST_BYTES // 2
    document = manifest(service("Greeter"))
    document["services"][0]["handlers"][0]["input"] = {"jsonSchema": [0] * MAX_MANIFEST_VALUES}
    problem = only_problem(document)
    assert problem.path == "$"
    assert f"more than {MAX_MANIFEST_VALUES} values" in problem.message
    document["services"][0]["handlers"][0]["input"] = {"jsonSchema": [0] * 1000}
    assert EndpointManifest.from_json(document).services


# --- a manifest given as Python values ------------------------------------------------------


def _self_containing() -> dict[str, Any]:
    schema: dict[str, Any] = {}
    schema["items"] = schema
    return schema


def with_handler_input(schema: Any) -> dict[str, Any]:
    document = manifest(service("Greeter"))
    document["services"][0]["handlers"][0]["input"] = {"jsonSchema": schema}
    return document


INT_KEY: dict[Any, Any] = {**manifest(service("Greeter")), 7: "seven"}

NOT_JSON_VALUES = [
    pytest.param(with_handler_input(math.nan), SCHEMA_PATH, "nan is not a JSON value", id="nan"),
    pytest.param(
        with_handler_input({"maximum": math.inf}),
        f"{SCHEMA_PATH}.maximum",
        "inf is not a JSON value",
        id="infinity",
    ),
    pytest.param(
        with_handler_input({1: "one"}), SCHEMA_PATH, "the key 1 is not a string", id="int-key"
    ),
    pytest.param(
        with_handler_input({"enum": {1, 2}}), f"{SCHEMA_PATH}.enum", "(set) is not", id="a-set"
    ),
    pytest.param(
        with_handler_input({"const": b"x"}), f"{SCHEMA_PATH}.const", "(bytes) is not", id="bytes"
    ),
    pytest.param(
        with_handler_input({"default": object()}),
        f"{SCHEMA_PATH}.default",
        "(object) is not",
        id="an-object",
    ),
    pytest.param(
        with_handler_input(deep_value(5000)),
        SCHEMA_PATH + "[0]" * (127 - SCHEMA_DEPTH),
        "nested deeper than 127 levels",
        id="nested-5000-levels",
    ),
    pytest.param(
        with_handler_input(_self_containing()),
        SCHEMA_PATH + ".items" * (127 - SCHEMA_DEPTH),
        "nested deeper than 127 levels",
        id="a-schema-that-contains-itself",
    ),
    pytest.param(
        {**manifest(service("Greeter")), "minProtocolVersion": math.nan},
        "$.minProtocolVersion",
        "nan is not a JSON value",
        id="nan-protocol-version",
    ),
    pytest.param(INT_KEY, "$", "the key 7 is not a string", id="an-int-key-at-the-top"),
    pytest.param(
        with_handler_input({10**5000: 1}),
        "$.services[0].handlers[0].input.jsonSchema",
        "the key an integer of 16610 bits is not a string",
        id="an-int-key-too-long-to-print",
    ),
]


@pytest.mark.parametrize(("document", "path", "reason"), NOT_JSON_VALUES)
def test_a_mapping_must_hold_json_values_only(document: Any, path: str, reason: str) -> None:
    """A ``Mapping`` is checked before it is read: a value that JSON cannot hold, a key that
    is not a string, or nesting deeper than 127 levels (a value that contains itself nests
    without end) is one problem at its path; no other exception escapes."""
    problem = only_problem(document)
    assert problem.path == path
    assert reason in problem.message


def test_arrays_given_as_tuples_are_frozen_all_the_way_down() -> None:
    """Tuples are JSON arrays; objects inside them are frozen too, so the manifest hashes and
    writes back lists."""
    document = with_handler_input(({"type": "object", "properties": ({"a": [1]},)},))
    parsed = EndpointManifest.from_json(document)
    assert isinstance(hash(parsed), int)
    assert parsed.to_json() == with_handler_input([{"type": "object", "properties": [{"a": [1]}]}])


@pytest.mark.parametrize(
    ("field", "value", "path", "message"),
    [
        pytest.param(
            "minProtocolVersion",
            10**5000,
            "$.minProtocolVersion",
            "an integer of 16610 bits",
            id="an-integer-of-5001-digits",
        ),
        pytest.param(
            "protocolMode", "X" * 100_000, "$.protocolMode", "'XXXX", id="a-100000-character-string"
        ),
        pytest.param(
            "services",
            [[[[[[1]]]]]] * 3,
            "$.services[0]",
            "expected an object, got array",
            id="nested-arrays",
        ),
    ],
)
def test_a_problem_quotes_a_huge_value_in_a_few_words(
    field: str, value: Any, path: str, message: str
) -> None:
    """A problem quotes at most about a hundred characters of a value, whatever its size (an
    integer too long to print is told by its size)."""
    with pytest.raises(InvalidManifest) as raised:
        EndpointManifest.from_json({**manifest(service("Greeter")), field: value})
    problem = raised.value.problems[0]
    assert problem.path == path
    assert message in problem.message
    assert all(len(p.message) < 300 for p in raised.value.problems)


#: Every option that is an integer (durations in milliseconds, and the count of attempts), with
#: where it may be: a service and a handler, or (``workflowCompletionRetention``) a Workflow's
#: run handler only.
INTEGER_OPTIONS = [*DURATION_OPTIONS, "retryPolicyMaxAttempts"]
AT_EVERY_LEVEL = [
    pytest.param(option, level, id=f"{level}-{option}")
    for option in INTEGER_OPTIONS
    for level in ("service", "handler")
    if not (option == "workflowCompletionRetention" and level == "service")
]


def with_option(option: str, level: str, value: Any) -> tuple[dict[str, Any], str]:
    """A registrable manifest with ``option`` set to ``value`` on its service or its handler,
    and the ``$.path`` of the option."""
    if option == "workflowCompletionRetention":
        handlers = [handler("run", "WORKFLOW", **{option: value})]
        return manifest(service("Signup", "WORKFLOW", handlers)), f"{HANDLER}.{option}"
    if level == "service":
        return manifest(service("Greeter", **{option: value})), f"$.services[0].{option}"
    document = manifest(service("Greeter", handlers=[handler("greet", **{option: value})]))
    return document, f"{HANDLER}.{option}"


HANDLER = "$.services[0].handlers[0]"
U64_WORDS = "invalid type: floating point `1.8446744073709552e+19`, expected u64"


@pytest.mark.parametrize(("option", "level"), AT_EVERY_LEVEL)
def test_an_integer_option_above_u64_max_is_refused_in_the_servers_words(
    option: str, level: str, registry: Registry
) -> None:
    """Durations and counts are u64 on the server: serde_json reads 2**64 as a double and
    restate-server 1.7.12 answers 500 ("invalid type: floating point
    `1.8446744073709552e+19`, expected u64"). The problem starts with those words and names the
    option, the value and the bound, at the option's path; as text, as a ``Mapping``, and
    through ``register``, which changes nothing."""
    document, path = with_option(option, level, 2**64)
    for given in (document, json.dumps(document)):
        problem = only_problem(given)
        assert problem.path == path
        assert problem.message == (
            f"{U64_WORDS}: {option} is 18446744073709551616, above 18446744073709551615, "
            f"the largest u64"
        )
    before = registry.snapshot()
    with pytest.raises(InvalidManifest):
        registry.register(V1, document)
    assert registry.snapshot() == before


@pytest.mark.parametrize(("option", "level"), AT_EVERY_LEVEL)
def test_the_largest_u64_is_read_in_every_integer_option(option: str, level: str) -> None:
    """2**64 - 1 (:data:`MAX_U64`) is a u64, so it is read and kept (a duration that long is
    refused when registering, not when reading: ``test_manifest_rules.py``)."""
    document, _ = with_option(option, level, MAX_U64)
    parsed = EndpointManifest.from_json(document)
    service_manifest = parsed.services[0]
    options = (
        service_manifest.options if level == "service" else service_manifest.handlers[0].options
    )
    assert options[option] == MAX_U64
    assert parsed.to_json() == document


@pytest.mark.parametrize(
    ("value", "words"),
    [
        pytest.param(
            2**64 + 12345,
            "invalid type: floating point `1.8446744073709564e+19`, expected u64:",
            id="2**64+12345",
        ),
        pytest.param(10**20, "invalid type: floating point `1e+20`, expected u64:", id="10**20"),
        # serde_json keeps the first 20 digits and scales them: 1.2345678901234567e+23, where
        # the nearest double is 1.2345678901234569e+23
        pytest.param(
            123456789012345678901234,
            "invalid type: floating point `1.2345678901234567e+23`, expected u64:",
            id="24-digits",
        ),
        pytest.param(10**400, "number out of range", id="10**400"),
        pytest.param(10**5000, "number out of range", id="10**5000"),
    ],
)
def test_an_integer_above_u64_max_is_told_as_the_double_the_server_reads(
    value: int, words: str
) -> None:
    """The server quotes the double serde_json reads for the integer (or, past the largest
    double, says "number out of range"); the problem quotes the same, then the integer cut
    short."""
    problem = only_problem(manifest(service("Greeter", retryPolicyMaxAttempts=value)))
    assert problem.message.startswith(words)
    assert "retryPolicyMaxAttempts is " in problem.message
    assert problem.message.endswith("above 18446744073709551615, the largest u64")
    assert len(problem.message) < 300


def test_a_float_or_a_negative_integer_option_is_refused_as_before() -> None:
    """Only integers above the bound get the u64 words; a negative one or a double is still
    "expected a non-negative integer"."""
    for value in (-1, 2.0**64, -(2**64)):
        problem = only_problem(manifest(service("Greeter", retryPolicyMaxAttempts=value)))
        assert problem.message.startswith("expected a non-negative integer")


# --- a manifest built by hand ---------------------------------------------------------------


def hand_built(**handler: Any) -> EndpointManifest:
    return EndpointManifest(
        protocol_mode=ProtocolMode.REQUEST_RESPONSE,
        min_protocol_version=5,
        max_protocol_version=7,
        services=[
            ServiceManifest(
                name="Greeter",
                type=ServiceType.SERVICE,
                handlers=[HandlerManifest(name="greet", **handler)],
            )
        ],
    )


HAND_BUILT = [
    pytest.param(
        hand_built(options={"retryPolicyExponentiationFactor": math.nan}),
        "$.services[0].handlers[0].retryPolicyExponentiationFactor",
        id="nan-option",
    ),
    pytest.param(
        hand_built(input={"jsonSchema": deep_value(1000)}),
        SCHEMA_PATH + "[0]" * (127 - SCHEMA_DEPTH),
        id="schema-1000-deep",
    ),
    pytest.param(
        hand_built(output={"jsonSchema": {"const": {1, 2}}}),
        "$.services[0].handlers[0].output.jsonSchema.const",
        id="a-set",
    ),
]


@pytest.mark.parametrize(("value", "path"), HAND_BUILT)
def test_a_hand_built_manifest_that_is_not_json_is_refused_by_to_json_and_register(
    value: EndpointManifest, path: str, registry: Registry
) -> None:
    """``to_json`` and ``register`` refuse a value whose payloads or options JSON cannot hold
    with :class:`InvalidManifest` at the path, and the registry is left as it was."""
    with pytest.raises(InvalidManifest) as raised:
        value.to_json()
    assert [p.path for p in raised.value.problems] == [path]
    before = registry.snapshot()
    with pytest.raises(InvalidManifest):
        registry.register(V1, value)
    assert registry.snapshot() == before


def test_a_hand_built_manifest_of_the_wrong_types_is_refused_as_its_json_would_be(
    registry: Registry,
) -> None:
    """A value built by hand is checked through its JSON, so a field of the wrong type is the
    problem the same JSON would be, not a ``TypeError`` further on."""
    value = hand_built()
    wrong = EndpointManifest(
        protocol_mode=value.protocol_mode,
        min_protocol_version=5,
        max_protocol_version=7,
        services=[ServiceManifest(name=7, type=ServiceType.SERVICE, handlers=[])],  # type: ignore[arg-type]
    )
    with pytest.raises(InvalidManifest) as raised:
        registry.register(V1, wrong)
    assert [p.path for p in raised.value.problems] == ["$.services[0].name"]
    assert registry.register(V1, value).deployment.manifest == value


# --- registration: a refusal changes nothing ------------------------------------------------

REFUSED_REGISTRATIONS = (
    [pytest.param(text, id=param.id) for param in REFUSED_TEXT for text in [param.values[0]]]
    + [pytest.param(param.values[0], id=f"mapping-{param.id}") for param in NOT_JSON_VALUES]
    + [
        pytest.param(padded(MAX_MANIFEST_BYTES + 1), id="over-the-size-limit"),
    ]
)


@pytest.fixture
def stored() -> StoredRegistry:
    """A stored registry (in memory) that already holds the SDK's services at ``V1``."""
    registry = StoredRegistry(MemoryStorage())
    registry.register(V1, SDK_MANIFEST)
    return registry


@pytest.mark.parametrize("document", REFUSED_REGISTRATIONS)
def test_a_refused_manifest_leaves_the_registry_and_its_store_exactly_as_they_were(
    document: Any, stored: StoredRegistry
) -> None:
    """``register`` (plain, dry run, forced over a known endpoint, and through a stored
    registry) raises :class:`InvalidManifest` for each of these and changes nothing: the
    same snapshot and the same history."""
    before, history = stored.registry.snapshot(), stored.history()
    same = Registry.from_snapshot(before)
    for endpoint, force, dry_run in [(V2, False, False), (V2, False, True), (V1, True, False)]:
        with pytest.raises(InvalidManifest):
            same.register(endpoint, document, force=force, dry_run=dry_run)
        with pytest.raises(InvalidManifest):
            stored.register(endpoint, document, force=force, dry_run=dry_run)
        assert stored.registry.snapshot() == same.snapshot() == before
        assert stored.history() == history
    plain = Registry()
    with pytest.raises(InvalidManifest):
        plain.register(V1, document)
    assert plain.snapshot() == Registry().snapshot()


# --- state declarations ---------------------------------------------------------------------

STATE_ENTRY = f"$.services[0].metadata['{STATE_METADATA_PREFIX}cart']"

BAD_STATE_TEXT = [
    pytest.param(
        '{"type": "object", "type": "array"}', f"{STATE_ENTRY}.type", "appears twice", id="twice"
    ),
    pytest.param('{"maximum": NaN}', f"{STATE_ENTRY}.maximum", "NaN is not", id="nan"),
    pytest.param('{"maximum": 1e400}', f"{STATE_ENTRY}.maximum", "is out of range", id="too-large"),
    pytest.param(
        '{"items": ' * 500 + "{}" + "}" * 500,
        STATE_ENTRY + ".items" * 127,
        "nested deeper than 127 levels",
        id="500-levels",
    ),
    pytest.param('{"a": ', STATE_ENTRY, "malformed JSON", id="malformed"),
]


@pytest.mark.parametrize(("text", "path", "reason"), BAD_STATE_TEXT)
def test_a_state_schema_in_metadata_is_read_as_strictly_as_a_manifest(
    text: str, path: str, reason: str, registry: Registry
) -> None:
    """The JSON text of a state schema in service metadata is read like the manifest around
    it: a key twice, ``NaN``, a number too large or nesting deeper than 127 levels is an
    :class:`InvalidStateSchema` problem at its path inside the schema, and nothing changes."""
    document = manifest(
        service("Cart", "VIRTUAL_OBJECT", metadata={f"{STATE_METADATA_PREFIX}cart": text})
    )
    before = registry.snapshot()
    with pytest.raises(InvalidStateSchema) as raised:
        registry.register(V1, document)
    (problem,) = raised.value.problems
    assert problem.path == path
    assert problem.message.startswith("the schema of state key 'cart' is not")
    assert reason in problem.message
    assert registry.snapshot() == before


NOT_JSON_SCHEMAS = [
    pytest.param({"maximum": math.nan}, "['cart'].maximum", "nan is not", id="nan"),
    pytest.param({"enum": {1, 2}}, "['cart'].enum", "(set) is not", id="a-set"),
    pytest.param({"properties": {1: {}}}, "['cart'].properties", "the key 1", id="an-int-key"),
    pytest.param(
        {"properties": {10**5000: {}}},
        "['cart'].properties",
        "the key an integer of 16610 bits",
        id="a-5001-digit-key",
    ),
    pytest.param(
        deep_value(3000), "['cart']" + "[0]" * 127, "nested deeper than 127", id="3000-levels"
    ),
]


@pytest.mark.parametrize(("schema", "path", "reason"), NOT_JSON_SCHEMAS)
def test_state_metadata_refuses_schemas_that_are_not_json_values(
    schema: Any, path: str, reason: str
) -> None:
    """``state_metadata`` raises :class:`InvalidStateSchema` at the path of the offending
    value inside the schema, not a ``ValueError`` or ``RecursionError``."""
    with pytest.raises(InvalidStateSchema) as raised:
        state_metadata({"cart": schema})
    (problem,) = raised.value.problems
    assert problem.path == path
    assert "is not made of JSON values" in problem.message
    assert reason in problem.message


@pytest.mark.parametrize("schemas", [[1, 2], {7: {}}, {"": {}}, {"cart": 3}])
def test_state_metadata_refuses_what_is_not_a_mapping_of_keys_to_schemas(schemas: Any) -> None:
    """Not a mapping, a key that is not a non-empty string, a schema that is not a JSON
    Schema: each is an :class:`InvalidStateSchema`."""
    with pytest.raises(InvalidStateSchema):
        state_metadata(schemas)


@pytest.mark.parametrize(("schema", "path", "reason"), NOT_JSON_SCHEMAS)
def test_state_given_to_register_must_be_json_values(
    schema: Any, path: str, reason: str, registry: Registry
) -> None:
    """A schema given through ``register(state=...)`` is checked the same way, at its path,
    and the registry is left as it was."""
    document = manifest(service("Cart", "VIRTUAL_OBJECT"))
    before = registry.snapshot()
    with pytest.raises(InvalidStateSchema) as raised:
        registry.register(V1, document, state={"Cart": {"cart": schema}})
    (problem,) = raised.value.problems
    assert problem.path == "state['Cart']" + path
    assert reason in problem.message
    assert registry.snapshot() == before


@pytest.mark.parametrize("key", [7, 10**5000, None], ids=["int", "an-int-of-5001-digits", "none"])
def test_a_state_key_that_is_not_a_string_is_refused_whatever_it_is(
    key: Any, registry: Registry
) -> None:
    """A key that is not a string, even an integer too long to print, is an
    :class:`InvalidStateSchema` problem, through ``state_metadata`` and ``register``."""
    with pytest.raises(InvalidStateSchema, match="a state key is a non-empty string"):
        state_metadata({key: {}})
    document = manifest(service("Cart", "VIRTUAL_OBJECT"))
    with pytest.raises(InvalidStateSchema, match="a state key is a non-empty string"):
        registry.register(V1, document, state={"Cart": {key: {}}})
    assert registry.snapshot() == Registry().snapshot()


def test_a_message_spells_out_at_most_twenty_problems_and_keeps_them_all() -> None:
    """A manifest with thousands of problems keeps every one in ``problems``, and its message
    names the first twenty and how many more there are: a message stays a few kilobytes."""
    bad = [{"name": f"S{i}", "ty": "ACTOR", "handlers": []} for i in range(5000)]
    with pytest.raises(InvalidManifest) as raised:
        EndpointManifest.from_json(json.dumps(manifest(*bad)))
    assert len(raised.value.problems) == 5000
    assert raised.value.message.endswith("; and 4980 more")
    assert len(raised.value.message) < 10_000


def test_a_manifest_that_was_read_is_taken_as_it_is_and_one_built_by_hand_is_read_again() -> None:
    """``from_json`` marks what it made (``was_read``): registering it does not read it again,
    while a value built or changed by hand is read again through its JSON before it counts."""
    read = EndpointManifest.from_json(json.dumps(manifest(service("Greeter"))))
    assert read.was_read
    changed = attrs.evolve(read, min_protocol_version=5)
    assert not changed.was_read
    registry = Registry()
    assert registry.register(V1, read).deployment.manifest is read
    again = registry.register(V2, changed).deployment.manifest
    assert again is not changed
    assert again == changed
    assert again.was_read
