"""What every part of the :class:`~restate_versioning.Registry` facade shares: its parts, its
clock and id generator, and how many changes it has applied."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from ..clock import check_time
from ..errors import DeploymentNotFound, DeploymentRemoved, ServiceNotFound, VersioningError
from ..ids import IdGenerator, RandomIds, parse_deployment_id
from ..model import Deployment, ServiceRevision
from ..parts import CallGraph, Catalogue, InvocationIndex, KeyQueues

__all__ = ["Clock", "RegistryParts"]

#: What a registry reads the time from: a zero-argument callable returning an aware datetime.
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class RegistryParts:
    """The parts a registry is made of (:mod:`restate_versioning.parts`): the catalogue of
    deployments, the invocation index, the key queues and the call graph; and its clock, its id
    generator and its count of changes. The commands and queries of
    :class:`~restate_versioning.registry.deployments.DeploymentCommands` and
    :class:`~restate_versioning.registry.invocations.InvocationCommands` work on them."""

    def __init__(self, *, clock: Clock | None = None, ids: IdGenerator | None = None) -> None:
        self._clock: Clock = clock if clock is not None else _utc_now
        self._ids: IdGenerator = ids if ids is not None else RandomIds()
        self._catalogue = Catalogue()
        self._invocations = InvocationIndex()
        self._keys = KeyQueues()
        self._calls = CallGraph()
        self._changes = 0

    @property
    def changes(self) -> int:
        """How many changes this registry object has applied: it grows with every command that
        changes state and stays put for one that does not (an UNCHANGED registration, a
        repeated workflow run, a refused command). Storage uses it to journal only changes."""
        return self._changes

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
        if self._catalogue.knows(deployment_id):
            raise VersioningError(f"the id generator returned {deployment_id!r} twice")
        return deployment_id

    def _deployment(self, deployment_id: str) -> Deployment:
        """The registered deployment; :class:`InvalidId` for a malformed id,
        :class:`DeploymentRemoved` for a removed one, :class:`DeploymentNotFound` otherwise."""
        try:
            return self._catalogue[deployment_id]
        except (KeyError, TypeError):
            parse_deployment_id(deployment_id)
            if self._catalogue.was_removed(deployment_id):
                raise DeploymentRemoved(deployment_id) from None
            raise DeploymentNotFound(deployment_id) from None

    def _latest_of(self, name: str) -> ServiceRevision:
        """The latest revision of a service; :class:`ServiceNotFound` if it has none."""
        try:
            return self._catalogue.latest[name]
        except (KeyError, TypeError):
            raise ServiceNotFound(name) from None
