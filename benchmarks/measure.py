"""How each figure of ``make bench`` is measured: timed batches with the cyclic garbage
collector paused, as :mod:`timeit` does, interleaved with the batches they are compared with;
memory with tracemalloc, in child processes where the machine allows."""

from __future__ import annotations

import gc
import multiprocessing
import os
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from restate_versioning import (
    EndpointManifest,
    IdGenerator,
    RandomIds,
    Registry,
    SequentialIds,
    state_metadata,
)

from .workload import (
    HANDLER,
    REGISTER_MANIFESTS,
    SERVICE_COUNT,
    SERVICE_NAMES,
    SOLO_DEPLOYMENTS,
    Baseline,
    Sizes,
    TickClock,
    loaded_registry,
    new_endpoint,
    populate_baseline,
    populate_registry,
    require,
)

# --- measuring --------------------------------------------------------------------------------


@contextmanager
def gc_paused() -> Iterator[None]:
    """Keep the cyclic collector out of the timed code, as timeit does. (Callers collect once
    before a series: a full collection of a 100k-deployment registry takes about a second.)"""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def best_times(repeats: int, actions: Sequence[Callable[[int], None]]) -> list[float]:
    """The best time of each action over ``repeats`` rounds; an action gets the round number.
    Every round runs each action once, in turn, so that a slow spell of the machine hits all of
    them alike instead of one whole series."""
    gc.collect()
    best = [float("inf")] * len(actions)
    for round_number in range(repeats):
        for index, action in enumerate(actions):
            with gc_paused():
                start = time.perf_counter()
                action(round_number)
                elapsed = time.perf_counter() - start
            best[index] = min(best[index], elapsed)
    return best


def service_sequence(count: int) -> list[str]:
    """The services an invocation loop calls: every name in turn."""
    return [SERVICE_NAMES[i % SERVICE_COUNT] for i in range(count)]


def measure_cycles(registry: Registry, baseline: Baseline, sizes: Sizes) -> tuple[float, float]:
    """invoke + complete cycles per second, ours and the baseline's."""
    services = service_sequence(sizes.cycles)

    def ours(_: int) -> None:
        invoke, complete = registry.invoke, registry.complete
        for service in services:
            complete(invoke(service, HANDLER).id)

    def theirs(_: int) -> None:
        invoke, complete = baseline.invoke, baseline.complete
        for service in services:
            complete(invoke(service, HANDLER)[0])

    ours_time, baseline_time = best_times(sizes.repeats, [ours, theirs])
    return sizes.cycles / ours_time, sizes.cycles / baseline_time


#: The id generators the id figures measure, by name: the one both sides of the benchmarks use,
#: the one a Registry uses by default, and the reproducible one harnesses use.
ID_GENERATORS: dict[str, Callable[[], IdGenerator]] = {
    "SequentialIds": SequentialIds,
    "RandomIds": RandomIds,
    "RandomIds(seed)": lambda: RandomIds(seed=1),
}
ID_KINDS = ("deployment_id", "invocation_id")


def measure_ids(sizes: Sizes) -> dict[tuple[str, str], float]:
    """Seconds per id, by generator and kind (``deployment_id``, ``invocation_id``): the median
    of ``sizes.repeats`` batches of ``sizes.cycles`` ids, each batch on a fresh generator, at
    times one microsecond apart (as the benchmarks' clocks move). Every round runs one batch of
    each, in turn, as :func:`best_times` does."""
    clock = TickClock()
    times = [clock() for _ in range(sizes.cycles)]
    runs: dict[tuple[str, str], list[float]] = {
        (name, kind): [] for name in ID_GENERATORS for kind in ID_KINDS
    }
    gc.collect()
    for _ in range(sizes.repeats):
        for name, kind in runs:
            make = getattr(ID_GENERATORS[name](), kind)
            with gc_paused():
                start = time.perf_counter()
                for now in times:
                    make(now)
                elapsed = time.perf_counter() - start
            runs[name, kind].append(elapsed / sizes.cycles)
    return {key: statistics.median(values) for key, values in runs.items()}


# [round][registration] -> (endpoint, manifest)
Work = list[list[tuple[str, EndpointManifest]]]


def measure_register(pairs: Sequence[tuple[Registry, Baseline]], sizes: Sizes) -> list[float]:
    """Seconds per registration of a 10-service manifest at a new endpoint (so that each one
    really creates a deployment): ours and the baseline's on each pair, in that order."""
    actions: list[Callable[[int], None]] = []
    for pair_number, (registry, baseline) in enumerate(pairs):
        # Both sides register the same endpoints; each pair has its own.
        work: Work = [
            [
                (new_endpoint(n), REGISTER_MANIFESTS[n % len(REGISTER_MANIFESTS)])
                for n in range(first, first + sizes.register_batch)
            ]
            for first in range(
                pair_number * 10_000_000,
                pair_number * 10_000_000 + sizes.repeats * sizes.register_batch,
                sizes.register_batch,
            )
        ]

        def ours(round_number: int, registry: Registry = registry, work: Work = work) -> None:
            register = registry.register
            for endpoint, manifest in work[round_number]:
                register(endpoint, manifest, dry_run=False)

        def theirs(round_number: int, baseline: Baseline = baseline, work: Work = work) -> None:
            register = baseline.register
            for endpoint, manifest in work[round_number]:
                register(endpoint, manifest)

        actions += [ours, theirs]
    return [t / sizes.register_batch for t in best_times(sizes.repeats, actions)]


def status_queries(baseline: Baseline, sizes: Sizes, working_set: int | None) -> list[str]:
    """``sizes.status_batch`` deployment ids to ask about, in random order: drawn from
    ``working_set`` deployments picked at random from the whole registry, or from all of them
    (``None``)."""
    rng = random.Random(7)
    every_id = list(baseline.deployments)
    pool = every_id if working_set is None else rng.sample(every_id, working_set)
    return rng.choices(pool, k=sizes.status_batch)


def measure_status(
    pairs: Sequence[tuple[Registry, Baseline]], sizes: Sizes, working_set: int | None
) -> list[float]:
    """Seconds per deployment_status call: ours and the baseline's on each pair, in that
    order (see :func:`status_queries` for ``working_set``)."""
    actions: list[Callable[[int], None]] = []
    for registry, baseline in pairs:
        queries = status_queries(baseline, sizes, working_set)

        def ours(_: int, registry: Registry = registry, queries: list[str] = queries) -> None:
            status = registry.deployment_status
            for deployment_id in queries:
                status(deployment_id)

        def theirs(_: int, baseline: Baseline = baseline, queries: list[str] = queries) -> None:
            status = baseline.deployment_status
            for deployment_id in queries:
                status(deployment_id)

        actions += [ours, theirs]
    return [t / sizes.status_batch for t in best_times(sizes.repeats, actions)]


# --- queries with a million invocations ------------------------------------------------------


def measure_queries_at_scale(sizes: Sizes) -> list[float]:
    """Seconds per removal_plan and per deployment_status call on a registry without
    invocations and on one with ``sizes.in_flight`` of them: [plan empty, plan loaded, status
    empty, status loaded]."""
    empty, queried = loaded_registry(sizes, 0)
    loaded, queried_loaded = loaded_registry(sizes, sizes.in_flight)
    require(queried == queried_loaded, "both registries have the same deployments")
    blocked = loaded.removal_plan(queried[-1])
    require(
        [b.kind.value for b in blocked.blockers] == ["PUBLIC", "QUEUED", "IN_FLIGHT"]
        and blocked.blockers[-1].count >= sizes.in_flight // (40 * SOLO_DEPLOYMENTS),
        "the loaded plans really count queued and in-flight work",
    )
    repeat = max(1, sizes.status_batch // (10 * len(queried)))

    def plans(registry: Registry) -> Callable[[int], None]:
        def action(_: int) -> None:
            plan = registry.removal_plan
            for _ in range(repeat):
                for deployment_id in queried:
                    plan(deployment_id)

        return action

    def statuses(registry: Registry) -> Callable[[int], None]:
        def action(_: int) -> None:
            status = registry.deployment_status
            for _ in range(repeat * 10):
                for deployment_id in queried:
                    status(deployment_id)

        return action

    times = best_times(
        sizes.repeats, [plans(empty), plans(loaded), statuses(empty), statuses(loaded)]
    )
    calls = len(queried) * repeat
    return [times[0] / calls, times[1] / calls, times[2] / (calls * 10), times[3] / (calls * 10)]


def traced_bytes(action: Callable[[], None]) -> int:
    """How many more bytes are allocated (and still alive) after ``action`` than before."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        action()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def memory_ours(in_flight: int, deployments: int) -> float:
    """Bytes per running invocation after starting ``in_flight`` of them (every service in
    turn) on a fresh registry of ``deployments`` deployments."""
    services = service_sequence(in_flight)
    registry = Registry(clock=TickClock(), ids=SequentialIds())
    populate_registry(registry, 0, deployments)

    def start_all() -> None:
        invoke = registry.invoke
        for service in services:
            invoke(service, HANDLER)

    used = traced_bytes(start_all)
    pinned = sum(registry.in_flight_count(d.id) for d in registry.deployments())
    require(pinned == in_flight, "every invocation is in flight")
    return used / in_flight


def memory_baseline(in_flight: int, deployments: int) -> float:
    """:func:`memory_ours` for the baseline."""
    services = service_sequence(in_flight)
    baseline = Baseline(TickClock(), SequentialIds())
    populate_baseline(baseline, 0, deployments)

    def start_all() -> None:
        invoke = baseline.invoke
        for service in services:
            invoke(service, HANDLER)

    used = traced_bytes(start_all)
    require(sum(baseline.in_flight.values()) == in_flight, "every invocation is in flight")
    return used / in_flight


MEMORY_SIDES: dict[str, Callable[[int, int], float]] = {
    "ours": memory_ours,
    "baseline": memory_baseline,
}


def _memory_child(conn: Connection, side: str, in_flight: int, deployments: int) -> None:
    conn.send(MEMORY_SIDES[side](in_flight, deployments))
    conn.close()


def available_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def measure_memory(sizes: Sizes) -> tuple[float, float]:
    """Bytes per in-flight invocation with ``sizes.in_flight`` of them, ours and the
    baseline's, each on a fresh registry of ``sizes.small`` deployments.

    tracemalloc makes every allocation several times slower (and an invocation id allocates
    temporaries), so where the machine has two cores and ``fork``, the two sides run at once in
    two child processes; nothing is timed here."""
    args = (sizes.in_flight, sizes.small)
    if "fork" not in multiprocessing.get_all_start_methods() or available_cpus() < 2:
        return memory_ours(*args), memory_baseline(*args)
    context = multiprocessing.get_context("fork")
    children: list[tuple[Connection, BaseProcess]] = []
    for side in MEMORY_SIDES:
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_memory_child, args=(sender, side, *args), daemon=True)
        process.start()
        sender.close()
        children.append((receiver, process))
    results: list[float] = []
    for receiver, child in children:
        try:
            results.append(float(receiver.recv()))
        except EOFError:
            child.join()
            raise RuntimeError(
                f"the memory benchmark failed (exit code {child.exitcode})"
            ) from None
        child.join()
    return results[0], results[1]


# --- registering with state schemas ----------------------------------------------------------


def _cart_schema(quantity: dict[str, object], note: str) -> dict[str, object]:
    """A state schema as pydantic writes one: ``$defs``, a nested model, a nullable field."""
    line = {
        "type": "object",
        "title": "Line",
        "properties": {"sku": {"type": "string", "maxLength": 32}, "quantity": quantity},
        "required": ["sku", "quantity"],
    }
    return {
        "$defs": {"Line": line},
        "type": "object",
        "title": "Cart",
        "description": note,
        "properties": {
            "lines": {"type": "array", "items": {"$ref": "#/$defs/Line"}, "maxItems": 100},
            "coupon": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "status": {"enum": ["open", "paid", "shipped"]},
        },
        "required": ["lines", "status"],
    }


def _cart_manifest(schema: dict[str, object] | None) -> EndpointManifest:
    service: dict[str, object] = {
        "name": "Cart",
        "ty": "VIRTUAL_OBJECT",
        "handlers": [{"name": "add", "ty": "EXCLUSIVE"}],
    }
    if schema is not None:
        service["metadata"] = state_metadata({"cart": schema})
    return EndpointManifest.from_json(
        {
            "protocolMode": "BIDI_STREAM",
            "minProtocolVersion": 5,
            "maxProtocolVersion": 7,
            "services": [service],
        }
    )


def measure_state_checks(sizes: Sizes) -> list[float]:
    """Seconds per registration (a dry run, so that the latest revision stays the same) of a
    new Cart revision: without state declared; with a state schema that the check walks and
    finds compatible (it differs in annotations only); and with one it finds incompatible (a
    narrowed bound: it searches for a counterexample and checks it; with ``breaking``). Every
    registration declares a schema of its own (its description differs), so that nothing is
    answered from the caches: each one checks its schema against the meta-schema too, as the
    first registration of a new revision does."""
    batch = max(10, sizes.register_batch // 10)
    count = sizes.repeats * batch
    integer: dict[str, object] = {"type": "integer"}
    narrowed: dict[str, object] = {"type": "integer", "minimum": 1}
    cases: list[tuple[EndpointManifest, list[EndpointManifest]]] = [
        (_cart_manifest(None), [_cart_manifest(None)] * count),
        (
            _cart_manifest(_cart_schema(integer, "v1")),
            [_cart_manifest(_cart_schema(integer, f"v2 #{n}")) for n in range(count)],
        ),
        (
            _cart_manifest(_cart_schema(integer, "v1")),
            [_cart_manifest(_cart_schema(narrowed, f"v2 #{n}")) for n in range(count)],
        ),
    ]
    actions: list[Callable[[int], None]] = []
    for first, seconds in cases:
        registry = Registry(ids=SequentialIds())
        registry.register("http://127.0.0.1:9000/cart-v1", first)

        def action(
            round_number: int,
            registry: Registry = registry,
            manifests: list[EndpointManifest] = seconds,
        ) -> None:
            register = registry.register
            for n in range(round_number * batch, (round_number + 1) * batch):
                register(f"http://127.0.0.1:9000/{n}", manifests[n], breaking=True, dry_run=True)

        actions.append(action)
    return [t / batch for t in best_times(sizes.repeats, actions)]
