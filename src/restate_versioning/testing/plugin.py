"""The pytest plugin this package registers (entry point ``pytest11``): fixtures for tests of
code that uses a :class:`~restate_versioning.Registry`.

* ``versioning_clock`` — a :class:`~restate_versioning.ManualClock` at 2026-01-01 UTC;
* ``registry`` — a fresh registry on that clock with :class:`~restate_versioning.SequentialIds`,
  so every run makes the same ids. A project's own ``registry`` fixture takes precedence;
* ``admin_server`` — an :class:`~restate_versioning.server.AdminServer` serving that registry
  on that clock (the control API moves the clock), on 127.0.0.1 and free ports, stopped at the
  test's end: ``admin_server.admin_url`` is the ``RESTATE_ADMIN_URL`` of the ``restate`` CLI or
  of the tool under test (it needs the ``server`` extra).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from ..clock import ManualClock
from ..ids import SequentialIds
from ..registry import Registry

if TYPE_CHECKING:
    from ..server import AdminServer

__all__ = ["admin_server", "registry", "versioning_clock"]


@pytest.fixture
def versioning_clock() -> ManualClock:
    """A clock that moves only when the test moves it."""
    return ManualClock()


@pytest.fixture
def registry(versioning_clock: ManualClock) -> Registry:
    """A fresh, deterministic registry: the test's clock and sequential ids."""
    return Registry(clock=versioning_clock, ids=SequentialIds())


@pytest.fixture
def admin_server(registry: Registry, versioning_clock: ManualClock) -> Iterator[AdminServer]:
    """Restate's admin API and ingress, served from ``registry``, for the test's duration."""
    from ..server import AdminServer  # the server extra, only where the fixture is used

    with AdminServer(registry, clock=versioning_clock) as server:
        yield server
