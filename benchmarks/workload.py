"""Benchmarks of the hot paths of :class:`restate_versioning.Registry`, each against a minimal
dict-and-tuple baseline that does the same logical work (see ``benchmarks/README.md``).

Run ``python benchmarks/run.py`` (``make bench``) for the full run, or add ``--quick`` for a
smoke run ten times smaller. It prints one table and exits with status 1 if a target is missed.

Both sides read the same kind of deterministic clock and make ids with the same
:class:`~restate_versioning.SequentialIds` generator: ids are part of the contract, so both pay
for them. Timed sections run with the cyclic garbage collector paused, as :mod:`timeit` does.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import platform
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from storage import BATCH, run_storage

from restate_versioning import (
    DeploymentStatus,
    EndpointManifest,
    HandlerType,
    IdGenerator,
    InvocationStatus,
    Registry,
    SequentialIds,
    ServiceNotPublic,
    ServiceType,
    state_metadata,
)

# --- the workload -----------------------------------------------------------------------------

SERVICE_COUNT = 1_000  # distinct service names across the registry
SERVICES_PER_DEPLOYMENT = 3  # what each of the N pre-registered deployments serves
MANIFEST_SERVICES = 10  # the size of the manifest the register benchmark registers
STATUS_WORKING_SET = 100  # distinct deployments the status benchmark asks about
HANDLER = "run"  # the public handler every service has (each also has a private "admin")
SERVICE_NAMES = tuple(f"Svc{i:04d}" for i in range(SERVICE_COUNT))
MAX_SERVER_PROTOCOL = 6  # the highest service protocol version the modelled server pins


@dataclass(frozen=True)
class Sizes:
    """How much work one run does."""

    small: int  # deployments in the registry for every figure ("10k")
    large: int  # deployments for the second point of the scaling figures ("100k")
    in_flight: int  # running invocations for the memory figure ("1,000,000")
    cycles: int  # invoke + complete cycles per timed batch
    register_batch: int  # registrations per timed batch
    status_batch: int  # deployment_status calls per timed batch
    repeats: int  # timed batches of each kind; the best one counts


FULL = Sizes(
    small=10_000,
    large=100_000,
    in_flight=1_000_000,
    cycles=25_000,
    register_batch=50,
    status_batch=10_000,
    repeats=15,
)
QUICK = Sizes(
    small=FULL.small // 10,
    large=FULL.large // 10,
    in_flight=FULL.in_flight // 10,
    cycles=FULL.cycles // 10,
    register_batch=FULL.register_batch // 5,
    status_batch=FULL.status_batch // 10,
    repeats=9,
)


class TickClock:
    """A deterministic clock: an aware datetime that moves one microsecond per call."""

    def __init__(self) -> None:
        self._now = datetime(2025, 1, 1, tzinfo=UTC)
        self._step = timedelta(microseconds=1)

    def __call__(self) -> datetime:
        self._now += self._step
        return self._now


def manifest_json(names: Sequence[str]) -> dict[str, object]:
    """The discovery answer of an endpoint serving ``names``, each a plain Service with a
    public ``run`` handler and a private ``admin`` one."""
    return {
        "protocolMode": "REQUEST_RESPONSE",
        "minProtocolVersion": 5,
        "maxProtocolVersion": 7,
        "services": [
            {
                "name": name,
                "ty": "SERVICE",
                "handlers": [{"name": HANDLER}, {"name": "admin", "ingressPrivate": True}],
            }
            for name in names
        ],
    }


def manifest_pool(services_each: int, count: int) -> list[EndpointManifest]:
    """``count`` manifests; manifest ``k`` serves ``services_each`` consecutive service names
    starting at ``k * services_each`` (modulo the name count), so the pool covers every name."""
    return [
        EndpointManifest.from_json(
            manifest_json(
                [
                    SERVICE_NAMES[(k * services_each + j) % SERVICE_COUNT]
                    for j in range(services_each)
                ]
            )
        )
        for k in range(count)
    ]


# Deployment i serves manifest i % SERVICE_COUNT of this pool (3 services, all names covered).
DEPLOYMENT_MANIFESTS = manifest_pool(SERVICES_PER_DEPLOYMENT, SERVICE_COUNT)
# The register benchmark registers these 10-service manifests, in turn.
REGISTER_MANIFESTS = manifest_pool(MANIFEST_SERVICES, SERVICE_COUNT // MANIFEST_SERVICES)


def deployment_endpoint(i: int) -> str:
    return f"http://127.0.0.1:{9000 + i % 1000}/{i}"


def new_endpoint(i: int) -> str:
    return f"http://10.0.0.1:{9000 + i % 1000}/new/{i}"


# --- the dict-and-tuple baseline --------------------------------------------------------------

RUNNING = InvocationStatus.RUNNING
COMPLETED = InvocationStatus.COMPLETED
SHARED = HandlerType.SHARED
DEFAULT_HANDLER_TYPE = {
    ServiceType.SERVICE: HandlerType.SHARED,
    ServiceType.VIRTUAL_OBJECT: HandlerType.EXCLUSIVE,
    ServiceType.WORKFLOW: HandlerType.SHARED,
}

# (id, service, handler, key, caller, status, pinned deployment, created_at, protocol version,
#  execute_at, failure)
InvocationRow = tuple[
    str,
    str,
    str,
    str | None,
    str | None,
    InvocationStatus,
    str | None,
    datetime,
    int | None,
    datetime | None,
    tuple[str, str] | None,
]
# {handler name: (handler type, public)}
HandlerRows = dict[str, tuple[HandlerType, bool]]
# (name, revision, type, deployment id, public, handlers)
ServiceRow = tuple[str, int, ServiceType, str, bool, HandlerRows]
# (id, endpoint, services, created_at, min protocol version, max protocol version)
DeploymentRow = tuple[str, str, tuple[ServiceRow, ...], datetime, int, int]
# The latest revision of a service: (deployment id, revision, service public, handlers,
# protocol version an invocation pins)
LatestRow = tuple[str, int, bool, HandlerRows, int]


class Baseline:
    """The least a registry must do for the benchmarked commands: plain dicts of tuples, no
    validation beyond what the command's outcome depends on."""

    def __init__(self, clock: Callable[[], datetime], ids: IdGenerator) -> None:
        self.clock = clock
        self.ids = ids
        self.by_endpoint: dict[str, str] = {}
        self.deployments: dict[str, DeploymentRow] = {}
        self.latest: dict[str, LatestRow] = {}
        self.latest_held: dict[str, int] = {}
        self.in_flight: dict[str, int] = {}
        self.invocations: dict[str, InvocationRow] = {}

    def register(self, endpoint: str, manifest: EndpointManifest) -> str:
        """A new endpoint gets a deployment and every service it serves revision latest + 1;
        a known endpoint is left as it is."""
        existing = self.by_endpoint.get(endpoint)
        if existing is not None:
            return existing
        now = self.clock()
        deployment_id = self.ids.deployment_id(now)
        version = max(
            manifest.min_protocol_version,
            min(manifest.max_protocol_version, MAX_SERVER_PROTOCOL),
        )
        latest = self.latest
        held = self.latest_held
        held[deployment_id] = 0
        services: list[ServiceRow] = []
        for service in manifest.services:
            public = not service.ingress_private
            handlers: HandlerRows = {
                h.name: (
                    h.type or DEFAULT_HANDLER_TYPE[service.type],
                    public if h.ingress_private is None else not h.ingress_private,
                )
                for h in service.handlers
            }
            previous = latest.get(service.name)
            revision = previous[1] + 1 if previous is not None else 1
            services.append((service.name, revision, service.type, deployment_id, public, handlers))
            if previous is not None:
                held[previous[0]] -= 1
            held[deployment_id] += 1
            latest[service.name] = (deployment_id, revision, public, handlers, version)
        self.deployments[deployment_id] = (
            deployment_id,
            endpoint,
            tuple(services),
            now,
            manifest.min_protocol_version,
            manifest.max_protocol_version,
        )
        self.by_endpoint[endpoint] = deployment_id
        return deployment_id

    def deployment_status(self, deployment_id: str) -> DeploymentStatus:
        if self.latest_held[deployment_id] > 0:  # KeyError for an unknown deployment
            return DeploymentStatus.ACTIVE
        if self.in_flight.get(deployment_id, 0) > 0:
            return DeploymentStatus.DRAINING
        return DeploymentStatus.DRAINED

    def invoke(self, service: str, handler: str) -> InvocationRow:
        """An ingress call to a shared handler: it starts at once, pinned to the latest
        revision."""
        latest = self.latest.get(service)
        if latest is None:
            raise LookupError(service)
        deployment_id, _, public, handlers, version = latest
        target = handlers.get(handler)
        if target is None:
            raise LookupError(handler)
        handler_type, handler_public = target
        if not (public and handler_public):
            raise PermissionError(handler)
        if handler_type is not SHARED:
            raise NotImplementedError("the baseline only runs shared handlers")
        now = self.clock()
        invocation_id = self.ids.invocation_id(now)
        row: InvocationRow = (
            invocation_id,
            service,
            handler,
            None,
            None,
            RUNNING,
            deployment_id,
            now,
            version,
            None,
            None,
        )
        self.invocations[invocation_id] = row
        in_flight = self.in_flight
        in_flight[deployment_id] = in_flight.get(deployment_id, 0) + 1
        return row

    def complete(self, invocation_id: str) -> InvocationRow:
        row = self.invocations[invocation_id]
        if row[5] is not RUNNING:
            raise ValueError(f"{invocation_id} is {row[5].value}")
        done = (*row[:5], COMPLETED, *row[6:])
        self.invocations[invocation_id] = done
        pinned = row[6]
        if pinned is not None:
            self.in_flight[pinned] -= 1
        return done


# --- building registries ----------------------------------------------------------------------


def new_pair() -> tuple[Registry, Baseline]:
    """An empty registry and an empty baseline, each with its own clock and id generator."""
    return (
        Registry(clock=TickClock(), ids=SequentialIds()),
        Baseline(TickClock(), SequentialIds()),
    )


def populate_registry(registry: Registry, start: int, stop: int) -> None:
    """Register deployments ``start`` to ``stop - 1``."""
    register = registry.register
    for i in range(start, stop):
        register(deployment_endpoint(i), DEPLOYMENT_MANIFESTS[i % SERVICE_COUNT])


def populate_baseline(baseline: Baseline, start: int, stop: int) -> None:
    """Register deployments ``start`` to ``stop - 1`` in the baseline."""
    register = baseline.register
    for i in range(start, stop):
        register(deployment_endpoint(i), DEPLOYMENT_MANIFESTS[i % SERVICE_COUNT])


def populate(registry: Registry, baseline: Baseline, start: int, stop: int) -> None:
    """Register deployments ``start`` to ``stop - 1`` on both sides."""
    populate_registry(registry, start, stop)
    populate_baseline(baseline, start, stop)


def require(condition: bool, what: str) -> None:
    """Stop the run if the benchmark's own premise does not hold (not an ``assert``: it must
    hold under ``python -O`` too)."""
    if not condition:
        raise RuntimeError(f"benchmark premise failed: {what}")


def check_equivalence() -> None:
    """Both sides, fed the same commands, make the same ids and reach the same answers: the
    baseline really does the same logical work."""
    registry, baseline = new_pair()
    populate(registry, baseline, 0, 2 * SERVICE_COUNT)
    require([d.id for d in registry.deployments()] == list(baseline.deployments), "same ids")
    for name in SERVICE_NAMES:
        latest = registry.service(name)
        require(baseline.latest[name][:3] == (latest.deployment_id, latest.revision, True), name)
        require(baseline.latest[name][3]["admin"][1] is latest.handlers["admin"].public, name)
    for name in SERVICE_NAMES[:50]:
        ours = registry.invoke(name, HANDLER)
        theirs = baseline.invoke(name, HANDLER)
        require(ours.id == theirs[0], "same invocation id")
        require(ours.pinned_deployment_id == theirs[6], "same pinned deployment")
        require(ours.pinned_protocol_version == theirs[8], "same pinned protocol version")
        require(registry.complete(ours.id).status is baseline.complete(theirs[0])[5], "complete")
    for side in (registry.invoke, baseline.invoke):
        try:
            side(SERVICE_NAMES[0], "admin")
        except (ServiceNotPublic, PermissionError):
            pass
        else:
            raise RuntimeError("benchmark premise failed: a private handler was invoked")
    still_running = registry.invoke(SERVICE_NAMES[0], HANDLER).id
    require(still_running == baseline.invoke(SERVICE_NAMES[0], HANDLER)[0], "same invocation id")
    populate(registry, baseline, 2 * SERVICE_COUNT, 3 * SERVICE_COUNT)  # a new latest revision
    statuses = set()
    for deployment in registry.deployments():
        status = registry.deployment_status(deployment.id)
        require(baseline.deployment_status(deployment.id) is status, "same status")
        statuses.add(status)
    require(statuses == set(DeploymentStatus), f"every status occurs, got {statuses}")
    registration = registry.register(new_endpoint(0), REGISTER_MANIFESTS[0])
    require(
        registration.deployment.id == baseline.register(new_endpoint(0), REGISTER_MANIFESTS[0]),
        "same deployment id",
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


def measure_ids(sizes: Sizes) -> float:
    """Seconds one clock read plus one invocation id take: paid by both sides on every
    invoke."""
    clock, ids = TickClock(), SequentialIds()

    def make(_: int) -> None:
        for _ in range(sizes.cycles):
            ids.invocation_id(clock())

    return best_times(sizes.repeats, [make])[0] / sizes.cycles


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

SOLO_DEPLOYMENTS = 50  # deployments serving a service of their own, which would vanish
PLAN_WORKING_SET = 100  # deployments the plan and status queries ask about


def loaded_registry(sizes: Sizes, invocations: int) -> tuple[Registry, list[str]]:
    """A registry of ``sizes.small`` shared deployments plus ``SOLO_DEPLOYMENTS`` that each serve
    a service of their own, holding ``invocations`` uncompleted invocations; and the deployments
    to ask about: the latest deployments of 50 shared services (their removal rolls back, and
    work is pinned to them) and the solo ones (their removal makes a service vanish, so the plan
    looks at its queued work too)."""
    registry = Registry(clock=TickClock(), ids=SequentialIds())
    populate_registry(registry, 0, sizes.small)
    solo_names = [f"Solo{i:03d}" for i in range(SOLO_DEPLOYMENTS)]
    for i, name in enumerate(solo_names):
        registry.register(f"http://127.0.0.2:{9000 + i}/", manifest_json([name]))
    shared = SERVICE_NAMES[: PLAN_WORKING_SET - SOLO_DEPLOYMENTS]
    queried = [registry.service(name).deployment_id for name in shared]
    queried += [registry.service(name).deployment_id for name in solo_names]
    invoke = registry.invoke
    later = timedelta(hours=1)
    for i in range(invocations):
        if i % 10:  # nine in ten run on a shared service, pinned to its latest deployment
            invoke(SERVICE_NAMES[i % SERVICE_COUNT], HANDLER)
            continue
        solo, scheduled = divmod(i // 10, 2)  # the rest: every solo service, half scheduled
        name = solo_names[solo % SOLO_DEPLOYMENTS]
        invoke(name, HANDLER, delay=later) if scheduled else invoke(name, HANDLER)
    return registry, queried


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


# --- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the table. ``passed`` is ``None`` for a figure without a target."""

    figure: str
    ours: str
    baseline: str
    ratio: str
    target: str
    passed: bool | None


def count(n: int) -> str:
    return f"{n // 1000}k" if n < 1_000_000 else f"{n // 1_000_000}M"


def time_rows(name: str, labels: Sequence[str], times: Sequence[float]) -> list[Row]:
    """Per-call times in microseconds, one row per registry size; ``times`` holds ours and
    the baseline's for each size in turn."""
    return [
        Row(
            f"{name}, us @{label}",
            f"{ours * 1e6:.2f}",
            f"{theirs * 1e6:.2f}",
            f"{ours / theirs:.2f}",
            "",
            None,
        )
        for label, ours, theirs in zip(labels, times[::2], times[1::2], strict=True)
    ]


def growth_row(name: str, times: Sequence[float], target: float | None) -> Row:
    """How much the cost grows from the small to the large registry."""
    ours_small, baseline_small, ours_large, baseline_large = times
    growth = ours_large / ours_small
    return Row(
        name,
        f"{growth:.2f}",
        f"{baseline_large / baseline_small:.2f}",
        "",
        f"ours <= {target:.2f}" if target is not None else "(info)",
        growth <= target if target is not None else None,
    )


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


def run(sizes: Sizes, log: Callable[[str], None]) -> tuple[list[Row], list[str]]:
    """Run every benchmark; returns the table rows and the notes to print under it."""
    small, large = count(sizes.small), count(sizes.large)
    rows: list[Row] = []
    notes: list[str] = []

    log("checking that the baseline does the same work...")
    check_equivalence()

    log(f"invoke + complete cycles on {small} deployments...")
    registry, baseline = new_pair()
    populate(registry, baseline, 0, sizes.small)
    ours_rate, baseline_rate = measure_cycles(registry, baseline, sizes)
    del registry, baseline
    ratio = ours_rate / baseline_rate
    rows.append(
        Row(
            f"invoke+complete cycles/s @{small}",
            f"{ours_rate:,.0f}",
            f"{baseline_rate:,.0f}",
            f"{ratio:.2f}",
            "ours/base >= 0.33",
            ratio >= 1 / 3,
        )
    )
    id_cost = measure_ids(sizes)
    notes.append(
        f"Both sides make ids with the same SequentialIds generator and read the same kind of "
        f"clock (ids are part of the contract): {id_cost * 1e6:.2f} us of every invoke, "
        f"{id_cost * baseline_rate:.0%} of a baseline cycle."
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
    rows += time_rows(register_name, labels, register)
    rows.append(growth_row(f"{register_name}, {large}/{small}", register, 1.2))
    rows += time_rows("deployment_status", labels, status)
    rows.append(growth_row(f"deployment_status, {large}/{small}", status, 1.2))
    rows.append(growth_row(f"  same, any deployment, {large}/{small}", status_any, None))
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
    for name, none, loaded in (
        ("removal_plan", plan_empty, plan_loaded),
        ("deployment_status", status_empty, status_loaded),
    ):
        rows.append(Row(f"{name}, us, no invocations", f"{none * 1e6:.2f}", "", "", "", None))
        rows.append(
            Row(f"{name}, us, {million} invocations", f"{loaded * 1e6:.2f}", "", "", "", None)
        )
        growth = loaded / none
        rows.append(
            Row(f"{name}, {million}/none", f"{growth:.2f}", "", "", "ours <= 1.50", growth <= 1.5)
        )
    notes.append(
        f"removal_plan and deployment_status ask about {PLAN_WORKING_SET} deployments of a "
        f"{small} registry: the latest deployments of 50 shared services (work is pinned to "
        f"them) and {SOLO_DEPLOYMENTS} that serve a service of their own (their plans count its "
        f"queued work). The loaded registry holds {million} uncompleted invocations: nine in ten "
        f"running on shared services, the rest on the solo ones, half of those scheduled."
    )

    log("registering a Virtual Object with and without a state check...")
    plain, compatible, incompatible = measure_state_checks(sizes)
    for label, seconds in (
        ("no state declared", plain),
        ("state compatible", compatible),
        ("state incompatible", incompatible),
    ):
        rows.append(
            Row(f"register a Cart revision, {label}, us", f"{seconds * 1e6:.1f}", "", "", "", None)
        )
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
    figures, postgres = run_storage(storage_commands, open_commands)
    for name in (
        "memory, unbatched",
        "memory, batched",
        "sqlite, batched",
        "postgres, unbatched",
        "postgres, batched",
    ):
        if name in figures:
            rows.append(
                Row(f"stored commands/s, {name}", f"{figures[name]:,.0f}", "", "", "", None)
            )
    unbatched = figures["sqlite, unbatched"]
    rows.append(
        Row(
            "stored commands/s, sqlite, unbatched",
            f"{unbatched:,.0f}",
            "",
            "",
            "ours >= 5,000",
            unbatched >= 5_000,
        )
    )
    for name in ("open after close", "open after a crash"):
        seconds = figures[name]
        rows.append(
            Row(
                f"{name}, s @{count(open_commands)} commands",
                f"{seconds:.2f}",
                "",
                "",
                "ours < 1.00",
                seconds < 1.0,
            )
        )
    notes.append(
        f"Stored commands are invoke + complete pairs through a StoredRegistry (one append per "
        f"command, or {BATCH} to an append); SQLite in WAL mode with synchronous=NORMAL. A "
        f"crash leaves up to snapshot_every (10,000) records to replay on open. PostgreSQL: "
        f"{postgres}."
    )

    log(f"memory of {count(sizes.in_flight)} in-flight invocations (tracemalloc)...")
    ours_bytes, baseline_bytes = measure_memory(sizes)
    ratio = ours_bytes / baseline_bytes
    rows.append(
        Row(
            f"bytes per in-flight invocation @{count(sizes.in_flight)}",
            f"{ours_bytes:.0f}",
            f"{baseline_bytes:.0f}",
            f"{ratio:.2f}",
            "ours/base <= 2.00",
            ratio <= 2.0,
        )
    )
    notes.append(
        f"Times are the best of {sizes.repeats} batches, interleaved with the batches they are "
        f"compared with, the cyclic garbage collector paused; memory is tracemalloc's count of "
        f"live bytes on a fresh registry of {small} deployments."
    )
    return rows, notes


def table(rows: Sequence[Row]) -> str:
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
        for r in rows
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
    parser = argparse.ArgumentParser(description="Benchmarks of restate_versioning.Registry.")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run with ten times fewer items"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    rows, notes = run(sizes, log)
    print(table(rows))
    print()
    for note in notes:
        print(note)
    elapsed = time.perf_counter() - started
    print(
        f"Python {platform.python_version()}, {available_cpus()} CPUs. Wall time {elapsed:.1f} s; "
        f"peak RSS {peak_rss_mib(resource.RUSAGE_SELF):,.0f} MiB "
        f"(largest child process {peak_rss_mib(resource.RUSAGE_CHILDREN):,.0f} MiB)."
    )
    failed = [r.figure.strip() for r in rows if r.passed is False]
    if failed:
        print(f"FAILED: {'; '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
