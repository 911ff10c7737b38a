"""Registering an endpoint (RESTATE_RULES §2.1-2.5, §2.7).

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

:func:`plan_registration` computes what a registration does without changing anything; the
registry applies the plan (or, for ``dry_run``, only returns it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

import attrs

from ..endpoints import Endpoint
from ..errors import InvalidManifest, Problem, ServiceTypeChanged
from ..manifest import EndpointManifest, ServiceManifest
from ..model import (
    Deployment,
    Handler,
    Outcome,
    ProtocolMode,
    RevisionChange,
    ServiceRevision,
)
from .manifest import (
    effective_handler_type,
    effective_services,
    general_problems,
    service_problems,
)

__all__ = ["RegistrationPlan", "new_service_revision", "plan_registration"]


@attrs.frozen
class RegistrationPlan:
    """What a registration does: its outcome, the deployment as it will be stored, how each
    service's latest revision moves, and which services a forced overwrite drops."""

    outcome: Outcome
    deployment: Deployment
    changes: tuple[RevisionChange, ...]
    dropped: tuple[str, ...] = ()


def new_service_revision(
    service: ServiceManifest, revision: int, deployment_id: str
) -> ServiceRevision:
    """The revision a manifest's service becomes, with visibility reset from the manifest."""
    public = not service.ingress_private if service.ingress_private is not None else True
    handlers = {  # a handler named twice is served by its last definition
        h.name: Handler(
            name=h.name,
            type=effective_handler_type(service.type, h.type),
            public=(not h.ingress_private) if h.ingress_private is not None else None,
        )
        for h in service.handlers
    }
    return ServiceRevision(
        name=service.name,
        revision=revision,
        type=service.type,
        deployment_id=deployment_id,
        public=public,
        handlers=handlers,
        documentation=service.documentation,
        metadata=service.metadata or {},
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
    problems of :class:`InvalidManifest`.
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
    if problems:
        raise InvalidManifest(problems)


def plan_registration(
    *,
    endpoint: Endpoint,
    manifest: Callable[[], EndpointManifest],
    existing: Deployment | None,
    latest: Mapping[str, ServiceRevision],
    fallback: Callable[[str, str], ServiceRevision | None],
    new_id: Callable[[], str],
    now: datetime,
    force: bool,
    breaking: bool,
    http_version: str | None = None,
    sdk_version: str | None = None,
) -> RegistrationPlan:
    """Decide a registration. ``manifest`` is called only when the manifest matters;
    ``fallback(service, deployment_id)`` is the highest revision of ``service`` outside that
    deployment. Raises :class:`InvalidManifest` or :class:`ServiceTypeChanged`."""
    if existing is not None and not force:
        return RegistrationPlan(Outcome.UNCHANGED, existing, ())
    resolved = manifest()
    _check(resolved, endpoint, latest, check_types=not (breaking or force))
    services = {name: service for name, (_, service) in effective_services(resolved).items()}
    deployment_id = existing.id if existing is not None else new_id()
    revisions: dict[str, ServiceRevision] = {}
    changes: list[RevisionChange] = []
    for service in services.values():
        previous = latest.get(service.name)
        old = previous.revision if previous is not None else None
        revision = (old or 0) + 1
        revisions[service.name] = new_service_revision(service, revision, deployment_id)
        changes.append(RevisionChange(service.name, old, revision))
    dropped: list[str] = []
    if existing is not None:
        for name, held in existing.services.items():
            if name in revisions:
                continue
            dropped.append(name)
            current = latest.get(name)
            if current is not None and current.deployment_id == existing.id:
                remaining = fallback(name, existing.id)
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
    return RegistrationPlan(outcome, deployment, tuple(changes), tuple(dropped))
