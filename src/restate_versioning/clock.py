"""Clocks for the registry: the registry asks its clock for the time, and nothing else does.

A clock is any zero-argument callable returning an aware :class:`~datetime.datetime` that has a
UTC equivalent. :class:`ManualClock` is one that only moves when told, for harnesses and tests.
:func:`check_time` is the one check of every time that enters the library (a clock's answer, a
snapshot's timestamps, a delayed call's due time).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .errors import InvalidTime

__all__ = ["ManualClock", "check_time", "check_time_after"]


def check_time(moment: object, what: str = "a time") -> datetime:
    """``moment`` if it is an aware ``datetime`` with a UTC equivalent; raises
    :class:`~restate_versioning.errors.InvalidTime` naming ``what`` otherwise (a naive time, or
    one like ``9999-12-31T23:59:59-14:00`` that is beyond the last UTC date)."""
    if moment.__class__ is datetime and moment.tzinfo is UTC:  # what clocks give: no question
        return moment
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise InvalidTime(moment, f"{what} must be an aware datetime, got {moment!r}")
    try:
        moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidTime(
            moment, f"{what} {moment.isoformat()!r} has no UTC equivalent: it is beyond any date"
        ) from None
    return moment


def check_time_after(moment: datetime, delta: timedelta, what: str = "a time") -> datetime:
    """``moment + delta``, checked as :func:`check_time` checks it; raises
    :class:`~restate_versioning.errors.InvalidTime` when it is beyond any date."""
    try:
        result = moment + delta
    except OverflowError:
        raise InvalidTime(
            moment, f"{what}: {moment.isoformat()!r} plus {delta!r} is beyond any date"
        ) from None
    return check_time(result, what)


_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class ManualClock:
    """A clock that stands still until :meth:`advance` or :meth:`set` moves it.

    A time that is not aware, or has no UTC equivalent, or a move that would go beyond any date,
    raises :class:`~restate_versioning.errors.InvalidTime` (a ``ValueError``) and leaves the
    clock where it was."""

    def __init__(self, start: datetime = _EPOCH) -> None:
        self._now = self._checked(start)

    @staticmethod
    def _checked(moment: datetime) -> datetime:
        return check_time(moment, "a clock's time")

    def __call__(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` (never backward) and return the new time."""
        if not isinstance(delta, timedelta):
            raise InvalidTime(delta, f"a clock advances by a timedelta, not {delta!r}")
        if delta < timedelta(0):
            raise InvalidTime(delta, f"a clock does not go back: advance({delta!r})")
        self._now = check_time_after(self._now, delta, "the clock")
        return self._now

    def set(self, moment: datetime) -> datetime:
        """Jump to ``moment``, which must not be earlier than now."""
        moment = self._checked(moment)
        if moment < self._now:
            raise InvalidTime(
                moment, f"a clock does not go back: set({moment!r}) before {self._now!r}"
            )
        self._now = moment
        return moment
