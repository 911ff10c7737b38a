"""The values of the model: frozen, comparable, hashable.

Nothing here changes after it is made; the :class:`~restate_versioning.Registry` replaces values
instead (with :func:`attrs.evolve`). Field names follow the admin API where it has one.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, NamedTuple

import attrs

from ._frozen import FrozenMap, freeze
from ._moved import forward
from .endpoints import parse_endpoint
from .enums import (
    DeploymentStatus,
    EndpointKind,
    HandlerType,
    InvocationStatus,
    OnMaxAttempts,
    Outcome,
    ProtocolMode,
    ServiceType,
)
from .manifest import EndpointManifest

__all__ = [
    "Deployment",
    "DeploymentStatus",
    "Failure",
    "Handler",
    "HandlerType",
    "Invocation",
    "InvocationStatus",
    "LockedKey",
    "OnMaxAttempts",
    "Outcome",
    "ProtocolMode",
    "RetryPolicy",
    "ServiceRevision",
    "ServiceType",
    "make_invocation",
]


@attrs.frozen
class RetryPolicy:
    """A retry policy as a manifest sets it (``retryPolicy*``); ``None`` leaves a field to the
    level above (a handler's to its service, a service's to the server's defaults, see
    :data:`restate_versioning.serialization.DEFAULT_RETRY_POLICY`). Intervals are in
    milliseconds. ``max_attempts`` is at least 1: restate-server 1.7.12 shows a manifest's 0 as
    1, and the model keeps what it shows."""

    initial_interval_ms: int | None = None
    exponentiation_factor: float | None = None
    max_attempts: int | None = None
    max_interval_ms: int | None = None
    on_max_attempts: OnMaxAttempts | None = None


#: The retry policy of a service or handler that sets none (frozen, so one value serves all).
_NO_RETRY_POLICY = RetryPolicy()


@attrs.frozen
class Handler:
    """A handler of one service revision. ``public`` is the handler's own ingress setting from
    the manifest (``ingressPrivate``), or ``None`` to follow its service; see
    :func:`restate_versioning.rules.invocations.is_public`.

    The other fields are what the admin API shows of the handler and do not change the
    versioning rules: its ``documentation`` and ``metadata``; its payloads as the server
    describes them (``input_description``, ``output_description``: ``"*/*"`` and
    ``"application/json"`` for a handler that declares none, ``"none"`` for no body,
    ``"JSON object"`` or ``"JSON 'Title'"`` from a JSON Schema...) with their JSON Schemas as
    canonical JSON text (``None`` when the server shows none); and the options the handler sets
    itself (``None``: as its service), durations in milliseconds.
    """

    name: str
    type: HandlerType
    public: bool | None = None
    documentation: str | None = None
    metadata: FrozenMap[str, str] = attrs.field(converter=freeze, factory=FrozenMap)
    input_description: str = "*/*"
    output_description: str = "application/json"
    input_json_schema: str | None = None
    output_json_schema: str | None = None
    inactivity_timeout_ms: int | None = None
    abort_timeout_ms: int | None = None
    journal_retention_ms: int | None = None
    idempotency_retention_ms: int | None = None
    enable_lazy_state: bool | None = None
    retry_policy: RetryPolicy = _NO_RETRY_POLICY

    def input_schema(self) -> Any:
        """The JSON Schema of the input, as JSON values (``None`` if there is none)."""
        return None if self.input_json_schema is None else json.loads(self.input_json_schema)

    def output_schema(self) -> Any:
        """The JSON Schema of the output, as JSON values (``None`` if there is none)."""
        return None if self.output_json_schema is None else json.loads(self.output_json_schema)


@attrs.frozen
class ServiceRevision:
    """One revision of a service, as it lives in one deployment.

    ``public`` is the service's ingress visibility; the server keeps it per revision, and it is
    reset from the manifest (``ingressPrivate``) on every new revision.

    ``state`` maps each state key the revision declares to its JSON Schema, as canonical JSON
    text (see :mod:`restate_versioning.rules.state`; the server keeps no such thing).

    The options (durations in milliseconds, lazy state, retry policy) are the ones the
    manifest sets for the service; ``None`` leaves one to the server's default
    (:mod:`restate_versioning.serialization` has those of a default-configured
    restate-server 1.7.12). ``workflow_completion_retention_ms`` is set by a Workflow's
    ``WORKFLOW`` handler in the manifest, and the admin API shows it on the service.
    """

    name: str
    revision: int
    type: ServiceType
    deployment_id: str
    public: bool
    handlers: FrozenMap[str, Handler] = attrs.field(converter=freeze)
    documentation: str | None = None
    metadata: FrozenMap[str, str] = attrs.field(converter=freeze, factory=FrozenMap)
    state: FrozenMap[str, str] = attrs.field(converter=freeze, factory=FrozenMap)
    inactivity_timeout_ms: int | None = None
    abort_timeout_ms: int | None = None
    journal_retention_ms: int | None = None
    idempotency_retention_ms: int | None = None
    workflow_completion_retention_ms: int | None = None
    enable_lazy_state: bool | None = None
    retry_policy: RetryPolicy = _NO_RETRY_POLICY

    def state_schema(self, key: str) -> Any:
        """The JSON Schema declared for state key ``key``, as JSON values."""
        return json.loads(self.state[key])


@attrs.frozen
class Deployment:
    """An immutable endpoint and the service revisions it serves.

    ``endpoint`` is the URI or Lambda ARN as registered; ``services`` maps each service name to
    its revision in this deployment; ``manifest`` is what discovery answered, kept so that the
    deployment can be promoted again without rediscovery.
    """

    id: str
    endpoint: str
    services: FrozenMap[str, ServiceRevision] = attrs.field(converter=freeze)
    created_at: datetime
    min_protocol_version: int
    max_protocol_version: int
    protocol_mode: ProtocolMode = ProtocolMode.BIDI_STREAM
    http_version: str | None = None
    sdk_version: str | None = None
    manifest: EndpointManifest | None = attrs.field(default=None, repr=False)

    @property
    def kind(self) -> EndpointKind:
        """Whether it is reached over HTTP or as an AWS Lambda function."""
        return parse_endpoint(self.endpoint).kind

    @property
    def transport(self) -> str | None:
        """The HTTP version the server speaks to it, as discovered (``http_version``); ``None``
        when the manifest was given without a discovery, since it cannot be told from the
        protocol mode: real SDKs serve REQUEST_RESPONSE over h2c and BIDI_STREAM over
        HTTP/1.1 as well."""
        return self.http_version


class LockedKey(NamedTuple):
    """A Virtual Object key an exclusive call holds (:meth:`Registry.locked_keys`): the
    service, the key, the holding invocation, and how many calls wait behind it. A tuple too,
    so ``(service, key, holder_id, waiting)`` unpacks and compares as it always did."""

    service: str
    key: str
    holder_id: str
    waiting: int


@attrs.frozen
class Failure:
    """Why the last attempt of an invocation failed (Restate's code and message)."""

    code: str
    message: str


@attrs.frozen(weakref_slot=False)
class Invocation:
    """One call to a handler.

    ``pinned_deployment_id`` and ``pinned_protocol_version`` stay ``None`` until the invocation
    starts running; from then on every attempt, suspension and resumption uses them.
    ``caller`` is the calling handler (``"Service/handler"``) or ``None`` for an ingress call.
    When the call was made from a known invocation, ``caller_id`` is that invocation's id (the
    server's ``invoked_by_id``) and ``caller_key`` its key, if its service is keyed; see
    :attr:`invoked_by_target`. ``execute_at`` is when a delayed call becomes due.
    ``handler_type`` is the handler's type in the revision the call was sent to: whether it
    queues on its key is decided by it, even after a newer revision changes the handler
    (``None`` where it is not known, as for calls read from a live cluster: then the latest
    revision decides). ``pins_at_first_command`` marks a call that, once started, stays pinned
    nowhere until its handler's first command reaches the server (see :meth:`Registry.pin`).
    """

    id: str
    service: str
    handler: str
    key: str | None
    caller: str | None
    status: InvocationStatus
    pinned_deployment_id: str | None
    created_at: datetime
    pinned_protocol_version: int | None = None
    execute_at: datetime | None = None
    last_failure: Failure | None = None
    caller_id: str | None = None
    caller_key: str | None = None
    handler_type: HandlerType | None = None
    pins_at_first_command: bool = False

    @property
    def invoked_by_target(self) -> str | None:
        """The caller as ``sys_invocation.invoked_by_target`` shows it: ``"Service/handler"``,
        or ``"Object/key/handler"`` for a keyed caller; ``None`` for an ingress call."""
        if self.caller is None or self.caller_key is None:
            return self.caller
        service, _, handler = self.caller.partition("/")
        return f"{service}/{self.caller_key}/{handler}"


class _Unfrozen:
    """An :class:`Invocation` being made: its slots, in its layout, without its frozen
    ``__setattr__`` (see :func:`make_invocation`)."""

    __slots__ = tuple(field.name for field in attrs.fields(Invocation))


def make_invocation(
    id: str,
    service: str,
    handler: str,
    key: str | None,
    caller: str | None,
    status: InvocationStatus,
    pinned_deployment_id: str | None,
    created_at: datetime,
    pinned_protocol_version: int | None,
    execute_at: datetime | None,
    last_failure: Failure | None,
    caller_id: str | None,
    caller_key: str | None,
    handler_type: HandlerType | None,
    pins_at_first_command: bool,
) -> Invocation:
    """``Invocation(...)`` with every field given, in order, made four times faster: the
    registry makes one on every command. It fills a twin of the class that has the same slots
    and becomes an :class:`Invocation` when done, instead of setting each field through
    ``object.__setattr__`` as a frozen class must. The value is the same (a test holds it to
    that); it takes no validator or converter, and :class:`Invocation` has none."""
    made = _Unfrozen()
    made.id = id  # type: ignore[attr-defined]
    made.service = service  # type: ignore[attr-defined]
    made.handler = handler  # type: ignore[attr-defined]
    made.key = key  # type: ignore[attr-defined]
    made.caller = caller  # type: ignore[attr-defined]
    made.status = status  # type: ignore[attr-defined]
    made.pinned_deployment_id = pinned_deployment_id  # type: ignore[attr-defined]
    made.created_at = created_at  # type: ignore[attr-defined]
    made.pinned_protocol_version = pinned_protocol_version  # type: ignore[attr-defined]
    made.execute_at = execute_at  # type: ignore[attr-defined]
    made.last_failure = last_failure  # type: ignore[attr-defined]
    made.caller_id = caller_id  # type: ignore[attr-defined]
    made.caller_key = caller_key  # type: ignore[attr-defined]
    made.handler_type = handler_type  # type: ignore[attr-defined]
    made.pins_at_first_command = pins_at_first_command  # type: ignore[attr-defined]
    made.__class__ = Invocation  # type: ignore[assignment]
    return made  # type: ignore[return-value]


#: Results that a rule makes live with their rule; they stay importable from here.
_OWNED_BY_RULES = {
    "Registration": "restate_versioning.rules.registration",
    "RevisionChange": "restate_versioning.rules.registration",
    "StateCheck": "restate_versioning.rules.state",
    "StateKeyCheck": "restate_versioning.rules.state",
}


__getattr__ = forward(__name__, _OWNED_BY_RULES)
