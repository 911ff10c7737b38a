"""Reading the endpoint manifest (the discovery answer): (docs/rules.md, "What makes a manifest
registrable") and (docs/rules.md, "Discovery").

    The full manifest JSON schema is ``endpoint_manifest_schema.json`` in the public repository
    restatedev/service-protocol: every field name it allows must be accepted, anything else
    rejected.

``EndpointManifest.from_json`` checks the *shape*: which fields exist, their JSON types and enum
values. Every problem is reported at once, each at its ``$.path``. Whether a well-shaped manifest
can be registered (names, reserved names, handler types, protocol range) is in
``test_manifest_rules.py``.

The field lists below are the server's own: restate-server 1.7.12 answered an unknown field with
"unknown field `foo`, expected one of ..." (transcript 4.c09, 4.c10, 4.c10b).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from restate_versioning import (
    EndpointManifest,
    HandlerManifest,
    HandlerType,
    InvalidManifest,
    Problem,
    ProtocolMode,
    ServiceManifest,
    ServiceType,
    VersioningError,
)

SDK_MANIFEST_PATH = Path(__file__).parent / "data" / "python-sdk-1.3.0-v4.json"


def tuple_arrays(value: Any) -> Any:
    """``value`` with every list a tuple."""
    if isinstance(value, dict):
        return {k: tuple_arrays(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(tuple_arrays(v) for v in value)
    return value


def sdk_manifest() -> dict[str, Any]:
    """What restate-sdk 1.3.0 (Python) answers to discovery: Greeter (a Service), TicketObject
    (a Virtual Object) and Signup (a Workflow)."""
    document: dict[str, Any] = json.loads(SDK_MANIFEST_PATH.read_text())
    return document


def minimal(**top: Any) -> dict[str, Any]:
    """A small valid manifest: one Service ``Greeter`` with one handler ``greet``."""
    document: dict[str, Any] = {
        "protocolMode": "REQUEST_RESPONSE",
        "minProtocolVersion": 5,
        "maxProtocolVersion": 7,
        "services": [{"name": "Greeter", "ty": "SERVICE", "handlers": [{"name": "greet"}]}],
    }
    document.update(top)
    return document


def with_service(**fields: Any) -> dict[str, Any]:
    document = minimal()
    document["services"][0].update(fields)
    return document


def with_handler(**fields: Any) -> dict[str, Any]:
    document = minimal()
    document["services"][0]["handlers"][0].update(fields)
    return document


def problems_of(document: Any) -> list[Problem]:
    with pytest.raises(InvalidManifest) as info:
        EndpointManifest.from_json(document)
    return list(info.value.problems)


def paths_of(document: Any) -> list[str]:
    return [p.path for p in problems_of(document)]


# --- the real manifest ----------------------------------------------------------------------


def test_the_python_sdk_manifest_parses_into_frozen_values() -> None:
    """The manifest restate-sdk 1.3.0 really answers parses: three services, their types, their
    handlers and the handler types it declares."""
    manifest = EndpointManifest.from_json(sdk_manifest())
    assert manifest.protocol_mode is ProtocolMode.REQUEST_RESPONSE
    assert (manifest.min_protocol_version, manifest.max_protocol_version) == (5, 7)
    assert manifest.lambda_compression is None
    assert [(s.name, s.type) for s in manifest.services] == [
        ("Greeter", ServiceType.SERVICE),
        ("TicketObject", ServiceType.VIRTUAL_OBJECT),
        ("Signup", ServiceType.WORKFLOW),
    ]
    assert [(h.name, h.type) for h in manifest.service("Greeter").handlers] == [("greet", None)]
    assert [(h.name, h.type) for h in manifest.service("TicketObject").handlers] == [
        ("reserve", HandlerType.EXCLUSIVE),
        ("status", HandlerType.SHARED),
    ]
    assert [(h.name, h.type) for h in manifest.service("Signup").handlers] == [
        ("run", HandlerType.WORKFLOW),
        ("confirm", HandlerType.SHARED),
    ]
    greet = manifest.service("Greeter").handlers[0]
    assert greet.input is not None
    assert greet.input["jsonSchema"] == {"type": "string"}
    assert greet.output is not None
    assert greet.output["setContentTypeIfEmpty"] is False


def test_the_python_sdk_manifest_round_trips_exactly() -> None:
    """``EndpointManifest.from_json(doc).to_json() == doc``: fields the model does not interpret
    are kept as they were sent."""
    document = sdk_manifest()
    original = copy.deepcopy(document)
    manifest = EndpointManifest.from_json(document)
    assert manifest.to_json() == original
    assert document == original  # reading does not modify the input
    assert EndpointManifest.from_json(manifest.to_json()) == manifest
    assert json.loads(json.dumps(manifest.to_json())) == original


def test_a_manifest_is_a_frozen_hashable_value() -> None:
    """Values are frozen: a manifest cannot be changed after it is made, and it hashes."""
    manifest = EndpointManifest.from_json(sdk_manifest())
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        manifest.min_protocol_version = 1  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        manifest.services[0].name = "Other"  # type: ignore[misc]
    assert hash(manifest) == hash(EndpointManifest.from_json(sdk_manifest()))
    assert isinstance(manifest.services, tuple)
    assert isinstance(manifest.services[0].handlers, tuple)


def test_service_looks_a_service_up_by_name() -> None:
    """``manifest.service(name)`` gives the service, ``KeyError`` if there is none."""
    manifest = EndpointManifest.from_json(sdk_manifest())
    assert manifest.service("Signup").type is ServiceType.WORKFLOW
    with pytest.raises(KeyError):
        manifest.service("Nope")


@pytest.mark.parametrize(
    "as_input",
    [
        pytest.param(lambda d: d, id="dict"),
        pytest.param(lambda d: MappingProxyType(d), id="mapping"),
        pytest.param(json.dumps, id="str"),
        pytest.param(lambda d: json.dumps(d, indent=2), id="str-indented"),
        pytest.param(lambda d: json.dumps(d).encode(), id="bytes"),
        pytest.param(lambda d: bytearray(json.dumps(d).encode()), id="bytearray"),
        pytest.param(lambda d: tuple_arrays(d), id="mapping-with-tuples"),
    ],
)
def test_from_json_takes_a_str_bytes_or_a_mapping(as_input: Any) -> None:
    """The discovery answer can be given as text, as UTF-8 bytes or already decoded (arrays as
    lists or tuples); all give the same manifest."""
    expected = EndpointManifest.from_json(sdk_manifest())
    assert EndpointManifest.from_json(as_input(sdk_manifest())) == expected


def test_values_can_be_built_directly() -> None:
    """The manifest classes are plain attrs values; built by hand they equal the parsed ones."""
    built = EndpointManifest(
        protocol_mode=ProtocolMode.REQUEST_RESPONSE,
        min_protocol_version=5,
        max_protocol_version=7,
        services=[ServiceManifest(name="Greeter", type=ServiceType.SERVICE, handlers=[])],
    )
    parsed = EndpointManifest.from_json(
        minimal(services=[{"name": "Greeter", "ty": "SERVICE", "handlers": []}])
    )
    assert built == parsed
    assert built.to_json() == minimal(
        services=[{"name": "Greeter", "ty": "SERVICE", "handlers": []}]
    )
    assert HandlerManifest(name="greet").type is None


# --- malformed documents --------------------------------------------------------------------

MALFORMED_JSON: list[str | bytes] = [
    "",
    "{",
    "{'protocolMode': 'BIDI_STREAM'}",
    '{"services": [}',
    "nope",
    b'{"services": []',
]


@pytest.mark.parametrize("text", MALFORMED_JSON)
def test_malformed_json_is_one_problem_at_the_root_quoting_the_input(text: str | bytes) -> None:
    """Text that is not JSON is one problem at ``$`` with no Restate code (the server answered
    "received a bad response from the SDK that cannot be decoded", ``restate_code: null``)."""
    with pytest.raises(InvalidManifest) as info:
        EndpointManifest.from_json(text)
    error = info.value
    assert [p.path for p in error.problems] == ["$"]
    assert "malformed JSON" in error.problems[0].message
    assert repr(text[:80]) in str(error)
    assert error.code is None
    assert isinstance(error, ValueError)
    assert isinstance(error, VersioningError)


@pytest.mark.parametrize(
    ("text", "kind"),
    [("[]", "array"), ("null", "null"), ("1", "number"), ('"x"', "string"), ("true", "boolean")],
)
def test_a_manifest_is_a_json_object(text: str, kind: str) -> None:
    """A document that is JSON but not an object is one problem at ``$``."""
    problems = problems_of(text)
    assert [p.path for p in problems] == ["$"]
    assert f"expected an object, got {kind}" in problems[0].message


def test_an_empty_object_misses_every_required_field() -> None:
    """``minProtocolVersion``, ``maxProtocolVersion`` and ``services`` are required; each
    missing one is its own problem."""
    problems = problems_of("{}")
    assert [(p.path, p.message) for p in problems] == [
        ("$.minProtocolVersion", "missing field 'minProtocolVersion'"),
        ("$.maxProtocolVersion", "missing field 'maxProtocolVersion'"),
        ("$.services", "missing field 'services'"),
    ]
    assert all(p.code is None for p in problems)


@pytest.mark.parametrize(
    ("document", "path"),
    [
        (with_service(name=None), "$.services[0].name"),
        ({"minProtocolVersion": 5, "maxProtocolVersion": 7, "services": [{}]}, "$.services[0]"),
        (minimal(services=[{"ty": "SERVICE", "handlers": []}]), "$.services[0].name"),
        (minimal(services=[{"name": "S", "handlers": []}]), "$.services[0].ty"),
        (with_handler(name=None), "$.services[0].handlers[0].name"),
        (minimal(services=[{"name": "S", "ty": "SERVICE", "handlers": [{}]}]), "$.services[0]"),
    ],
)
def test_required_fields_of_services_and_handlers_are_required(
    document: dict[str, Any], path: str
) -> None:
    """A service needs ``name`` and ``ty`` (``handlers`` may be empty, observed 4.c17); a
    handler needs ``name``."""
    assert any(p.startswith(path) for p in paths_of(document))


def test_protocol_mode_may_be_left_out_when_reading() -> None:
    """``protocolMode`` is optional in the schema, so the manifest reads with ``protocol_mode``
    ``None``; registering it fails (META0013 "missing protocol mode", see the rules tests)."""
    document = minimal()
    del document["protocolMode"]
    manifest = EndpointManifest.from_json(document)
    assert manifest.protocol_mode is None
    assert manifest.to_json() == document


# --- which fields exist ---------------------------------------------------------------------

#: "unknown field `foo`, expected one of ..." (transcript 4.c09), verbatim.
SERVER_ENDPOINT_FIELDS = (
    "`lambdaCompression`, `maxProtocolVersion`, `minProtocolVersion`, `protocolMode`, `services`"
)
#: "unknown field `bogusField`, expected one of ..." for a service (4.c10b), verbatim.
SERVER_SERVICE_FIELDS = (
    "`abortTimeout`, `documentation`, `enableLazyState`, `handlers`, `idempotencyRetention`, "
    "`inactivityTimeout`, `ingressPrivate`, `journalRetention`, `metadata`, `name`, "
    "`retryPolicyExponentiationFactor`, `retryPolicyInitialInterval`, `retryPolicyMaxAttempts`, "
    "`retryPolicyMaxInterval`, `retryPolicyOnMaxAttempts`, `ty`"
)
#: ... and for a handler (4.c10), verbatim.
SERVER_HANDLER_FIELDS = (
    "`abortTimeout`, `documentation`, `enableLazyState`, `idempotencyRetention`, "
    "`inactivityTimeout`, `ingressPrivate`, `input`, `journalRetention`, `metadata`, `name`, "
    "`output`, `retryPolicyExponentiationFactor`, `retryPolicyInitialInterval`, "
    "`retryPolicyMaxAttempts`, `retryPolicyMaxInterval`, `retryPolicyOnMaxAttempts`, `ty`, "
    "`workflowCompletionRetention`"
)


def fields(server_list: str) -> list[str]:
    return [name.strip(" `") for name in server_list.split(",")]


#: A value of the right type for every field the server knows.
VALID_VALUES: dict[str, Any] = {
    "abortTimeout": 600000,
    "documentation": "Says hello",
    "enableLazyState": True,
    "idempotencyRetention": 86400000,
    "inactivityTimeout": 60000,
    "ingressPrivate": False,
    "journalRetention": 0,
    "metadata": {"team": "greeters"},
    "retryPolicyExponentiationFactor": 2.0,
    "retryPolicyInitialInterval": 500,
    "retryPolicyMaxAttempts": 70,
    "retryPolicyMaxInterval": 60000,
    "retryPolicyOnMaxAttempts": "PAUSE",
    "workflowCompletionRetention": 86400000,
    "input": {"required": False, "contentType": "application/json", "jsonSchema": True},
    "output": {"contentType": "application/json", "setContentTypeIfEmpty": False},
    "protocolMode": "BIDI_STREAM",
    "lambdaCompression": "zstd",
}
#: Fields every level has already (set by ``minimal``).
PRESENT = {"name", "ty", "handlers", "services", "minProtocolVersion", "maxProtocolVersion"}


@pytest.mark.parametrize("field", [f for f in fields(SERVER_SERVICE_FIELDS) if f not in PRESENT])
def test_every_service_field_the_server_knows_is_accepted(field: str) -> None:
    """Every field name the server lists for a service is read, and written back unchanged."""
    document = with_service(**{field: VALID_VALUES[field]})
    assert EndpointManifest.from_json(document).to_json() == document


@pytest.mark.parametrize("field", [f for f in fields(SERVER_HANDLER_FIELDS) if f not in PRESENT])
def test_every_handler_field_the_server_knows_is_accepted(field: str) -> None:
    """Every field name the server lists for a handler is read, and written back unchanged."""
    document = with_handler(**{field: VALID_VALUES[field]})
    assert EndpointManifest.from_json(document).to_json() == document


@pytest.mark.parametrize("field", [f for f in fields(SERVER_ENDPOINT_FIELDS) if f not in PRESENT])
def test_every_endpoint_field_the_server_knows_is_accepted(field: str) -> None:
    """Every top-level field name the server lists is read, and written back unchanged; this
    includes ``lambdaCompression`` (whose only value is ``"zstd"``)."""
    document = minimal(**{field: VALID_VALUES[field]})
    assert EndpointManifest.from_json(document).to_json() == document


def test_a_manifest_with_every_field_round_trips() -> None:
    """All optional fields at once, on a Workflow, read and written back unchanged."""
    handler_fields = {
        f: VALID_VALUES[f] for f in fields(SERVER_HANDLER_FIELDS) if f in VALID_VALUES
    }
    service_fields = {
        f: VALID_VALUES[f] for f in fields(SERVER_SERVICE_FIELDS) if f in VALID_VALUES
    }
    document = minimal(
        services=[
            {
                "name": "Signup",
                "ty": "WORKFLOW",
                "handlers": [{"name": "run", "ty": "WORKFLOW", **handler_fields}],
                **service_fields,
            }
        ]
    )
    assert EndpointManifest.from_json(document).to_json() == document


UNKNOWN_FIELDS = [
    # the server's own cases
    (minimal(foo=1), "$.foo", "foo"),  # 4.c09
    (with_handler(bogusField=True), "$.services[0].handlers[0].bogusField", "bogusField"),  # 4.c10
    (with_service(bogusField=True), "$.services[0].bogusField", "bogusField"),  # 4.c10b
    # a field of one level is unknown at another
    (with_service(input={}), "$.services[0].input", "input"),
    (with_service(output={}), "$.services[0].output", "output"),
    (with_service(workflowCompletionRetention=1), "$.services[0].workflowCompletionRetention", ""),
    (with_handler(handlers=[]), "$.services[0].handlers[0].handlers", "handlers"),
    (minimal(name="Greeter"), "$.name", "name"),
    (minimal(ty="SERVICE"), "$.ty", "ty"),
    (minimal(documentation="x"), "$.documentation", "documentation"),
    # payloads
    (with_handler(input={"schema": {}}), "$.services[0].handlers[0].input.schema", "schema"),
    (
        with_handler(input={"setContentTypeIfEmpty": True}),
        "$.services[0].handlers[0].input.setContentTypeIfEmpty",
        "setContentTypeIfEmpty",
    ),
    (
        with_handler(output={"required": True}),
        "$.services[0].handlers[0].output.required",
        "required",
    ),
    # names are case-sensitive
    (minimal(ProtocolMode="BIDI_STREAM"), "$.ProtocolMode", "ProtocolMode"),
    (with_service(Ty="SERVICE"), "$.services[0].Ty", "Ty"),
    (with_handler(ingress_private=True), "$.services[0].handlers[0].ingress_private", ""),
]


@pytest.mark.parametrize(
    ("document", "path", "field"), UNKNOWN_FIELDS, ids=[path for _, path, _ in UNKNOWN_FIELDS]
)
def test_an_unknown_field_is_refused_at_every_level(
    document: dict[str, Any], path: str, field: str
) -> None:
    """(docs/rules.md, "What makes a manifest registrable"): a field the schema does not allow
    is refused at the top, in services, in handlers and in handler payloads, each at its path,
    with no Restate code (the server:
    "unknown field `bogusField`, expected one of ...", ``restate_code: null``)."""
    problems = problems_of(document)
    assert [p.path for p in problems] == [path]
    assert problems[0].message == f"unknown field {path.rsplit('.', 1)[1]!r}"
    assert field in problems[0].message
    assert problems[0].code is None


# --- types and enums ------------------------------------------------------------------------

BAD_VALUES = [
    # protocol
    (
        minimal(protocolMode="BIDI"),
        "$.protocolMode",
        "expected one of BIDI_STREAM, REQUEST_RESPONSE",
    ),
    (minimal(protocolMode="bidi_stream"), "$.protocolMode", "got 'bidi_stream'"),
    (minimal(minProtocolVersion=0), "$.minProtocolVersion", "expected an integer from 1"),
    (minimal(minProtocolVersion=-5), "$.minProtocolVersion", "got -5"),
    (minimal(minProtocolVersion=5.0), "$.minProtocolVersion", "got 5.0"),
    (minimal(minProtocolVersion="5"), "$.minProtocolVersion", "got '5'"),
    (minimal(minProtocolVersion=True), "$.minProtocolVersion", "got True"),
    (minimal(maxProtocolVersion=None), "$.maxProtocolVersion", "got None"),
    (minimal(maxProtocolVersion=2**64), "$.maxProtocolVersion", "to 18446744073709551615"),
    (minimal(lambdaCompression="gzip"), "$.lambdaCompression", "'gzip'"),
    (minimal(services={}), "$.services", "expected an array"),
    (minimal(services=None), "$.services", "expected an array, got None"),
    (minimal(services=["Greeter"]), "$.services[0]", "expected an object, got string"),
    # services
    (with_service(name=1), "$.services[0].name", "expected a string, got 1"),
    (with_service(ty="ACTOR"), "$.services[0].ty", "got 'ACTOR'"),  # 4.c18
    (with_service(ty="Service"), "$.services[0].ty", "VIRTUAL_OBJECT"),
    (with_service(ty="VirtualObject"), "$.services[0].ty", "got 'VirtualObject'"),
    (with_service(handlers={}), "$.services[0].handlers", "expected an array"),
    (with_service(handlers=None), "$.services[0].handlers", "expected an array, got None"),
    (with_service(handlers=["greet"]), "$.services[0].handlers[0]", "expected an object"),
    (with_service(ingressPrivate="yes"), "$.services[0].ingressPrivate", "expected a boolean"),
    (with_service(documentation=3), "$.services[0].documentation", "expected a string"),
    (with_service(metadata=[]), "$.services[0].metadata", "expected an object of strings"),
    (with_service(metadata={"a": 1}), "$.services[0].metadata", "'a' is 1"),
    (with_service(inactivityTimeout=-1), "$.services[0].inactivityTimeout", "non-negative"),
    (with_service(abortTimeout="10m"), "$.services[0].abortTimeout", "got '10m'"),
    (with_service(journalRetention=1.5), "$.services[0].journalRetention", "got 1.5"),
    (with_service(enableLazyState=1), "$.services[0].enableLazyState", "expected a boolean"),
    (with_service(retryPolicyMaxAttempts=True), "$.services[0].retryPolicyMaxAttempts", "True"),
    (
        with_service(retryPolicyExponentiationFactor="2"),
        "$.services[0].retryPolicyExponentiationFactor",
        "expected a number",
    ),
    (
        with_service(retryPolicyOnMaxAttempts="RETRY"),
        "$.services[0].retryPolicyOnMaxAttempts",
        "PAUSE|KILL",
    ),
    # handlers
    (with_handler(name=["greet"]), "$.services[0].handlers[0].name", "expected a string"),
    (with_handler(ty="exclusive"), "$.services[0].handlers[0].ty", "got 'exclusive'"),
    (with_handler(ty="ACTOR"), "$.services[0].handlers[0].ty", "EXCLUSIVE, SHARED, WORKFLOW"),
    (with_handler(input=[]), "$.services[0].handlers[0].input", "expected an object"),
    (with_handler(input={"required": "no"}), "$.services[0].handlers[0].input.required", "no"),
    (
        with_handler(output={"contentType": 1}),
        "$.services[0].handlers[0].output.contentType",
        "expected a string",
    ),
    (
        with_handler(workflowCompletionRetention=-1),
        "$.services[0].handlers[0].workflowCompletionRetention",
        "non-negative integer",
    ),
]


@pytest.mark.parametrize(
    ("document", "path", "fragment"),
    BAD_VALUES,
    ids=[f"{path}:{fragment}" for _, path, fragment in BAD_VALUES],
)
def test_a_value_of_the_wrong_type_is_refused_at_its_path(
    document: dict[str, Any], path: str, fragment: str
) -> None:
    """Types and enum values follow the schema; a wrong one is a problem at its path that
    quotes the value (the server answered "unknown variant `ACTOR`, expected one of
    `VIRTUAL_OBJECT`, `SERVICE`, `WORKFLOW`", ``restate_code: null``, in 4.c18)."""
    problems = problems_of(document)
    assert [p.path for p in problems] == [path]
    assert fragment in problems[0].message
    assert problems[0].code is None


GOOD_VALUES = [
    pytest.param(minimal(minProtocolVersion=1, maxProtocolVersion=1), id="protocol-1-1"),
    # 4.c07b: accepted by the server
    pytest.param(minimal(minProtocolVersion=6, maxProtocolVersion=99), id="protocol-6-99"),
    pytest.param(minimal(minProtocolVersion=2**31 - 1, maxProtocolVersion=2**31 - 1), id="i32-max"),
    pytest.param(minimal(services=[]), id="no-services"),  # 4.c16
    pytest.param(with_service(handlers=[]), id="no-handlers"),  # 4.c17
    pytest.param(with_service(metadata={}), id="empty-service-metadata"),
    pytest.param(with_handler(metadata={}), id="empty-handler-metadata"),
    pytest.param(with_service(retryPolicyExponentiationFactor=2), id="integer-factor"),
    pytest.param(with_service(retryPolicyOnMaxAttempts="KILL"), id="kill"),
    # a refused combination, but well-shaped: refused at registration
    pytest.param(with_handler(ty="WORKFLOW"), id="service-handler-workflow"),
    pytest.param(with_handler(input={}), id="empty-input"),
    pytest.param(with_handler(output={}), id="empty-output"),
    pytest.param(
        with_handler(
            input={"jsonSchema": {"type": "object", "required": ["a"], "x": [1, {"y": None}]}}
        ),
        id="nested-json-schema",
    ),
    pytest.param(with_handler(output={"jsonSchema": False}), id="boolean-json-schema"),
    pytest.param(with_handler(documentation=""), id="empty-documentation"),
    # names are checked at registration
    pytest.param(with_service(name="", handlers=[{"name": ""}]), id="empty-names"),
]


@pytest.mark.parametrize("document", GOOD_VALUES)
def test_well_shaped_values_are_read_and_written_back_unchanged(document: dict[str, Any]) -> None:
    """Every well-shaped manifest reads, and ``to_json`` gives back exactly what was read."""
    assert EndpointManifest.from_json(document).to_json() == document


# --- every problem at once ------------------------------------------------------------------


def test_every_problem_is_reported_at_once_with_its_path() -> None:
    """Manifest validation reports every problem at once (a manifest with three problems yields
    three problems), in document order, each at its ``$.path``."""
    document = minimal(minProtocolVersion="five")
    document["services"][0]["ty"] = "ACTOR"
    document["services"][0]["handlers"][0]["bogus"] = 1
    with pytest.raises(InvalidManifest) as info:
        EndpointManifest.from_json(document)
    error = info.value
    assert [p.path for p in error.problems] == [
        "$.minProtocolVersion",
        "$.services[0].ty",
        "$.services[0].handlers[0].bogus",
    ]
    assert str(error).startswith("invalid endpoint manifest (3 problems): ")
    for problem in error.problems:
        assert f"{problem.message} @ {problem.path}" in str(error)
    assert error.code is None


def test_problems_in_several_services_and_handlers_are_all_reported() -> None:
    """Problems anywhere in the document are collected: two services, three handlers."""
    document = minimal(
        services=[
            {"name": "A", "ty": "SERVICE", "handlers": [{"name": "a", "ty": "X"}, {"nam": "b"}]},
            {"name": 2, "ty": "WORKFLOW", "handlers": [{"name": "run", "input": {"x": 1}}]},
        ]
    )
    assert paths_of(document) == [
        "$.services[0].handlers[0].ty",
        "$.services[0].handlers[1].nam",
        "$.services[0].handlers[1].name",
        "$.services[1].name",
        "$.services[1].handlers[0].input.x",
    ]


def test_one_problem_reads_in_the_singular() -> None:
    """The message counts the problems: "(1 problem)"."""
    with pytest.raises(InvalidManifest, match=r"^invalid endpoint manifest \(1 problem\): "):
        EndpointManifest.from_json(minimal(foo=1))


# --- properties -----------------------------------------------------------------------------

names = st.text(alphabet="abcXYZ_09.-", min_size=0, max_size=6)
texts = st.text(max_size=5)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
options = st.fixed_dictionaries(
    {},
    optional={
        "documentation": texts,
        "ingressPrivate": st.booleans(),
        "metadata": st.dictionaries(texts, texts, min_size=1, max_size=2),
        "inactivityTimeout": st.integers(0, 10**9),
        "abortTimeout": st.integers(0, 10**9),
        "journalRetention": st.integers(0, 10**9),
        "idempotencyRetention": st.integers(0, 10**9),
        "enableLazyState": st.booleans(),
        "retryPolicyInitialInterval": st.integers(0, 10**6),
        "retryPolicyMaxInterval": st.integers(0, 10**6),
        "retryPolicyMaxAttempts": st.integers(0, 100),
        "retryPolicyExponentiationFactor": st.floats(0, 10) | st.integers(0, 10),
        "retryPolicyOnMaxAttempts": st.sampled_from(["PAUSE", "KILL"]),
    },
)
payloads = st.fixed_dictionaries(
    {},
    optional={
        "input": st.fixed_dictionaries(
            {},
            optional={"required": st.booleans(), "contentType": texts, "jsonSchema": json_values},
        ),
        "output": st.fixed_dictionaries(
            {},
            optional={
                "setContentTypeIfEmpty": st.booleans(),
                "contentType": texts,
                "jsonSchema": json_values,
            },
        ),
        "workflowCompletionRetention": st.integers(0, 10**9),
    },
)
handler_types = st.sampled_from([None, "EXCLUSIVE", "SHARED", "WORKFLOW"])
handlers = st.builds(
    lambda name, ty, opts, extra: {"name": name, **({"ty": ty} if ty else {}), **opts, **extra},
    names,
    handler_types,
    options,
    payloads,
)
services = st.builds(
    lambda name, ty, hs, opts: {"name": name, "ty": ty, "handlers": hs, **opts},
    names,
    st.sampled_from(["SERVICE", "VIRTUAL_OBJECT", "WORKFLOW"]),
    st.lists(handlers, max_size=3),
    options,
)
manifests = st.builds(
    lambda mode, low, high, ss: {
        **({"protocolMode": mode} if mode else {}),
        "minProtocolVersion": low,
        "maxProtocolVersion": high,
        "services": ss,
    },
    st.sampled_from([None, "BIDI_STREAM", "REQUEST_RESPONSE"]),
    st.integers(1, 2**31 - 1),
    st.integers(1, 2**31 - 1),
    st.lists(services, max_size=3),
)


@given(manifests)
def test_any_well_shaped_manifest_round_trips_exactly(document: dict[str, Any]) -> None:
    """For any document the schema allows, ``from_json(doc).to_json() == doc``, and reading the
    JSON text gives the same value as reading the object."""
    manifest = EndpointManifest.from_json(document)
    assert manifest.to_json() == document
    assert EndpointManifest.from_json(json.dumps(document)) == manifest
    assert EndpointManifest.from_json(manifest.to_json()) == manifest


@given(manifests, st.sampled_from(["bogus", "Name", "services_", "x-restate"]))
def test_any_unknown_service_field_is_refused(document: dict[str, Any], field: str) -> None:
    """Adding any field the schema does not know, to any service, is a problem at its path."""
    if not document["services"]:
        document["services"].append({"name": "S", "ty": "SERVICE", "handlers": []})
    document["services"][-1][field] = 1
    index = len(document["services"]) - 1
    assert f"$.services[{index}].{field}" in paths_of(document)


# --- null ----------------------------------------------------------------------------------

OPTIONAL_NULLS = [
    pytest.param(with_service(documentation=None), id="service documentation"),
    pytest.param(with_service(ingressPrivate=None), id="service ingressPrivate"),
    pytest.param(with_service(inactivityTimeout=None), id="service option"),
    pytest.param(with_handler(ty=None), id="handler ty"),
    pytest.param(with_handler(ingressPrivate=None), id="handler ingressPrivate"),
    pytest.param(with_handler(input=None), id="handler input"),
    pytest.param(with_handler(output=None), id="handler output"),
    pytest.param(minimal(lambdaCompression=None), id="lambdaCompression"),
]


@pytest.mark.parametrize("document", OPTIONAL_NULLS)
def test_null_in_an_optional_field_reads_as_absent(document: dict[str, Any]) -> None:
    """Seen on restate-server 1.7.12: a null ``documentation``, handler ``ty``,
    ``lambdaCompression``, ``ingressPrivate`` or ``input`` registered (201) as if the field had
    been left out (a null ``ty`` of a Virtual Object handler became Exclusive)."""
    assert EndpointManifest.from_json(document) == EndpointManifest.from_json(minimal())


def test_a_null_protocol_mode_is_a_missing_protocol_mode() -> None:
    """Seen: ``"protocolMode": null`` answered 500 META0013 "missing protocol mode"."""
    manifest = EndpointManifest.from_json(minimal(protocolMode=None))
    assert manifest.protocol_mode is None


@pytest.mark.parametrize(
    ("document", "path"),
    [
        (with_service(metadata=None), "$.services[0].metadata"),
        (with_service(ty=None), "$.services[0].ty"),
        (with_handler(name=None), "$.services[0].handlers[0].name"),
    ],
)
def test_null_in_a_required_field_or_metadata_is_refused(
    document: dict[str, Any], path: str
) -> None:
    """Seen: a null service ``metadata`` or ``ty`` could not be decoded (500, no code)."""
    assert paths_of(document) == [path]
