"""Hostile HTTP peers (``tests/hostile_peers.py``, real sockets on 127.0.0.1): discovery and the
admin reader end within their deadline with the library's own error, whatever the peer does;
no bomb is decoded, no body grows past its cap, no redirect is followed, no proxy is used
unless asked for, and no credential is shown.

Each case gives a timeout of a fraction of a second and checks that the error came within that
deadline plus a margin (the margin catches a hang, it does not measure speed).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from restate_versioning import Registry
from restate_versioning.admin import AdminApiError, AdminSource
from restate_versioning.transport import (
    DiscoveryError,
    HttpTransport,
    InvalidDiscoveredManifest,
    register_endpoint,
)

from .discovery_endpoint import discovery_endpoint
from .helpers import SDK_MANIFEST
from .hostile_peers import (
    V4,
    Behaviour,
    HostilePeer,
    continuation_flood,
    continue_flood,
    endless_body,
    fixed_answer,
    goaway,
    gzip_bomb,
    h2_flood,
    h2_frames,
    h2_slow_headers,
    h2_trickled_data,
    hpack_bomb,
    http1_head,
    ping,
    raw_answer,
    rst_stream,
    settings,
    slow_headers,
    tls_trickle,
    trickled_body,
    window_update,
)

pytest.importorskip("h2")

#: The timeout each case gives, and the margin past its deadline that would mean a hang.
TIMEOUT = 0.3
MARGIN = 1.5
MANIFEST_BODY = json.dumps(SDK_MANIFEST).encode()
#: 300 MB of zeros, gzipped once and twice: what decoding them would cost.
BOMB_SIZE = 300 * 1024 * 1024


@pytest.fixture(scope="module")
def bombs() -> dict[int, bytes]:
    single = gzip_bomb(BOMB_SIZE, 1)
    import gzip

    return {1: single, 2: gzip.compress(single, 9)}


def discover_fails(
    url: str,
    *,
    http_version: Literal["2", "1.1"] = "2",
    retries: int = 0,
    timeout: float = TIMEOUT,
    max_response_bytes: int = 1024 * 1024,
) -> tuple[DiscoveryError, float]:
    """Discovery of ``url`` must fail with a DiscoveryError within its documented bound
    (``timeout * (retries + 1)``) plus the margin; the error and the time it took."""
    transport = HttpTransport(
        http_version=http_version,
        timeout=timeout,
        retries=retries,
        backoff=0.05,
        max_response_bytes=max_response_bytes,
    )
    started = time.monotonic()
    with pytest.raises(DiscoveryError) as raised:
        transport.discover(url)
    elapsed = time.monotonic() - started
    assert elapsed < timeout * (retries + 1) + MARGIN, elapsed
    return raised.value, elapsed


# --- discovery: peers that would hang it -----------------------------------------------------

STALLING_PEERS = [
    pytest.param(slow_headers(0.1), "1.1", id="http1-headers-one-byte-at-a-time"),
    pytest.param(continue_flood(), "1.1", id="http1-100-continue-flood"),
    pytest.param(trickled_body(0.1), "1.1", id="http1-one-byte-of-body-at-a-time"),
    pytest.param(h2_slow_headers(0.1), "2", id="h2c-headers-one-byte-at-a-time"),
    pytest.param(h2_flood(ping), "2", id="h2c-ping-flood"),
    pytest.param(h2_flood(settings), "2", id="h2c-settings-flood"),
    pytest.param(h2_flood(window_update), "2", id="h2c-window-update-flood"),
    pytest.param(h2_trickled_data(0.1), "2", id="h2c-one-byte-data-frame-at-a-time"),
]


@pytest.mark.parametrize(("behaviour", "version"), STALLING_PEERS)
def test_a_peer_that_never_finishes_its_answer_times_out_within_the_deadline(
    behaviour: Behaviour, version: Literal["2", "1.1"]
) -> None:
    """Each read gets data in time, so only one deadline for the whole attempt ends it:
    META0003, no status, within the timeout plus the margin."""
    with HostilePeer(behaviour) as peer:
        error, elapsed = discover_fails(peer.url, http_version=version)
    assert (error.code, error.status) == ("META0003", None)
    assert "no answer within" in error.reason
    assert elapsed >= TIMEOUT * 0.9  # it was the deadline, not another failure


@pytest.mark.parametrize(("behaviour", "version"), STALLING_PEERS[:1] + STALLING_PEERS[4:5])
def test_all_attempts_against_a_stalling_peer_end_within_timeout_times_attempts(
    behaviour: Behaviour, version: Literal["2", "1.1"]
) -> None:
    """A timeout is retried; the attempts and their waits together stay within
    ``timeout * (retries + 1)``."""
    with HostilePeer(behaviour) as peer:
        error, _ = discover_fails(peer.url, http_version=version, retries=2, timeout=0.3)
        assert peer.connections >= 2
    assert error.code == "META0003"


BROKEN_PEERS = [
    pytest.param(raw_answer(b"\x00\xff" * 1000), "1.1", "META0003", None, id="garbage"),
    pytest.param(
        raw_answer(b"\x00\xff" * 1000, http2=True), "2", "META0003", None, id="garbage-h2c"
    ),
    pytest.param(raw_answer(b"", close=True), "1.1", "META0003", None, id="closed-at-once"),
    pytest.param(raw_answer(b"", http2=True, close=True), "2", "META0014", None, id="closed-h2c"),
    pytest.param(
        raw_answer(b"HTTP/1.1 abc\r\n\r\n"), "1.1", "META0003", None, id="bad-status-line"
    ),
    pytest.param(
        raw_answer(http1_head("200 OK", ("x-big", "a" * 200_000))),
        "1.1",
        "META0003",
        None,
        id="huge-header",
    ),
    pytest.param(
        raw_answer(
            http1_head("200 OK", ("content-type", V4), ("content-length", "100")) + b"{}",
            close=True,
        ),
        "1.1",
        "META0003",
        None,
        id="short-of-its-content-length",
    ),
    pytest.param(
        raw_answer(http1_head("200 OK", ("content-type", V4), ("content-length", "-1"))),
        "1.1",
        "META0003",
        None,
        id="negative-content-length",
    ),
    pytest.param(
        raw_answer(
            http1_head("200 OK", ("content-type", V4), ("transfer-encoding", "chunked")) + b"zz\r\n"
        ),
        "1.1",
        "META0003",
        None,
        id="bad-chunk-size",
    ),
    pytest.param(
        raw_answer(http1_head("200 OK", ("content-type", V4), ("content-length", "2")) + b"{}"),
        "2",
        "META0003",
        None,
        id="http1-answer-to-h2c",
    ),
    pytest.param(
        raw_answer(http1_head("999 What", ("content-length", "0"))),
        "1.1",
        "META0003",
        999,
        id="status-999",
    ),
    pytest.param(h2_frames(rst_stream), "2", "META0014", None, id="h2c-rst-stream"),
    pytest.param(h2_frames(goaway), "2", "META0014", None, id="h2c-goaway"),
    pytest.param(
        h2_frames(lambda conn: conn.h2_headers([(":status", "abc")], end=True)),
        "2",
        "META0014",
        None,
        id="h2c-bad-status",
    ),
    pytest.param(h2_frames(hpack_bomb), "2", "META0003", None, id="h2c-hpack-bomb"),
    pytest.param(continuation_flood(), "2", "META0003", None, id="h2c-continuation-flood"),
]


@pytest.mark.parametrize(("behaviour", "version", "code", "status"), BROKEN_PEERS)
def test_whatever_a_broken_peer_sends_discovery_ends_in_a_discovery_error_with_its_code(
    behaviour: Behaviour, version: Literal["2", "1.1"], code: str, status: int | None
) -> None:
    """Garbage, broken framing, reset streams, header bombs: a DiscoveryError with the code
    of what went wrong, within the deadline (META0014 where h2c failed as it does against an
    endpoint that only speaks HTTP/1.1)."""
    with HostilePeer(behaviour) as peer:
        error, _ = discover_fails(peer.url, http_version=version)
    assert type(error) is DiscoveryError
    assert (error.code, error.status) == (code, status)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "malformed JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[" * 5000, "nested deeper than 127 levels"),
        (b'{"minProtocolVersion": NaN}', "NaN is not a JSON value"),
        (b'{"services": [], "services": []}', "appears twice"),
        (b"[]", "expected an object"),
    ],
    ids=["empty", "not-utf8", "deep-nesting", "nan", "key-twice", "not-an-object"],
)
def test_a_body_that_is_not_strict_json_is_an_invalid_discovered_manifest(
    body: bytes, problem: str
) -> None:
    """Read as the server reads it (serde_json): strict, bounded, never a RecursionError."""
    with HostilePeer(fixed_answer("200 OK", [("content-type", V4)], body)) as peer:
        error, _ = discover_fails(peer.url, http_version="1.1")
    assert isinstance(error, InvalidDiscoveredManifest)
    assert error.status == 200
    assert problem in str(error)


def test_a_tls_handshake_trickled_byte_by_byte_ends_at_the_deadline() -> None:
    """The handshake gets the time left, as a whole: a peer that keeps it going byte by
    byte is cut at the deadline like one that trickles its headers."""
    with HostilePeer(tls_trickle(0.05)) as peer:
        error, elapsed = discover_fails(f"https://127.0.0.1:{peer.port}")
    assert (error.code, error.status) == ("META0003", None)
    assert "no answer within" in error.reason
    assert elapsed >= TIMEOUT * 0.9


def test_the_admin_reader_ends_a_trickled_tls_handshake_at_the_deadline() -> None:
    with HostilePeer(tls_trickle(0.05)) as peer:
        error, _ = load_fails(f"https://127.0.0.1:{peer.port}")
    assert "no answer within the timeout" in error.problem


def test_the_watchdog_ends_a_wait_that_no_per_read_bound_covers() -> None:
    """The backstop behind the per-operation bounds (``restate_versioning._http``): a
    connection still waiting a moment after the deadline (here a read with no timeout at
    all, in another thread) is shut down, and its socket stays the caller's to close."""
    from restate_versioning._http import Deadline

    ours, theirs = socket.socketpair()
    with ours, theirs:
        deadline = Deadline()
        deadline.guard(ours)
        deadline.start(TIMEOUT)
        started = time.monotonic()
        ours.settimeout(None)
        assert ours.recv(1) == b""  # woken by the shutdown, not by the peer
        assert TIMEOUT <= time.monotonic() - started < TIMEOUT + MARGIN
        deadline.release()
        assert ours.fileno() != -1


# --- discovery: bodies that would exhaust memory ---------------------------------------------


@pytest.mark.parametrize("layers", [1, 2], ids=["gzip", "gzip-gzip"])
@pytest.mark.parametrize("version", ["1.1", "2"])
def test_a_compressed_answer_is_refused_without_being_decoded(
    bombs: dict[int, bytes], layers: int, version: Literal["2", "1.1"]
) -> None:
    """Discovery asks for identity only and never decodes: a gzip bomb is a bad response
    (META0013) and memory stays far below what decoding it would take."""
    encoding = ", ".join(["gzip"] * layers)
    headers = [("content-type", V4), ("content-encoding", encoding)]
    behaviour = fixed_answer("200 OK", headers, bombs[layers], http2=version == "2")
    with HostilePeer(behaviour) as peer:
        tracemalloc.start()
        try:
            error, _ = discover_fails(peer.url, http_version=version)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert (error.code, error.status) == ("META0013", 200)
    assert repr(encoding) in error.reason
    assert "identity" in error.reason
    assert peak < 8 * 1024 * 1024


def test_the_request_asks_for_identity_only() -> None:
    """``Accept-Encoding: identity``: httpx's default (gzip, deflate...) is not sent."""
    seen: list[bytes] = []

    def behaviour(conn: Any) -> None:
        seen.append(conn.read_http1_request())
        conn.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: "
            + V4.encode()
            + b"\r\ncontent-length: "
            + str(len(MANIFEST_BODY)).encode()
            + b"\r\n\r\n"
            + MANIFEST_BODY
        )

    with HostilePeer(behaviour) as peer:
        HttpTransport(http_version="1.1").discover(peer.url)
    assert b"\r\naccept-encoding: identity\r\n" in seen[0].lower()


def test_a_compressed_error_body_is_not_decoded_either(bombs: dict[int, bytes]) -> None:
    headers = [("content-type", "text/plain"), ("content-encoding", "gzip")]
    with HostilePeer(fixed_answer("404 Not Found", headers, bombs[1])) as peer:
        error, _ = discover_fails(peer.url, http_version="1.1")
    assert (error.code, error.status) == ("META0003", 404)
    assert "not shown: encoded with 'gzip'" in error.reason


@pytest.mark.parametrize(
    "behaviour",
    [endless_body(), endless_body(declared=10**12)],
    ids=["endless-body", "declared-terabyte"],
)
@pytest.mark.parametrize("limit", [1000, 1024 * 1024])
def test_a_body_without_end_is_cut_at_the_size_limit(behaviour: Behaviour, limit: int) -> None:
    with HostilePeer(behaviour) as peer:
        error, _ = discover_fails(peer.url, http_version="1.1", max_response_bytes=limit)
    assert (error.code, error.status) == ("META0013", 200)
    assert f"larger than {limit} bytes" in error.reason


def test_a_redirect_from_a_peer_is_never_followed() -> None:
    """Not even to a path on the same peer: one connection, one request, META0003."""
    answer = fixed_answer("302 Found", [("location", "/elsewhere")], b"")
    with HostilePeer(answer) as peer:
        error, _ = discover_fails(peer.url, http_version="1.1")
        assert peer.connections == 1
    assert (error.code, error.status) == ("META0003", 302)
    assert "'/elsewhere'" in error.reason


# --- credentials -----------------------------------------------------------------------------


def test_credentials_in_an_endpoint_are_sent_but_never_shown() -> None:
    """The request carries them (Basic authentication); the error, its ``endpoint`` and its
    ``reason`` show ``***@`` instead, redirect targets included."""
    seen: list[bytes] = []

    def behaviour(conn: Any) -> None:
        seen.append(conn.read_http1_request())
        location = f"http://admin:hunter2@127.0.0.1:{conn.sock.getsockname()[1]}/x"
        conn.send(f"HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\n\r\n".encode())

    with HostilePeer(behaviour) as peer:
        endpoint = f"http://user:s3cret@127.0.0.1:{peer.port}/"
        error, _ = discover_fails(endpoint, http_version="1.1")
    assert b"authorization: basic " in seen[0].lower()
    shown = " ".join([str(error), error.endpoint, error.reason, repr(error.args)])
    assert "s3cret" not in shown
    assert "hunter2" not in shown
    assert error.endpoint == f"http://***@127.0.0.1:{peer.port}/"


def test_credentials_are_not_shown_when_the_endpoint_cannot_be_reached() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error, _ = discover_fails(f"http://user:s3cret@127.0.0.1:{port}", retries=0)
    assert "s3cret" not in str(error)
    assert "***@" in str(error)


# --- proxies ---------------------------------------------------------------------------------


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[str]]]:
    """A forward proxy on 127.0.0.1 that answers every request with the SDK's manifest and
    records the requested URLs."""
    seen: list[str] = []
    with discovery_endpoint(lambda: MANIFEST_BODY, seen) as url:
        yield url, seen


@pytest.fixture
def nowhere() -> str:
    """An endpoint on a loopback port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_proxy_variables_are_ignored_unless_trust_env(
    monkeypatch: pytest.MonkeyPatch,
    proxy: tuple[str, list[str]],
    nowhere: str,
    variable: str,
) -> None:
    """By default discovery goes straight to the endpoint (here: nothing listens, so it
    fails) and the proxy sees nothing; with ``trust_env=True`` it goes through the proxy."""
    proxy_url, seen = proxy
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, proxy_url)
    with pytest.raises(DiscoveryError) as raised:
        HttpTransport(retries=0, timeout=TIMEOUT).discover(nowhere)
    assert raised.value.code == "META0003"
    assert seen == []
    discovery = HttpTransport(retries=0, timeout=TIMEOUT, trust_env=True).discover(nowhere)
    assert discovery.manifest.services
    assert seen == [nowhere + "/discover"]


def test_the_admin_reader_ignores_proxy_variables_unless_trust_env(
    monkeypatch: pytest.MonkeyPatch, proxy: tuple[str, list[str]], nowhere: str
) -> None:
    proxy_url, seen = proxy
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    with pytest.raises(AdminApiError) as raised:
        AdminSource(nowhere, timeout=TIMEOUT).load()
    assert "ConnectError" in raised.value.problem
    assert seen == []
    with pytest.raises(AdminApiError):  # the proxy answers a manifest, not a deployment list
        AdminSource(nowhere, timeout=TIMEOUT, trust_env=True).load()
    assert seen == [nowhere + "/deployments"]


# --- the admin reader ------------------------------------------------------------------------


def load_fails(url: str, **options: Any) -> tuple[AdminApiError, float]:
    """Loading from ``url`` must fail with an AdminApiError within the timeout plus the
    margin; the error and the time it took."""
    started = time.monotonic()
    with pytest.raises(AdminApiError) as raised:
        AdminSource(url, timeout=TIMEOUT, **options).load()
    elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT + MARGIN, elapsed
    return raised.value, elapsed


@pytest.mark.parametrize(
    "behaviour",
    [slow_headers(0.1), continue_flood(), trickled_body(0.1, "application/json")],
    ids=["headers-one-byte-at-a-time", "100-continue-flood", "body-one-byte-at-a-time"],
)
def test_an_admin_api_that_never_finishes_its_answer_fails_within_the_timeout(
    behaviour: Behaviour,
) -> None:
    with HostilePeer(behaviour) as peer:
        error, _ = load_fails(peer.url)
    assert "no answer within the timeout" in error.problem
    assert error.url == peer.url + "/deployments"


@pytest.mark.parametrize(
    "behaviour",
    [endless_body("application/json"), endless_body("application/json", declared=10**12)],
    ids=["endless-body", "declared-terabyte"],
)
def test_an_admin_answer_without_end_is_cut_at_the_size_limit(behaviour: Behaviour) -> None:
    with HostilePeer(behaviour) as peer:
        error, _ = load_fails(peer.url, max_response_bytes=100_000)
    assert error.status == 200
    assert "larger than 100000 bytes" in error.problem


def test_a_compressed_admin_answer_is_refused_without_being_decoded(
    bombs: dict[int, bytes],
) -> None:
    headers = [("content-type", "application/json"), ("content-encoding", "gzip, gzip")]
    with HostilePeer(fixed_answer("200 OK", headers, bombs[2])) as peer:
        tracemalloc.start()
        try:
            error, _ = load_fails(peer.url)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert error.status == 200
    assert "'gzip, gzip'" in error.problem
    assert peak < 8 * 1024 * 1024


def test_the_admin_reader_never_follows_a_redirect() -> None:
    with HostilePeer(fixed_answer("301 Moved Permanently", [("location", "/x")], b"")) as peer:
        error, _ = load_fails(peer.url)
        assert peer.connections == 1
    assert error.status == 301


def test_credentials_in_the_admin_url_are_sent_but_never_shown() -> None:
    seen: list[bytes] = []

    def behaviour(conn: Any) -> None:
        seen.append(conn.read_http1_request())
        conn.send(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\nboom")

    with HostilePeer(behaviour) as peer:
        url = f"http://ops:s3cret@127.0.0.1:{peer.port}"
        source = AdminSource(url, timeout=TIMEOUT)
        assert "s3cret" not in repr(source)
        error, _ = load_fails(url)
    assert b"authorization: basic " in seen[0].lower()
    assert "s3cret" not in str(error)
    assert "s3cret" not in error.url
    assert error.url == f"http://***@127.0.0.1:{peer.port}/deployments"


# --- through the command line ----------------------------------------------------------------


def test_the_cli_reports_a_bomb_as_one_error_line(tmp_path: Path, bombs: dict[int, bytes]) -> None:
    """``deployments register`` against a double-gzip bomb: exit 1, one ``error:`` line,
    quickly (refused before any body is read, not retried)."""
    headers = [("content-type", V4), ("content-encoding", "gzip, gzip")]
    with HostilePeer(fixed_answer("200 OK", headers, bombs[2], http2=True)) as peer:
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "restate_versioning", "deployments", "register", peer.url],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "HTTP_PROXY": "http://127.0.0.1:1"},  # not used: no trust_env
        )
        elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1
    assert "[META0013]" in result.stderr
    assert "'gzip, gzip'" in result.stderr
    assert elapsed < 10


def test_nothing_is_registered_when_a_hostile_peer_fails_discovery(registry: Registry) -> None:
    before = registry.snapshot()
    with HostilePeer(h2_flood(ping)) as peer, pytest.raises(DiscoveryError):
        register_endpoint(registry, peer.url, HttpTransport(timeout=TIMEOUT, retries=0))
    assert registry.snapshot() == before
