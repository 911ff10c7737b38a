"""What a fuzz run tried and what came of it, per surface, and the rules every input obeys.

Each input is run through :func:`attempt`: the call may succeed or raise one of the errors the
surface allows (the library's own), and must end within :data:`TIME_BOUND` seconds; a refusal
must leave the state as it was. Anything else (another exception, a state changed by a refusal,
a hang) is recorded as a failure with the shortest offending input seen, and the test of that
surface fails at its end with all of them (:func:`check`). The tables are printed when the
session finishes (``conftest.py``).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs
from hypothesis import HealthCheck, Phase, settings

#: Seconds after which one input counts as hanging (a hang, not a measure of speed).
TIME_BOUND = 10.0

#: ``FUZZ_EXAMPLES`` (``make fuzz``) is the number of manifests; the other surfaces get a
#: share of it. Without it, the small slice that ``make test`` runs.
_SHARES = {
    "manifests": 1,
    "endpoints": 10,
    "ids": 10,
    "snapshots": 10,
    "schemas": 20,
    "store records": 300,
}
_SLICE = {
    "manifests": 300,
    "endpoints": 300,
    "ids": 300,
    "snapshots": 100,
    "schemas": 60,
    "store records": 20,
}


def examples(surface: str) -> int:
    """How many inputs to try on ``surface`` in this run."""
    total = os.environ.get("FUZZ_EXAMPLES")
    if not total:
        return _SLICE[surface]
    return max(int(total) // _SHARES[surface], 1)


def shape(value: Any, limit: int = 160) -> str:
    """A short description of an input, for the report."""
    try:
        text = repr(value)
    except Exception as exc:  # a value whose repr fails is a shape too
        text = f"<{type(value).__name__} whose repr raises {type(exc).__name__}>"
    if len(text) > limit:
        text = f"{text[: limit - 30]}... ({len(text)} chars)"
    return text


@attrs.define
class Surface:
    """One surface's figures."""

    name: str
    tried: int = 0
    outcomes: Counter[str] = attrs.Factory(Counter)
    longest: float = 0.0
    longest_input: str = ""
    failures: dict[str, str] = attrs.Factory(dict)  # kind -> the shortest input showing it
    failure_counts: Counter[str] = attrs.Factory(Counter)

    def fail(self, kind: str, value: Any) -> None:
        self.failure_counts[kind] += 1
        described = shape(value)
        known = self.failures.get(kind)
        if known is None or len(described) < len(known):
            self.failures[kind] = described


SURFACES: dict[str, Surface] = {}


def surface(name: str) -> Surface:
    return SURFACES.setdefault(name, Surface(name))


def attempt(
    name: str,
    value: Any,
    call: Callable[[], Any],
    allowed: tuple[type[BaseException], ...],
    state: Callable[[], Any] | None = None,
) -> Any:
    """Run ``call`` (which reads ``value``) once and record its outcome on surface ``name``.

    Returns what ``call`` returned, or ``None`` if it raised. ``allowed`` are the errors the
    surface may raise; ``state`` (if given) is taken before and, on a refusal, after the call,
    and must not differ."""
    tally = surface(name)
    tally.tried += 1
    before = state() if state is not None else None
    started = time.perf_counter()
    result: Any = None
    try:
        result = call()
    except allowed as exc:
        outcome = type(exc).__name__
        if state is not None and state() != before:
            tally.fail(f"{outcome} changed the state", value)
    except Exception as exc:
        outcome = f"unexpected {type(exc).__name__}"
        tally.fail(outcome, value)
    else:
        outcome = "accepted"
    elapsed = time.perf_counter() - started
    tally.outcomes[outcome] += 1
    if elapsed > tally.longest:
        tally.longest = elapsed
        tally.longest_input = shape(value, 100)
    if elapsed > TIME_BOUND:
        tally.fail(f"took more than {TIME_BOUND} s", value)
    return result


def check(name: str) -> None:
    """Fail the test of surface ``name`` if any input broke a rule, listing every kind."""
    tally = surface(name)
    assert tally.tried > 0
    if tally.failures:
        lines = [
            f"{kind} ({tally.failure_counts[kind]}x), e.g. {example}"
            for kind, example in sorted(tally.failures.items())
        ]
        raise AssertionError(f"{name}: inputs broke the rules:\n" + "\n".join(lines))


def report() -> list[str]:
    """The tables: one block per surface tried in this session."""
    lines: list[str] = []
    for tally in SURFACES.values():
        lines.append(
            f"{tally.name}: {tally.tried} inputs, longest {tally.longest * 1000:.1f} ms"
            f" ({tally.longest_input})"
        )
        for outcome, count in tally.outcomes.most_common():
            lines.append(f"    {count:>8}  {outcome}")
        for kind, example in sorted(tally.failures.items()):
            lines.append(f"    FAILURE {kind} ({tally.failure_counts[kind]}x): {example}")
    return lines


def settings_for(name: str) -> settings:
    """Hypothesis settings for surface ``name``: its number of inputs, generation only (a
    failure is recorded, not shrunk), no deadline (the time bound is :data:`TIME_BOUND`)."""
    return settings(
        max_examples=examples(name),
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
