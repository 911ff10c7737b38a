"""The in-memory store: the default, for tests and harnesses. Nothing survives the process."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ..errors import ConcurrentModification, StorageError
from .base import CommandRecord, Snapshot, StoredState, check_sequences

__all__ = ["MemoryStorage"]


class MemoryStorage:
    """A :class:`~restate_versioning.storage.Storage` in a list. Safe to share between
    threads (and so between several registries of one process)."""

    def __init__(self) -> None:
        #: How messages name this store.
        self.location = "memory"
        self._lock = threading.Lock()
        self._records: list[CommandRecord] = []
        self._snapshot: Snapshot | None = None
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("memory", "the store is closed")

    def load(self) -> StoredState:
        with self._lock:
            self._check_open()
            after = self._snapshot.version if self._snapshot is not None else 0
            return StoredState(self._snapshot, tuple(self._records[after:]))

    def read(self, after: int) -> tuple[CommandRecord, ...]:
        with self._lock:
            self._check_open()
            return tuple(self._records[max(after, 0) :])

    def append(self, records: Sequence[CommandRecord], expected_version: int) -> int:
        check_sequences(records, expected_version)
        with self._lock:
            self._check_open()
            if len(self._records) != expected_version:
                raise ConcurrentModification(expected_version, len(self._records))
            self._records.extend(records)
            return len(self._records)

    def save_snapshot(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._check_open()
            if snapshot.version > len(self._records):
                raise ValueError(f"cannot snapshot version {snapshot.version}: not committed")
            if self._snapshot is None or snapshot.version >= self._snapshot.version:
                self._snapshot = snapshot

    def history(self, after: int = 0, limit: int | None = None) -> tuple[CommandRecord, ...]:
        with self._lock:
            self._check_open()
            end = None if limit is None else max(after, 0) + limit
            return tuple(self._records[max(after, 0) : end])

    def close(self) -> None:
        self._closed = True
