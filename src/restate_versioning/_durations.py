"""Durations as restate-server 1.7.12 prints them in its admin API: days, hours, minutes,
seconds and milliseconds, largest first, the ones that are zero left out, separated by one
space (``"1d 1h 1m 1s 4ms"``, ``"365d 6h"``, ``"10m"``); no unit above days; zero is ``"0s"``.
"""

from __future__ import annotations

import functools
import re

__all__ = ["format_millis", "parse_millis"]

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
