"""Times that enter the library have a UTC equivalent: clocks, delays, snapshots and views.

``datetime`` takes ``9999-12-31T23:59:59-14:00``, but its UTC equivalent is past the year 9999
and converting it raises ``OverflowError``. Such a time is refused where it enters, with
:class:`InvalidTime` (a :class:`VersioningError` and a ``ValueError``), and nothing changes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from restate_versioning import InvalidInvocation, ManualClock, Registry, SequentialIds
from restate_versioning.clock import check_time, check_time_after
from restate_versioning.errors import InvalidTime, VersioningError
from restate_versioning.serialization import admin_deployments, dumps, loads

from .helpers import V1, manifest, service

LAST_LOCAL = datetime.fromisoformat("9999-12-31T23:59:59-14:00")
FIRST_LOCAL = datetime.fromisoformat("0001-01-01T00:00:00+14:00")

NOT_TIMES: list[tuple[object, str]] = [
    (LAST_LOCAL, "has no UTC equivalent"),
    (FIRST_LOCAL, "has no UTC equivalent"),
    (datetime(2026, 1, 1), "must be an aware datetime"),
    ("2026-01-01T00:00:00Z", "must be an aware datetime"),
    (None, "must be an aware datetime"),
]


@pytest.mark.parametrize(("value", "reason"), NOT_TIMES)
def test_a_time_without_a_utc_equivalent_or_offset_is_refused(value: object, reason: str) -> None:
    """:func:`check_time` is the one check: an aware ``datetime`` whose UTC equivalent
    exists, else :class:`InvalidTime` carrying the value."""
    with pytest.raises(InvalidTime, match=reason) as caught:
        check_time(value)
    assert caught.value.value is value
    assert isinstance(caught.value, VersioningError)
    assert isinstance(caught.value, ValueError)


def test_a_time_that_a_delay_takes_beyond_any_date_is_refused() -> None:
    """Adding a delay that goes past the last date, in local time or in UTC, is refused."""
    near_end = datetime(9999, 12, 31, 12, tzinfo=timezone(timedelta(hours=-10)))
    with pytest.raises(InvalidTime, match="has no UTC equivalent"):
        check_time_after(near_end, timedelta(hours=3))
    with pytest.raises(InvalidTime, match="beyond any date"):
        check_time_after(near_end, timedelta(days=2))
    assert check_time_after(datetime(2026, 1, 1, tzinfo=UTC), timedelta(days=1)).day == 2


@pytest.mark.parametrize("start", [LAST_LOCAL, FIRST_LOCAL, datetime(2026, 1, 1)])
def test_a_manual_clock_refuses_a_start_with_no_utc_equivalent(start: datetime) -> None:
    """``ManualClock(start)`` with a naive time or one beyond UTC raises
    :class:`InvalidTime`."""
    with pytest.raises(InvalidTime):
        ManualClock(start)


def test_a_manual_clock_that_cannot_move_stays_where_it_was() -> None:
    """``advance`` past the last date, ``set`` to a time beyond UTC, a negative or non-timedelta
    step: each raises :class:`InvalidTime` and the clock reads what it read before."""
    now = datetime(9999, 12, 31, 12, tzinfo=UTC)
    clock = ManualClock(now)
    step: object
    for step in (timedelta(days=1), timedelta(seconds=-1), 1):
        with pytest.raises(InvalidTime):
            clock.advance(step)  # type: ignore[arg-type]
        assert clock() == now
    for moment in (LAST_LOCAL, datetime(2026, 1, 1, tzinfo=UTC)):
        with pytest.raises(InvalidTime):
            clock.set(moment)
        assert clock() == now


def test_a_registry_clock_answering_a_time_beyond_utc_changes_nothing() -> None:
    """The registry checks its clock's every answer: a time with no UTC equivalent raises
    :class:`InvalidTime` from the command, which changes nothing."""
    answers = [datetime(2026, 1, 1, tzinfo=UTC)]
    registry = Registry(clock=lambda: answers[-1], ids=SequentialIds())
    registry.register(V1, manifest(service("Greeter")))
    before = registry.snapshot()
    answers.append(LAST_LOCAL)
    with pytest.raises(InvalidTime, match="the registry clock's time"):
        registry.invoke("Greeter", "greet")
    with pytest.raises(InvalidTime):
        registry.register("http://127.0.0.1:9082/", manifest(service("Greeter")))
    assert registry.snapshot() == before


def test_a_delay_whose_due_time_has_no_utc_equivalent_is_an_invalid_invocation() -> None:
    """A delayed call due after the last UTC date is refused like an overflowing delay."""
    clock = ManualClock(datetime(9999, 12, 31, 12, tzinfo=timezone(timedelta(hours=-10))))
    registry = Registry(clock=clock, ids=SequentialIds())
    registry.register(V1, manifest(service("Greeter")))
    before = registry.snapshot()
    with pytest.raises(InvalidInvocation, match="is beyond any date"):
        registry.invoke("Greeter", "greet", delay=timedelta(hours=3))
    assert registry.snapshot() == before


def test_the_admin_views_format_every_time_a_registry_can_hold() -> None:
    """The latest time a registry can hold is shown by the admin views and survives a
    snapshot."""
    clock = ManualClock(datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=14))))
    registry = Registry(clock=clock, ids=SequentialIds())
    registry.register(V1, manifest(service("Greeter")))
    (shown,) = admin_deployments(registry)["deployments"]
    assert shown["created_at"] == "9999-12-31T09:59:59.000000000Z"
    assert loads(dumps(registry)).snapshot() == registry.snapshot()


def test_a_call_reads_the_registry_clock_once_whatever_its_time_zone() -> None:
    reads: list[datetime] = []

    def clock() -> datetime:
        reads.append(datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))))
        return reads[-1]

    registry = Registry(clock=clock, ids=SequentialIds())
    registry.register("http://127.0.0.1:9081", manifest(service("Greeter")))
    reads.clear()
    call = registry.invoke("Greeter", "greet")
    assert len(reads) == 1
    assert call.created_at == reads[0]
