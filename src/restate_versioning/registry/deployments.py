"""The deployment side of the :class:`~restate_versioning.Registry` facade: registering,
promoting, visibility, removing, callers, and the queries about deployments and services.

The decisions are the rules' (:mod:`restate_versioning.rules.registration`,
:mod:`~restate_versioning.rules.removal`, :mod:`~restate_versioning.rules.deployment_status`);
the state is the parts' (the catalogue, the call graph, and the invocation index for what is
pinned and queued). These methods check their input, ask the rule, and apply its outcome to
the parts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import islice
from typing import Any, cast

from ..commands import Caller, ManifestInput
from ..endpoints import Endpoint, parse_endpoint
from ..errors import (
    InvalidInvocation,
    InvalidManifest,
    InvalidServiceOptions,
    Problem,
    ServiceNotFound,
    VersioningError,
    quote,
)
from ..ids import parse_deployment_id
from ..manifest import Discovery, EndpointManifest
from ..model import Deployment, DeploymentStatus, Outcome, ServiceRevision, ServiceType
from ..rules.deployment_status import deployment_status
from ..rules.manifest import SERVICE_NAME
from ..rules.registration import Registration, RegistrationPlan, plan_registration, plan_update
from ..rules.removal import LISTED_INVOCATIONS, Removal, RemovalBlocked, RemovalPlan, plan_removal
from .base import RegistryParts

_WORKFLOW = ServiceType.WORKFLOW

__all__ = ["DeploymentCommands", "check_caller", "check_name"]

_MANIFEST_INPUTS = (Discovery, EndpointManifest, str, bytes, bytearray, Mapping)


def check_name(value: object, what: str) -> None:
    """A name given to a query (a service, a handler) must be a str."""
    if not isinstance(value, str):
        raise InvalidInvocation(f"a {what} name is a str, got {quote(value)}", **{what: value})


def check_caller(caller: object) -> str:
    """A calling handler (a :class:`Caller` or its text), as ``"Service/handler"``."""
    return str(Caller.parse(caller))


class DeploymentCommands(RegistryParts):
    """Deployments and services: their commands and queries (see :class:`Registry`)."""

    # --- queries ----------------------------------------------------------------------------

    def services(self) -> tuple[ServiceRevision, ...]:
        """The latest revision of every service, by name."""
        latest = self._catalogue.latest
        return tuple(latest[name] for name in sorted(latest))

    def service(self, name: str) -> ServiceRevision:
        """The latest revision of ``name``; :class:`ServiceNotFound` if none is left."""
        return self._latest_of(name)

    def service_revisions(self, name: str) -> tuple[ServiceRevision, ...]:
        """Every revision of ``name`` still held by a deployment, oldest first."""
        revisions = self._catalogue.revisions(name) if isinstance(name, str) else ()
        if not revisions:
            raise ServiceNotFound(name)
        return revisions

    def deployments(self) -> tuple[Deployment, ...]:
        """Every registered deployment, in the order they were created."""
        return self._catalogue.deployments()

    def deployment(self, deployment_id: str) -> Deployment:
        """The deployment with this id. :class:`InvalidId` for a malformed id,
        :class:`DeploymentRemoved` for a removed one, :class:`DeploymentNotFound` otherwise."""
        return self._deployment(deployment_id)

    def find_deployment(self, endpoint: str) -> Deployment | None:
        """The deployment registered at ``endpoint`` (or another spelling of it), if any."""
        return self._catalogue.at(parse_endpoint(endpoint).key)

    def deployment_status(self, deployment_id: str) -> DeploymentStatus:
        """``ACTIVE``, ``DRAINING`` or ``DRAINED``, as the ``restate`` CLI computes it: paused
        invocations keep their pin and keep a deployment draining, as every other started,
        uncompleted one does."""
        held = (
            self._catalogue.latest_held(deployment_id) if isinstance(deployment_id, str) else None
        )
        if held is None:  # every registered deployment has a count
            self.deployment(deployment_id)  # raises the precise error
        return deployment_status(held or 0, self._counted(deployment_id))

    def _counted(self, deployment_id: str) -> int:
        """The invocations the CLI counts for a deployment: pinned and not completed
        (``pinned_deployment_id = X AND status != 'completed'``), paused ones included."""
        return len(self._invocations.pinned_to(deployment_id))

    def was_removed(self, deployment_id: str) -> bool:
        """Whether a deployment with this id existed and was removed; :class:`InvalidId` for
        anything that is not a well-formed deployment id."""
        if isinstance(deployment_id, str) and self._catalogue.was_removed(deployment_id):
            return True
        parse_deployment_id(deployment_id)
        return False

    # --- registering ----------------------------------------------------------------------

    def register(
        self,
        endpoint: str | Endpoint,
        manifest: ManifestInput,
        *,
        force: bool = False,
        breaking: bool = False,
        dry_run: bool = False,
        http_version: str | None = None,
        sdk_version: str | None = None,
        state: Mapping[str, Mapping[str, Any]] | None = None,
        check_state: bool = True,
    ) -> Registration:
        """Register what ``endpoint`` serves, as ``POST /deployments`` does.

        ``manifest`` is the endpoint's discovery answer: a
        :class:`~restate_versioning.manifest.Discovery` (what a transport discovers; its HTTP
        version and SDK version are taken unless ``http_version``/``sdk_version`` are given),
        an :class:`EndpointManifest`, or its JSON (text, UTF-8 bytes, or a ``Mapping`` of JSON
        values); anything else is an :class:`InvalidManifest` saying what it takes. Read as
        :meth:`EndpointManifest.from_json` reads it: at most
        :data:`~restate_versioning.manifest.MAX_MANIFEST_BYTES` of text, no ``NaN``, no key
        twice, at most 127 levels deep; an :class:`EndpointManifest` built by hand is checked
        the same way, through its JSON. Returns the outcome (``CREATED``, ``UNCHANGED``,
        ``OVERWRITTEN``), the deployment and how each service's latest revision moved. With
        ``dry_run`` everything is checked and the would-be result returned, and nothing is
        stored. Raises :class:`InvalidEndpoint`, :class:`InvalidManifest` (every problem at
        once) or :class:`ServiceTypeChanged`; see :mod:`restate_versioning.rules.registration`.
        Whatever it raises, the registry is left exactly as it was.

        Going further than the server: ``state`` declares the JSON Schema of state keys per
        service (``{"Cart": {"items": schema}}``), beside any in the manifest's service
        metadata. A new revision that cannot read the state the revisions before it may have
        written raises :class:`IncompatibleState` unless ``breaking`` or ``force`` (each check
        is in the result's ``state_checks``); a bad declaration raises
        :class:`InvalidStateSchema`. See :mod:`restate_versioning.rules.state`. ``state`` is
        read only when revisions are made (not for an ``UNCHANGED`` outcome). Each state check
        is bounded in time and size (see :mod:`restate_versioning.schemas`), with ``breaking``
        too. ``check_state=False`` runs no state check at all and reports none (``state_checks``
        is empty), whatever the schemas: for applying again a registration that was checked
        when it was made, as replaying a store does; declarations are still read and checked.
        """
        parsed = parse_endpoint(endpoint)
        answer, http_version, sdk_version = _discovered(
            "register", manifest, http_version, sdk_version
        )
        existing = self._catalogue.at(parsed.key)
        now = self._now()
        plan = plan_registration(
            endpoint=parsed,
            manifest=lambda: _read(answer),
            existing=existing,
            catalogue=self._catalogue,
            new_id=lambda: (self._next_deployment_id if dry_run else self._new_deployment_id)(now),
            now=now,
            force=force,
            breaking=breaking,
            http_version=http_version,
            sdk_version=sdk_version,
            state=state,
            still_writing=self._still_writing,
            check_state=check_state,
        )
        if not dry_run:
            self._apply(plan, parsed, existing)
        return Registration(plan.outcome, plan.deployment, plan.changes, dry_run, plan.state_checks)

    def update_deployment(
        self,
        deployment_id: str,
        endpoint: str | Endpoint,
        manifest: ManifestInput,
        *,
        dry_run: bool = False,
        http_version: str | None = None,
        sdk_version: str | None = None,
    ) -> Deployment:
        """Move a deployment to another address, as ``PATCH /deployments/{id}`` with a new
        ``uri`` does: the same code, served elsewhere. ``manifest`` is what discovery answered
        there (as :meth:`register` takes it). The deployment keeps its id, creation time,
        revisions, visibility and the calls pinned to it, and takes the new address, protocol
        mode, HTTP and SDK versions; with ``dry_run`` the moved deployment is returned and
        nothing is kept. Raises :class:`DeploymentNotFound`, :class:`InvalidEndpoint`,
        :class:`InvalidManifest`, or :class:`DeploymentUpdateRefused` for an endpoint that
        speaks other protocol versions (the server's META0016) or, going further than the
        server, serves other services or handlers, or is another deployment's address (see
        :mod:`restate_versioning.rules.registration`)."""
        deployment = self.deployment(deployment_id)
        parsed = parse_endpoint(endpoint)
        answer, http_version, sdk_version = _discovered(
            "update_deployment", manifest, http_version, sdk_version
        )
        moved = plan_update(
            deployment,
            parsed,
            _read(answer),
            other=self._catalogue.at(parsed.key),
            http_version=http_version,
            sdk_version=sdk_version,
        )
        if not dry_run:
            self._catalogue.move(deployment, moved, parsed.key)
            self._changes += 1
        return moved

    def promote(
        self, deployment_id: str, *, breaking: bool = False, check_state: bool = True
    ) -> Registration:
        """Make a deployment's services the latest again, for an instant rollback.

        This goes further than the server: it is what ``force`` re-registering the same
        endpoint does (same id, ``created_at`` reset, every service ``latest + 1``, visibility
        reset from its manifest), without asking the endpoint for its manifest again. Its
        revisions keep the state they declared; when one cannot read the state the revisions
        after it may have written, this raises :class:`IncompatibleState` unless ``breaking``.
        ``check_state=False`` runs no state check and reports none, as in :meth:`register`.
        """
        deployment = self.deployment(deployment_id)
        manifest = deployment.manifest
        if manifest is None:
            raise VersioningError(
                f"deployment {deployment_id!r} keeps no manifest, so it cannot be promoted "
                f"without rediscovery: register its endpoint again with force=True"
            )
        parsed = parse_endpoint(deployment.endpoint)
        now = self._now()
        plan = plan_registration(
            endpoint=parsed,
            manifest=lambda: manifest,
            existing=deployment,
            catalogue=self._catalogue,
            new_id=lambda: self._new_deployment_id(now),
            now=now,
            force=True,
            breaking=True,
            http_version=deployment.http_version,
            sdk_version=deployment.sdk_version,
            state={
                name: {key: revision.state_schema(key) for key in revision.state}
                for name, revision in deployment.services.items()
            },
            refuse_incompatible_state=not breaking,
            still_writing=self._still_writing,
            check_state=check_state,
        )
        self._apply(plan, parsed, deployment)
        return Registration(
            plan.outcome, plan.deployment, plan.changes, state_checks=plan.state_checks
        )

    def _apply(
        self, plan: RegistrationPlan, endpoint: Endpoint, existing: Deployment | None
    ) -> None:
        if plan.outcome is Outcome.UNCHANGED:
            return
        self._changes += 1
        self._catalogue.put(plan.deployment, endpoint.key, existing)

    def _still_writing(self, service: str) -> Iterator[ServiceRevision]:
        """The revisions of ``service`` other than the latest with invocations of it in flight,
        newest first: they may still write its state."""
        latest = self._catalogue.latest.get(service)
        invocations = self._invocations
        for revision in self._catalogue.history(service):
            if latest is not None and revision.deployment_id == latest.deployment_id:
                continue
            pinned = invocations.pinned_to(revision.deployment_id)
            if any(invocations[i].service == service for i in pinned):
                yield revision

    def set_public(self, name: str, public: bool) -> ServiceRevision:
        """Make a service public or private (``PATCH /services/{name}``). It applies to the
        latest revision only; the next revision takes its visibility from its manifest again."""
        self.service(name)
        if not isinstance(public, bool):
            raise InvalidInvocation(
                f"public must be True or False, got {quote(public)}", public=public
            )
        updated = self._catalogue.set_public(name, public)
        self._changes += 1
        return updated

    def set_options(
        self,
        name: str,
        *,
        idempotency_retention_ms: int | None = None,
        journal_retention_ms: int | None = None,
        workflow_completion_retention_ms: int | None = None,
        inactivity_timeout_ms: int | None = None,
        abort_timeout_ms: int | None = None,
    ) -> ServiceRevision:
        """Change a service's retentions and timeouts, in milliseconds (``PATCH
        /services/{name}``); ``None`` leaves one as it is (all ``None``: nothing changes).
        As with visibility, it applies to the latest revision only: the next revision takes
        its options from its manifest again (seen on restate-server 1.7.12). A workflow
        completion retention is refused for a service that is not a Workflow, in the
        server's words; a negative or non-integer duration with
        :class:`InvalidServiceOptions`."""
        current = self.service(name)
        given = {
            "idempotency_retention_ms": idempotency_retention_ms,
            "journal_retention_ms": journal_retention_ms,
            "workflow_completion_retention_ms": workflow_completion_retention_ms,
            "inactivity_timeout_ms": inactivity_timeout_ms,
            "abort_timeout_ms": abort_timeout_ms,
        }
        changes = {field: value for field, value in given.items() if value is not None}
        for field, value in changes.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidServiceOptions(
                    f"{field} is a number of milliseconds, at least 0, got {quote(value)}",
                    **changes,
                )
        if workflow_completion_retention_ms is not None and current.type is not _WORKFLOW:
            raise InvalidServiceOptions(
                f"modifying retention time for service type {current.type.title} is unsupported",
                **changes,
            )
        if not changes:
            return current
        updated = self._catalogue.modify(name, **changes)
        self._changes += 1
        return updated

    # --- removing ---------------------------------------------------------------------------

    def removal_plan(self, deployment_id: str) -> RemovalPlan:
        """Whether removing the deployment now is safe, every reason it is not, and what it
        would do to each of its services (see :mod:`restate_versioning.rules.removal`). This
        goes further than the server, which checks nothing, and than the CLI."""
        deployment = self.deployment(deployment_id)
        pinned = self._invocations.pinned_to(deployment_id)
        return plan_removal(
            deployment,
            status=self.deployment_status(deployment_id),
            catalogue=self._catalogue,
            callers=self.callers_of,
            waiting=self._waiting_of,
            in_flight=(len(pinned), tuple(islice(pinned, LISTED_INVOCATIONS))),
            calling=self._calling_into,
        )

    def _calling_into(self, service: str) -> Iterator[tuple[str, str]]:
        """The calling handler and invocation of each call into ``service`` in progress."""
        for found in self._invocations.calls_into(service):
            if found.caller is not None and found.caller_id is not None:
                yield found.caller, found.caller_id

    def _waiting_of(self, service: str) -> tuple[int, tuple[str, ...]]:
        waiting = self._invocations.waiting_for(service)
        return len(waiting), tuple(islice(waiting, LISTED_INVOCATIONS))

    def remove(self, deployment_id: str, *, force: bool = False) -> Removal:
        """Remove a deployment.

        Without ``force`` this raises :class:`RemovalBlocked` (with its ``plan``) unless the
        removal plan is safe, and changes nothing. With ``force`` it removes whatever the plan
        says, as ``DELETE /deployments/{id}?force=true`` does. Every service it held the latest
        revision of falls back to the highest revision left elsewhere, or disappears; revision
        numbers are then reused. Work pinned to it is not touched: its next attempt fails
        (RT0011), as on the server.
        """
        plan = self.removal_plan(deployment_id)
        if not isinstance(force, bool):
            raise InvalidInvocation(f"force must be True or False, got {quote(force)}", force=force)
        if not plan.safe and not force:
            raise RemovalBlocked(plan)
        deployment = self._catalogue[deployment_id]
        self._catalogue.drop(deployment)
        self._changes += 1
        return Removal(deployment, plan.effects, plan.blockers if force else ())

    def drained(self) -> tuple[RemovalPlan, ...]:
        """The removal plans of every deployment that is safe to remove now, oldest first: a
        garbage-collection plan. (The server has nothing like it.)"""
        plans = (self.removal_plan(d) for d in self._catalogue.deployment_ids())
        return tuple(plan for plan in plans if plan.safe)

    # --- callers ----------------------------------------------------------------------------

    def declare_caller(self, service: str, caller: str | Caller) -> None:
        """Record up front that handler ``caller`` (a :class:`Caller`, or
        ``"Service/handler"``) calls ``service``:
        a call that has not happened yet is still a dependency. It blocks removing the last
        revision of ``service`` while the caller's service stays."""
        text = check_caller(caller)
        if not isinstance(service, str) or not SERVICE_NAME.fullmatch(service):
            raise InvalidInvocation(f"invalid service name {quote(service)}", service=service)
        self._calls.declare(service, text)
        self._changes += 1

    def forget_caller(self, service: str, caller: str | Caller) -> None:
        """Forget that ``caller`` (a :class:`Caller`, or ``"Service/handler"``) calls
        ``service`` (recorded and declared); :class:`InvalidInvocation` if it is not known to
        (or either is not a str)."""
        check_name(service, "service")
        if isinstance(caller, Caller):
            caller = str(caller)
        check_name(caller, "caller")
        if not self._calls.knows(service, caller):
            if caller in self._catalogue.declared_callers(service):
                raise InvalidInvocation(
                    f"{quote(caller)} is declared to call {quote(service)} by the latest "
                    f"revision of {quote(caller.partition('/')[0])}, in its metadata: that "
                    "ends when a revision without the declaration is registered",
                    service=service,
                    caller=caller,
                )
            raise InvalidInvocation(
                f"{quote(caller)} is not known to call {quote(service)}",
                service=service,
                caller=caller,
            )
        self._calls.forget(service, caller)
        self._changes += 1

    def callers_of(self, service: str) -> tuple[str, ...]:
        """The handlers known to call ``service``, sorted: recorded from calls made with
        ``caller=``, declared with :meth:`declare_caller`, and declared by the latest revision
        of a service in its metadata (``"Caller/*"``, any of its handlers; see
        :mod:`restate_versioning.rules.callers`). :class:`InvalidInvocation` if ``service`` is
        not a str."""
        check_name(service, "service")
        known = self._calls.callers_of(service)
        declared = self._catalogue.declared_callers(service)
        return tuple(sorted({*known, *declared})) if declared else known


#: A discovery answer, taken from a :class:`Discovery`.
_Answer = EndpointManifest | str | bytes | bytearray | Mapping[str, Any]


def _discovered(
    verb: str, manifest: object, http_version: object, sdk_version: object
) -> tuple[_Answer, str | None, str | None]:
    """What discovery answered, taken apart: the manifest, and the HTTP and SDK versions (a
    :class:`Discovery`'s, unless given); :class:`InvalidManifest` or
    :class:`InvalidInvocation` for what is none of these."""
    if not isinstance(manifest, _MANIFEST_INPUTS):
        raise InvalidManifest(
            [
                Problem(
                    "$",
                    f"{verb} takes what discovery answered: a Discovery (what a transport "
                    "discovers), an EndpointManifest, its JSON as text or UTF-8 bytes, or a "
                    f"Mapping of JSON values; got {quote(manifest)}",
                )
            ]
        )
    if isinstance(manifest, Discovery):  # what a transport discovered: take all of it
        http_version = manifest.http_version if http_version is None else http_version
        sdk_version = manifest.sdk_version if sdk_version is None else sdk_version
        manifest = manifest.manifest
    for name, value in (("http_version", http_version), ("sdk_version", sdk_version)):
        if value is not None and not isinstance(value, str):
            raise InvalidInvocation(f"{name} must be a str, got {quote(value)}", **{name: value})
    # checked above: a discovery answer, and the versions None or text
    return cast(_Answer, manifest), cast(str | None, http_version), cast(str | None, sdk_version)


def _read(manifest: _Answer) -> EndpointManifest:
    """The manifest, read as the server reads a discovery answer: a value built by hand is read
    again from its JSON, so that it is checked as the server would check the answer it stands
    for; one read is taken as it is."""
    if isinstance(manifest, EndpointManifest):
        if manifest.was_read:
            return manifest
        return EndpointManifest.from_json(manifest.to_json())
    return EndpointManifest.from_json(manifest)
