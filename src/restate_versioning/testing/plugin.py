"""The pytest plugin this package registers (entry point ``pytest11``): fixtures for tests of
code that uses a :class:`~restate_versioning.Registry`.

* ``versioning_clock`` — a :class:`~restate_versioning.ManualClock` at 2026-01-01 UTC;
* ``registry`` — a fresh registry on that clock with :class:`~restate_versioning.SequentialIds`,
  so every run makes the same ids. A project's own ``registry`` fixture takes precedence.
"""

from __future__ import annotations

import pytest

from ..clock import ManualClock
from ..ids import SequentialIds
from ..registry import Registry

__all__ = ["registry", "versioning_clock"]


@pytest.fixture
def versioning_clock() -> ManualClock:
    """A clock that moves only when the test moves it."""
    return ManualClock()


@pytest.fixture
def registry(versioning_clock: ManualClock) -> Registry:
    """A fresh, deterministic registry: the test's clock and sequential ids."""
    return Registry(clock=versioning_clock, ids=SequentialIds())
