"""What ``restate`` shows, as data and as plain-text tables (docs/rules.md, "What the CLI views
show").

Each view is a function of a :class:`~restate_versioning.Registry` that returns frozen rows, and a
``render_*`` function that prints them with the columns and markers of the real CLI:

* :func:`services_list` — ``restate services list``;
* :func:`deployments_list` — ``restate deployments list --extra``: with status and active
  invocations, sorted Active, Draining, Drained, newest first;
* :func:`describe_deployment` — ``restate deployments describe``, with the ``[Latest]`` /
  ``[Latest N is in deployment ID ...]`` markers;
* :func:`services_status` — ``restate services status``: per service and handler, how many
  invocations are in each status, and the oldest one that is not suspended; and
  :func:`active_keys`, its table of locked Virtual Object keys;
* :func:`render_removal_plan` — the removal plan, which the CLI does not have;
* :func:`render_invocations` and :func:`render_history` — the invocations this registry knows,
  and what was done to a stored registry: this library's own tables, in the same layout.

Everything comes from the registry's indexes: no view scans all invocations.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs
from tabulate import tabulate

from .endpoints import EndpointKind, display_endpoint
from .errors import ServiceNotFound
from .manifest import HandlerType, ProtocolMode, ServiceType
from .model import Deployment, DeploymentStatus, Invocation, InvocationStatus
from .queries import RegistryQueries
from .rules.removal import RemovalPlan
from .storage.base import CommandRecord

__all__ = [
    "ActiveKey",
    "DeploymentDescription",
    "DeploymentRow",
    "DescribedService",
    "HandlerStatusRow",
    "ServiceRow",
    "active_keys",
    "deployments_list",
    "describe_deployment",
    "render_active_keys",
    "render_deployment_description",
    "render_deployments_list",
    "render_history",
    "render_invocations",
    "render_removal_plan",
    "render_services_list",
    "render_services_status",
    "services_list",
    "services_status",
]

_STYLE = {
    ProtocolMode.BIDI_STREAM: "Bidirectional Stream",
    ProtocolMode.REQUEST_RESPONSE: "Request/Response",
}
_STATUS_ORDER = {
    DeploymentStatus.ACTIVE: 0,
    DeploymentStatus.DRAINING: 1,
    DeploymentStatus.DRAINED: 2,
}
#: The status columns of ``restate services status``, in its order.
STATUS_COLUMNS = (
    InvocationStatus.PENDING,
    InvocationStatus.SCHEDULED,
    InvocationStatus.READY,
    InvocationStatus.RUNNING,
    InvocationStatus.BACKING_OFF,
    InvocationStatus.SUSPENDED,
)


def _deployment_type(deployment: Deployment) -> str:
    return "Lambda" if deployment.kind is EndpointKind.LAMBDA else "HTTP"


def _cli_time(value: datetime) -> str:
    return value.strftime("%a %d %b %Y %H:%M:%S ") + _offset(value)


def _offset(value: datetime) -> str:
    offset = value.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, two spaces apart, with a leading space, as the CLI prints them
    (tabulate's ``plain`` format, taken as it is). A cell with line breaks continues on the next
    lines of its column; the header is a row like the others, so it adds no padding of its own,
    and cells keep their leading spaces (the handler lines of ``services status``)."""
    lines: list[list[str]] = [list(header)]
    for row in rows:
        cells = [cell.split("\n") for cell in row]
        height = max(len(c) for c in cells)
        lines += [[c[i] if i < len(c) else "" for c in cells] for i in range(height)]
    text = tabulate(
        lines,
        tablefmt="plain",
        stralign="left",
        disable_numparse=True,
        preserve_whitespace=True,
    )
    return "\n".join((" " + line).rstrip() for line in text.split("\n"))


# --- services list ------------------------------------------------------------------------


@attrs.frozen
class ServiceRow:
    """A line of ``restate services list``."""

    name: str
    revision: int
    flavor: str
    deployment_type: str
    deployment_id: str
    public: bool


def services_list(registry: RegistryQueries) -> tuple[ServiceRow, ...]:
    """The latest revision of every service, by name."""
    rows = []
    for service in registry.services():
        deployment = registry.deployment(service.deployment_id)
        rows.append(
            ServiceRow(
                service.name,
                service.revision,
                service.type.flavor,
                _deployment_type(deployment),
                service.deployment_id,
                service.public,
            )
        )
    return tuple(rows)


def render_services_list(rows: Sequence[ServiceRow]) -> str:
    """``restate services list``: a ``[public]`` or ``[private]`` marker, then the columns."""
    return _table(
        ("", "NAME", "REVISION", "FLAVOR", "DEPLOYMENT-TYPE", "DEPLOYMENT-ID"),
        [
            (
                "[public]" if r.public else "[private]",
                r.name,
                str(r.revision),
                r.flavor,
                r.deployment_type,
                r.deployment_id,
            )
            for r in rows
        ],
    )


# --- deployments list ---------------------------------------------------------------------


@attrs.frozen
class DeploymentRow:
    """A line of ``restate deployments list --extra``."""

    endpoint: str
    type: str
    status: DeploymentStatus
    active_invocations: int
    id: str
    created_at: datetime
    services: tuple[tuple[str, int], ...]


def deployments_list(registry: RegistryQueries) -> tuple[DeploymentRow, ...]:
    """Every deployment with its status, sorted as the CLI sorts: Active, Draining, Drained,
    and newest first within each."""
    rows = [
        DeploymentRow(
            display_endpoint(d.endpoint),
            _deployment_type(d),
            registry.deployment_status(d.id),
            registry.active_invocations(d.id),
            d.id,
            d.created_at,
            tuple((name, s.revision) for name, s in d.services.items()),
        )
        for d in registry.deployments()
    ]
    rows.sort(key=lambda r: r.created_at, reverse=True)
    rows.sort(key=lambda r: _STATUS_ORDER[r.status])
    return tuple(rows)


def render_deployments_list(rows: Sequence[DeploymentRow]) -> str:
    """``restate deployments list --extra``: one ``- Name [revision]`` line per service."""
    return _table(
        ("DEPLOYMENT", "TYPE", "STATUS", "ACTIVE-INVOCATIONS", "ID", "CREATED-AT", "SERVICES"),
        [
            (
                r.endpoint,
                r.type,
                r.status.value,
                str(r.active_invocations),
                r.id,
                _cli_time(r.created_at),
                "\n".join(f"- {name} [{revision}]" for name, revision in r.services),
            )
            for r in rows
        ],
    )


# --- deployment describe ------------------------------------------------------------------


@attrs.frozen
class DescribedService:
    """A service as ``restate deployments describe`` shows it: its revision here, and where
    the latest revision is."""

    name: str
    type: ServiceType
    revision: int
    latest_revision: int
    latest_deployment_id: str
    handlers: tuple[tuple[str, HandlerType], ...]

    @property
    def is_latest(self) -> bool:
        return self.revision == self.latest_revision

    @property
    def marker(self) -> str:
        """``[Latest]``, or ``[Latest N is in deployment ID dp_...]``."""
        if self.is_latest:
            return "[Latest]"
        return f"[Latest {self.latest_revision} is in deployment ID {self.latest_deployment_id}]"


@attrs.frozen
class DeploymentDescription:
    """``restate deployments describe``."""

    id: str
    type: str
    transport: str
    protocol_style: str
    endpoint: str
    sdk_version: str | None
    created_at: datetime
    protocol: tuple[int, int]
    status: DeploymentStatus
    active_invocations: int
    services: tuple[DescribedService, ...]


def describe_deployment(registry: RegistryQueries, deployment_id: str) -> DeploymentDescription:
    """One deployment in detail."""
    deployment = registry.deployment(deployment_id)
    services = []
    for name, revision in deployment.services.items():
        latest = registry.service(name)
        services.append(
            DescribedService(
                name,
                revision.type,
                revision.revision,
                latest.revision,
                latest.deployment_id,
                tuple((h.name, h.type) for h in revision.handlers.values()),
            )
        )
    http = deployment.kind is EndpointKind.HTTP
    return DeploymentDescription(
        deployment.id,
        _deployment_type(deployment),
        (deployment.transport or "unknown (not discovered)") if http else "AWS Lambda",
        _STYLE[deployment.protocol_mode],
        display_endpoint(deployment.endpoint),
        deployment.sdk_version,
        deployment.created_at,
        (deployment.min_protocol_version, deployment.max_protocol_version),
        registry.deployment_status(deployment.id),
        registry.active_invocations(deployment.id),
        tuple(services),
    )


def render_deployment_description(description: DeploymentDescription) -> str:
    """The text of ``restate deployments describe``."""
    fields = [
        ("ID:", description.id),
        ("Transport:", description.transport),
        ("Protocol Style:", description.protocol_style),
        ("Endpoint:", description.endpoint),
        ("SDK Version", description.sdk_version or ""),
        ("Created at:", _cli_time(description.created_at)),
        ("Protocol:", f"[{description.protocol[0]}, {description.protocol[1]}]"),
        ("Status:", description.status.value),
        ("Invocations:", str(description.active_invocations)),
    ]
    width = max(len(label) for label, _ in fields)
    lines = ["", " Deployment Information:", "―" * 24]
    lines += [f" {label.ljust(width)}  {value}".rstrip() for label, value in fields]
    lines += ["", "", " Services:", "―" * 10]
    for service in description.services:
        lines.append(f"  - {service.name}")
        lines.append(f"    Type: {service.type.title} {service.type.flavor}".rstrip())
        lines.append(f"    Revision: {service.revision} {service.marker}")
        handler_rows = [(name, ty.title) for name, ty in service.handlers]
        table = _table(("HANDLER", "TYPE"), handler_rows)
        lines += ["    " + line for line in table.split("\n")]
        lines.append("")
    return "\n".join(lines)


# --- services status ----------------------------------------------------------------------


@attrs.frozen
class HandlerStatusRow:
    """``restate services status`` for one handler: uncompleted invocations per status
    (every status, paused included), and the oldest one that is not suspended."""

    service: str
    handler: str
    counts: tuple[tuple[InvocationStatus, int], ...]
    oldest: Invocation | None
    flavor: str = ""

    def count(self, status: InvocationStatus) -> int:
        return dict(self.counts).get(status, 0)


def services_status(
    registry: RegistryQueries, service: str | None = None
) -> tuple[HandlerStatusRow, ...]:
    """Per service (or only ``service``) and handler of its latest revision, plus any handler
    that still has uncompleted invocations.

    A service that is gone (its last deployment was removed with force) but still has
    uncompleted invocations (stuck: they fail with RT0011 at their next attempt) is shown by
    those invocations' handlers, without a flavor; this goes further than the server, whose
    ``restate services status NAME`` only knows registered services. A ``service`` that has
    neither a revision nor uncompleted invocations is :class:`ServiceNotFound`."""
    counts = registry.status_counts()
    targets: dict[tuple[str, str], dict[InvocationStatus, int]] = {}
    names = [service] if service is not None else [s.name for s in registry.services()]
    for name in names:
        try:
            revision = registry.service(name)
        except ServiceNotFound:
            if not any(found == name for found, _, _ in counts):
                raise
            continue  # gone, with calls stuck: shown by the handlers of those calls
        for handler in revision.handlers:
            targets[(name, handler)] = {}
    for (name, handler, status), count in counts.items():
        if service is None or name == service:
            targets.setdefault((name, handler), {})[status] = count
    flavors = {s.name: s.type.flavor for s in registry.services()}
    return tuple(
        HandlerStatusRow(
            name,
            handler,
            tuple((s, found[s]) for s in InvocationStatus if s in found),
            registry.oldest_invocation(name, handler),
            flavors.get(name, ""),
        )
        for (name, handler), found in sorted(targets.items())
    )


def render_services_status(rows: Sequence[HandlerStatusRow]) -> str:
    """The summary of ``restate services status``: a line per service (with its flavor), a
    line per handler, ``-`` for none, and the oldest invocation that is not suspended."""
    table_rows: list[tuple[str, ...]] = []
    blank = ("",) * (len(STATUS_COLUMNS) + 1)
    current = None
    for row in rows:
        if row.service != current:
            if current is not None:
                table_rows.append(("", *blank))
            current = row.service
            table_rows.append((f"{row.service} {row.flavor}".rstrip(), *blank))
        oldest = (
            f"{row.oldest.id} {row.oldest.status.value} "
            f"(invoked at {row.oldest.created_at:%Y-%m-%d %H:%M:%S})"
            if row.oldest is not None
            else "-"
        )
        counts = (str(row.count(s)) if row.count(s) else "-" for s in STATUS_COLUMNS)
        table_rows.append((f"  {row.handler}", *counts, oldest))
    header = ("", *(s.name.replace("_", "-") for s in STATUS_COLUMNS))
    table = _table((*header, "OLDEST-NON-SUSPENDED-INVOCATION"), table_rows)
    return "\n".join(["", " Summary:", "―" * 9, table])


@attrs.frozen
class ActiveKey:
    """A key of a Virtual Object that an exclusive call holds, and how many wait behind it."""

    service: str
    key: str
    locked_by: Invocation
    queue: int


def active_keys(registry: RegistryQueries, service: str | None = None) -> tuple[ActiveKey, ...]:
    """The ``Active Keys`` of ``restate services status``, by service and key."""
    return tuple(
        ActiveKey(name, key, registry.invocation(holder), queued)
        for name, key, holder, queued in registry.locked_keys()
        if service is None or name == service
    )


def render_active_keys(keys: Sequence[ActiveKey]) -> str:
    """The ``Active Keys`` table: per service, each locked key, its queue and its holder."""
    rows: list[tuple[str, ...]] = []
    for name in sorted({k.service for k in keys}):
        mine = [k for k in keys if k.service == name]
        rows.append((f"{name} ({len(mine)} active keys)", "", "", ""))
        rows += [
            (
                f"  {k.key}",
                str(k.queue),
                f"{k.locked_by.id} ({k.locked_by.status.value})",
                k.locked_by.handler,
            )
            for k in mine
        ]
    table = _table(("", "QUEUE", "LOCKED-BY", "HANDLER"), rows)
    return "\n".join(["", " Active Keys:", "―" * 13, table])


# --- removal plan -------------------------------------------------------------------------


def render_removal_plan(plan: RemovalPlan) -> str:
    """A removal plan as a person reads it: verdict, reasons, effects."""
    verdict = "safe to remove" if plan.safe else "NOT safe to remove"
    lines = [f"Deployment {plan.deployment_id} ({plan.status.value}) is {verdict}."]
    if plan.blockers:
        lines.append("")
        lines.append("Blockers:")
        lines += [f"  - {b.kind.value}: {b.message}" for b in plan.blockers]
    lines.append("")
    lines.append("Effects:")
    lines += [f"  - {effect}" for effect in plan.effects] or ["  - (it serves no services)"]
    if plan.warnings:
        lines.append("")
        lines.append("Warnings:")
        lines += [f"  - {warning}" for warning in plan.warnings]
    return "\n".join(lines)


# --- invocations and history --------------------------------------------------------------


def render_invocations(invocations: Sequence[Invocation]) -> str:
    """Invocations, a line each: id, target (``Service[/key]/handler``), status, the
    deployment it is pinned to, and who called it (the calling invocation's id and target, as
    ``invoked_by_id`` and ``invoked_by_target`` show them; ``-`` for an ingress call)."""
    return _table(
        ("ID", "TARGET", "STATUS", "DEPLOYMENT", "INVOKED-BY"),
        [
            (
                i.id,
                "/".join(p for p in (i.service, i.key, i.handler) if p is not None),
                i.status.value,
                i.pinned_deployment_id or "-",
                " ".join(p for p in (i.caller_id, i.invoked_by_target) if p is not None) or "-",
            )
            for i in invocations
        ],
    )


def render_history(records: Sequence[CommandRecord]) -> str:
    """What was done to a stored registry, a command a line: its sequence number, when (UTC
    as recorded), the command and what it did."""
    return _table(
        ("#", "AT", "COMMAND", "SUMMARY"),
        [(str(r.sequence), f"{r.at:%Y-%m-%d %H:%M:%S}", r.command, r.summary) for r in records],
    )
