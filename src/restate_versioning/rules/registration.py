"""Registering an endpoint (docs/rules.md, "Registering").

* A new endpoint creates a deployment: ``CREATED``. Each service it serves gets revision
  ``latest + 1``, or 1 for a service nobody served before.
* An endpoint that is already registered, without ``force``: ``UNCHANGED``, the stored deployment
  comes back and nothing is looked at, not even the manifest (the server does no discovery then).
* With ``force``: ``OVERWRITTEN`` in place. Same id, ``created_at`` reset, every service in the new
  manifest gets ``latest + 1`` (so a draining deployment becomes the latest again), services the
  new manifest lacks are dropped from the deployment. ``force`` implies ``breaking``.
* The only check across revisions: the service type cannot change (META0006), unless
  ``breaking``. Added, removed or retyped handlers are accepted.
* A new revision takes its visibility from the manifest: public unless ``ingressPrivate``; a
  handler is public unless it says otherwise and its service is private.
* Going further than the server: a new revision of a Virtual Object or Workflow must be able to
  read, key by key, the state that the revisions before it may have written, unless
  ``breaking`` (:mod:`restate_versioning.rules.state`).

:func:`plan_registration` computes what a registration does without changing anything; the
registry applies the plan (or, for ``dry_run``, only returns it).

Updating a deployment (``PATCH /deployments/{id}``, :func:`plan_update`) moves it to another
address: the same id, creation time, revisions, visibility and pins, with the new address's
protocol mode, HTTP and SDK versions. The endpoint must speak the same protocol versions (the
server's META0016). Going further than the server, which takes any endpoint and keeps showing
the services it had (or, with ``overwrite``, replaces them without a new revision), the model
takes only an endpoint that serves the same services, of the same types, with the same
handlers, at an address no other deployment has.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs

from ..endpoints import Endpoint
from ..errors import (
    DeploymentUpdateRefused,
    InvalidManifest,
    InvalidStateSchema,
    Problem,
    ServiceTypeChanged,
    quote,
)
from ..manifest import EndpointManifest, HandlerManifest, ServiceManifest
from ..model import (
    Deployment,
    Handler,
    OnMaxAttempts,
    Outcome,
    ProtocolMode,
    RetryPolicy,
    ServiceRevision,
)
from ..schemas import Verdict
from .callers import calls_problems
from .catalogue import CatalogueView
from .manifest import (
    duration_problems,
    effective_handler_type,
    effective_services,
    general_problems,
    service_problems,
)
from .state import IncompatibleState, StateCheck, declared_state
from .state import check_state as state_check

__all__ = [
    "UNASSIGNED",
    "Registration",
    "RegistrationPlan",
    "RevisionChange",
    "canonical_json",
    "new_service_revision",
    "payload_view",
    "plan_registration",
    "plan_update",
]

#: The deployment id a refused registration's state checks name: none was drawn for it.
UNASSIGNED = "(no id: not registered)"


@attrs.frozen
class RevisionChange:
    """How one service's latest revision moved: ``None`` means it did not exist before, or is
    gone after."""

    name: str
    old_revision: int | None
    new_revision: int | None


@attrs.frozen
class Registration:
    """What :meth:`Registry.register` did, or would do with ``dry_run``; ``state_checks``
    are the state checks of its new revisions (none refused it: see
    :mod:`restate_versioning.rules.state`), where both sides declare state."""

    outcome: Outcome
    deployment: Deployment
    changes: tuple[RevisionChange, ...]
    dry_run: bool = False
    state_checks: tuple[StateCheck, ...] = ()


@attrs.frozen
class RegistrationPlan:
    """What a registration does: its outcome, the deployment as it will be stored, how each
    service's latest revision moves, which services a forced overwrite drops, and the state
    checks of its new revisions against the revisions they take over from."""

    outcome: Outcome
    deployment: Deployment
    changes: tuple[RevisionChange, ...]
    dropped: tuple[str, ...] = ()
    state_checks: tuple[StateCheck, ...] = ()


def new_service_revision(
    service: ServiceManifest,
    revision: int,
    deployment_id: str,
    state: Mapping[str, str] | None = None,
) -> ServiceRevision:
    """The revision a manifest's service becomes, with visibility reset from the manifest, and
    ``state`` its declared state keys (see :func:`.state.declared_state`); its documentation,
    metadata and options, and its handlers' payloads as the admin API describes them (see
    :func:`payload_view`), are kept as the admin API shows them."""
    public = not service.ingress_private if service.ingress_private is not None else True
    handlers = {  # a handler named twice is served by its last definition
        h.name: _new_handler(service, h) for h in service.handlers
    }
    completion = None
    for handler in {h.name: h for h in service.handlers}.values():
        if "workflowCompletionRetention" in handler.options:
            completion = handler.options["workflowCompletionRetention"]
    return ServiceRevision(
        name=service.name,
        revision=revision,
        type=service.type,
        deployment_id=deployment_id,
        public=public,
        handlers=handlers,
        documentation=service.documentation,
        metadata=service.metadata or {},
        state=state if state is not None else {},
        workflow_completion_retention_ms=completion,
        **_options(service.options),
    )


def _new_handler(service: ServiceManifest, handler: HandlerManifest) -> Handler:
    input_description, input_schema = payload_view(handler.input, output=False)
    output_description, output_schema = payload_view(handler.output, output=True)
    return Handler(
        name=handler.name,
        type=effective_handler_type(service.type, handler.type),
        public=(not handler.ingress_private) if handler.ingress_private is not None else None,
        documentation=handler.documentation,
        metadata=handler.metadata or {},
        input_description=input_description,
        output_description=output_description,
        input_json_schema=input_schema,
        output_json_schema=output_schema,
        **_options(handler.options),
    )


_NO_OPTIONS: dict[str, Any] = {}


def _options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The model's fields for the options of a manifest's service or handler (none set: the
    fields' defaults)."""
    if not options:
        return _NO_OPTIONS
    factor = options.get("retryPolicyExponentiationFactor")
    attempts = options.get("retryPolicyMaxAttempts")
    exhausted = options.get("retryPolicyOnMaxAttempts")
    return {
        "inactivity_timeout_ms": options.get("inactivityTimeout"),
        "abort_timeout_ms": options.get("abortTimeout"),
        "journal_retention_ms": options.get("journalRetention"),
        "idempotency_retention_ms": options.get("idempotencyRetention"),
        "enable_lazy_state": options.get("enableLazyState"),
        "retry_policy": RetryPolicy(
            initial_interval_ms=options.get("retryPolicyInitialInterval"),
            exponentiation_factor=float(factor) if factor is not None else None,
            max_attempts=max(attempts, 1) if attempts is not None else None,
            max_interval_ms=options.get("retryPolicyMaxInterval"),
            on_max_attempts=OnMaxAttempts(exhausted) if exhausted is not None else None,
        ),
    }


def payload_view(payload: Mapping[str, Any] | None, *, output: bool) -> tuple[str, str | None]:
    """How restate-server 1.7.12 describes a handler's input (or ``output``) payload of the
    manifest, and the JSON Schema it shows with it (canonical JSON text, or ``None``).

    No payload is ``"*/*"`` as input and ``"application/json"`` as output, with no schema. One
    without ``contentType`` has no body: ``"none"`` (an input that is also ``required`` is
    ``"<invalid rules>"``), and its ``jsonSchema`` is not shown. Otherwise the schema, if any,
    is shown, and the description is ``"JSON 'Title'"`` for a schema with a string ``title``,
    ``"JSON <type>"`` for one with a string ``type``, else the content type, after
    ``"optional "`` for an output that sets ``setContentTypeIfEmpty``."""
    if payload is None:
        return ("application/json" if output else "*/*"), None
    content_type = payload.get("contentType")
    if content_type is None:
        if not output and payload.get("required") is True:
            return "<invalid rules>", None
        return "none", None
    schema = payload.get("jsonSchema")
    text = None if schema is None else canonical_json(schema)
    title = schema.get("title") if isinstance(schema, Mapping) else None
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    if isinstance(title, str):
        return f"JSON '{title}'", text
    if isinstance(kind, str):
        return f"JSON {kind}", text
    if output and payload.get("setContentTypeIfEmpty") is True:
        return f"optional {content_type}", text
    return str(content_type), text


def canonical_json(value: Any) -> str:
    """JSON values (frozen mappings and tuples included) as canonical JSON text."""
    return json.dumps(
        value, default=dict, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def _check(
    manifest: EndpointManifest,
    endpoint: Endpoint,
    latest: Mapping[str, ServiceRevision],
    *,
    check_types: bool,
) -> None:
    """Raise what the server would answer, listing every problem.

    The server first checks names, protocol and reserved names, then builds each service's
    revision in turn: the type check (META0006) and then its handlers. So a type change is
    what it reports when no problem came before it; otherwise the type change joins the
    problems of :class:`InvalidManifest`. Durations longer than the server holds come last (the
    server panics on them once everything else has passed; the model refuses them).
    """
    problems = general_problems(manifest, endpoint)
    for index, service in effective_services(manifest).values():
        previous = latest.get(service.name)
        if check_types and previous is not None and previous.type is not service.type:
            if not problems:
                raise ServiceTypeChanged(service.name, previous.type, service.type)
            problems.append(
                Problem(
                    f"$.services[{index}].ty",
                    str(ServiceTypeChanged(service.name, previous.type, service.type).message),
                    ServiceTypeChanged.code,
                )
            )
        problems.extend(service_problems(service, index))
    problems.extend(duration_problems(manifest))  # the server gets there last (and panics)
    if problems:
        raise InvalidManifest(problems)


def plan_registration(
    *,
    endpoint: Endpoint,
    manifest: Callable[[], EndpointManifest],
    existing: Deployment | None,
    catalogue: CatalogueView,
    new_id: Callable[[], str],
    now: datetime,
    force: bool,
    breaking: bool,
    http_version: str | None = None,
    sdk_version: str | None = None,
    state: Mapping[str, Mapping[str, Any]] | None = None,
    refuse_incompatible_state: bool | None = None,
    still_writing: Callable[[str], Iterable[ServiceRevision]] = lambda name: (),
    check_state: bool = True,
) -> RegistrationPlan:
    """Decide a registration from what ``catalogue`` holds (read only: the latest revision of
    each service, what is left of a service outside a deployment, its revisions newest first,
    against which a state key the latest revision does not declare is checked). ``manifest``
    is called only when the manifest matters; ``state`` declares state keys per service name,
    beside the manifest's metadata; ``still_writing(service)`` are the revisions of
    ``service`` other than the latest that still have invocations of it in flight.
    Incompatible state refuses the registration when ``refuse_incompatible_state`` (by
    default: neither ``breaking`` nor ``force``). Without ``check_state`` no state check runs
    and none is reported (the declarations are still read and checked). Raises
    :class:`InvalidManifest`, :class:`ServiceTypeChanged`, :class:`InvalidStateSchema` or
    :class:`IncompatibleState`."""
    if existing is not None and not force:
        return RegistrationPlan(Outcome.UNCHANGED, existing, ())
    resolved = manifest()
    latest = catalogue.latest
    _check(resolved, endpoint, latest, check_types=not (breaking or force))
    indexed = effective_services(resolved)
    services = {name: service for name, (_, service) in indexed.items()}
    calls = [
        problem
        for name, (index, service) in indexed.items()
        for problem in calls_problems(service.metadata, f"$.services[{index}].metadata")
    ]
    if calls:
        raise InvalidManifest(calls)
    declared = _declared_state(indexed, state)
    if refuse_incompatible_state is None:
        refuse_incompatible_state = not (breaking or force)
    # A refused registration takes no id: when the state check may still refuse it, the new
    # deployment's id is drawn only once it has passed (UNASSIGNED until then).
    may_refuse = check_state and refuse_incompatible_state and any(declared.values())
    deployment_id = existing.id if existing is not None else None
    if deployment_id is None:
        deployment_id = UNASSIGNED if may_refuse else new_id()
    revisions: dict[str, ServiceRevision] = {}
    changes: list[RevisionChange] = []
    checks: list[StateCheck] = []
    for service in services.values():
        previous = latest.get(service.name)
        old = previous.revision if previous is not None else None
        revision = (old or 0) + 1
        new = new_service_revision(service, revision, deployment_id, declared[service.name])
        revisions[service.name] = new
        changes.append(RevisionChange(service.name, old, revision))
        if check_state and previous is not None and new.state:
            check = state_check(
                previous, new, catalogue.history(service.name), still_writing(service.name)
            )
            if check.keys:
                checks.append(check)
    incompatible = [c for c in checks if c.verdict is Verdict.INCOMPATIBLE]
    if incompatible and refuse_incompatible_state:
        raise IncompatibleState(incompatible)
    if deployment_id == UNASSIGNED:
        deployment_id = new_id()
        revisions = {n: attrs.evolve(r, deployment_id=deployment_id) for n, r in revisions.items()}
        checks = [attrs.evolve(c, reader_deployment_id=deployment_id) for c in checks]
    dropped: list[str] = []
    if existing is not None:
        for name, held in existing.services.items():
            if name in revisions:
                continue
            dropped.append(name)
            current = latest.get(name)
            if current is not None and current.deployment_id == existing.id:
                remaining = catalogue.fallback(name, existing.id)
                changes.append(
                    RevisionChange(name, held.revision, remaining.revision if remaining else None)
                )
    deployment = Deployment(
        id=deployment_id,
        endpoint=endpoint.text,
        services=revisions,
        created_at=now,
        min_protocol_version=resolved.min_protocol_version,
        max_protocol_version=resolved.max_protocol_version,
        protocol_mode=resolved.protocol_mode or ProtocolMode.REQUEST_RESPONSE,
        http_version=http_version,
        sdk_version=sdk_version,
        manifest=resolved,
    )
    outcome = Outcome.OVERWRITTEN if existing is not None else Outcome.CREATED
    return RegistrationPlan(outcome, deployment, tuple(changes), tuple(dropped), tuple(checks))


def _declared_state(
    services: Mapping[str, tuple[int, ServiceManifest]],
    state: Mapping[str, Mapping[str, Any]] | None,
) -> dict[str, Mapping[str, str]]:
    """Each service's declared state keys; every problem at once."""
    problems: list[Problem] = []
    if state is not None and not isinstance(state, Mapping):
        raise InvalidStateSchema(
            [
                Problem(
                    "state", f"expected a mapping of service name to state keys, got {quote(state)}"
                )
            ]
        )
    for name in state or {}:
        if name not in services:
            problems.append(
                Problem(f"state[{name!r}]", f"the manifest has no service named {name!r}")
            )
    declared: dict[str, Mapping[str, str]] = {}
    for name, (index, service) in services.items():
        try:
            declared[name] = declared_state(service, (state or {}).get(name), index)
        except InvalidStateSchema as exc:
            problems.extend(exc.problems)
    if problems:
        raise InvalidStateSchema(problems)
    return declared


def _served(services: Iterable[tuple[str, str, Iterable[str]]]) -> dict[str, tuple[str, list[str]]]:
    return {name: (kind, sorted(handlers)) for name, kind, handlers in services}


def plan_update(
    deployment: Deployment,
    endpoint: Endpoint,
    manifest: EndpointManifest,
    *,
    other: Deployment | None,
    http_version: str | None,
    sdk_version: str | None,
) -> Deployment:
    """``deployment`` moved to ``endpoint``, which serves ``manifest`` (see the module
    docstring); ``other`` is the deployment already at that address, if any. Raises
    :class:`DeploymentUpdateRefused`."""
    old = (deployment.min_protocol_version, deployment.max_protocol_version)
    new = (manifest.min_protocol_version, manifest.max_protocol_version)
    if old != new:
        raise DeploymentUpdateRefused(
            deployment.id,
            "The update tried to change the supported protocol versions from "
            f"{old[0]}..={old[1]} to {new[0]}..={new[1]}",
        )
    kept = _served(
        (
            name,
            revision.type.value,
            (f"{h.name} ({h.type.value})" for h in revision.handlers.values()),
        )
        for name, revision in deployment.services.items()
    )
    offered = _served(
        (service.name, service.type.value, _handlers_of(service))
        for _, service in effective_services(manifest).values()
    )
    if offered != kept:
        raise DeploymentUpdateRefused(
            deployment.id,
            f"The endpoint serves {_describe_services(offered)}, the deployment "
            f"{_describe_services(kept)} (the server would take it, and keep showing the "
            "services it had; the model takes the same code at another address only)",
        )
    if other is not None and other.id != deployment.id:
        raise DeploymentUpdateRefused(
            deployment.id,
            f"{endpoint.text!r} is the address of deployment {other.id!r} (the server would "
            "keep two deployments at one address)",
        )
    return attrs.evolve(
        deployment,
        endpoint=endpoint.text,
        protocol_mode=manifest.protocol_mode or ProtocolMode.REQUEST_RESPONSE,
        http_version=http_version,
        sdk_version=sdk_version,
        manifest=manifest,
    )


def _handlers_of(service: ServiceManifest) -> Iterable[str]:
    for handler in service.handlers:
        try:
            kind = effective_handler_type(service.type, handler.type).value
        except KeyError:  # a pair the server refuses: it differs from any registered one
            kind = f"{handler.type} on a {service.type.value}"
        yield f"{handler.name} ({kind})"


def _describe_services(services: Mapping[str, tuple[str, list[str]]]) -> str:
    return (
        "; ".join(
            f"{name} ({kind}: {', '.join(handlers) or 'no handlers'})"
            for name, (kind, handlers) in sorted(services.items())
        )
        or "no services"
    )
