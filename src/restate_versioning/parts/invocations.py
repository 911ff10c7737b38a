"""The invocation index: the part of a registry that keeps its invocations and the indexes that
make every question about them cheap.

Besides every invocation by id (oldest first), it keeps, for the calls not completed: the ones
pinned to each deployment (in the order they were pinned: what a deployment's status and its
removal plan count), the ones of each service pinned nowhere yet (queued work the removal plan
counts), the ones of each handler (oldest first: the counts and the oldest call ``restate
services status`` shows), how many of each handler are in each status, and the calls each
invocation sent (what a kill walks). :meth:`InvocationIndex.move` keeps all of them exact as a
call moves along the status table (docs/rules.md, "Routing and pinning").
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import TypeVar

from ..enums import InvocationStatus
from ..model import Invocation

__all__ = ["InvocationIndex"]

_COMPLETED = InvocationStatus.COMPLETED
_IN_FLIGHT = frozenset(s for s in InvocationStatus if s.is_in_flight)
_K = TypeVar("_K")
_NONE: Collection[str] = ()
#: What the index keeps of a handler: its uncompleted calls' ids, and how many are in each status.
_Handler = tuple[dict[str, None], dict[InvocationStatus, int]]

# The buckets of the indexes by deployment, service and handler stay when they empty, and so do
# a handler's counts at zero (there are as many as there are deployments, services, handlers and
# statuses, and a call that comes and goes would otherwise make and drop one each time); the
# calls sent by each invocation do not.


def _add(index: dict[_K, dict[str, None]], key: _K, invocation_id: str) -> None:
    bucket = index.get(key)
    if bucket is None:
        index[key] = {invocation_id: None}
    else:
        bucket[invocation_id] = None


class InvocationIndex:
    """Invocations by id, and the uncompleted ones by deployment, service, handler, status and
    sender. ``get(invocation_id)`` is the invocation with this id, or ``None`` (the records'
    own ``get``: it is asked on every command)."""

    __slots__ = ("_by_handler", "_pinned", "_records", "_sent", "_waiting", "get")

    def __init__(self) -> None:
        self._records: dict[str, Invocation] = {}
        self.get: Callable[[str], Invocation | None] = self._records.get
        self._pinned: dict[str, dict[str, None]] = {}  # deployment -> in-flight ids, pin order
        self._waiting: dict[str, dict[str, None]] = {}  # service -> unpinned, uncompleted ids
        # (service, handler) -> its uncompleted ids, oldest first, and how many in each status
        self._by_handler: dict[tuple[str, str], _Handler] = {}
        self._sent: dict[str, dict[str, None]] = {}  # caller id -> uncompleted calls it made

    @classmethod
    def build(
        cls, invocations: Iterable[Invocation], pinned: Iterable[tuple[str, Iterable[str]]]
    ) -> InvocationIndex:
        """The index of a snapshot's invocations (oldest first) and its pinned lists (each
        deployment's in-flight calls, in the order they were pinned)."""
        index = cls()
        for invocation in invocations:
            index.add(invocation)
        index._pinned = {deployment: dict.fromkeys(ids) for deployment, ids in pinned}
        return index

    # --- what it holds --------------------------------------------------------------------

    def __getitem__(self, invocation_id: str) -> Invocation:
        return self._records[invocation_id]

    def records(self) -> tuple[Invocation, ...]:
        """Every invocation, oldest first."""
        return tuple(self._records.values())

    def pinned_to(self, deployment_id: str) -> Collection[str]:
        """The ids of the started, uncompleted calls pinned to a deployment, paused ones
        included, in the order they were pinned."""
        return self._pinned.get(deployment_id, _NONE)

    def waiting_for(self, service: str) -> Collection[str]:
        """The ids of the uncompleted calls of a service pinned nowhere yet, oldest first."""
        return self._waiting.get(service, _NONE)

    def active_of(self, service: str, handler: str) -> Collection[str]:
        """The ids of the uncompleted calls of a handler, oldest first."""
        found = self._by_handler.get((service, handler))
        return found[0] if found is not None else _NONE

    def sent_by(self, caller_id: str) -> Collection[str]:
        """The ids of the uncompleted calls an invocation sent, oldest first."""
        return self._sent.get(caller_id, _NONE)

    def calls_into(self, service: str) -> Iterator[Invocation]:
        """The uncompleted calls of a service, handler by handler."""
        records = self._records
        for (name, _), (ids, _) in list(self._by_handler.items()):
            if name == service:
                for invocation_id in ids:
                    yield records[invocation_id]

    def counts(self) -> Mapping[tuple[str, str, InvocationStatus], int]:
        """How many uncompleted calls each (service, handler) has in each status (a copy)."""
        return {
            (service, handler, status): count
            for (service, handler), (_, counts) in self._by_handler.items()
            for status, count in counts.items()
            if count
        }

    def pinned(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Each deployment with calls pinned to it, and their ids in the order they were
        pinned (a snapshot's ``pinned``)."""
        return tuple((d, tuple(ids)) for d, ids in self._pinned.items() if ids)

    # --- updates ----------------------------------------------------------------------------

    def add(self, invocation: Invocation) -> None:
        """A new invocation."""
        invocation_id = invocation.id
        self._records[invocation_id] = invocation
        status = invocation.status
        if status is _COMPLETED:
            return
        service = invocation.service
        target = (service, invocation.handler)
        found = self._by_handler.get(target)
        if found is None:
            found = self._by_handler[target] = ({}, {})
        ids, counts = found
        ids[invocation_id] = None
        counts[status] = counts.get(status, 0) + 1
        if invocation.caller_id is not None:
            _add(self._sent, invocation.caller_id, invocation_id)
        pinned = invocation.pinned_deployment_id
        if pinned is None:
            _add(self._waiting, service, invocation_id)
        elif status in _IN_FLIGHT:
            _add(self._pinned, pinned, invocation_id)

    def move(self, old: Invocation, new: Invocation) -> None:
        """An invocation changed (its status, its pin): ``new`` replaces ``old``, a call of
        the same handler."""
        invocation_id = old.id
        self._records[invocation_id] = new
        ids, counts = self._by_handler[(old.service, old.handler)]
        counts[old.status] -= 1
        status = new.status
        done = status is _COMPLETED
        if done:
            del ids[invocation_id]
            caller_id = old.caller_id
            if caller_id is not None:
                sent = self._sent[caller_id]
                del sent[invocation_id]
                if not sent:
                    del self._sent[caller_id]
        else:
            counts[status] = counts.get(status, 0) + 1
        old_pin = old.pinned_deployment_id if old.status in _IN_FLIGHT else None
        new_pin = new.pinned_deployment_id if status in _IN_FLIGHT else None
        if old_pin != new_pin:
            if old_pin is not None:
                del self._pinned[old_pin][invocation_id]
            if new_pin is not None:
                _add(self._pinned, new_pin, invocation_id)
        was_waiting = old.pinned_deployment_id is None
        is_waiting = new.pinned_deployment_id is None and not done
        if was_waiting != is_waiting:
            if was_waiting:
                del self._waiting[old.service][invocation_id]
            else:
                _add(self._waiting, new.service, invocation_id)

    def forget(self, invocation_id: str) -> None:
        """A completed invocation is forgotten (a killed call that never started, or a
        purged one)."""
        del self._records[invocation_id]

    # --- self-check -------------------------------------------------------------------------

    def problems(self) -> tuple[str, ...]:
        """Every way the indexes differ from a recount from the invocations."""
        pinned: dict[str, set[str]] = {}
        waiting: dict[str, list[str]] = {}
        active: dict[tuple[str, str], list[str]] = {}
        sent: dict[str, list[str]] = {}
        counts: dict[tuple[str, str, InvocationStatus], int] = {}
        for invocation in self._records.values():
            if invocation.status is _COMPLETED:
                continue
            key = (invocation.service, invocation.handler, invocation.status)
            counts[key] = counts.get(key, 0) + 1
            active.setdefault((invocation.service, invocation.handler), []).append(invocation.id)
            if invocation.caller_id is not None:
                sent.setdefault(invocation.caller_id, []).append(invocation.id)
            where = invocation.pinned_deployment_id
            if where is None:
                waiting.setdefault(invocation.service, []).append(invocation.id)
            elif invocation.status in _IN_FLIGHT:
                pinned.setdefault(where, set()).add(invocation.id)
        expected: list[tuple[str, object, object]] = [
            ("pinned", pinned, {d: set(ids) for d, ids in self._pinned.items() if ids}),
            ("waiting", waiting, {s: list(ids) for s, ids in self._waiting.items() if ids}),
            (
                "uncompleted",
                active,
                {t: list(ids) for t, (ids, _) in self._by_handler.items() if ids},
            ),
            ("calls sent", sent, {c: list(ids) for c, ids in self._sent.items()}),
            ("status counts", counts, self.counts()),
        ]
        return tuple(
            f"{name}: recounted {recounted!r}, kept {kept!r}"
            for name, recounted, kept in expected
            if recounted != kept
        )
