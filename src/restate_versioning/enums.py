"""The enumerations of the model, at the bottom of the package: this module imports nothing
from it, so every other module (errors included) can name a status or a type.

Each is re-exported where it has always been importable from (``manifest.ServiceType``,
``model.InvocationStatus``, ``schemas.Verdict``, ``rules.removal.BlockerKind``,
``endpoints.EndpointKind``...).
"""

from __future__ import annotations

import enum

__all__ = [
    "BlockerKind",
    "DeploymentStatus",
    "EffectKind",
    "EndpointKind",
    "Enumeration",
    "HandlerType",
    "InvocationStatus",
    "OnMaxAttempts",
    "Outcome",
    "ProtocolMode",
    "ResumeOn",
    "ServiceType",
    "Verdict",
]


class Enumeration(enum.Enum):
    """The base of the package's enumerations: an :class:`enum.Enum` whose members hash by
    identity, in C (they are singletons, so equal members are the same object). ``Enum``'s own
    hash is a Python function, and the registry keys its indexes on statuses and actions on
    every command."""

    __hash__ = object.__hash__


class ServiceType(Enumeration):
    """The kind of a service; it cannot change across revisions (META0006)."""

    SERVICE = "SERVICE"
    VIRTUAL_OBJECT = "VIRTUAL_OBJECT"
    WORKFLOW = "WORKFLOW"

    @property
    def title(self) -> str:
        """How the server and the CLI spell it: ``Service``, ``VirtualObject``, ``Workflow``."""
        return _SERVICE_TITLES[self]

    @property
    def flavor(self) -> str:
        """The CLI's FLAVOR column: blank, ``virtual object`` or ``workflow``."""
        return _FLAVORS[self]


class HandlerType(Enumeration):
    """How a handler runs: exclusive handlers of a Virtual Object run one at a time per key,
    shared ones concurrently, and a Workflow's ``WORKFLOW`` handler once per key. Handlers of a
    plain Service are ``SHARED``."""

    EXCLUSIVE = "EXCLUSIVE"
    SHARED = "SHARED"
    WORKFLOW = "WORKFLOW"

    @property
    def title(self) -> str:
        """How the server spells it: ``Exclusive``, ``Shared``, ``Workflow``."""
        return self.value.capitalize()


class ProtocolMode(Enumeration):
    """How the server talks to a deployment (a manifest's ``protocolMode``)."""

    BIDI_STREAM = "BIDI_STREAM"
    REQUEST_RESPONSE = "REQUEST_RESPONSE"

    @property
    def title(self) -> str:
        """How the admin API spells it: ``BidiStream``, ``RequestResponse``."""
        return self.value.title().replace("_", "")


_SERVICE_TITLES = {
    ServiceType.SERVICE: "Service",
    ServiceType.VIRTUAL_OBJECT: "VirtualObject",
    ServiceType.WORKFLOW: "Workflow",
}
_FLAVORS = {
    ServiceType.SERVICE: "",
    ServiceType.VIRTUAL_OBJECT: "virtual object",
    ServiceType.WORKFLOW: "workflow",
}


class InvocationStatus(Enumeration):
    """An invocation's status, with the names ``sys_invocation`` uses.

    ``PENDING`` (inboxed behind another call on the same key) and ``SCHEDULED`` (a delayed call)
    are *queued*: not yet pinned to any deployment. ``READY`` is accepted and about to run.
    ``RUNNING``, ``BACKING_OFF``, ``SUSPENDED`` and ``PAUSED`` are *in flight*: started, pinned,
    not completed.
    """

    PENDING = "pending"
    SCHEDULED = "scheduled"
    READY = "ready"
    RUNNING = "running"
    BACKING_OFF = "backing-off"
    SUSPENDED = "suspended"
    PAUSED = "paused"
    COMPLETED = "completed"

    # Members are singletons compared by identity, so identity hashing is exact; it is much
    # cheaper than Enum's name hashing, and statuses key the registry's hot indexes.
    __hash__ = object.__hash__

    @property
    def is_queued(self) -> bool:
        """Accepted but not started, so not pinned yet."""
        return self in _QUEUED

    @property
    def is_in_flight(self) -> bool:
        """Started (pinned) and not completed."""
        return self in _IN_FLIGHT


_QUEUED = frozenset({InvocationStatus.PENDING, InvocationStatus.SCHEDULED})
_IN_FLIGHT = frozenset(
    {
        InvocationStatus.RUNNING,
        InvocationStatus.BACKING_OFF,
        InvocationStatus.SUSPENDED,
        InvocationStatus.PAUSED,
    }
)


class DeploymentStatus(Enumeration):
    """A deployment's status as the ``restate`` CLI computes it (see docs/rules.md)."""

    ACTIVE = "Active"
    DRAINING = "Draining"
    DRAINED = "Drained"


class Outcome(Enumeration):
    """What a registration did (the admin API answers 201 for CREATED, 200 otherwise)."""

    CREATED = "CREATED"
    UNCHANGED = "UNCHANGED"
    OVERWRITTEN = "OVERWRITTEN"


class OnMaxAttempts(Enumeration):
    """What the server does with an invocation whose retries are used up (a manifest's
    ``retryPolicyOnMaxAttempts``)."""

    PAUSE = "PAUSE"
    KILL = "KILL"

    @property
    def title(self) -> str:
        """How the admin API spells it: ``Pause``, ``Kill``."""
        return self.value.capitalize()


class Verdict(Enumeration):
    """What the check concluded."""

    COMPATIBLE = "compatible"
    INCOMPATIBLE = "incompatible"
    UNKNOWN = "unknown"


class BlockerKind(Enumeration):
    """Why removing a deployment now would break something."""

    ROLLBACK = "ROLLBACK"
    PUBLIC = "PUBLIC"
    CALLERS = "CALLERS"
    QUEUED = "QUEUED"
    IN_FLIGHT = "IN_FLIGHT"


class EffectKind(Enumeration):
    """What removing a deployment does to one of its services."""

    ROLLS_BACK = "ROLLS_BACK"  # the latest revision moves back to an older one elsewhere
    VANISHES = "VANISHES"  # no revision is left: the service disappears
    UNAFFECTED = "UNAFFECTED"  # the deployment held an older revision; the latest stays


class EndpointKind(Enumeration):
    """How a deployment is reached."""

    HTTP = "http"
    LAMBDA = "lambda"


class ResumeOn(enum.StrEnum):
    """Where :meth:`Registry.resume <restate_versioning.Registry.resume>` runs a call, short of
    a given deployment id: where it is pinned, or on its service's latest revision. Each is the
    word the method has always taken (``ResumeOn.KEEP == "keep"``)."""

    KEEP = "keep"
    LATEST = "latest"
