"""How invocations are admitted, queued, pinned and moved between statuses (docs/rules.md,
"Routing and pinning").

* :data:`TRANSITIONS` is the whole status machine as data: ``TRANSITIONS[status][action]`` is the
  status an action leads to. An action missing from a status's row is refused with
  :class:`~restate_versioning.InvalidTransition`, which lists what the row allows.
* New invocations go to the latest revision of their service. An invocation is pinned (to a
  deployment and a protocol version) when it *starts*, never before: queued work (``pending``
  behind another exclusive call on the same key, ``scheduled`` for later) is pinned to whatever
  is latest when it finally starts.
* :data:`KEYED` says which service types take a key. Exclusive handlers of a Virtual Object run
  one at a time per key; a Workflow's ``WORKFLOW`` handler runs once per key (calling it again
  returns the same invocation); shared handlers run at once.
* An ingress call (no caller) needs the service and the handler to be public; calls from
  another handler reach private services too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta

import attrs

from ..enums import Enumeration
from ..errors import InvalidInvocation, InvalidTransition, ServiceNotPublic, quote
from ..model import (
    Deployment,
    Handler,
    HandlerType,
    Invocation,
    InvocationStatus,
    ServiceRevision,
    ServiceType,
)

__all__ = [
    "CALL_TARGET_NOT_FOUND_CODE",
    "FAILURE_CODE",
    "FAILURE_MESSAGES",
    "HANDLER_NOT_FOUND",
    "HANDLER_NOT_FOUND_CODE",
    "KEYED",
    "MAX_PINNED_PROTOCOL_VERSION",
    "NO_CHANGE",
    "NO_DEPLOYMENT",
    "NO_DEPLOYMENT_CODE",
    "PINNED_DEPLOYMENT_MISSING",
    "PINNING",
    "TRANSITIONS",
    "Action",
    "Admission",
    "Admitted",
    "Pin",
    "admission",
    "can_run",
    "check_call",
    "check_ingress",
    "check_move",
    "is_public",
    "next_status",
    "pinned_protocol_version",
]


class Action(Enumeration):
    """What can happen to an invocation."""

    START = "start"  # begins its first attempt: pinned now
    ENQUEUE = "enqueue"  # a due delayed call that must wait behind its key
    SUSPEND = "suspend"
    RESUME = "resume"  # the next attempt after suspended, paused or backing-off
    PAUSE = "pause"
    FAIL = "fail"  # an attempt failed: backing-off until retried
    COMPLETE = "complete"
    KILL = "kill"
    PURGE = "purge"  # a completed call is forgotten


_S = InvocationStatus
_A = Action

#: ``TRANSITIONS[status][action] -> new status``: the only home of the status machine.
TRANSITIONS: Mapping[InvocationStatus, Mapping[Action, InvocationStatus]] = {
    _S.PENDING: {_A.START: _S.RUNNING, _A.FAIL: _S.BACKING_OFF, _A.KILL: _S.COMPLETED},
    _S.SCHEDULED: {
        _A.START: _S.RUNNING,
        _A.ENQUEUE: _S.PENDING,
        _A.FAIL: _S.BACKING_OFF,
        _A.KILL: _S.COMPLETED,
    },
    _S.READY: {_A.START: _S.RUNNING, _A.FAIL: _S.BACKING_OFF, _A.KILL: _S.COMPLETED},
    _S.RUNNING: {
        _A.SUSPEND: _S.SUSPENDED,
        _A.PAUSE: _S.PAUSED,
        _A.FAIL: _S.BACKING_OFF,
        _A.COMPLETE: _S.COMPLETED,
        _A.KILL: _S.COMPLETED,
    },
    _S.BACKING_OFF: {
        _A.RESUME: _S.RUNNING,
        _A.ENQUEUE: _S.PENDING,  # its retry finds its key held by another call
        _A.FAIL: _S.BACKING_OFF,
        _A.PAUSE: _S.PAUSED,
        _A.KILL: _S.COMPLETED,
    },
    _S.SUSPENDED: {_A.RESUME: _S.RUNNING, _A.FAIL: _S.BACKING_OFF, _A.KILL: _S.COMPLETED},
    _S.PAUSED: {
        _A.RESUME: _S.RUNNING,
        _A.ENQUEUE: _S.PENDING,
        _A.FAIL: _S.BACKING_OFF,
        _A.KILL: _S.COMPLETED,
    },
    _S.COMPLETED: {_A.PURGE: _S.COMPLETED},  # then forgotten
}


#: ``NO_CHANGE[status]``: the actions the server answers with 200 and leaves the invocation
#: as it is (seen on restate-server 1.7.12): resuming a running call where it runs, pausing
#: a suspended or already paused one. The model returns the invocation unchanged, too.
NO_CHANGE: Mapping[InvocationStatus, frozenset[Action]] = {
    _S.RUNNING: frozenset({_A.RESUME}),
    _S.SUSPENDED: frozenset({_A.PAUSE}),
    _S.PAUSED: frozenset({_A.PAUSE}),
}


class Pin(Enumeration):
    """Whether an invocation in a status has a pinned deployment."""

    NEVER = "never"  # queued: pinned only when it starts
    ALWAYS = "always"  # started: pinned for good
    EITHER = "either"  # retrying, paused or completed: pinned if it ever started


#: ``PINNING[status]``: the one home of which statuses carry a pinned deployment. An invocation
#: that failed before it could start (its service had no deployment left) retries, or is
#: paused, unpinned. A started call is pinned when its handler's first command reaches the
#: server: one that pins at its first command (``Invocation.pins_at_first_command``) runs and
#: suspends unpinned until then; every other running or suspended call is pinned.
PINNING: Mapping[InvocationStatus, Pin] = {
    _S.PENDING: Pin.NEVER,
    _S.SCHEDULED: Pin.NEVER,
    _S.READY: Pin.NEVER,
    _S.RUNNING: Pin.ALWAYS,
    _S.SUSPENDED: Pin.ALWAYS,
    _S.BACKING_OFF: Pin.EITHER,
    _S.PAUSED: Pin.EITHER,
    _S.COMPLETED: Pin.EITHER,
}

#: Which service types are called with a key (Virtual Objects and Workflows) and which without.
KEYED: Mapping[ServiceType, bool] = {
    ServiceType.SERVICE: False,
    ServiceType.VIRTUAL_OBJECT: True,
    ServiceType.WORKFLOW: True,
}

#: The message of :data:`NO_DEPLOYMENT_CODE` for work whose service has no deployment left.
NO_DEPLOYMENT = "no deployment was found to process the invocation"
#: RT0011 for a started invocation whose pinned deployment was force-removed.
PINNED_DEPLOYMENT_MISSING = (
    "the invocation has a deployment id associated, but it was not found in the registry. This "
    "might indicate that a deployment was forcefully removed from the registry, but there are "
    "still in-flight invocations pinned to it"
)


def next_status(invocation_id: str, status: InvocationStatus, action: Action) -> InvocationStatus:
    """The status ``action`` leads to; :class:`InvalidTransition` if ``status`` forbids it."""
    row = TRANSITIONS[status]
    try:
        return row[action]
    except KeyError:
        raise InvalidTransition(
            invocation_id, status, action.value, [a.value for a in row]
        ) from None


def is_public(service: ServiceRevision, handler: Handler) -> bool:
    """Whether the ingress may call ``handler``: its service is public, and the handler is
    not made private on its own (a handler without its own setting follows its service, as
    the server's ``handler.public.unwrap_or(service.public)``)."""
    return service.public and (handler.public if handler.public is not None else True)


def check_ingress(service: ServiceRevision, handler: Handler, caller: str | None) -> None:
    """Raise :class:`ServiceNotPublic` for an ingress call to a private service or handler."""
    if caller is None and not is_public(service, handler):
        raise ServiceNotPublic(service.name, handler.name)


class Admission(Enumeration):
    """What happens when work that is pinned nowhere gets its turn to start."""

    START = "start"  # it runs now
    WAIT = "wait"  # an exclusive call whose key another call holds: inboxed (pending)
    FAIL = "fail"  # its attempt fails before it starts: backing-off, pinned nowhere


@attrs.frozen
class Admitted:
    """The decision :func:`admission` makes: what happens, whether the call holds its key
    from now on (an exclusive call that starts, or that fails and retries), and for
    :attr:`Admission.FAIL` the failure (code and message) its attempt ends with."""

    decision: Admission
    holds_key: bool = False
    failure: tuple[str, str] | None = None


#: RT0011: work whose service has no deployment left.
NO_DEPLOYMENT_CODE = "RT0011"
#: RT0012: the latest revision has no such handler, so the deployment answers the attempt 404.
HANDLER_NOT_FOUND_CODE = "RT0012"
#: The message of :data:`HANDLER_NOT_FOUND_CODE`, as ``sys_invocation.last_failure`` shows it
#: after the server's ``[500 Internal]`` prefix.
HANDLER_NOT_FOUND = "unexpected http status code: 404 Not Found"


#: RT0018: a call to a service or handler that does not exist fails the attempt that made it.
CALL_TARGET_NOT_FOUND_CODE = "RT0018"

#: The message a failed attempt gets by default, by code (see :meth:`Registry.fail`).
FAILURE_MESSAGES: Mapping[str, str] = {
    NO_DEPLOYMENT_CODE: NO_DEPLOYMENT,
    HANDLER_NOT_FOUND_CODE: HANDLER_NOT_FOUND,
    CALL_TARGET_NOT_FOUND_CODE: "a call was made to a service handler that was not found",
}
#: What a failure code looks like: Restate's codes are letters and four digits (RT0011).
FAILURE_CODE = re.compile(r"[A-Z]{2,8}[0-9]{4}")


def admission(
    latest: ServiceRevision | None,
    handler: str,
    key_holder: str | None,
    invocation_id: str,
    sent_type: HandlerType | None = None,
) -> Admitted:
    """The one home of admission: a call is routed to the latest revision, but whether it
    queues on its key is decided by the handler type it was *sent* with (``sent_type``, the
    type in the latest revision when it was sent; where that is not known, the type in the
    latest revision now). So an exclusive call waits behind its key even if a newer revision
    made the handler shared, or left the service no deployment at all; a call sent to a shared
    handler runs at once even if the handler is exclusive now. ``key_holder`` is the
    invocation holding the call's key, if any.

    A call that does not wait fails its attempt, pinned nowhere, if its service has no
    deployment left (RT0011) or the latest revision has no such handler (RT0012, the SDK's
    404); an exclusive one holds its key while it retries."""
    if sent_type is None:
        now = latest.handlers.get(handler) if latest is not None else None
        sent_type = now.type if now is not None else None
    exclusive = sent_type is HandlerType.EXCLUSIVE
    if exclusive and key_holder is not None and key_holder != invocation_id:
        return _WAIT
    if latest is None:
        return Admitted(Admission.FAIL, exclusive, (NO_DEPLOYMENT_CODE, NO_DEPLOYMENT))
    if handler not in latest.handlers:
        return Admitted(Admission.FAIL, exclusive, (HANDLER_NOT_FOUND_CODE, HANDLER_NOT_FOUND))
    return _START_HOLDING_KEY if exclusive else _START


# The decisions every call gets, made once (they are frozen values).
_WAIT = Admitted(Admission.WAIT)
_START = Admitted(Admission.START)
_START_HOLDING_KEY = Admitted(Admission.START, True)


def can_run(deployment: Deployment, service: str, handler: str) -> bool:
    """Whether an attempt of ``service``/``handler`` on ``deployment`` can run: the deployment
    serves the service, with that handler. A call moved (resumed) onto one that cannot is
    accepted by the server, and its attempt fails there (RT0012: the deployment answers 404)."""
    revision = deployment.services.get(service)
    return revision is not None and handler in revision.handlers


#: The highest service protocol version restate-server 1.7.12 pins an invocation to: it
#: discovers endpoints of versions 5 to 7, but runs them at 6 at most while its
#: ``protocol_v7`` feature is off, as it is by default (seen on the real server).
MAX_PINNED_PROTOCOL_VERSION = 6


def pinned_protocol_version(deployment: Deployment) -> int:
    """The protocol version an invocation is pinned to when it starts on a deployment: the
    highest one both the deployment and the server run (the deployment's lowest, if even that
    is above what the server runs)."""
    return max(
        deployment.min_protocol_version,
        min(deployment.max_protocol_version, MAX_PINNED_PROTOCOL_VERSION),
    )


def check_call(service: ServiceRevision, key: object, delay: object) -> None:
    """:class:`InvalidInvocation`, quoting the input, unless a call to ``service`` has a key
    exactly when the service is keyed (a Virtual Object or a Workflow; the key a ``str``) and
    its ``delay`` is ``None`` or a non-negative :class:`~datetime.timedelta`."""
    if KEYED[service.type]:
        if not isinstance(key, str):
            raise InvalidInvocation(
                f"{service.name!r} is a {service.type.value}: calls need a key (a str), "
                f"got {quote(key)}",
                key=key,
            )
    elif key is not None:
        raise InvalidInvocation(
            f"{service.name!r} is a SERVICE: calls take no key, got {quote(key)}", key=key
        )
    if delay is not None and (not isinstance(delay, timedelta) or delay < timedelta(0)):
        raise InvalidInvocation(
            f"delay must be a non-negative timedelta, got {quote(delay)}", delay=delay
        )


def check_move(invocation: Invocation, deployment: Deployment) -> None:
    """:class:`InvalidInvocation` unless ``deployment`` speaks the protocol version
    ``invocation`` is pinned to, so that it can be moved there (the server answers 400)."""
    version = invocation.pinned_protocol_version
    if version is not None and not (
        deployment.min_protocol_version <= version <= deployment.max_protocol_version
    ):
        raise InvalidInvocation(
            f"deployment {deployment.id!r} supports protocol versions "
            f"[{deployment.min_protocol_version}, {deployment.max_protocol_version}], not the "
            f"version {version} invocation {invocation.id!r} is pinned to",
            deployment_id=deployment.id,
        )
