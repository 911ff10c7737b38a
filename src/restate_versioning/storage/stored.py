"""A registry kept in a store: every command that changes it is journaled, and reopening the
store gives back exactly the committed state.

:class:`StoredRegistry` runs each command (a value of :mod:`restate_versioning.commands`, which
its methods build) on an in-memory :class:`Registry` and appends one :class:`CommandRecord`
(the command's name and fields, as the library's converter writes them; the clock's time and
the ids it made) with the version it was based on. If another writer appended first, it
catches up (replaying their records) and runs the command again on the new state, so no
command is lost and none is applied twice. Replaying uses the recorded times and ids, so
every writer and every reopen rebuilds the same state. A record is read back as the command
it was (:func:`~restate_versioning.serialization.command_from_arguments`, also for the
journal format of earlier releases), with the fields its class says replay sets
(:attr:`~restate_versioning.commands.Command.replayed`).

This goes further than the server, which keeps no history: :meth:`StoredRegistry.history`
reads back every committed command, when it happened and what it did.

A failed append never leaves a command applied: whatever the store raised (a lock held past
its timeout, a full disk, an I/O error, a record that cannot be journaled), the registry goes
back to exactly the last committed state, rebuilt in memory from what it had committed
(without asking the store, which may still be unusable), so queries never show the refused
command, the next command is not committed on top of it and :meth:`StoredRegistry.close`
never snapshots it. Replay reads each record's arguments strictly (every field, of its
type), so a damaged record is a :class:`StorageError`, not a different command.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from .. import _json
from ..commands import (
    COMMANDS,
    Caller,
    Command,
    Complete,
    DeclareCaller,
    Fail,
    ForgetCaller,
    Invoke,
    Kill,
    ManifestInput,
    Pause,
    Pin,
    Promote,
    Purge,
    R,
    Register,
    Remove,
    Resume,
    ResumeOn,
    ResumeTarget,
    SetOptions,
    SetPublic,
    StartDue,
    Suspend,
    UpdateDeployment,
)
from ..endpoints import Endpoint
from ..errors import (
    ConcurrentModification,
    InvalidStateSchema,
    Problem,
    StorageError,
    VersioningError,
)
from ..ids import IdGenerator, RandomIds
from ..manifest import Discovery
from ..model import Deployment, Invocation, ServiceRevision
from ..queries import RegistryQueries, read_only
from ..registry import Clock, Registry
from ..rules.registration import Registration
from ..rules.removal import Removal
from ..serialization import JOURNAL_FORMAT, command_arguments, command_from_arguments, dumps, loads
from .base import CommandRecord, Snapshot, Storage

__all__ = ["StoredRegistry"]


def _summary(command: Command[Any], result: Any) -> str:
    """What a committed command did, for people reading the history."""
    if isinstance(result, Registration):
        changes = ", ".join(
            f"{c.name} {c.old_revision or 'new'} -> {c.new_revision or 'gone'}"
            for c in result.changes
        )
        return f"{result.outcome.value} {result.deployment.id} at {result.deployment.endpoint}" + (
            f": {changes}" if changes else ""
        )
    if isinstance(result, Invocation):
        where = f" on {result.pinned_deployment_id}" if result.pinned_deployment_id else ""
        return f"{result.id} {result.service}/{result.handler} {result.status.value}{where}"
    if isinstance(result, tuple):  # the invocations start_due moved
        return "; ".join(_summary(command, i) for i in result) or "nothing due"
    if isinstance(result, ServiceRevision):
        visible = "public" if result.public else "private"
        return f"{result.name} revision {result.revision} is {visible}"
    if isinstance(result, Removal):
        return f"removed {result.deployment.id}" + (" (forced)" if result.forced else "")
    if isinstance(command, DeclareCaller):
        return "caller declared"
    if isinstance(command, ForgetCaller):
        return "caller forgotten"
    return command.method


def _json_copy(state: Any) -> Any:
    """A copy of ``state`` made of plain JSON values (what the journal keeps), or
    :class:`InvalidStateSchema` naming the first value that is not one."""
    problem = _not_json(state, "state")
    if problem is not None:
        raise InvalidStateSchema([problem])
    return json.loads(json.dumps(state))


def _not_json(value: Any, path: str) -> Problem | None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return Problem(path, f"state declarations must be JSON: a key {key!r} is not a str")
            found = _not_json(item, f"{path}[{key!r}]")
            if found is not None:
                return found
        return None
    if isinstance(value, list | tuple):
        return next(
            (p for i, v in enumerate(value) if (p := _not_json(v, f"{path}[{i}]")) is not None),
            None,
        )
    if (
        value is None
        or isinstance(value, str | bool | int)
        or (isinstance(value, float) and math.isfinite(value))
    ):
        return None
    return Problem(path, f"state declarations must be JSON values, not {value!r}")


def _prepared(command: Command[Any]) -> Command[Any]:
    """A command as it is run and journaled: a registration's state as plain JSON values
    (:class:`InvalidStateSchema` otherwise), and what a transport discovered taken whole (the
    manifest, and the HTTP and SDK versions unless given)."""
    if not isinstance(command, Register | UpdateDeployment):
        return command
    changes: dict[str, Any] = {}
    if isinstance(command, Register) and command.state is not None:
        changes["state"] = _json_copy(command.state)
    discovered = command.manifest
    if isinstance(discovered, Discovery):
        changes["manifest"] = discovered.manifest
        if command.http_version is None:
            changes["http_version"] = discovered.http_version
        if command.sdk_version is None:
            changes["sdk_version"] = discovered.sdk_version
    return attrs.evolve(command, **changes) if changes else command


def _as_committed(command: Command[Any], result: Any) -> Command[Any]:
    """The command as a journal keeps it: a registration (or a deployment's update) with the
    endpoint as it is kept
    (without credentials: ``endpoints.redact``) and the manifest as JSON; a call with its
    calling invocation as that invocation's id."""
    if isinstance(command, Register | UpdateDeployment):
        deployment = result.deployment if isinstance(command, Register) else result
        return attrs.evolve(
            command,
            endpoint=deployment.endpoint,
            manifest=deployment.manifest.to_json(),
        )
    if isinstance(command, Invoke) and isinstance(command.caller, Invocation):
        return attrs.evolve(command, caller=command.caller.id)
    return command


class _RecordedClock:
    """The registry's clock: the time of the command being run."""

    def __init__(self) -> None:
        self.now = datetime(1970, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class _RecordedIds:
    """The registry's ids: made by the real generator (and recorded), or replayed."""

    def __init__(self, source: IdGenerator) -> None:
        self.source = source
        self.made: list[str] = []
        self.replaying: list[str] | None = None

    def _next(self, make: Callable[[datetime], str], now: datetime) -> str:
        if self.replaying is None:
            made = make(now)
            self.made.append(made)
            return made
        if not self.replaying:
            raise StorageError("replay", "a command asked for more ids than it recorded")
        return self.replaying.pop(0)

    def deployment_id(self, now: datetime) -> str:
        return self._next(self.source.deployment_id, now)

    def peek_deployment_id(self, now: datetime) -> str:
        """The source's next id, not taken (a dry run; see ``Registry.register``)."""
        peek = getattr(self.source, "peek_deployment_id", None)
        return str(peek(now)) if peek is not None else self.source.deployment_id(now)

    def invocation_id(self, now: datetime) -> str:
        return self._next(self.source.invocation_id, now)


class StoredRegistry:
    """A :class:`Registry` whose commands are kept in a :class:`Storage`.

    Commands have the registry's names and signatures and return what it returns. Read the
    state through :attr:`registry` (its queries; run commands here, not there), and read it
    again after each command: a command may replace the object. Several ``StoredRegistry``
    objects, in as many processes or machines, may share one store: each sees the others'
    commands at its next command or :meth:`refresh`.

    **When the store fails.** Opening a damaged store (a record that fails its checksum, of
    the wrong types, or that no longer replays; a damaged snapshot) raises
    :class:`StorageError` naming the store and the record. If an append fails in any way (any
    exception from :meth:`Storage.append`, or a record that cannot be built or journaled),
    the command raises :class:`StorageError` naming the store (a :class:`VersioningError` the
    store raised is raised as it is; ``KeyboardInterrupt`` and the like too), and this object
    is back at exactly its last committed version: :attr:`registry` and :attr:`version` do not
    show the command, the next command is based on the committed state, and :meth:`close`
    snapshots nothing that was refused. A failed batch leaves none of its commands. The
    committed state is rebuilt in memory, from the snapshot and records this object read or
    wrote last (it keeps the newest snapshot's JSON and the records after it), so no store
    access is needed; in the one case where even that fails, the object refuses to serve
    state (:attr:`registry` raises :class:`StorageError`) until a :meth:`refresh` reloads it
    from the store. An append that failed may still have been committed (a connection lost
    during the commit): the next command then finds it in the store and catches up on it.

    Ids must be unique across writers: the default :class:`RandomIds` are.
    """

    def __init__(
        self,
        storage: Storage,
        *,
        clock: Clock | None = None,
        ids: IdGenerator | None = None,
        snapshot_every: int = 10_000,
        max_retries: int = 100,
    ) -> None:
        self._storage = storage
        location = getattr(storage, "location", None)
        self._location = location if isinstance(location, str) else type(storage).__name__
        self._clock: Clock = clock if clock is not None else (lambda: datetime.now(UTC))
        self._time = _RecordedClock()
        self._ids = _RecordedIds(ids if ids is not None else RandomIds())
        self._snapshot_every = snapshot_every
        self._max_retries = max_retries
        self._batch: list[CommandRecord] | None = None
        self._registry = Registry(clock=self._time, ids=self._ids)
        self._version = 0
        self._snapshot_version = 0
        self._snapshot_due = snapshot_every
        # What the committed state is rebuilt from without the store: the newest snapshot's
        # JSON (None: the empty registry), its version, and every committed record after it.
        self._base: Snapshot | None = None
        self._committed: list[CommandRecord] = []
        self._stale = False  # True: the committed state could not be rebuilt; reload first
        self._load()

    # --- state ----------------------------------------------------------------------------

    @property
    def registry(self) -> RegistryQueries:
        """The current state, for queries: a read-only view (:class:`RegistryView`), so that
        no command skips the journal (run them on this object; anything but a query raises
        :class:`~restate_versioning.queries.ReadOnly`). Raises :class:`StorageError` in the one
        case described in the class docstring (the committed state could not be rebuilt after
        a failed append, and has not been reloaded since)."""
        if self._stale:
            raise StorageError(
                self._location,
                "the state is unknown after a failed append; refresh() reloads it from the store",
            )
        return read_only(self._registry)

    @property
    def version(self) -> int:
        """The store version this registry has applied: the sequence of its last record."""
        return self._version

    @property
    def location(self) -> str:
        """How messages name the store (its ``location``, or its type)."""
        return self._location

    def _load(self) -> None:
        """Rebuild the registry from the newest snapshot and the records after it."""
        state = self._storage.load()
        self._start_from(state.snapshot)
        self._replay(state.records)
        self._stale = False

    def _start_from(self, snapshot: Snapshot | None) -> None:
        """Set the registry to ``snapshot`` (the empty registry for None), keeping it as the
        base that committed state is rebuilt from."""
        registry = Registry(clock=self._time, ids=self._ids)
        if snapshot is not None:
            try:
                registry = loads(snapshot.state, clock=self._time, ids=self._ids)
            except (VersioningError, ValueError, TypeError, KeyError, RecursionError) as exc:
                raise StorageError(
                    self._location,
                    f"the snapshot of version {snapshot.version} does not load: "
                    f"{type(exc).__name__}: {exc}",
                ) from None
        self._registry = registry
        self._version = snapshot.version if snapshot is not None else 0
        self._snapshot_version = self._version
        self._snapshot_due = self._version + self._snapshot_every
        self._base = snapshot
        self._committed = []

    def _restore(self) -> None:
        """Back to exactly the last committed state, from memory (no store access)."""
        self._stale = True
        committed = self._committed
        self._start_from(self._base)
        self._replay(tuple(committed))
        self._stale = False

    def _replay(self, records: tuple[CommandRecord, ...]) -> None:
        for record in records:
            self._replay_one(record)
            self._committed.append(record)

    def _replay_one(self, record: CommandRecord) -> None:
        where = f"record {record.sequence}"
        if record.sequence != self._version + 1:
            raise StorageError(self._location, f"{where} follows version {self._version}")
        try:
            command = command_from_arguments(record.command, record.arguments, record.journal)
        except ValueError as exc:
            if record.command not in COMMANDS:
                raise StorageError(self._location, f"{where}: {exc}") from None
            raise StorageError(
                self._location, f"{where} ({record.command}) is damaged: {exc}"
            ) from None
        if command.replayed:
            command = attrs.evolve(command, **command.replayed)
        self._time.now = record.at
        self._ids.replaying = list(record.ids)
        before = self._registry.changes
        try:
            self._registry.execute(command)
        except StorageError as exc:
            raise StorageError(
                self._location, f"{where} ({record.command}): {exc.reason}"
            ) from None
        except VersioningError as exc:
            raise StorageError(
                self._location, f"{where} ({record.command}) no longer applies: {exc}"
            ) from None
        finally:
            leftover, self._ids.replaying = self._ids.replaying, None
        if leftover or self._registry.changes == before:
            raise StorageError(self._location, f"{where} ({record.command}) replayed differently")
        self._version = record.sequence

    def _failed(self, exc: BaseException, what: str) -> BaseException:
        """What a failure of the store is raised as: a VersioningError (and anything that is
        not an Exception) as it is, anything else as a StorageError naming the store."""
        if isinstance(exc, VersioningError) or not isinstance(exc, Exception):
            return exc
        return StorageError(self._location, f"{what} failed: {type(exc).__name__}: {exc}")

    def refresh(self) -> int:
        """Apply what other writers committed since; returns how many records that was.
        After a failed append that left the state unknown, reload it whole (and return 0)."""
        if self._batch is not None:
            raise VersioningError("refresh() cannot run inside a batch")
        if self._stale:
            self._load()
            return 0
        records = self._storage.read(self._version)
        try:
            self._replay(records)
        except BaseException:
            self._restore()
            raise
        return len(records)

    def history(self, after: int = 0, limit: int | None = None) -> tuple[CommandRecord, ...]:
        """The committed commands after version ``after``, oldest first: what was done, when,
        and what it did."""
        return self._storage.history(after, limit)

    def snapshot(self) -> None:
        """Save a snapshot of the current version now (opening then replays nothing). Raises
        :class:`VersioningError` inside a batch, whose commands are not committed yet, and
        :class:`StorageError` if the store fails (nothing is lost: snapshots are an
        optimisation)."""
        if self._batch is not None:
            raise VersioningError("snapshot() cannot run inside a batch")
        if self._stale or self._version <= self._snapshot_version:
            return
        snapshot = Snapshot(self._version, dumps(self._registry))
        try:
            self._storage.save_snapshot(snapshot)
        except BaseException as exc:
            self._snapshot_due = self._version + self._snapshot_every  # try again later
            raise self._failed(exc, f"saving the snapshot of version {snapshot.version}") from exc
        self._snapshot_version = self._version
        self._snapshot_due = self._version + self._snapshot_every
        self._base = snapshot
        self._committed = []

    def _snapshot_if_due(self) -> None:
        """The periodic snapshot; its failure is not the command's (that is committed)."""
        if self._version >= self._snapshot_due:
            with suppress(VersioningError):
                self.snapshot()

    def close(self) -> None:
        """Snapshot what is not yet, and close the store (also when the snapshot fails)."""
        try:
            if self._batch is None:
                self.snapshot()
        finally:
            self._storage.close()

    def __enter__(self) -> StoredRegistry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- running commands -----------------------------------------------------------------

    def _record(self, command: Command[Any], result: Any) -> CommandRecord:
        """The record of a command just run; StorageError if it cannot be journaled."""
        try:
            arguments = command_arguments(_as_committed(command, result))
            _json.check_value(arguments, "$.arguments")
        except (_json.JsonError, ValueError, TypeError) as exc:
            raise StorageError(
                self._location, f"the {command.method} command cannot be journaled: {exc}"
            ) from None
        return CommandRecord(
            self._version + 1,
            self._time.now,
            command.method,
            arguments,
            tuple(self._ids.made),
            _summary(command, result),
            JOURNAL_FORMAT,
        )

    def execute(self, command: Command[R]) -> R:
        """Run ``command`` (:meth:`Registry.execute`) and journal it, if it changed anything,
        as the methods do (they build the command and run it here)."""
        command = _prepared(command)  # anything but a command, the registry refuses
        for _ in range(self._max_retries):
            if self._batch is None:
                self.refresh()
            self._time.now = self._clock()
            self._ids.made = []
            before = self._registry.changes
            result = self._registry.execute(command)
            if self._registry.changes == before:
                return result
            try:
                record = self._record(command, result)
            except BaseException as exc:
                if self._batch is None:
                    self._restore()
                raise self._failed(exc, f"journaling the {command.method} command") from exc
            if self._batch is not None:
                self._batch.append(record)
                self._version += 1
                return result
            try:
                self._storage.append([record], self._version)
            except ConcurrentModification:
                self._restore()  # undo ours; the next turn takes theirs and runs it again
                continue
            except BaseException as exc:
                self._restore()
                raise self._failed(exc, f"the append of record {record.sequence}") from exc
            self._version = record.sequence
            self._committed.append(record)
            self._snapshot_if_due()
            return result
        raise ConcurrentModification(self._version, self._version + 1)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Run several commands and commit them in one append (much faster per command).

        If another writer committed in between, the whole batch is undone and
        :class:`ConcurrentModification` raised (this object then has their commands); if the
        block raises, the batch is undone and the exception raised as it is; if the append
        fails otherwise, the batch is undone and :class:`StorageError` raised. Undone means
        none of the batch's commands is in :attr:`registry` or in the store.
        """
        if self._batch is not None:
            raise VersioningError("batches do not nest")
        self.refresh()
        start = self._version
        self._batch = []
        try:
            yield
        except BaseException:
            self._batch = None
            self._restore()
            raise
        records, self._batch = self._batch, None
        if records:
            try:
                self._storage.append(records, start)
            except ConcurrentModification:
                self._restore()
                # If catching up fails too, this stays at its last committed state.
                with suppress(VersioningError):
                    self.refresh()
                raise
            except BaseException as exc:
                self._restore()
                raise self._failed(exc, f"the append of records {start + 1}..") from exc
            self._committed.extend(records)
        self._snapshot_if_due()

    # --- the commands ---------------------------------------------------------------------

    def register(
        self,
        endpoint: str,
        manifest: ManifestInput,
        *,
        force: bool = False,
        breaking: bool = False,
        dry_run: bool = False,
        http_version: str | None = None,
        sdk_version: str | None = None,
        state: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Registration:
        """:meth:`Registry.register`, journaled (a dry run or an UNCHANGED outcome is not).
        ``state`` is journaled as JSON, so it must be JSON values."""
        return self.execute(
            Register(
                endpoint,
                manifest,
                force=force,
                breaking=breaking,
                dry_run=dry_run,
                http_version=http_version,
                sdk_version=sdk_version,
                state=state,
            )
        )

    def promote(self, deployment_id: str, *, breaking: bool = False) -> Registration:
        """:meth:`Registry.promote`, journaled."""
        return self.execute(Promote(deployment_id, breaking=breaking))

    def update_deployment(
        self,
        deployment_id: str,
        endpoint: str | Endpoint,
        manifest: ManifestInput,
        *,
        dry_run: bool = False,
        http_version: str | None = None,
        sdk_version: str | None = None,
    ) -> Deployment:
        """:meth:`Registry.update_deployment`, journaled."""
        return self.execute(
            UpdateDeployment(
                deployment_id,
                endpoint,
                manifest,
                dry_run=dry_run,
                http_version=http_version,
                sdk_version=sdk_version,
            )
        )

    def set_public(self, service: str, public: bool) -> ServiceRevision:
        """:meth:`Registry.set_public`, journaled."""
        return self.execute(SetPublic(service, public))

    def set_options(
        self,
        name: str,
        *,
        idempotency_retention_ms: int | None = None,
        journal_retention_ms: int | None = None,
        workflow_completion_retention_ms: int | None = None,
        inactivity_timeout_ms: int | None = None,
        abort_timeout_ms: int | None = None,
    ) -> ServiceRevision:
        """:meth:`Registry.set_options`, journaled."""
        return self.execute(
            SetOptions(
                name,
                idempotency_retention_ms=idempotency_retention_ms,
                journal_retention_ms=journal_retention_ms,
                workflow_completion_retention_ms=workflow_completion_retention_ms,
                inactivity_timeout_ms=inactivity_timeout_ms,
                abort_timeout_ms=abort_timeout_ms,
            )
        )

    def remove(self, deployment_id: str, *, force: bool = False) -> Removal:
        """:meth:`Registry.remove`, journaled."""
        return self.execute(Remove(deployment_id, force=force))

    def declare_caller(self, service: str, caller: str | Caller) -> None:
        """:meth:`Registry.declare_caller`, journaled."""
        self.execute(DeclareCaller(service, caller))

    def forget_caller(self, service: str, caller: str | Caller) -> None:
        """:meth:`Registry.forget_caller`, journaled."""
        self.execute(ForgetCaller(service, caller))

    def invoke(
        self,
        service: str,
        handler: str,
        *,
        key: str | None = None,
        caller: str | Caller | Invocation | None = None,
        delay: timedelta | None = None,
        pin_on_start: bool = True,
    ) -> Invocation:
        """:meth:`Registry.invoke`, journaled (a calling invocation as its id)."""
        return self.execute(
            Invoke(service, handler, key=key, caller=caller, delay=delay, pin_on_start=pin_on_start)
        )

    def pin(self, invocation_id: str) -> Invocation:
        """:meth:`Registry.pin`, journaled."""
        return self.execute(Pin(invocation_id))

    def suspend(self, invocation_id: str) -> Invocation:
        """:meth:`Registry.suspend`, journaled."""
        return self.execute(Suspend(invocation_id))

    def fail(self, invocation_id: str, *, code: str, message: str | None = None) -> Invocation:
        """:meth:`Registry.fail`, journaled."""
        return self.execute(Fail(invocation_id, code=code, message=message))

    def pause(self, invocation_id: str) -> Invocation:
        """:meth:`Registry.pause`, journaled."""
        return self.execute(Pause(invocation_id))

    def complete(self, invocation_id: str) -> Invocation:
        """:meth:`Registry.complete`, journaled."""
        return self.execute(Complete(invocation_id))

    def kill(self, invocation_id: str) -> Invocation:
        """:meth:`Registry.kill`, journaled."""
        return self.execute(Kill(invocation_id))

    def purge(self, invocation_id: str) -> Invocation:
        """:meth:`Registry.purge`, journaled."""
        return self.execute(Purge(invocation_id))

    def resume(self, invocation_id: str, deployment: ResumeTarget = ResumeOn.KEEP) -> Invocation:
        """:meth:`Registry.resume`, journaled."""
        return self.execute(Resume(invocation_id, deployment))

    def start_due(self) -> tuple[Invocation, ...]:
        """:meth:`Registry.start_due`, journaled when something was due."""
        return self.execute(StartDue())
