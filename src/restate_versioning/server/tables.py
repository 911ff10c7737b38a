"""The tables ``POST /query`` answers from, as Arrow tables built from a registry, with the
column names and types of restate-server 1.7.12 (its ``information_schema.columns``).

:data:`SCHEMAS` is the one home of the columns: each table's, in the server's order, as
``(name, arrow type)``; every column may be null but ``sys_invocation.status``. The model fills
what it knows; a column it has no value for (journals, traces, retry times, state values) is
null, and a table it does not model (``sys_promise``, ``state``) is empty with its real
columns, so that queries naming it still plan as they do on the server. ``sys_journal`` holds
each call's first entry, its input (``Command: Input``), as the server's journal begins; an
ingress call that is not a workflow run shows an idempotency key, as the server makes one for
each (:func:`idempotency_key`); an attempt shows its deployment's SDK as
``last_attempt_server``.

What the model keeps of time is one moment per call, when it was made (``created_at``):
``modified_at`` shows it, and so do ``inboxed_at`` (a pending call), ``scheduled_at`` (a
delayed one, with ``scheduled_start_at`` its due time), ``running_at`` and ``last_start_at``
(a started one) and ``completed_at`` (a completed one), where the server would show later times.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs
import pyarrow as pa

from ..endpoints import EndpointKind
from ..ids import parse_invocation_id
from ..model import HandlerType, Invocation, InvocationStatus, ServiceType
from ..queries import RegistryQueries

__all__ = ["SCHEMAS", "TABLES", "build_table", "idempotency_key", "schema_of"]

_S = pa.large_string()
_TS = pa.timestamp("ms", tz="+00:00")
_U32 = pa.uint32()
_U64 = pa.uint64()
_BOOL = pa.bool_()
_BIN = pa.large_binary()
_DUR = pa.duration("ms")
_U32S = pa.list_(pa.uint32())

_STATUS_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("target", _S),
    ("target_service_name", _S),
    ("target_service_key", _S),
    ("target_handler_name", _S),
    ("target_service_ty", _S),
    ("scope", _S),
    ("limit_key", _S),
    ("idempotency_key", _S),
    ("invoked_by", _S),
)
_ATTEMPT_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("retry_count", _U64),
    ("last_start_at", _TS),
    ("next_retry_at", _TS),
    ("last_attempt_deployment_id", _S),
    ("last_attempt_server", _S),
    ("last_failure", _S),
    ("last_failure_error_code", _S),
)
_TIMES: tuple[tuple[str, pa.DataType], ...] = (
    ("trace_id", _S),
    ("journal_size", _U32),
    ("journal_commands_size", _U32),
    ("created_at", _TS),
    ("created_using_restate_version", _S),
    ("modified_at", _TS),
    ("inboxed_at", _TS),
    ("scheduled_at", _TS),
    ("scheduled_start_at", _TS),
    ("running_at", _TS),
    ("completed_at", _TS),
    ("completion_retention", _DUR),
    ("journal_retention", _DUR),
    ("suspended_waiting_for_completions", _U32S),
    ("suspended_waiting_for_signals", _U32S),
    ("suspended_waiting_future_json", _S),
)
_FAILURE_ENTRY: tuple[tuple[str, pa.DataType], ...] = (
    ("last_failure_related_entry_index", _U64),
    ("last_failure_related_entry_name", _S),
    ("last_failure_related_entry_type", _S),
    ("last_failure_related_command_index", _U64),
    ("last_failure_related_command_name", _S),
    ("last_failure_related_command_type", _S),
)

#: Every table, its columns in the server's order.
SCHEMAS: Mapping[str, tuple[tuple[str, pa.DataType], ...]] = {
    "sys_invocation": (
        ("id", _S),
        ("vqueue_id", _S),
        *_STATUS_COLUMNS,
        ("invoked_by_service_name", _S),
        ("invoked_by_id", _S),
        ("invoked_by_subscription_id", _S),
        ("invoked_by_target", _S),
        ("restarted_from", _S),
        ("pinned_deployment_id", _S),
        ("pinned_service_protocol_version", _U32),
        *_TIMES,
        *_ATTEMPT_COLUMNS,
        *_FAILURE_ENTRY,
        ("last_awaiting_on_future_json", _S),
        ("status", _S),
        ("completion_result", _S),
        ("completion_failure", _S),
    ),
    "sys_invocation_status": (
        ("partition_key", _U64),
        ("id", _S),
        ("vqueue_id", _S),
        ("status", _S),
        ("completion_result", _S),
        ("completion_failure", _S),
        *_STATUS_COLUMNS,
        ("invoked_by_id", _S),
        ("invoked_by_subscription_id", _S),
        ("invoked_by_service_name", _S),
        ("invoked_by_target", _S),
        ("restarted_from", _S),
        ("pinned_deployment_id", _S),
        ("pinned_service_protocol_version", _U32),
        *_TIMES,
    ),
    "sys_invocation_state": (
        ("partition_key", _U64),
        ("id", _S),
        ("in_flight", _BOOL),
        *_ATTEMPT_COLUMNS,
        ("last_failure_related_command_index", _U64),
        ("last_failure_related_command_name", _S),
        ("last_failure_related_command_type", _S),
        ("last_failure_related_entry_index", _U64),
        ("last_failure_related_entry_name", _S),
        ("last_failure_related_entry_type", _S),
        ("last_awaiting_on_future_json", _S),
    ),
    "sys_deployment": (
        ("id", _S),
        ("ty", _S),
        ("endpoint", _S),
        ("created_at", _TS),
        ("min_service_protocol_version", _U32),
        ("max_service_protocol_version", _U32),
        ("services", pa.list_(_S)),
    ),
    "sys_service": (
        ("name", _S),
        ("revision", _U64),
        ("public", _BOOL),
        ("ty", _S),
        ("deployment_id", _S),
    ),
    "sys_inbox": (
        ("partition_key", _U64),
        ("service_name", _S),
        ("service_key", _S),
        ("id", _S),
        ("sequence_number", _U64),
        ("created_at", _TS),
    ),
    "sys_keyed_service_status": (
        ("partition_key", _U64),
        ("service_name", _S),
        ("service_key", _S),
        ("invocation_id", _S),
    ),
    "sys_journal": (
        ("partition_key", _U64),
        ("id", _S),
        ("index", _U32),
        ("entry_type", _S),
        ("name", _S),
        ("completed", _BOOL),
        ("invoked_id", _S),
        ("invoked_target", _S),
        ("sleep_wakeup_at", _TS),
        ("promise_name", _S),
        ("raw", _BIN),
        ("raw_length", _U64),
        ("version", _U32),
        ("entry_json", _S),
        ("entry_lite_json", _S),
        ("appended_at", _TS),
    ),
    "sys_promise": (
        ("partition_key", _U64),
        ("scope", _S),
        ("service_name", _S),
        ("service_key", _S),
        ("key", _S),
        ("completed", _BOOL),
        ("completion_success_value", _BIN),
        ("completion_success_value_utf8", _S),
        ("completion_failure", _S),
    ),
    "state": (
        ("partition_key", _U64),
        ("scope", _S),
        ("service_name", _S),
        ("service_key", _S),
        ("key", _S),
        ("key_length", _U64),
        ("value_utf8", _S),
        ("value", _BIN),
        ("value_length", _U64),
    ),
}

#: The tables, by name.
TABLES = tuple(SCHEMAS)
#: The columns of each table, by name.
SCHEMA_NAMES: Mapping[str, frozenset[str]] = {
    table: frozenset(name for name, _ in columns) for table, columns in SCHEMAS.items()
}
_INVOCATION_TABLES = frozenset({"sys_invocation", "sys_invocation_status", "sys_invocation_state"})

_NOT_NULL = {("sys_invocation", "status")}


def schema_of(table: str) -> pa.Schema:
    """The Arrow schema of ``table``, as the server's."""
    return pa.schema(
        [pa.field(n, t, nullable=(table, n) not in _NOT_NULL) for n, t in SCHEMAS[table]]
    )


_SERVICE_TYPES = {
    ServiceType.SERVICE: "service",
    ServiceType.VIRTUAL_OBJECT: "virtual_object",
    ServiceType.WORKFLOW: "workflow",
}
_QUEUED_AT = {InvocationStatus.PENDING: "inboxed_at", InvocationStatus.SCHEDULED: "scheduled_at"}
#: ``sys_invocation_status`` shows the stored status, ``sys_invocation`` the user's word.
_RAW_STATUS = {"pending": "inboxed", "running": "invoked", "backing-off": "invoked"}
_NOT_STARTED = (InvocationStatus.PENDING, InvocationStatus.SCHEDULED, InvocationStatus.READY)
_NO_STATE = (InvocationStatus.PENDING, InvocationStatus.SCHEDULED, InvocationStatus.COMPLETED)
_COMPLETED = InvocationStatus.COMPLETED


def _service_types(registry: RegistryQueries) -> dict[str, str]:
    types: dict[str, str] = {}
    for deployment in registry.deployments():
        for name, revision in deployment.services.items():
            types.setdefault(name, _SERVICE_TYPES[revision.type])
    for revision in registry.services():  # the latest revision decides
        types[revision.name] = _SERVICE_TYPES[revision.type]
    return types


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def idempotency_key(invocation_id: str) -> str:
    """The idempotency key shown for a call from the ingress that was sent without one: the
    server makes a ULID for it (``01M8V8P9D1SRYRPMSV9PCDBGZX``); the model spells the call's
    uuid as one, so the same call always shows the same key."""
    number = parse_invocation_id(invocation_id).uuid
    return "".join(_CROCKFORD[(number >> shift) & 31] for shift in range(125, -1, -5))


@attrs.frozen
class _Known:
    """What the rows of the invocation tables are made from, beside each invocation."""

    types: Mapping[str, str]  # each service's type, as sys_invocation spells it
    sdks: Mapping[str, str | None]  # each deployment's SDK
    runs: Mapping[str, str]  # each workflow's run handler, in its latest revision
    failures: Mapping[str, str]  # how calls killed or cancelled through the API ended
    keys: Mapping[str, str]  # the idempotency key each call was sent with, if one was


def _target_type(invocation: Invocation, known: _Known) -> str:
    """The type of service a call was sent to: keyed or not, as it was sent; the latest
    revision's type where it agrees (a keyed call to what is a Service now was sent to a
    Virtual Object, or to a Workflow's run)."""
    if invocation.key is None:
        return "service"
    if invocation.handler_type is HandlerType.WORKFLOW:
        return "workflow"
    latest = known.types.get(invocation.service, "service")
    return latest if latest != "service" else "virtual_object"


def _target(i: Invocation, _: _Known) -> str:
    return f"{i.service}/{i.handler}" if i.key is None else f"{i.service}/{i.key}/{i.handler}"


def _idempotency_key(i: Invocation, known: _Known) -> str | None:
    run = i.handler_type is HandlerType.WORKFLOW or known.runs.get(i.service) == i.handler
    if i.caller is not None or (run and i.key is not None):
        return None  # a call from a handler, or a workflow's run (its key is its identity)
    return known.keys.get(i.id) or idempotency_key(i.id)


def _invoked_by_target(i: Invocation, _known: _Known) -> str | None:
    if i.caller is None or i.caller_key is None:
        return i.caller
    service, _, handler = i.caller.partition("/")
    return f"{service}/{i.caller_key}/{handler}"


def _started(i: Invocation) -> bool:
    return i.status not in _NOT_STARTED


def _in_flight(i: Invocation) -> bool:
    return i.status not in _NOT_STARTED and i.status is not _COMPLETED


def _when(i: Invocation, status: InvocationStatus) -> datetime | None:
    return i.created_at if i.status is status else None


def _completion(i: Invocation, known: _Known) -> str | None:
    if i.status is not _COMPLETED:
        return None
    return "failure" if i.id in known.failures else "success"


_Column = Callable[[Invocation, _Known], Any]

#: How each column of the invocation tables that the model has a value for is made from a
#: call; the others are null.
INVOCATION_COLUMNS: Mapping[str, _Column] = {
    "partition_key": lambda i, _: parse_invocation_id(i.id).partition_key,
    "id": lambda i, _: i.id,
    "target": _target,
    "target_service_name": lambda i, _: i.service,
    "target_service_key": lambda i, _: i.key,
    "target_handler_name": lambda i, _: i.handler,
    "target_service_ty": _target_type,
    "idempotency_key": _idempotency_key,
    "invoked_by": lambda i, _: "ingress" if i.caller is None else "service",
    "invoked_by_service_name": lambda i, _: None if i.caller is None else i.caller.split("/")[0],
    "invoked_by_id": lambda i, _: i.caller_id,
    "invoked_by_target": _invoked_by_target,
    "pinned_deployment_id": lambda i, _: i.pinned_deployment_id,
    "pinned_service_protocol_version": lambda i, _: i.pinned_protocol_version,
    "created_at": lambda i, _: i.created_at,
    "created_using_restate_version": lambda i, _: "1.7.12",
    "modified_at": lambda i, _: i.created_at,
    "inboxed_at": lambda i, _: _when(i, InvocationStatus.PENDING),
    "scheduled_at": lambda i, _: _when(i, InvocationStatus.SCHEDULED),
    "scheduled_start_at": lambda i, _: i.execute_at,
    "running_at": lambda i, _: i.created_at if _started(i) else None,
    "completed_at": lambda i, _: _when(i, _COMPLETED),
    "retry_count": lambda i, _: int(i.last_failure is not None) if _in_flight(i) else None,
    "last_start_at": lambda i, _: i.created_at if _in_flight(i) else None,
    "last_attempt_deployment_id": lambda i, _: i.pinned_deployment_id if _in_flight(i) else None,
    "last_attempt_server": lambda i, known: (
        known.sdks.get(i.pinned_deployment_id) if _in_flight(i) and i.pinned_deployment_id else None
    ),
    "last_failure": lambda i, _: i.last_failure.message if i.last_failure else None,
    "last_failure_error_code": lambda i, _: i.last_failure.code if i.last_failure else None,
    "status": lambda i, _: i.status.value,
    "completion_result": _completion,
    "completion_failure": lambda i, known: (
        known.failures.get(i.id) if i.status is _COMPLETED else None
    ),
    "in_flight": lambda i, _: i.status is not InvocationStatus.READY,
}


def _arrow(table: str, columns: Mapping[str, list[Any]], rows: int) -> pa.Table:
    arrays = []
    for name, kind in SCHEMAS[table]:
        values = columns.get(name)
        arrays.append(pa.nulls(rows, kind) if values is None else pa.array(values, type=kind))
    return pa.Table.from_arrays(arrays, schema=schema_of(table))


def _sys_invocation(
    registry: RegistryQueries,
    names: Iterable[str],
    failures: Mapping[str, str],
    columns: Mapping[str, Collection[str] | None],
    keys: Mapping[str, str],
) -> dict[str, pa.Table]:
    known = _Known(
        _service_types(registry),
        {d.id: d.sdk_version for d in registry.deployments()},
        {
            s.name: h.name
            for s in registry.services()
            for h in s.handlers.values()
            if h.type is HandlerType.WORKFLOW
        },
        failures,
        keys,
    )
    calls = list(registry.invocations())
    out: dict[str, pa.Table] = {}
    for table in names:
        if table not in _INVOCATION_TABLES:
            continue
        rows = calls
        if table == "sys_invocation_state":  # an attempt's state: calls started, not ended
            rows = [i for i in calls if i.status not in _NO_STATE]
        wanted = columns.get(table)
        values = {
            name: [make(i, known) for i in rows]
            for name, make in INVOCATION_COLUMNS.items()
            if name in SCHEMA_NAMES[table]
            and (wanted is None or name in wanted or (table, name) in _NOT_NULL)
        }
        if table == "sys_invocation_status" and "status" in values:
            values["status"] = [_RAW_STATUS.get(s, s) for s in values["status"]]
        out[table] = _arrow(table, values, len(rows))
    return out


def _sys_journal(registry: RegistryQueries) -> pa.Table:
    """The first entry of every call's journal, its input: the model keeps no journal."""
    invocations = list(registry.invocations())
    rows = len(invocations)
    columns: dict[str, list[Any]] = {
        "partition_key": [parse_invocation_id(i.id).partition_key for i in invocations],
        "id": [i.id for i in invocations],
        "index": [0] * rows,
        "entry_type": ["Command: Input"] * rows,
        "name": [""] * rows,
        "version": [2] * rows,
        "entry_json": ['{"Command":{"Input":{"headers":[],"payload":[],"name":""}}}'] * rows,
        "entry_lite_json": ['{"Command":{"Input":{}}}'] * rows,
        "appended_at": [i.created_at for i in invocations],
    }
    return _arrow("sys_journal", columns, rows)


def _sys_deployment(registry: RegistryQueries) -> pa.Table:
    deployments = registry.deployments()
    columns: dict[str, list[Any]] = {
        "id": [d.id for d in deployments],
        "ty": ["lambda" if d.kind is EndpointKind.LAMBDA else "http" for d in deployments],
        "endpoint": [d.endpoint for d in deployments],
        "created_at": [d.created_at for d in deployments],
        "min_service_protocol_version": [d.min_protocol_version for d in deployments],
        "max_service_protocol_version": [d.max_protocol_version for d in deployments],
        "services": [list(d.services) for d in deployments],
    }
    return _arrow("sys_deployment", columns, len(deployments))


def _sys_service(registry: RegistryQueries) -> pa.Table:
    services = registry.services()
    columns: dict[str, list[Any]] = {
        "name": [s.name for s in services],
        "revision": [s.revision for s in services],
        "public": [s.public for s in services],
        "ty": [_SERVICE_TYPES[s.type] for s in services],
        "deployment_id": [s.deployment_id for s in services],
    }
    return _arrow("sys_service", columns, len(services))


def _keyed(registry: RegistryQueries) -> dict[str, pa.Table]:
    snapshot = registry.snapshot()
    created = {i.id: i.created_at for i in snapshot.invocations if i.status.is_queued}
    inbox: dict[str, list[Any]] = {
        name: [] for name in ("partition_key", "service_name", "service_key", "id")
    }
    inbox["sequence_number"] = []
    inbox["created_at"] = []
    sequence = 0
    for service, key, waiting in snapshot.inboxes:
        for invocation_id in waiting:
            inbox["partition_key"].append(parse_invocation_id(invocation_id).partition_key)
            inbox["service_name"].append(service)
            inbox["service_key"].append(key)
            inbox["id"].append(invocation_id)
            inbox["sequence_number"].append(sequence)
            inbox["created_at"].append(created.get(invocation_id))
            sequence += 1
    status: dict[str, list[Any]] = {
        "partition_key": [parse_invocation_id(h).partition_key for _, _, h in snapshot.locks],
        "service_name": [s for s, _, _ in snapshot.locks],
        "service_key": [k for _, k, _ in snapshot.locks],
        "invocation_id": [h for _, _, h in snapshot.locks],
    }
    return {
        "sys_inbox": _arrow("sys_inbox", inbox, len(inbox["id"])),
        "sys_keyed_service_status": _arrow(
            "sys_keyed_service_status", status, len(status["invocation_id"])
        ),
    }


def build_table(
    registry: RegistryQueries,
    names: Iterable[str],
    failures: Mapping[str, str] | None = None,
    columns: Mapping[str, Collection[str] | None] | None = None,
    idempotency_keys: Mapping[str, str] | None = None,
) -> dict[str, pa.Table]:
    """The tables ``names`` (any of :data:`TABLES`; others are left out) of ``registry``;
    ``failures`` says how calls that were killed or cancelled ended (``"[409] killed"``), which
    the model does not keep. ``columns`` may say which columns of an invocation table a query
    reads (``None``: all): the others are left null, since making a column of a hundred
    thousand calls is what a query costs. ``idempotency_keys`` are the keys calls were sent
    with (the others show one the server would have made)."""
    wanted = set(names) & set(SCHEMAS)
    out: dict[str, pa.Table] = {}
    if wanted & _INVOCATION_TABLES:
        out.update(
            _sys_invocation(registry, wanted, failures or {}, columns or {}, idempotency_keys or {})
        )
    if "sys_deployment" in wanted:
        out["sys_deployment"] = _sys_deployment(registry)
    if "sys_journal" in wanted:
        out["sys_journal"] = _sys_journal(registry)
    if "sys_service" in wanted:
        out["sys_service"] = _sys_service(registry)
    if wanted & {"sys_inbox", "sys_keyed_service_status"}:
        out.update({k: v for k, v in _keyed(registry).items() if k in wanted})
    for name in wanted - set(out):
        out[name] = _arrow(name, {}, 0)
    return out
