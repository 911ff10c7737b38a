"""The versioning rules, each in one module, as data where they can be.

* :mod:`.manifest` — what makes a manifest registrable (names, reserved names, handler types per
  service type, protocol versions) — RESTATE_RULES §2.6.
* :mod:`.registration` — outcome, revision bumping, ``force``, ``breaking``, the service-type
  check, public reset — RESTATE_RULES §2.1-2.5, §2.7.
* :mod:`.invocations` — the invocation status transition table, queueing per key, workflow runs,
  pinning and the ingress check — RESTATE_RULES §3.
* :mod:`.deployment_status` — Active / Draining / Drained — RESTATE_RULES §5.4.
* :mod:`.removal` — when removing a deployment is safe, and what it does — RESTATE_RULES §5.

The :class:`~restate_versioning.Registry` holds the state and applies these rules.
"""

from . import deployment_status, invocations, manifest, registration, removal

__all__ = ["deployment_status", "invocations", "manifest", "registration", "removal"]
