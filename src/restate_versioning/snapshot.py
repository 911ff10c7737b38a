"""The whole state of a registry as plain frozen values, and the checks a loaded one must pass.

A :class:`RegistrySnapshot` is what :meth:`Registry.snapshot` returns, what
:meth:`Registry.from_snapshot` takes, what :mod:`restate_versioning.serialization` writes as JSON,
and what two registries compare by. Everything else a registry keeps (the latest revision of each
service, status counts, pinned and waiting work) is an index derived from it.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from .clock import check_time
from .endpoints import parse_endpoint
from .errors import InvalidTime, Problem, VersioningError
from .ids import is_deployment_id, is_invocation_id, parse_deployment_id, parse_invocation_id
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
    references, queues and locks that do not match the invocations' statuses (a call twice in
    an inbox or in two, a key held twice or by a call that never started), times with no UTC
    equivalent. :meth:`Registry.from_snapshot` refuses a snapshot with any of them, and
    :meth:`Registry.verify` reports them for a live registry: these are the rules both apply."""
    problems: list[Problem] = []
    deployment_ids: set[str] = set()
    endpoints: dict[str, str] = {}
    revisions: dict[tuple[str, int], str] = {}
    for index, deployment in enumerate(snapshot.deployments):
        path = f"$.deployments[{index}]"
        if not is_deployment_id(deployment.id):
            problems.extend(_id_problems(f"{path}.id", deployment.id, parse_deployment_id))
        if deployment.id in deployment_ids:
            problems.append(Problem(f"{path}.id", f"deployment {deployment.id!r} appears twice"))
        deployment_ids.add(deployment.id)
        problems.extend(_time_problems(f"{path}.created_at", deployment.created_at))
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
        if not is_invocation_id(invocation.id):
            problems.extend(_id_problems(f"{path}.id", invocation.id, parse_invocation_id))
        pinned = invocation.pinned_deployment_id
        if pinned is not None and pinned not in known:
            problems.append(
                Problem(f"{path}.pinned_deployment_id", f"unknown deployment {pinned!r}")
            )
        pin = PINNING[invocation.status]
        if pin is Pin.ALWAYS and pinned is None and not invocation.pins_at_first_command:
            problems.append(
                Problem(f"{path}.status", f"a {invocation.status.value} invocation must be pinned")
            )
        if pin is Pin.NEVER and pinned is not None:
            problems.append(
                Problem(f"{path}.status", f"a {invocation.status.value} invocation is not pinned")
            )
        if invocation.caller_id is not None and not is_invocation_id(invocation.caller_id):
            problems.extend(
                _id_problems(f"{path}.caller_id", invocation.caller_id, parse_invocation_id)
            )
        if invocation.caller is None and (invocation.caller_id, invocation.caller_key) != (
            None,
            None,
        ):
            problems.append(Problem(f"{path}.caller", "a call from an invocation names its caller"))
        if invocation.status is InvocationStatus.SCHEDULED and invocation.execute_at is None:
            problems.append(Problem(f"{path}.execute_at", "a scheduled invocation needs a time"))
        problems.extend(_time_problems(f"{path}.created_at", invocation.created_at))
        if invocation.execute_at is not None:
            problems.extend(_time_problems(f"{path}.execute_at", invocation.execute_at))
    problems.extend(_queue_problems(snapshot, invocations))
    problems.extend(_caller_problems(snapshot))
    problems.extend(_pinned_problems(snapshot))
    return problems


def _inbox_problem(service: str, key: str, queued: object, holder: str | None) -> str | None:
    """Why the inbox of ``service``/``key`` cannot be as it is (``queued``: the ids waiting,
    ``holder``: the id holding the key, if any), or ``None``."""
    if not queued:
        return f"{service}/{key} has an empty inbox"
    if holder is None:
        return f"{service}/{key} has an inbox but no lock holder"
    return None


def _lock_problem(service: str, key: str, holder: str, found: Invocation | None) -> str | None:
    """Why ``holder`` (found as ``found``, ``None`` if unknown) cannot hold ``service``/``key``:
    it must be a started, uncompleted invocation of that key."""
    if found is None or (found.service, found.key) != (service, key):
        return f"{holder!r} is not an invocation of {service}/{key}"
    if found.status is InvocationStatus.COMPLETED:
        return f"{holder!r} is completed"
    if found.status.is_queued:
        return f"{holder!r} holds {service}/{key} but is {found.status.value}"
    return None


def _queue_problems(
    snapshot: RegistrySnapshot, invocations: dict[str, Invocation]
) -> list[Problem]:
    """Inboxes, locks and workflow runs against the invocations' statuses: every pending call
    in exactly one inbox, the one of its key, once; one holder per key, a started call of
    that key; one run per workflow key."""
    problems: list[Problem] = []
    holders: dict[tuple[str, str], str] = {}
    for field, entries in (("locks", snapshot.locks), ("workflow_runs", snapshot.workflow_runs)):
        seen: set[tuple[str, str]] = set()
        for index, (service, key, invocation_id) in enumerate(entries):
            path = f"$.{field}[{index}]"
            if (service, key) in seen:
                problems.append(Problem(path, f"{service}/{key} is listed twice"))
            seen.add((service, key))
            found = invocations.get(invocation_id)
            if field == "locks":
                holders[(service, key)] = invocation_id
                reason = _lock_problem(service, key, invocation_id, found)
            elif found is None or (found.service, found.key) != (service, key):
                reason = f"{invocation_id!r} is not an invocation of {service}/{key}"
            else:
                reason = None
            if reason is not None:
                problems.append(Problem(path, reason))
    inboxed: dict[str, int] = {}
    inbox_keys: set[tuple[str, str]] = set()
    for index, (service, key, queued) in enumerate(snapshot.inboxes):
        path = f"$.inboxes[{index}]"
        if (service, key) in inbox_keys:
            problems.append(Problem(path, f"{service}/{key} has two inboxes"))
        inbox_keys.add((service, key))
        reason = _inbox_problem(service, key, queued, holders.get((service, key)))
        if reason is not None:
            problems.append(Problem(path, reason))
        for invocation_id in queued:
            found = invocations.get(invocation_id)
            if (
                found is None
                or found.status is not InvocationStatus.PENDING
                or (found.service, found.key) != (service, key)
            ):
                problems.append(
                    Problem(path, f"{invocation_id!r} is not a pending call of {service}/{key}")
                )
            elif invocation_id in inboxed:
                where = inboxed[invocation_id]
                problems.append(
                    Problem(
                        path,
                        f"{invocation_id!r} is listed twice"
                        + (" in this inbox" if where == index else f" (in $.inboxes[{where}])"),
                    )
                )
            inboxed.setdefault(invocation_id, index)
    for invocation in snapshot.invocations:
        if invocation.status is InvocationStatus.PENDING and invocation.id not in inboxed:
            problems.append(
                Problem("$.inboxes", f"pending invocation {invocation.id!r} is in no inbox")
            )
    return problems


def _time_problems(path: str, value: object) -> list[Problem]:
    try:
        check_time(value, "the time")
    except InvalidTime as exc:
        return [Problem(path, exc.reason)]
    return []


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
