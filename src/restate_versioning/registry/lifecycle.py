"""The lifecycle side of the :class:`~restate_versioning.Registry` facade: what happens to a
call once it started (pin, fail, suspend, pause, resume, complete) and how calls end (kill,
with the calls they sent; a completed call is purged).

What each status allows is the rules' (:data:`~restate_versioning.rules.invocations.TRANSITIONS`,
docs/rules.md, "Routing and pinning"), as is what the server accepts and leaves as it is, the
moves whose attempt fails, and the order a call tree is killed in (docs/rules.md, "Killing a
call tree"); these methods check the call and move it, and its key, along.
"""

from __future__ import annotations

from ..commands import ResumeOn, ResumeTarget
from ..errors import InvalidInvocation, InvalidTransition, quote
from ..ids import parse_deployment_id
from ..model import Failure, Invocation, InvocationStatus
from ..rules.invocations import (
    FAILURE_CODE,
    FAILURE_MESSAGES,
    HANDLER_NOT_FOUND,
    HANDLER_NOT_FOUND_CODE,
    NO_CHANGE,
    NO_DEPLOYMENT_CODE,
    PINNED_DEPLOYMENT_MISSING,
    TRANSITIONS,
    Action,
    can_run,
    check_move,
    next_status,
)
from .invocations import InvocationCommands

__all__ = ["LifecycleCommands"]

_RUNNING = InvocationStatus.RUNNING
_COMPLETED = InvocationStatus.COMPLETED
_SUSPENDED = InvocationStatus.SUSPENDED
_PENDING = InvocationStatus.PENDING


class LifecycleCommands(InvocationCommands):
    """Started calls and how calls end: their commands (see :class:`Registry`)."""

    def fail(self, invocation_id: str, *, code: str, message: str | None = None) -> Invocation:
        """The running attempt of an invocation fails: it is ``BACKING_OFF`` (still pinned)
        until :meth:`resume` retries it, and ``last_failure`` has ``code`` and ``message``
        (by default the server's words for the code, :data:`FAILURE_MESSAGES`). A harness uses
        it for a handler that fails: RT0011, RT0012, or RT0018 when the handler calls a
        service or handler that does not exist (the server fails the caller's attempt; the
        model's :meth:`invoke` refuses such a call and changes nothing, so a harness fails
        the caller with RT0018 itself). Only a running invocation has an attempt to fail."""
        invocation = self.invocation(invocation_id)
        if not isinstance(code, str) or not FAILURE_CODE.fullmatch(code):
            raise InvalidInvocation(
                f"a failure code is letters and four digits (as RT0012), got {quote(code)}",
                code=code,
            )
        if message is None:
            message = FAILURE_MESSAGES.get(code, "the attempt failed")
        elif not isinstance(message, str):
            raise InvalidInvocation(
                f"a failure message is a str, got {quote(message)}", message=message
            )
        if invocation.status is not _RUNNING:
            row = TRANSITIONS[invocation.status]
            allowed = [a.value for a in row if a is not Action.FAIL]
            raise InvalidTransition(invocation.id, invocation.status, "fail", allowed)
        return self._replace(invocation, Action.FAIL, last_failure=Failure(code, message))

    def suspend(self, invocation_id: str) -> Invocation:
        """A running invocation suspends (waits for a timer, a call, a promise...)."""
        return self._replace(self.invocation(invocation_id), Action.SUSPEND)

    def pause(self, invocation_id: str) -> Invocation:
        """A running or backing-off invocation is paused (until resumed). Pausing a suspended
        or already paused one changes nothing (the server answers 200), and returns it as it
        is."""
        invocation = self.invocation(invocation_id)
        if Action.PAUSE in NO_CHANGE.get(invocation.status, ()):
            return invocation
        return self._replace(invocation, Action.PAUSE)

    def resume(self, invocation_id: str, deployment: ResumeTarget = ResumeOn.KEEP) -> Invocation:
        """The next attempt of a suspended, paused or backing-off invocation.

        ``deployment=ResumeOn.KEEP`` (or ``"keep"``) runs it where it is pinned;
        ``ResumeOn.LATEST`` (``"latest"``) or a deployment id moves
        a paused or suspended pinned invocation there first, if that deployment speaks its
        pinned protocol version (a running or unpinned invocation cannot be moved). As on the
        server, a move to a deployment that lacks the handler, or does not serve the service
        at all, is accepted, and the attempt there fails: ``BACKING_OFF``, pinned to it, with
        RT0012 (the deployment answers 404); :func:`~restate_versioning.rules.invocations.can_run`
        tells beforehand whether a move is doomed. If the deployment it runs on was
        force-removed, the attempt fails: ``BACKING_OFF`` with RT0011. An unpinned invocation
        starts on the latest revision.
        Resuming a running invocation where it runs changes nothing (the server answers 200)
        and returns it as it is; moving it is refused, as the server answers 409. A suspended
        call not pinned yet (``invoke(..., pin_on_start=False)``) resumes on the latest
        revision with ``"keep"`` or ``"latest"`` (200 on the server: its next attempt runs
        there anyway); moving it to a given deployment is refused (409 "not pinned yet").
        """
        invocation = self.invocation(invocation_id)
        if isinstance(deployment, ResumeOn):
            deployment = deployment.value
        if Action.RESUME in NO_CHANGE.get(invocation.status, ()):
            if deployment != "keep":
                if deployment != "latest":
                    parse_deployment_id(deployment)
                raise InvalidTransition(invocation.id, invocation.status, "move", ["keep"])
            return invocation
        next_status(invocation.id, invocation.status, Action.RESUME)
        if invocation.pinned_deployment_id is None:
            started = invocation.pins_at_first_command and invocation.status is _SUSPENDED
            if deployment != "keep" and not (started and deployment == "latest"):
                raise InvalidInvocation(
                    f"invocation {invocation.id!r} is not pinned yet, so it cannot be moved to "
                    f"{quote(deployment)}: resume it without a deployment (the server answers "
                    "409)",
                    invocation_id=invocation.id,
                    deployment=deployment,
                )
            return self._admit(invocation, Action.RESUME)
        target = self._resume_target(invocation, deployment)
        if target not in self._catalogue:
            return self._replace(
                invocation,
                Action.FAIL,
                last_failure=Failure(NO_DEPLOYMENT_CODE, PINNED_DEPLOYMENT_MISSING),
            )
        if not can_run(self._catalogue[target], invocation.service, invocation.handler):
            return self._replace(
                invocation,
                Action.FAIL,
                pinned_deployment_id=target,
                last_failure=Failure(HANDLER_NOT_FOUND_CODE, HANDLER_NOT_FOUND),
            )
        return self._replace(
            invocation, Action.RESUME, pinned_deployment_id=target, last_failure=None
        )

    def _resume_target(self, invocation: Invocation, deployment: ResumeTarget) -> str:
        if deployment == "keep":
            assert invocation.pinned_deployment_id is not None
            return invocation.pinned_deployment_id
        if invocation.status not in (InvocationStatus.PAUSED, InvocationStatus.SUSPENDED):
            raise InvalidTransition(invocation.id, invocation.status, "move", ["keep"])
        if deployment == "latest":
            target = self._latest_of(invocation.service).deployment_id
        else:
            target = self._deployment(deployment).id
        check_move(invocation, self._catalogue[target])
        return target

    # --- ending calls -----------------------------------------------------------------------

    def complete(self, invocation_id: str) -> Invocation:
        """A running invocation finishes. An exclusive call frees its key, and the next call
        waiting on that key starts (pinned to the latest revision now)."""
        invocation = self.invocation(invocation_id)
        completed = self._replace(invocation, Action.COMPLETE)
        if invocation.key is not None:
            self._release(invocation)
        return completed

    def kill(self, invocation_id: str) -> Invocation:
        """End any invocation that is not completed; queued work leaves its queue.

        As on the server, a killed call that never started (pending or scheduled) is not
        kept: afterwards the registry does not know it (:class:`InvocationNotFound`), and a
        workflow key whose run it was can run again. One that started stays, completed.

        Killing a call kills the calls it sent (made with ``caller=`` it, one-way sends
        included), and theirs, as the server does: started ones complete; queued ones are
        forgotten, except those next in line for a key a killed call holds: when it frees the
        key, the calls of the tree waiting at the head of that key's inbox take it in turn and
        are killed at once, so they are kept, completed and pinned nowhere; the first call
        from outside the tree gets the key as usual, and the tree's calls behind it are
        forgotten. Returns the killed invocation."""
        invocation = self.invocation(invocation_id)
        next_status(invocation.id, invocation.status, Action.KILL)
        tree = self._call_tree(invocation)
        kept = self._next_in_line(invocation, tree)
        # The queued calls of the whole tree first, so that none starts when another frees its
        # key; then the started ones, the deepest first; the killed call last.
        queued = [call for call, _ in tree if call.status.is_queued]
        started = [call for call, _ in reversed(tree) if not call.status.is_queued]
        for call in queued + started:
            current = self._invocations.get(call.id)
            if current is not None and current.status is not _COMPLETED:
                self._kill_one(current, kept=current.id in kept)
        return self._kill_one(self._invocations[invocation.id], kept=False)

    def purge(self, invocation_id: str) -> Invocation:
        """Forget a completed invocation, as the admin API's purge does: afterwards the
        registry does not know it (:class:`InvocationNotFound`), and a Workflow key whose run
        it was can run again. Only a completed invocation can be purged (the server: "is not
        yet completed."). Returns the invocation as it was."""
        invocation = self.invocation(invocation_id)
        next_status(invocation.id, invocation.status, Action.PURGE)
        self._invocations.forget(invocation.id)
        if invocation.key is not None:
            self._keys.end_run((invocation.service, invocation.key), invocation.id)
        self._changes += 1
        return invocation

    def _next_in_line(
        self, root: Invocation, tree: list[tuple[Invocation, Invocation]]
    ) -> frozenset[str]:
        """The queued calls of a call tree that take a key when a killed call of the tree
        frees it: for each key a call of the tree holds, the tree's calls at the head of its
        inbox, up to the first call from outside the tree."""
        members = {root.id} | {call.id for call, _ in tree}
        kept: set[str] = set()
        keys = self._keys
        for call in (root, *(call for call, _ in tree)):
            if call.key is None or call.status.is_queued:
                continue
            lock = (call.service, call.key)
            if keys.holder(lock) != call.id:
                continue
            for waiting in keys.inbox(lock):
                if waiting not in members:
                    break
                kept.add(waiting)
        return frozenset(kept)

    def _call_tree(self, root: Invocation) -> list[tuple[Invocation, Invocation]]:
        """The uncompleted calls ``root`` sent, and theirs, each with the call that sent it,
        breadth first (oldest first among siblings, as the index keeps them); each call once,
        whatever ``caller_id`` says (a snapshot may hold a loop)."""
        invocations = self._invocations
        tree: list[tuple[Invocation, Invocation]] = []
        seen = {root.id}
        frontier = [root]
        while frontier:
            following: list[Invocation] = []
            for parent in frontier:
                for found in invocations.sent_by(parent.id):
                    call = invocations[found]
                    if call.id not in seen:
                        seen.add(call.id)
                        tree.append((call, parent))
                        following.append(call)
            frontier = following
        return tree

    def _kill_one(self, invocation: Invocation, *, kept: bool) -> Invocation:
        """Kill one call: a queued one leaves its queue and is forgotten, unless it is
        ``kept`` (completed, pinned nowhere; see :meth:`kill`)."""
        killed = self._replace(invocation, Action.KILL)
        key = invocation.key
        if key is not None:
            if invocation.status is _PENDING:
                self._keys.leave((invocation.service, key), invocation.id)
            self._release(invocation)
        if invocation.status.is_queued and not kept:  # it never started: forgotten
            self._invocations.forget(invocation.id)
            if key is not None:
                self._keys.end_run((invocation.service, key), invocation.id)
        return killed
