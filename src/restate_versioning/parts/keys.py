"""The key queues: the part of a registry that keeps who holds each key and who waits for it.

A Virtual Object key is held by at most one exclusive call at a time; the exclusive calls sent
to it meanwhile wait in its inbox, in order. A Workflow key keeps the one run it has had. A
delayed call waits for its due time. :class:`KeyQueues` keeps all four: the holder of each key,
each key's inbox, each workflow key's run, and the delayed calls by due time (docs/rules.md,
"Routing and pinning"). A key is a :data:`Lock`, ``(service, key)``.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime

__all__ = ["KeyQueues", "Lock"]

#: A key, as the queues know it: its service and the key. (A call without a key, to a service
#: that is not keyed, never holds or waits for one.)
Lock = tuple[str, str]


class KeyQueues:
    """Key holders, inboxes, workflow runs and the delayed calls' due times."""

    __slots__ = ("_due", "_due_order", "_inboxes", "_locks", "_runs", "holder")

    def __init__(self) -> None:
        self._locks: dict[Lock, str] = {}  # key -> the call holding it
        #: The call holding a key, if any (the locks' own ``get``: it is asked on every call
        #: with a key).
        self.holder: Callable[[Lock], str | None] = self._locks.get
        self._inboxes: dict[Lock, deque[str]] = {}  # key -> the calls waiting for it, in order
        self._runs: dict[Lock, str] = {}  # workflow key -> its run
        self._due: list[tuple[datetime, int, str]] = []  # a heap of (due, order, call)
        self._due_order = 0

    @classmethod
    def build(
        cls,
        locks: Iterable[tuple[str, str, str]],
        inboxes: Iterable[tuple[str, str, Iterable[str]]],
        runs: Iterable[tuple[str, str, str]],
        due: Iterable[tuple[datetime, str]],
    ) -> KeyQueues:
        """The queues of a snapshot's ``locks``, ``inboxes`` and ``workflow_runs``, and of
        its delayed calls (due time and id, in the order they were sent)."""
        queues = cls()
        queues._locks.update(((service, key), holder) for service, key, holder in locks)
        queues._inboxes = {(service, key): deque(queued) for service, key, queued in inboxes}
        queues._runs = {(service, key): run for service, key, run in runs}
        for at, invocation_id in due:
            queues._due_order += 1
            queues._due.append((at, queues._due_order, invocation_id))
        heapq.heapify(queues._due)
        return queues

    # --- what it holds --------------------------------------------------------------------

    def inbox(self, lock: Lock) -> Sequence[str]:
        """The calls waiting for the key, in order."""
        return self._inboxes.get(lock, ())

    def run(self, lock: Lock) -> str | None:
        """The run a workflow key has had, if any."""
        return self._runs.get(lock)

    def locked(self) -> Iterator[tuple[str, str, str, int]]:
        """Each held key: service, key, holder, how many wait for it; by service and key."""
        for (service, key), holder in sorted(self._locks.items()):
            yield service, key, holder, len(self._inboxes.get((service, key), ()))

    def locks(self) -> tuple[tuple[str, str, str], ...]:
        """``(service, key, holder)`` of each held key (a snapshot's ``locks``)."""
        return tuple((service, key, holder) for (service, key), holder in self._locks.items())

    def inboxes(self) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
        """``(service, key, waiting)`` of each inbox (a snapshot's ``inboxes``)."""
        return tuple((service, key, tuple(q)) for (service, key), q in self._inboxes.items())

    def runs(self) -> tuple[tuple[str, str, str], ...]:
        """``(service, key, run)`` of each workflow key (a snapshot's ``workflow_runs``)."""
        return tuple((service, key, run) for (service, key), run in self._runs.items())

    # --- updates ----------------------------------------------------------------------------

    def take(self, lock: Lock, invocation_id: str) -> None:
        """The call holds the key from now on."""
        self._locks[lock] = invocation_id

    def free(self, lock: Lock, invocation_id: str) -> bool:
        """The call is done with the key, if it held it: whether it did."""
        if self._locks.get(lock) != invocation_id:
            return False
        del self._locks[lock]
        return True

    def wait(self, lock: Lock, invocation_id: str) -> None:
        """The call waits for the key, behind the ones waiting already."""
        inbox = self._inboxes.get(lock)
        if inbox is None:
            self._inboxes[lock] = deque((invocation_id,))
        else:
            inbox.append(invocation_id)

    def leave(self, lock: Lock, invocation_id: str) -> None:
        """A waiting call leaves the key's inbox (it was killed)."""
        inbox = self._inboxes[lock]
        inbox.remove(invocation_id)
        if not inbox:
            del self._inboxes[lock]

    def next_turn(self, lock: Lock) -> str | None:
        """The call whose turn it is, taken out of the inbox: the first waiting, when nobody
        holds the key."""
        if lock in self._locks:
            return None
        inbox = self._inboxes.get(lock)
        if not inbox:
            return None
        invocation_id = inbox.popleft()
        if not inbox:
            del self._inboxes[lock]
        return invocation_id

    def start_run(self, lock: Lock, invocation_id: str) -> None:
        """The call is the workflow key's run."""
        self._runs[lock] = invocation_id

    def end_run(self, lock: Lock, invocation_id: str) -> None:
        """The call is no longer the workflow key's run (it was killed before it started), so
        the key can run again."""
        if self._runs.get(lock) == invocation_id:
            del self._runs[lock]

    def schedule(self, due: datetime, invocation_id: str) -> None:
        """A delayed call falls due at ``due``."""
        self._due_order += 1
        heapq.heappush(self._due, (due, self._due_order, invocation_id))

    def fall_due(self, now: datetime) -> Iterator[str]:
        """The delayed calls due at ``now``, taken out in due order (and the order they were
        sent, for the same time), as they are iterated."""
        due = self._due
        while due and due[0][0] <= now:
            yield heapq.heappop(due)[2]

    # --- self-check -------------------------------------------------------------------------

    def problems(self) -> tuple[str, ...]:
        """What is inconsistent among the queues themselves: a due time out of heap order.
        (Whether holders, inboxes and runs match the calls' statuses is a rule of snapshots:
        :func:`~restate_versioning.snapshot.snapshot_problems`.)"""
        due = self._due
        return tuple(
            f"due times: {due[child][2]!r} falls due before {due[(child - 1) // 2][2]!r}, "
            "which is ahead of it"
            for child in range(1, len(due))
            if due[child] < due[(child - 1) // 2]
        )
