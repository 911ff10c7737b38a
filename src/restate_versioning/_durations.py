"""Durations as restate-server 1.7.12 prints them in its admin API: days, hours, minutes,
seconds and milliseconds, largest first, the ones that are zero left out, separated by one
space (``"1d 1h 1m 1s 4ms"``, ``"365d 6h"``, ``"10m"``); no unit above days; zero is ``"0s"``.

And as it reads them from a request (:func:`parse_duration`): ISO 8601 (``PT1H30M``), or the
"friendly" format of the jiff crate it reads them with (``1h 30m``, ``1h30m``, ``1.5h``,
``90 minutes``, ``2 days``), refused in jiff's words.
"""

from __future__ import annotations

import functools
import re

__all__ = ["DurationError", "format_millis", "parse_duration", "parse_millis"]

_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))
_PART = re.compile(r"(\d{1,20})(d|h|m|s|ms)")


@functools.lru_cache(maxsize=4096)  # the same few durations (the defaults) come back often
def format_millis(millis: int) -> str:
    """``millis`` milliseconds as the server prints them."""
    if millis == 0:
        return "0s"
    parts = []
    for unit, size in _UNITS:
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts)


def parse_millis(text: str) -> int | None:
    """The milliseconds of a duration :func:`format_millis` prints (and of any other sum of
    those units, each at most once, largest first), or ``None`` if ``text`` is not one."""
    if text == "0s":
        return 0
    total, last = 0, -1
    order = [unit for unit, _ in _UNITS]
    sizes = dict(_UNITS)
    for part in text.split(" "):
        match = _PART.fullmatch(part)
        if match is None:
            return None
        index = order.index(match.group(2))
        if index <= last:
            return None
        last = index
        total += int(match.group(1)) * sizes[match.group(2)]
    return total


class DurationError(ValueError):
    """A duration the server does not read; the message is its reason, in jiff's words."""


_FRIENDLY = 'failed to parse input in the "friendly" duration format: '
_NO_INTEGER = (
    _FRIENDLY + "expected duration to start with a unit value (a decimal integer) after an "
    "optional sign, but no integer was found"
)
_NO_UNIT = (
    _FRIENDLY + "expected to find unit designator suffix (e.g., `years` or `secs`) after "
    "parsing integer"
)
_NEGATIVE = "negative signed durations cannot be converted to an unsigned duration"

#: The units of the friendly format, by each spelling, in milliseconds (calendar units, years
#: and months, have no fixed length and are not read).
FRIENDLY_UNITS: dict[str, float] = {
    **dict.fromkeys(("weeks", "week", "wks", "wk", "w"), 604_800_000),
    **dict.fromkeys(("days", "day", "d"), 86_400_000),
    **dict.fromkeys(("hours", "hour", "hrs", "hr", "h"), 3_600_000),
    **dict.fromkeys(("minutes", "minute", "mins", "min", "m"), 60_000),
    **dict.fromkeys(("seconds", "second", "secs", "sec", "s"), 1000),
    **dict.fromkeys(("milliseconds", "millisecond", "msecs", "msec", "ms"), 1),
    **dict.fromkeys(("microseconds", "microsecond", "usecs", "usec", "us", "µs"), 1e-3),
    **dict.fromkeys(("nanoseconds", "nanosecond", "nsecs", "nsec", "ns"), 1e-6),
}
_FRIENDLY_PART = re.compile(r"(\d+)(?:\.(\d+))?[ \t]*([a-zµ]*)[ \t]*,?[ \t]*")
_ISO = re.compile(
    r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:[.,](\d+))?S)?)?",
    re.IGNORECASE,
)
_ISO_UNITS = (604_800_000, 86_400_000, 3_600_000, 60_000)


def parse_duration(text: str) -> int:
    """The milliseconds of a duration the server reads (see the module docstring; a fraction
    of a millisecond is dropped); :class:`DurationError` with jiff's reason otherwise."""
    body = text.strip()
    sign = body[:1]
    if sign in ("+", "-"):
        body = body[1:].lstrip()
    millis = _iso_millis(body) if body[:1] in ("P", "p") else _friendly_millis(body)
    if sign == "-" and millis:
        raise DurationError(_NEGATIVE)
    return millis


def _iso_millis(body: str) -> int:
    match = _ISO.fullmatch(body)
    if match is None or body.upper() in ("P", "PT") or body.upper().endswith("T"):
        raise DurationError(f"failed to parse {body!r} as an ISO 8601 duration")
    weeks, days, hours, minutes, seconds, fraction = match.groups()
    counts = (weeks, days, hours, minutes)
    total = sum(int(n or 0) * unit for n, unit in zip(counts, _ISO_UNITS, strict=True))
    total += int(seconds or 0) * 1000 + int(((fraction or "") + "000")[:3])
    return total


def _friendly_millis(body: str) -> int:
    if not body[:1].isdigit():
        raise DurationError(_NO_INTEGER)
    total = 0.0
    index = 0
    while index < len(body):
        match = _FRIENDLY_PART.match(body, index)
        if match is None:
            raise DurationError(_NO_INTEGER)
        whole, fraction, unit = match.groups()
        size = FRIENDLY_UNITS.get(unit)
        if size is None:  # no unit, or one jiff does not know
            raise DurationError(_NO_UNIT)
        total += float(f"{whole}.{fraction or 0}") * size
        index = match.end()
    return int(total)
