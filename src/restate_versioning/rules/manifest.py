"""What makes a well-shaped manifest registrable (RESTATE_RULES §2.6).

Each rule is a table or a short check; :func:`manifest_problems` runs them all and returns every
problem, so a caller sees everything wrong at once (the server stops at the first).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..endpoints import Endpoint, EndpointKind
from ..errors import Problem
from ..manifest import EndpointManifest, HandlerManifest, ServiceManifest
from ..model import HandlerType, ProtocolMode, ServiceType

__all__ = [
    "HANDLER_NAME",
    "HANDLER_TYPES",
    "SERVICE_NAME",
    "SUPPORTED_PROTOCOL_VERSIONS",
    "effective_handler_type",
    "is_reserved_service_name",
    "manifest_problems",
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

# How the server prints the pair in its error message.
_SERVER_TYPE_NAMES = {
    ServiceType.SERVICE: "Service",
    ServiceType.VIRTUAL_OBJECT: "VirtualObject",
    ServiceType.WORKFLOW: "Workflow",
}
_SERVER_HANDLER_NAMES = {
    None: "None",
    HandlerType.SHARED: "Some(Shared)",
    HandlerType.EXCLUSIVE: "Some(Exclusive)",
    HandlerType.WORKFLOW: "Some(Workflow)",
}


def is_reserved_service_name(name: str) -> bool:
    """Names the server keeps for itself: starting with ``restate`` or equal to ``openapi``,
    compared case-insensitively."""
    lower = name.lower()
    return lower.startswith("restate") or lower == "openapi"


def effective_handler_type(service_type: ServiceType, declared: HandlerType | None) -> HandlerType:
    """The type a handler has in a registered revision; ``KeyError`` for a refused pair."""
    return HANDLER_TYPES[service_type][declared]


def manifest_problems(manifest: EndpointManifest, endpoint: Endpoint) -> list[Problem]:
    """Every reason the server would refuse to register ``manifest`` at ``endpoint``."""
    problems: list[Problem] = []
    problems.extend(_protocol_problems(manifest, endpoint))
    seen: set[str] = set()
    for index, service in enumerate(manifest.services):
        path = f"$.services[{index}]"
        if service.name in seen:
            problems.append(
                Problem(f"{path}.name", f"service {service.name!r} appears more than once")
            )
        seen.add(service.name)
        problems.extend(_service_problems(service, path))
    return problems


def _protocol_problems(manifest: EndpointManifest, endpoint: Endpoint) -> list[Problem]:
    problems: list[Problem] = []
    low, high = manifest.min_protocol_version, manifest.max_protocol_version
    supported_low, supported_high = SUPPORTED_PROTOCOL_VERSIONS
    if low > high or high < supported_low or low > supported_high:
        problems.append(
            Problem(
                "$.minProtocolVersion",
                f"unsupported service protocol versions: [{low}, {high}]. Supported versions by "
                f"this runtime are [{supported_low}, {supported_high}]. Please upgrade the SDK "
                f"and try registering again.",
                "META0012",
            )
        )
    if manifest.protocol_mode is None:
        problems.append(Problem("$.protocolMode", "missing field 'protocolMode'"))
    elif (
        endpoint.kind is EndpointKind.LAMBDA and manifest.protocol_mode is ProtocolMode.BIDI_STREAM
    ):
        problems.append(
            Problem(
                "$.protocolMode",
                f"the endpoint {endpoint.text!r} is an AWS Lambda function, which cannot serve "
                f"protocol mode BIDI_STREAM",
                "META0015",
            )
        )
    if endpoint.kind is EndpointKind.HTTP and manifest.lambda_compression is not None:
        problems.append(
            Problem(
                "$.lambdaCompression",
                f"lambdaCompression {manifest.lambda_compression!r} is only supported for "
                f"Lambda endpoints, not {endpoint.text!r}",
            )
        )
    return problems


def _service_problems(service: ServiceManifest, path: str) -> list[Problem]:
    problems: list[Problem] = []
    if not SERVICE_NAME.match(service.name):
        problems.append(
            Problem(
                f"{path}.name",
                f"invalid service name {service.name!r}: it must match {SERVICE_NAME.pattern}",
            )
        )
    elif is_reserved_service_name(service.name):
        problems.append(
            Problem(
                f"{path}.name",
                f"cannot insert/modify service {service.name!r} as it contains a reserved name",
                "META0005",
            )
        )
    seen: set[str] = set()
    for index, handler in enumerate(service.handlers):
        handler_path = f"{path}.handlers[{index}]"
        if handler.name in seen:
            problems.append(
                Problem(
                    f"{handler_path}.name",
                    f"handler {handler.name!r} appears more than once in {service.name!r}",
                )
            )
        seen.add(handler.name)
        problems.extend(_handler_problems(service, handler, handler_path))
    return problems


def _handler_problems(
    service: ServiceManifest, handler: HandlerManifest, path: str
) -> list[Problem]:
    problems: list[Problem] = []
    if not HANDLER_NAME.match(handler.name):
        problems.append(
            Problem(
                f"{path}.name",
                f"invalid handler name {handler.name!r}: it must match {HANDLER_NAME.pattern}",
            )
        )
    effective = HANDLER_TYPES[service.type].get(handler.type)
    if effective is None:
        problems.append(
            Problem(
                f"{path}.ty",
                f"invalid combination of service type and handler type "
                f"'({_SERVER_TYPE_NAMES[service.type]}, {_SERVER_HANDLER_NAMES[handler.type]})'",
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
                    f"Workflow handler",
                )
            )
        if "idempotencyRetention" in handler.options and effective is HandlerType.WORKFLOW:
            problems.append(
                Problem(
                    f"{path}.idempotencyRetention",
                    f"{handler.name} sets the idempotency_retention, but it's a Workflow handler",
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
