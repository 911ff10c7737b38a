"""Serving the model as Restate's admin API: :class:`~restate_versioning.server.AdminServer`
on the cluster of :mod:`benchmarks.cluster` (a thousand deployments, a hundred thousand running
calls), asked over loopback by a client in the same process.

* start: from ``AdminServer(registry)`` to the first answered ``GET /health``;
* ``GET /services``: the whole answer, on a kept-alive connection, right after a change (the
  answer is made again) and with nothing changed (the answer made for this state);
* ``services status``: the query the ``restate`` CLI sends for it (counts per handler and
  status, over ``sys_invocation``), right after a change to the registry, so the tables are
  built again for it (the cold case), and again with nothing changed (the warm case).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from restate_versioning import Registry
from restate_versioning.server import AdminServer

from .cluster import SERVICE_NAMES, cluster_registry

#: The query ``restate services status`` sends for its counts (restate CLI 1.7.12), verbatim
#: but for the service names.
SERVICES_STATUS = (
    "\n            SELECT\n                target_service_name,\n"
    "                target_handler_name,\n"
    "                status,\n                COUNT(1) as num_invocations,\n"
    "                MIN(created_at) as oldest_at,\n"
    "                FIRST_VALUE(id ORDER BY created_at ASC) as oldest_invocation\n"
    "            FROM sys_invocation\n            WHERE target_service_name IN ({names})\n"
    "            GROUP BY target_service_name, target_handler_name, status\n"
    "            ORDER BY target_handler_name"
)


def _best(repeats: int, run: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def measure_served(deployments: int, invocations: int, repeats: int) -> dict[str, float]:
    """Seconds, best of ``repeats``: ``start``, ``services cold`` and ``services warm``
    (``GET /services``), ``status cold`` and ``status warm`` (the ``services status``
    query)."""
    registry = cluster_registry(deployments, invocations)
    starts = []
    for _ in range(repeats):
        begun = time.perf_counter()
        with AdminServer(registry) as server:
            answer = httpx.get(f"{server.admin_url}/health")
            starts.append(time.perf_counter() - begun)
            assert answer.status_code == 200
    names = ",".join(f"'{n}'" for n in SERVICE_NAMES[: min(1000, 3 * deployments)])
    query = {"query": SERVICES_STATUS.format(names=names)}
    json_rows = {"accept": "application/json"}
    with AdminServer(registry) as server, httpx.Client(timeout=60) as client:
        url = server.admin_url

        def services() -> None:
            answer = client.get(f"{url}/services")
            assert answer.status_code == 200
            assert len(answer.json()["services"]) > 0

        def status() -> None:
            answer = client.post(f"{url}/query", json=query, headers=json_rows)
            assert answer.status_code == 200, answer.text
            assert sum(r["num_invocations"] for r in answer.json()["rows"]) == invocations

        def status_after_a_change() -> None:
            with server.served.lock:
                _touch(registry)
            status()

        def services_after_a_change() -> None:
            with server.served.lock:
                _touch(registry)
            services()

        return {
            "start": min(starts),
            "services cold": _best(repeats, services_after_a_change),
            "services warm": _best(repeats, services),
            "status cold": _best(repeats, status_after_a_change),
            "status warm": _best(repeats, status),
        }


def _touch(registry: Registry) -> None:
    """A change that moves nothing the query counts: a service made public again."""
    name = registry.services()[0].name
    registry.set_public(name, False)
    registry.set_public(name, True)
