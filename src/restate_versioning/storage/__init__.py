"""Keeping a registry: the :class:`Storage` contract, its adapters, and :class:`StoredRegistry`.

* :class:`MemoryStorage` — in memory, the default for tests and harnesses;
* :class:`SQLiteStorage` — one SQLite file, the embedded default for anything that must survive
  a restart;
* ``restate_versioning.storage.postgres.PostgresStorage`` — PostgreSQL, for one registry shared
  by many processes and machines (needs the ``postgres`` extra: psycopg 3).

Every adapter passes the same conformance kit, ``restate_versioning.testing.check_storage``.
"""

from __future__ import annotations

from .base import CommandRecord as CommandRecord
from .base import Snapshot as Snapshot
from .base import Storage as Storage
from .base import StoredState as StoredState
from .memory import MemoryStorage as MemoryStorage
from .sqlite import SQLiteStorage as SQLiteStorage
from .stored import StoredRegistry as StoredRegistry

__all__ = [
    "CommandRecord",
    "MemoryStorage",
    "SQLiteStorage",
    "Snapshot",
    "Storage",
    "StoredRegistry",
    "StoredState",
]
