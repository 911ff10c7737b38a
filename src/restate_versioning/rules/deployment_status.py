"""A deployment's status, as the ``restate`` CLI computes it (docs/rules.md, "Deployment
status").

* ``ACTIVE``: it holds the latest revision of at least one of its services;
* else ``DRAINING``: invocations pinned to it are not completed yet;
* else ``DRAINED``: nothing routes to it and nothing runs on it.
"""

from __future__ import annotations

from ..model import DeploymentStatus

__all__ = ["deployment_status"]


def deployment_status(latest_services_held: int, in_flight_pinned: int) -> DeploymentStatus:
    """The status from two counts the registry keeps up to date: how many services have their
    latest revision in the deployment, and how many started, uncompleted invocations are pinned
    to it."""
    if latest_services_held > 0:
        return DeploymentStatus.ACTIVE
    if in_flight_pinned > 0:
        return DeploymentStatus.DRAINING
    return DeploymentStatus.DRAINED
