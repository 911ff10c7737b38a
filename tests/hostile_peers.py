"""Hostile HTTP peers: real servers on 127.0.0.1 that misbehave on purpose.

A :class:`HostilePeer` listens on a free loopback port and runs one *behaviour* per connection,
in a thread: it reads the request (HTTP/1.1, or HTTP/2 with prior knowledge through the ``h2``
package), then answers in a way meant to hang, flood or exhaust the client. Every behaviour is
bounded by itself: it sends for at most ``PEER_LIFETIME`` seconds and stops as soon as the
client goes away or the peer is stopped. :meth:`HostilePeer.stop` closes every socket and joins
every thread.
"""

from __future__ import annotations

import contextlib
import gzip
import select
import socket
import threading
import time
import zlib
from collections.abc import Callable
from types import TracebackType

import h2.config
import h2.connection
import h2.events
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

#: The longest any behaviour keeps sending (s): a peer stops on its own.
PEER_LIFETIME = 15.0
V4 = "application/vnd.restate.endpointmanifest.v4+json"

Behaviour = Callable[["Connection"], None]


class Gone(Exception):
    """The client closed the connection, the peer was stopped, or its lifetime is over."""


class Connection:
    """One accepted connection, as a behaviour sees it."""

    def __init__(self, sock: socket.socket, stop: threading.Event) -> None:
        self.sock = sock
        self._stop = stop
        self._until = time.monotonic() + PEER_LIFETIME
        self.h2: h2.connection.H2Connection | None = None
        self.stream_id = 0

    def alive(self) -> None:
        if self._stop.is_set() or time.monotonic() > self._until:
            raise Gone

    def send(self, data: bytes) -> None:
        self.alive()
        try:
            self.sock.sendall(data)
        except OSError:
            raise Gone from None

    def pause(self, seconds: float) -> None:
        """Wait, reading (and dropping) what the client sends meanwhile."""
        end = time.monotonic() + seconds
        while True:
            self.alive()
            left = end - time.monotonic()
            if left <= 0:
                return
            self.drain(min(left, 0.05))

    def drain(self, wait: float = 0.0) -> None:
        """Read what the client sent (at most ``wait`` seconds for it); HTTP/2 frames go
        through the h2 state machine, whose own answers (ACKs) are not sent."""
        readable, _, _ = select.select([self.sock], [], [], wait)
        if not readable:
            return
        try:
            data = self.sock.recv(65536)
        except OSError:
            raise Gone from None
        if not data:
            raise Gone
        if self.h2 is not None:
            with contextlib.suppress(Exception):  # the client's frames do not matter
                self.h2.receive_data(data)
            self.h2.data_to_send()

    def read_http1_request(self) -> bytes:
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            self.alive()
            readable, _, _ = select.select([self.sock], [], [], 0.05)
            if readable:
                try:
                    data = self.sock.recv(65536)
                except OSError:
                    raise Gone from None
                if not data:
                    raise Gone
                buffer += data
        return buffer

    def read_h2_request(self) -> None:
        """Speak HTTP/2 as a server until the client's request has arrived."""
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        self.send(conn.data_to_send())
        self.h2 = conn
        while not self.stream_id:
            self.alive()
            readable, _, _ = select.select([self.sock], [], [], 0.05)
            if not readable:
                continue
            try:
                data = self.sock.recv(65536)
            except OSError:
                raise Gone from None
            if not data:
                raise Gone
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    self.stream_id = event.stream_id
            self.send(conn.data_to_send())

    def h2_headers(self, headers: list[tuple[str, str]], *, end: bool = False) -> bytes:
        """The bytes of a HEADERS frame for the request's stream (not sent)."""
        assert self.h2 is not None
        self.h2.send_headers(self.stream_id, headers, end_stream=end)
        return self.h2.data_to_send()


class HostilePeer:
    """A server on 127.0.0.1 that runs ``behaviour`` for each connection (see the module
    docstring). Use it as a context manager; ``connections`` counts the accepted ones."""

    def __init__(self, behaviour: Behaviour) -> None:
        self._behaviour = behaviour
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> HostilePeer:
        self._acceptor.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                continue
            self.connections += 1
            self._sockets.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        with contextlib.suppress(Gone, OSError):
            self._behaviour(Connection(sock, self._stop))
        with contextlib.suppress(OSError):
            sock.close()

    def stop(self) -> None:
        self._stop.set()
        self._acceptor.join(5)
        for thread in self._threads:
            thread.join(5)
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
        self._listener.close()


# --- HTTP/1.1 behaviours ---------------------------------------------------------------------


def http1_head(status: str = "200 OK", *headers: tuple[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def slow_headers(interval: float) -> Behaviour:
    """HTTP/1.1 headers, one byte every ``interval`` seconds, never finished."""

    def behaviour(conn: Connection) -> None:
        conn.read_http1_request()
        head = http1_head("200 OK", ("content-type", V4), ("x-padding", "p" * 10_000))
        for byte in head:
            conn.send(bytes([byte]))
            conn.pause(interval)

    return behaviour


def continue_flood(interval: float = 0.002) -> Behaviour:
    """``100 Continue`` answers, one every ``interval`` seconds, and never the answer."""

    def behaviour(conn: Connection) -> None:
        conn.read_http1_request()
        while True:
            conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            conn.pause(interval)

    return behaviour


def trickled_body(interval: float, content_type: str = V4) -> Behaviour:
    """Headers at once, then a chunked body of one byte every ``interval`` seconds."""

    def behaviour(conn: Connection) -> None:
        conn.read_http1_request()
        conn.send(
            http1_head("200 OK", ("content-type", content_type), ("transfer-encoding", "chunked"))
        )
        while True:
            conn.send(b"1\r\n \r\n")
            conn.pause(interval)

    return behaviour


def endless_body(content_type: str = V4, *, declared: int | None = None) -> Behaviour:
    """Headers at once, then spaces as fast as the client reads them, without end (or with
    a ``content-length`` of ``declared`` bytes that never all come)."""

    def behaviour(conn: Connection) -> None:
        conn.read_http1_request()
        headers = [("content-type", content_type)]
        if declared is not None:
            headers.append(("content-length", str(declared)))
        else:
            headers.append(("connection", "close"))
        conn.send(http1_head("200 OK", *headers))
        piece = b" " * 65536
        while True:
            conn.send(piece)

    return behaviour


def fixed_answer(
    status: str, headers: list[tuple[str, str]], body: bytes, *, http2: bool = False
) -> Behaviour:
    """One answer, sent at once (over h2c when ``http2``), then the connection is kept open
    until the client closes it."""

    def behaviour(conn: Connection) -> None:
        if http2:
            conn.read_h2_request()
            assert conn.h2 is not None
            frames = conn.h2_headers([(":status", status.split()[0]), *headers])
            conn.h2.send_data(conn.stream_id, body[:16384], end_stream=len(body) <= 16384)
            conn.send(frames + conn.h2.data_to_send())
        else:
            conn.read_http1_request()
            all_headers = [*headers, ("content-length", str(len(body)))]
            conn.send(http1_head(status, *all_headers) + body)
        while True:
            conn.pause(0.1)

    return behaviour


# --- HTTP/2 (h2c) behaviours -----------------------------------------------------------------


def h2_slow_headers(interval: float) -> Behaviour:
    """The HEADERS frame of the answer, one byte every ``interval`` seconds."""

    def behaviour(conn: Connection) -> None:
        conn.read_h2_request()
        padding = [(f"x-padding-{i}", "p" * 100) for i in range(50)]
        frame = conn.h2_headers([(":status", "200"), ("content-type", V4), *padding])
        for byte in frame:
            conn.send(bytes([byte]))
            conn.pause(interval)

    return behaviour


def h2_flood(frame: Callable[[int], bytes], interval: float = 0.002) -> Behaviour:
    """After the request, ``frame(n)`` every ``interval`` seconds and never an answer."""

    def behaviour(conn: Connection) -> None:
        conn.read_h2_request()
        n = 0
        while True:
            n += 1
            conn.send(frame(n))
            conn.pause(interval)

    return behaviour


def ping(n: int) -> bytes:
    return bytes(PingFrame(0, opaque_data=n.to_bytes(8, "big")).serialize())


def settings(n: int) -> bytes:
    return bytes(SettingsFrame(0, settings={SettingsFrame.MAX_CONCURRENT_STREAMS: 100}).serialize())


def window_update(n: int) -> bytes:
    return bytes(WindowUpdateFrame(0, window_increment=1).serialize())


def h2_trickled_data(interval: float) -> Behaviour:
    """Headers at once, then a DATA frame of one byte every ``interval`` seconds."""

    def behaviour(conn: Connection) -> None:
        conn.read_h2_request()
        conn.send(conn.h2_headers([(":status", "200"), ("content-type", V4)]))
        while True:
            conn.send(bytes(DataFrame(conn.stream_id, data=b" ").serialize()))
            conn.pause(interval)

    return behaviour


# --- bombs -----------------------------------------------------------------------------------


def gzip_bomb(size: int, layers: int) -> bytes:
    """``size`` zero bytes, gzipped ``layers`` times (made in pieces, never all in memory)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
    piece = bytes(1024 * 1024)
    parts = [packer.compress(piece) for _ in range(size // len(piece))]
    parts.append(packer.flush())
    data = b"".join(parts)
    for _ in range(layers - 1):
        data = gzip.compress(data, 9)
    return data


# --- other ways to misbehave -----------------------------------------------------------------


def raw_answer(data: bytes, *, http2: bool = False, close: bool = False) -> Behaviour:
    """``data`` as the answer, byte for byte (after the h2c handshake when ``http2``), then
    the connection closed (``close``) or held open."""

    def behaviour(conn: Connection) -> None:
        if http2:
            conn.read_h2_request()
        else:
            conn.read_http1_request()
        conn.send(data)
        if close:
            return
        while True:
            conn.pause(0.1)

    return behaviour


def h2_frames(make: Callable[[Connection], bytes]) -> Behaviour:
    """After the request, the frames ``make(conn)`` builds, then the connection held open."""

    def behaviour(conn: Connection) -> None:
        conn.read_h2_request()
        conn.send(make(conn))
        while True:
            conn.pause(0.1)

    return behaviour


def rst_stream(conn: Connection) -> bytes:
    return bytes(RstStreamFrame(conn.stream_id, error_code=2).serialize())


def goaway(conn: Connection) -> bytes:
    return bytes(GoAwayFrame(0, last_stream_id=0, error_code=2).serialize())


def hpack_bomb(conn: Connection) -> bytes:
    """A 4 KB header put in the HPACK table, then referred to by 1-byte index 4,000 times:
    16 MB of headers from one frame."""
    name, value = b"x-bomb", b"b" * 4000
    literal = b"\x40" + bytes([len(name)]) + name + b"\x7f" + _hpack_int(len(value) - 127) + value
    block = b"\x88" + literal + b"\xbe" * 4000  # :status 200, the literal, then index 62
    return bytes(HeadersFrame(conn.stream_id, data=block, flags=["END_HEADERS"]).serialize())


def _hpack_int(value: int) -> bytes:
    out = bytearray()
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def continuation_flood(interval: float = 0.002) -> Behaviour:
    """A HEADERS frame that never ends: CONTINUATION frames, one every ``interval`` seconds."""

    def behaviour(conn: Connection) -> None:
        conn.read_h2_request()
        conn.send(bytes(HeadersFrame(conn.stream_id, data=b"\x88").serialize()))
        while True:
            conn.send(bytes(ContinuationFrame(conn.stream_id, data=b"\x88" * 1000).serialize()))
            conn.pause(interval)

    return behaviour


def tls_trickle(interval: float) -> Behaviour:
    """A TLS server that answers the ClientHello with a record header announcing 16 KB of
    handshake, then sends it one byte every ``interval`` seconds."""

    def behaviour(conn: Connection) -> None:
        conn.drain(1.0)  # the ClientHello
        conn.send(b"\x16\x03\x03\x40\x00")
        while True:
            conn.send(b"\x02")
            conn.pause(interval)

    return behaviour
