"""The whole state of a registry as plain frozen values, and the checks a loaded one must pass.

A :class:`RegistrySnapshot` is what :meth:`Registry.snapshot` returns, what
:meth:`Registry.from_snapshot` takes, what :mod:`restate_versioning.serialization` writes as JSON,
and what two registries compare by. Everything else a registry keeps (the latest revision of each
service, status counts, pinned and waiting work) is an index derived from it.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from .endpoints import parse_endpoint
from .errors import Problem, VersioningError
from .ids import parse_deployment_id, parse_invocation_id
from .model import Deployment, Invocation, InvocationStatus
from .rules.invocations import PINNING, Pin
from .rules.manifest import SERVICE_NAME
from .rules.state import stored_state_problems

__all__ = ["RegistrySnapshot", "snapshot_problems"]


@attrs.frozen
class RegistrySnapshot:
    """The state of a registry.

    ``inboxes`` and ``locks`` are per ``(service, key)``: the pending exclusive calls in order,
    and the call that holds the key. ``workflow_runs`` is the run invocation of each workflow key.
    ``callers`` counts the calls recorded from each calling handler to each service, and
    ``declared_callers`` lists the dependencies declared up front (see
    :meth:`Registry.declare_caller`). ``pinned`` lists, per deployment, its started and
    uncompleted invocations in the order they were pinned (the order removal plans list them).
    """

    deployments: tuple[Deployment, ...]
    removed_deployment_ids: tuple[str, ...]
    invocations: tuple[Invocation, ...]
    inboxes: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    locks: tuple[tuple[str, str, str], ...] = ()
    workflow_runs: tuple[tuple[str, str, str], ...] = ()
    callers: tuple[tuple[str, str, int], ...] = ()
    declared_callers: tuple[tuple[str, str], ...] = ()
    pinned: tuple[tuple[str, tuple[str, ...]], ...] = ()


def snapshot_problems(snapshot: RegistrySnapshot) -> list[Problem]:
    """Every inconsistency of a snapshot: duplicate ids, endpoints or revisions, dangling
    references, queues and locks that do not match the invocations' statuses."""
    problems: list[Problem] = []
    deployment_ids: set[str] = set()
    endpoints: dict[str, str] = {}
    revisions: dict[tuple[str, int], str] = {}
    for index, deployment in enumerate(snapshot.deployments):
        path = f"$.deployments[{index}]"
        problems.extend(_id_problems(f"{path}.id", deployment.id, parse_deployment_id))
        if deployment.id in deployment_ids:
            problems.append(Problem(f"{path}.id", f"deployment {deployment.id!r} appears twice"))
        deployment_ids.add(deployment.id)
        try:
            key = parse_endpoint(deployment.endpoint).key
        except VersioningError as exc:
            problems.append(Problem(f"{path}.endpoint", exc.message))
        else:
            if key in endpoints:
                problems.append(
                    Problem(
                        f"{path}.endpoint",
                        f"{deployment.endpoint!r} is the endpoint of {endpoints[key]!r} too",
                    )
                )
            endpoints[key] = deployment.id
        for name, revision in deployment.services.items():
            if revision.name != name or revision.deployment_id != deployment.id:
                problems.append(
                    Problem(
                        f"{path}.services.{name}",
                        f"service revision {revision.name!r} of deployment "
                        f"{revision.deployment_id!r} is filed under {name!r} of {deployment.id!r}",
                    )
                )
            other = revisions.get((name, revision.revision))
            if other is not None:
                problems.append(
                    Problem(
                        f"{path}.services.{name}",
                        f"revision {revision.revision} of {name!r} is in {other!r} too",
                    )
                )
            revisions[(name, revision.revision)] = deployment.id
            problems.extend(stored_state_problems(revision, f"{path}.services.{name}"))
    removed = set(snapshot.removed_deployment_ids)
    for deployment_id in removed & deployment_ids:
        problems.append(
            Problem("$.removed_deployment_ids", f"{deployment_id!r} is removed and registered")
        )
    known = deployment_ids | removed
    invocations = {i.id: i for i in snapshot.invocations}
    if len(invocations) != len(snapshot.invocations):
        problems.append(Problem("$.invocations", "an invocation id appears twice"))
    for index, invocation in enumerate(snapshot.invocations):
        path = f"$.invocations[{index}]"
        problems.extend(_id_problems(f"{path}.id", invocation.id, parse_invocation_id))
        pinned = invocation.pinned_deployment_id
        if pinned is not None and pinned not in known:
            problems.append(
                Problem(f"{path}.pinned_deployment_id", f"unknown deployment {pinned!r}")
            )
        pin = PINNING[invocation.status]
        if pin is Pin.ALWAYS and pinned is None:
            problems.append(
                Problem(f"{path}.status", f"a {invocation.status.value} invocation must be pinned")
            )
        if pin is Pin.NEVER and pinned is not None:
            problems.append(
                Problem(f"{path}.status", f"a {invocation.status.value} invocation is not pinned")
            )
        if invocation.status is InvocationStatus.SCHEDULED and invocation.execute_at is None:
            problems.append(Problem(f"{path}.execute_at", "a scheduled invocation needs a time"))
    inboxed: set[str] = set()
    locked = {(s, k) for s, k, _ in snapshot.locks}
    for index, (service, key, queued) in enumerate(snapshot.inboxes):
        if (service, key) not in locked:
            problems.append(
                Problem(f"$.inboxes[{index}]", f"{service}/{key} has an inbox but no lock holder")
            )
        for invocation_id in queued:
            found = invocations.get(invocation_id)
            if (
                found is None
                or found.status is not InvocationStatus.PENDING
                or (found.service, found.key) != (service, key)
            ):
                problems.append(
                    Problem(
                        f"$.inboxes[{index}]",
                        f"{invocation_id!r} is not a pending call of {service}/{key}",
                    )
                )
            inboxed.add(invocation_id)
    for invocation in snapshot.invocations:
        if invocation.status is InvocationStatus.PENDING and invocation.id not in inboxed:
            problems.append(
                Problem("$.inboxes", f"pending invocation {invocation.id!r} is in no inbox")
            )
    for field, entries in (("locks", snapshot.locks), ("workflow_runs", snapshot.workflow_runs)):
        for index, (service, key, invocation_id) in enumerate(entries):
            found = invocations.get(invocation_id)
            if found is None or (found.service, found.key) != (service, key):
                problems.append(
                    Problem(
                        f"$.{field}[{index}]",
                        f"{invocation_id!r} is not an invocation of {service}/{key}",
                    )
                )
            elif field == "locks" and found.status is InvocationStatus.COMPLETED:
                problems.append(Problem(f"$.locks[{index}]", f"{invocation_id!r} is completed"))
    problems.extend(_caller_problems(snapshot))
    problems.extend(_pinned_problems(snapshot))
    return problems


def _pinned_problems(snapshot: RegistrySnapshot) -> list[Problem]:
    expected: dict[str, set[str]] = {}
    for invocation in snapshot.invocations:
        if invocation.pinned_deployment_id is not None and invocation.status.is_in_flight:
            expected.setdefault(invocation.pinned_deployment_id, set()).add(invocation.id)
    listed = {deployment: set(ids) for deployment, ids in snapshot.pinned}
    if sum(len(ids) for _, ids in snapshot.pinned) != sum(len(ids) for ids in listed.values()):
        return [Problem("$.pinned", "an invocation is listed twice")]
    if listed != expected:
        return [
            Problem(
                "$.pinned",
                "the pinned lists do not hold exactly the started, uncompleted invocations of "
                "each deployment",
            )
        ]
    return []


def _id_problems(path: str, value: str, parse: Callable[[object], object]) -> list[Problem]:
    try:
        parse(value)
    except VersioningError as exc:
        return [Problem(path, exc.message)]
    return []


def _caller_problems(snapshot: RegistrySnapshot) -> list[Problem]:
    problems: list[Problem] = []
    entries = [
        (f"$.callers[{i}]", caller, count) for i, (_, caller, count) in enumerate(snapshot.callers)
    ]
    entries += [
        (f"$.declared_callers[{i}]", c, 1) for i, (_, c) in enumerate(snapshot.declared_callers)
    ]
    for path, caller, count in entries:
        service, _, handler = caller.partition("/")
        if not SERVICE_NAME.fullmatch(service) or not handler:
            problems.append(Problem(path, f"caller {caller!r} is not 'Service/handler'"))
        if count < 1:
            problems.append(Problem(path, f"a recorded caller has made {count} calls"))
    return problems
