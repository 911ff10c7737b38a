"""The registry under random command sequences (a Hypothesis state machine).

After every step: every index equals a recount from the deployments and invocations; a refused
command changed nothing; at most one exclusive call per key is in flight; snapshots round-trip
exactly, through JSON too; every view and removal plan renders, and reads the same after a
reload.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from hypothesis import HealthCheck, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from restate_versioning import (
    HandlerType,
    InvocationStatus,
    ManualClock,
    Registry,
    SequentialIds,
    VersioningError,
    views,
)
from restate_versioning.endpoints import parse_endpoint
from restate_versioning.serialization import dumps, loads

from ..conftest import handler, manifest, service

T = TypeVar("T")

ENDPOINTS = [
    "http://h:1",
    "http://h:2",
    "http://H:2/?q=1",
    "http://h:3/x",
    "arn:aws:lambda:eu-west-1:123456789012:function:f:1",
]
VO, WF = "VIRTUAL_OBJECT", "WORKFLOW"
MANIFESTS = [
    manifest(service("Greeter")),
    manifest(service("Greeter"), service("Obj", VO)),
    manifest(service("Obj", VO), service("Wf", WF)),
    manifest(service("Obj", VO, handlers=[handler("reserve", "SHARED"), handler("status")])),
    manifest(service("Greeter", VO)),  # a type change
    manifest(service("Greeter", ingressPrivate=True), service("Wf", WF, ingressPrivate=True)),
    manifest(service("Obj", VO, ingressPrivate=True), low=5, high=5),
    manifest(service("Greeter"), low=6, high=7),
    manifest(service("restateX")),  # refused
    manifest(service("Greeter"), mode="BIDI_STREAM"),
]
TARGETS = [
    ("Greeter", "greet"),
    ("Obj", "reserve"),
    ("Obj", "status"),
    ("Wf", "run"),
    ("Wf", "confirm"),
    ("Nope", "x"),
]
CALLERS = [None, "Greeter/greet", "Obj/reserve", "Other/x"]


def recount(registry: Registry) -> list[tuple[Any, ...]]:
    """Every index that differs from a recount of the deployments and invocations."""
    problems: list[tuple[Any, ...]] = []
    deployments = registry._deployments
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
    endpoints = {parse_endpoint(d.endpoint).key: d.id for d in deployments.values()}
    pinned: dict[str, set[str]] = {}
    paused: Counter[str] = Counter()
    waiting: dict[str, list[str]] = {}
    active: dict[tuple[str, str], list[str]] = {}
    counts: Counter[tuple[str, str, InvocationStatus]] = Counter()
    for invocation in registry._invocations.values():
        if invocation.status is InvocationStatus.COMPLETED:
            continue
        counts[(invocation.service, invocation.handler, invocation.status)] += 1
        active.setdefault((invocation.service, invocation.handler), []).append(invocation.id)
        if invocation.pinned_deployment_id is None:
            waiting.setdefault(invocation.service, []).append(invocation.id)
        elif invocation.status.is_in_flight:
            pinned.setdefault(invocation.pinned_deployment_id, set()).add(invocation.id)
            if invocation.status is InvocationStatus.PAUSED:
                paused[invocation.pinned_deployment_id] += 1
    pending = sorted(
        i.id for i in registry._invocations.values() if i.status is InvocationStatus.PENDING
    )
    inboxed = sorted(i for queue in registry._inboxes.values() for i in queue)
    for name, expected, actual in [
        ("revisions", revisions, registry._revisions),
        ("latest", latest, registry._latest),
        ("latest_held", held, registry._latest_held),
        ("by_endpoint", endpoints, registry._by_endpoint),
        ("pinned", pinned, {d: set(ids) for d, ids in registry._pinned.items()}),
        ("paused", dict(paused), registry._paused),
        ("waiting", waiting, {s: list(ids) for s, ids in registry._waiting.items()}),
        ("active", active, {t: list(ids) for t, ids in registry._active.items()}),
        ("counts", dict(counts), registry._counts),
        ("inboxes", pending, inboxed),
    ]:
        if expected != actual:
            problems.append((name, expected, actual))
    for lock, queue in registry._inboxes.items():
        if not queue or lock not in registry._locks:
            problems.append(("inbox without a holder", lock))
    for lock, holder in registry._locks.items():
        found = registry._invocations[holder]
        if found.status is InvocationStatus.COMPLETED or (found.service, found.key) != lock:
            problems.append(("lock", lock, holder))
    return problems


class RegistryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.registry = Registry(clock=self.clock, ids=SequentialIds())
        self.invocation_ids: list[str] = []

    def attempt(self, label: str, command: Callable[[], T]) -> T | None:
        before = self.registry.snapshot()
        try:
            result = command()
        except VersioningError as error:
            refused = repr(error)
        else:
            note(f"{label} -> ok")
            return result
        note(f"{label} -> {refused}")
        assert self.registry.snapshot() == before, f"{label} raised {refused} and changed state"
        return None

    def deployment_ids(self) -> list[str]:
        return [d.id for d in self.registry.deployments()] + sorted(self.registry._removed)

    @rule(
        endpoint=st.sampled_from(ENDPOINTS),
        which=st.integers(0, len(MANIFESTS) - 1),
        force=st.booleans(),
        breaking=st.booleans(),
        dry_run=st.booleans(),
    )
    def register(
        self, endpoint: str, which: int, force: bool, breaking: bool, dry_run: bool
    ) -> None:
        self.attempt(
            f"register({endpoint!r}, M{which}, {force=}, {breaking=}, {dry_run=})",
            lambda: self.registry.register(
                endpoint, MANIFESTS[which], force=force, breaking=breaking, dry_run=dry_run
            ),
        )

    @rule(index=st.integers(0, 10), force=st.booleans(), promote=st.booleans())
    def remove_or_promote(self, index: int, force: bool, promote: bool) -> None:
        ids = self.deployment_ids()
        if not ids:
            return
        target = ids[index % len(ids)]
        if promote:
            self.attempt(f"promote({target})", lambda: self.registry.promote(target))
        else:
            self.attempt(
                f"remove({target}, {force=})", lambda: self.registry.remove(target, force=force)
            )

    @rule(
        call=st.sampled_from(TARGETS),
        key=st.sampled_from([None, "k1", "k2"]),
        caller=st.sampled_from(CALLERS),
        delay=st.sampled_from([None, timedelta(0), timedelta(seconds=5)]),
    )
    def invoke(
        self,
        call: tuple[str, str],
        key: str | None,
        caller: str | None,
        delay: timedelta | None,
    ) -> None:
        invocation = self.attempt(
            f"invoke({call}, {key=}, {caller=}, {delay=})",
            lambda: self.registry.invoke(*call, key=key, caller=caller, delay=delay),
        )
        if invocation is not None and invocation.id not in self.invocation_ids:
            self.invocation_ids.append(invocation.id)

    @rule(
        command=st.sampled_from(["suspend", "pause", "complete", "kill", "resume"]),
        index=st.integers(0, 50),
        where=st.sampled_from(["keep", "latest", 0, 1]),
    )
    def act(self, command: str, index: int, where: str | int) -> None:
        if not self.invocation_ids:
            return
        invocation_id = self.invocation_ids[index % len(self.invocation_ids)]
        if command != "resume":
            method = getattr(self.registry, command)
            self.attempt(f"{command}({invocation_id})", lambda: method(invocation_id))
            return
        ids = self.deployment_ids()
        if isinstance(where, int):
            if not ids:
                return
            where = ids[where % len(ids)]
        target = where
        self.attempt(
            f"resume({invocation_id}, {target})",
            lambda: self.registry.resume(invocation_id, target),
        )

    @rule(seconds=st.sampled_from([0, 3, 10]))
    def tick(self, seconds: int) -> None:
        self.clock.advance(timedelta(seconds=seconds))
        self.attempt("start_due()", self.registry.start_due)

    @rule(name=st.sampled_from(["Greeter", "Obj", "Wf", "Nope"]), public=st.booleans())
    def set_public(self, name: str, public: bool) -> None:
        self.attempt(
            f"set_public({name}, {public})", lambda: self.registry.set_public(name, public)
        )

    @rule(
        name=st.sampled_from(["Greeter", "Obj", "Wf"]),
        caller=st.sampled_from(CALLERS[1:]),
        forget=st.booleans(),
    )
    def callers(self, name: str, caller: str, forget: bool) -> None:
        if forget:
            self.attempt(
                f"forget_caller({name}, {caller})",
                lambda: self.registry.forget_caller(name, caller),
            )
        else:
            self.attempt(
                f"declare_caller({name}, {caller})",
                lambda: self.registry.declare_caller(name, caller),
            )

    @invariant()
    def indexes_equal_a_recount(self) -> None:
        problems = recount(self.registry)
        assert not problems, problems

    @invariant()
    def one_exclusive_call_per_key_is_in_flight(self) -> None:
        in_flight: Counter[tuple[str, str]] = Counter()
        for invocation in self.registry.invocations():
            if invocation.key is None or not invocation.status.is_in_flight:
                continue
            deployment = self.registry._deployments.get(invocation.pinned_deployment_id or "")
            revision = deployment.services.get(invocation.service) if deployment else None
            found = revision.handlers.get(invocation.handler) if revision else None
            if found is not None and found.type is HandlerType.EXCLUSIVE:
                in_flight[(invocation.service, invocation.key)] += 1
        assert all(n == 1 for n in in_flight.values()), in_flight

    @invariant()
    def snapshots_round_trip(self) -> None:
        snapshot = self.registry.snapshot()
        assert Registry.from_snapshot(snapshot).snapshot() == snapshot
        reloaded = loads(dumps(self.registry))
        assert reloaded.snapshot() == snapshot
        for deployment in self.registry.deployments():
            plan = self.registry.removal_plan(deployment.id)
            assert reloaded.removal_plan(deployment.id) == plan

    @invariant()
    def views_render(self) -> None:
        views.render_services_list(views.services_list(self.registry))
        views.render_deployments_list(views.deployments_list(self.registry))
        views.render_services_status(views.services_status(self.registry))
        views.render_active_keys(views.active_keys(self.registry))
        for deployment in self.registry.deployments():
            views.render_deployment_description(
                views.describe_deployment(self.registry, deployment.id)
            )
            views.render_removal_plan(self.registry.removal_plan(deployment.id))


RegistryMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestRegistryMachine = RegistryMachine.TestCase
