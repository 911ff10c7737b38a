"""Tools for testing code that uses this library, and for testing adapters of its protocols.

* :func:`check_storage` — the conformance kit every :class:`~restate_versioning.storage.Storage`
  adapter must pass (no test framework needed).
"""

from __future__ import annotations

from .storage import check_storage as check_storage

__all__ = ["check_storage"]
