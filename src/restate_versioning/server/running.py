"""Serving the apps on sockets: :class:`AdminServer`, in a background thread for tests and
harnesses, and :func:`serve`, in the foreground for ``restate-versioning serve``.

Both bind their two sockets (the admin API's and the ingress's) before they start, on
``127.0.0.1`` by default, so the URLs are known and connectable as soon as
:meth:`AdminServer.start` returns. One uvicorn server (HTTP/1.1, with h11) answers on both,
and hands each request to the app of the socket it came in on.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Self

import uvicorn

from ..clock import ManualClock
from ..registry import Registry
from ..storage import StoredRegistry
from ..transport import Transport
from .apps import admin_app
from .ingress import ingress_app
from .state import ServedRegistry

__all__ = ["AdminServer", "by_port", "serve"]

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


def by_port(apps: Mapping[int, ASGIApp]) -> ASGIApp:
    """One ASGI app that hands each request to the app of the local port it came in on."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        server = scope.get("server")
        target = apps.get(server[1]) if server else None
        if target is None:
            target = next(iter(apps.values()))
        await target(scope, receive, send)

    return app


#: How long :meth:`AdminServer.stop` lets open requests finish, in seconds.
_GRACE = 2.0


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(served: ServedRegistry, sockets: list[socket.socket]) -> uvicorn.Server:
    """One uvicorn server for both sockets: the admin API on the first, the ingress on the
    second."""
    admin, ingress = (s.getsockname()[1] for s in sockets)
    app = by_port(
        {admin: admin_app(served, ingress_url=_url(sockets[1])), ingress: ingress_app(served)}
    )
    config = uvicorn.Config(
        app,
        http="h11",
        ws="none",
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=int(_GRACE),
    )
    return uvicorn.Server(config)


class AdminServer:
    """The admin API and the ingress of a served registry (:mod:`restate_versioning.server`),
    on two sockets, in a background thread: ``with AdminServer(registry) as server:`` then
    ``server.admin_url`` (``RESTATE_ADMIN_URL`` for the ``restate`` CLI) and
    ``server.ingress_url``.

    ``registry``: a :class:`~restate_versioning.Registry` or a
    :class:`~restate_versioning.storage.StoredRegistry` (or a :class:`ServedRegistry` made
    already); ``transport`` and ``clock`` as :class:`ServedRegistry` takes them. Ports 0 (the
    default) are free ports, on ``host`` (``127.0.0.1``). The server answers from the moment
    :meth:`start` (or ``__enter__``) returns until :meth:`stop` (or ``__exit__``), which waits
    for the thread to end. While it runs, change the registry through :attr:`served`
    (``server.served.execute(command)``) or under ``server.served.lock``.
    """

    def __init__(
        self,
        registry: Registry | StoredRegistry | ServedRegistry,
        *,
        transport: Transport | None = None,
        clock: ManualClock | None = None,
        host: str = "127.0.0.1",
        admin_port: int = 0,
        ingress_port: int = 0,
    ) -> None:
        if isinstance(registry, ServedRegistry):
            if transport is not None or clock is not None:
                raise TypeError("transport and clock belong to the ServedRegistry given")
            self.served = registry
        else:
            self.served = ServedRegistry(registry, transport=transport, clock=clock)
        self._host = host
        self._ports = (admin_port, ingress_port)
        self._sockets: list[socket.socket] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self.admin_url = ""
        self.ingress_url = ""

    def __repr__(self) -> str:
        where = self.admin_url or "not started"
        return f"<AdminServer {where} serving {self.served.target!r}>"

    @property
    def running(self) -> bool:
        """Whether it answers now."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Self:
        """Bind both sockets and answer on them; returns once they accept connections."""
        if self._thread is not None:
            raise RuntimeError("this AdminServer was started already")
        self._sockets = [_bind(self._host, port) for port in self._ports]
        self.admin_url, self.ingress_url = (_url(s) for s in self._sockets)
        server = self._server = _server(self.served, self._sockets)
        started = threading.Event()

        def run() -> None:
            async def main() -> None:
                task = asyncio.create_task(server.serve(sockets=self._sockets))
                while not server.started and not task.done():
                    await asyncio.sleep(0.001)
                started.set()
                await task

            try:
                asyncio.run(main())
            except BaseException as exc:  # a failure to start: start() raises it
                self._failure = exc
            finally:
                started.set()

        self._thread = threading.Thread(target=run, name=f"AdminServer {self.admin_url}")
        self._thread.daemon = True
        self._thread.start()
        started.wait()
        if self._failure is not None or not server.started:
            self.stop()
            raise RuntimeError(f"the server could not start: {self._failure}") from self._failure
        return self

    def stop(self) -> None:
        """Stop answering, let open requests finish (briefly), close the sockets."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=_GRACE + 5)
        for sock in self._sockets:
            sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def serve(
    served: ServedRegistry,
    *,
    host: str = "127.0.0.1",
    admin_port: int = 9070,
    ingress_port: int = 8080,
    ready: Callable[[str, str], object] | None = None,
) -> None:
    """Serve ``served`` in the foreground until interrupted (Ctrl-C, ``SIGTERM``).
    ``ready(admin_url, ingress_url)`` is called once both sockets accept connections."""
    sockets = [_bind(host, port) for port in (admin_port, ingress_port)]
    try:
        server = _server(served, sockets)

        async def main() -> None:
            task = asyncio.create_task(server.serve(sockets=sockets))
            while not server.started and not task.done():
                await asyncio.sleep(0.005)
            if ready is not None and server.started:
                ready(_url(sockets[0]), _url(sockets[1]))
            await task

        asyncio.run(main())
    finally:
        for sock in sockets:
            sock.close()
