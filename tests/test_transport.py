"""Discovery (docs/rules.md, "Discovery") and registering what it finds (docs/rules.md,
"Registering").

``HttpTransport`` is checked against scripted HTTP servers on 127.0.0.1: a raw ASGI app under
hypercorn (HTTP/1.1 and h2c, like an SDK) and, for an endpoint that only speaks HTTP/1.1, the
standard library's ``http.server``. Every bad answer must raise a specific
:class:`DiscoveryError` that quotes the endpoint and leave the registry unchanged. The codes and
the retried statuses are the server's (``restate-server``'s ``DiscoveryError``).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from restate_versioning import (
    EndpointManifest,
    InvalidEndpoint,
    InvalidManifest,
    Outcome,
    Registry,
    VersioningError,
)
from restate_versioning.transport import (
    ACCEPT,
    MANIFEST_CONTENT_TYPES,
    Discovery,
    DiscoveryError,
    HttpTransport,
    InvalidDiscoveredManifest,
    StaticTransport,
    register_endpoint,
)

from .discovery_endpoint import discovery_endpoint
from .helpers import SDK_MANIFEST, V1, V2, manifest, service

httpx = pytest.importorskip("httpx")
hypercorn_asyncio = pytest.importorskip("hypercorn.asyncio")
hypercorn_config = pytest.importorskip("hypercorn.config")

V4 = "application/vnd.restate.endpointmanifest.v4+json"
LAMBDA = "arn:aws:lambda:eu-central-1:123456789012:function:greeter:1"
MANIFEST_BODY = json.dumps(SDK_MANIFEST).encode()


# --- scripted servers ------------------------------------------------------------------------


@attrs.frozen
class Answer:
    """One scripted answer: sent after ``delay`` seconds, the body in ``chunks`` pieces."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = (("content-type", V4),)
    body: bytes = MANIFEST_BODY
    delay: float = 0.0
    chunks: int = 1


OK = Answer()


@attrs.define
class Seen:
    """A request as the scripted server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    http_version: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ScriptedServer:
    """Hypercorn (in a thread, on 127.0.0.1) serving a raw ASGI app that answers each request
    with the next scripted :class:`Answer` (the last one repeats) and records the requests."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.script: list[Answer] = [OK]
        self.requests: list[Seen] = []
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def reset(self, *script: Answer) -> None:
        self.script = list(script) or [OK]
        self.requests = []

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append(Seen(scope["method"], scope["path"], headers, scope["http_version"]))
        answer = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        await asyncio.sleep(answer.delay)
        raw_headers = [(k.encode(), v.encode()) for k, v in answer.headers]
        await send({"type": "http.response.start", "status": answer.status, "headers": raw_headers})
        size = max(1, len(answer.body) // answer.chunks)
        pieces = [answer.body[i : i + size] for i in range(0, len(answer.body), size)] or [b""]
        for piece in pieces:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        config = hypercorn_config.Config()
        config.bind = [f"127.0.0.1:{self.port}"]
        config.graceful_timeout = 0.2
        config.accesslog = None
        config.errorlog = None

        async def main() -> None:
            self._stop = asyncio.Event()
            self._ready.set()
            await hypercorn_asyncio.serve(self._app, config, shutdown_trigger=self._stop.wait)

        self._loop.run_until_complete(main())

    def start(self) -> ScriptedServer:
        self._thread.start()
        self._ready.wait(5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("the scripted server did not come up")

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


@pytest.fixture(scope="module")
def scripted_server() -> Iterator[ScriptedServer]:
    server = ScriptedServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server(scripted_server: ScriptedServer) -> ScriptedServer:
    scripted_server.reset()
    return scripted_server


@pytest.fixture(scope="module")
def http11_url() -> Iterator[str]:
    """An endpoint that only speaks HTTP/1.1 (``http.server``) and answers the SDK manifest."""
    with discovery_endpoint(lambda: MANIFEST_BODY) as url:
        yield url


@pytest.fixture
def registry_with_v1(registry: Registry) -> Registry:
    registry.register(V1, manifest(service("Other")))
    return registry


def fails_without_change(
    registry: Registry, endpoint: str, transport: HttpTransport | StaticTransport
) -> DiscoveryError:
    """Register ``endpoint`` through ``transport``: it must raise a DiscoveryError quoting the
    endpoint and change nothing."""
    before = registry.snapshot()
    with pytest.raises(DiscoveryError) as raised:
        register_endpoint(registry, endpoint, transport)
    assert raised.value.endpoint == endpoint
    assert repr(endpoint) in str(raised.value)
    assert registry.snapshot() == before
    return raised.value


# --- the interface ---------------------------------------------------------------------------


def test_discovery_errors_are_versioning_errors_and_invalid_answers_are_invalid_manifests() -> None:
    assert issubclass(DiscoveryError, VersioningError)
    assert issubclass(InvalidDiscoveredManifest, DiscoveryError)
    assert issubclass(InvalidDiscoveredManifest, InvalidManifest)


def test_the_accept_header_lists_manifest_versions_1_to_4_in_order() -> None:
    assert ACCEPT == (
        "application/vnd.restate.endpointmanifest.v1+json, "
        "application/vnd.restate.endpointmanifest.v2+json, "
        "application/vnd.restate.endpointmanifest.v3+json, "
        "application/vnd.restate.endpointmanifest.v4+json"
    )
    assert len(MANIFEST_CONTENT_TYPES) == 4


# --- StaticTransport and the no-discovery-when-known rule ------------------------------------


def test_static_transport_finds_an_endpoint_by_its_identity_not_its_spelling() -> None:
    transport = StaticTransport({"http://Greeter:9080/": SDK_MANIFEST})
    discovery = transport.discover("http://greeter:9080")
    assert discovery == Discovery(EndpointManifest.from_json(SDK_MANIFEST))
    assert transport.discovered == ["http://greeter:9080"]


def test_static_transport_serves_lambda_arns_and_whole_discoveries() -> None:
    answer = Discovery(EndpointManifest.from_json(SDK_MANIFEST), None, "restate-sdk-python/1.3.0")
    assert StaticTransport({LAMBDA: answer}).discover(LAMBDA) is answer


def test_static_transport_answers_an_unknown_endpoint_like_a_missing_discover_path(
    registry_with_v1: Registry,
) -> None:
    error = fails_without_change(registry_with_v1, V2, StaticTransport({V1: SDK_MANIFEST}))
    assert (error.code, error.status) == ("META0003", 404)


def test_static_transport_reports_every_problem_of_an_invalid_manifest(
    registry_with_v1: Registry,
) -> None:
    bad = {"services": [], "surprise": 1}
    error = fails_without_change(registry_with_v1, V2, StaticTransport({V2: bad}))
    assert isinstance(error, InvalidDiscoveredManifest)
    assert isinstance(error, InvalidManifest)
    assert len(error.problems) >= 3  # unknown field, missing min and max protocol versions


def test_a_registered_endpoint_is_not_discovered_again_without_force(registry: Registry) -> None:
    """(docs/rules.md, "Registering"): registering a known endpoint without force changes
    nothing and the server does no discovery, even if the endpoint now serves something else."""
    first = register_endpoint(registry, V1, StaticTransport({V1: manifest(service("Greeter"))}))
    assert first.outcome is Outcome.CREATED
    elsewhere = StaticTransport({})  # would fail if asked
    again = register_endpoint(registry, V1 + "/", elsewhere)
    assert again.outcome is Outcome.UNCHANGED
    assert again.deployment == first.deployment
    assert elsewhere.discovered == []


def test_force_discovers_again_and_overwrites(registry: Registry) -> None:
    register_endpoint(registry, V1, StaticTransport({V1: manifest(service("Greeter"))}))
    transport = StaticTransport({V1: manifest(service("Greeter"), service("Other"))})
    forced = register_endpoint(registry, V1, transport, force=True)
    assert forced.outcome is Outcome.OVERWRITTEN
    assert transport.discovered == [V1]
    assert sorted(forced.deployment.services) == ["Greeter", "Other"]


def test_the_discovered_http_and_sdk_versions_are_recorded(registry: Registry) -> None:
    answer = Discovery(
        EndpointManifest.from_json(SDK_MANIFEST), "HTTP/2.0", "restate-sdk-python/1.3.0"
    )
    deployment = register_endpoint(registry, V1, StaticTransport({V1: answer})).deployment
    assert deployment.http_version == "HTTP/2.0"
    assert deployment.sdk_version == "restate-sdk-python/1.3.0"


def test_a_dry_run_discovers_but_stores_nothing(registry_with_v1: Registry) -> None:
    before = registry_with_v1.snapshot()
    transport = StaticTransport({V2: SDK_MANIFEST})
    result = register_endpoint(registry_with_v1, V2, transport, dry_run=True)
    assert result.outcome is Outcome.CREATED
    assert transport.discovered == [V2]
    assert registry_with_v1.snapshot() == before


def test_an_invalid_endpoint_is_refused_before_any_discovery(registry: Registry) -> None:
    transport = StaticTransport({})
    with pytest.raises(InvalidEndpoint):
        register_endpoint(registry, "greeter:9080", transport)
    assert transport.discovered == []


# --- HttpTransport: the request --------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "path"),
    [("", "/discover"), ("/", "/discover"), ("/base", "/base/discover"), ("/b/", "/b/discover")],
)
def test_the_request_is_get_discover_below_the_endpoint_with_the_accept_header(
    server: ScriptedServer, suffix: str, path: str
) -> None:
    discovery = HttpTransport().discover(server.url + suffix)
    assert discovery.manifest == EndpointManifest.from_json(SDK_MANIFEST)
    [seen] = server.requests
    assert (seen.method, seen.path) == ("GET", path)
    assert seen.headers["accept"] == ACCEPT


@pytest.mark.parametrize(("version", "expected"), [("2", "HTTP/2.0"), ("1.1", "HTTP/1.1")])
def test_plain_http_uses_h2c_unless_http_1_1_is_asked_for(
    server: ScriptedServer, version: Any, expected: str
) -> None:
    discovery = HttpTransport(http_version=version).discover(server.url)
    assert discovery.http_version == expected
    assert server.requests[0].http_version == version


def test_additional_headers_go_to_their_endpoint_only(server: ScriptedServer) -> None:
    transport = HttpTransport(
        headers={server.url + "/": {"authorization": "Bearer t0k3n", "x-tenant": "a"}}
    )
    transport.discover(server.url)
    transport.discover(server.url + "/other")
    with_headers, without = server.requests
    assert with_headers.headers["authorization"] == "Bearer t0k3n"
    assert with_headers.headers["x-tenant"] == "a"
    assert "authorization" not in without.headers
    assert without.headers["accept"] == ACCEPT


def test_the_sdk_version_is_the_x_restate_server_header(server: ScriptedServer) -> None:
    server.reset(Answer(headers=(("content-type", V4), ("x-restate-server", "sdk-x/9"))))
    assert HttpTransport().discover(server.url).sdk_version == "sdk-x/9"
    server.reset()
    assert HttpTransport().discover(server.url).sdk_version is None


@pytest.mark.parametrize("content_type", MANIFEST_CONTENT_TYPES)
def test_every_manifest_content_type_is_accepted(server: ScriptedServer, content_type: str) -> None:
    server.reset(Answer(headers=(("content-type", content_type),)))
    HttpTransport().discover(server.url)


# --- HttpTransport: every bad answer ---------------------------------------------------------


def test_an_unreachable_endpoint_is_meta0003(registry_with_v1: Registry) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    error = fails_without_change(registry_with_v1, url, HttpTransport(retries=1, backoff=0.01))
    assert (error.code, error.status) == ("META0003", None)
    assert "Connection refused" in str(error) or "ConnectError" in str(error)


@pytest.mark.parametrize(
    "headers",
    [(("content-type", "application/json"),), (), (("content-type", V4 + "; charset=utf-8"),)],
    ids=["json", "missing", "with-parameter"],
)
def test_a_wrong_content_type_is_a_bad_response_meta0013(
    server: ScriptedServer, registry_with_v1: Registry, headers: tuple[tuple[str, str], ...]
) -> None:
    """The server compares the content type with the four manifest types exactly."""
    server.reset(Answer(headers=headers))
    error = fails_without_change(registry_with_v1, server.url, HttpTransport())
    assert (error.code, error.status) == ("META0013", 200)
    assert "content type" in error.reason
    assert len(server.requests) == 1  # not retried


@pytest.mark.parametrize("status", [400, 401, 403, 404, 501, 505])
def test_other_bad_statuses_are_meta0003_and_not_retried(
    server: ScriptedServer, registry_with_v1: Registry, status: int
) -> None:
    server.reset(Answer(status=status, headers=(("content-type", "text/plain"),), body=b"nope"))
    error = fails_without_change(registry_with_v1, server.url, HttpTransport(backoff=0.01))
    assert (error.code, error.status) == ("META0003", status)
    assert "nope" in error.reason
    assert len(server.requests) == 1


def test_a_404_says_the_path_is_wrong(server: ScriptedServer, registry_with_v1: Registry) -> None:
    server.reset(Answer(status=404, headers=(), body=b""))
    error = fails_without_change(registry_with_v1, server.url + "/api", HttpTransport())
    assert "wrong path" in error.reason
    assert "/api/discover" in error.reason


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_tried_again(
    server: ScriptedServer, registry: Registry, status: int
) -> None:
    server.reset(Answer(status=status, headers=(), body=b"busy"), OK)
    registration = register_endpoint(registry, server.url, HttpTransport(backoff=0.01))
    assert registration.outcome is Outcome.CREATED
    assert len(server.requests) == 2


def test_a_503_forever_gives_up_after_the_retries(
    server: ScriptedServer, registry_with_v1: Registry
) -> None:
    server.reset(Answer(status=503, headers=(), body=b"down"))
    started = time.monotonic()
    error = fails_without_change(
        registry_with_v1, server.url, HttpTransport(retries=2, backoff=0.05, timeout=2)
    )
    assert time.monotonic() - started < 2 * 3
    assert (error.code, error.status) == ("META0003", 503)
    assert len(server.requests) == 3


def test_a_redirect_is_not_followed(server: ScriptedServer, registry_with_v1: Registry) -> None:
    target = server.url + "/v2/discover"
    server.reset(Answer(status=301, headers=(("location", target),), body=b""), OK)
    error = fails_without_change(registry_with_v1, server.url, HttpTransport())
    assert (error.code, error.status) == ("META0003", 301)
    assert repr(target) in error.reason
    assert [seen.path for seen in server.requests] == ["/discover"]


@pytest.mark.parametrize(("limit", "size"), [(1000, 5000), (1024 * 1024, 1024 * 1024 + 1)])
def test_an_oversized_body_is_cut(
    server: ScriptedServer, registry_with_v1: Registry, limit: int, size: int
) -> None:
    server.reset(Answer(body=b" " * size, chunks=8))
    transport = HttpTransport(max_response_bytes=limit)
    error = fails_without_change(registry_with_v1, server.url, transport)
    assert (error.code, error.status) == ("META0013", 200)
    assert f"larger than {limit} bytes" in error.reason


def test_malformed_json_is_an_invalid_discovered_manifest(
    server: ScriptedServer, registry_with_v1: Registry
) -> None:
    server.reset(Answer(body=b'{"services": ['))
    error = fails_without_change(registry_with_v1, server.url, HttpTransport())
    assert isinstance(error, InvalidDiscoveredManifest)
    assert error.status == 200
    assert "malformed JSON" in str(error)


def test_an_invalid_manifest_reports_every_problem(
    server: ScriptedServer, registry_with_v1: Registry
) -> None:
    bad = dict(SDK_MANIFEST, surprise=True, services=[{"name": "Greeter", "ty": "NOPE"}])
    del bad["minProtocolVersion"]
    server.reset(Answer(body=json.dumps(bad).encode()))
    error = fails_without_change(registry_with_v1, server.url, HttpTransport())
    assert isinstance(error, InvalidDiscoveredManifest)
    paths = {problem.path for problem in error.problems}
    assert {"$.surprise", "$.minProtocolVersion"} <= paths
    assert any(path.startswith("$.services[0]") for path in paths)


def test_a_slow_endpoint_times_out_within_the_timeout(
    server: ScriptedServer, registry_with_v1: Registry
) -> None:
    server.reset(Answer(delay=3))
    started = time.monotonic()
    error = fails_without_change(
        registry_with_v1, server.url, HttpTransport(timeout=0.3, retries=0)
    )
    elapsed = time.monotonic() - started
    assert (error.code, error.status) == ("META0003", None)
    assert "no answer within" in error.reason
    assert 0.25 < elapsed < 0.3 + 1.5  # generous slack: no tight timing


def test_all_attempts_together_end_within_timeout_times_attempts(
    server: ScriptedServer, registry_with_v1: Registry
) -> None:
    server.reset(Answer(delay=3))
    started = time.monotonic()
    fails_without_change(
        registry_with_v1, server.url, HttpTransport(timeout=0.2, retries=2, backoff=0.01)
    )
    assert time.monotonic() - started < 0.2 * 3 + 1.5
    assert len(server.requests) >= 2  # the last attempt only if the budget leaves room


@pytest.mark.parametrize("endpoint", ["ftp://127.0.0.1:9080/", "127.0.0.1:9080", "http:///nohost"])
def test_only_http_and_https_uris_can_be_discovered(endpoint: str) -> None:
    with pytest.raises(DiscoveryError) as raised:
        HttpTransport().discover(endpoint)
    assert raised.value.endpoint == endpoint
    assert isinstance(raised.value.__cause__, InvalidEndpoint)


def test_a_lambda_arn_needs_a_lambda_transport(registry_with_v1: Registry) -> None:
    error = fails_without_change(registry_with_v1, LAMBDA, HttpTransport())
    assert "Lambda transport" in error.reason
    assert error.code is None


def test_h2c_to_an_http_1_1_only_endpoint_is_meta0014(
    http11_url: str, registry_with_v1: Registry
) -> None:
    """The server's hint for an HTTP/2 request that an HTTP/1.1-only endpoint cannot answer;
    asking for HTTP/1.1 works."""
    error = fails_without_change(registry_with_v1, http11_url, HttpTransport(retries=0))
    assert error.code == "META0014"
    assert "http_version='1.1'" in error.reason
    discovery = HttpTransport(http_version="1.1").discover(http11_url)
    assert discovery.http_version == "HTTP/1.1"


def test_a_given_client_is_used_and_left_open(server: ScriptedServer) -> None:
    with httpx.Client(http1=True, http2=False, headers={"x-from": "client"}) as client:
        discovery = HttpTransport(client=client).discover(server.url)
        assert discovery.http_version == "HTTP/1.1"
        assert not client.is_closed
    assert server.requests[0].headers["x-from"] == "client"


@pytest.mark.parametrize(
    "options",
    [{"http_version": "3"}, {"timeout": 0}, {"retries": -1}, {"max_response_bytes": 0}],
)
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        HttpTransport(**options)
