"""Tools for testing code that uses this library, and for testing adapters of its protocols.

* :func:`check_storage` — the conformance kit every :class:`~restate_versioning.storage.Storage`
  adapter must pass (no test framework needed).
* :mod:`.strategies` and :mod:`.machine` (the ``testing`` extra: Hypothesis) — strategies for
  names, manifests, endpoints and command sequences, and ``VersioningMachine``, a state machine
  that checks the versioning invariants after every step; subclass it to add your own.
* :mod:`.plugin` — the pytest plugin: ``registry`` and ``versioning_clock`` fixtures.
"""

from __future__ import annotations

from .storage import check_storage as check_storage

__all__ = ["check_storage"]
