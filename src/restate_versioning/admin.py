"""Read a running Restate cluster into a :class:`~restate_versioning.Registry`, over its admin API,
and act on it safely.

:class:`AdminSource` is an adapter at the edge (the core stays I/O-free; it needs ``httpx``,
from the ``admin`` extra); :class:`AdminClient` is one too, and writes what the model allows
(see its docstring, and docs/rules.md, "Acting on a live cluster"). The source only reads:
``GET /deployments``,
``GET /deployments/{id}``, ``GET /services`` and ``POST /query`` (a SQL ``SELECT``), never a
request that changes the cluster. :meth:`AdminSource.load` turns what they answer into a
:class:`~restate_versioning.snapshot.RegistrySnapshot` and builds the registry from it, so every
question the library answers (deployment status, removal plans, the CLI's views) can be asked
about a real cluster:

* deployments with the revision of each service they hold: the latest revisions as
  ``GET /services`` shows them, older ones as ``GET /deployments/{id}`` shows them (type,
  handlers, visibility, documentation, metadata, payload descriptions and schemas, options);
  the kept manifest is ``None`` (the admin API does not return it), and a service option the
  server shows at its default reads as unset (the admin API shows both the same);
* removed deployments: the ids invocations are pinned to that no longer exist, so invocations
  left pinned to a force-removed deployment (RT0011) load;
* invocations from ``sys_invocation``, completed ones included (a completed workflow run still
  answers for its key); their pin, caller (``invoked_by_id`` and ``invoked_by_target``, its key
  kept), due time and last failure;
* the inbox of each Virtual Object key (``sys_inbox``, in sequence order), the call holding
  the key (``sys_keyed_service_status``), each workflow key's run, and the callers recorded
  from ``invoked_by_target``.

The answers are read one after another while the cluster keeps running; when they do not fit
together (a call finished between two reads), the whole read is done again, within the timeout.
Anything the admin API answers that this library cannot model (an HTTP error, malformed JSON,
a missing or mistyped field, an id that is not one) raises :class:`AdminApiError` and builds
nothing.

What a hostile or broken server can do is bounded: one deadline ends a whole
:meth:`AdminSource.load` whatever the peer sends (headers trickled a byte at a time, a
``100 Continue`` flood, a slow body), each answer is read as it came, never decoded, up to
``max_response_bytes``, and read as strict JSON (``restate_versioning._json``: no ``NaN``, no
key twice, at most 127 levels). Every id read from an answer is checked before it
is used, so nothing the server says reaches another path (``/deployments/../``). Redirects are
never followed, proxies are not used unless ``trust_env`` asks for them, and credentials in the
admin URL are sent but never shown.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

import attrs
import httpx

from . import _json
from ._durations import parse_millis
from ._http import Deadline, DeadlineTransport, environment_proxy
from .commands import ResumeOn, ResumeTarget
from .endpoints import EndpointKind, parse_endpoint, redact
from .enums import BlockerKind
from .errors import InvalidId, InvalidSnapshot, InvalidStateSchema, VersioningError
from .ids import IdGenerator, is_invocation_id, parse_deployment_id, parse_invocation_id
from .model import (
    Deployment,
    Failure,
    Handler,
    HandlerType,
    Invocation,
    InvocationStatus,
    OnMaxAttempts,
    ProtocolMode,
    RetryPolicy,
    ServiceRevision,
    ServiceType,
    make_invocation,
)
from .registry import Clock, Registry
from .rules.invocations import KEYED
from .rules.manifest import effective_handler_type
from .rules.registration import Registration, canonical_json
from .rules.removal import Removal, RemovalBlocked, RemovalPlan
from .rules.state import state_from_metadata
from .serialization import (
    DEFAULT_ABORT_TIMEOUT_MS,
    DEFAULT_ENABLE_LAZY_STATE,
    DEFAULT_IDEMPOTENCY_RETENTION_MS,
    DEFAULT_INACTIVITY_TIMEOUT_MS,
    DEFAULT_JOURNAL_RETENTION_MS,
    DEFAULT_RETRY_POLICY,
    DEFAULT_WORKFLOW_COMPLETION_RETENTION_MS,
)
from .snapshot import RegistrySnapshot
from .transport import _scrub

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "INVOCATIONS_QUERY",
    "AdminApiError",
    "AdminClient",
    "AdminSource",
    "DrainProgress",
    "DrainTimeout",
    "Pruned",
]

#: The one ``POST /query`` :meth:`AdminSource.load` sends. ``scheduled_at`` is selected only
#: because restate-server 1.7.12 leaves ``scheduled_start_at`` empty unless it is selected too.
INVOCATIONS_QUERY = (
    "SELECT i.id, i.target, i.target_service_name, i.target_service_key, "
    "i.target_handler_name, i.target_service_ty, i.status, i.pinned_deployment_id, "
    "i.pinned_service_protocol_version, i.created_at, i.running_at, i.invoked_by_service_name, "
    "i.invoked_by_target, i.invoked_by_id, i.scheduled_at, i.scheduled_start_at, i.last_failure, "
    "i.last_failure_error_code, b.sequence_number AS inbox_sequence_number, "
    "k.invocation_id AS key_holder "
    "FROM sys_invocation i "
    "LEFT JOIN sys_inbox b ON b.id = i.id "
    "LEFT JOIN sys_keyed_service_status k ON k.invocation_id = i.id"
)

#: The default size limit of one admin answer: 256 MiB, enough for the ``sys_invocation`` rows
#: of 100,000 invocations with long failure messages.
DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024 * 1024
#: How much of an error answer's body is read to show it.
_ERROR_BODY_BYTES = 4096

#: How many times a read whose answers do not fit together is done again.
_ATTEMPTS = 3
#: A server error is asked again after these pauses (s), within the timeout: a cluster that
#: has just started answers the query with 500 ("node lookup for partition 1 failed") for a
#: moment.
_SERVER_ERROR_PAUSES = (0.2, 0.5, 1.0)


class AdminApiError(VersioningError):
    """The admin API could not be read, or answered something that cannot be modelled.

    ``url`` is the request (or the admin URL), ``status`` the HTTP status when there was an
    answer (``None`` when the server could not be reached or did not answer in time), and
    ``problem`` what was wrong, with the ``$.path`` of a misfit field, and ``restate_code``
    the Restate code of an error answer that has one (``META0003``). Credentials in the URL
    are shown as ``***@`` in ``url``, ``problem`` and the message.
    """

    def __init__(
        self,
        url: str,
        problem: str,
        *,
        status: int | None = None,
        restate_code: str | None = None,
    ) -> None:
        self.url = redact(url)
        self.status = status
        self.restate_code = restate_code
        self.problem = _scrub(problem, url)
        where = f"{self.url} answered {status}" if status is not None else self.url
        super().__init__(f"cannot read the Restate admin API ({where}): {self.problem}")


class _Misfit(Exception):
    """A field of an answer that does not have the shape the admin API documents."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{problem} @ {path}")


class _Inconsistent(Exception):
    """Answers read at different moments that do not fit together."""


# --- the admin API's spellings ---------------------------------------------------------------

_SERVICE_TYPES = {t.title: t for t in ServiceType}
_QUERY_SERVICE_TYPES = {
    "service": ServiceType.SERVICE,
    "virtual_object": ServiceType.VIRTUAL_OBJECT,
    "workflow": ServiceType.WORKFLOW,
}
_HANDLER_TYPES = {t.title: t for t in HandlerType}
_PROTOCOL_MODES = {m.title: m for m in ProtocolMode}
_ON_MAX_ATTEMPTS = {o.title: o for o in OnMaxAttempts}
_STATUSES = {s.value: s for s in InvocationStatus}

#: ``_PINNED_STATUS[(status, pinned)]``: the model's status for what ``sys_invocation`` shows,
#: where the two differ. The server briefly shows a started call ``ready`` with its pin (a
#: resumed attempt about to run: in flight, so ``RUNNING``). A ``running`` or ``suspended``
#: call without a pin has started but its handler's first command has not reached the server:
#: it is read as it is, one that pins at its first command (``_UNPINNED_STARTED``).
_PINNED_STATUS: Mapping[tuple[InvocationStatus, bool], InvocationStatus] = {
    (InvocationStatus.READY, True): InvocationStatus.RUNNING,
}
_UNPINNED_STARTED = frozenset({InvocationStatus.RUNNING, InvocationStatus.SUSPENDED})

_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")


# --- reading fields --------------------------------------------------------------------------


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Misfit(path, f"expected an object, got {value!r}"[:200])
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Misfit(path, f"expected a list, got {value!r}"[:200])
    return value


def _str(item: Mapping[str, Any], key: str, path: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise _Misfit(f"{path}.{key}", f"expected a string, got {value!r}"[:200])
    return value


def _optional_str(item: Mapping[str, Any], key: str, path: str) -> str | None:
    return None if item.get(key) is None else _str(item, key, path)


def _id(item: Mapping[str, Any], key: str, path: str, parse: Callable[[str], object]) -> str:
    """A deployment or invocation id, checked before anything uses it (a URL path, a key)."""
    value = _str(item, key, path)
    try:
        parse(value)
    except InvalidId as exc:
        raise _Misfit(f"{path}.{key}", exc.message[:200]) from None
    return value


@functools.lru_cache(maxsize=4096)
def _checked_deployment_id(value: str) -> object:
    """:func:`parse_deployment_id`, remembered: a cluster's rows name few deployments."""
    return parse_deployment_id(value)


def _well_formed_deployment_id(value: str) -> bool:
    """Whether :func:`_checked_deployment_id` takes ``value`` (remembered as it is)."""
    try:
        _checked_deployment_id(value)
    except InvalidId:
        return False
    return True


def _deployment_id(item: Mapping[str, Any], key: str, path: str) -> str:
    return _id(item, key, path, _checked_deployment_id)


def _optional_deployment_id(item: Mapping[str, Any], key: str, path: str) -> str | None:
    return None if item.get(key) is None else _deployment_id(item, key, path)


def _invocation_id(item: Mapping[str, Any], key: str, path: str) -> str:
    value = item.get(key)
    if is_invocation_id(value):  # the shape and the range, without decoding: one per row
        assert isinstance(value, str)
        return value
    return _id(item, key, path, parse_invocation_id)  # raises the precise error


def _int(item: Mapping[str, Any], key: str, path: str) -> int:
    value = item.get(key)
    if type(value) is not int:
        raise _Misfit(f"{path}.{key}", f"expected an integer, got {value!r}"[:200])
    return value


def _bool(item: Mapping[str, Any], key: str, path: str) -> bool:
    value = item.get(key)
    if not isinstance(value, bool):
        raise _Misfit(f"{path}.{key}", f"expected true or false, got {value!r}"[:200])
    return value


def _one_of(item: Mapping[str, Any], key: str, path: str, choices: Mapping[str, Any]) -> Any:
    value = _str(item, key, path)
    try:
        return choices[value]
    except KeyError:
        raise _Misfit(
            f"{path}.{key}", f"expected one of {', '.join(choices)}, got {value!r}"
        ) from None


@functools.lru_cache(maxsize=1024)
def _utc_time(value: str) -> datetime | None:
    """A ``/query`` time, ``2026-11-26T05:42:41.136Z``, read as it is (already UTC), or
    ``None`` for any other text. Remembered: calls made in the same millisecond share it."""
    match = _TIME.fullmatch(value)
    if match is None or match.group(3) != "Z" or len(match.group(2) or "") > 6:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _time(item: Mapping[str, Any], key: str, path: str) -> datetime:
    """The admin API's timestamps: ``2026-11-26T05:42:05.549000000Z`` (nanoseconds) and
    ``2026-11-26T05:42:41.136Z`` (``/query``, milliseconds)."""
    value = _str(item, key, path)
    fast = _utc_time(value)
    if fast is not None:
        return fast
    match = _TIME.fullmatch(value)
    if match is None:
        raise _Misfit(f"{path}.{key}", f"expected an RFC 3339 timestamp, got {value!r}")
    base, fraction, zone = match.groups()
    try:
        parsed = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    except ValueError as exc:
        raise _Misfit(f"{path}.{key}", f"{value!r} is not a valid time: {exc}") from None
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        return parsed.replace(microsecond=micros).astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-14:00: no UTC equivalent
        raise _Misfit(f"{path}.{key}", f"{value!r} has no UTC equivalent") from None


def _optional_time(item: Mapping[str, Any], key: str, path: str) -> datetime | None:
    return None if item.get(key) is None else _time(item, key, path)


# --- the answers -----------------------------------------------------------------------------


@attrs.frozen
class _ListedDeployment:
    """A deployment as ``GET /deployments`` lists it (its services by revision only)."""

    id: str
    endpoint: str
    created_at: datetime
    min_protocol_version: int
    max_protocol_version: int
    protocol_mode: ProtocolMode
    http_version: str | None
    sdk_version: str | None
    revisions: tuple[tuple[str, int], ...]


def _listed_deployment(value: Any, path: str) -> _ListedDeployment:
    item = _object(value, path)
    if item.get("arn") is not None:
        endpoint = _str(item, "arn", path)
        mode = ProtocolMode.REQUEST_RESPONSE  # Lambda speaks request/response only
    else:
        endpoint = _str(item, "uri", path)
        mode = _one_of(item, "protocol_type", path, _PROTOCOL_MODES)
    revisions = []
    for index, service in enumerate(_list(item.get("services"), f"{path}.services")):
        spath = f"{path}.services[{index}]"
        entry = _object(service, spath)
        revisions.append((_str(entry, "name", spath), _int(entry, "revision", spath)))
    return _ListedDeployment(
        id=_deployment_id(item, "id", path),
        endpoint=endpoint,
        created_at=_time(item, "created_at", path),
        min_protocol_version=_int(item, "min_protocol_version", path),
        max_protocol_version=_int(item, "max_protocol_version", path),
        protocol_mode=mode,
        http_version=_optional_str(item, "http_version", path),
        sdk_version=_optional_str(item, "sdk_version", path),
        revisions=tuple(revisions),
    )


def _optional_millis(item: Mapping[str, Any], key: str, path: str) -> int | None:
    """A duration as the server prints it (``"1d 1h 1m 1s 4ms"``), in milliseconds."""
    value = item.get(key)
    if value is None:
        return None
    millis = parse_millis(value) if isinstance(value, str) else None
    if millis is None:
        raise _Misfit(f"{path}.{key}", f"expected a duration such as '1h 30m', got {value!r}"[:200])
    return millis


def _unless_default(value: Any, default: Any) -> Any:
    """``None`` for what the server shows when an option is unset: an option set to its
    default reads as unset, as the admin API shows both the same."""
    return None if value == default else value


def _metadata(item: Mapping[str, Any], path: str) -> dict[str, str]:
    metadata = item.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise _Misfit(f"{path}.metadata", f"expected an object of strings, got {metadata!r}"[:200])
    return metadata


_NOT_APPLIED = re.compile(
    r"The configured inactivity_timeout (.+) will not be applied because the (service|handler) "
    r"is exposed in Request/Response mode\."
)


def _not_applied(item: Mapping[str, Any], path: str) -> int | None:
    """The inactivity timeout a REQUEST_RESPONSE deployment's service or handler configures,
    which the server shows only in its note (``info``, code RT0021) that it is not applied."""
    info = item.get("info")
    if info is None:
        return None
    for index, note in enumerate(_list(info, f"{path}.info")):
        entry = _object(note, f"{path}.info[{index}]")
        message = entry.get("message")
        if entry.get("code") != "RT0021" or not isinstance(message, str):
            continue
        match = _NOT_APPLIED.fullmatch(message)
        millis = parse_millis(match.group(1)) if match is not None else None
        if millis is None:
            raise _Misfit(f"{path}.info[{index}].message", f"unexpected note {message!r}"[:200])
        return millis
    return None


def _retry_policy(item: Mapping[str, Any], path: str, defaults: RetryPolicy | None) -> RetryPolicy:
    """A ``retry_policy`` as the server shows it; with ``defaults`` (a service's), a field
    equal to its default reads as unset."""
    if item.get("retry_policy") is None:
        return RetryPolicy()
    rpath = f"{path}.retry_policy"
    raw = _object(item["retry_policy"], rpath)
    factor = raw.get("exponentiation_factor")
    if factor is not None and (isinstance(factor, bool) or not isinstance(factor, int | float)):
        raise _Misfit(f"{rpath}.exponentiation_factor", f"expected a number, got {factor!r}"[:200])
    attempts = None if raw.get("max_attempts") is None else _int(raw, "max_attempts", rpath)
    exhausted = (
        None
        if raw.get("on_max_attempts") is None
        else _one_of(raw, "on_max_attempts", rpath, _ON_MAX_ATTEMPTS)
    )
    policy = RetryPolicy(
        initial_interval_ms=_optional_millis(raw, "initial_interval", rpath),
        exponentiation_factor=float(factor) if factor is not None else None,
        max_attempts=attempts,
        max_interval_ms=_optional_millis(raw, "max_interval", rpath),
        on_max_attempts=exhausted,
    )
    if defaults is None:
        return policy
    return RetryPolicy(
        **{
            field.name: _unless_default(getattr(policy, field.name), getattr(defaults, field.name))
            for field in attrs.fields(RetryPolicy)
        }
    )


def _json_schema(item: Mapping[str, Any], key: str) -> str | None:
    return None if item.get(key) is None else canonical_json(item[key])


def _handler(entry: dict[str, Any], hpath: str, service_type: ServiceType, public: bool) -> Handler:
    """A handler as the server shows it (see :func:`_service_revision`)."""
    handler_type = (
        _one_of(entry, "ty", hpath, _HANDLER_TYPES)
        if entry.get("ty") is not None
        else effective_handler_type(service_type, None)
    )
    # The server shows each handler's effective visibility; the model keeps a handler's own
    # setting only where it differs from its service's.
    shown = _bool(entry, "public", hpath) if "public" in entry else public
    inactivity = _optional_millis(entry, "inactivity_timeout", hpath)
    lazy = entry.get("enable_lazy_state")
    return Handler(
        _str(entry, "name", hpath),
        handler_type,
        None if shown == public else shown,
        documentation=_optional_str(entry, "documentation", hpath),
        metadata=_metadata(entry, hpath),
        input_description=_optional_str(entry, "input_description", hpath) or "*/*",
        output_description=(
            _optional_str(entry, "output_description", hpath) or "application/json"
        ),
        input_json_schema=_json_schema(entry, "input_json_schema"),
        output_json_schema=_json_schema(entry, "output_json_schema"),
        inactivity_timeout_ms=inactivity if inactivity is not None else _not_applied(entry, hpath),
        abort_timeout_ms=_optional_millis(entry, "abort_timeout", hpath),
        journal_retention_ms=_optional_millis(entry, "journal_retention", hpath),
        idempotency_retention_ms=_optional_millis(entry, "idempotency_retention", hpath),
        enable_lazy_state=None if lazy is None else _bool(entry, "enable_lazy_state", hpath),
        retry_policy=_retry_policy(entry, hpath, None),
    )


def _service_revision(
    value: Any, path: str, modes: Mapping[str, ProtocolMode] | None = None
) -> ServiceRevision:
    """A service as ``GET /services`` and ``GET /deployments/{id}`` show it; ``modes`` are the
    protocol modes of the deployments, by id.

    The server shows its defaults for the options a service leaves unset, so a service option
    equal to its default (the ``DEFAULT_*`` constants of :mod:`.serialization`) reads as
    unset. A REQUEST_RESPONSE deployment's inactivity timeouts are read from the server's
    notes that they are not applied (its services show ``"0s"``)."""
    item = _object(value, path)
    service_type: ServiceType = _one_of(item, "ty", path, _SERVICE_TYPES)
    public = _bool(item, "public", path)
    handlers: dict[str, Handler] = {}
    for index, raw in enumerate(_list(item.get("handlers"), f"{path}.handlers")):
        hpath = f"{path}.handlers[{index}]"
        handler = _handler(_object(raw, hpath), hpath, service_type, public)
        handlers[handler.name] = handler
    metadata = _metadata(item, path)
    name = _str(item, "name", path)
    try:
        state = state_from_metadata(name, service_type, metadata, path)
    except InvalidStateSchema as exc:
        raise _Misfit(f"{path}.metadata", exc.message) from None
    deployment_id = _deployment_id(item, "deployment_id", path)
    inactivity = _not_applied(item, path)
    if inactivity is None and (modes or {}).get(deployment_id) is ProtocolMode.BIDI_STREAM:
        inactivity = _unless_default(
            _optional_millis(item, "inactivity_timeout", path), DEFAULT_INACTIVITY_TIMEOUT_MS
        )
    completion = None
    if service_type is ServiceType.WORKFLOW:
        completion = _unless_default(
            _optional_millis(item, "workflow_completion_retention", path),
            DEFAULT_WORKFLOW_COMPLETION_RETENTION_MS,
        )
    lazy = None if item.get("enable_lazy_state") is None else _bool(item, "enable_lazy_state", path)
    return ServiceRevision(
        name=name,
        revision=_int(item, "revision", path),
        type=service_type,
        deployment_id=deployment_id,
        public=public,
        handlers=handlers,
        documentation=_optional_str(item, "documentation", path),
        metadata=metadata,
        state=state,
        inactivity_timeout_ms=inactivity,
        abort_timeout_ms=_unless_default(
            _optional_millis(item, "abort_timeout", path), DEFAULT_ABORT_TIMEOUT_MS
        ),
        journal_retention_ms=_unless_default(
            _optional_millis(item, "journal_retention", path), DEFAULT_JOURNAL_RETENTION_MS
        ),
        idempotency_retention_ms=_unless_default(
            _optional_millis(item, "idempotency_retention", path),
            DEFAULT_IDEMPOTENCY_RETENTION_MS,
        ),
        workflow_completion_retention_ms=completion,
        enable_lazy_state=_unless_default(lazy, DEFAULT_ENABLE_LAZY_STATE),
        retry_policy=_retry_policy(item, path, DEFAULT_RETRY_POLICY),
    )


def _services_of(
    answer: Any, key: str, modes: Mapping[str, ProtocolMode] | None = None
) -> list[ServiceRevision]:
    return [
        _service_revision(s, f"$.{key}[{i}]", modes)
        for i, s in enumerate(_list(_object(answer, "$").get(key), f"$.{key}"))
    ]


class _Row(NamedTuple):
    """One row of :data:`INVOCATIONS_QUERY`, read."""

    invocation: Invocation
    service_type: ServiceType
    running_at: datetime | None
    inbox_sequence: int | None
    holds_key: bool


def _row(value: Any, path: str) -> _Row:
    # One of these per invocation: the fields every row has are read inline where they are
    # what they should be, and through the checking readers (which say what is wrong) where not.
    item = _object(value, path)
    get = item.get
    service_type = _QUERY_SERVICE_TYPES.get(get("target_service_ty"))  # type: ignore[arg-type]
    if service_type is None:
        service_type = _one_of(item, "target_service_ty", path, _QUERY_SERVICE_TYPES)
    key = get("target_service_key")
    if key is not None and type(key) is not str:
        key = _str(item, "target_service_key", path)
    if KEYED[service_type]:
        key = key or ""  # an empty key is NULL there
    elif key is not None:
        raise _Misfit(f"{path}.target_service_key", f"a Service call has key {key!r}")
    status = _STATUSES.get(get("status"))  # type: ignore[arg-type]
    if status is None:
        status = _one_of(item, "status", path, _STATUSES)
    pinned = get("pinned_deployment_id")
    if pinned is not None and not (type(pinned) is str and _well_formed_deployment_id(pinned)):
        pinned = _optional_deployment_id(item, "pinned_deployment_id", path)  # says why not
    status = _PINNED_STATUS.get((status, pinned is not None), status)
    protocol = item.get("pinned_service_protocol_version")
    if protocol is not None:
        protocol = _int(item, "pinned_service_protocol_version", path)
    if status.is_queued or status is InvocationStatus.READY:
        # not started: pinned when it starts (docs/rules.md, "Routing and pinning")
        pinned = protocol = None
    caller_target = _optional_str(item, "invoked_by_target", path)
    caller_service = _optional_str(item, "invoked_by_service_name", path)
    caller = caller_key = caller_id = None
    if caller_target is not None:
        # "Caller/call", or "Object/key/handler" for a keyed caller (a key may hold "/", a
        # handler name never does): the model keeps the handler and the key apart.
        service = caller_service or caller_target.partition("/")[0]
        if not caller_target.startswith(f"{service}/"):
            raise _Misfit(
                f"{path}.invoked_by_target",
                f"{caller_target!r} is not a target of {service!r} (invoked_by_service_name)",
            )
        middle, _, handler = caller_target[len(service) + 1 :].rpartition("/")
        caller = f"{service}/{handler}"
        caller_key = middle if middle or caller_target.count("/") > 1 else None
        if item.get("invoked_by_id") is not None:
            caller_id = _invocation_id(item, "invoked_by_id", path)
    failure = None
    message = _optional_str(item, "last_failure", path)
    if message is not None and status is not InvocationStatus.COMPLETED:
        failure = Failure(_optional_str(item, "last_failure_error_code", path) or "", message)
    sequence = item.get("inbox_sequence_number")
    if sequence is not None:
        sequence = _int(item, "inbox_sequence_number", path)
    holder = item.get("key_holder")
    if holder is not None and holder != item.get("id"):  # the call itself, mostly
        _invocation_id(item, "key_holder", path)
    target_service = get("target_service_name")
    if type(target_service) is not str:
        target_service = _str(item, "target_service_name", path)
    target_handler = get("target_handler_name")
    if type(target_handler) is not str:
        target_handler = _str(item, "target_handler_name", path)
    invocation = make_invocation(
        _invocation_id(item, "id", path),
        target_service,
        target_handler,
        key,
        caller,
        status,
        pinned,
        _time(item, "created_at", path),
        protocol,
        _optional_time(item, "scheduled_start_at", path),
        failure,
        caller_id,
        caller_key,
        None,  # the handler type it was sent with: not shown; the latest revision decides
        status in _UNPINNED_STARTED and pinned is None,
    )
    if status is InvocationStatus.SCHEDULED and invocation.execute_at is None:
        raise _Misfit(f"{path}.scheduled_start_at", "a scheduled invocation has no start time")
    return _Row(
        invocation,
        service_type,
        _optional_time(item, "running_at", path),
        sequence,
        item.get("key_holder") is not None,
    )


# --- the source ------------------------------------------------------------------------------


class AdminSource:
    """A Restate cluster's admin API (``http://host:9070``), read into a :class:`Registry`.

    ``timeout`` bounds a whole :meth:`load` (or :meth:`snapshot`), every request, retry and
    byte of every answer included, in seconds: one monotonic deadline that no connect, read or
    write waits past, whatever the server sends. ``max_response_bytes`` bounds each answer as
    it arrives (:data:`DEFAULT_MAX_RESPONSE_BYTES` by default); an answer with a
    ``content-encoding`` other than ``identity`` is refused unread (the requests ask for
    identity only). Redirects are never followed. ``trust_env``: whether the environment is
    read (proxy variables such as ``HTTP_PROXY``, ``NO_PROXY``, ``SSL_CERT_FILE``); by
    default it is not and the requests go straight to ``admin_url``. Credentials in
    ``admin_url`` are sent (Basic authentication) and never shown: not in errors, not in
    ``repr``.

    ``client`` is an ``httpx.Client`` to send the requests with (its base URL is not used;
    it is not closed; its own transport, proxy and environment settings apply: each of its
    reads waits at most the time left and the deadline is checked between the pieces of an
    answer);
    without one, each :meth:`load` opens and closes its own.

    State declarations in service metadata (:mod:`restate_versioning.rules.state`) load with
    their revisions; a broken one fails the load with an :class:`AdminApiError` that names the
    service and the key, as any answer the model cannot hold does.
    """

    def __init__(
        self,
        admin_url: str,
        *,
        client: httpx.Client | None = None,
        timeout: float = 10,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        trust_env: bool = False,
    ) -> None:
        if not isinstance(admin_url, str) or not admin_url.startswith(("http://", "https://")):
            shown = redact(admin_url) if isinstance(admin_url, str) else admin_url
            raise ValueError(f"the admin URL must be an http(s) URL, got {shown!r}")
        if not timeout > 0:
            raise ValueError(f"the timeout must be a positive number of seconds, got {timeout!r}")
        if type(max_response_bytes) is not int or max_response_bytes <= 0:
            raise ValueError(
                f"max_response_bytes must be a positive integer, got {max_response_bytes!r}"
            )
        self.admin_url = admin_url.rstrip("/")
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.trust_env = trust_env
        self._client = client

    def __repr__(self) -> str:
        return f"AdminSource({redact(self.admin_url)!r}, timeout={self.timeout!r})"

    def load(self, *, clock: Clock | None = None, ids: IdGenerator | None = None) -> Registry:
        """The cluster's deployments, services and invocations, as a registry using ``clock``
        and ``ids`` from now on. Raises :class:`AdminApiError` (and builds nothing) if the
        admin API cannot be read within the timeout or answers something that cannot be
        modelled."""
        deadline = time.monotonic() + self.timeout
        if self._client is not None:
            return self._load(self._client, deadline, clock, ids)
        with self._open() as client:
            return self._load(client, deadline, clock, ids)

    def snapshot(self) -> RegistrySnapshot:
        """What :meth:`load` builds the registry from (checked as :meth:`load` checks it)."""
        deadline = time.monotonic() + self.timeout
        if self._client is not None:
            return self._consistent(self._client, deadline, Registry.from_snapshot)
        with self._open() as client:
            return self._consistent(client, deadline, Registry.from_snapshot)

    def _open(self) -> httpx.Client:
        """A client whose network operations end by the deadline, ``timeout`` from now."""
        try:
            proxy = environment_proxy(self.admin_url, self.trust_env)
        except ValueError as exc:
            raise AdminApiError(self.admin_url, f"cannot use the proxy: {exc}") from None
        guard = Deadline()
        guard.start(self.timeout)
        transport = DeadlineTransport(guard, proxy=proxy, trust_env=self.trust_env)
        return httpx.Client(transport=transport, trust_env=self.trust_env, follow_redirects=False)

    def _load(
        self,
        client: httpx.Client,
        deadline: float,
        clock: Clock | None,
        ids: IdGenerator | None,
    ) -> Registry:
        built: list[Registry] = []

        def build(snapshot: RegistrySnapshot) -> None:
            built.append(Registry.from_snapshot(snapshot, clock=clock, ids=ids))

        self._consistent(client, deadline, build)
        return built[-1]

    def _consistent(
        self,
        client: httpx.Client,
        deadline: float,
        build: Callable[[RegistrySnapshot], object],
    ) -> RegistrySnapshot:
        """Read until the answers fit together (at most ``_ATTEMPTS`` times)."""
        problem = ""
        for _ in range(_ATTEMPTS):
            try:
                snapshot = self._read(client, deadline)
                build(snapshot)
            except _Inconsistent as exc:
                problem = str(exc)
            except InvalidSnapshot as exc:
                problem = "; ".join(str(p) for p in exc.problems)
            else:
                return snapshot
        raise AdminApiError(
            self.admin_url,
            f"its answers do not fit together after {_ATTEMPTS} reads: {problem}",
        )

    def _request(
        self,
        client: httpx.Client,
        deadline: float,
        method: str,
        path: str,
        body: Any = None,
        *,
        expect: tuple[int, ...] = (200,),
        retry: bool = True,
        walk_depth: bool = True,
    ) -> Any:
        """The JSON of the answer (``None`` for an empty one) when its status is one of
        ``expect``; :class:`AdminApiError` otherwise. A server error is asked again (within
        the timeout) when ``retry``: never for a request that changes the cluster.
        ``walk_depth=False`` for an answer of a fixed shape whose reader checks every value it
        uses (``_json.loads``)."""
        url = self.admin_url + path
        late = f"no answer within the timeout of {self.timeout} s"
        for pause in (*_SERVER_ERROR_PAUSES, None) if retry else (None,):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AdminApiError(url, late)
            try:
                with client.stream(
                    method,
                    url,
                    json=body,
                    headers={"accept": "application/json", "accept-encoding": "identity"},
                    timeout=httpx.Timeout(remaining),
                    follow_redirects=False,
                ) as response:
                    status = response.status_code
                    encoding = _encoding(response)
                    if encoding is not None:
                        raise AdminApiError(
                            url,
                            f"the answer is encoded with {encoding!r}; the requests ask for "
                            f"identity only and nothing is decoded",
                            status=status,
                        )
                    limit = self.max_response_bytes if status in expect else _ERROR_BODY_BYTES
                    content = self._body(response, url, deadline, limit)
            except httpx.TimeoutException:
                raise AdminApiError(url, late) from None
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise AdminApiError(url, f"{type(exc).__name__}: {exc}") from None
            if status < 500 or pause is None:
                break
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        if status not in expect:
            raise _error_answer(url, status, content)
        if not content and method != "GET":
            return None
        try:
            return _json.loads(content, walk_depth=walk_depth)
        except _json.JsonError as exc:
            excerpt = content[:200].decode("utf-8", errors="replace")
            raise AdminApiError(url, f"{exc}: {excerpt!r}", status=status) from None

    def _body(self, response: httpx.Response, url: str, deadline: float, limit: int) -> bytes:
        """The body as it came (never decoded): all of an expected answer up to ``limit``
        bytes (more is an error), the first ``limit`` bytes of another; a timeout past the
        deadline."""
        body = bytearray()
        # An answer already in memory (an httpx.MockTransport's) is not streamed again.
        chunks = [response.content] if response.is_stream_consumed else response.iter_raw()
        for chunk in chunks:
            body += chunk
            if len(body) > limit:
                if limit == _ERROR_BODY_BYTES:
                    return bytes(body[:limit])
                raise AdminApiError(
                    url,
                    f"the answer is larger than {limit} bytes (max_response_bytes)",
                    status=200,
                )
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout("the answer took too long")
        return bytes(body)

    def _get(
        self, client: httpx.Client, deadline: float, path: str, read: Callable[[Any], Any]
    ) -> Any:
        answer = self._request(client, deadline, "GET", path)
        try:
            return read(answer)
        except _Misfit as exc:
            raise AdminApiError(self.admin_url + path, str(exc), status=200) from None

    def _read(self, client: httpx.Client, deadline: float) -> RegistrySnapshot:
        listed: list[_ListedDeployment] = self._get(
            client,
            deadline,
            "/deployments",
            lambda a: [
                _listed_deployment(d, f"$.deployments[{i}]")
                for i, d in enumerate(_list(_object(a, "$").get("deployments"), "$.deployments"))
            ],
        )
        modes = {d.id: d.protocol_mode for d in listed}
        latest: list[ServiceRevision] = self._get(
            client, deadline, "/services", lambda a: _services_of(a, "services", modes)
        )
        # Flat rows, every field the reader uses checked: the answer's nesting is not walked
        # (a third of reading 100,000 rows).
        answer = self._request(
            client, deadline, "POST", "/query", {"query": INVOCATIONS_QUERY}, walk_depth=False
        )
        try:
            rows = [
                _row(r, f"$.rows[{i}]")
                for i, r in enumerate(_list(_object(answer, "$").get("rows"), "$.rows"))
            ]
        except _Misfit as exc:
            raise AdminApiError(self.admin_url + "/query", str(exc), status=200) from None
        known = {(s.name, s.revision, s.deployment_id): s for s in latest}
        deployments = []
        for entry in sorted(listed, key=lambda d: d.created_at):
            if all((n, r, entry.id) in known for n, r in entry.revisions):
                held = {n: known[(n, r, entry.id)] for n, r in entry.revisions}
            else:  # it holds older revisions: ask for them
                held = self._older(client, deadline, entry)
            deployments.append(
                Deployment(
                    id=entry.id,
                    endpoint=entry.endpoint,
                    services=held,
                    created_at=entry.created_at,
                    min_protocol_version=entry.min_protocol_version,
                    max_protocol_version=entry.max_protocol_version,
                    protocol_mode=entry.protocol_mode,
                    http_version=entry.http_version,
                    sdk_version=entry.sdk_version,
                )
            )
        return _snapshot(deployments, rows)

    def _older(
        self, client: httpx.Client, deadline: float, entry: _ListedDeployment
    ) -> dict[str, ServiceRevision]:
        services: list[ServiceRevision] = self._get(
            client,
            deadline,
            f"/deployments/{entry.id}",
            lambda a: _services_of(a, "services", {entry.id: entry.protocol_mode}),
        )
        held = {s.name: s for s in services}
        expected = dict(entry.revisions)
        shown = {s.name: s.revision for s in services}
        if shown != expected or any(s.deployment_id != entry.id for s in services):
            raise _Inconsistent(
                f"deployment {entry.id!r} is listed with {expected} but shows {shown}"
            )
        return held


def _error_answer(url: str, status: int, content: bytes) -> AdminApiError:
    """The error for an answer with an unexpected status: the server's message and Restate
    code when its body is the admin API's error (``{"message", "restate_code"}``), else the
    body's text."""
    text = " ".join(content.decode("utf-8", errors="replace").split())[:500]
    try:
        found = _json.loads(content)
    except _json.JsonError:
        found = None
    if isinstance(found, dict) and isinstance(found.get("message"), str):
        code = found.get("restate_code")
        return AdminApiError(
            url,
            found["message"][:500],
            status=status,
            restate_code=code if isinstance(code, str) else None,
        )
    return AdminApiError(url, text or "(empty body)", status=status)


def _encoding(response: httpx.Response) -> str | None:
    """The ``content-encoding`` of an answer, unless it is none or ``identity``."""
    values = response.headers.get_list("content-encoding", split_commas=True)
    encodings = [v.strip().lower() for v in values if v.strip().lower() not in ("", "identity")]
    return ", ".join(encodings) if encodings else None


def _snapshot(deployments: list[Deployment], rows: list[_Row]) -> RegistrySnapshot:
    """The snapshot of deployments and ``sys_invocation`` rows (see the module docstring)."""
    registered = {d.id: d for d in deployments}
    latest: dict[str, ServiceRevision] = {}
    for deployment in deployments:
        for name, revision in deployment.services.items():
            if name not in latest or revision.revision > latest[name].revision:
                latest[name] = revision
    invocations = [r.invocation for r in rows]
    removed = sorted(
        {
            i.pinned_deployment_id
            for i in invocations
            if i.pinned_deployment_id is not None and i.pinned_deployment_id not in registered
        }
    )
    locks: dict[tuple[str, str], str] = {}
    waiting: dict[tuple[str, str], list[tuple[int, datetime, str]]] = {}
    runs: dict[tuple[str, str], Invocation] = {}
    callers: dict[tuple[str, str], int] = {}
    never = 1 << 64
    for row in rows:
        invocation = row.invocation
        target = (invocation.service, invocation.key if invocation.key is not None else "")
        if row.holds_key and invocation.status is not InvocationStatus.COMPLETED:
            locks[target] = invocation.id
        if invocation.status is InvocationStatus.PENDING:
            order = row.inbox_sequence if row.inbox_sequence is not None else never
            waiting.setdefault(target, []).append((order, invocation.created_at, invocation.id))
        if invocation.caller is not None:
            key = (invocation.service, invocation.caller)
            callers[key] = callers.get(key, 0) + 1
        if _handler_type(invocation, registered, latest) is HandlerType.WORKFLOW:
            previous = runs.get(target)
            if previous is None or previous.created_at <= invocation.created_at:
                runs[target] = invocation
    for target in waiting:
        if target not in locks:
            raise _Inconsistent(f"{target[0]}/{target[1]} has queued calls but no call holds it")
    pinned: dict[str, list[tuple[datetime, str]]] = {}
    for row in rows:
        invocation = row.invocation
        if invocation.pinned_deployment_id is not None and invocation.status.is_in_flight:
            started = row.running_at or invocation.created_at
            pinned.setdefault(invocation.pinned_deployment_id, []).append((started, invocation.id))
    return RegistrySnapshot(
        deployments=tuple(deployments),
        removed_deployment_ids=tuple(removed),
        invocations=tuple(sorted(invocations, key=lambda i: (i.created_at, i.id))),
        inboxes=tuple(
            (service, key, tuple(i for _, _, i in sorted(queued)))
            for (service, key), queued in waiting.items()
        ),
        locks=tuple((service, key, i) for (service, key), i in locks.items()),
        workflow_runs=tuple((service, key, i.id) for (service, key), i in runs.items()),
        callers=tuple((service, caller, n) for (service, caller), n in callers.items()),
        pinned=tuple((d, tuple(i for _, i in sorted(ids))) for d, ids in pinned.items()),
    )


def _handler_type(
    invocation: Invocation,
    registered: Mapping[str, Deployment],
    latest: Mapping[str, ServiceRevision],
) -> HandlerType | None:
    """The type of the invoked handler in the revision it runs on (pinned), else the latest."""
    revision = None
    pinned = registered.get(invocation.pinned_deployment_id or "")
    if pinned is not None:
        revision = pinned.services.get(invocation.service)
    if revision is None:
        revision = latest.get(invocation.service)
    handler = revision.handlers.get(invocation.handler) if revision is not None else None
    return handler.type if handler is not None else None


# --- acting on a cluster ----------------------------------------------------------------------


def _manifest_of(answer: Any, services: list[ServiceRevision]) -> dict[str, Any]:
    """The discovery manifest a registration's answer stands for, as far as the model's checks
    read it: each service's type, handlers (with their types), visibility and metadata (its
    state declarations and declared calls). Options the checks do not read are left out, and
    the protocol mode (which the answer does not show) is request-response, which every
    transport carries (a Lambda function's, or an HTTP/1.1 endpoint's)."""
    item = _object(answer, "$")
    shown: list[dict[str, Any]] = []
    for service in services:
        handlers = []
        for handler in service.handlers.values():
            entry: dict[str, Any] = {"name": handler.name}
            if service.type is not ServiceType.SERVICE:
                entry["ty"] = handler.type.value
            if handler.public is False and service.public:
                entry["ingressPrivate"] = True
            if handler.metadata:
                entry["metadata"] = dict(handler.metadata)
            handlers.append(entry)
        described: dict[str, Any] = {
            "name": service.name,
            "ty": service.type.value,
            "handlers": handlers,
        }
        if not service.public:
            described["ingressPrivate"] = True
        if service.metadata:
            described["metadata"] = dict(service.metadata)
        shown.append(described)
    return {
        "protocolMode": "REQUEST_RESPONSE",
        "minProtocolVersion": _int(item, "min_protocol_version", "$"),
        "maxProtocolVersion": _int(item, "max_protocol_version", "$"),
        "services": shown,
    }


@attrs.frozen
class Pruned:
    """What :meth:`AdminClient.prune` did (or, with ``dry_run``, would do): the deployments it
    removed, in order, and the plan of each one it kept (unsafe, or asked to be kept)."""

    removed: tuple[Removal, ...]
    kept: tuple[RemovalPlan, ...]
    dry_run: bool = False


@attrs.frozen
class DrainProgress:
    """How far a deployment is from drained, as :meth:`AdminClient.wait_drained` reports it:
    the started, uncompleted calls pinned to it, the work for its vanishing services not
    pinned yet (queued, scheduled), and the seconds waited so far."""

    deployment_id: str
    in_flight: int
    queued: int
    elapsed: float


class DrainTimeout(VersioningError):
    """A deployment did not drain within the time given: ``plan`` is its last removal plan."""

    def __init__(self, deployment_id: str, timeout: float, plan: RemovalPlan) -> None:
        self.deployment_id = deployment_id
        self.plan = plan
        left = "; ".join(str(b) for b in plan.blockers if b.kind in _DRAINING) or plan.status.value
        super().__init__(f"deployment {deployment_id!r} did not drain within {timeout} s: {left}")


#: How long a deleted deployment may still be listed before the removal is an error (s).
_REMOVAL_SETTLES = 5.0

#: The blockers that say work is still in a deployment's way.
_DRAINING = frozenset({BlockerKind.IN_FLIGHT, BlockerKind.QUEUED})


def _work_left(plan: RemovalPlan) -> tuple[int, int]:
    """In-flight and queued calls a plan counts."""
    counts = {b.kind: b.count for b in plan.blockers}
    return counts.get(BlockerKind.IN_FLIGHT, 0), counts.get(BlockerKind.QUEUED, 0)


class AdminClient(AdminSource):
    """A Restate cluster's admin API, read as :class:`AdminSource` reads it, and written to,
    each write checked by the model first. This goes further than the server, which checks
    none of it: a registration's state compatibility, whether removing a deployment is safe
    (:mod:`restate_versioning.rules.removal`), whether a resume can be done.

    Every write reads the cluster first (:meth:`load`) and asks the model; a refusal is the
    model's error and sends nothing, so the cluster is left as it was. The window between that
    read and the write cannot be closed through the admin API (it has no conditional writes):
    each write reads again right before it is sent, so the window is one round trip. Writes are
    never retried; an error answer is an :class:`AdminApiError` with its status and Restate
    code.
    """

    def __repr__(self) -> str:
        return f"AdminClient({redact(self.admin_url)!r}, timeout={self.timeout!r})"

    def _run(self, action: Callable[[httpx.Client, float], Any]) -> Any:
        """Run ``action`` with a client and one deadline, ``timeout`` from now."""
        deadline = time.monotonic() + self.timeout
        if self._client is not None:
            return action(self._client, deadline)
        with self._open() as client:
            return action(client, deadline)

    def _fresh(self, client: httpx.Client, deadline: float) -> Registry:
        return self._load(client, deadline, None, None)

    def register(
        self,
        uri: str,
        *,
        force: bool = False,
        breaking: bool = False,
        state: Mapping[str, Mapping[str, Any]] | None = None,
        additional_headers: Mapping[str, str] | None = None,
    ) -> Registration:
        """Register the deployment at ``uri`` (an HTTP URL or a Lambda ARN), as
        ``POST /deployments`` does, once the model has checked it.

        The server is first asked for a dry run (``dry_run``: it discovers the endpoint and
        checks what it checks, storing nothing); the model then registers what that answer
        shows on the cluster as it is loaded, with ``force``, ``breaking`` and ``state`` (state
        declarations beside the service metadata's: checked, not sent), which refuses a
        revision that cannot read the state the revisions before it may have written
        (:class:`IncompatibleState`) before the server sees it. Then it registers for real.
        Returns the model's registration: its outcome and changes, with the deployment as
        the cluster shows it afterwards."""
        endpoint = parse_endpoint(uri)  # InvalidEndpoint, quoting it, for anything else
        body: dict[str, Any] = {"force": force, "breaking": breaking}
        body["arn" if endpoint.kind is EndpointKind.LAMBDA else "uri"] = uri
        if additional_headers:
            body["additional_headers"] = dict(additional_headers)

        def act(client: httpx.Client, deadline: float) -> Registration:
            registry = self._fresh(client, deadline)
            answer = self._request(
                client,
                deadline,
                "POST",
                "/deployments",
                {**body, "dry_run": True},
                expect=(200, 201),
                retry=False,
            )
            try:
                services = _services_of(answer, "services")
                manifest = _manifest_of(answer, services)
            except _Misfit as exc:
                raise AdminApiError(self.admin_url + "/deployments", str(exc)) from None
            planned = registry.register(
                uri, manifest, force=force, breaking=breaking, state=state, dry_run=True
            )
            done = self._request(
                client,
                deadline,
                "POST",
                "/deployments",
                body,
                expect=(200, 201),
                retry=False,
            )
            deployment_id = _deployment_id(_object(done, "$"), "id", "$")
            live = self._fresh(client, deadline)
            return Registration(
                planned.outcome,
                live.deployment(deployment_id),
                planned.changes,
                state_checks=planned.state_checks,
            )

        result: Registration = self._run(act)
        return result

    def set_public(self, service: str, public: bool) -> ServiceRevision:
        """Make a service public or private (``PATCH /services/{name}``), once the model has
        checked it can (:class:`ServiceNotFound` for a service the cluster does not have)."""

        def act(client: httpx.Client, deadline: float) -> ServiceRevision:
            self._fresh(client, deadline).set_public(service, public)
            answer = self._request(
                client,
                deadline,
                "PATCH",
                f"/services/{service}",
                {"public": public},
                retry=False,
            )
            try:
                return _service_revision(answer, "$")
            except _Misfit as exc:
                raise AdminApiError(self.admin_url + f"/services/{service}", str(exc)) from None

        result: ServiceRevision = self._run(act)
        return result

    def remove(self, deployment_id: str, *, force: bool = False) -> Removal:
        """Remove a deployment from the cluster, only when that is safe.

        The cluster is loaded and the deployment's removal plan made
        (:meth:`Registry.removal_plan`): unless it is safe or ``force`` is given, this raises
        :class:`RemovalBlocked` with the plan and sends nothing. Otherwise it sends
        ``DELETE /deployments/{id}?force=true`` (restate-server 1.7.12 answers 501 without
        ``force``) and reads the deployment back to confirm it is gone."""

        def act(client: httpx.Client, deadline: float) -> Removal:
            return self._remove(client, deadline, deployment_id, force)[0]

        result: Removal = self._run(act)
        return result

    def _remove(
        self, client: httpx.Client, deadline: float, deployment_id: str, force: bool
    ) -> tuple[Removal, Registry]:
        """Remove a deployment as :meth:`remove` says: the removal, and the cluster as it was
        read back without the deployment."""
        registry = self._fresh(client, deadline)
        plan = registry.removal_plan(deployment_id)
        if not plan.safe and not force:
            raise RemovalBlocked(plan)
        removal = registry.remove(deployment_id, force=force)
        path = f"/deployments/{deployment_id}"
        self._request(
            client, deadline, "DELETE", f"{path}?force=true", expect=(200, 202), retry=False
        )
        # The server answers 202 (accepted): read the deployment back until it is gone, for a
        # few seconds at most (it has always been gone at the first read, seen on 1.7.12).
        settle = min(deadline, time.monotonic() + _REMOVAL_SETTLES)
        while True:
            after = self._fresh(client, deadline)
            if all(d.id != deployment_id for d in after.deployments()):
                return removal, after
            if time.monotonic() >= settle:
                raise AdminApiError(
                    self.admin_url + path, "the deployment is still listed after its deletion"
                )
            time.sleep(0.2)

    def prune(self, *, dry_run: bool = False, keep: Collection[str] = ()) -> Pruned:
        """Remove every deployment that is safe to remove, oldest first, one at a time: before
        each removal the cluster is loaded and planned again, so a deployment that stopped
        being safe meanwhile is kept. ``keep`` names deployments never removed. Returns what
        it removed and the plan of each deployment it kept; with ``dry_run``, what it would
        remove now, removing nothing."""
        kept_ids = frozenset(keep)

        def act(client: httpx.Client, deadline: float) -> Pruned:
            removed: list[Removal] = []
            tried: set[str] = set()
            registry = self._fresh(client, deadline)
            while True:
                plans = [registry.removal_plan(d.id) for d in registry.deployments()]
                candidates = [
                    p for p in plans if p.safe and p.deployment_id not in kept_ids | tried
                ]
                if not candidates:
                    return Pruned(tuple(removed), tuple(plans), dry_run=dry_run)
                target = candidates[0].deployment_id
                tried.add(target)
                if dry_run:  # what removing it would do, on the model only
                    removed.append(registry.remove(target))
                    continue
                try:
                    removal, registry = self._remove(client, deadline, target, False)
                except RemovalBlocked:  # unsafe when planned again: kept
                    registry = self._fresh(client, deadline)
                else:
                    removed.append(removal)

        result: Pruned = self._run(act)
        return result

    def wait_drained(
        self,
        deployment_id: str,
        *,
        timeout: float,
        poll: float = 1.0,
        progress: Callable[[DrainProgress], None] | None = None,
    ) -> RemovalPlan:
        """Wait until a deployment is drained: no call pinned to it (paused calls count: they
        keep their pin) and no queued or scheduled work for the services that would vanish
        with it, which the server's ``DRAINED`` does not count. For a deployment that is no
        longer the latest of any service that is ``DRAINED`` and more; one that still is
        (``ACTIVE``, say the last of a service being retired) never becomes ``DRAINED`` and is
        waited on for its work alone. Loads the cluster every ``poll`` seconds, reporting each
        time to ``progress``; returns the last removal plan, or raises :class:`DrainTimeout`
        (with it) after ``timeout`` seconds. Each load is bounded by this client's own
        timeout."""
        if not timeout > 0 or not poll > 0:
            raise ValueError(f"timeout and poll are positive seconds, got {timeout!r}, {poll!r}")
        started = time.monotonic()
        while True:
            plan = self.load().removal_plan(deployment_id)
            in_flight, queued = _work_left(plan)
            elapsed = time.monotonic() - started
            if progress is not None:
                progress(DrainProgress(deployment_id, in_flight, queued, elapsed))
            if not in_flight and not queued:
                return plan
            if elapsed + poll > timeout:
                raise DrainTimeout(deployment_id, timeout, plan)
            time.sleep(poll)

    def resume(self, invocation_id: str, deployment: ResumeTarget = ResumeOn.KEEP) -> Invocation:
        """Resume a call (``PATCH /invocations/{id}/resume``, with ``?deployment=`` to move it
        to the latest revision or a given deployment), once the model has checked it can be
        (:meth:`Registry.resume`: the status allows it, the target speaks its protocol
        version). Returns the call as the cluster shows it afterwards."""

        def act(client: httpx.Client, deadline: float) -> Invocation:
            self._fresh(client, deadline).resume(invocation_id, deployment)
            target = deployment.value if isinstance(deployment, ResumeOn) else deployment
            query = "" if target == "keep" else f"?deployment={target}"
            self._request(
                client,
                deadline,
                "PATCH",
                f"/invocations/{invocation_id}/resume{query}",
                expect=(200, 202),
                retry=False,
            )
            return self._fresh(client, deadline).invocation(invocation_id)

        result: Invocation = self._run(act)
        return result
