"""What the planners read of a registry's deployments: a read-only view of its catalogue.

:func:`~restate_versioning.rules.registration.plan_registration` and
:func:`~restate_versioning.rules.removal.plan_removal` decide from the latest revision of each
service and the revisions held besides it; :class:`CatalogueView` is what they may ask, and
nothing that changes anything. The registry's catalogue
(:class:`restate_versioning.parts.Catalogue`) is one; a tool planning from another source (a
live cluster's admin API, a test's table) can pass its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from ..model import ServiceRevision

__all__ = ["CatalogueView"]


class CatalogueView(Protocol):
    """The deployments' revisions, read-only."""

    @property
    def latest(self) -> Mapping[str, ServiceRevision]:
        """The latest revision of every service that has one."""

    def fallback(self, service: str, excluded_deployment_id: str) -> ServiceRevision | None:
        """The highest revision of ``service`` held by a deployment other than
        ``excluded_deployment_id``: what becomes the latest when that one goes."""

    def history(self, service: str) -> Iterable[ServiceRevision]:
        """Every revision of ``service`` still held by a deployment, newest first."""
