"""The parts a :class:`~restate_versioning.Registry` is made of: each owns its state, offers
the updates the commands need, rebuilds itself from a snapshot (``build``) and checks itself
(``problems``); the registry is the facade over them and :meth:`Registry.verify
<restate_versioning.Registry.verify>` the sum of their problems."""

from __future__ import annotations

from .callers import CallGraph

__all__ = ["CallGraph"]
