"""Every error this library raises, in one tree.

One root, :class:`VersioningError`, and one subclass per decision a caller has to make. Each
error carries its data as attributes (ids, names, Restate's error code where Restate has one)
and a message that quotes the offending input (:func:`quote`: its ``repr``, cut short). Errors
about bad input also derive from the matching builtin (``ValueError``, ``LookupError``) so
generic handlers keep working.

A command that raises any of these has changed nothing.
"""

from __future__ import annotations

import reprlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from ._moved import forward

if TYPE_CHECKING:
    from .enums import InvocationStatus, ServiceType

__all__ = [
    "ConcurrentModification",
    "DeploymentNotFound",
    "DeploymentRemoved",
    "DeploymentUpdateRefused",
    "HandlerNotFound",
    "InvalidCaller",
    "InvalidCommand",
    "InvalidEndpoint",
    "InvalidId",
    "InvalidInvocation",
    "InvalidManifest",
    "InvalidServiceOptions",
    "InvalidSnapshot",
    "InvalidStateSchema",
    "InvalidTime",
    "InvalidTransition",
    "InvocationNotFound",
    "Problem",
    "ServiceNotFound",
    "ServiceNotPublic",
    "ServiceTypeChanged",
    "StorageError",
    "VersioningError",
    "quote",
]


class _Quoting(reprlib.Repr):
    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxstring = 80
        self.maxother = 80
        self.maxlong = 40

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 256:  # str() of a huge int is slow, and refused past 4,300 digits
            return f"an integer of {x.bit_length()} bits"
        return super().repr_int(x, level)


_QUOTING = _Quoting()


def quote(value: object) -> str:
    """``repr(value)``, cut short: how an error quotes an input, whatever it is (a huge string,
    an integer of thousands of digits, a list nested thousands deep, an object whose ``repr``
    fails), in a few dozen characters and never with an exception."""
    try:
        return _QUOTING.repr(value)
    except Exception:  # a repr of the caller's own that fails
        return f"<a {type(value).__name__}>"


class VersioningError(Exception):
    """Root of every error raised by ``restate_versioning``.

    ``code`` is Restate's error code (``"META0006"``, ``"RT0011"``...) where the real server has
    one for the same refusal, else ``None``.
    """

    code: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}" if self.code else self.message


@attrs.frozen
class Problem:
    """One thing wrong with an input: where (a ``$.services[0].name`` path), what, and the
    Restate error code the real server reports for it, if any."""

    path: str
    message: str
    code: str | None = None

    def __str__(self) -> str:
        prefix = f"[{self.code}] " if self.code else ""
        return f"{prefix}{self.message} @ {self.path}"


#: How many problems an error's message spells out (``problems`` holds them all): a manifest
#: of thousands of bad handlers must not make a message of megabytes.
_PROBLEMS_SHOWN = 20


def _problems_text(problems: Sequence[Problem]) -> str:
    shown = "; ".join(str(p) for p in problems[:_PROBLEMS_SHOWN])
    more = len(problems) - _PROBLEMS_SHOWN
    return shown + (f"; and {more} more" if more > 0 else "")


class InvalidManifest(VersioningError, ValueError):
    """The endpoint manifest cannot be registered.

    ``problems`` lists every problem found, not just the first, in the order the real server
    checks them; ``code`` is the code of the first problem (the one the server, which stops at
    the first, reports; ``None`` where the server has no code for it either).
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.code = self.problems[0].code if self.problems else None
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"invalid endpoint manifest ({count} {noun}): {_problems_text(problems)}")

    def __str__(self) -> str:
        return self.message


class InvalidStateSchema(VersioningError, ValueError):
    """A state declaration cannot be used: a schema that is not JSON or not a JSON Schema, a
    key declared twice differently, or state declared for a plain Service. ``problems`` lists
    every one, each with where it was given. The server has no such check (no ``code``)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"invalid state declaration ({count} {noun}): {_problems_text(problems)}")


class InvalidSnapshot(VersioningError, ValueError):
    """A serialized registry or view cannot be loaded; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(f"invalid registry snapshot: {_problems_text(problems)}")


class InvalidEndpoint(VersioningError, ValueError):
    """An endpoint that is neither an absolute http(s) URI that discovery can call nor a
    versioned AWS Lambda ARN. ``endpoint`` is the input as the message quotes it: with
    whatever precedes an ``@`` (credentials) redacted to ``***``, and cut to 100 characters
    when it is too long to be an endpoint; ``reason`` says why."""

    def __init__(self, endpoint: object, reason: str) -> None:
        self.endpoint = endpoint
        self.reason = reason
        super().__init__(reason)


class InvalidTime(VersioningError, ValueError):
    """A time the library cannot keep: not an aware ``datetime``, or one that has no UTC
    equivalent (``9999-12-31T23:59:59-14:00``), or that would have none after a delay.
    ``value`` is the time given, ``reason`` why it is refused."""

    def __init__(self, value: object, reason: str) -> None:
        self.value = value
        self.reason = reason
        super().__init__(reason)


class InvalidId(VersioningError, ValueError):
    """A string that is not a well-formed id of the expected kind (``dp_...``, ``inv_...``)."""

    def __init__(self, value: object, kind: str, reason: str) -> None:
        self.value = value
        self.kind = kind
        self.reason = reason
        super().__init__(f"{quote(value)} is not a valid {kind} id: {reason}")


class ServiceTypeChanged(VersioningError):
    """A new revision changes the service type, without ``breaking`` or ``force`` (409)."""

    code = "META0006"

    def __init__(self, service: str, old_type: ServiceType, new_type: ServiceType) -> None:
        self.service = service
        self.old_type = old_type
        self.new_type = new_type
        super().__init__(
            f"detected a new service revision for {quote(service)} changing the service type from "
            f"previous revision. Service type cannot be changed across revisions."
        )


class DeploymentNotFound(VersioningError, LookupError):
    """No deployment with this id is registered."""

    def __init__(self, deployment_id: str) -> None:
        self.deployment_id = deployment_id
        super().__init__(f"The requested deployment {quote(deployment_id)} does not exist")


class DeploymentRemoved(DeploymentNotFound):
    """The deployment existed and was removed; nothing can be done with it any more."""

    def __init__(self, deployment_id: str) -> None:
        super().__init__(deployment_id)
        self.message = f"deployment {quote(deployment_id)} was removed"
        self.args = (self.message,)


class ServiceNotFound(VersioningError, LookupError):
    """The service has no revision left in any deployment (404 at the ingress)."""

    def __init__(self, service: str) -> None:
        self.service = service
        super().__init__(
            f"service {quote(service)} not found, make sure to register the service before "
            f"calling it."
        )


class HandlerNotFound(VersioningError, LookupError):
    """The service exists, but its latest revision has no such handler."""

    def __init__(self, service: str, handler: str, revision: int) -> None:
        self.service = service
        self.handler = handler
        self.revision = revision
        super().__init__(
            f"the service {quote(service)} exists, but the handler {quote(handler)} was not "
            f"found, check "
            f"that the handler exists in the latest registered service version."
            f" (revision {revision})"
        )


class ServiceNotPublic(VersioningError):
    """An ingress call (one with no caller) to a private service or handler (400)."""

    def __init__(self, service: str, handler: str) -> None:
        self.service = service
        self.handler = handler
        super().__init__(
            f"the invoked service is not public ({quote(service)}, handler {quote(handler)})"
        )


class InvocationNotFound(VersioningError, LookupError):
    """No invocation with this id is known."""

    def __init__(self, invocation_id: str) -> None:
        self.invocation_id = invocation_id
        super().__init__(f"invocation {quote(invocation_id)} not found")


class InvalidInvocation(VersioningError, ValueError):
    """The arguments of a call do not fit its target (a key where none belongs, a negative
    delay, a caller that is no handler...)."""

    def __init__(self, reason: str, **data: object) -> None:
        self.reason = reason
        self.data = data
        super().__init__(reason)


class DeploymentUpdateRefused(VersioningError):
    """A deployment cannot be moved to an endpoint: the endpoint speaks other protocol
    versions (the server's META0016), serves other services or handlers, or is another
    deployment's address (where the model goes further than the server). ``code`` is
    ``META0016``; ``reason`` says what differs."""

    code = "META0016"

    def __init__(self, deployment_id: str, reason: str) -> None:
        self.deployment_id = deployment_id
        self.reason = reason
        super().__init__(
            "[META0016] an update deployment operation must provide an endpoint with the same "
            f"services and handlers. {reason}"
        )


class InvalidServiceOptions(VersioningError, ValueError):
    """Options of a service that cannot be set (a negative duration, a workflow completion
    retention on a service that is not a Workflow); ``data`` has the options given."""

    def __init__(self, reason: str, **data: object) -> None:
        self.reason = reason
        self.data = data
        super().__init__(reason)


class InvalidCaller(InvalidInvocation):
    """A call made from an invocation that makes no calls: one that has not started yet (it
    is queued, so no handler code runs), one that started but is pinned nowhere and not
    running, or one that has completed. ``caller_id`` and ``status`` say which."""

    def __init__(self, caller_id: str, status: InvocationStatus) -> None:
        self.caller_id = caller_id
        self.status = status
        if status.value == "completed":
            why = "a finished invocation makes no calls"
        elif status.value in ("pending", "scheduled", "ready"):
            why = "it has not started, so no handler code of it runs yet"
        else:
            why = "its attempt is not running and it is pinned nowhere yet"
        super().__init__(
            f"invocation {quote(caller_id)} cannot make a call: it is {status.value} ({why})",
            caller=caller_id,
        )


class InvalidTransition(VersioningError):
    """An action that the invocation's current status does not allow (completing twice,
    resuming a completed invocation...). ``allowed`` lists the actions its status allows."""

    def __init__(
        self,
        invocation_id: str,
        status: InvocationStatus,
        action: str,
        allowed: Sequence[str],
    ) -> None:
        self.invocation_id = invocation_id
        self.status = status
        self.action = action
        self.allowed = tuple(allowed)
        allowed_text = ", ".join(self.allowed) if self.allowed else "nothing"
        super().__init__(
            f"cannot {action} invocation {quote(invocation_id)}: it is {status.value}"
            f" (a {status.value} invocation allows: {allowed_text})"
        )


class InvalidCommand(VersioningError, TypeError):
    """Something that is not a command of :mod:`restate_versioning.commands` was given to run."""

    def __init__(self, command: object) -> None:
        self.command = command
        super().__init__(
            f"a registry runs the commands of restate_versioning.commands, not {quote(command)}"
        )


class ConcurrentModification(VersioningError):
    """Another writer appended to the store first: it is at ``actual``, not at the
    ``expected`` version this append was based on. Nothing was written."""

    def __init__(self, expected: int, actual: int) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"the store is at version {actual}, not {expected}: another writer got there first"
        )


class StorageError(VersioningError):
    """A store cannot be used as it is: a corrupted or foreign file or database, a format
    newer than this library reads, missing tables. ``location`` names the store. Nothing was
    written."""

    def __init__(self, location: str, reason: str) -> None:
        self.location = location
        self.reason = reason
        super().__init__(f"cannot use the store {location!r}: {reason}")


#: Refusals that carry a rule's own result live with their rule (as ``packaging`` keeps
#: ``InvalidVersion`` in ``version``); they stay importable from here.
_OWNED_BY_RULES = {
    "IncompatibleState": "restate_versioning.rules.state",
    "RemovalBlocked": "restate_versioning.rules.removal",
}


__getattr__ = forward(__name__, _OWNED_BY_RULES)
