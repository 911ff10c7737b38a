"""The targets of ``make bench``, as data: one row each, naming the figure it judges, what of
that figure is compared (ours, or ours divided by the baseline's), how, with which bound and in
which unit. The runner checks every row against the figures of a run; adding a target is adding
a row (and, for a new figure, measuring it in ``runner.run``)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

#: How a target compares a value with its bound.
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "<": operator.lt,
}
#: What of a figure a target compares: ours, or ours divided by the baseline's.
OURS = "ours"
OURS_OVER_BASELINE = "ours/base"


@dataclass(frozen=True)
class Target:
    name: str  # what the target asks, in words (named when it fails)
    figure: str  # the key of the figure it judges (runner.Figure.key)
    of: str  # OURS or OURS_OVER_BASELINE
    comparison: str  # a key of COMPARISONS
    bound: float
    unit: str  # of the bound ("" for a ratio)

    def passes(self, value: float) -> bool:
        return COMPARISONS[self.comparison](value, self.bound)

    def describe(self) -> str:
        """The bound as the table prints it: ``ours/base >= 0.33``, ``ours < 1.00 s``."""
        bound = f"{self.bound:,.0f}" if self.bound >= 1000 else f"{self.bound:.2f}"
        return f"{self.of} {self.comparison} {bound}{' ' + self.unit if self.unit else ''}"


TARGETS: tuple[Target, ...] = (
    Target("invoke+complete at a third of the baseline's rate or better", "cycles",
           OURS_OVER_BASELINE, ">=", 1 / 3, ""),
    Target("registration independent of registry size", "register growth",
           OURS, "<=", 1.2, ""),
    Target("deployment_status independent of registry size", "status growth",
           OURS, "<=", 1.2, ""),
    Target("removal_plan from indexes, not scans of the invocations", "plan load",
           OURS, "<=", 1.5, ""),
    Target("deployment_status from indexes, not scans of the invocations", "status load",
           OURS, "<=", 1.5, ""),
    Target("SQLite keeps up unbatched", "sqlite unbatched",
           OURS, ">=", 5_000, "commands/s"),
    Target("a store of 100k commands opens in under a second after a clean close",
           "open after close", OURS, "<", 1.0, "s"),
    Target("a store of 100k commands opens in under a second after a crash",
           "open after a crash", OURS, "<", 1.0, "s"),
    Target("an in-flight invocation at most twice the baseline's bytes", "memory",
           OURS_OVER_BASELINE, "<=", 2.0, ""),
    Target("SequentialIds deployment ids in a microsecond", "ids SequentialIds deployment_id",
           OURS, "<=", 1.0, "us"),
    Target("SequentialIds invocation ids in a microsecond", "ids SequentialIds invocation_id",
           OURS, "<=", 1.0, "us"),
    Target("RandomIds deployment ids in a microsecond", "ids RandomIds deployment_id",
           OURS, "<=", 1.0, "us"),
    Target("RandomIds invocation ids in a microsecond", "ids RandomIds invocation_id",
           OURS, "<=", 1.0, "us"),
    Target("AdminClient.load() of 1,000 deployments and 100,000 invocations under 3 s",
           "admin load", OURS, "<", 3.0, "s"),
    Target("AdminServer answers its first request in under 0.2 s", "server start",
           OURS, "<", 0.2, "s"),
    Target("the served GET /services in under 50 ms @1k deployments", "server services cold",
           OURS, "<", 50, "ms"),
    Target("the served services status query in under 500 ms @100k invocations",
           "server status cold", OURS, "<", 500, "ms"),
)  # fmt: skip
