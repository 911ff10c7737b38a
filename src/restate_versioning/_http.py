"""HTTP at the edge of the library: one deadline for a whole exchange, whatever the peer does.

``httpx`` bounds each network operation (a connect, one read, one write), not an exchange: a
peer that trickles its headers one byte at a time, floods ``100 Continue`` answers, or keeps an
HTTP/2 connection busy with PING, SETTINGS or WINDOW_UPDATE frames never lets a per-read
timeout expire. :class:`DeadlineTransport` is an ``httpx`` transport over an ``httpcore``
connection pool whose network backend never waits past a :class:`Deadline`: every connect, read,
write and TLS handshake gets at most the time that is left, and one that starts after the
deadline fails at once with ``httpcore``'s timeout. A watchdog shuts the transport's sockets
down a moment after the deadline, for anything that still waits (a TLS handshake trickled
byte by byte, a write the peer never reads). Errors come out as ``httpx``'s exceptions, as from
``httpx``'s own transport, and an exchange cut by the deadline is always a timeout.

Proxies: none unless ``trust_env`` is given; then the proxy the environment names for the
target (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, as ``urllib`` reads them).

This module is private: :class:`~restate_versioning.transport.HttpTransport` and
:class:`~restate_versioning.admin.AdminSource` use it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

__all__ = ["Deadline", "DeadlineTransport", "environment_proxy"]

#: How long after the deadline the watchdog shuts the sockets down (s): the backend's own
#: bounds end an exchange first, with a proper timeout, whenever the peer lets them.
_WATCHDOG_GRACE = 0.05
#: Writes go out in pieces of this size, each bounded by the time left.
_WRITE_PIECE = 16 * 1024


class Deadline:
    """A moment on the monotonic clock (``at``; ``math.inf`` for none) that no network
    operation of a :class:`DeadlineTransport` waits past, and the connections it guards.

    Each guarded connection is kept as a duplicate of its socket (``socket.dup``): shutting
    the duplicate down ends the connection for every thread using it, TLS or not (wrapping a
    socket in TLS detaches the original, never the duplicate), and the duplicate's descriptor
    is the guard's own, so it can never name another socket. It is closed with its stream."""

    def __init__(self) -> None:
        self.at = math.inf
        self._guarded: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.at - time.monotonic()

    def passed(self) -> bool:
        return self.remaining() <= 0

    def bound(self, timeout: float | None, error: type[Exception]) -> float:
        """``timeout`` cut to the time left; raises ``error`` if none is left."""
        left = self.remaining()
        if left <= 0:
            raise error("the deadline of the exchange passed")
        return left if timeout is None else min(timeout, left)

    def start(self, seconds: float) -> None:
        """Set the deadline ``seconds`` from now and arm the watchdog."""
        self.stop()
        self.at = time.monotonic() + seconds
        timer = threading.Timer(seconds + _WATCHDOG_GRACE, self._expire)
        timer.daemon = True
        self._timer = timer
        timer.start()

    def stop(self) -> None:
        """Disarm the watchdog (the deadline stays as it was)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def guard(self, sock: object) -> socket.socket | None:
        """Guard the connection of ``sock``; its duplicate, for :meth:`release`."""
        if not isinstance(sock, socket.socket):
            return None
        duplicate = sock.dup()
        with self._lock:
            self._guarded.add(duplicate)
        return duplicate

    def release(self, duplicate: socket.socket | None = None) -> None:
        """Stop guarding one connection (or all of them) and close the duplicates."""
        with self._lock:
            if duplicate is None:
                released, self._guarded = self._guarded, set()
            else:
                self._guarded.discard(duplicate)
                released = {duplicate}
        for sock in released:
            sock.close()

    def _expire(self) -> None:
        if not self.passed():  # a late timer of an earlier deadline: not this one's
            return
        with self._lock:
            guarded = list(self._guarded)
        for sock in guarded:
            with contextlib.suppress(OSError):  # closed meanwhile
                sock.shutdown(socket.SHUT_RDWR)  # wakes every thread blocked on it


class _Stream(httpcore.NetworkStream):
    def __init__(
        self, inner: httpcore.NetworkStream, deadline: Deadline, guard: socket.socket | None
    ) -> None:
        self._inner = inner
        self._deadline = deadline
        self._guard = guard

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.bound(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        for start in range(0, len(buffer), _WRITE_PIECE):
            piece = buffer[start : start + _WRITE_PIECE]
            self._inner.write(piece, self._deadline.bound(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._deadline.release(self._guard)

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = self._deadline.bound(timeout, httpcore.ConnectTimeout)
        wrapped = self._inner.start_tls(ssl_context, server_hostname, bounded)
        return _Stream(wrapped, self._deadline, self._guard)  # the same connection

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, deadline: Deadline) -> None:
        self._inner = httpcore.SyncBackend()
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = self._deadline.bound(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, bounded, local_address, socket_options)
        return _Stream(
            stream, self._deadline, self._deadline.guard(stream.get_extra_info("socket"))
        )

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:  # pragma: no cover - the library connects over TCP only
        bounded = self._deadline.bound(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_unix_socket(path, bounded, socket_options)
        return _Stream(
            stream, self._deadline, self._deadline.guard(stream.get_extra_info("socket"))
        )

    def sleep(self, seconds: float) -> None:  # pragma: no cover - the pool does not retry
        time.sleep(max(0.0, min(seconds, self._deadline.remaining())))


#: httpcore's exceptions and the httpx ones they become, most specific first.
_EXCEPTIONS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def _translate(exc: Exception, request: httpx.Request, deadline: Deadline) -> httpx.HTTPError:
    """The ``httpx`` exception for what went wrong: a timeout once the deadline has passed
    (the watchdog's shutdown shows up as a closed connection), else httpcore's error in
    httpx's terms, and anything else (a protocol library's own error) as the peer's fault."""
    if isinstance(exc, httpx.HTTPError):
        return exc
    if deadline.passed():
        return httpx.ReadTimeout(f"no answer before the deadline ({exc})", request=request)
    for core, mapped in _EXCEPTIONS:
        if isinstance(exc, core):
            return mapped(str(exc), request=request)
    return httpx.RemoteProtocolError(f"{type(exc).__name__}: {exc}", request=request)


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes], request: httpx.Request, deadline: Deadline) -> None:
        self._inner = inner
        self._request = request
        self._deadline = deadline

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._inner
        except Exception as exc:
            raise _translate(exc, self._request, self._deadline) from exc

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            try:
                close()
            except Exception as exc:
                raise _translate(exc, self._request, self._deadline) from exc


class DeadlineTransport(httpx.BaseTransport):
    """An ``httpx`` transport whose connects, reads and writes never wait past ``deadline``
    (see the module docstring). ``http1``/``http2`` as for ``httpx``: HTTP/2 alone on plain
    http is h2c with prior knowledge. ``proxy``: a proxy to go through (see
    :func:`environment_proxy`), none by default. ``trust_env``: whether the TLS context reads
    ``SSL_CERT_FILE``/``SSL_CERT_DIR``. Never follows a redirect (that is the client's job,
    and the library's clients do not)."""

    def __init__(
        self,
        deadline: Deadline,
        *,
        http1: bool = True,
        http2: bool = False,
        proxy: httpx.Proxy | None = None,
        trust_env: bool = False,
    ) -> None:
        self.deadline = deadline
        backend = _Backend(deadline)
        context = httpx.create_ssl_context(trust_env=trust_env)
        self._pool: httpcore.ConnectionPool
        if proxy is None:
            self._pool = httpcore.ConnectionPool(
                ssl_context=context, http1=http1, http2=http2, network_backend=backend
            )
            return
        url = httpcore.URL(
            scheme=proxy.url.raw_scheme,
            host=proxy.url.raw_host,
            port=proxy.url.port,
            target=proxy.url.raw_path,
        )
        if proxy.url.scheme in ("socks5", "socks5h"):
            self._pool = httpcore.SOCKSProxy(
                proxy_url=url,
                proxy_auth=proxy.raw_auth,
                ssl_context=context,
                http1=http1,
                http2=http2,
                network_backend=backend,
            )
        else:
            self._pool = httpcore.HTTPProxy(
                proxy_url=url,
                proxy_auth=proxy.raw_auth,
                proxy_headers=proxy.headers.raw,
                ssl_context=context,
                http1=http1,
                http2=http2,
                network_backend=backend,
            )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            answer = self._pool.handle_request(core)
        except Exception as exc:
            raise _translate(exc, request, self.deadline) from exc
        assert isinstance(answer.stream, Iterable)
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_ResponseStream(answer.stream, request, self.deadline),
            extensions=answer.extensions,
        )

    def close(self) -> None:
        self.deadline.stop()
        try:
            with contextlib.suppress(Exception):  # a connection the peer broke: nothing to do
                self._pool.close()
        finally:
            self.deadline.release()


def environment_proxy(url: str, trust_env: bool) -> httpx.Proxy | None:
    """The proxy to reach ``url`` through: none without ``trust_env``; with it, the one the
    environment names for the URL's scheme (else ``ALL_PROXY``), unless ``NO_PROXY`` covers its
    host. Raises ``ValueError`` for a proxy URL ``httpx`` cannot use."""
    if not trust_env:
        return None
    proxies = urllib.request.getproxies()
    parts = urlsplit(url)
    host = parts.hostname or ""
    if proxies.get("no") and urllib.request.proxy_bypass(host):
        return None
    chosen = proxies.get(parts.scheme.lower()) or proxies.get("all")
    if not chosen:
        return None
    if "://" not in chosen:
        chosen = "http://" + chosen
    socks = urlsplit(chosen).scheme.lower().startswith("socks")
    if socks and importlib.util.find_spec("socksio") is None:
        raise ValueError(
            "the SOCKS proxy of the environment needs the socksio package "
            "(pip install 'httpx[socks]')"
        )
    try:
        return httpx.Proxy(chosen)
    except (ValueError, httpx.InvalidURL) as exc:
        raise ValueError(str(exc)) from None
