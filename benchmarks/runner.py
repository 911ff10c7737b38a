"""The run of ``make bench``: every measurement, the figures it gives, the targets of
:mod:`benchmarks.targets` checked against them, and the table. ``main(["--quick"])`` returns the
exit status (1 if a target is missed); ``run(QUICK, log)`` returns the figures and the notes."""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .cluster import measure_load
from .measure import (
    available_cpus,
    measure_cycles,
    measure_ids,
    measure_memory,
    measure_queries_at_scale,
    measure_register,
    measure_state_checks,
    measure_status,
)
from .served import measure_served
from .storage import BATCH, run_storage
from .targets import OURS, TARGETS, Target
from .workload import (
    FULL,
    MANIFEST_SERVICES,
    PLAN_WORKING_SET,
    QUICK,
    SOLO_DEPLOYMENTS,
    STATUS_WORKING_SET,
    Sizes,
    check_equivalence,
    new_pair,
    populate,
)


@dataclass(frozen=True)
class Figure:
    """One measured figure: a line of the table. ``key`` is what a target names it by (the
    label changes with the sizes of a run)."""

    key: str
    label: str
    ours: float
    baseline: float | None = None
    digits: str = ".2f"  # how ours and the baseline's print
    ratio: bool = True  # whether ours/base means something (not for two growth factors)
    info: bool = False  # shown for information, never a target

    def compared(self, target: Target) -> float:
        """The value ``target`` bounds."""
        if target.of == OURS:
            return self.ours
        if self.baseline is None:
            raise RuntimeError(f"the target {target.name!r} needs a baseline for {self.key!r}")
        return self.ours / self.baseline


@dataclass(frozen=True)
class Row:
    """A line of the table. ``passed`` is ``None`` for a figure without a target."""

    figure: str
    ours: str
    baseline: str
    ratio: str
    target: str
    passed: bool | None
    target_name: str = ""


def count(n: int) -> str:
    return f"{n // 1000}k" if n < 1_000_000 else f"{n // 1_000_000}M"


def rows(figures: Sequence[Figure], targets: Sequence[Target] = TARGETS) -> list[Row]:
    """The table: each figure with its target, if it has one, checked. Every target must find
    its figure, and a figure has at most one target."""
    by_figure: dict[str, Target] = {}
    for each in targets:
        if each.figure in by_figure:
            raise RuntimeError(f"two targets for the figure {each.figure!r}")
        by_figure[each.figure] = each
    missing = set(by_figure) - {f.key for f in figures}
    if missing:
        raise RuntimeError(f"targets without a figure in this run: {sorted(missing)}")
    table: list[Row] = []
    for figure in figures:
        target = by_figure.get(figure.key)
        baseline = figure.baseline
        table.append(
            Row(
                figure.label,
                format(figure.ours, figure.digits),
                "" if baseline is None else format(baseline, figure.digits),
                f"{figure.ours / baseline:.2f}" if baseline and figure.ratio else "",
                target.describe() if target else "(info)" if figure.info else "",
                target.passes(figure.compared(target)) if target else None,
                target.name if target else "",
            )
        )
    return table


def time_figures(
    key: str, name: str, labels: Sequence[str], times: Sequence[float]
) -> list[Figure]:
    """Per-call times in microseconds, one figure per registry size; ``times`` holds ours and
    the baseline's for each size in turn."""
    return [
        Figure(f"{key} @{label}", f"{name}, us @{label}", ours * 1e6, theirs * 1e6)
        for label, ours, theirs in zip(labels, times[::2], times[1::2], strict=True)
    ]


def growth_figure(key: str, name: str, times: Sequence[float], info: bool = False) -> Figure:
    """How much the cost grows from the small to the large registry."""
    ours_small, baseline_small, ours_large, baseline_large = times
    return Figure(
        key, name, ours_large / ours_small, baseline_large / baseline_small, ratio=False, info=info
    )


def run(sizes: Sizes, log: Callable[[str], None]) -> tuple[list[Figure], list[str]]:
    """Run every benchmark; returns the figures and the notes to print under the table."""
    small, large = count(sizes.small), count(sizes.large)
    figures: list[Figure] = []
    notes: list[str] = []

    log("checking that the baseline does the same work...")
    check_equivalence()

    log(f"invoke + complete cycles on {small} deployments...")
    registry, baseline = new_pair()
    populate(registry, baseline, 0, sizes.small)
    ours_rate, baseline_rate = measure_cycles(registry, baseline, sizes)
    del registry, baseline
    figures.append(
        Figure("cycles", f"invoke+complete cycles/s @{small}", ours_rate, baseline_rate, ",.0f")
    )

    log("id generation...")
    per_id = measure_ids(sizes)
    for (generator, kind), seconds in per_id.items():
        figures.append(
            Figure(
                f"ids {generator} {kind}",
                f"{generator}.{kind}, us per id",
                seconds * 1e6,
                info=not any(t.figure == f"ids {generator} {kind}" for t in TARGETS),
            )
        )
    id_cost = per_id["SequentialIds", "invocation_id"]
    notes.append(
        f"Both sides make ids with the same SequentialIds generator (ids are part of the "
        f"contract): {id_cost * 1e6:.2f} us of every invoke, {id_cost * baseline_rate:.0%} of a "
        f"baseline cycle. Id figures are the median of {sizes.repeats} batches of "
        f"{sizes.cycles:,} ids, on fresh generators, at times 1 us apart; RandomIds is the "
        f"registry's default (randomness from the operating system), RandomIds(seed) the "
        f"reproducible one."
    )

    log(f"building registries of {small} and {large} deployments...")
    pairs = [new_pair(), new_pair()]
    populate(*pairs[0], 0, sizes.small)
    populate(*pairs[1], 0, sizes.large)
    log(f"register and deployment_status at {small} and {large}, interleaved...")
    register = measure_register(pairs, sizes)
    status = measure_status(pairs, sizes, STATUS_WORKING_SET)
    status_any = measure_status(pairs, sizes, None)
    del pairs
    labels = (small, large)
    register_name = f"register {MANIFEST_SERVICES}-service manifest"
    figures += time_figures("register", register_name, labels, register)
    figures.append(growth_figure("register growth", f"{register_name}, {large}/{small}", register))
    figures += time_figures("status", "deployment_status", labels, status)
    figures.append(growth_figure("status growth", f"deployment_status, {large}/{small}", status))
    figures.append(
        growth_figure(
            "status growth any", f"  same, any deployment, {large}/{small}", status_any, True
        )
    )
    notes.append(
        f"Each registration adds a deployment: the {small} registry ends at "
        f"{sizes.small + sizes.repeats * sizes.register_batch:,} deployments."
    )
    notes.append(
        f"deployment_status asks, in random order, about {STATUS_WORKING_SET} deployments picked "
        f"at random from the whole registry, at both sizes, so that only the registry size "
        f"changes and not how much memory the queries touch. Asked about any deployment "
        f"(the '(info)' row), the queries outgrow the CPU caches as the registry grows, for the "
        f"baseline too: ours {status_any[0] * 1e6:.2f} -> {status_any[2] * 1e6:.2f} us, "
        f"baseline {status_any[1] * 1e6:.2f} -> {status_any[3] * 1e6:.2f} us."
    )

    log(f"removal_plan and deployment_status with 0 and {count(sizes.in_flight)} invocations...")
    plan_empty, plan_loaded, status_empty, status_loaded = measure_queries_at_scale(sizes)
    million = count(sizes.in_flight)
    for key, name, none, loaded in (
        ("plan", "removal_plan", plan_empty, plan_loaded),
        ("status", "deployment_status", status_empty, status_loaded),
    ):
        figures.append(Figure(f"{key} empty", f"{name}, us, no invocations", none * 1e6))
        figures.append(Figure(f"{key} loaded", f"{name}, us, {million} invocations", loaded * 1e6))
        figures.append(Figure(f"{key} load", f"{name}, {million}/none", loaded / none))
    notes.append(
        f"removal_plan and deployment_status ask about {PLAN_WORKING_SET} deployments of a "
        f"{small} registry: the latest deployments of 50 shared services (work is pinned to "
        f"them) and {SOLO_DEPLOYMENTS} that serve a service of their own (their plans count its "
        f"queued work). The loaded registry holds {million} uncompleted invocations: nine in ten "
        f"running on shared services, the rest on the solo ones, half of those scheduled."
    )

    log("registering a Virtual Object with and without a state check...")
    plain, compatible, incompatible = measure_state_checks(sizes)
    for key, seconds in (
        ("no state declared", plain),
        ("state compatible", compatible),
        ("state incompatible", incompatible),
    ):
        label = f"register a Cart revision, {key}, us"
        figures.append(Figure(f"cart {key}", label, seconds * 1e6, None, ".1f"))
    notes.append(
        "A Cart revision's state schema is a pydantic-like model ($defs, a nested model, a "
        "nullable field, an enum); each registration (a dry run) checks a schema of its own "
        "against the latest revision's, the meta-schema check included (nothing is cached): "
        "annotations apart they are equal (compatible), or the new one narrows a bound "
        "(incompatible: a counterexample is searched for and checked; with breaking)."
    )

    storage_commands = sizes.cycles
    open_commands = sizes.in_flight // 10
    log(f"storage: {storage_commands:,} commands per adapter, open of {open_commands:,}...")
    stored, postgres = run_storage(storage_commands, open_commands)
    for name in (
        "memory, unbatched",
        "memory, batched",
        "sqlite, batched",
        "postgres, unbatched",
        "postgres, batched",
        "sqlite, unbatched",
    ):
        if name in stored:
            key = name.replace(",", "")
            figures.append(Figure(key, f"stored commands/s, {name}", stored[name], None, ",.0f"))
    for name in ("open after close", "open after a crash"):
        figures.append(Figure(name, f"{name}, s @{count(open_commands)} commands", stored[name]))
    notes.append(
        f"Stored commands are invoke + complete pairs through a StoredRegistry (one append per "
        f"command, or {BATCH} to an append); SQLite in WAL mode with synchronous=NORMAL. A "
        f"crash leaves up to snapshot_every (10,000) records to replay on open. PostgreSQL: "
        f"{postgres}."
    )

    deployments, invocations = sizes.cluster_deployments, sizes.cluster_invocations
    log(f"AdminClient.load() of {deployments:,} deployments and {invocations:,} invocations...")
    seconds, peak = measure_load(deployments, invocations, repeats=3)
    cluster = f"{deployments:,} deployments, {count(invocations)} invocations"
    figures.append(Figure("admin load", f"AdminClient.load(), s @{cluster}", seconds))
    figures.append(
        Figure("admin load peak", f"AdminClient.load() peak MiB @{cluster}", peak, info=True)
    )
    notes.append(
        "AdminClient.load() reads a cluster's admin API served from loopback by a child "
        "process (the answers restate-server 1.7.12 gives, made by the admin views: every "
        "deployment holding older revisions asked for one by one); best of 3 loads; the peak "
        "is what tracemalloc counts allocated at once during a load."
    )

    log(f"the served model on {deployments:,} deployments and {invocations:,} invocations...")
    served = measure_served(deployments, invocations, repeats=5)
    figures.append(
        Figure("server start", "AdminServer(...) to its first answer, s", served["start"])
    )
    for key, name in (
        ("services cold", "GET /services after a change"),
        ("services warm", "GET /services, nothing changed"),
        ("status cold", "the services status query after a change"),
        ("status warm", "the services status query, nothing changed"),
    ):
        figures.append(
            Figure(f"server {key}", f"{name}, ms @{cluster}", served[key] * 1e3, None, ".1f")
        )
    notes.append(
        "The served model (restate_versioning.server.AdminServer, uvicorn in a thread) asked "
        "over loopback by httpx in the same process, best of 5; 'after a change' answers are "
        "made again (a registry change invalidates what was built), the services status query "
        "is the restate CLI's own, answered by DataFusion over tables built for its columns."
    )

    log(f"memory of {count(sizes.in_flight)} in-flight invocations (tracemalloc)...")
    ours_bytes, baseline_bytes = measure_memory(sizes)
    figures.append(
        Figure(
            "memory",
            f"bytes per in-flight invocation @{count(sizes.in_flight)}",
            ours_bytes,
            baseline_bytes,
            ".0f",
        )
    )
    notes.append(
        f"Times are the best of {sizes.repeats} batches, interleaved with the batches they are "
        f"compared with, the cyclic garbage collector paused; memory is tracemalloc's count of "
        f"live bytes on a fresh registry of {small} deployments."
    )
    return figures, notes


def table(lines: Sequence[Row]) -> str:
    header = ("figure", "ours", "baseline", "ours/base", "target", "result")
    cells = [
        (
            r.figure,
            r.ours,
            r.baseline,
            r.ratio,
            r.target,
            "" if r.passed is None else "PASS" if r.passed else "FAIL",
        )
        for r in lines
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]

    def line(values: Sequence[str]) -> str:
        first, *numbers = values
        parts = [first.ljust(widths[0])]
        parts += [v.rjust(w) for v, w in zip(numbers[:3], widths[1:4], strict=True)]
        parts += [v.ljust(w) for v, w in zip(numbers[3:], widths[4:], strict=True)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(c) for c in cells)])


def peak_rss_mib(who: int) -> float:
    """The peak resident memory of this process (``RUSAGE_SELF``) or of its largest child
    (``RUSAGE_CHILDREN``)."""
    peak = resource.getrusage(who).ru_maxrss
    return (peak if sys.platform == "darwin" else peak * 1024) / 2**20


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks, print the table; 1 if a target is missed, else 0."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Benchmarks of restate_versioning.Registry."
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run with ten times fewer items"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    figures, notes = run(sizes, log)
    lines = rows(figures)
    print(table(lines))
    print()
    for note in notes:
        print(note)
    elapsed = time.perf_counter() - started
    print(
        f"Python {platform.python_version()}, {available_cpus()} CPUs. Wall time {elapsed:.1f} s; "
        f"peak RSS {peak_rss_mib(resource.RUSAGE_SELF):,.0f} MiB "
        f"(largest child process {peak_rss_mib(resource.RUSAGE_CHILDREN):,.0f} MiB)."
    )
    failed = [r.target_name for r in lines if r.passed is False]
    if failed:
        print(f"FAILED: {'; '.join(failed)}")
        return 1
    return 0
