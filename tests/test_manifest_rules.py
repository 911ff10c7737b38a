"""What makes a well-shaped manifest registrable (docs/rules.md, "What makes a manifest
registrable").

    Manifest validation (400): service names matching ``^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9._-]*$``,
    handler names ``^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9_]*$``; reserved names (lower-case name
    starts with ``restate``, or equals ``openapi``) fail with META0005; handler types per service
    type; protocol range must satisfy ``min <= max`` and overlap the supported [5, 7], else
    META0012; ``protocolMode`` is required; BIDI_STREAM over Lambda is rejected (META0015).

restate-server 1.7.12 reports only the first problem, checking in this order: decoding (names
against their patterns), then protocol mode and version range, then reserved names, then one pass
over the services in manifest order (handler types, and the service type against the previous
revision). :class:`InvalidManifest` lists *every* problem in that order; its ``code`` is the first
problem's code. Every case the server was asked is replayed at the end of this file from
``tests/data/restate-1.7.12-manifest-cases.json`` (transcript section 4).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from restate_versioning import (
    EndpointManifest,
    HandlerType,
    InvalidManifest,
    Outcome,
    Problem,
    Registration,
    Registry,
    SequentialIds,
    ServiceType,
    ServiceTypeChanged,
    VersioningError,
    parse_endpoint,
)
from restate_versioning.manifest import DURATION_OPTIONS, MAX_DURATION_MILLIS
from restate_versioning.rules.manifest import (
    HANDLER_NAME,
    HANDLER_TYPES,
    SERVICE_NAME,
    SUPPORTED_PROTOCOL_VERSIONS,
    effective_handler_type,
    is_reserved_service_name,
    manifest_problems,
)

DATA = Path(__file__).parent / "data"
SDK_MANIFEST_PATH = DATA / "python-sdk-1.3.0-v4.json"
HTTP = parse_endpoint("http://127.0.0.1:9090/case")
LAMBDA = parse_endpoint("arn:aws:lambda:eu-central-1:123456789012:function:greeter:1")

#: The patterns as the rules state them; matched here with ``re.fullmatch``, as the server's
#: regex engine does (``$`` is the end of the text).
SERVICE_PATTERN = r"^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9._-]*$"
HANDLER_PATTERN = r"^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9_]*$"


def handler(name: str = "greet", ty: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, **({"ty": ty} if ty else {}), **extra}


def service(
    name: str = "Greeter", ty: str = "SERVICE", *handlers: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {"name": name, "ty": ty, "handlers": list(handlers or [handler()]), **extra}


def document(
    *services: dict[str, Any], mode: str | None = "REQUEST_RESPONSE", low: int = 5, high: int = 7
) -> dict[str, Any]:
    out: dict[str, Any] = {} if mode is None else {"protocolMode": mode}
    out |= {"minProtocolVersion": low, "maxProtocolVersion": high, "services": list(services)}
    return out


def problems(doc: dict[str, Any], endpoint: str = "http://127.0.0.1:9090/case") -> list[Problem]:
    """``manifest_problems`` of a discovery document."""
    return manifest_problems(EndpointManifest.from_json(doc), parse_endpoint(endpoint))


def new_registry() -> Registry:
    return Registry(clock=lambda: datetime(2026, 11, 26, 5, 45, tzinfo=UTC), ids=SequentialIds())


def refused(doc: dict[str, Any] | str, registry: Registry | None = None) -> InvalidManifest:
    """Register ``doc`` at a new endpoint: it must raise InvalidManifest and change nothing."""
    registry = registry if registry is not None else new_registry()
    before = registry.snapshot()
    with pytest.raises(InvalidManifest) as info:
        registry.register("http://127.0.0.1:9090/case", doc)
    assert registry.snapshot() == before
    return info.value


def sdk_manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SDK_MANIFEST_PATH.read_text())
    return loaded


# --- names ------------------------------------------------------------------------------------

GOOD_SERVICE_NAMES = [
    "Greeter",
    "my.pkg.Svc",  # observed 4.c02b: 201
    "bad-svc",  # observed 4.c02c: 201
    "_svc",  # observed 4.c02d: 201
    "a",
    "Z",
    "_0",
    "_a.b-c_d",
    "dev.restate.Greeter",
    "x1-2.3_4",
    "Openapi_v1",
    "openapi2",
    "myrestate",
]
BAD_SERVICE_NAMES = [
    "1bad",  # observed 4.c02: 500, restate_code null
    "",  # observed 4.c02e: 500, restate_code null
    "_",
    "__",
    "_-a",
    "-a",
    ".a",
    "a b",
    "a/b",
    "a:b",
    "Grüße",
    "Greeter\n",
    "\nGreeter",
    "Greeter ",
]
GOOD_HANDLER_NAMES = ["greet", "restateX", "_a", "a_b", "A9", "_0_", "run"]
BAD_HANDLER_NAMES = [
    "bad-name",  # observed 4.c03: 500, restate_code null
    "1bad",  # observed 4.c03b: 500, restate_code null
    "",
    "_",
    "a.b",
    "a-b",
    "a b",
    "greet\n",
    "grüßen",
]


@pytest.mark.parametrize("name", GOOD_SERVICE_NAMES)
def test_a_service_name_matching_the_pattern_is_accepted(name: str) -> None:
    """Service names match ``^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9._-]*$``: dots and dashes are
    fine (``my.pkg.Svc``, ``bad-svc`` and ``_svc`` registered on the server)."""
    assert problems(document(service(name))) == []
    registration = new_registry().register("http://127.0.0.1:9090/case", document(service(name)))
    assert list(registration.deployment.services) == [name]


@pytest.mark.parametrize("name", BAD_SERVICE_NAMES)
def test_a_service_name_not_matching_the_pattern_is_refused(name: str) -> None:
    """The server: "received a bad response from the SDK that cannot be decoded: doesn't match
    pattern "^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9._-]*$" ...", ``restate_code: null``."""
    found = problems(document(service(name)))
    assert [(p.path, p.code) for p in found] == [("$.services[0].name", None)]
    assert f"doesn't match pattern {SERVICE_PATTERN!r}" in found[0].message
    assert repr(name) in found[0].message
    error = refused(document(service(name)))
    assert error.code is None
    assert error.problems == tuple(found)


@pytest.mark.parametrize("name", GOOD_HANDLER_NAMES)
def test_a_handler_name_matching_the_pattern_is_accepted(name: str) -> None:
    """Handler names match ``^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9_]*$``; a handler may be called
    ``restateX`` (observed 4.c03c: 201)."""
    assert problems(document(service("Greeter", "SERVICE", handler(name)))) == []


@pytest.mark.parametrize("name", BAD_HANDLER_NAMES)
def test_a_handler_name_not_matching_the_pattern_is_refused(name: str) -> None:
    """The server: "... doesn't match pattern "^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9_]*$" ...",
    ``restate_code: null``: no dots or dashes in handler names."""
    doc = document(service("Greeter", "SERVICE", handler(name)))
    found = problems(doc)
    assert [(p.path, p.code) for p in found] == [("$.services[0].handlers[0].name", None)]
    assert f"doesn't match pattern {HANDLER_PATTERN!r}" in found[0].message
    assert refused(doc).code is None


def test_the_library_patterns_are_the_rules_patterns() -> None:
    """The compiled patterns are the ones the server prints in its messages."""
    assert SERVICE_NAME.pattern == SERVICE_PATTERN
    assert HANDLER_NAME.pattern == HANDLER_PATTERN


@given(st.from_regex(SERVICE_PATTERN.replace("$", r"\Z"), fullmatch=True))
def test_any_name_matching_the_service_pattern_is_a_valid_service_name(name: str) -> None:
    """Any name the service pattern matches registers (unless it is reserved)."""
    found = problems(document(service(name)))
    expected = ["META0005"] if is_reserved_service_name(name) else []
    assert [p.code for p in found] == expected


@given(st.from_regex(HANDLER_PATTERN.replace("$", r"\Z"), fullmatch=True))
def test_any_name_matching_the_handler_pattern_is_a_valid_handler_name(name: str) -> None:
    """Any name the handler pattern matches is a valid handler name."""
    assert problems(document(service("Greeter", "SERVICE", handler(name)))) == []


@example("Greeter\n")
@example("_\n")
@given(st.text(alphabet="aZ_09.-/ \n\tü", max_size=6))
def test_a_name_is_accepted_exactly_when_the_whole_name_matches(name: str) -> None:
    """The pattern must match the whole name: ``fullmatch``, with nothing after the ``$`` (no
    trailing newline, which Python's ``$`` would let through)."""
    doc = document(service(name, "SERVICE", handler(name)))
    paths = [p.path for p in problems(doc) if p.code is None]
    expected = []
    if not re.fullmatch(SERVICE_PATTERN.strip("^$"), name):
        expected.append("$.services[0].name")
    if not re.fullmatch(HANDLER_PATTERN.strip("^$"), name):
        expected.append("$.services[0].handlers[0].name")
    assert paths == expected


# --- reserved names ---------------------------------------------------------------------------

RESERVED = [
    "restateFoo",  # observed 4.c01
    "RestateFoo",  # observed 4.c01b
    "restate",  # observed 4.c01c
    "openapi",  # observed 4.c01d
    "RESTATE",
    "restate.admin",
    "Restate_x",
    "reSTATE-1",
    "OpenAPI",
    "OPENAPI",
]
NOT_RESERVED = ["Restat", "myrestate", "openapi2", "open_api", "_restate", "Greeter"]


@pytest.mark.parametrize("name", RESERVED)
def test_a_reserved_service_name_is_refused_with_meta0005(name: str) -> None:
    """The server (400): ``{"message":"[META0005] cannot insert/modify service 'restateFoo' as
    it contains a reserved name","restate_code":"META0005"}``; a lower-case name starting with
    ``restate``, or equal to ``openapi``, is reserved."""
    assert is_reserved_service_name(name)
    found = problems(document(service(name)))
    assert found == [
        Problem(
            "$.services[0].name",
            f"cannot insert/modify service '{name}' as it contains a reserved name",
            "META0005",
        )
    ]
    error = refused(document(service(name)))
    assert error.code == "META0005"
    assert str(error).startswith("invalid endpoint manifest (1 problem): [META0005] cannot")


@pytest.mark.parametrize("name", NOT_RESERVED)
def test_other_names_are_not_reserved(name: str) -> None:
    """Only the prefix ``restate`` and the exact name ``openapi`` are reserved."""
    assert not is_reserved_service_name(name)
    assert problems(document(service(name))) == []


@pytest.mark.parametrize("name", ["restateX", "restate", "openapi", "Restate_Handler"])
def test_handler_names_are_never_reserved(name: str) -> None:
    """Only service names are reserved: a handler ``restateX`` registered (observed 4.c03c)."""
    assert problems(document(service("Greeter", "SERVICE", handler(name)))) == []


def test_a_reserved_name_that_does_not_match_the_pattern_is_only_a_pattern_problem() -> None:
    """The server decodes (and checks the pattern) before it looks at reserved names, so a name
    like ``restate foo`` has one problem: the pattern."""
    found = problems(document(service("restate foo")))
    assert [(p.path, p.code) for p in found] == [("$.services[0].name", None)]
    assert "doesn't match pattern" in found[0].message


# --- handler types ----------------------------------------------------------------------------

HANDLER_TYPE_CASES: list[tuple[str, str | None, HandlerType | None, str]] = [
    ("SERVICE", None, HandlerType.SHARED, ""),
    ("SERVICE", "SHARED", HandlerType.SHARED, ""),  # observed 4.c05b: 201
    ("SERVICE", "EXCLUSIVE", None, "(Service, Some(Exclusive))"),  # observed 4.c05: 400
    ("SERVICE", "WORKFLOW", None, "(Service, Some(Workflow))"),
    ("VIRTUAL_OBJECT", None, HandlerType.EXCLUSIVE, ""),
    ("VIRTUAL_OBJECT", "EXCLUSIVE", HandlerType.EXCLUSIVE, ""),
    ("VIRTUAL_OBJECT", "SHARED", HandlerType.SHARED, ""),
    ("VIRTUAL_OBJECT", "WORKFLOW", None, "(VirtualObject, Some(Workflow))"),  # observed 4.c04
    ("WORKFLOW", None, HandlerType.SHARED, ""),  # observed 4.c15b: becomes Shared
    ("WORKFLOW", "SHARED", HandlerType.SHARED, ""),
    ("WORKFLOW", "WORKFLOW", HandlerType.WORKFLOW, ""),
    ("WORKFLOW", "EXCLUSIVE", None, "(Workflow, Some(Exclusive))"),
]


@pytest.mark.parametrize(("service_type", "declared", "effective", "pair"), HANDLER_TYPE_CASES)
def test_handler_types_per_service_type(
    service_type: str, declared: str | None, effective: HandlerType | None, pair: str
) -> None:
    """Service: none or SHARED; VirtualObject: none or EXCLUSIVE (exclusive), SHARED; Workflow:
    none or SHARED (shared), WORKFLOW. Anything else, the server (400, ``restate_code: null``):
    "invalid combination of service type and handler type '(VirtualObject, Some(Workflow))'"."""
    doc = document(service("S", service_type, handler("h", declared)))
    found = problems(doc)
    declared_type = HandlerType(declared) if declared else None
    if effective is None:
        assert found == [
            Problem(
                "$.services[0].handlers[0].ty",
                f"invalid combination of service type and handler type '{pair}'",
            )
        ]
        assert declared_type not in HANDLER_TYPES[ServiceType(service_type)]
        with pytest.raises(KeyError):
            effective_handler_type(ServiceType(service_type), declared_type)
        assert refused(doc).code is None
    else:
        assert found == []
        assert effective_handler_type(ServiceType(service_type), declared_type) is effective
        registration = new_registry().register("http://127.0.0.1:9090/case", doc)
        assert registration.deployment.services["S"].handlers["h"].type is effective


@pytest.mark.parametrize(
    "handlers",
    [
        pytest.param([handler("run", "WORKFLOW"), handler("run2", "WORKFLOW")], id="two-runs"),
        pytest.param([handler("sig", "SHARED")], id="no-run"),
        pytest.param([], id="no-handlers"),
    ],
)
def test_a_workflow_needs_no_single_run_handler(handlers: list[dict[str, Any]]) -> None:
    """Observed (201): a Workflow with two WORKFLOW handlers (4.c14), with none (4.c15), and a
    service with no handlers at all (4.c17) are all accepted."""
    doc = document({"name": "Wf", "ty": "WORKFLOW", "handlers": handlers})
    assert problems(doc) == []
    registration = new_registry().register("http://127.0.0.1:9090/case", doc)
    assert registration.outcome is Outcome.CREATED


def test_a_manifest_without_services_registers_an_empty_deployment() -> None:
    """Observed 4.c16: ``"services": []`` registers (201), a deployment with ``services: []``."""
    registration = new_registry().register("http://127.0.0.1:9090/case", document())
    assert registration.outcome is Outcome.CREATED
    assert dict(registration.deployment.services) == {}


def test_a_service_named_twice_is_served_by_its_last_definition() -> None:
    """Observed 4.c12 (201): two ``DupSvc`` in one manifest; the deployment has one ``DupSvc``,
    revision 1, with the handlers of the last one."""
    doc = document(
        service("DupSvc", "SERVICE", handler("a")), service("DupSvc", "SERVICE", handler("b"))
    )
    assert problems(doc) == []
    registration = new_registry().register("http://127.0.0.1:9090/case", doc)
    dup = registration.deployment.services["DupSvc"]
    assert (dup.revision, list(dup.handlers)) == (1, ["b"])


def test_a_handler_named_twice_is_one_handler() -> None:
    """Observed 4.c13 (201): ``DupH`` with two handlers ``a`` has one handler ``a``."""
    doc = document(service("DupH", "SERVICE", handler("a"), handler("a")))
    assert problems(doc) == []
    registration = new_registry().register("http://127.0.0.1:9090/case", doc)
    assert list(registration.deployment.services["DupH"].handlers) == ["a"]


# --- protocol -------------------------------------------------------------------------------

PROTOCOL_CASES: list[tuple[int, int, str | None, str]] = [
    (5, 7, None, ""),
    (5, 5, None, ""),
    (7, 7, None, ""),
    (1, 5, None, ""),
    (7, 9, None, ""),
    (6, 99, None, ""),  # observed 4.c07b: 201
    (1, 2**31 - 1, None, ""),
    # observed 4.c06 and 4.c07c (500)
    (1, 2, "META0012", "unsupported service protocol versions: [1, 2]. Supported versions by "
     "this runtime are [5, 7]. Please upgrade the SDK and try registering again."),
    (8, 9, "META0012", "unsupported service protocol versions: [8, 9]. Supported versions by "
     "this runtime are [5, 7]. Please upgrade the SDK and try registering again."),
    (1, 4, "META0012", "unsupported service protocol versions: [1, 4]."),
    (8, 8, "META0012", "unsupported service protocol versions: [8, 8]."),
    # observed 4.c07 and 4.x07d (500): min > max is META0013, even when outside [5, 7]
    (7, 5, "META0013", "received a bad response from the SDK: Expected min protocol version to "
     "be <= max protocol version. Received min protocol version '7', max protocol version '5'"),
    (2, 1, "META0013", "received a bad response from the SDK: Expected min protocol version to "
     "be <= max protocol version. Received min protocol version '2', max protocol version '1'"),
    (9, 8, "META0013", "Received min protocol version '9', max protocol version '8'"),
    # from the server's source: versions are decoded as u64, then bounded to i32
    (5, 2**31, "META0013", "received a bad response from the SDK: max protocol version must be "
     "in [1, 2147483647]"),
    (2**31, 2**32, "META0013", "min protocol version must be in [1, 2147483647]"),
]  # fmt: skip


@pytest.mark.parametrize(("low", "high", "code", "message"), PROTOCOL_CASES)
def test_the_protocol_range_must_be_ordered_and_overlap_the_supported_range(
    low: int, high: int, code: str | None, message: str
) -> None:
    """(docs/rules.md, "What makes a manifest registrable"): the protocol range must be ordered
    and meet the supported [5, 7], else META0012; the server answers min > max with META0013.
    A range that merely overlaps ([6, 99]) is accepted."""
    assert SUPPORTED_PROTOCOL_VERSIONS == (5, 7)
    doc = document(service(), low=low, high=high)
    found = problems(doc)
    if code is None:
        assert found == []
        return
    # Only an out-of-bounds max is reported at the max; everything else at the min.
    path = "$.maxProtocolVersion" if low < 2**31 <= high else "$.minProtocolVersion"
    assert [(p.path, p.code) for p in found] == [(path, code)]
    assert message in found[0].message
    assert refused(doc).code == code


def test_protocol_mode_is_required_to_register() -> None:
    """Observed 4.c08 (500): ``{"message":"[META0013] [META0013] received a bad response from
    the SDK: missing protocol mode","restate_code":"META0013"}``."""
    doc = document(service(), mode=None)
    assert problems(doc) == [
        Problem(
            "$.protocolMode",
            "received a bad response from the SDK: missing protocol mode",
            "META0013",
        )
    ]
    assert refused(doc).code == "META0013"


@pytest.mark.parametrize("mode", ["BIDI_STREAM", "REQUEST_RESPONSE"])
def test_both_protocol_modes_register_over_http(mode: str) -> None:
    """Observed 4.c08b: BIDI_STREAM over HTTP/1.1 registered (201); the server trusts it."""
    assert problems(document(service(), mode=mode)) == []


def test_bidi_stream_over_lambda_is_refused_with_meta0015() -> None:
    """(docs/rules.md, "What makes a manifest registrable"): a Lambda cannot be BIDI_STREAM
    (META0015), with the server's message; REQUEST_RESPONSE over Lambda is fine."""
    arn = LAMBDA.text
    found = problems(document(service(), mode="BIDI_STREAM"), arn)
    assert [(p.path, p.code) for p in found] == [("$.protocolMode", "META0015")]
    assert found[0].message == (
        "the SDK reports itself as being in bidirectional protocol mode, but we are not "
        "discovering over a transport that supports it. Discovering with Lambda or HTTP < 1.1 "
        "is not supported"
    )
    assert problems(document(service(), mode="REQUEST_RESPONSE"), arn) == []
    registry = new_registry()
    with pytest.raises(InvalidManifest) as info:
        registry.register(arn, document(service(), mode="BIDI_STREAM"))
    assert info.value.code == "META0015"
    assert registry.deployments() == ()
    assert registry.register(arn, document(service())).outcome is Outcome.CREATED


# --- handler options (observed on restate-server 1.7.12: 400, no code) ------------------------


@pytest.mark.parametrize(
    ("service_type", "ty", "option", "message"),
    [
        ("WORKFLOW", "WORKFLOW", "workflowCompletionRetention", None),
        (
            "WORKFLOW",
            "SHARED",
            "workflowCompletionRetention",
            "h sets the workflow_completion_retention, but it's not a WORKFLOW handler",
        ),
        (
            "VIRTUAL_OBJECT",
            "EXCLUSIVE",
            "workflowCompletionRetention",
            "h sets the workflow_completion_retention, but it's not a WORKFLOW handler",
        ),
        (
            "SERVICE",
            None,
            "workflowCompletionRetention",
            "h sets the workflow_completion_retention, but it's not a WORKFLOW handler",
        ),
        (
            "WORKFLOW",
            "WORKFLOW",
            "idempotencyRetention",
            "h sets the idempotency_retention, but it's a WORKFLOW handler",
        ),
        ("WORKFLOW", "SHARED", "idempotencyRetention", None),
        ("SERVICE", None, "idempotencyRetention", None),
    ],
)
def test_retention_options_fit_the_handler_type(
    service_type: str, ty: str | None, option: str, message: str | None
) -> None:
    """``workflowCompletionRetention`` is only for a Workflow's run handler;
    ``idempotencyRetention`` is for any handler but that one. Refused in the server's words
    (it spells the type ``WORKFLOW`` here, where "invalid combination" says ``Workflow``)."""
    doc = document(service("S", service_type, handler("h", ty, **{option: 1000})))
    found = problems(doc)
    if message is None:
        assert found == []
    else:
        assert [(p.path, p.message, p.code) for p in found] == [
            (f"$.services[0].handlers[0].{option}", message, None)
        ]
        assert refused(doc).problems == tuple(found)


# --- durations the server cannot hold (observed: it panics) ----------------------------------

DURATIONS_AT_EVERY_LEVEL = [
    pytest.param(option, level, id=f"{level}-{option}")
    for option in DURATION_OPTIONS
    for level in ("service", "handler")
    if not (option == "workflowCompletionRetention" and level == "service")
]


def with_duration(option: str, level: str, millis: int) -> tuple[dict[str, Any], str]:
    """A registrable manifest with the duration ``option`` set to ``millis`` on its service or
    its handler, and the ``$.path`` of the option."""
    options: dict[str, Any] = {option: millis}
    if option == "workflowCompletionRetention":
        doc = document(service("W", "WORKFLOW", handler("run", "WORKFLOW", **options)))
        return doc, f"$.services[0].handlers[0].{option}"
    if level == "service":
        return document(service("S", "SERVICE", **options)), f"$.services[0].{option}"
    doc = document(service("S", "SERVICE", handler("h", **options)))
    return doc, f"$.services[0].handlers[0].{option}"


def duration_message(option: str, millis: int) -> str:
    return (
        f"{option} is {millis} ms, longer than restate-server holds: at most 631107417600999 ms "
        f"(631107417600 s and 999 ms, about 20,000 years)"
    )


def test_the_longest_duration_is_7304484_days_and_999_milliseconds() -> None:
    """631,107,417,600 s, that is 7,304,484 days (its time library's bound: the years -9999
    to 9999), and any milliseconds: the largest value restate-server 1.7.12 registered, found
    by bisection."""
    assert MAX_DURATION_MILLIS == 631_107_417_600 * 1000 + 999
    assert MAX_DURATION_MILLIS // 1000 == 7_304_484 * 86_400


@pytest.mark.parametrize(("option", "level"), DURATIONS_AT_EVERY_LEVEL)
def test_a_duration_longer_than_the_server_holds_is_refused_naming_the_option_and_the_bound(
    option: str, level: str
) -> None:
    """One millisecond above :data:`MAX_DURATION_MILLIS`, in any duration option of a service
    or a handler, is an :class:`InvalidManifest` problem (no code) at the option's path that
    names it, its value and the bound; the registry is left as it was, for a dry run too. The
    manifest itself reads: the server decodes it, and panics when registering it."""
    millis = MAX_DURATION_MILLIS + 1
    doc, path = with_duration(option, level, millis)
    assert EndpointManifest.from_json(doc).services
    error = refused(doc)
    assert [(p.path, p.message, p.code) for p in error.problems] == [
        (path, duration_message(option, millis), None)
    ]
    assert error.code is None
    assert problems(doc) == list(error.problems)
    registry = new_registry()
    with pytest.raises(InvalidManifest):
        registry.register("http://127.0.0.1:9090/case", doc, dry_run=True)
    assert registry.deployments() == ()


@pytest.mark.parametrize(("option", "level"), DURATIONS_AT_EVERY_LEVEL)
def test_the_longest_duration_the_server_holds_registers(option: str, level: str) -> None:
    """:data:`MAX_DURATION_MILLIS` itself registers in every duration option, and is kept."""
    doc, _ = with_duration(option, level, MAX_DURATION_MILLIS)
    assert problems(doc) == []
    kept = new_registry().register("http://127.0.0.1:9090/case", doc).deployment.manifest
    assert kept is not None
    assert kept.to_json() == doc


@pytest.mark.parametrize(
    "millis",
    [
        pytest.param(int(timedelta.max / timedelta(milliseconds=1)), id="timedelta.max"),
        pytest.param(2**63, id="2**63"),
        pytest.param(2**64 - 1, id="u64-max"),
    ],
)
def test_a_duration_from_ordinary_sdk_code_that_the_server_cannot_hold_is_refused(
    millis: int,
) -> None:
    """``journal_retention=timedelta.max`` in the Python SDK is 86,399,999,999,999,999 ms; it
    and every u64 above the bound are refused (the server panicked on each)."""
    doc, path = with_duration("journalRetention", "handler", millis)
    assert [(p.path, p.message) for p in refused(doc).problems] == [
        (path, duration_message("journalRetention", millis))
    ]


def test_every_long_duration_is_listed_after_every_other_problem() -> None:
    """The server checks handler types and retention options of every service first (it
    answered 400 for those) and panics on a long duration only after: the durations come last,
    so the code and the first problem are what the server reports."""
    long = MAX_DURATION_MILLIS + 1
    doc = document(
        service("P", "SERVICE", handler("h", abortTimeout=long), journalRetention=long),
        service("Q", "VIRTUAL_OBJECT", handler("r", "WORKFLOW")),
        service("W", "WORKFLOW", handler("c", "SHARED", workflowCompletionRetention=long)),
    )
    assert [p.path for p in refused(doc).problems] == [
        "$.services[1].handlers[0].ty",
        "$.services[2].handlers[0].workflowCompletionRetention",
        "$.services[0].journalRetention",
        "$.services[0].handlers[0].abortTimeout",
        "$.services[2].handlers[0].workflowCompletionRetention",
    ]


def test_a_service_type_change_is_reported_before_a_long_duration() -> None:
    """Observed: a Service registered again as a VirtualObject with a long duration is 409
    META0006, not a panic; with ``breaking`` the long duration is the problem."""
    registry = new_registry()
    registry.register("http://127.0.0.1:9090/a", document(service("P")))
    doc = document(service("P", "VIRTUAL_OBJECT", journalRetention=MAX_DURATION_MILLIS + 1))
    before = registry.snapshot()
    with pytest.raises(ServiceTypeChanged):
        registry.register("http://127.0.0.1:9090/b", doc)
    with pytest.raises(InvalidManifest) as info:
        registry.register("http://127.0.0.1:9090/b", doc, breaking=True)
    assert [p.path for p in info.value.problems] == ["$.services[0].journalRetention"]
    assert registry.snapshot() == before


def test_only_the_definition_a_registration_takes_is_held_to_the_bound() -> None:
    """A service or handler named twice is served by its last definition: a long duration in
    an earlier one is not registered, so it is no problem; in the last one it is, at its own
    path."""
    long = MAX_DURATION_MILLIS + 1
    earlier = document(
        service("S", "SERVICE", journalRetention=long),
        service("S", "SERVICE", handler("h", abortTimeout=long), handler("h")),
    )
    assert problems(earlier) == []
    later = document(
        service("S", "SERVICE", handler("h"), handler("g"), handler("h", abortTimeout=long))
    )
    assert [p.path for p in refused(later).problems] == ["$.services[0].handlers[2].abortTimeout"]


@pytest.mark.parametrize(
    ("service_private", "handler_private", "allowed"),
    [
        (True, False, False),
        (True, True, True),
        (True, None, True),
        (False, False, True),
        (None, False, True),
        (False, True, True),
    ],
)
def test_a_private_service_cannot_have_an_explicitly_public_handler(
    service_private: bool | None, handler_private: bool | None, allowed: bool
) -> None:
    """Refused: "The service S is private, but the h is explicitly set as public. This is not
    supported." (From Restate's schema registry; not observed on the server.)"""
    svc_extra: dict[str, Any] = {}
    h_extra: dict[str, Any] = {}
    if service_private is not None:
        svc_extra["ingressPrivate"] = service_private
    if handler_private is not None:
        h_extra["ingressPrivate"] = handler_private
    doc = document(service("S", "SERVICE", handler("h", **h_extra), **svc_extra))
    found = problems(doc)
    if allowed:
        assert found == []
    else:
        assert [p.path for p in found] == ["$.services[0].handlers[0].ingressPrivate"]
        assert "is private, but the h is explicitly set as public" in found[0].message
        assert refused(doc).problems == tuple(found)


# --- every problem at once, in the server's order --------------------------------------------


def test_every_problem_is_listed_in_the_order_the_server_checks_them() -> None:
    """Names, then protocol mode and range, then reserved names, then handler types; the code is
    the first problem's (here ``None``: the server reports a pattern error without a code)."""
    doc = document(
        service("restateFoo"),
        service("Obj", "VIRTUAL_OBJECT", handler("run", "WORKFLOW")),
        service("Svc", "SERVICE", handler("bad-name")),
        mode=None,
        low=1,
        high=2,
    )
    error = refused(doc)
    assert [(p.path, p.code) for p in error.problems] == [
        ("$.services[2].handlers[0].name", None),
        ("$.protocolMode", "META0013"),
        ("$.minProtocolVersion", "META0012"),
        ("$.services[0].name", "META0005"),
        ("$.services[1].handlers[0].ty", None),
    ]
    assert error.code is None
    assert str(error).startswith("invalid endpoint manifest (5 problems): ")
    assert error.problems == tuple(problems(doc))


@pytest.mark.parametrize(
    ("doc", "code"),
    [
        # protocol before reserved names (observed 4.x11f: META0012)
        pytest.param(document(service("restateFoo"), low=1, high=2), "META0012", id="x11f"),
        # a missing protocol mode before the range (observed 4.x11h: META0013)
        pytest.param(document(service(), mode=None, low=1, high=2), "META0013", id="x11h"),
        # reserved names before handler types, in either order (4.x11d, 4.x11e: META0005)
        pytest.param(
            document(
                service("restateFoo"), service("O", "VIRTUAL_OBJECT", handler("r", "WORKFLOW"))
            ),
            "META0005",
            id="x11d",
        ),
        pytest.param(
            document(
                service("O", "VIRTUAL_OBJECT", handler("r", "WORKFLOW")), service("restateFoo")
            ),
            "META0005",
            id="x11e",
        ),
        # names before everything (4.z3, 4.c11, 4.c11b, 4.c11c: pattern error, no code)
        pytest.param(document(service("1bad"), low=1, high=2), None, id="z3"),
        pytest.param(
            document(service("restateFoo"), service("S", "SERVICE", handler("bad-name"))),
            None,
            id="c11",
        ),
        pytest.param(
            document(service("S", "SERVICE", handler("bad-name")), service("restateFoo")),
            None,
            id="c11b",
        ),
        pytest.param(
            document(service("1bad", "SERVICE", handler("greet", "EXCLUSIVE"))), None, id="c11c"
        ),
    ],
)
def test_the_code_is_the_code_of_the_problem_the_server_reports(
    doc: dict[str, Any], code: str | None
) -> None:
    """``InvalidManifest.code`` is the code of what the server, which stops at the first
    problem, reported; both problems are listed."""
    error = refused(doc)
    assert error.code == code
    assert len(error.problems) == 2


def test_the_first_of_two_reserved_names_is_reported() -> None:
    """Observed 4.x11g / 4.x11j: with ``restateA`` and ``restateB`` the server names whichever
    comes first in the manifest; both are listed here, in manifest order."""
    for first, second in (("restateA", "restateB"), ("restateB", "restateA")):
        error = refused(document(service(first), service(second)))
        assert [p.message.split("'")[1] for p in error.problems] == [first, second]
        assert error.code == "META0005"


def test_a_service_type_change_is_reported_only_for_a_manifest_without_problems() -> None:
    """Observed 4.x11i (400, META0005): a manifest that changes Greeter's type *and* has a
    reserved name gets the reserved-name error, not META0006."""
    registry = new_registry()
    registry.register("http://127.0.0.1:9081", sdk_manifest())
    doc = document(
        service("Greeter", "WORKFLOW", handler("run", "WORKFLOW")), service("restateFoo")
    )
    assert refused(doc, registry).code == "META0005"


def test_a_type_change_that_comes_first_in_the_manifest_is_what_the_server_reports() -> None:
    """Observed 4.z1 (409): Greeter (a Service) sent as a VirtualObject, followed by a Service
    with an EXCLUSIVE handler: ``{"message":"[META0006] detected a new service revision for
    'Greeter' changing the service type from previous revision. Service type cannot be changed
    across revisions.","restate_code":"META0006"}``. The server walks the services in manifest
    order and reports the first of (type change, bad handler type) it meets; 4.z2, the same two
    services the other way round, got the handler-type error (400, no code)."""
    registry = new_registry()
    registry.register("http://127.0.0.1:9081", sdk_manifest())
    before = registry.snapshot()
    greeter = service("Greeter", "VIRTUAL_OBJECT", handler("greet", "EXCLUSIVE"))
    bad = service("FakeSvcZ", "SERVICE", handler("greet", "EXCLUSIVE"))
    with pytest.raises(VersioningError) as z1:
        registry.register("http://127.0.0.1:9090/z1", document(greeter, bad))
    assert z1.value.code == "META0006"
    assert registry.snapshot() == before
    with pytest.raises(VersioningError) as z2:
        registry.register("http://127.0.0.1:9090/z2", document(bad, greeter))
    assert isinstance(z2.value, InvalidManifest)
    assert z2.value.code is None
    assert registry.snapshot() == before


def test_a_refused_registration_changes_nothing_and_uses_no_id() -> None:
    """A command either fully succeeds or raises and changes nothing: after a refused manifest
    the registry is exactly as before, and the next deployment gets the id it would have got."""
    registry, twin = new_registry(), new_registry()
    for r in (registry, twin):
        r.register("http://127.0.0.1:9081", sdk_manifest())
    bad = document(service("restateFoo"), service("1bad"), mode=None)
    for _ in range(3):
        refused(bad, registry)
    with pytest.raises(ServiceTypeChanged):
        registry.register("http://127.0.0.1:9090/x", document(service("Greeter", "WORKFLOW")))
    assert registry.snapshot() == twin.snapshot()
    assert (
        registry.register("http://127.0.0.1:9082", sdk_manifest()).deployment.id
        == twin.register("http://127.0.0.1:9082", sdk_manifest()).deployment.id
    )


def test_a_manifest_the_parser_refuses_is_refused_by_register_too() -> None:
    """Registering malformed JSON, or a document with unknown fields, raises the same
    :class:`InvalidManifest` (every shape problem, with its path) and changes nothing."""
    doc = document(service()) | {"foo": 1}
    doc["services"][0]["bogusField"] = True
    error = refused(doc)
    assert [p.path for p in error.problems] == ["$.foo", "$.services[0].bogusField"]
    assert refused("{not json").problems[0].path == "$"


def test_the_python_sdk_manifest_registers() -> None:
    """What restate-sdk 1.3.0 answers registers: three services at revision 1, their handler
    types as declared."""
    assert problems(sdk_manifest()) == []
    registration = new_registry().register("http://127.0.0.1:9081", sdk_manifest())
    services = registration.deployment.services
    assert {name: s.revision for name, s in services.items()} == {
        "Greeter": 1,
        "TicketObject": 1,
        "Signup": 1,
    }
    assert {h.name: h.type for h in services["TicketObject"].handlers.values()} == {
        "reserve": HandlerType.EXCLUSIVE,
        "status": HandlerType.SHARED,
    }
    assert {h.name: h.type for h in services["Signup"].handlers.values()} == {
        "run": HandlerType.WORKFLOW,
        "confirm": HandlerType.SHARED,
    }
    assert services["Greeter"].handlers["greet"].type is HandlerType.SHARED


# --- replaying what restate-server 1.7.12 was asked ------------------------------------------


@cache
def observed_cases() -> list[dict[str, Any]]:
    """The POST /deployments requests of transcript section 4, in order, with what the server
    answered (see the file's ``about``)."""
    cases: list[dict[str, Any]] = json.loads(
        (DATA / "restate-1.7.12-manifest-cases.json").read_text()
    )["cases"]
    return cases


SERVER_TYPES = {
    ServiceType.SERVICE: "Service",
    ServiceType.VIRTUAL_OBJECT: "VirtualObject",
    ServiceType.WORKFLOW: "Workflow",
}
SERVER_HANDLER_TYPES = {
    HandlerType.EXCLUSIVE: "Exclusive",
    HandlerType.SHARED: "Shared",
    HandlerType.WORKFLOW: "Workflow",
}


def register_case(registry: Registry, case: dict[str, Any]) -> Registration:
    request = case["request"]
    return registry.register(
        request["uri"],
        case["manifest"],
        force=bool(request.get("force")),
        breaking=bool(request.get("breaking")),
        dry_run=bool(request.get("dry_run")),
    )


def as_server_shows(registration: Registration) -> list[dict[str, Any]]:
    """The deployment's services in the fields the server's answer was trimmed to."""
    out = []
    for revision in registration.deployment.services.values():
        handlers = []
        for h in revision.handlers.values():
            item: dict[str, Any] = {"name": h.name}
            if revision.type is not ServiceType.SERVICE:
                item["ty"] = SERVER_HANDLER_TYPES[h.type]
            handlers.append(item)
        out.append(
            {
                "name": revision.name,
                "ty": SERVER_TYPES[revision.type],
                "revision": revision.revision,
                "handlers": sorted(handlers, key=lambda h: h["name"]),
            }
        )
    return sorted(out, key=lambda s: s["name"])


def first_message(error: VersioningError) -> str:
    if isinstance(error, InvalidManifest):
        return error.problems[0].message
    return error.message


def check_same_answer(server_message: str, ours: str) -> None:
    """Our first problem says what the server said. Decoding errors are phrased by serde, so for
    those the same subject must be named: the pattern, the unknown field, the unknown value."""
    decoded = re.search(r"cannot be decoded: (.*?) at line \d+ column \d+\.", server_message)
    if decoded is None:
        assert ours == re.sub(r"^(\[META\d{4}\] )+", "", server_message)
        return
    reason = decoded.group(1)
    if (pattern := re.match(r'doesn\'t match pattern "(.*)"$', reason)) is not None:
        assert f"doesn't match pattern {pattern.group(1)!r}" in ours
    elif (field := re.match(r"unknown field `(\w+)`", reason)) is not None:
        assert ours == f"unknown field {field.group(1)!r}"
    elif variant := re.match(r"unknown variant `(\w+)`, expected one of (.*)$", reason):
        assert repr(variant.group(1)) in ours
        for name in re.findall(r"`(\w+)`", variant.group(2)):
            assert name in ours
    else:  # pragma: no cover - every observed decoding error is one of the above
        pytest.fail(f"unexpected server message {server_message!r}")


@pytest.mark.parametrize("index", range(len(observed_cases())), ids=[
    c["label"].split()[0] for c in observed_cases()
])  # fmt: skip
def test_the_model_answers_every_observed_registration_as_the_server_did(index: int) -> None:
    """Replays the requests of transcript section 4 in order on one registry that starts, like
    the server did, with Greeter (a Service), TicketObject and Signup registered; the case at
    ``index`` must get the server's answer: the same error code and message (decoding errors:
    the same pattern, field or value), or the same outcome, deployment and revisions."""
    registry = new_registry()
    registry.register("http://127.0.0.1:9081", sdk_manifest())
    our_ids: dict[str, str] = {}  # the server's deployment id -> ours
    for earlier in observed_cases()[:index]:
        try:
            result = register_case(registry, earlier)
        except VersioningError:
            continue
        if not result.dry_run:
            our_ids.setdefault(earlier["response"]["id"], result.deployment.id)
    case = observed_cases()[index]
    status, response = case["status"], case["response"]
    before = registry.snapshot()
    if status >= 400:
        with pytest.raises(VersioningError) as info:
            register_case(registry, case)
        assert info.value.code == response["restate_code"]
        check_same_answer(response["message"], first_message(info.value))
        assert isinstance(info.value, ServiceTypeChanged) == (status == 409)
        assert registry.snapshot() == before
        return
    result = register_case(registry, case)
    force = bool(case["request"].get("force"))
    expected_outcome = {
        201: Outcome.CREATED,
        200: Outcome.OVERWRITTEN if force else Outcome.UNCHANGED,
    }
    assert result.outcome is expected_outcome[status]
    assert as_server_shows(result) == sorted(
        [
            s | {"handlers": sorted(s["handlers"], key=lambda h: h["name"])}
            for s in response["services"]
        ],
        key=lambda s: s["name"],
    )
    assert (result.deployment.min_protocol_version, result.deployment.max_protocol_version) == (
        response["min_protocol_version"],
        response["max_protocol_version"],
    )
    if status == 200:
        assert result.deployment.id == our_ids[response["id"]]
    else:
        assert response["id"] not in our_ids
        assert result.deployment.id not in our_ids.values()
    if result.dry_run:
        assert registry.snapshot() == before
