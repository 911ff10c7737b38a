"""The registry a server serves: one lock around every read and every command, and what the
served model keeps beside the registry (the output a completed call returned, the callers
waiting for one).

A :class:`ServedRegistry` wraps a :class:`~restate_versioning.Registry` or a
:class:`~restate_versioning.storage.StoredRegistry`. Requests are answered one at a time under
its lock, so a harness may also change the registry from its own thread, through
:meth:`ServedRegistry.execute` or under :attr:`ServedRegistry.lock`. Before each answer the
delayed calls whose time has come start (:meth:`Registry.start_due
<restate_versioning.Registry.start_due>`), as the server's timers start them; a stored registry
also reads the commands other writers committed, so every answer shows the store as it is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

from ..clock import ManualClock
from ..commands import Command, StartDue
from ..queries import RegistryQueries
from ..registry import Registry
from ..storage import StoredRegistry
from ..transport import Discovery, Transport

__all__ = ["ServedRegistry"]

R = TypeVar("R")


class ServedRegistry:
    """A registry, served: see the module docstring.

    ``transport`` discovers the endpoints ``POST /deployments`` registers; by default
    (``None``) each registration makes an :class:`~restate_versioning.transport.HttpTransport`
    (the ``http`` extra) as the request asks (``use_http_11``, ``additional_headers``), as the
    server's discovery does; a :class:`~restate_versioning.transport.StaticTransport` answers
    from seeded manifests.
    ``clock`` is the :class:`~restate_versioning.clock.ManualClock` the registry reads, if it
    reads one: the control API moves it (``POST /restate-versioning/clock``); a server on
    another clock refuses to.
    """

    def __init__(
        self,
        registry: Registry | StoredRegistry,
        *,
        transport: Transport | None = None,
        clock: ManualClock | None = None,
    ) -> None:
        if not isinstance(registry, Registry | StoredRegistry):
            raise TypeError(
                f"expected a Registry or a StoredRegistry, got {type(registry).__name__}"
            )
        self._target = registry
        self.transport = transport
        self.clock = clock
        self.lock = threading.RLock()
        #: The output each completed call returned (``{"output": ...}`` of the control API's
        #: complete), answered to a caller that waits for it at the ingress.
        self.outputs: dict[str, bytes] = {}
        #: How each call ended that was killed or cancelled through the admin API
        #: (``completion_failure``: ``"[409] killed"``, ``"[409] cancelled"``).
        self.failures: dict[str, str] = {}
        #: The invocation each ``idempotency-key`` made, by target and key:
        #: ``(service, object key, handler, idempotency key)``.
        self.idempotency: dict[tuple[str, str | None, str, str], str] = {}
        #: The ``idempotency-key`` each invocation was made with (``sys_invocation`` shows it).
        self.idempotency_keys: dict[str, str] = {}
        self._listeners: list[Callable[[], object]] = []

    @property
    def target(self) -> Registry | StoredRegistry:
        """The registry served, as it was given."""
        return self._target

    def queries(self) -> RegistryQueries:
        """The state now, for one answer: due calls started, a store's news read. Call it, and
        use what it returns, under :attr:`lock`."""
        self._execute(StartDue())
        target = self._target
        return target if isinstance(target, Registry) else target.registry

    def state_key(self) -> tuple[int, int]:
        """A value that changes whenever the served state does (for caches of what is built
        from it); read it under :attr:`lock`, after :meth:`queries`."""
        target = self._target
        if isinstance(target, Registry):
            return (id(target), target.changes)
        return (id(target), target.version)

    def execute(self, command: Command[R]) -> R:
        """Run ``command`` on the served registry, under the lock, and tell whoever waits for
        a change (a caller waiting for its call's output)."""
        with self.lock:
            self._execute(StartDue())
            return self._execute(command)

    def _execute(self, command: Command[R]) -> R:
        with self.lock:
            before = self.state_key()
            result = self._target.execute(command)
            if self.state_key() != before:
                for listener in tuple(self._listeners):
                    listener()
        return result

    def listen(self, listener: Callable[[], object]) -> Callable[[], None]:
        """Call ``listener`` (from the thread that made the change, under the lock) after
        every change; returns the function that stops it."""
        with self.lock:
            self._listeners.append(listener)

        def stop() -> None:
            with self.lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return stop

    def discover(
        self, endpoint: str, *, use_http_11: bool, headers: Mapping[str, str]
    ) -> Discovery:
        """What ``endpoint`` serves, asked outside the lock (it may be slow): through the
        server's ``transport`` if it was given one, else an
        :class:`~restate_versioning.transport.HttpTransport` speaking HTTP/1.1 or h2c and
        sending ``headers``, as the request asks."""
        transport = self.transport
        if transport is None:
            from ..transport import HttpTransport

            transport = HttpTransport(
                http_version="1.1" if use_http_11 else "2",
                headers={endpoint: headers} if headers else None,
            )
        return transport.discover(endpoint)

    def __repr__(self) -> str:
        return f"ServedRegistry({self._target!r})"
