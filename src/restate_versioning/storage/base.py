"""The storage contract: what a store keeps, and what an adapter must guarantee.

A store is an **event log of commands plus snapshots**:

* every command that changed a registry is one :class:`CommandRecord`, numbered by ``sequence``
  from 1 without gaps: what was asked (the command and its arguments), when (the registry
  clock's time), the ids it made, and a one-line summary of what it did. Replaying the records
  in order on an empty registry, with the recorded times and ids, rebuilds exactly the committed
  state. The records are never rewritten or deleted: they are also the audit log that
  :meth:`StoredRegistry.history` reads back (which the Restate server does not keep).
* a :class:`Snapshot` is the whole state at one version, so that opening a store replays only
  the records after the newest snapshot. Snapshots are an optimisation: deleting them loses
  nothing.

The store's *version* is the sequence of its last record (0 when empty).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from .._frozen import FrozenMap, freeze
from ..errors import StorageError

__all__ = [
    "STORE_FORMAT",
    "STORE_FORMAT_VERSION",
    "CommandRecord",
    "Snapshot",
    "Storage",
    "StoredState",
    "check_meta",
    "check_sequences",
    "record_body",
    "record_from_row",
]


@attrs.frozen
class CommandRecord:
    """One committed command. ``arguments`` are JSON values; ``ids`` the ids it generated, in
    order; ``summary`` says what it did, for people reading the history."""

    sequence: int
    at: datetime
    command: str
    arguments: FrozenMap[str, Any] = attrs.field(converter=freeze)
    ids: tuple[str, ...] = ()
    summary: str = ""


@attrs.frozen
class Snapshot:
    """The whole registry at ``version``, as the JSON of :func:`serialization.dumps`."""

    version: int
    state: str


@attrs.frozen
class StoredState:
    """What opening a store reads: the newest snapshot (if any) and every record after it."""

    snapshot: Snapshot | None
    records: tuple[CommandRecord, ...]

    @property
    def version(self) -> int:
        """The store's version: the sequence of its last record."""
        if self.records:
            return self.records[-1].sequence
        return self.snapshot.version if self.snapshot is not None else 0


@runtime_checkable
class Storage(Protocol):
    """Where a registry's commands are kept. This docstring is the contract that every adapter
    must meet; ``restate_versioning.testing.check_storage`` checks it.

    * ``load()`` returns the newest snapshot and every record after it, in sequence order.
    * ``read(after)`` returns every record with ``sequence > after``, in order.
    * ``append(records, expected_version)`` stores the records of one command, or of one
      batch, **atomically**: all of them or none. Their sequences must be
      ``expected_version + 1, + 2, ...``. If the store is not at ``expected_version`` (another
      writer appended first), it raises :class:`~restate_versioning.ConcurrentModification`
      and writes nothing. It returns the new version. Once it returns, the records survive
      the process being killed.
    * ``save_snapshot(snapshot)`` keeps a snapshot of a version the store has reached; a
      snapshot must never be visible without the records up to its version.
    * ``history(after, limit)`` returns committed records in order, for reading.
    * A store that is corrupted, foreign, or of a newer format raises
      :class:`~restate_versioning.StorageError` naming the problem, and is never overwritten.
    * ``close()`` releases the store; using it afterwards is an error.
    """

    def load(self) -> StoredState:
        """The newest snapshot and the records after it."""
        ...

    def read(self, after: int) -> tuple[CommandRecord, ...]:
        """The records with a sequence greater than ``after``."""
        ...

    def append(self, records: Sequence[CommandRecord], expected_version: int) -> int:
        """Append atomically if the store is at ``expected_version``; the new version."""
        ...

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Keep a snapshot of a committed version."""
        ...

    def history(self, after: int = 0, limit: int | None = None) -> tuple[CommandRecord, ...]:
        """Committed records after ``after``, oldest first, at most ``limit`` of them."""
        ...

    def close(self) -> None:
        """Release the store."""
        ...


def check_sequences(records: Sequence[CommandRecord], expected_version: int) -> None:
    """Raise ``ValueError`` unless the records continue ``expected_version`` without gaps."""
    for offset, record in enumerate(records, start=1):
        if record.sequence != expected_version + offset:
            raise ValueError(
                f"record {record.command!r} has sequence {record.sequence}, expected "
                f"{expected_version + offset}"
            )


def record_body(record: CommandRecord) -> str:
    """The JSON an adapter stores beside a record's sequence, time and command."""
    return json.dumps(
        {"arguments": _thaw(record.arguments), "ids": list(record.ids), "summary": record.summary},
        separators=(",", ":"),
    )


def record_from_row(
    location: str, sequence: int, at: str, command: str, body: str
) -> CommandRecord:
    """Rebuild a record from an adapter's row; :class:`StorageError` if the row is damaged."""
    try:
        data = json.loads(body)
        when = datetime.fromisoformat(at)
        if when.tzinfo is None or not isinstance(data, dict):
            raise ValueError("not an aware time and a JSON object")
        arguments = data["arguments"]
        ids = data["ids"]
        summary = data["summary"]
        if not isinstance(arguments, dict) or not isinstance(summary, str):
            raise ValueError("arguments must be an object and summary a string")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError("ids must be a list of strings")
    except (ValueError, KeyError, TypeError) as exc:
        raise StorageError(location, f"record {sequence} is damaged: {exc}") from None
    return CommandRecord(sequence, when, command, arguments, tuple(ids), summary)


def _thaw(value: Any) -> Any:
    if isinstance(value, FrozenMap):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_thaw(v) for v in value]
    return value


#: The name and version of the layout the adapters write; a store of another name is foreign,
#: one of a higher version is newer than this library reads.
STORE_FORMAT = "restate-versioning/store"
STORE_FORMAT_VERSION = 1


def check_meta(location: str, meta: Mapping[str, object], where: str = "") -> None:
    """The one check of a store's meta data: our format, of a version this library reads.
    Raises :class:`StorageError` naming the problem (``where`` says which table holds it)."""
    place = f" in {where}" if where else ""
    if meta.get("format") != STORE_FORMAT:
        raise StorageError(location, f"a foreign store of format {meta.get('format')!r}{place}")
    version = meta.get("version")
    if not isinstance(version, str) or not version.isdigit():
        raise StorageError(location, f"a damaged format version {version!r}{place}")
    if int(version) > STORE_FORMAT_VERSION:
        raise StorageError(
            location,
            f"store format version {version!r}{place} is newer than this library reads "
            f"({STORE_FORMAT_VERSION})",
        )
