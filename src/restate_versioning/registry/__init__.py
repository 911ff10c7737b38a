"""The :class:`Registry`: the state of one Restate cluster's versioning, and its commands.

The registry is a facade over its parts (:mod:`restate_versioning.parts`): the catalogue of
deployments and revisions, the invocation index, the key queues and the call graph. The rules
live in :mod:`restate_versioning.rules` (registration, admission, the status machine, pinning,
removal); the registry asks them and applies their outcome to the parts. Its methods come in
three groups, one module each: deployments and services
(:mod:`~restate_versioning.registry.deployments`), making and starting calls
(:mod:`~restate_versioning.registry.invocations`), and what happens to a started call
(:mod:`~restate_versioning.registry.lifecycle`). Every command validates first and then
applies, so a command either fully succeeds or raises a
:class:`~restate_versioning.VersioningError` and changes nothing.

It does no I/O. Time comes from ``clock`` (a zero-argument callable returning an aware
``datetime``) and ids from ``ids`` (an :class:`~restate_versioning.ids.IdGenerator`); inject both
to make a harness fully deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from ..commands import COMMANDS, Command, ManifestInput, R, ResumeTarget
from ..errors import InvalidCommand, InvalidSnapshot, Problem
from ..ids import IdGenerator
from ..model import InvocationStatus
from ..parts import CallGraph, Catalogue, InvocationIndex, KeyQueues
from ..snapshot import RegistrySnapshot, snapshot_problems
from .base import Clock
from .deployments import DeploymentCommands
from .lifecycle import LifecycleCommands

__all__ = ["Clock", "ManifestInput", "Registry", "ResumeTarget"]


class Registry(LifecycleCommands, DeploymentCommands):
    """An executable model of how Restate versions services (see the package docstring).

    ``Registry(clock=..., ids=...)``: both optional (the system clock in UTC, random ids like
    the server's)."""

    def execute(self, command: Command[R]) -> R:
        """Run ``command`` (a value of :mod:`restate_versioning.commands`): the same as calling
        its method with its fields, and returning what the method returns. Anything but a
        command is :class:`InvalidCommand`, and changes nothing."""
        run = _RUNNERS.get(type(command))
        if run is None:
            raise InvalidCommand(command)
        result: R = run(self, command)
        return result

    # --- self-check -------------------------------------------------------------------------

    def verify(self) -> tuple[str, ...]:
        """Every way the indexes behind statuses, counts, queues and plans differ from a
        recount from the deployments and invocations (each part's ``problems()``), and every
        rule of a consistent snapshot it breaks
        (:func:`~restate_versioning.snapshot.snapshot_problems`, which :meth:`from_snapshot`
        applies too): empty when all hold. For property tests: it scans everything, so it is
        as slow as the registry is large."""
        problems = [
            *self._catalogue.problems(),
            *self._invocations.problems(),
            *self._keys.problems(),
            *self._calls.problems(),
        ]
        # The rules a snapshot must pass (queues, locks, ids, times...): one home for each.
        problems.extend(str(problem) for problem in snapshot_problems(self.snapshot()))
        return tuple(problems)

    # --- snapshots --------------------------------------------------------------------------

    def snapshot(self) -> RegistrySnapshot:
        """The whole state as plain frozen values (see :mod:`restate_versioning.serialization`
        for JSON), part by part."""
        return RegistrySnapshot(
            deployments=self._catalogue.deployments(),
            removed_deployment_ids=self._catalogue.removed(),
            invocations=self._invocations.records(),
            inboxes=self._keys.inboxes(),
            locks=self._keys.locks(),
            workflow_runs=self._keys.runs(),
            callers=self._calls.recorded(),
            declared_callers=self._calls.declared(),
            pinned=self._invocations.pinned(),
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
        registry._catalogue = Catalogue.build(snapshot.deployments, snapshot.removed_deployment_ids)
        registry._invocations = InvocationIndex.build(snapshot.invocations, snapshot.pinned)
        registry._keys = KeyQueues.build(
            snapshot.locks,
            snapshot.inboxes,
            snapshot.workflow_runs,
            (
                (invocation.execute_at, invocation.id)
                for invocation in snapshot.invocations
                if invocation.status is InvocationStatus.SCHEDULED and invocation.execute_at
            ),
        )
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
