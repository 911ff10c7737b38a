"""``VersioningMachine``: a Hypothesis state machine that drives a :class:`Registry` through
random commands and checks the versioning invariants after every step (``testing`` extra).

Run it as a test with ``TestVersioning = VersioningMachine.TestCase``. Subclass it to add your
own rules and invariants (call ``self.attempt(label, command)`` to run a command the way the
machine does: a refused command must change nothing), or to drive your own tool's registry by
overriding :meth:`make_registry`.

The invariants, checked after every step:

* an invocation's pinned deployment never changes once set, except by an explicit move
  (``resume(id, deployment=...)``);
* an invocation that starts is pinned to the deployment of its service's latest revision;
* the indexes behind statuses, counts, queues and plans equal a recount from scratch
  (:meth:`Registry.verify`), and so every service's latest revision is the highest one left;
* the revisions a deployment holds never change, except by ``force`` or ``promote``;
* a removal without ``force`` breaks no started invocation and no queued work;
* a registration without ``breaking`` or ``force`` never takes a revision that cannot read the
  state its service's latest revision may have written;
* a refused command changes nothing; snapshots round-trip exactly, through JSON too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ..clock import ManualClock
from ..commands import (
    Command,
    Complete,
    Fail,
    Invoke,
    Kill,
    Pause,
    Pin,
    Promote,
    Register,
    Remove,
    Resume,
    SetPublic,
    StartDue,
    Suspend,
)
from ..errors import VersioningError
from ..ids import SequentialIds
from ..model import InvocationStatus, Outcome
from ..registry import Registry
from ..rules.registration import Registration
from ..schemas import Verdict
from ..serialization import dumps, loads
from .strategies import manifests, state_schemas

__all__ = ["VersioningMachine"]

T = TypeVar("T")

SERVICES = ("Greeter", "Ticket", "Signup")
ENDPOINTS = (
    "http://127.0.0.1:9081",
    "http://127.0.0.1:9082",
    "http://localhost:9081/",
    "arn:aws:lambda:eu-central-1:123456789012:function:greeter:1",
)
HANDLERS = ("greet", "run", "reserve", "status")
CALLERS = (None, "Greeter/greet", "Ticket/reserve", "Other/x")
#: State schemas that revisions of one service trade often, so that checks say all three things.
STATE_SCHEMAS: tuple[Any, ...] = (
    {"type": "integer"},
    {"type": "number"},
    {"type": ["integer", "null"]},
    {"type": "string", "maxLength": 8},
    {"type": "object", "properties": {"n": {"type": "integer"}}, "additionalProperties": False},
    {"type": "object", "properties": {"n": {"type": "number"}}},
    {"not": {"type": "null"}},
)


def _took_no_incompatible_state(result: Registration) -> None:
    """Without ``breaking`` (or ``force``), no revision that cannot read the state is taken."""
    for check in result.state_checks:
        assert check.verdict is not Verdict.INCOMPATIBLE, str(check)


class VersioningMachine(RuleBasedStateMachine):
    """Random register / force / breaking / dry-run / invoke / suspend / pause / resume /
    complete / kill / start_due / set_public / remove / promote commands on one registry."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.registry = self.make_registry(self.clock)
        self.invocation_ids: list[str] = []
        self._pins: dict[str, str] = {}
        self._held: dict[tuple[str, str], int] = {}
        self._rewritten: set[str] = set()
        self._moved: set[str] = set()

    def make_registry(self, clock: ManualClock) -> Registry:
        """The registry under test (override to test your own setup)."""
        return Registry(clock=clock, ids=SequentialIds())

    # --- running commands -------------------------------------------------------------------

    def attempt(self, label: str, command: Callable[[], T]) -> T | None:
        """Run a command; if the registry refuses it, check that nothing changed."""
        before = self.registry.snapshot()
        try:
            result = command()
        except VersioningError as error:
            refused = repr(error)
        else:
            note(f"{label} -> ok")
            return result
        note(f"{label} -> {refused}")
        after = self.registry.snapshot()
        assert after == before, f"{label} was refused ({refused}) but changed the registry"
        return None

    def run(self, command: Command[T]) -> T | None:
        """Execute a command value (:mod:`restate_versioning.commands`) through
        :meth:`attempt`: if the registry refuses it, check that nothing changed."""
        return self.attempt(repr(command), lambda: self.registry.execute(command))

    def _pick(self, known: list[str], index: int) -> str | None:
        return known[index % len(known)] if known else None

    def _deployment_ids(self) -> list[str]:
        return [d.id for d in self.registry.deployments()]

    # --- rules ------------------------------------------------------------------------------

    @rule(
        endpoint=st.sampled_from(ENDPOINTS),
        manifest=manifests(names=SERVICES),
        force=st.booleans(),
        breaking=st.booleans(),
        dry_run=st.booleans(),
    )
    def register(
        self, endpoint: str, manifest: dict[str, Any], force: bool, breaking: bool, dry_run: bool
    ) -> None:
        result = self.run(
            Register(endpoint, manifest, force=force, breaking=breaking, dry_run=dry_run)
        )
        if result is not None and result.outcome.value == "OVERWRITTEN" and not dry_run:
            self._rewritten.add(result.deployment.id)

    @rule(
        endpoint=st.sampled_from(ENDPOINTS),
        manifest=manifests(names=SERVICES),
        schemas=st.lists(st.sampled_from(STATE_SCHEMAS) | state_schemas(3), min_size=1),
        force=st.booleans(),
        breaking=st.booleans(),
    )
    def register_with_state(
        self,
        endpoint: str,
        manifest: dict[str, Any],
        schemas: list[Any],
        force: bool,
        breaking: bool,
    ) -> None:
        stateful = [
            s["name"] for s in manifest["services"] if s["ty"] in ("VIRTUAL_OBJECT", "WORKFLOW")
        ]
        state = {name: {"state": schemas[i % len(schemas)]} for i, name in enumerate(stateful)}
        result = self.run(Register(endpoint, manifest, force=force, breaking=breaking, state=state))
        if result is None:
            return
        if result.outcome is Outcome.OVERWRITTEN:
            self._rewritten.add(result.deployment.id)
        if not (force or breaking):
            _took_no_incompatible_state(result)

    @rule(index=st.integers(0, 20), breaking=st.booleans())
    def promote(self, index: int, breaking: bool) -> None:
        target = self._pick(self._deployment_ids(), index)
        if target is None:
            return
        promoted = self.run(Promote(target, breaking=breaking))
        if promoted is not None:
            self._rewritten.add(target)
            if not breaking:
                _took_no_incompatible_state(promoted)

    @rule(index=st.integers(0, 20), force=st.booleans())
    def remove(self, index: int, force: bool) -> None:
        target = self._pick(self._deployment_ids(), index)
        if target is None:
            return
        before = self.registry.snapshot()
        removal = self.run(Remove(target, force=force))
        if removal is None or force:
            return
        gone = {e.service for e in removal.effects if e.kind.value == "VANISHES"}
        for invocation in before.invocations:
            if invocation.status is InvocationStatus.COMPLETED:
                continue
            assert not (
                invocation.pinned_deployment_id == target and invocation.status.is_in_flight
            ), f"a removal without force broke {invocation.id}, pinned to {target}"
            assert not (invocation.pinned_deployment_id is None and invocation.service in gone), (
                f"a removal without force broke queued {invocation.id} of {invocation.service}"
            )

    @rule(
        service=st.sampled_from((*SERVICES, "Nope")),
        handler=st.sampled_from(HANDLERS),
        key=st.sampled_from([None, "k1", "k2"]),
        caller=st.one_of(st.sampled_from(CALLERS), st.integers(0, 100)),
        delay=st.sampled_from([None, timedelta(0), timedelta(seconds=5)]),
        pin_on_start=st.booleans(),
    )
    def invoke(
        self,
        service: str,
        handler: str,
        key: str | None,
        caller: str | int | None,
        delay: timedelta | None,
        pin_on_start: bool,
    ) -> None:
        """A call from the ingress, a handler, or an invocation made earlier (an index)."""
        if isinstance(caller, int):
            caller = self._pick(self.invocation_ids, caller)
        invocation = self.run(
            Invoke(service, handler, key=key, caller=caller, delay=delay, pin_on_start=pin_on_start)
        )
        if invocation is not None and invocation.id not in self.invocation_ids:
            self.invocation_ids.append(invocation.id)

    @rule(
        command=st.sampled_from([Suspend, Pause, Complete, Kill, Resume, Pin]),
        index=st.integers(0, 100),
    )
    def act(
        self, command: type[Suspend | Pause | Complete | Kill | Resume | Pin], index: int
    ) -> None:
        target = self._pick(self.invocation_ids, index)
        if target is not None:
            self.run(command(target))

    @rule(index=st.integers(0, 100), code=st.sampled_from(["RT0011", "RT0012", "RT0018"]))
    def fail(self, index: int, code: str) -> None:
        """The running attempt of a call fails (refused unless it is running)."""
        target = self._pick(self.invocation_ids, index)
        if target is not None:
            self.run(Fail(target, code=code))

    @rule(index=st.integers(0, 100), where=st.sampled_from(["latest", 0, 1, 2]))
    def move(self, index: int, where: str | int) -> None:
        target = self._pick(self.invocation_ids, index)
        if target is None:
            return
        destination = where if isinstance(where, str) else self._pick(self._deployment_ids(), where)
        if destination is None:
            return
        moved = self.run(Resume(target, destination))
        if moved is not None:
            self._moved.add(target)

    @rule(seconds=st.sampled_from([0, 3, 10]))
    def tick(self, seconds: int) -> None:
        self.clock.advance(timedelta(seconds=seconds))
        self.run(StartDue())

    @rule(service=st.sampled_from(SERVICES), public=st.booleans())
    def set_public(self, service: str, public: bool) -> None:
        self.run(SetPublic(service, public))

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def indexes_equal_a_recount(self) -> None:
        problems = self.registry.verify()
        assert not problems, problems

    @invariant()
    def pins_never_change_and_start_on_the_latest(self) -> None:
        for invocation in self.registry.invocations():
            pinned = invocation.pinned_deployment_id
            if pinned is None:
                continue
            known = self._pins.get(invocation.id)
            if known is None:
                latest = self.registry.service(invocation.service).deployment_id
                assert pinned == latest, (
                    f"{invocation.id} started on {pinned}, not on the latest {latest}"
                )
            elif known != pinned:
                assert invocation.id in self._moved, f"{invocation.id} moved {known} -> {pinned}"
            self._pins[invocation.id] = pinned
        self._moved.clear()

    @invariant()
    def revisions_in_a_deployment_change_only_by_force(self) -> None:
        for deployment in self.registry.deployments():
            for name, revision in deployment.services.items():
                known = self._held.get((deployment.id, name))
                if known is not None and known != revision.revision:
                    assert deployment.id in self._rewritten, (
                        f"{name} went from revision {known} to {revision.revision} in "
                        f"{deployment.id} without force"
                    )
                self._held[(deployment.id, name)] = revision.revision
        self._rewritten.clear()

    @invariant()
    def snapshots_round_trip(self) -> None:
        snapshot = self.registry.snapshot()
        assert Registry.from_snapshot(snapshot).snapshot() == snapshot
        assert loads(dumps(self.registry)).snapshot() == snapshot
