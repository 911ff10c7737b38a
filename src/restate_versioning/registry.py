"""The :class:`Registry`: the state of one Restate cluster's versioning, and its commands.

The registry holds deployments, the latest revision of every service, and invocations, plus the
indexes that keep every query cheap (status, counts, removal plans). The rules live in
:mod:`restate_versioning.rules` (registration, admission, the status machine, pinning,
removal); the registry keeps the state they need and applies them. What it does itself is
bookkeeping: the inbox and holder of each key, the run of each workflow key, and the checks of
moving an invocation (docs/rules.md, "Routing and pinning"). Every command validates first and
then applies, so a command either fully succeeds or raises a
:class:`~restate_versioning.VersioningError` and changes nothing.

It does no I/O. Time comes from ``clock`` (a zero-argument callable returning an aware
``datetime``) and ids from ``ids`` (an :class:`~restate_versioning.ids.IdGenerator`); inject both
to make a harness fully deterministic.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import attrs

from .clock import check_time, check_time_after
from .commands import COMMANDS, Command, ManifestInput, R, ResumeTarget
from .endpoints import Endpoint, parse_endpoint
from .errors import (
    DeploymentNotFound,
    DeploymentRemoved,
    HandlerNotFound,
    InvalidCaller,
    InvalidCommand,
    InvalidInvocation,
    InvalidManifest,
    InvalidSnapshot,
    InvalidTime,
    InvalidTransition,
    InvocationNotFound,
    Problem,
    ServiceNotFound,
    VersioningError,
    quote,
)
from .ids import IdGenerator, RandomIds, parse_deployment_id, parse_invocation_id
from .manifest import Discovery, EndpointManifest
from .model import (
    Deployment,
    DeploymentStatus,
    Failure,
    HandlerType,
    Invocation,
    InvocationStatus,
    LockedKey,
    Outcome,
    ServiceRevision,
)
from .parts import CallGraph
from .rules.deployment_status import deployment_status
from .rules.invocations import (
    FAILURE_CODE,
    FAILURE_MESSAGES,
    HANDLER_NOT_FOUND,
    HANDLER_NOT_FOUND_CODE,
    NO_CHANGE,
    NO_DEPLOYMENT_CODE,
    PINNED_DEPLOYMENT_MISSING,
    TRANSITIONS,
    Action,
    Admission,
    Admitted,
    admission,
    can_run,
    check_call,
    check_ingress,
    check_move,
    next_status,
    pinned_protocol_version,
)
from .rules.manifest import SERVICE_NAME
from .rules.registration import Registration, RegistrationPlan, plan_registration
from .rules.removal import (
    LISTED_INVOCATIONS,
    Removal,
    RemovalBlocked,
    RemovalPlan,
    plan_removal,
)
from .snapshot import RegistrySnapshot, snapshot_problems

__all__ = ["Clock", "ManifestInput", "Registry", "ResumeTarget"]

Clock = Callable[[], datetime]
_MANIFEST_INPUTS = (Discovery, EndpointManifest, str, bytes, bytearray, Mapping)

_RUNNING = InvocationStatus.RUNNING
_COMPLETED = InvocationStatus.COMPLETED
_SUSPENDED = InvocationStatus.SUSPENDED
_PAUSED = InvocationStatus.PAUSED
_PENDING = InvocationStatus.PENDING
_IN_FLIGHT = frozenset(s for s in InvocationStatus if s.is_in_flight)
_UNSET: Any = object()


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _lock_of(invocation: Invocation) -> tuple[str, str]:
    """The (service, key) an invocation queues and locks on; only keyed services use it."""
    return (invocation.service, invocation.key if invocation.key is not None else "")


def _check_name(value: object, what: str) -> None:
    """A name given to a query (a service, a handler) must be a str."""
    if not isinstance(value, str):
        raise InvalidInvocation(f"a {what} name is a str, got {quote(value)}", **{what: value})


def _check_caller(caller: object) -> str:
    service, _, handler = caller.partition("/") if isinstance(caller, str) else ("", "", "")
    if not SERVICE_NAME.fullmatch(service) or not handler:
        raise InvalidInvocation(
            "caller is the calling invocation (an Invocation or its 'inv_…' id) or the "
            f"calling handler as 'Service/handler', got {quote(caller)}",
            caller=caller,
        )
    assert isinstance(caller, str)
    return caller


def _moved(
    invocation: Invocation,
    status: InvocationStatus,
    pinned_deployment_id: str | None = _UNSET,
    pinned_protocol_version: int | None = _UNSET,
    last_failure: Failure | None = _UNSET,
) -> Invocation:
    """A copy with a new status and the given fields: the hot-path twin of ``attrs.evolve``."""
    return Invocation(
        invocation.id,
        invocation.service,
        invocation.handler,
        invocation.key,
        invocation.caller,
        status,
        invocation.pinned_deployment_id if pinned_deployment_id is _UNSET else pinned_deployment_id,
        invocation.created_at,
        invocation.pinned_protocol_version
        if pinned_protocol_version is _UNSET
        else pinned_protocol_version,
        invocation.execute_at,
        invocation.last_failure if last_failure is _UNSET else last_failure,
        invocation.caller_id,
        invocation.caller_key,
        invocation.handler_type,
        invocation.pins_at_first_command,
    )


def _add(index: dict[Any, dict[str, None]], key: Any, invocation_id: str) -> None:
    bucket = index.get(key)
    if bucket is None:
        index[key] = {invocation_id: None}
    else:
        bucket[invocation_id] = None


def _discard(index: dict[Any, dict[str, None]], key: Any, invocation_id: str) -> None:
    bucket = index[key]
    del bucket[invocation_id]
    if not bucket:
        del index[key]


class Registry:
    """An executable model of how Restate versions services (see the package docstring)."""

    def __init__(self, *, clock: Clock | None = None, ids: IdGenerator | None = None) -> None:
        self._clock: Clock = clock if clock is not None else _utc_now
        self._ids: IdGenerator = ids if ids is not None else RandomIds()
        # Deployments and revisions.
        self._deployments: dict[str, Deployment] = {}
        self._by_endpoint: dict[str, str] = {}
        self._revisions: dict[str, dict[int, str]] = {}  # service -> revision -> deployment
        self._latest: dict[str, ServiceRevision] = {}
        self._latest_held: dict[str, int] = {}  # deployment -> services it is latest for
        self._removed: set[str] = set()
        # Invocations and the indexes over them (kept exact by _index and _reindex).
        self._invocations: dict[str, Invocation] = {}
        self._pinned: dict[str, dict[str, None]] = {}  # deployment -> in-flight ids, pin order
        self._waiting: dict[str, dict[str, None]] = {}  # service -> unpinned, uncompleted ids
        self._active: dict[tuple[str, str], dict[str, None]] = {}  # target -> uncompleted ids
        self._counts: dict[tuple[str, str, InvocationStatus], int] = {}  # target, status -> n
        self._sent: dict[str, dict[str, None]] = {}  # caller id -> uncompleted calls it made
        # Queues, locks, workflow runs.
        self._locks: dict[tuple[str, str], str] = {}
        self._inboxes: dict[tuple[str, str], deque[str]] = {}
        self._scheduled: list[tuple[datetime, int, str]] = []
        self._scheduled_seq = 0
        self._workflow_runs: dict[tuple[str, str], str] = {}
        # Who calls whom: recorded from calls, and declared up front.
        self._calls = CallGraph()
        self._changes = 0

    def execute(self, command: Command[R]) -> R:
        """Run ``command`` (a value of :mod:`restate_versioning.commands`): the same as calling
        its method with its fields, and returning what the method returns. Anything but a
        command is :class:`InvalidCommand`, and changes nothing."""
        run = _RUNNERS.get(type(command))
        if run is None:
            raise InvalidCommand(command)
        result: R = run(self, command)
        return result

    @property
    def changes(self) -> int:
        """How many changes this registry object has applied: it grows with every command that
        changes state and stays put for one that does not (an UNCHANGED registration, a
        repeated workflow run, a refused command). Storage uses it to journal only changes."""
        return self._changes

    # --- time and ids ---------------------------------------------------------------------

    def _now(self) -> datetime:
        return check_time(self._clock(), "the registry clock's time")

    def _next_deployment_id(self, now: datetime) -> str:
        """The id the next registration would get, without taking it, where the generator can
        tell (``peek_deployment_id``, as :class:`SequentialIds` and a seeded :class:`RandomIds`
        can); otherwise one drawn as usual (a random id: nothing later depends on it)."""
        peek = getattr(self._ids, "peek_deployment_id", None)
        if peek is None:
            return self._new_deployment_id(now)
        deployment_id = peek(now)
        parse_deployment_id(deployment_id)
        return str(deployment_id)

    def _new_deployment_id(self, now: datetime) -> str:
        deployment_id = self._ids.deployment_id(now)
        parse_deployment_id(deployment_id)
        if deployment_id in self._deployments or deployment_id in self._removed:
            raise VersioningError(f"the id generator returned {deployment_id!r} twice")
        return deployment_id

    # --- deployments and services: queries ------------------------------------------------

    def services(self) -> tuple[ServiceRevision, ...]:
        """The latest revision of every service, by name."""
        return tuple(self._latest[name] for name in sorted(self._latest))

    def service(self, name: str) -> ServiceRevision:
        """The latest revision of ``name``; :class:`ServiceNotFound` if none is left."""
        try:
            return self._latest[name]
        except (KeyError, TypeError):
            raise ServiceNotFound(name) from None

    def service_revisions(self, name: str) -> tuple[ServiceRevision, ...]:
        """Every revision of ``name`` still held by a deployment, oldest first."""
        revisions = self._revisions.get(name) if isinstance(name, str) else None
        if not revisions:
            raise ServiceNotFound(name)
        return tuple(self._deployments[revisions[r]].services[name] for r in sorted(revisions))

    def deployments(self) -> tuple[Deployment, ...]:
        """Every registered deployment, in the order they were created."""
        return tuple(self._deployments.values())

    def deployment(self, deployment_id: str) -> Deployment:
        """The deployment with this id. :class:`InvalidId` for a malformed id,
        :class:`DeploymentRemoved` for a removed one, :class:`DeploymentNotFound` otherwise."""
        try:
            return self._deployments[deployment_id]
        except (KeyError, TypeError):
            parse_deployment_id(deployment_id)
            if deployment_id in self._removed:
                raise DeploymentRemoved(deployment_id) from None
            raise DeploymentNotFound(deployment_id) from None

    def find_deployment(self, endpoint: str) -> Deployment | None:
        """The deployment registered at ``endpoint`` (or another spelling of it), if any."""
        deployment_id = self._by_endpoint.get(parse_endpoint(endpoint).key)
        return self._deployments[deployment_id] if deployment_id is not None else None

    def deployment_status(self, deployment_id: str) -> DeploymentStatus:
        """``ACTIVE``, ``DRAINING`` or ``DRAINED``, as the ``restate`` CLI computes it: paused
        invocations keep their pin and keep a deployment draining, as every other started,
        uncompleted one does."""
        held = self._latest_held.get(deployment_id) if isinstance(deployment_id, str) else None
        if held is None:  # every registered deployment has an entry
            self.deployment(deployment_id)  # raises the precise error
        return deployment_status(held or 0, self._counted(deployment_id))

    def _counted(self, deployment_id: str) -> int:
        """The invocations the CLI counts for a deployment: pinned and not completed
        (``pinned_deployment_id = X AND status != 'completed'``), paused ones included."""
        return len(self._pinned.get(deployment_id, ()))

    def was_removed(self, deployment_id: str) -> bool:
        """Whether a deployment with this id existed and was removed; :class:`InvalidId` for
        anything that is not a well-formed deployment id."""
        if isinstance(deployment_id, str) and deployment_id in self._removed:
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
        if not isinstance(manifest, _MANIFEST_INPUTS):
            raise InvalidManifest(
                [
                    Problem(
                        "$",
                        "register takes what discovery answered: a Discovery (what a transport "
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
                raise InvalidInvocation(
                    f"{name} must be a str, got {quote(value)}", **{name: value}
                )
        existing_id = self._by_endpoint.get(parsed.key)
        existing = self._deployments[existing_id] if existing_id is not None else None
        now = self._now()

        def resolve() -> EndpointManifest:
            # A value built by hand is read again from its JSON, so that it is checked as the
            # server would check the discovery answer it stands for; one read is taken as it is.
            if isinstance(manifest, EndpointManifest):
                if manifest.was_read:
                    return manifest
                return EndpointManifest.from_json(manifest.to_json())
            return EndpointManifest.from_json(manifest)

        plan = plan_registration(
            endpoint=parsed,
            manifest=resolve,
            existing=existing,
            latest=self._latest,
            fallback=self._fallback,
            new_id=lambda: (self._next_deployment_id if dry_run else self._new_deployment_id)(now),
            now=now,
            force=force,
            breaking=breaking,
            http_version=http_version,
            sdk_version=sdk_version,
            state=state,
            history=self._revisions_newest_first,
            still_writing=self._still_writing,
            check_state=check_state,
        )
        if not dry_run:
            self._apply(plan, parsed, existing)
        return Registration(plan.outcome, plan.deployment, plan.changes, dry_run, plan.state_checks)

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
            latest=self._latest,
            fallback=self._fallback,
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
            history=self._revisions_newest_first,
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
        if existing is not None:
            self._unindex_deployment(existing)
        self._index_deployment(plan.deployment)
        self._by_endpoint[endpoint.key] = plan.deployment.id

    def _revisions_newest_first(self, service: str) -> Iterator[ServiceRevision]:
        held = self._revisions.get(service, {})
        for revision in sorted(held, reverse=True):
            yield self._deployments[held[revision]].services[service]

    def _still_writing(self, service: str) -> Iterator[ServiceRevision]:
        """The revisions of ``service`` other than the latest with invocations of it in flight,
        newest first: they may still write its state."""
        latest = self._latest.get(service)
        for revision in self._revisions_newest_first(service):
            if latest is not None and revision.deployment_id == latest.deployment_id:
                continue
            pinned = self._pinned.get(revision.deployment_id, ())
            if any(self._invocations[i].service == service for i in pinned):
                yield revision

    def _fallback(self, service: str, excluded_deployment_id: str) -> ServiceRevision | None:
        """The highest revision of ``service`` outside one deployment."""
        best: int | None = None
        for revision, deployment_id in self._revisions.get(service, {}).items():
            if deployment_id != excluded_deployment_id and (best is None or revision > best):
                best = revision
        if best is None:
            return None
        return self._deployments[self._revisions[service][best]].services[service]

    def _set_latest(self, name: str, revision: ServiceRevision | None) -> None:
        old = self._latest.get(name)
        if old is not None:
            self._latest_held[old.deployment_id] -= 1
        if revision is None:
            self._latest.pop(name, None)
        else:
            self._latest[name] = revision
            self._latest_held[revision.deployment_id] += 1

    def _index_deployment(self, deployment: Deployment) -> None:
        self._deployments[deployment.id] = deployment
        self._latest_held.setdefault(deployment.id, 0)
        for name, revision in deployment.services.items():
            self._revisions.setdefault(name, {})[revision.revision] = deployment.id
            current = self._latest.get(name)
            if current is None or revision.revision > current.revision:
                self._set_latest(name, revision)

    def _unindex_deployment(self, deployment: Deployment) -> None:
        del self._deployments[deployment.id]
        for name, revision in deployment.services.items():
            revisions = self._revisions[name]
            del revisions[revision.revision]
            if self._latest[name].deployment_id == deployment.id:
                self._set_latest(name, self._fallback(name, deployment.id))
            if not revisions:
                del self._revisions[name]
        del self._latest_held[deployment.id]

    def set_public(self, name: str, public: bool) -> ServiceRevision:
        """Make a service public or private (``PATCH /services/{name}``). It applies to the
        latest revision only; the next revision takes its visibility from its manifest again."""
        current = self.service(name)
        if not isinstance(public, bool):
            raise InvalidInvocation(
                f"public must be True or False, got {quote(public)}", public=public
            )
        updated = attrs.evolve(current, public=public)
        deployment = self._deployments[current.deployment_id]
        self._deployments[deployment.id] = attrs.evolve(
            deployment, services=deployment.services.replace(name, updated)
        )
        self._latest[name] = updated
        self._changes += 1
        return updated

    # --- removing ---------------------------------------------------------------------------

    def removal_plan(self, deployment_id: str) -> RemovalPlan:
        """Whether removing the deployment now is safe, every reason it is not, and what it
        would do to each of its services (see :mod:`restate_versioning.rules.removal`). This
        goes further than the server, which checks nothing, and than the CLI."""
        deployment = self.deployment(deployment_id)
        pinned = self._pinned.get(deployment_id, {})
        return plan_removal(
            deployment,
            status=self.deployment_status(deployment_id),
            latest=self._latest,
            fallback=self._fallback,
            callers=self.callers_of,
            waiting=self._waiting_of,
            in_flight=(len(pinned), tuple(islice(pinned, LISTED_INVOCATIONS))),
            calling=self._calling_into,
        )

    def _calling_into(self, service: str) -> Iterator[tuple[str, str]]:
        """The calling handler and invocation of each call into ``service`` in progress."""
        for (name, _), ids in list(self._active.items()):
            if name == service:
                for invocation_id in ids:
                    found = self._invocations[invocation_id]
                    if found.caller is not None and found.caller_id is not None:
                        yield found.caller, found.caller_id

    def _waiting_of(self, service: str) -> tuple[int, tuple[str, ...]]:
        waiting = self._waiting.get(service, {})
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
        deployment = self._deployments[deployment_id]
        self._unindex_deployment(deployment)
        key = parse_endpoint(deployment.endpoint).key
        if self._by_endpoint.get(key) == deployment_id:
            del self._by_endpoint[key]
        self._removed.add(deployment_id)
        self._changes += 1
        return Removal(deployment, plan.effects, plan.blockers if force else ())

    def drained(self) -> tuple[RemovalPlan, ...]:
        """The removal plans of every deployment that is safe to remove now, oldest first: a
        garbage-collection plan. (The server has nothing like it.)"""
        plans = (self.removal_plan(d) for d in list(self._deployments))
        return tuple(plan for plan in plans if plan.safe)

    # --- callers ----------------------------------------------------------------------------

    def declare_caller(self, service: str, caller: str) -> None:
        """Record up front that handler ``caller`` (``"Service/handler"``) calls ``service``:
        a call that has not happened yet is still a dependency. It blocks removing the last
        revision of ``service`` while the caller's service stays."""
        _check_caller(caller)
        if not isinstance(service, str) or not SERVICE_NAME.fullmatch(service):
            raise InvalidInvocation(f"invalid service name {quote(service)}", service=service)
        self._calls.declare(service, caller)
        self._changes += 1

    def forget_caller(self, service: str, caller: str) -> None:
        """Forget that ``caller`` calls ``service`` (recorded and declared);
        :class:`InvalidInvocation` if it is not known to (or either is not a str)."""
        _check_name(service, "service")
        _check_name(caller, "caller")
        if not self._calls.knows(service, caller):
            raise InvalidInvocation(
                f"{quote(caller)} is not known to call {quote(service)}",
                service=service,
                caller=caller,
            )
        self._calls.forget(service, caller)
        self._changes += 1

    def callers_of(self, service: str) -> tuple[str, ...]:
        """The handlers known to call ``service``: recorded from calls made with ``caller=``,
        and declared with :meth:`declare_caller`. :class:`InvalidInvocation` if ``service`` is
        not a str."""
        _check_name(service, "service")
        return self._calls.callers_of(service)

    # --- invocations: queries ---------------------------------------------------------------

    def invocation(self, invocation_id: str) -> Invocation:
        """The invocation with this id; :class:`InvalidId` for a malformed id,
        :class:`InvocationNotFound` for an unknown one."""
        try:
            return self._invocations[invocation_id]
        except (KeyError, TypeError):
            parse_invocation_id(invocation_id)
            raise InvocationNotFound(invocation_id) from None

    def invocations(self) -> Iterator[Invocation]:
        """Every invocation the registry knows, oldest first."""
        return iter(list(self._invocations.values()))

    def in_flight_count(self, deployment_id: str) -> int:
        """How many started, uncompleted invocations are pinned to this deployment, paused
        ones included."""
        self.deployment(deployment_id)
        return len(self._pinned.get(deployment_id, ()))

    def active_invocations(self, deployment_id: str) -> int:
        """The CLI's ACTIVE-INVOCATIONS: pinned, uncompleted invocations, paused ones
        included."""
        self.deployment(deployment_id)
        return self._counted(deployment_id)

    def pinned_invocations(self, deployment_id: str) -> tuple[Invocation, ...]:
        """The started, uncompleted invocations pinned to a deployment, in the order they were
        pinned (also for a removed deployment, whose pinned work is stuck). :class:`InvalidId`
        for a malformed id, :class:`DeploymentNotFound` for an unknown one."""
        if not isinstance(deployment_id, str) or deployment_id not in self._removed:
            self.deployment(deployment_id)
        return tuple(self._invocations[i] for i in self._pinned.get(deployment_id, ()))

    def waiting_invocations(self, service: str) -> tuple[Invocation, ...]:
        """The uncompleted invocations of a service that are pinned nowhere yet (pending,
        scheduled, or failing to start), oldest first. :class:`InvalidInvocation` if ``service``
        is not a str."""
        _check_name(service, "service")
        return tuple(self._invocations[i] for i in self._waiting.get(service, ()))

    def locked_keys(self) -> tuple[LockedKey, ...]:
        """Each Virtual Object key an exclusive call holds (a :class:`LockedKey`: service,
        key, holder id, how many calls wait behind it), by service and key."""
        return tuple(
            LockedKey(service, key, holder, len(self._inboxes.get((service, key), ())))
            for (service, key), holder in sorted(self._locks.items())
        )

    def status_counts(self) -> Mapping[tuple[str, str, InvocationStatus], int]:
        """How many uncompleted invocations each (service, handler) has in each status."""
        return dict(self._counts)

    def oldest_invocation(
        self, service: str, handler: str, *, skip_suspended: bool = True
    ) -> Invocation | None:
        """The oldest uncompleted invocation of a handler (by default not a suspended one, as
        ``restate services status`` shows it). :class:`InvalidInvocation` if ``service`` or
        ``handler`` is not a str."""
        _check_name(service, "service")
        _check_name(handler, "handler")
        for invocation_id in self._active.get((service, handler), ()):
            invocation = self._invocations[invocation_id]
            if not (skip_suspended and invocation.status is _SUSPENDED):
                return invocation
        return None

    # --- invocations: the indexes -------------------------------------------------------------

    def _index(self, invocation: Invocation) -> None:
        """Add a new invocation to every index."""
        self._changes += 1
        invocation_id = invocation.id
        self._invocations[invocation_id] = invocation
        status = invocation.status
        if status is _COMPLETED:
            return
        target = (invocation.service, invocation.handler)
        key = (invocation.service, invocation.handler, status)
        counts = self._counts
        counts[key] = counts.get(key, 0) + 1
        _add(self._active, target, invocation_id)
        if invocation.caller_id is not None:
            _add(self._sent, invocation.caller_id, invocation_id)
        pinned = invocation.pinned_deployment_id
        if pinned is None:
            _add(self._waiting, invocation.service, invocation_id)
        elif status in _IN_FLIGHT:
            _add(self._pinned, pinned, invocation_id)

    def _reindex(self, old: Invocation, new: Invocation) -> None:
        """Move an invocation between index entries as its status and pin change."""
        self._changes += 1
        invocation_id = old.id
        self._invocations[invocation_id] = new
        counts = self._counts
        key = (old.service, old.handler, old.status)
        left = counts[key] - 1
        if left:
            counts[key] = left
        else:
            del counts[key]
        done = new.status is _COMPLETED
        if done:
            _discard(self._active, (old.service, old.handler), invocation_id)
            if old.caller_id is not None:
                _discard(self._sent, old.caller_id, invocation_id)
        else:
            key = (new.service, new.handler, new.status)
            counts[key] = counts.get(key, 0) + 1
        old_pin = old.pinned_deployment_id if old.status in _IN_FLIGHT else None
        new_pin = new.pinned_deployment_id if new.status in _IN_FLIGHT else None
        if old_pin != new_pin:
            if old_pin is not None:
                _discard(self._pinned, old_pin, invocation_id)
            if new_pin is not None:
                _add(self._pinned, new_pin, invocation_id)
        was_waiting = old.pinned_deployment_id is None
        is_waiting = new.pinned_deployment_id is None and not done
        if was_waiting != is_waiting:
            if was_waiting:
                _discard(self._waiting, old.service, invocation_id)
            else:
                _add(self._waiting, new.service, invocation_id)

    def _replace(
        self,
        invocation: Invocation,
        action: Action,
        pinned_deployment_id: str | None = _UNSET,
        pinned_protocol_version: int | None = _UNSET,
        last_failure: Failure | None = _UNSET,
    ) -> Invocation:
        """Move an invocation along the status table, keeping every index exact."""
        status = next_status(invocation.id, invocation.status, action)
        updated = _moved(
            invocation, status, pinned_deployment_id, pinned_protocol_version, last_failure
        )
        self._reindex(invocation, updated)
        return updated

    # --- invocations: commands --------------------------------------------------------------

    def invoke(
        self,
        service: str,
        handler: str,
        *,
        key: str | None = None,
        caller: str | Invocation | None = None,
        delay: timedelta | None = None,
        pin_on_start: bool = True,
    ) -> Invocation:
        """Call ``service``/``handler``, from the ingress (``caller=None``) or from another
        handler: the calling invocation (an :class:`Invocation` or its ``inv_…`` id), or just
        the calling handler (``caller="Service/handler"``) when the calling invocation is not
        modelled.

        A calling invocation must be started and not completed (:class:`InvalidCaller`
        otherwise): the new invocation records its id (``caller_id``, the server's
        ``invoked_by_id``), its handler (``caller``) and its key (``caller_key``), so
        ``invoked_by_target`` is ``"Object/key/handler"`` for a keyed caller, as on the server.

        Routed to the latest revision. It starts at once (``RUNNING``, pinned), waits behind an
        exclusive call on the same key (``PENDING``), or waits for ``delay`` (``SCHEDULED``);
        queued work is pinned only when it starts. Calling a Workflow's run handler again for a
        key returns the first invocation (the server's "PreviouslyAccepted").

        The server pins a call when its handler's first command reaches it, which for most
        handlers is at once: by default the model pins a call when it starts. With
        ``pin_on_start=False`` (a handler whose first step waits, on an awakeable say) the call
        starts pinned nowhere: it runs, suspends, resumes on the latest revision, fails or
        completes unpinned, is not counted by its deployment's status, cannot be moved, until
        :meth:`pin` says its first command came.
        """
        latest = self._latest.get(service) if isinstance(service, str) else None
        if latest is None:
            raise ServiceNotFound(service)
        target = latest.handlers.get(handler) if isinstance(handler, str) else None
        if target is None:
            raise HandlerNotFound(service, handler, latest.revision)
        calling = self._calling_invocation(caller) if caller is not None else None
        if calling is not None:
            caller = f"{calling.service}/{calling.handler}"
        elif caller is not None:
            caller = _check_caller(caller)
        check_call(latest, key, delay)
        if pin_on_start is not True and pin_on_start is not False:
            raise InvalidInvocation(
                f"pin_on_start must be True or False, got {quote(pin_on_start)}",
                pin_on_start=pin_on_start,
            )
        check_ingress(latest, target, caller)
        lock = (service, key if key is not None else "")  # only keyed services use it
        now = self._now()
        try:
            due = check_time_after(now, delay, "the due time") if delay else None
        except InvalidTime:
            raise InvalidInvocation(
                f"delay {quote(delay)} is beyond any date", delay=delay
            ) from None
        if target.type is HandlerType.WORKFLOW:
            previous = self._workflow_runs.get(lock)
            if previous is not None:  # a call that repeats a workflow run is a dependency too
                if caller is not None:
                    self._record_call(service, caller, calling)
                return self._invocations[previous]
        caller_id = calling.id if calling is not None else None
        caller_key = calling.key if calling is not None else None
        invocation_id = self._ids.invocation_id(now)
        if invocation_id in self._invocations:
            parse_invocation_id(invocation_id)
            raise VersioningError(f"the id generator returned {invocation_id!r} twice")
        if caller is not None:  # every check passed: from here on nothing refuses
            self._record_call(service, caller, calling)
        admitted = admission(latest, handler, self._locks.get(lock), invocation_id, target.type)
        status: InvocationStatus
        pinned: str | None = None
        protocol: int | None = None
        if due is not None:
            status = InvocationStatus.SCHEDULED
            self._scheduled_seq += 1
            heapq.heappush(self._scheduled, (due, self._scheduled_seq, invocation_id))
        elif admitted.decision is Admission.WAIT:
            status = InvocationStatus.PENDING
            self._inboxes.setdefault(lock, deque()).append(invocation_id)
        else:
            status = _RUNNING
            if pin_on_start:
                pinned = latest.deployment_id
                protocol = pinned_protocol_version(self._deployments[pinned])
            if admitted.holds_key:
                self._locks[lock] = invocation_id
        invocation = Invocation(
            invocation_id,
            service,
            handler,
            key,
            caller,
            status,
            pinned,
            now,
            protocol,
            due,
            None,
            caller_id,
            caller_key,
            target.type,
            not pin_on_start,
        )
        if target.type is HandlerType.WORKFLOW:
            self._workflow_runs[lock] = invocation_id
        self._index(invocation)
        return invocation

    def _record_call(self, service: str, caller: str, calling: Invocation | None) -> None:
        """A call from ``caller`` (the handler; ``calling``, the invocation, if known) to
        ``service`` is made: it is recorded, and a calling invocation not pinned yet is pinned
        now, a call being a command."""
        self._calls.record(service, caller)
        self._changes += 1
        if calling is not None and calling.pinned_deployment_id is None:
            self.pin(calling.id)

    def _calling_invocation(self, caller: object) -> Invocation | None:
        """The invocation a call is made from, when ``caller`` names one (an
        :class:`Invocation`, or an ``inv_…`` id): known, started and not completed."""
        if isinstance(caller, Invocation):
            caller_id: object = caller.id
        elif isinstance(caller, str) and "/" not in caller and caller.startswith("inv_"):
            caller_id = caller
        else:
            return None  # None, "Service/handler", or what _check_call refuses
        if not isinstance(caller_id, str):
            raise InvalidInvocation(
                f"caller is an invocation, its 'Service/handler', or None, got {quote(caller)}",
                caller=caller,
            )
        parse_invocation_id(caller_id)
        calling = self._invocations.get(caller_id)
        if calling is None:
            raise InvocationNotFound(caller_id)
        started = calling.pinned_deployment_id is not None or (
            calling.pins_at_first_command and calling.status is _RUNNING
        )
        if not started or calling.status is InvocationStatus.COMPLETED:
            raise InvalidCaller(caller_id, calling.status)
        if calling.pinned_deployment_id is None and calling.service not in self._latest:
            raise ServiceNotFound(calling.service)  # it would be pinned, and cannot be
        return calling

    def start_due(self) -> tuple[Invocation, ...]:
        """Start the delayed invocations whose time has come, in due order: each is pinned to
        the latest revision now, or waits behind its key (``PENDING``), or, if its service has
        no deployment left, fails its attempt (RT0011). Returns the invocations it moved."""
        now = self._now()
        moved: list[Invocation] = []
        while self._scheduled and self._scheduled[0][0] <= now:
            _, _, invocation_id = heapq.heappop(self._scheduled)
            invocation = self._invocations.get(invocation_id)
            if invocation is None or invocation.status is not InvocationStatus.SCHEDULED:
                continue  # killed while it waited
            moved.append(self._admit(invocation, Action.START))
        return tuple(moved)

    def _admit(self, invocation: Invocation, action: Action) -> Invocation:
        """Work pinned nowhere gets its turn (a due delayed call, a retry of one that could not
        start): it waits in its key's inbox, or starts on the latest revision, or fails its
        attempt (see ``rules.invocations.admission``), taking its key if it was sent to an
        exclusive handler."""
        lock = _lock_of(invocation)
        admitted = admission(
            self._latest.get(invocation.service),
            invocation.handler,
            self._locks.get(lock),
            invocation.id,
            invocation.handler_type,
        )
        if admitted.decision is Admission.WAIT:
            queued = self._replace(invocation, Action.ENQUEUE)
            self._inboxes.setdefault(lock, deque()).append(invocation.id)
            return queued
        return self._start(invocation, action, admitted)

    def _start(self, invocation: Invocation, action: Action, admitted: Admitted) -> Invocation:
        """Begin an attempt of an unpinned invocation on the latest revision (pinning it), or
        fail the attempt, pinned nowhere, as ``admitted`` says; take its key if it says so."""
        if admitted.holds_key:
            self._locks[_lock_of(invocation)] = invocation.id
        if admitted.failure is not None:
            return self._replace(invocation, Action.FAIL, last_failure=Failure(*admitted.failure))
        if invocation.pins_at_first_command:  # it runs on the latest revision, pinned nowhere
            return self._replace(invocation, action, last_failure=None)
        deployment = self._deployments[self._latest[invocation.service].deployment_id]
        return self._replace(
            invocation,
            action,
            pinned_deployment_id=deployment.id,
            pinned_protocol_version=pinned_protocol_version(deployment),
            last_failure=None,
        )

    def pin(self, invocation_id: str) -> Invocation:
        """The first command of a running call that started pinned nowhere
        (``invoke(..., pin_on_start=False)``) reaches the server: it is pinned now, to the
        deployment of its service's latest revision (the one its attempt runs on, as long as
        no registration came in between) and that deployment's protocol version.
        :class:`InvalidTransition` for a call that is not running, or is pinned already."""
        invocation = self.invocation(invocation_id)
        if invocation.status is not _RUNNING or invocation.pinned_deployment_id is not None:
            allowed = [a.value for a in TRANSITIONS[invocation.status]]
            raise InvalidTransition(invocation.id, invocation.status, "pin", allowed)
        latest = self._latest.get(invocation.service)
        if latest is None:
            raise ServiceNotFound(invocation.service)
        deployment = self._deployments[latest.deployment_id]
        pinned = _moved(
            invocation,
            _RUNNING,
            pinned_deployment_id=deployment.id,
            pinned_protocol_version=pinned_protocol_version(deployment),
        )
        self._reindex(invocation, pinned)
        return pinned

    def fail(self, invocation_id: str, *, code: str, message: str | None = None) -> Invocation:
        """The running attempt of an invocation fails: it is ``BACKING_OFF`` (still pinned)
        until :meth:`resume` retries it, and ``last_failure`` has ``code`` and ``message``
        (by default the server's words for the code, :data:`FAILURE_MESSAGES`). A harness uses
        it for a handler that fails: RT0011, RT0012, or RT0018 when the handler calls a
        service or handler that does not exist (the server fails the caller's attempt; the
        model's :meth:`invoke` refuses such a call and changes nothing, so a harness fails
        the caller with RT0018 itself). Only a running invocation has an attempt to fail."""
        invocation = self.invocation(invocation_id)
        if not isinstance(code, str) or not FAILURE_CODE.fullmatch(code):
            raise InvalidInvocation(
                f"a failure code is letters and four digits (as RT0012), got {quote(code)}",
                code=code,
            )
        if message is None:
            message = FAILURE_MESSAGES.get(code, "the attempt failed")
        elif not isinstance(message, str):
            raise InvalidInvocation(
                f"a failure message is a str, got {quote(message)}", message=message
            )
        if invocation.status is not _RUNNING:
            row = TRANSITIONS[invocation.status]
            allowed = [a.value for a in row if a is not Action.FAIL]
            raise InvalidTransition(invocation.id, invocation.status, "fail", allowed)
        return self._replace(invocation, Action.FAIL, last_failure=Failure(code, message))

    def suspend(self, invocation_id: str) -> Invocation:
        """A running invocation suspends (waits for a timer, a call, a promise...)."""
        return self._replace(self.invocation(invocation_id), Action.SUSPEND)

    def pause(self, invocation_id: str) -> Invocation:
        """A running or backing-off invocation is paused (until resumed). Pausing a suspended
        or already paused one changes nothing (the server answers 200), and returns it as it
        is."""
        invocation = self.invocation(invocation_id)
        if Action.PAUSE in NO_CHANGE.get(invocation.status, ()):
            return invocation
        return self._replace(invocation, Action.PAUSE)

    def resume(self, invocation_id: str, deployment: ResumeTarget = "keep") -> Invocation:
        """The next attempt of a suspended, paused or backing-off invocation.

        ``deployment="keep"`` runs it where it is pinned; ``"latest"`` or a deployment id moves
        a paused or suspended pinned invocation there first, if that deployment speaks its
        pinned protocol version (a running or unpinned invocation cannot be moved). As on the
        server, a move to a deployment that lacks the handler, or does not serve the service
        at all, is accepted, and the attempt there fails: ``BACKING_OFF``, pinned to it, with
        RT0012 (the deployment answers 404); :func:`~restate_versioning.rules.invocations.can_run`
        tells beforehand whether a move is doomed. If the deployment it runs on was
        force-removed, the attempt fails: ``BACKING_OFF`` with RT0011. An unpinned invocation
        starts on the latest revision.
        Resuming a running invocation where it runs changes nothing (the server answers 200)
        and returns it as it is; moving it is refused, as the server answers 409. A suspended
        call not pinned yet (``invoke(..., pin_on_start=False)``) resumes on the latest
        revision with ``"keep"`` or ``"latest"`` (200 on the server: its next attempt runs
        there anyway); moving it to a given deployment is refused (409 "not pinned yet").
        """
        invocation = self.invocation(invocation_id)
        if Action.RESUME in NO_CHANGE.get(invocation.status, ()):
            if deployment != "keep":
                if deployment != "latest":
                    parse_deployment_id(deployment)
                raise InvalidTransition(invocation.id, invocation.status, "move", ["keep"])
            return invocation
        next_status(invocation.id, invocation.status, Action.RESUME)
        if invocation.pinned_deployment_id is None:
            started = invocation.pins_at_first_command and invocation.status is _SUSPENDED
            if deployment != "keep" and not (started and deployment == "latest"):
                raise InvalidInvocation(
                    f"invocation {invocation.id!r} is not pinned yet, so it cannot be moved to "
                    f"{quote(deployment)}: resume it without a deployment (the server answers "
                    "409)",
                    invocation_id=invocation.id,
                    deployment=deployment,
                )
            return self._admit(invocation, Action.RESUME)
        target = self._resume_target(invocation, deployment)
        if target not in self._deployments:
            return self._replace(
                invocation,
                Action.FAIL,
                last_failure=Failure(NO_DEPLOYMENT_CODE, PINNED_DEPLOYMENT_MISSING),
            )
        if not can_run(self._deployments[target], invocation.service, invocation.handler):
            return self._replace(
                invocation,
                Action.FAIL,
                pinned_deployment_id=target,
                last_failure=Failure(HANDLER_NOT_FOUND_CODE, HANDLER_NOT_FOUND),
            )
        return self._replace(
            invocation, Action.RESUME, pinned_deployment_id=target, last_failure=None
        )

    def _resume_target(self, invocation: Invocation, deployment: ResumeTarget) -> str:
        if deployment == "keep":
            assert invocation.pinned_deployment_id is not None
            return invocation.pinned_deployment_id
        if invocation.status not in (InvocationStatus.PAUSED, InvocationStatus.SUSPENDED):
            raise InvalidTransition(invocation.id, invocation.status, "move", ["keep"])
        if deployment == "latest":
            target = self.service(invocation.service).deployment_id
        else:
            target = self.deployment(deployment).id
        check_move(invocation, self._deployments[target])
        return target

    def complete(self, invocation_id: str) -> Invocation:
        """A running invocation finishes. An exclusive call frees its key, and the next call
        waiting on that key starts (pinned to the latest revision now)."""
        invocation = self.invocation(invocation_id)
        completed = self._replace(invocation, Action.COMPLETE)
        if invocation.key is not None:
            self._release(invocation)
        return completed

    def kill(self, invocation_id: str) -> Invocation:
        """End any invocation that is not completed; queued work leaves its queue.

        As on the server, a killed call that never started (pending or scheduled) is not
        kept: afterwards the registry does not know it (:class:`InvocationNotFound`), and a
        workflow key whose run it was can run again. One that started stays, completed.

        Killing a call kills the calls it sent (made with ``caller=`` it, one-way sends
        included), and theirs, as the server does: started ones complete; queued ones are
        forgotten, except those next in line for a key a killed call holds: when it frees the
        key, the calls of the tree waiting at the head of that key's inbox take it in turn and
        are killed at once, so they are kept, completed and pinned nowhere; the first call
        from outside the tree gets the key as usual, and the tree's calls behind it are
        forgotten. Returns the killed invocation."""
        invocation = self.invocation(invocation_id)
        next_status(invocation.id, invocation.status, Action.KILL)
        tree = self._call_tree(invocation)
        kept = self._next_in_line(invocation, tree)
        # The queued calls of the whole tree first, so that none starts when another frees its
        # key; then the started ones, the deepest first; the killed call last.
        queued = [call for call, _ in tree if call.status.is_queued]
        started = [call for call, _ in reversed(tree) if not call.status.is_queued]
        for call in queued + started:
            current = self._invocations.get(call.id)
            if current is not None and current.status is not InvocationStatus.COMPLETED:
                self._kill_one(current, kept=current.id in kept)
        return self._kill_one(self._invocations[invocation.id], kept=False)

    def _next_in_line(
        self, root: Invocation, tree: list[tuple[Invocation, Invocation]]
    ) -> frozenset[str]:
        """The queued calls of a call tree that take a key when a killed call of the tree
        frees it: for each key a call of the tree holds, the tree's calls at the head of its
        inbox, up to the first call from outside the tree."""
        members = {root.id} | {call.id for call, _ in tree}
        kept: set[str] = set()
        for call in (root, *(call for call, _ in tree)):
            if call.key is None or call.status.is_queued:
                continue
            lock = _lock_of(call)
            if self._locks.get(lock) != call.id:
                continue
            for waiting in self._inboxes.get(lock, ()):
                if waiting not in members:
                    break
                kept.add(waiting)
        return frozenset(kept)

    def _call_tree(self, root: Invocation) -> list[tuple[Invocation, Invocation]]:
        """The uncompleted calls ``root`` sent, and theirs, each with the call that sent it,
        breadth first (oldest first among siblings, as ``_sent`` keeps them); each call once,
        whatever ``caller_id`` says (a snapshot may hold a loop)."""
        tree: list[tuple[Invocation, Invocation]] = []
        seen = {root.id}
        frontier = [root]
        while frontier:
            following: list[Invocation] = []
            for parent in frontier:
                for found in self._sent.get(parent.id, ()):
                    call = self._invocations[found]
                    if call.id not in seen:
                        seen.add(call.id)
                        tree.append((call, parent))
                        following.append(call)
            frontier = following
        return tree

    def _kill_one(self, invocation: Invocation, *, kept: bool) -> Invocation:
        """Kill one call: a queued one leaves its queue and is forgotten, unless it is
        ``kept`` (completed, pinned nowhere; see :meth:`kill`)."""
        killed = self._replace(invocation, Action.KILL)
        if invocation.status is InvocationStatus.PENDING:
            lock = _lock_of(invocation)
            inbox = self._inboxes[lock]
            inbox.remove(invocation.id)
            if not inbox:
                del self._inboxes[lock]
        if invocation.key is not None:
            self._release(invocation)
        if invocation.status.is_queued and not kept:  # it never started: forgotten
            del self._invocations[invocation.id]
            lock = _lock_of(invocation)
            if self._workflow_runs.get(lock) == invocation.id:
                del self._workflow_runs[lock]
        return killed

    def _release(self, invocation: Invocation) -> None:
        """The key's holder is done: the calls waiting on the key get their turn, in order,
        until one holds the key again (or none is left)."""
        lock = _lock_of(invocation)
        if self._locks.get(lock) != invocation.id:
            return
        del self._locks[lock]
        inbox = self._inboxes.get(lock)
        while inbox and lock not in self._locks:
            waiting = self._invocations[inbox.popleft()]
            if not inbox:
                del self._inboxes[lock]
            # It was queued for the key: it was sent to an exclusive handler.
            admitted = admission(
                self._latest.get(waiting.service),
                waiting.handler,
                None,
                waiting.id,
                waiting.handler_type or HandlerType.EXCLUSIVE,
            )
            self._start(waiting, Action.START, admitted)

    # --- self-check -------------------------------------------------------------------------

    def verify(self) -> tuple[str, ...]:
        """Every way the indexes behind statuses, counts, queues and plans differ from a
        recount from the deployments and invocations, and every rule of a consistent snapshot
        it breaks (:func:`~restate_versioning.snapshot.snapshot_problems`, which
        :meth:`from_snapshot` applies too): empty when all hold. For property tests: it scans
        everything, so it is as slow as the registry is large."""
        problems: list[str] = []
        deployments = self._deployments
        revisions: dict[str, dict[int, str]] = {}
        for deployment in deployments.values():
            for name, revision in deployment.services.items():
                revisions.setdefault(name, {})[revision.revision] = deployment.id
        latest = {
            name: deployments[found[max(found)]].services[name] for name, found in revisions.items()
        }
        held = dict.fromkeys(deployments, 0)
        for revision in latest.values():
            held[revision.deployment_id] += 1
        pinned: dict[str, set[str]] = {}
        waiting: dict[str, list[str]] = {}
        active: dict[tuple[str, str], list[str]] = {}
        sent: dict[str, list[str]] = {}
        counts: dict[tuple[str, str, InvocationStatus], int] = {}
        for invocation in self._invocations.values():
            if invocation.status is _COMPLETED:
                continue
            key = (invocation.service, invocation.handler, invocation.status)
            counts[key] = counts.get(key, 0) + 1
            active.setdefault((invocation.service, invocation.handler), []).append(invocation.id)
            if invocation.caller_id is not None:
                sent.setdefault(invocation.caller_id, []).append(invocation.id)
            where = invocation.pinned_deployment_id
            if where is None:
                waiting.setdefault(invocation.service, []).append(invocation.id)
            elif invocation.status in _IN_FLIGHT:
                pinned.setdefault(where, set()).add(invocation.id)
        expected: list[tuple[str, object, object]] = [
            ("revisions", revisions, self._revisions),
            ("latest revisions", latest, self._latest),
            ("latest revisions held", held, self._latest_held),
            (
                "endpoints",
                {parse_endpoint(d.endpoint).key: d.id for d in deployments.values()},
                self._by_endpoint,
            ),
            ("pinned", pinned, {d: set(ids) for d, ids in self._pinned.items()}),
            ("waiting", waiting, {s: list(ids) for s, ids in self._waiting.items()}),
            ("uncompleted", active, {t: list(ids) for t, ids in self._active.items()}),
            ("calls sent", sent, {c: list(ids) for c, ids in self._sent.items()}),
            ("status counts", counts, self._counts),
        ]
        for name, recounted, kept in expected:
            if recounted != kept:
                problems.append(f"{name}: recounted {recounted!r}, kept {kept!r}")
        problems.extend(self._calls.problems())  # each part checks itself
        # The rules a snapshot must pass (queues, locks, ids, times...): one home for each.
        problems.extend(str(problem) for problem in snapshot_problems(self.snapshot()))
        return tuple(problems)

    # --- snapshots --------------------------------------------------------------------------

    def snapshot(self) -> RegistrySnapshot:
        """The whole state as plain frozen values (see :mod:`restate_versioning.serialization`
        for JSON)."""
        return RegistrySnapshot(
            deployments=tuple(self._deployments.values()),
            removed_deployment_ids=tuple(sorted(self._removed)),
            invocations=tuple(self._invocations.values()),
            inboxes=tuple(
                (service, key, tuple(ids)) for (service, key), ids in self._inboxes.items()
            ),
            locks=tuple((service, key, i) for (service, key), i in self._locks.items()),
            workflow_runs=tuple(
                (service, key, i) for (service, key), i in self._workflow_runs.items()
            ),
            callers=self._calls.recorded(),
            declared_callers=self._calls.declared(),
            pinned=tuple((deployment, tuple(ids)) for deployment, ids in self._pinned.items()),
        )

    @classmethod
    def from_snapshot(
        cls,
        snapshot: RegistrySnapshot,
        *,
        clock: Clock | None = None,
        ids: IdGenerator | None = None,
    ) -> Registry:
        """A registry holding exactly ``snapshot``; :class:`InvalidSnapshot` lists every
        inconsistency (dangling ids, duplicate revisions, queues and locks that do not match
        statuses, a call twice in the inboxes, times with no UTC equivalent): the rules
        :meth:`verify` checks, so a loaded registry's ``verify()`` is empty. Nothing is built
        on error. An endpoint with credentials (kept by a version before they were redacted)
        is loaded redacted (see :mod:`restate_versioning.endpoints`)."""
        if not isinstance(snapshot, RegistrySnapshot):
            raise InvalidSnapshot(
                [Problem("$", f"expected a RegistrySnapshot, got {type(snapshot).__name__}")]
            )
        problems = snapshot_problems(snapshot)
        if problems:
            raise InvalidSnapshot(problems)
        registry = cls(clock=clock, ids=ids)
        for deployment in snapshot.deployments:
            endpoint = parse_endpoint(deployment.endpoint)
            if endpoint.text != deployment.endpoint:  # credentials kept by an older version
                deployment = attrs.evolve(deployment, endpoint=endpoint.text)
            registry._index_deployment(deployment)
            registry._by_endpoint[endpoint.key] = deployment.id
        registry._removed = set(snapshot.removed_deployment_ids)
        for invocation in snapshot.invocations:
            registry._index(invocation)
            if invocation.status is InvocationStatus.SCHEDULED and invocation.execute_at:
                registry._scheduled_seq += 1
                registry._scheduled.append(
                    (invocation.execute_at, registry._scheduled_seq, invocation.id)
                )
        heapq.heapify(registry._scheduled)
        # The order they were pinned in (checked to hold what indexing found).
        registry._pinned = {d: dict.fromkeys(pinned) for d, pinned in snapshot.pinned}
        for service, key, holder in snapshot.locks:
            registry._locks[(service, key)] = holder
        for service, key, queued in snapshot.inboxes:
            registry._inboxes[(service, key)] = deque(queued)
        for service, key, run in snapshot.workflow_runs:
            registry._workflow_runs[(service, key)] = run
        registry._calls = CallGraph.build(snapshot.callers, snapshot.declared_callers)
        return registry


def _runner(command: type[Command[Any]]) -> Callable[[Registry, Any], Any]:
    """How :meth:`Registry.execute` runs one kind of command: its method, with its fields."""
    method = getattr(Registry, command.method)
    names = tuple(field.name for field in attrs.fields(command))
    return lambda registry, value: method(registry, **{n: getattr(value, n) for n in names})


_RUNNERS: dict[type[Command[Any]], Callable[[Registry, Any], Any]] = {
    command: _runner(command) for command in COMMANDS.values()
}
