"""The parts a :class:`~restate_versioning.Registry` is made of: each owns its state, offers
the updates the commands need, rebuilds itself from a snapshot (``build``) and checks itself
(``problems``); the registry is the facade over them and :meth:`Registry.verify
<restate_versioning.Registry.verify>` the sum of their problems.

* :mod:`.catalogue` — deployments, endpoints, revisions, the latest revision of each service.
* :mod:`.invocations` — invocations, and the indexes by deployment, service, handler, status
  and sender.
* :mod:`.keys` — who holds each key, who waits for it, workflow runs, delayed calls.
* :mod:`.callers` — who calls whom, recorded and declared.
"""

from __future__ import annotations

from .callers import CallGraph
from .catalogue import Catalogue
from .invocations import InvocationIndex
from .keys import KeyQueues, Lock

__all__ = ["CallGraph", "Catalogue", "InvocationIndex", "KeyQueues", "Lock"]
