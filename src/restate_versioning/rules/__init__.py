"""The versioning rules, each in one module, as data where they can be.

* :mod:`.manifest` — what makes a manifest registrable (names, reserved names, handler types per
  service type, protocol versions) (docs/rules.md, "What makes a manifest registrable").
* :mod:`.registration` — outcome, revision bumping, ``force``, ``breaking``, the service-type
  check, public reset (docs/rules.md, "Registering").
* :mod:`.invocations` — the invocation status transition table, queueing per key, workflow runs,
  pinning and the ingress check (docs/rules.md, "Routing and pinning").
* :mod:`.ingress` — what the ingress checks of a request before a call exists: the path's
  shape, the input rules of a handler (docs/rules.md, "What the ingress refuses").
* :mod:`.deployment_status` — Active / Draining / Drained (docs/rules.md, "Deployment status").
* :mod:`.removal` — when removing a deployment is safe, and what it does (docs/rules.md,
  "Removing").
* :mod:`.callers` — the calls a manifest declares, which removal plans count (docs/rules.md,
  "Calls a manifest declares").
* :mod:`.catalogue` — what the planners read of a registry's deployments (a read-only view).

The :class:`~restate_versioning.Registry` holds the state and applies these rules.
"""

from . import (
    callers,
    catalogue,
    deployment_status,
    ingress,
    invocations,
    manifest,
    registration,
    removal,
)

__all__ = [
    "callers",
    "catalogue",
    "deployment_status",
    "ingress",
    "invocations",
    "manifest",
    "registration",
    "removal",
]
