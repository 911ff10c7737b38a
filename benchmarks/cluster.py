"""Reading a live cluster: ``AdminClient.load()`` of a cluster's admin API answers, served from
loopback.

The answers are what restate-server 1.7.12 answers for a cluster of N deployments (three
services each, from a thousand names, so most deployments hold older revisions and are asked
for one by one, as the server makes a client do) and M running invocations: ``GET
/deployments``, ``GET /services``, ``GET /deployments/{id}`` and the ``POST /query`` rows, made
from a registry by the library's admin views. A forked child serves them over HTTP/1.1 on
127.0.0.1 (its own process: the server does not share the measured client's interpreter).
"""

from __future__ import annotations

import json
import multiprocessing
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from typing import Any

from restate_versioning import Registry, SequentialIds
from restate_versioning.admin import AdminClient
from restate_versioning.serialization import admin_deployment, admin_deployments, admin_services

SERVICE_NAMES = tuple(f"Svc{i:04d}" for i in range(1000))
Answers = dict[tuple[str, str], bytes]


def _time(moment: Any) -> str:
    return str(moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"))


def cluster_registry(deployments: int, invocations: int) -> Registry:
    """The cluster as a registry: ``deployments`` of three services each, ``invocations``
    running calls spread over the services."""
    registry = Registry(ids=SequentialIds())
    for n in range(deployments):
        names = (SERVICE_NAMES[(n * 3 + j) % 1000] for j in range(3))
        services = [
            {"name": name, "ty": "SERVICE", "handlers": [{"name": "run"}]} for name in names
        ]
        manifest = {
            "protocolMode": "BIDI_STREAM",
            "minProtocolVersion": 5,
            "maxProtocolVersion": 6,
            "services": services,
        }
        registry.register(f"http://127.0.0.1:9000/{n}", manifest)
    served = min(len(SERVICE_NAMES), 3 * deployments)  # the services some deployment serves
    for n in range(invocations):
        registry.invoke(SERVICE_NAMES[n % served], "run")
    return registry


def cluster_answers(deployments: int, invocations: int) -> Answers:
    """What the admin API answers for the cluster, by method and path."""
    registry = cluster_registry(deployments, invocations)
    rows = []
    for call in registry.invocations():
        rows.append(
            {
                "id": call.id,
                "target": f"{call.service}/run",
                "target_service_name": call.service,
                "target_handler_name": "run",
                "target_service_ty": "service",
                "status": "running",
                "pinned_deployment_id": call.pinned_deployment_id,
                "pinned_service_protocol_version": call.pinned_protocol_version,
                "created_at": _time(call.created_at),
                "running_at": _time(call.created_at),
            }
        )
    answers: Answers = {
        ("GET", "/deployments"): json.dumps(admin_deployments(registry)).encode(),
        ("GET", "/services"): json.dumps(admin_services(registry)).encode(),
        ("POST", "/query"): json.dumps({"rows": rows}).encode(),
    }
    for deployment in registry.deployments():
        answers[("GET", f"/deployments/{deployment.id}")] = json.dumps(
            admin_deployment(registry, deployment.id)
        ).encode()
    return answers


def _serve(answers: Answers, port: Connection) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # one answer is not held back for the next ACK

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            body = answers.get((method, self.path))
            self.send_response(200 if body is not None else 404)
            body = body if body is not None else b'{"message":"not found","restate_code":null}'
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port.send(server.server_address[1])
    server.serve_forever()


@contextmanager
def served(answers: Answers) -> Iterator[str]:
    """The admin URL of a forked child serving ``answers``; the child is stopped at the end."""
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(target=_serve, args=(answers, sending), daemon=True)
    child.start()
    try:
        if not receiving.poll(30):
            raise RuntimeError("the admin API child did not start")
        yield f"http://127.0.0.1:{receiving.recv()}"
    finally:
        child.terminate()
        child.join(10)


def measure_load(deployments: int, invocations: int, repeats: int) -> tuple[float, float]:
    """The best time of ``AdminClient.load()`` (seconds) and the peak of the memory it
    allocates while it loads (MiB, tracemalloc, in a separate load)."""
    answers = cluster_answers(deployments, invocations)
    with served(answers) as url:
        client = AdminClient(url, timeout=120)
        loaded = client.load()
        if len(list(loaded.invocations())) != invocations:
            raise RuntimeError("the loaded cluster does not hold every invocation")
        del loaded
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            client.load()
            best = min(best, time.perf_counter() - start)
        tracemalloc.start()
        try:
            kept = client.load()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        del kept
    return best, peak / 2**20
