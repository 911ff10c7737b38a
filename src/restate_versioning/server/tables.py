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

from collections.abc import Callable, Iterable, Mapping
from typing import Any

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
_COMPLETED = InvocationStatus.COMPLETED


def _service_types(registry: RegistryQueries) -> dict[str, str]:
    types: dict[str, str] = {}
    for deployment in registry.deployments():
        for name, revision in deployment.services.items():
            types.setdefault(name, _SERVICE_TYPES[revision.type])
    for revision in registry.services():  # the latest revision decides
        types[revision.name] = _SERVICE_TYPES[revision.type]
    return types


#: The columns of ``sys_invocation`` the model has values for.
_KNOWN = (
    "id",
    "target",
    "target_service_name",
    "target_service_key",
    "target_handler_name",
    "target_service_ty",
    "invoked_by",
    "invoked_by_service_name",
    "invoked_by_id",
    "invoked_by_target",
    "pinned_deployment_id",
    "pinned_service_protocol_version",
    "created_at",
    "created_using_restate_version",
    "modified_at",
    "inboxed_at",
    "scheduled_at",
    "scheduled_start_at",
    "running_at",
    "completed_at",
    "retry_count",
    "last_start_at",
    "last_attempt_deployment_id",
    "last_failure",
    "last_failure_error_code",
    "status",
    "completion_result",
    "idempotency_key",
    "last_attempt_server",
)


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def idempotency_key(invocation_id: str) -> str:
    """The idempotency key shown for a call from the ingress that was sent without one: the
    server makes a ULID for it (``01M8V8P9D1SRYRPMSV9PCDBGZX``); the model spells the call's
    uuid as one, so the same call always shows the same key."""
    number = parse_invocation_id(invocation_id).uuid
    return "".join(_CROCKFORD[(number >> shift) & 31] for shift in range(125, -1, -5))


def _invocation_columns(
    registry: RegistryQueries, failures: Mapping[str, str]
) -> dict[str, list[Any]]:
    """The columns of ``sys_invocation`` the model knows, by name; a row per invocation.
    ``failures`` is how the calls killed or cancelled through the API ended."""
    types = _service_types(registry)
    sdks = {d.id: d.sdk_version for d in registry.deployments()}
    names = [*_KNOWN, "completion_failure", "partition_key"]
    columns: dict[str, list[Any]] = {name: [] for name in names}
    add = {name: columns[name].append for name in names}
    for invocation in registry.invocations():
        _invocation_row(invocation, types, sdks, add)
    if failures:
        ended = columns["completion_result"]
        why = columns["completion_failure"]
        for index, invocation_id in enumerate(columns["id"]):
            failure = failures.get(invocation_id)
            if failure is not None and ended[index] is not None:
                ended[index], why[index] = "failure", failure
    return columns


def _target_type(invocation: Invocation, latest: str) -> str:
    """The type of service a call was sent to: keyed or not, as it was sent; the latest
    revision's type where it agrees (a keyed call to what is a Service now was sent to a
    Virtual Object, or to a Workflow's run)."""
    if invocation.key is None:
        return "service"
    if invocation.handler_type is HandlerType.WORKFLOW:
        return "workflow"
    return latest if latest != "service" else "virtual_object"


def _invocation_row(
    invocation: Invocation,
    types: Mapping[str, str],
    sdks: Mapping[str, str | None],
    add: Mapping[str, Callable[[Any], None]],
) -> None:
    status = invocation.status
    key = invocation.key
    service = invocation.service
    created = invocation.created_at
    add["id"](invocation.id)
    add["partition_key"](parse_invocation_id(invocation.id).partition_key)
    add["target"](
        f"{service}/{invocation.handler}"
        if key is None
        else f"{service}/{key}/{invocation.handler}"
    )
    add["target_service_name"](service)
    add["target_service_key"](key)
    add["target_handler_name"](invocation.handler)
    add["target_service_ty"](_target_type(invocation, types.get(service, "service")))
    caller = invocation.caller
    workflow_run = invocation.handler_type is HandlerType.WORKFLOW or (
        key is not None and types.get(service) == "workflow" and invocation.handler == "run"
    )
    add["idempotency_key"](
        idempotency_key(invocation.id) if caller is None and not workflow_run else None
    )
    if caller is None:
        add["invoked_by"]("ingress")
        add["invoked_by_service_name"](None)
        add["invoked_by_target"](None)
    else:
        caller_service, _, caller_handler = caller.partition("/")
        add["invoked_by"]("service")
        add["invoked_by_service_name"](caller_service)
        caller_key = invocation.caller_key
        add["invoked_by_target"](
            caller if caller_key is None else f"{caller_service}/{caller_key}/{caller_handler}"
        )
    add["invoked_by_id"](invocation.caller_id)
    pinned = invocation.pinned_deployment_id
    add["pinned_deployment_id"](pinned)
    add["pinned_service_protocol_version"](invocation.pinned_protocol_version)
    add["created_at"](created)
    add["created_using_restate_version"]("1.7.12")
    add["modified_at"](created)
    add["inboxed_at"](created if status is InvocationStatus.PENDING else None)
    add["scheduled_at"](created if status is InvocationStatus.SCHEDULED else None)
    add["scheduled_start_at"](invocation.execute_at)
    started = status not in _NOT_STARTED
    add["running_at"](created if started else None)
    add["completed_at"](created if status is _COMPLETED else None)
    failure = invocation.last_failure
    in_flight = started and status is not _COMPLETED
    add["retry_count"]((1 if failure is not None else 0) if in_flight else None)
    add["last_start_at"](created if in_flight else None)
    add["last_attempt_deployment_id"](pinned if in_flight else None)
    add["last_attempt_server"](sdks.get(pinned) if in_flight and pinned else None)
    add["last_failure"](failure.message if failure is not None else None)
    add["last_failure_error_code"](failure.code if failure is not None else None)
    add["status"](status.value)
    add["completion_result"]("success" if status is _COMPLETED else None)
    add["completion_failure"](None)


def _arrow(table: str, columns: Mapping[str, list[Any]], rows: int) -> pa.Table:
    arrays = []
    for name, kind in SCHEMAS[table]:
        values = columns.get(name)
        arrays.append(pa.nulls(rows, kind) if values is None else pa.array(values, type=kind))
    return pa.Table.from_arrays(arrays, schema=schema_of(table))


def _sys_invocation(
    registry: RegistryQueries, names: Iterable[str], failures: Mapping[str, str]
) -> dict[str, pa.Table]:
    columns = _invocation_columns(registry, failures)
    rows = len(columns["id"])
    out: dict[str, pa.Table] = {}
    statuses = columns["status"]
    if "sys_invocation" in names:
        out["sys_invocation"] = _arrow("sys_invocation", columns, rows)
    if "sys_invocation_status" in names:
        raw = {**columns, "status": [_RAW_STATUS.get(s, s) for s in statuses]}
        out["sys_invocation_status"] = _arrow("sys_invocation_status", raw, rows)
    if "sys_invocation_state" in names:
        keep = [i for i, s in enumerate(statuses) if s not in ("pending", "scheduled", "completed")]
        state = {name: [values[i] for i in keep] for name, values in columns.items()}
        state["in_flight"] = [statuses[i] != "ready" for i in keep]
        out["sys_invocation_state"] = _arrow("sys_invocation_state", state, len(keep))
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
    registry: RegistryQueries, names: Iterable[str], failures: Mapping[str, str] | None = None
) -> dict[str, pa.Table]:
    """The tables ``names`` (any of :data:`TABLES`; others are left out) of ``registry``;
    ``failures`` says how calls that were killed or cancelled ended (``"[409] killed"``), which
    the model does not keep."""
    wanted = set(names) & set(SCHEMAS)
    out: dict[str, pa.Table] = {}
    if wanted & {"sys_invocation", "sys_invocation_status", "sys_invocation_state"}:
        out.update(_sys_invocation(registry, wanted, failures or {}))
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
