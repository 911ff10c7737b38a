"""The invocation side of the :class:`~restate_versioning.Registry` facade: making calls,
starting them when their turn comes (a delayed call falling due, a key freed), and the queries
about invocations and keys. What happens to a call once started is in
:mod:`~restate_versioning.registry.lifecycle`.

The status table, admission, the call checks and the move check are the rules'
(:mod:`restate_versioning.rules.invocations`); the state is the parts' (the invocation index,
the key queues, the catalogue for the latest revisions, the call graph for who calls whom).
These methods check their input, ask the rule, and move the call and its key along.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from ..clock import check_time_after
from ..commands import Caller
from ..errors import (
    HandlerNotFound,
    InvalidCaller,
    InvalidInvocation,
    InvalidTime,
    InvalidTransition,
    InvocationNotFound,
    ServiceNotFound,
    VersioningError,
    quote,
)
from ..ids import parse_invocation_id
from ..model import (
    Failure,
    HandlerType,
    Invocation,
    InvocationStatus,
    LockedKey,
    make_invocation,
)
from ..parts import Lock
from ..rules.invocations import (
    TRANSITIONS,
    Action,
    Admission,
    Admitted,
    admission,
    check_call,
    check_ingress,
    next_status,
    pinned_protocol_version,
)
from .base import RegistryParts
from .deployments import check_caller, check_name

__all__ = ["InvocationCommands", "moved"]

_RUNNING = InvocationStatus.RUNNING
_COMPLETED = InvocationStatus.COMPLETED
_SUSPENDED = InvocationStatus.SUSPENDED
_PENDING = InvocationStatus.PENDING
_SCHEDULED = InvocationStatus.SCHEDULED
_WORKFLOW = HandlerType.WORKFLOW
_WAIT = Admission.WAIT
_UNSET: Any = object()


def moved(
    invocation: Invocation,
    status: InvocationStatus,
    pinned_deployment_id: str | None = _UNSET,
    pinned_protocol_version: int | None = _UNSET,
    last_failure: Failure | None = _UNSET,
) -> Invocation:
    """A copy with a new status and the given fields: the hot-path twin of ``attrs.evolve``."""
    return make_invocation(
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


class InvocationCommands(RegistryParts):
    """Invocations and keys: their commands and queries (see :class:`Registry`)."""

    # --- queries ----------------------------------------------------------------------------

    def invocation(self, invocation_id: str) -> Invocation:
        """The invocation with this id; :class:`InvalidId` for a malformed id,
        :class:`InvocationNotFound` for an unknown one."""
        try:
            found = self._invocations.get(invocation_id)
        except TypeError:  # not even hashable
            found = None
        if found is None:
            parse_invocation_id(invocation_id)
            raise InvocationNotFound(invocation_id)
        return found

    def invocations(self) -> Iterator[Invocation]:
        """Every invocation the registry knows, oldest first."""
        return iter(self._invocations.records())

    def in_flight_count(self, deployment_id: str) -> int:
        """How many started, uncompleted invocations are pinned to this deployment, paused
        ones included."""
        self._deployment(deployment_id)
        return len(self._invocations.pinned_to(deployment_id))

    def active_invocations(self, deployment_id: str) -> int:
        """The CLI's ACTIVE-INVOCATIONS: pinned, uncompleted invocations, paused ones
        included."""
        return self.in_flight_count(deployment_id)

    def pinned_invocations(self, deployment_id: str) -> tuple[Invocation, ...]:
        """The started, uncompleted invocations pinned to a deployment, in the order they were
        pinned (also for a removed deployment, whose pinned work is stuck). :class:`InvalidId`
        for a malformed id, :class:`DeploymentNotFound` for an unknown one."""
        if not isinstance(deployment_id, str) or not self._catalogue.was_removed(deployment_id):
            self._deployment(deployment_id)
        invocations = self._invocations
        return tuple(invocations[i] for i in invocations.pinned_to(deployment_id))

    def waiting_invocations(self, service: str) -> tuple[Invocation, ...]:
        """The uncompleted invocations of a service that are pinned nowhere yet (pending,
        scheduled, or failing to start), oldest first. :class:`InvalidInvocation` if ``service``
        is not a str."""
        check_name(service, "service")
        invocations = self._invocations
        return tuple(invocations[i] for i in invocations.waiting_for(service))

    def locked_keys(self) -> tuple[LockedKey, ...]:
        """Each Virtual Object key an exclusive call holds (a :class:`LockedKey`: service,
        key, holder id, how many calls wait behind it), by service and key."""
        return tuple(LockedKey(*held) for held in self._keys.locked())

    def status_counts(self) -> Mapping[tuple[str, str, InvocationStatus], int]:
        """How many uncompleted invocations each (service, handler) has in each status."""
        return self._invocations.counts()

    def oldest_invocation(
        self, service: str, handler: str, *, skip_suspended: bool = True
    ) -> Invocation | None:
        """The oldest uncompleted invocation of a handler (by default not a suspended one, as
        ``restate services status`` shows it). :class:`InvalidInvocation` if ``service`` or
        ``handler`` is not a str."""
        check_name(service, "service")
        check_name(handler, "handler")
        invocations = self._invocations
        for invocation_id in invocations.active_of(service, handler):
            invocation = invocations[invocation_id]
            if not (skip_suspended and invocation.status is _SUSPENDED):
                return invocation
        return None

    # --- keeping the parts exact ------------------------------------------------------------

    def _holder(self, invocation: Invocation) -> str | None:
        """Who holds the call's key (``None`` for a call without a key)."""
        key = invocation.key
        return None if key is None else self._keys.holder((invocation.service, key))

    def _replace(
        self,
        invocation: Invocation,
        action: Action,
        pinned_deployment_id: str | None = _UNSET,
        pinned_protocol_version: int | None = _UNSET,
        last_failure: Failure | None = _UNSET,
    ) -> Invocation:
        """Move an invocation along the status table, keeping every index exact."""
        status = TRANSITIONS[invocation.status].get(action)
        if status is None:  # not allowed: the rule says so, in its words
            status = next_status(invocation.id, invocation.status, action)
        updated = moved(
            invocation, status, pinned_deployment_id, pinned_protocol_version, last_failure
        )
        self._invocations.move(invocation, updated)
        self._changes += 1
        return updated

    # --- calls ------------------------------------------------------------------------------

    def invoke(
        self,
        service: str,
        handler: str,
        *,
        key: str | None = None,
        caller: str | Caller | Invocation | None = None,
        delay: timedelta | None = None,
        pin_on_start: bool = True,
    ) -> Invocation:
        """Call ``service``/``handler``, from the ingress (``caller=None``) or from another
        handler: the calling invocation (an :class:`Invocation` or its ``inv_…`` id), or just
        the calling handler (a :class:`Caller`, or ``"Service/handler"``) when the calling
        invocation is not modelled.

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
        latest = self._catalogue.latest.get(service) if isinstance(service, str) else None
        if latest is None:
            raise ServiceNotFound(service)
        target = latest.handlers.get(handler) if isinstance(handler, str) else None
        if target is None:
            raise HandlerNotFound(service, handler, latest.revision)
        calling = self._calling_invocation(caller) if caller is not None else None
        calling_handler: str | None = None
        if calling is not None:
            calling_handler = f"{calling.service}/{calling.handler}"
        elif caller is not None:
            calling_handler = check_caller(caller)
        check_call(latest, key, delay)
        if pin_on_start is not True and pin_on_start is not False:
            raise InvalidInvocation(
                f"pin_on_start must be True or False, got {quote(pin_on_start)}",
                pin_on_start=pin_on_start,
            )
        check_ingress(latest, target, calling_handler)
        now = self._now()
        due = self._due_time(now, delay) if delay else None
        keys = self._keys
        lock: Lock | None = (service, key) if key is not None else None
        handler_type = target.type
        if handler_type is _WORKFLOW:
            assert lock is not None  # a workflow is keyed: check_call saw to it
            previous = keys.run(lock)
            if previous is not None:  # a call that repeats a workflow run is a dependency too
                if calling_handler is not None:
                    self._record_call(service, calling_handler, calling)
                return self._invocations[previous]
        invocation_id = self._ids.invocation_id(now)
        if self._invocations.get(invocation_id) is not None:
            parse_invocation_id(invocation_id)
            raise VersioningError(f"the id generator returned {invocation_id!r} twice")
        if calling_handler is not None:  # every check passed: from here on nothing refuses
            self._record_call(service, calling_handler, calling)
        holder = keys.holder(lock) if lock is not None else None
        admitted = admission(latest, handler, holder, invocation_id, handler_type)
        status: InvocationStatus
        pinned: str | None = None
        protocol: int | None = None
        if due is not None:
            status = _SCHEDULED
            keys.schedule(due, invocation_id)
        elif admitted.decision is _WAIT:
            assert lock is not None  # only a call with a key waits for it
            status = _PENDING
            keys.wait(lock, invocation_id)
        else:
            status = _RUNNING
            if pin_on_start:
                pinned = latest.deployment_id
                protocol = self._catalogue.pinned_protocol(pinned)
            if admitted.holds_key:
                assert lock is not None  # only a call with a key holds it
                keys.take(lock, invocation_id)
        invocation = make_invocation(
            invocation_id,
            service,
            handler,
            key,
            calling_handler,
            status,
            pinned,
            now,
            protocol,
            due,
            None,
            calling.id if calling is not None else None,
            calling.key if calling is not None else None,
            handler_type,
            not pin_on_start,
        )
        if handler_type is _WORKFLOW:
            assert lock is not None
            keys.start_run(lock, invocation_id)
        self._invocations.add(invocation)
        self._changes += 1
        return invocation

    @staticmethod
    def _due_time(now: datetime, delay: timedelta) -> datetime:
        try:
            return check_time_after(now, delay, "the due time")
        except InvalidTime:
            raise InvalidInvocation(
                f"delay {quote(delay)} is beyond any date", delay=delay
            ) from None

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
            return None  # None, "Service/handler", or what check_caller refuses
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
        if not started or calling.status is _COMPLETED:
            raise InvalidCaller(caller_id, calling.status)
        if calling.pinned_deployment_id is None and calling.service not in self._catalogue.latest:
            raise ServiceNotFound(calling.service)  # it would be pinned, and cannot be
        return calling

    def start_due(self) -> tuple[Invocation, ...]:
        """Start the delayed invocations whose time has come, in due order: each is pinned to
        the latest revision now, or waits behind its key (``PENDING``), or, if its service has
        no deployment left, fails its attempt (RT0011). Returns the invocations it moved."""
        now = self._now()
        moved: list[Invocation] = []
        for invocation_id in self._keys.fall_due(now):
            invocation = self._invocations.get(invocation_id)
            if invocation is None or invocation.status is not _SCHEDULED:
                continue  # killed while it waited
            moved.append(self._admit(invocation, Action.START))
        return tuple(moved)

    def _admit(self, invocation: Invocation, action: Action) -> Invocation:
        """Work pinned nowhere gets its turn (a due delayed call, a retry of one that could not
        start): it waits in its key's inbox, or starts on the latest revision, or fails its
        attempt (see ``rules.invocations.admission``), taking its key if it was sent to an
        exclusive handler."""
        admitted = admission(
            self._catalogue.latest.get(invocation.service),
            invocation.handler,
            self._holder(invocation),
            invocation.id,
            invocation.handler_type,
        )
        if admitted.decision is Admission.WAIT:
            assert invocation.key is not None  # only a call with a key waits for it
            queued = self._replace(invocation, Action.ENQUEUE)
            self._keys.wait((invocation.service, invocation.key), invocation.id)
            return queued
        return self._start(invocation, action, admitted)

    def _start(self, invocation: Invocation, action: Action, admitted: Admitted) -> Invocation:
        """Begin an attempt of an unpinned invocation on the latest revision (pinning it), or
        fail the attempt, pinned nowhere, as ``admitted`` says; take its key if it says so."""
        if admitted.holds_key:
            assert invocation.key is not None  # only a call with a key holds it
            self._keys.take((invocation.service, invocation.key), invocation.id)
        if admitted.failure is not None:
            return self._replace(invocation, Action.FAIL, last_failure=Failure(*admitted.failure))
        if invocation.pins_at_first_command:  # it runs on the latest revision, pinned nowhere
            return self._replace(invocation, action, last_failure=None)
        deployment = self._catalogue[self._catalogue.latest[invocation.service].deployment_id]
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
        deployment = self._catalogue[self._latest_of(invocation.service).deployment_id]
        pinned = moved(
            invocation,
            _RUNNING,
            pinned_deployment_id=deployment.id,
            pinned_protocol_version=pinned_protocol_version(deployment),
        )
        self._invocations.move(invocation, pinned)
        self._changes += 1
        return pinned

    def _release(self, invocation: Invocation) -> None:
        """The key's holder is done: the calls waiting on the key get their turn, in order,
        until one holds the key again (or none is left)."""
        assert invocation.key is not None  # only a call with a key holds one
        lock = (invocation.service, invocation.key)
        keys = self._keys
        if not keys.free(lock, invocation.id):
            return
        while (turn := keys.next_turn(lock)) is not None:
            waiting = self._invocations[turn]
            # It was queued for the key: it was sent to an exclusive handler.
            admitted = admission(
                self._catalogue.latest.get(waiting.service),
                waiting.handler,
                None,
                waiting.id,
                waiting.handler_type or HandlerType.EXCLUSIVE,
            )
            self._start(waiting, Action.START, admitted)
