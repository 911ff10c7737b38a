"""What makes a well-shaped manifest registrable (docs/rules.md, "What makes a manifest
registrable").

Each rule is a table or a short check; :func:`manifest_problems` runs them all and returns every
problem, so a caller sees everything wrong at once (the server stops at the first).

Going further than restate-server 1.7.12: a duration above
:data:`~restate_versioning.manifest.MAX_DURATION_MILLIS` is refused (:func:`duration_problems`),
where the server panics, after every other check, and may keep a broken revision.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..endpoints import Endpoint, EndpointKind
from ..errors import Problem, quote
from ..manifest import (
    DURATION_OPTIONS,
    MAX_DURATION_MILLIS,
    EndpointManifest,
    HandlerManifest,
    ServiceManifest,
)
from ..model import HandlerType, ProtocolMode, ServiceType

__all__ = [
    "HANDLER_NAME",
    "HANDLER_TYPES",
    "SERVICE_NAME",
    "SUPPORTED_PROTOCOL_VERSIONS",
    "duration_problems",
    "effective_handler_type",
    "effective_services",
    "general_problems",
    "is_reserved_service_name",
    "manifest_problems",
    "service_problems",
]

#: The service protocol versions restate-server 1.7 speaks, inclusive.
SUPPORTED_PROTOCOL_VERSIONS: tuple[int, int] = (5, 7)

SERVICE_NAME = re.compile(r"^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9._-]*$")
HANDLER_NAME = re.compile(r"^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9_]*$")

#: The handler type a manifest may declare for each service type (``None``: left out), and the
#: type the handler then has. Any pair not in this table is refused.
HANDLER_TYPES: Mapping[ServiceType, Mapping[HandlerType | None, HandlerType]] = {
    ServiceType.SERVICE: {
        None: HandlerType.SHARED,
        HandlerType.SHARED: HandlerType.SHARED,
    },
    ServiceType.VIRTUAL_OBJECT: {
        None: HandlerType.EXCLUSIVE,
        HandlerType.EXCLUSIVE: HandlerType.EXCLUSIVE,
        HandlerType.SHARED: HandlerType.SHARED,
    },
    ServiceType.WORKFLOW: {
        None: HandlerType.SHARED,
        HandlerType.SHARED: HandlerType.SHARED,
        HandlerType.WORKFLOW: HandlerType.WORKFLOW,
    },
}


def is_reserved_service_name(name: str) -> bool:
    """Names the server keeps for itself: starting with ``restate`` or equal to ``openapi``,
    compared case-insensitively."""
    lower = name.lower()
    return lower.startswith("restate") or lower == "openapi"


def effective_handler_type(service_type: ServiceType, declared: HandlerType | None) -> HandlerType:
    """The type a handler has in a registered revision; ``KeyError`` for a refused pair."""
    return HANDLER_TYPES[service_type][declared]


def effective_services(manifest: EndpointManifest) -> dict[str, tuple[int, ServiceManifest]]:
    """The services a registration takes, by name, with their index in the manifest: as on the
    server, a service named twice is served by its last definition."""
    return {service.name: (index, service) for index, service in enumerate(manifest.services)}


def general_problems(manifest: EndpointManifest, endpoint: Endpoint) -> list[Problem]:
    """What the server checks before it looks at any service's revision, in its order: names
    (while decoding), protocol mode and versions, then reserved names."""
    problems: list[Problem] = []
    services = list(enumerate(manifest.services))
    for index, service in services:
        problems.extend(_name_problems(service, f"$.services[{index}]"))
    problems.extend(_protocol_problems(manifest, endpoint))
    for index, service in services:
        if is_reserved_service_name(service.name) and SERVICE_NAME.fullmatch(service.name):
            problems.append(
                Problem(
                    f"$.services[{index}].name",
                    f"cannot insert/modify service '{service.name}' as it contains a reserved name",
                    "META0005",
                )
            )
    return problems


def service_problems(service: ServiceManifest, index: int) -> list[Problem]:
    """What the server checks when it builds one service's new revision: its handlers' types,
    retention options and visibility."""
    path = f"$.services[{index}]"
    problems: list[Problem] = []
    for handler_index, handler in enumerate(_effective_handlers(service)):
        problems.extend(_handler_problems(service, handler, f"{path}.handlers[{handler_index}]"))
    return problems


def _effective_handlers(service: ServiceManifest) -> list[HandlerManifest]:
    # A handler named twice is served by its last definition, at its first position.
    return list({handler.name: handler for handler in service.handlers}.values())


def manifest_problems(manifest: EndpointManifest, endpoint: Endpoint) -> list[Problem]:
    """Every reason the server would refuse to register ``manifest`` at ``endpoint``, in the
    order the server checks them: names, then protocol, then reserved names, then each
    service's handlers, then (going further than the server) durations it cannot hold.

    As on the server, a service or handler named twice is no problem: the last one wins.
    """
    problems = general_problems(manifest, endpoint)
    for index, service in effective_services(manifest).values():
        problems.extend(service_problems(service, index))
    problems.extend(duration_problems(manifest))
    return problems


#: The longest duration restate-server holds, in whole seconds (its time library's bound).
_MAX_DURATION_SECONDS = MAX_DURATION_MILLIS // 1000


def duration_problems(manifest: EndpointManifest) -> list[Problem]:
    """A problem for each duration option (:data:`~restate_versioning.manifest.DURATION_OPTIONS`)
    of a service or handler the registration takes that is longer than
    :data:`~restate_versioning.manifest.MAX_DURATION_MILLIS`, at its ``$.path``, naming the
    option, its value and the bound. Ordinary SDK code reaches them:
    ``journal_retention=timedelta.max`` is about 8.6e16 ms.

    This goes further than restate-server 1.7.12, which decodes such a manifest and then
    panics once every other check has passed (the connection closes without an answer, with a
    dry run too). A service-level one leaves nothing behind, but one in a handler (other than
    the retry policy's intervals) is stored first: from then on ``GET /services`` panics until
    a new revision of the service replaces it, and ``GET /deployments/{id}`` of that deployment
    and registering the same manifest again panic for good. So the model refuses it; it comes
    after every other problem, as the server reaches it last. As elsewhere, only the last
    definition of a service or handler named twice counts (the server took a long duration in
    an earlier one)."""
    problems: list[Problem] = []
    for index, service in effective_services(manifest).values():
        path = f"$.services[{index}]"
        problems.extend(_long_durations(service.options, path))
        last = {handler.name: position for position, handler in enumerate(service.handlers)}
        for position in last.values():
            handler = service.handlers[position]
            problems.extend(_long_durations(handler.options, f"{path}.handlers[{position}]"))
    return problems


def _long_durations(options: Mapping[str, object], path: str) -> list[Problem]:
    problems: list[Problem] = []
    if not options:
        return problems
    for name in DURATION_OPTIONS:
        value = options.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > MAX_DURATION_MILLIS:
            problems.append(
                Problem(
                    f"{path}.{name}",
                    f"{name} is {quote(value)} ms, longer than restate-server holds: at most "
                    f"{MAX_DURATION_MILLIS} ms ({_MAX_DURATION_SECONDS} s and "
                    f"{MAX_DURATION_MILLIS % 1000} ms, about 20,000 years)",
                )
            )
    return problems


def _pattern_problem(path: str, kind: str, name: str, pattern: re.Pattern[str]) -> Problem:
    return Problem(
        f"{path}.name", f"invalid {kind} name {name!r}: doesn't match pattern {pattern.pattern!r}"
    )


def _name_problems(service: ServiceManifest, path: str) -> list[Problem]:
    problems: list[Problem] = []
    if not SERVICE_NAME.fullmatch(service.name):
        problems.append(_pattern_problem(path, "service", service.name, SERVICE_NAME))
    for index, handler in enumerate(service.handlers):
        if not HANDLER_NAME.fullmatch(handler.name):
            problems.append(
                _pattern_problem(f"{path}.handlers[{index}]", "handler", handler.name, HANDLER_NAME)
            )
    return problems


#: The largest protocol version the server reads (``i32::MAX``).
MAX_PROTOCOL_VERSION_VALUE = 2**31 - 1


def _protocol_problems(manifest: EndpointManifest, endpoint: Endpoint) -> list[Problem]:
    """The server's discovery checks, in its order: protocol mode, bidirectional streaming
    over Lambda, version bounds, ``min <= max``, then overlap with the supported versions.
    (``lambdaCompression`` on an HTTP endpoint is ignored, as the server ignores it.)"""
    problems: list[Problem] = []
    low, high = manifest.min_protocol_version, manifest.max_protocol_version
    supported_low, supported_high = SUPPORTED_PROTOCOL_VERSIONS

    def bad_response(path: str, message: str) -> None:
        problems.append(
            Problem(path, f"received a bad response from the SDK: {message}", "META0013")
        )

    if manifest.protocol_mode is None:
        bad_response("$.protocolMode", "missing protocol mode")
    elif (
        endpoint.kind is EndpointKind.LAMBDA and manifest.protocol_mode is ProtocolMode.BIDI_STREAM
    ):
        problems.append(
            Problem(
                "$.protocolMode",
                "the SDK reports itself as being in bidirectional protocol mode, but we are not "
                "discovering over a transport that supports it. Discovering with Lambda or HTTP "
                "< 1.1 is not supported",
                "META0015",
            )
        )
    bounds = f"[1, {MAX_PROTOCOL_VERSION_VALUE}]"
    if low > MAX_PROTOCOL_VERSION_VALUE:
        bad_response("$.minProtocolVersion", f"min protocol version must be in {bounds}")
    elif high > MAX_PROTOCOL_VERSION_VALUE:
        bad_response("$.maxProtocolVersion", f"max protocol version must be in {bounds}")
    elif low > high:
        bad_response(
            "$.minProtocolVersion",
            f"Expected min protocol version to be <= max protocol version. Received min "
            f"protocol version '{low}', max protocol version '{high}'",
        )
    elif high < supported_low or low > supported_high:
        problems.append(
            Problem(
                "$.minProtocolVersion",
                f"unsupported service protocol versions: [{low}, {high}]. Supported versions by "
                f"this runtime are [{supported_low}, {supported_high}]. Please upgrade the SDK "
                f"and try registering again.",
                "META0012",
            )
        )
    return problems


def _handler_problems(
    service: ServiceManifest, handler: HandlerManifest, path: str
) -> list[Problem]:
    problems: list[Problem] = []
    effective = HANDLER_TYPES[service.type].get(handler.type)
    if effective is None:
        problems.append(
            Problem(
                f"{path}.ty",
                f"invalid combination of service type and handler type "
                f"'({service.type.title}, "
                f"{f'Some({handler.type.title})' if handler.type else 'None'})'",
            )
        )
    else:
        if (
            "workflowCompletionRetention" in handler.options
            and effective is not HandlerType.WORKFLOW
        ):
            problems.append(
                Problem(
                    f"{path}.workflowCompletionRetention",
                    f"{handler.name} sets the workflow_completion_retention, but it's not a "
                    f"WORKFLOW handler",
                )
            )
        if "idempotencyRetention" in handler.options and effective is HandlerType.WORKFLOW:
            problems.append(
                Problem(
                    f"{path}.idempotencyRetention",
                    f"{handler.name} sets the idempotency_retention, but it's a WORKFLOW handler",
                )
            )
    if service.ingress_private is True and handler.ingress_private is False:
        problems.append(
            Problem(
                f"{path}.ingressPrivate",
                f"The service {service.name} is private, but the {handler.name} is explicitly "
                f"set as public. This is not supported. Please make the service public, and "
                f"hide the individual handlers",
            )
        )
    return problems
