"""Credentials in an endpoint (``http://user:secret@host/``): the model never keeps the secret.

What restate-server 1.7.12 does with such an endpoint is pinned here against a real server: it
keeps the URI with its credentials, shows them in ``GET /deployments``, compares them as part of
the authority (case-insensitively), and sends no ``Authorization`` header to discovery. The model
goes further: it keeps, journals, snapshots and shows the endpoint redacted (``***@``), so two
spellings that differ only in credentials are one deployment.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from restate_versioning import (
    InvalidEndpoint,
    ManualClock,
    Outcome,
    Registry,
    SequentialIds,
    VersioningError,
    views,
)
from restate_versioning.serialization import admin_deployments, admin_services, dumps, loads

from .helpers import SDK_MANIFEST, manifest, service

if TYPE_CHECKING:
    from .restate_server import RestateServer

SECRET = "s3cr3t-Pa55"
WITH_CREDENTIALS = f"http://operator:{SECRET}@127.0.0.1:9081/"


def _everything_shown(registry: Registry) -> str:
    """Every text the model shows or stores for a registry: its snapshot, the admin views and
    every CLI table."""
    deployment_ids = [d.id for d in registry.deployments()]
    texts = [
        dumps(registry),
        json.dumps(admin_deployments(registry)),
        json.dumps(admin_services(registry)),
        views.render_deployments_list(views.deployments_list(registry)),
        views.render_services_list(views.services_list(registry)),
        views.render_services_status(views.services_status(registry)),
        views.render_invocations(tuple(registry.invocations())),
        repr(registry.snapshot()),
    ]
    for deployment_id in deployment_ids:
        texts.append(
            views.render_deployment_description(views.describe_deployment(registry, deployment_id))
        )
        texts.append(views.render_removal_plan(registry.removal_plan(deployment_id)))
    return "\n".join(texts)


def _errors(registry: Registry) -> list[VersioningError]:
    """The errors of commands that quote an endpoint with credentials."""
    found: list[VersioningError] = []
    attempts: list[Any] = [
        lambda: registry.register(f"http://operator:{SECRET}@127.0.0.1:port/", manifest()),
        lambda: registry.register(f"ftp://operator:{SECRET}@127.0.0.1/", manifest()),
        lambda: registry.register(f"operator:{SECRET}@127.0.0.1:9082", manifest()),
        lambda: registry.register(f"http://operator:{SECRET}@127.0.0.1:9083/", "{not json"),
        lambda: registry.register(
            f"http://operator:{SECRET}@127.0.0.1:9084/", manifest(service("Greeter", "WORKFLOW"))
        ),
        lambda: registry.find_deployment(f"http://operator:{SECRET}@127.0.0.1:9081/ x"),
    ]
    for attempt in attempts:
        try:
            attempt()
        except VersioningError as exc:
            found.append(exc)
    return found


def test_a_registered_endpoint_with_credentials_keeps_no_secret(
    versioning_clock: ManualClock,
) -> None:
    """Registering ``http://operator:secret@...``: the deployment's endpoint is
    ``http://***@...``, and the secret appears nowhere, neither in ``dumps(registry)``, nor in
    the views, nor in the text or attributes of any error about such an endpoint."""
    registry = Registry(clock=versioning_clock, ids=SequentialIds())
    created = registry.register(WITH_CREDENTIALS, manifest(service("Greeter")))
    assert created.deployment.endpoint == "http://***@127.0.0.1:9081/"
    call = registry.invoke("Greeter", "greet")
    registry.register("http://127.0.0.1:9085/", manifest(service("Greeter")))
    versioning_clock.advance(timedelta(seconds=1))
    assert SECRET not in _everything_shown(registry)
    assert SECRET not in dumps(loads(dumps(registry)))
    before = registry.snapshot()
    errors = _errors(registry)
    assert len(errors) == 6
    for error in errors:
        assert SECRET not in str(error)
        assert SECRET not in repr(vars(error))
    assert registry.snapshot() == before
    registry.complete(call.id)


def test_credentials_do_not_make_another_deployment() -> None:
    """Another user or password at the same host and path is the same deployment, UNCHANGED
    without force; an endpoint without credentials is another one."""
    registry = Registry(ids=SequentialIds())
    first = registry.register(WITH_CREDENTIALS, manifest(service("Greeter")))
    again = registry.register("http://admin:other@127.0.0.1:9081", manifest(service("Greeter")))
    assert (again.outcome, again.deployment.id) == (Outcome.UNCHANGED, first.deployment.id)
    found = registry.find_deployment(f"http://x:{SECRET}@127.0.0.1:9081/")
    assert found == first.deployment
    plain = registry.register("http://127.0.0.1:9081/", manifest(service("Greeter")))
    assert plain.outcome is Outcome.CREATED


def test_an_invalid_endpoint_error_holds_the_redacted_endpoint() -> None:
    """:class:`InvalidEndpoint` keeps the endpoint it refused with the credentials redacted."""
    with pytest.raises(InvalidEndpoint) as info:
        Registry().register(f"http://u:{SECRET}@127.0.0.1:notaport/", manifest())
    assert info.value.endpoint == "http://***@127.0.0.1:notaport/"


# --- what the real server does ----------------------------------------------------------------


class _ManifestServer:
    """A tiny HTTP/1.1 endpoint on 127.0.0.1 that answers every ``GET`` with the SDK's manifest
    and records the ``Authorization`` header it was sent."""

    def __init__(self) -> None:
        seen: list[str | None] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.headers.get("authorization"))
                body = json.dumps(SDK_MANIFEST).encode()
                self.send_response(200)
                self.send_header("content-type", "application/vnd.restate.endpointmanifest.v4+json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.authorization = seen
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def manifest_server() -> Iterator[_ManifestServer]:
    server = _ManifestServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.integration
def test_the_server_keeps_and_compares_credentials_and_the_model_redacts_them(
    restate_server: RestateServer, manifest_server: _ManifestServer
) -> None:
    """restate-server 1.7.12: ``http://user:secret@127.0.0.1:P/`` is registered (201) and shown
    with its secret by ``GET /deployments``; ``http://127.0.0.1:P/`` and
    ``http://other:pw@127.0.0.1:P/`` are two more deployments (201), ``http://USER:secret@...``
    is the first one again (200); discovery gets no ``Authorization`` header. The model keeps
    ``http://***@127.0.0.1:P/`` and makes the two credentialed spellings one deployment."""
    httpx = pytest.importorskip("httpx")
    port = manifest_server.port
    spellings = [
        f"http://user:{SECRET}@127.0.0.1:{port}/",
        f"http://127.0.0.1:{port}/",
        f"http://other:pw@127.0.0.1:{port}/",
        f"http://USER:{SECRET}@127.0.0.1:{port}/",
    ]
    model = Registry(ids=SequentialIds())
    server_answers, model_answers = [], []
    with httpx.Client(timeout=30) as client:
        for uri in spellings:
            answer = client.post(
                f"{restate_server.admin_url}/deployments", json={"uri": uri, "use_http_11": True}
            )
            server_answers.append((answer.status_code, answer.json()["id"]))
            registered = model.register(uri, SDK_MANIFEST)
            model_answers.append((registered.outcome, registered.deployment.id))
        shown = client.get(f"{restate_server.admin_url}/deployments").json()["deployments"]
        for deployment_id in {i for _, i in server_answers}:
            client.delete(f"{restate_server.admin_url}/deployments/{deployment_id}?force=true")
    assert [status for status, _ in server_answers] == [201, 201, 201, 200]
    assert server_answers[3][1] == server_answers[0][1]
    assert f"http://user:{SECRET}@127.0.0.1:{port}/" in [d.get("uri") for d in shown]
    assert manifest_server.authorization == [None, None, None]
    assert [outcome for outcome, _ in model_answers] == [
        Outcome.CREATED,
        Outcome.CREATED,
        Outcome.UNCHANGED,
        Outcome.UNCHANGED,
    ]
    assert model_answers[2][1] == model_answers[3][1] == model_answers[0][1]
    assert {d.endpoint for d in model.deployments()} == {
        f"http://***@127.0.0.1:{port}/",
        f"http://127.0.0.1:{port}/",
    }


def test_a_snapshot_that_kept_credentials_loads_them_redacted() -> None:
    """A snapshot written before credentials were redacted holds the secret: it loads with
    the endpoint redacted, and the next snapshot no longer holds it."""
    registry = Registry(ids=SequentialIds())
    registry.register(WITH_CREDENTIALS, manifest(service("Greeter")))
    old = dumps(registry).replace("http://***@", f"http://operator:{SECRET}@")
    assert SECRET in old
    loaded = loads(old)
    assert [d.endpoint for d in loaded.deployments()] == ["http://***@127.0.0.1:9081/"]
    assert loaded.verify() == ()
    assert SECRET not in dumps(loaded)


def test_a_stored_registry_journals_an_endpoint_without_its_secret(tmp_path: Any) -> None:
    """The journal keeps what the registry keeps: the endpoint redacted. No record or snapshot
    of the store holds the secret, and reopening it gives the same state."""
    from restate_versioning.storage import SQLiteStorage, StoredRegistry

    path = tmp_path / "store.db"
    clock = ManualClock()
    with StoredRegistry(SQLiteStorage(path), clock=clock, ids=SequentialIds()) as stored:
        stored.register(WITH_CREDENTIALS, SDK_MANIFEST)
        stored.register(WITH_CREDENTIALS, SDK_MANIFEST, force=True)
        state = stored.registry.snapshot()
        history = stored.history()
    assert SECRET not in repr(history)
    assert SECRET.encode() not in path.read_bytes()
    with StoredRegistry(SQLiteStorage(path), clock=clock) as reopened:
        assert reopened.registry.snapshot() == state
