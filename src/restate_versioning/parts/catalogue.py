"""The catalogue: the part of a registry that keeps its deployments and their revisions.

It holds every registered deployment, which deployment each endpoint is, which deployment holds
each revision of each service, the latest revision of each service (and how many services each
deployment is the latest for, which its status needs), and the ids of removed deployments. It
is the :class:`~restate_versioning.rules.catalogue.CatalogueView` the planners read. What a
registration (docs/rules.md, "Registering") or a removal (docs/rules.md, "Removing") does is
decided by :mod:`restate_versioning.rules`; the catalogue applies the outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from ..endpoints import parse_endpoint
from ..model import Deployment, ServiceRevision
from ..rules.callers import calls_from_metadata, declaring_caller
from ..rules.invocations import pinned_protocol_version

__all__ = ["Catalogue"]


class Catalogue:
    """Deployments by id and by endpoint, revisions by service, the latest of each service."""

    __slots__ = (
        "_by_endpoint",
        "_called_by",
        "_deployments",
        "_held",
        "_latest",
        "_protocols",
        "_removed",
        "_revisions",
        "latest",
        "pinned_protocol",
    )

    def __init__(self) -> None:
        self._deployments: dict[str, Deployment] = {}  # in the order they were created
        self._by_endpoint: dict[str, str] = {}  # endpoint key -> deployment
        self._revisions: dict[str, dict[int, str]] = {}  # service -> revision -> deployment
        self._latest: dict[str, ServiceRevision] = {}
        #: The latest revision of every service, read-only (it follows the catalogue).
        self.latest: Mapping[str, ServiceRevision] = MappingProxyType(self._latest)
        self._held: dict[str, int] = {}  # deployment -> services it is the latest for
        self._removed: set[str] = set()
        # service -> the services whose latest revision declares they call it
        self._called_by: dict[str, dict[str, None]] = {}
        self._protocols: dict[str, int] = {}  # deployment -> the version calls are pinned to
        #: The protocol version a call that starts on a registered deployment is pinned to
        #: (:func:`~restate_versioning.rules.invocations.pinned_protocol_version`, worked out
        #: once per deployment), or ``None``.
        self.pinned_protocol: Callable[[str], int | None] = self._protocols.get

    @classmethod
    def build(cls, deployments: Iterable[Deployment], removed: Iterable[str]) -> Catalogue:
        """The catalogue of a snapshot's deployments (in the order they were created) and
        removed ids. An endpoint kept with credentials (by a version before they were
        redacted) is kept redacted."""
        catalogue = cls()
        for deployment in deployments:
            endpoint = parse_endpoint(deployment.endpoint)
            if endpoint.text != deployment.endpoint:
                deployment = attrs.evolve(deployment, endpoint=endpoint.text)
            catalogue._index(deployment)
            catalogue._by_endpoint[endpoint.key] = deployment.id
        catalogue._removed = set(removed)
        return catalogue

    # --- what it holds --------------------------------------------------------------------

    def __getitem__(self, deployment_id: str) -> Deployment:
        return self._deployments[deployment_id]

    def __contains__(self, deployment_id: object) -> bool:
        return deployment_id in self._deployments

    def deployments(self) -> tuple[Deployment, ...]:
        """Every registered deployment, in the order they were created."""
        return tuple(self._deployments.values())

    def deployment_ids(self) -> tuple[str, ...]:
        """The id of every registered deployment, in the order they were created."""
        return tuple(self._deployments)

    def at(self, endpoint_key: str) -> Deployment | None:
        """The deployment registered at an endpoint (by its :attr:`Endpoint.key`), if any."""
        deployment_id = self._by_endpoint.get(endpoint_key)
        return self._deployments[deployment_id] if deployment_id is not None else None

    def latest_held(self, deployment_id: str) -> int | None:
        """How many services a registered deployment holds the latest revision of; ``None``
        for one that is not registered."""
        return self._held.get(deployment_id)

    def was_removed(self, deployment_id: str) -> bool:
        """Whether a deployment with this id was registered and removed."""
        return deployment_id in self._removed

    def removed(self) -> tuple[str, ...]:
        """The ids of the removed deployments, sorted."""
        return tuple(sorted(self._removed))

    def knows(self, deployment_id: str) -> bool:
        """Whether the id is taken: registered now, or removed."""
        return deployment_id in self._deployments or deployment_id in self._removed

    def revisions(self, service: str) -> tuple[ServiceRevision, ...]:
        """Every revision of ``service`` still held by a deployment, oldest first."""
        held = self._revisions.get(service, {})
        return tuple(self._deployments[held[r]].services[service] for r in sorted(held))

    def history(self, service: str) -> Iterator[ServiceRevision]:
        """Every revision of ``service`` still held by a deployment, newest first."""
        held = self._revisions.get(service, {})
        for revision in sorted(held, reverse=True):
            yield self._deployments[held[revision]].services[service]

    def fallback(self, service: str, excluded_deployment_id: str) -> ServiceRevision | None:
        """The highest revision of ``service`` outside one deployment."""
        held = self._revisions.get(service, {})
        best: int | None = None
        for revision, deployment_id in held.items():
            if deployment_id != excluded_deployment_id and (best is None or revision > best):
                best = revision
        if best is None:
            return None
        return self._deployments[held[best]].services[service]

    # --- updates ----------------------------------------------------------------------------

    def put(self, deployment: Deployment, endpoint_key: str, replacing: Deployment | None) -> None:
        """A registration made ``deployment`` at the endpoint, in place of ``replacing`` (a
        forced registration of a known endpoint): its revisions are held, and each becomes
        the latest of its service when it is the highest."""
        if replacing is not None:
            self._unindex(replacing)
        self._index(deployment)
        self._by_endpoint[endpoint_key] = deployment.id

    def move(self, old: Deployment, moved: Deployment, endpoint_key: str) -> None:
        """A deployment moved to another address, with the same revisions."""
        old_key = parse_endpoint(old.endpoint).key
        if self._by_endpoint.get(old_key) == old.id:
            del self._by_endpoint[old_key]
        self.put(moved, endpoint_key, old)

    def drop(self, deployment: Deployment) -> None:
        """Remove a deployment: each service it held the latest revision of falls back to
        the highest revision left elsewhere, or has none; its id stays taken."""
        self._unindex(deployment)
        key = parse_endpoint(deployment.endpoint).key
        if self._by_endpoint.get(key) == deployment.id:
            del self._by_endpoint[key]
        self._removed.add(deployment.id)

    def set_public(self, name: str, public: bool) -> ServiceRevision:
        """The latest revision of ``name`` (which has one), made public or private."""
        return self.modify(name, public=public)

    def modify(self, name: str, **changes: Any) -> ServiceRevision:
        """The latest revision of ``name`` (which has one), with ``changes`` (its fields)."""
        current = self._latest[name]
        updated = attrs.evolve(current, **changes)
        deployment = self._deployments[current.deployment_id]
        self._deployments[deployment.id] = attrs.evolve(
            deployment, services=deployment.services.replace(name, updated)
        )
        self._latest[name] = updated
        return updated

    def declared_callers(self, service: str) -> tuple[str, ...]:
        """The callers the latest revisions declare of ``service``, as ``"Caller/*"``, sorted
        (see :mod:`restate_versioning.rules.callers`)."""
        return tuple(declaring_caller(c) for c in sorted(self._called_by.get(service, ())))

    def _set_latest(self, name: str, revision: ServiceRevision | None) -> None:
        old = self._latest.get(name)
        if old is not None:
            self._held[old.deployment_id] -= 1
            for target in calls_from_metadata(old.metadata):
                callers = self._called_by[target]
                del callers[name]
                if not callers:
                    del self._called_by[target]
        if revision is None:
            self._latest.pop(name, None)
        else:
            self._latest[name] = revision
            self._held[revision.deployment_id] += 1
            for target in calls_from_metadata(revision.metadata):
                self._called_by.setdefault(target, {})[name] = None

    def _index(self, deployment: Deployment) -> None:
        self._deployments[deployment.id] = deployment
        self._protocols[deployment.id] = pinned_protocol_version(deployment)
        self._held.setdefault(deployment.id, 0)
        for name, revision in deployment.services.items():
            self._revisions.setdefault(name, {})[revision.revision] = deployment.id
            current = self._latest.get(name)
            if current is None or revision.revision > current.revision:
                self._set_latest(name, revision)

    def _unindex(self, deployment: Deployment) -> None:
        del self._deployments[deployment.id]
        for name, revision in deployment.services.items():
            revisions = self._revisions[name]
            del revisions[revision.revision]
            if self._latest[name].deployment_id == deployment.id:
                self._set_latest(name, self.fallback(name, deployment.id))
            if not revisions:
                del self._revisions[name]
        del self._held[deployment.id]
        del self._protocols[deployment.id]

    # --- self-check -------------------------------------------------------------------------

    def problems(self) -> tuple[str, ...]:
        """Every way the indexes differ from a recount from the deployments: the revisions
        held, the latest revisions, how many each deployment holds, the endpoints. (What a
        snapshot of them must satisfy, duplicate ids and endpoints among them, is
        :func:`~restate_versioning.snapshot.snapshot_problems`'.)"""
        deployments = self._deployments
        revisions: dict[str, dict[int, str]] = {}
        for deployment in deployments.values():
            for name, revision in deployment.services.items():
                revisions.setdefault(name, {})[revision.revision] = deployment.id
        latest = {
            name: deployments[found[max(found)]].services[name] for name, found in revisions.items()
        }
        held = dict.fromkeys(deployments, 0)
        for revision in latest.values():
            held[revision.deployment_id] += 1
        endpoints = {parse_endpoint(d.endpoint).key: d.id for d in deployments.values()}
        protocols = {d.id: pinned_protocol_version(d) for d in deployments.values()}
        called_by: dict[str, set[str]] = {}
        for name, revision in latest.items():
            for target in calls_from_metadata(revision.metadata):
                called_by.setdefault(target, set()).add(name)
        expected: list[tuple[str, object, object]] = [
            ("revisions", revisions, self._revisions),
            ("pinned protocol versions", protocols, self._protocols),
            ("declared callers", called_by, {t: set(c) for t, c in self._called_by.items()}),
            ("latest revisions", latest, self._latest),
            ("latest revisions held", held, self._held),
            ("endpoints", endpoints, self._by_endpoint),
        ]
        return tuple(
            f"{name}: recounted {recounted!r}, kept {kept!r}"
            for name, recounted, kept in expected
            if recounted != kept
        )
