"""When removing a deployment is safe, and what it would do (docs/rules.md, "Removing").

The server removes any deployment with ``force`` and checks nothing; the ``restate`` CLI only
refuses Active deployments and counts pinned invocations, so it misses queued and scheduled
work and callers. This is the check people can trust. It goes further than the server
and the CLI on purpose: every reason a removal is unsafe is a :class:`Blocker` of one
:class:`BlockerKind`, each with the services and invocations concerned and a sentence a person
can act on.

* ``ROLLBACK``: it holds the latest revision of a service that has an older revision elsewhere,
  so removing it would silently route new calls to old code.
* ``PUBLIC``: a service that would vanish is still public.
* ``CALLERS``: a service that would vanish is called by a handler of a service that stays
  (recorded from calls made with ``caller=``, or declared up front).
* ``QUEUED``: work for a service that would vanish that is pinned nowhere yet (pending,
  scheduled, failing to start, or started before its first command), so the CLI does not
  count it.
* ``IN_FLIGHT``: started invocations pinned to the deployment that are not completed.

A deployment whose vanishing services are all private, uncalled and idle, and which has nothing
in flight, is safe: that is how a person retires a service on purpose.

Besides blockers, a plan has ``warnings``: a :class:`StateWarning` for each service that would
roll back to a revision whose state declarations cannot (or may not) read what the removed,
newer revision may have written (:mod:`restate_versioning.rules.state`, the forward direction).
A rollback is already a ``ROLLBACK`` blocker; the warning says what it would do to live state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import attrs

from ..enums import BlockerKind, EffectKind
from ..errors import VersioningError
from ..model import Deployment, DeploymentStatus
from ..schemas import Verdict
from .catalogue import CatalogueView
from .state import StateCheck, check_state

__all__ = [
    "LISTED_INVOCATIONS",
    "MESSAGES",
    "Blocker",
    "BlockerKind",
    "Effect",
    "EffectKind",
    "Removal",
    "RemovalBlocked",
    "RemovalPlan",
    "StateWarning",
    "plan_removal",
]

#: A blocker names at most this many invocations (the first queued, or the first pinned);
#: ``count`` has them all.
LISTED_INVOCATIONS = 20


@attrs.frozen
class Effect:
    """What happens to one service of the deployment: ``revision`` is the one it holds;
    ``fallback_revision`` / ``fallback_deployment_id`` the latest after a rollback."""

    service: str
    kind: EffectKind
    revision: int
    fallback_revision: int | None = None
    fallback_deployment_id: str | None = None

    def __str__(self) -> str:
        if self.kind is EffectKind.ROLLS_BACK:
            return (
                f"{self.service}: rolls back from revision {self.revision} to revision "
                f"{self.fallback_revision} in deployment {self.fallback_deployment_id}"
            )
        if self.kind is EffectKind.VANISHES:
            return f"{self.service}: vanishes (revision {self.revision} is its last)"
        return f"{self.service}: unaffected (revision {self.revision} is not the latest)"


@attrs.frozen
class Blocker:
    """One reason the removal is unsafe: the services concerned; for ``QUEUED`` and
    ``IN_FLIGHT`` the first :data:`LISTED_INVOCATIONS` invocations concerned (oldest queued,
    first pinned) and ``count``, how
    many there are in all; for ``CALLERS`` the calling handlers and, in ``caller_ids``, the first
    :data:`LISTED_INVOCATIONS` calling invocations behind calls into those services that are
    still in progress; for ``ROLLBACK`` the rollbacks.
    ``message`` is the sentence a person acts on (see :data:`MESSAGES`)."""

    kind: BlockerKind
    services: tuple[str, ...] = ()
    invocation_ids: tuple[str, ...] = ()
    count: int = 0
    callers: tuple[str, ...] = ()
    rollbacks: tuple[Effect, ...] = ()
    caller_ids: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        return MESSAGES[self.kind](self)

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.message}"


@attrs.frozen
class StateWarning:
    """A rollback that would make an older revision read state it cannot (``INCOMPATIBLE``) or
    may not (``UNKNOWN``) read: ``check`` has the keys, reasons and counterexamples."""

    service: str
    check: StateCheck

    @property
    def message(self) -> str:
        check = self.check
        return (
            f"rolling {self.service!r} back to revision {check.reader_revision} would make it "
            f"read state that revision {check.writer_revision} may have written, and that is "
            f"{check.verdict.value}: "
            + "; ".join(str(k) for k in check.keys if k.verdict is not Verdict.COMPATIBLE)
        )

    def __str__(self) -> str:
        return f"STATE: {self.message}"


@attrs.frozen
class RemovalPlan:
    """Whether removing ``deployment_id`` now is safe, why not, what it would do, and the
    state warnings of its rollbacks (they do not make it unsafe by themselves)."""

    deployment_id: str
    status: DeploymentStatus
    blockers: tuple[Blocker, ...]
    effects: tuple[Effect, ...]
    warnings: tuple[StateWarning, ...] = ()

    @property
    def safe(self) -> bool:
        """True when nothing blocks the removal."""
        return not self.blockers

    def blocker(self, kind: BlockerKind) -> Blocker | None:
        """The blocker of this kind, if the plan has one."""
        return next((b for b in self.blockers if b.kind is kind), None)


@attrs.frozen
class Removal:
    """What :meth:`Registry.remove` did: the deployment it removed, what happened to each of
    its services, and the blockers that ``force`` overrode (empty for a safe removal)."""

    deployment: Deployment
    effects: tuple[Effect, ...]
    overridden: tuple[Blocker, ...] = ()

    @property
    def forced(self) -> bool:
        """Whether the removal went through blockers."""
        return bool(self.overridden)


def _names(services: Sequence[str]) -> str:
    return ", ".join(repr(s) for s in services)


def _more(listed: Sequence[str], count: int) -> str:
    text = ", ".join(listed)
    return text + (f" and {count - len(listed)} more" if count > len(listed) else "")


def _it(services: Sequence[str]) -> str:
    return "it" if len(services) == 1 else "them"


#: What each kind of blocker tells a person to do.
MESSAGES: Mapping[BlockerKind, Callable[[Blocker], str]] = {
    BlockerKind.ROLLBACK: lambda b: (
        f"it holds the latest revision, and new calls would silently go back to old code "
        f"({'; '.join(str(e) for e in b.rollbacks)}). Deploy the code you want to keep first."
    ),
    BlockerKind.PUBLIC: lambda b: (
        f"{_names(b.services)} would vanish but can still be called from outside. Make "
        f"{_it(b.services)} private first (set_public(name, False)), so no new requests arrive."
    ),
    BlockerKind.CALLERS: lambda b: (
        f"services that would vanish still have callers that stay ({', '.join(b.callers)} "
        f"call {_names(b.services)}"
        + (f"; calls in progress come from {', '.join(b.caller_ids)}" if b.caller_ids else "")
        + "). Change the callers' business logic first."
    ),
    BlockerKind.QUEUED: lambda b: (
        f"{b.count} invocation(s) of {_names(b.services)} are pinned nowhere yet (pending, "
        f"scheduled, retrying, or started before their first command) and would fail with "
        f"RT0011 once the service is gone: "
        f"{_more(b.invocation_ids, b.count)}. Let them run or kill them first."
    ),
    BlockerKind.IN_FLIGHT: lambda b: (
        f"{b.count} invocation(s) pinned to it are not completed and would fail with RT0011 at "
        f"their next attempt: {_more(b.invocation_ids, b.count)}. Wait until it is drained."
    ),
}


def plan_removal(
    deployment: Deployment,
    *,
    status: DeploymentStatus,
    catalogue: CatalogueView,
    callers: Callable[[str], Sequence[str]],
    waiting: Callable[[str], tuple[int, Sequence[str]]],
    in_flight: tuple[int, Sequence[str]],
    calling: Callable[[str], Iterable[tuple[str, str]]] = lambda _: (),
) -> RemovalPlan:
    """Decide a removal from what the registry knows: ``catalogue`` the revisions (read only:
    the latest of each service, and what is left of one outside the deployment),
    ``callers(service)`` the handlers (``"Service/handler"``) known to call it,
    ``calling(service)`` the calling handler and the calling invocation's id of each call into
    it in progress; ``waiting(service)`` and ``in_flight`` are counts with the first
    invocation ids (oldest queued; first pinned)."""
    latest = catalogue.latest
    effects: list[Effect] = []
    warnings: list[StateWarning] = []
    for name, held in deployment.services.items():
        current = latest.get(name)
        if current is None or current.deployment_id != deployment.id:
            effects.append(Effect(name, EffectKind.UNAFFECTED, held.revision))
            continue
        remaining = catalogue.fallback(name, deployment.id)
        if remaining is None:
            effects.append(Effect(name, EffectKind.VANISHES, held.revision))
        else:
            effects.append(
                Effect(
                    name,
                    EffectKind.ROLLS_BACK,
                    held.revision,
                    remaining.revision,
                    remaining.deployment_id,
                )
            )
            if held.state and remaining.state:
                check = check_state(held, remaining)
                if check.verdict is not Verdict.COMPATIBLE:
                    warnings.append(StateWarning(name, check))
    vanishing = [e.service for e in effects if e.kind is EffectKind.VANISHES]
    blockers: list[Blocker] = []
    rollbacks = tuple(e for e in effects if e.kind is EffectKind.ROLLS_BACK)
    if rollbacks:
        services = tuple(e.service for e in rollbacks)
        blockers.append(Blocker(BlockerKind.ROLLBACK, services, rollbacks=rollbacks))
    public = tuple(name for name in vanishing if latest[name].public)
    if public:
        blockers.append(Blocker(BlockerKind.PUBLIC, public))
    called: list[str] = []
    staying_callers: set[str] = set()
    caller_ids: dict[str, None] = {}
    for name in vanishing:
        found = [
            caller
            for caller in callers(name)
            if (service := caller.partition("/")[0]) not in vanishing and service in latest
        ]
        if found:
            called.append(name)
            staying_callers.update(found)
            for caller, caller_id in calling(name):
                if caller in found and len(caller_ids) < LISTED_INVOCATIONS:
                    caller_ids[caller_id] = None
    if called:
        blockers.append(
            Blocker(
                BlockerKind.CALLERS,
                tuple(called),
                callers=tuple(sorted(staying_callers)),
                caller_ids=tuple(caller_ids),
            )
        )
    queued_ids: list[str] = []
    queued_count = 0
    queued_services: list[str] = []
    for name in vanishing:
        count, oldest = waiting(name)
        if count:
            queued_count += count
            queued_services.append(name)
            queued_ids.extend(oldest[: LISTED_INVOCATIONS - len(queued_ids)])
    if queued_count:
        blockers.append(
            Blocker(BlockerKind.QUEUED, tuple(queued_services), tuple(queued_ids), queued_count)
        )
    count, oldest = in_flight
    if count:
        blockers.append(
            Blocker(BlockerKind.IN_FLIGHT, (), tuple(oldest[:LISTED_INVOCATIONS]), count)
        )
    return RemovalPlan(deployment.id, status, tuple(blockers), tuple(effects), tuple(warnings))


class RemovalBlocked(VersioningError):
    """Removing the deployment now is unsafe and ``force`` was not given. ``plan`` says every
    reason (its ``blockers``) and what the removal would do (its ``effects``)."""

    def __init__(self, plan: RemovalPlan) -> None:
        self.plan = plan
        reasons = "; ".join(str(b) for b in plan.blockers)
        super().__init__(
            f"removing deployment {plan.deployment_id!r} is not safe: {reasons}"
            f" (remove it with force=True to do it anyway)"
        )
