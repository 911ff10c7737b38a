"""What a registry can be asked without changing it, and a read-only view that answers only
that.

:class:`RegistryQueries` is the questions a :class:`~restate_versioning.Registry` answers (a
protocol: a ``Registry`` is one); whatever only reads a registry (serialization, the views,
a tool's checks) takes one. :class:`RegistryView` answers them from a registry it does not
let anyone change: :attr:`StoredRegistry.registry <restate_versioning.storage.StoredRegistry>`
hands out one, so that a command cannot be run past the journal.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol, cast

from .enums import DeploymentStatus, InvocationStatus
from .errors import VersioningError
from .model import Deployment, Invocation, LockedKey, ServiceRevision
from .registry import Registry
from .rules.removal import RemovalPlan
from .snapshot import RegistrySnapshot

__all__ = ["QUERIES", "ReadOnly", "RegistryQueries", "RegistryView", "read_only"]


class RegistryQueries(Protocol):
    """The questions a registry answers; see :class:`~restate_versioning.Registry` for each."""

    @property
    def changes(self) -> int: ...
    def services(self) -> tuple[ServiceRevision, ...]: ...
    def service(self, name: str) -> ServiceRevision: ...
    def service_revisions(self, name: str) -> tuple[ServiceRevision, ...]: ...
    def deployments(self) -> tuple[Deployment, ...]: ...
    def deployment(self, deployment_id: str) -> Deployment: ...
    def find_deployment(self, endpoint: str) -> Deployment | None: ...
    def deployment_status(self, deployment_id: str) -> DeploymentStatus: ...
    def was_removed(self, deployment_id: str) -> bool: ...
    def removal_plan(self, deployment_id: str) -> RemovalPlan: ...
    def drained(self) -> tuple[RemovalPlan, ...]: ...
    def callers_of(self, service: str) -> tuple[str, ...]: ...
    def invocation(self, invocation_id: str) -> Invocation: ...
    def invocations(self) -> Iterator[Invocation]: ...
    def in_flight_count(self, deployment_id: str) -> int: ...
    def active_invocations(self, deployment_id: str) -> int: ...
    def pinned_invocations(self, deployment_id: str) -> tuple[Invocation, ...]: ...
    def waiting_invocations(self, service: str) -> tuple[Invocation, ...]: ...
    def locked_keys(self) -> tuple[LockedKey, ...]: ...
    def status_counts(self) -> Mapping[tuple[str, str, InvocationStatus], int]: ...
    def oldest_invocation(
        self, service: str, handler: str, *, skip_suspended: bool = True
    ) -> Invocation | None: ...
    def verify(self) -> tuple[str, ...]: ...
    def snapshot(self) -> RegistrySnapshot: ...


#: The names of :class:`RegistryQueries`: what a :class:`RegistryView` answers.
QUERIES = frozenset(name for name in vars(RegistryQueries) if not name.startswith("_"))


class ReadOnly(VersioningError, AttributeError):
    """A command (or anything but a query) asked of a :class:`RegistryView`."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"a read-only view of a registry answers queries only, not {name!r}: run commands "
            "on the object that keeps the registry (a StoredRegistry journals them)"
        )


class RegistryView:
    """A registry's queries (:class:`RegistryQueries`) and nothing else: a command, or any
    other attribute, raises :class:`ReadOnly`. It follows the registry it wraps, so it shows
    every command run through its owner as soon as it is run."""

    __slots__ = ("_registry",)

    def __init__(self, registry: Registry) -> None:
        object.__setattr__(self, "_registry", registry)

    def __getattr__(self, name: str) -> object:
        if name in QUERIES:
            return getattr(self._registry, name)
        raise ReadOnly(name)

    def __setattr__(self, name: str, value: object) -> None:
        raise ReadOnly(name)

    def __delattr__(self, name: str) -> None:
        raise ReadOnly(name)

    def __repr__(self) -> str:
        return f"RegistryView({self._registry!r})"


def read_only(registry: Registry) -> RegistryQueries:
    """A :class:`RegistryView` of ``registry``, typed as the queries it answers."""
    # The view answers exactly the protocol's queries: QUERIES is made from the protocol.
    return cast(RegistryQueries, RegistryView(registry))
