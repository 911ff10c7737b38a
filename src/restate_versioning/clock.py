"""Clocks for the registry: the registry asks its clock for the time, and nothing else does.

A clock is any zero-argument callable returning an aware :class:`~datetime.datetime`.
:class:`ManualClock` is one that only moves when told, for harnesses and tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["ManualClock"]

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class ManualClock:
    """A clock that stands still until :meth:`advance` or :meth:`set` moves it."""

    def __init__(self, start: datetime = _EPOCH) -> None:
        self._now = self._checked(start)

    @staticmethod
    def _checked(moment: datetime) -> datetime:
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            raise ValueError(f"a clock needs an aware datetime, got {moment!r}")
        return moment

    def __call__(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` (never backward) and return the new time."""
        if delta < timedelta(0):
            raise ValueError(f"a clock does not go back: advance({delta!r})")
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> datetime:
        """Jump to ``moment``, which must not be earlier than now."""
        moment = self._checked(moment)
        if moment < self._now:
            raise ValueError(f"a clock does not go back: set({moment!r}) before {self._now!r}")
        self._now = moment
        return moment
