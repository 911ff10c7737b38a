"""The workload of ``make bench``: the registries it measures, and the minimal dict-and-tuple
baseline each figure is compared with (see ``benchmarks/README.md``).

Both sides read the same kind of deterministic clock and make ids with the same
:class:`~restate_versioning.SequentialIds` generator: ids are part of the contract, so both pay
for them. :func:`check_equivalence` checks that the baseline does the same logical work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
)

# --- the sizes and the manifests -------------------------------------------------------------

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
    cluster_deployments: int = 1_000  # deployments of the live cluster AdminClient loads
    cluster_invocations: int = 100_000  # and its running invocations


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
    cluster_deployments=FULL.cluster_deployments // 10,
    cluster_invocations=FULL.cluster_invocations // 10,
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


# --- a registry with a million invocations ---------------------------------------------------

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
