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

Damage is detected: every stored record carries a checksum over everything it holds (its
sequence, time, command and body) and every snapshot one over its version and state, both
verified whenever they are read back; the body is read as strict JSON (:mod:`.._json`). A
record or snapshot that fails any of this is a :class:`StorageError` naming the store and the
record's sequence (or the snapshot's version), never another exception and never a different
state. This goes further than the Restate server, which keeps no journal of its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from .. import _json
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
    "check_snapshot_version",
    "encode_record",
    "record_body",
    "record_checksum",
    "record_from_row",
    "snapshot_checksum",
    "snapshot_from_row",
    "upgrade_checksums",
]


@attrs.frozen
class CommandRecord:
    """One committed command: ``command`` is the name of its method, ``arguments`` its fields
    as JSON values, in the format ``journal`` says (see
    :data:`~restate_versioning.serialization.JOURNAL_FORMAT`; 1, the default, is what earlier
    releases wrote); ``ids`` the ids it generated, in order; ``summary`` says what it did, for
    people reading the history."""

    sequence: int
    at: datetime
    command: str
    arguments: FrozenMap[str, Any] = attrs.field(converter=freeze)
    ids: tuple[str, ...] = ()
    summary: str = ""
    journal: int = 1


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
    * ``read(after)`` returns every record with ``sequence > after``, in order. A record
      comes back equal to the one appended: every field, its ``journal`` format too.
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
      So does a damaged record or snapshot when it is read (adapters that keep records outside
      the process verify a checksum of each), and a snapshot of a version beyond the last
      record.
    * Any other failure of the store (a lock held past the adapter's timeout, a full disk, an
      I/O error, a lost connection, a record whose arguments are not JSON) raises
      :class:`~restate_versioning.StorageError` naming the store, never the driver's own
      exception. An append that raised is not known to have written nothing (a connection
      lost during the commit may have committed): the writer must treat the store as the
      truth and read it again, as :class:`StoredRegistry` does.
    * ``close()`` releases the store; using it afterwards is an error.

    An adapter may have a ``location`` attribute (a ``str``): how messages name the store
    (the built-in adapters do; a password is never part of it).
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
    """The JSON an adapter stores beside a record's sequence, time and command. Raises
    ``ValueError`` (a :class:`.._json.JsonError`) if the arguments are not JSON values that
    :func:`record_from_row` would read back (a ``NaN``, an object, nesting past 127 levels)."""
    body: dict[str, Any] = {
        "arguments": _thaw(record.arguments),
        "ids": list(record.ids),
        "summary": record.summary,
    }
    if record.journal != 1:  # left out for format 1, so earlier records keep their body
        if type(record.journal) is not int:
            raise ValueError(f"the journal format {record.journal!r} is not an int")
        body["journal"] = record.journal
    _json.check_value(body, "$")
    return json.dumps(body, separators=(",", ":"), allow_nan=False)


def record_checksum(sequence: int, at: str, command: str, body: str) -> str:
    """The checksum kept with a record: SHA-256 over all four columns, unambiguously joined."""
    text = json.dumps([sequence, at, command, body], separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def snapshot_checksum(version: int, state: str) -> str:
    """The checksum kept with a snapshot: SHA-256 over its version and its state."""
    digest = hashlib.sha256(f"{version}\n".encode())
    digest.update(state.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def encode_record(location: str, record: CommandRecord) -> tuple[int, str, str, str, str]:
    """The row an adapter stores for ``record``: sequence, time, command, body and checksum;
    :class:`StorageError` naming ``location`` and the record if it cannot be journaled."""
    try:
        if type(record.sequence) is not int or not isinstance(record.command, str):
            raise ValueError("a record needs an int sequence and a str command")
        if record.at.tzinfo is None:
            raise ValueError(f"the time {record.at.isoformat()} is not timezone-aware")
        if not all(isinstance(i, str) for i in record.ids) or not isinstance(record.summary, str):
            raise ValueError("ids and summary must be strings")
        at = record.at.isoformat()
        body = record_body(record)
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise StorageError(
            location,
            f"record {record.sequence!r} ({record.command!r}) cannot be journaled: {exc}",
        ) from None
    return (
        record.sequence,
        at,
        record.command,
        body,
        record_checksum(record.sequence, at, record.command, body),
    )


def record_from_row(
    location: str, sequence: object, at: object, command: object, body: object, checksum: object
) -> CommandRecord:
    """Rebuild a record from an adapter's row, checking its checksum and reading its body as
    strict JSON; :class:`StorageError` naming ``location`` and the sequence if it is damaged."""
    try:
        if type(sequence) is not int:
            raise ValueError(f"its sequence {sequence!r} is not an integer")
        if not isinstance(at, str) or not isinstance(command, str) or not isinstance(body, str):
            raise ValueError("its time, command and body must be text")
        if not isinstance(checksum, str) or not checksum:
            raise ValueError("it has no checksum")
        if record_checksum(sequence, at, command, body) != checksum:
            raise ValueError("its checksum does not match its content")
        data = _json.loads(body)
        when = datetime.fromisoformat(at)
        if when.tzinfo is None or not isinstance(data, dict):
            raise ValueError("not an aware time and a JSON object")
        missing = {"arguments", "ids", "summary"} - data.keys()
        if missing:
            raise ValueError(f"its body has no {', '.join(sorted(missing))}")
        arguments = data["arguments"]
        ids = data["ids"]
        summary = data["summary"]
        journal = data.get("journal", 1)
        if type(journal) is not int or journal < 1:
            raise ValueError(f"its journal format {journal!r} is not a positive int")
        if not isinstance(arguments, dict) or not isinstance(summary, str):
            raise ValueError("arguments must be an object and summary a string")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError("ids must be a list of strings")
    except (ValueError, TypeError, OverflowError) as exc:
        raise StorageError(location, f"record {sequence!r} is damaged: {exc}") from None
    return CommandRecord(sequence, when, command, arguments, tuple(ids), summary, journal)


def snapshot_from_row(location: str, version: object, state: object, checksum: object) -> Snapshot:
    """Rebuild a snapshot from an adapter's row, checking its checksum; :class:`StorageError`
    naming ``location`` and the version if it is damaged. (Its state is read by
    :class:`StoredRegistry`.)"""
    if type(version) is not int or not isinstance(state, str):
        raise StorageError(location, f"the snapshot of version {version!r} is damaged")
    if not isinstance(checksum, str) or snapshot_checksum(version, state) != checksum:
        raise StorageError(
            location, f"the snapshot of version {version} is damaged: its checksum does not match"
        )
    return Snapshot(version, state)


def check_snapshot_version(location: str, snapshot: Snapshot | None, last_record: int) -> None:
    """:class:`StorageError` if ``snapshot`` is of a version beyond the store's last record:
    such a snapshot holds state that no record journals."""
    if snapshot is not None and snapshot.version > last_record:
        raise StorageError(
            location,
            f"the snapshot of version {snapshot.version} is newer than the last record "
            f"({last_record})",
        )


def _thaw(value: Any) -> Any:
    if isinstance(value, FrozenMap):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_thaw(v) for v in value]
    return value


#: The name and version of the layout the adapters write; a store of another name is foreign,
#: one of a higher version is newer than this library reads. Version 2 keeps a checksum with
#: every record and snapshot; a store of version 1 is upgraded when it is opened (see the
#: adapters).
STORE_FORMAT = "restate-versioning/store"
STORE_FORMAT_VERSION = 2


def check_meta(location: str, meta: Mapping[str, object], where: str = "") -> int:
    """The one check of a store's meta data: our format, of a version this library reads;
    returns that version. Raises :class:`StorageError` naming the problem (``where`` says which
    table holds it)."""
    place = f" in {where}" if where else ""
    if meta.get("format") != STORE_FORMAT:
        raise StorageError(location, f"a foreign store of format {meta.get('format')!r}{place}")
    version = meta.get("version")
    if not isinstance(version, str) or not (version.isascii() and version.isdigit()):
        raise StorageError(location, f"a damaged format version {version!r}{place}")
    if int(version) > STORE_FORMAT_VERSION:
        raise StorageError(
            location,
            f"store format version {version!r}{place} is newer than this library reads "
            f"({STORE_FORMAT_VERSION})",
        )
    if int(version) < 1:
        raise StorageError(location, f"a damaged format version {version!r}{place}")
    return int(version)


def upgrade_checksums(
    location: str, rows: Sequence[tuple[object, object, object, object]]
) -> list[tuple[str, int]]:
    """For upgrading a store of format 1: the checksum of each of its record rows (sequence,
    time, command, body), as ``(checksum, sequence)`` pairs. Every row is read back first, so a
    damaged store raises :class:`StorageError` and is not upgraded."""
    out = []
    for sequence, at, command, body in rows:
        if not (type(sequence) is int and isinstance(at, str) and isinstance(command, str)):
            raise StorageError(location, f"record {sequence!r} is damaged: not an upgradable row")
        if not isinstance(body, str):
            raise StorageError(location, f"record {sequence!r} is damaged: its body is not text")
        checksum = record_checksum(sequence, at, command, body)
        record_from_row(location, sequence, at, command, body, checksum)
        out.append((checksum, sequence))
    return out
