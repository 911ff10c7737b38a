"""JSON at the edge: registry snapshots and the admin API's views, through one converter.

* :func:`make_converter` builds the one cattrs converter; :func:`configure_converter` adds this
  library's hooks to any converter (datetimes as ISO 8601 with an offset, enums by value,
  frozen mappings as objects), so other tools can reuse them.
* :func:`dumps` / :func:`loads`: a whole registry as JSON. A snapshot carries a format name and
  version; unknown keys, a foreign or newer format and dangling references are refused with
  :class:`~restate_versioning.InvalidSnapshot`, listing every problem with its ``$.path``. The
  JSON is read strictly (:mod:`restate_versioning._json`: UTF-8, no ``NaN``, no key twice, at
  most 127 levels deep), timestamps must have a UTC equivalent, and a loaded registry passes
  the same consistency checks as :meth:`Registry.verify`.
* :func:`admin_services` / :func:`admin_service` / :func:`admin_deployments` /
  :func:`admin_deployment` / :func:`admin_registration`: what ``GET /services``,
  ``GET /services/{name}``, ``GET /deployments``, ``GET /deployments/{id}`` and
  ``POST /deployments`` of a restate-server 1.7.12 answer for the
  same state, field for field, with the server's names and spellings: documentation,
  metadata, payload descriptions and JSON Schemas, options (durations as the server prints
  them, ``"1d 1h 1m 1s 4ms"``), and the server's defaults (the ``DEFAULT_*`` constants, those
  of a default-configured 1.7.12) for what a service leaves unset. The order of services and
  handlers is the model's (by name, as the manifest lists them): the server's varies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, get_args, get_origin

import attrs
import cattrs
import cattrs.gen
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.v import format_exception

from . import _json
from ._durations import format_millis
from ._frozen import FrozenMap
from .clock import check_time
from .commands import COMMANDS, Caller, Command, ManifestInput, ResumeTarget
from .endpoints import Endpoint, EndpointKind, display_endpoint
from .errors import InvalidSnapshot, InvalidTime, Problem, VersioningError, quote
from .ids import IdGenerator
from .manifest import EndpointManifest, ServiceManifest
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
from .queries import RegistryQueries
from .registry import Clock, Registry
from .rules.invocations import is_public
from .rules.manifest import effective_services
from .rules.registration import Registration, new_service_revision
from .snapshot import RegistrySnapshot

__all__ = [
    "DEFAULT_ABORT_TIMEOUT_MS",
    "DEFAULT_ENABLE_LAZY_STATE",
    "DEFAULT_IDEMPOTENCY_RETENTION_MS",
    "DEFAULT_INACTIVITY_TIMEOUT_MS",
    "DEFAULT_JOURNAL_RETENTION_MS",
    "DEFAULT_RETRY_POLICY",
    "DEFAULT_WORKFLOW_COMPLETION_RETENTION_MS",
    "FORMAT",
    "FORMAT_VERSION",
    "JOURNAL_FORMAT",
    "admin_deployment",
    "admin_deployment_of",
    "admin_deployments",
    "admin_registration",
    "admin_service",
    "admin_services",
    "admin_time",
    "command_arguments",
    "command_from_arguments",
    "configure_commands",
    "configure_converter",
    "dumps",
    "loads",
    "make_converter",
]

FORMAT = "restate-versioning/registry"
FORMAT_VERSION = 1

# What a default-configured restate-server 1.7.12 shows for a service that leaves an option
# unset (its ``default-*`` settings; a server configured otherwise shows its own). A handler
# that leaves one unset shows nothing: it follows its service.

#: ``idempotency_retention``: one day.
DEFAULT_IDEMPOTENCY_RETENTION_MS = 86_400_000
#: ``journal_retention``: one day.
DEFAULT_JOURNAL_RETENTION_MS = 86_400_000
#: ``workflow_completion_retention`` (Workflows only): one day.
DEFAULT_WORKFLOW_COMPLETION_RETENTION_MS = 86_400_000
#: ``inactivity_timeout`` of a BIDI_STREAM deployment's service: one minute. A
#: REQUEST_RESPONSE deployment's shows ``"0s"`` whatever the manifest says.
DEFAULT_INACTIVITY_TIMEOUT_MS = 60_000
#: ``abort_timeout``: ten minutes.
DEFAULT_ABORT_TIMEOUT_MS = 600_000
#: ``enable_lazy_state``: off.
DEFAULT_ENABLE_LAZY_STATE = False
#: ``retry_policy``: 500 ms, doubling, at most 1 minute apart, 70 attempts, then pause.
DEFAULT_RETRY_POLICY = RetryPolicy(
    initial_interval_ms=500,
    exponentiation_factor=2.0,
    max_attempts=70,
    max_interval_ms=60_000,
    on_max_attempts=OnMaxAttempts.PAUSE,
)
#: The code of the server's note that an inactivity timeout is not applied.
_NOT_APPLIED = "RT0021"


class _Refused(ValueError):
    """A value a structuring hook of this library refuses; its message is the problem's."""


def _structure_datetime(value: Any, _: type) -> datetime:
    if not isinstance(value, str):
        raise _Refused(f"expected an ISO 8601 timestamp string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Refused(f"{value!r} is not an ISO 8601 timestamp") from None
    if parsed.utcoffset() is None:
        raise _Refused(f"timestamp {value!r} has no UTC offset")
    try:
        check_time(parsed, "timestamp")
    except InvalidTime as exc:
        raise _Refused(exc.reason) from None
    return parsed


_INVOCATION_FIELDS = frozenset(f.name for f in attrs.fields(Invocation))
_STATUSES = {status.value: status for status in InvocationStatus}
_HANDLER_TYPES: dict[object, HandlerType | None] = {None: None}
_HANDLER_TYPES.update((t.value, t) for t in HandlerType)


def _optional_str(value: object) -> str | None:
    if value is None or type(value) is str:
        return value
    raise _Refused("not a str")


def _fast_invocation(generated: Any) -> Any:
    """A structure hook for :class:`Invocation`, the one value a snapshot holds by the
    hundred thousand: it builds a well-formed record directly and leaves anything else (an
    extra key, another type) to ``generated``, cattrs' own hook, which gives the same result
    and the same errors as before."""

    if tuple(f.name for f in attrs.fields(Invocation)) != _BUILT_FIELDS:
        return generated

    def structure(value: Any, type_: Any) -> Invocation:
        if type(value) is dict and value.keys() <= _INVOCATION_FIELDS:
            try:
                return _build_invocation(value)
            except (KeyError, TypeError, _Refused):
                pass
        result: Invocation = generated(value, type_)
        return result

    return structure


def _build_invocation(value: dict[str, Any]) -> Invocation:
    get = value.get
    identity = value["id"], value["service"], value["handler"]
    if not all(type(part) is str for part in identity):
        raise _Refused("not a str")
    protocol = get("pinned_protocol_version")
    if protocol is not None and type(protocol) is not int:
        raise _Refused("not an int")
    failure = get("last_failure")
    if failure is not None:
        if type(failure) is not dict or failure.keys() != {"code", "message"}:
            raise _Refused("not a failure")
        code, message = failure["code"], failure["message"]
        if type(code) is not str or type(message) is not str:
            raise _Refused("not a str")
        failure = Failure(code, message)
    execute_at = get("execute_at")
    return make_invocation(
        *identity,
        _optional_str(value["key"]),  # no default: required, as cattrs reads it
        _optional_str(value["caller"]),
        _STATUSES[value["status"]],
        _optional_str(value["pinned_deployment_id"]),
        _structure_datetime(value["created_at"], datetime),
        protocol,
        None if execute_at is None else _structure_datetime(execute_at, datetime),
        failure,
        _optional_str(get("caller_id")),
        _optional_str(get("caller_key")),
        _HANDLER_TYPES[get("handler_type")],
        _bool(get("pins_at_first_command", False)),
    )


def _bool(value: object) -> bool:
    if type(value) is bool:
        return value
    raise _Refused("not a bool")


#: The fields :func:`_build_invocation` reads, in order: if :class:`Invocation` has others, the
#: fast hook stands aside and cattrs reads every record.
_BUILT_FIELDS = (
    "id",
    "service",
    "handler",
    "key",
    "caller",
    "status",
    "pinned_deployment_id",
    "created_at",
    "pinned_protocol_version",
    "execute_at",
    "last_failure",
    "caller_id",
    "caller_key",
    "handler_type",
    "pins_at_first_command",
)


def configure_converter(converter: cattrs.Converter) -> None:
    """Add this library's hooks to ``converter``."""
    converter.register_unstructure_hook(datetime, lambda value: value.isoformat())
    converter.register_structure_hook(datetime, _structure_datetime)
    converter.register_structure_hook(
        Invocation, _fast_invocation(converter.get_structure_hook(Invocation))
    )

    def is_frozen_map(type_: Any) -> bool:
        return get_origin(type_) is FrozenMap or type_ is FrozenMap

    def structure_frozen_map(type_: Any) -> Any:
        key_type, value_type = get_args(type_) or (Any, Any)
        as_dict = dict[key_type, value_type]  # type: ignore[valid-type]

        def structure(value: Any, _: Any) -> FrozenMap[Any, Any]:
            if not isinstance(value, Mapping):
                raise ValueError(f"expected an object, got {value!r}")
            return FrozenMap(converter.structure(value, as_dict))

        return structure

    def unstructure_frozen_map(type_: Any) -> Any:
        key_type, value_type = get_args(type_) or (Any, Any)
        as_dict = dict[key_type, value_type]  # type: ignore[valid-type]
        return lambda value: converter.unstructure(dict(value), as_dict)

    converter.register_structure_hook_factory(is_frozen_map, structure_frozen_map)
    converter.register_unstructure_hook_factory(is_frozen_map, unstructure_frozen_map)
    # A kept manifest is stored as the discovery JSON it came from.
    converter.register_unstructure_hook(EndpointManifest, EndpointManifest.to_json)
    converter.register_structure_hook(
        EndpointManifest, lambda value, _: EndpointManifest.from_json(value)
    )


def make_converter() -> cattrs.Converter:
    """The converter this library uses: strict (extra keys are errors), reporting every error."""
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    configure_converter(converter)
    configure_commands(converter)
    return converter


# --- commands, as a journal keeps them -----------------------------------------------------

#: The version of the arguments a journal keeps for a command. 2: every field of the command,
#: as :func:`command_arguments` writes it. 1: what earlier releases wrote: the same, but with
#: ``delay_us`` for :class:`~.commands.Invoke`'s ``delay``, ``service`` for
#: :class:`~.commands.SetPublic`'s ``name``, and some fields left out when at their default
#: (:data:`_OPTIONAL_IN_FORMAT_1`); :func:`command_from_arguments` reads both.
JOURNAL_FORMAT = 2

#: What a journal of format 1 called a field, by command: the upgrade to format 2.
_RENAMED_IN_FORMAT_2: Mapping[str, Mapping[str, str]] = {
    "invoke": {"delay_us": "delay"},
    "set_public": {"service": "name"},
}


#: The fields a journal of format 1 could leave out, by command (it wrote every other one).
_OPTIONAL_IN_FORMAT_1: Mapping[str, frozenset[str]] = {
    "register": frozenset({"state", "dry_run", "check_state"}),
    "promote": frozenset({"breaking", "check_state"}),
    "invoke": frozenset({"delay", "pin_on_start"}),
}


class _NotJournalable(ValueError):
    """A field value that a journal cannot keep, or reads back as another type."""


def _strict(kind: type, *, optional: bool = False) -> Any:
    def structure(value: Any, _: Any) -> Any:
        if value is None and optional:
            return None
        if type(value) is not kind:  # no bool for an int, no number for a str
            raise _NotJournalable(f"expected {kind.__name__}, got {quote(value)}")
        return value

    return structure


def _journal_object(optional: bool) -> Any:
    def structure(value: Any, _: Any) -> Any:
        if value is None and optional:
            return None
        if not isinstance(value, Mapping):
            raise _NotJournalable(f"expected an object, got {quote(value)}")
        return value

    return structure


def _micros(value: Any, _: Any) -> timedelta | None:
    if value is None:
        return None
    if type(value) is not int:
        raise _NotJournalable(f"expected microseconds (an int), got {quote(value)}")
    return timedelta(microseconds=value)


def _as_text(value: Any) -> Any:
    """A caller as a journal keeps it: a calling invocation's id, a calling handler's text."""
    if isinstance(value, Invocation):
        return value.id
    return str(value) if isinstance(value, Caller) else value


#: How a journal keeps each type a command's field has: (how it is written, how it is read).
#: A field's value must already be what the journal keeps (``StoredRegistry`` journals the
#: manifest as its JSON and a calling invocation as its id).
_JOURNAL_TYPES: Mapping[Any, tuple[Any, Any]] = {
    str: (None, _strict(str)),
    bool: (None, _strict(bool)),
    str | None: (None, _strict(str, optional=True)),
    int | None: (None, _strict(int, optional=True)),
    str | Endpoint: (str, _strict(str)),
    str | Caller: (str, _strict(str)),
    ResumeTarget: (str, _strict(str)),
    str | Caller | Invocation | None: (_as_text, _strict(str, optional=True)),
    ManifestInput: (None, _journal_object(False)),
    Mapping[str, Mapping[str, Any]] | None: (None, _journal_object(True)),
    timedelta | None: (lambda d: None if d is None else d // timedelta(microseconds=1), _micros),
}


def configure_commands(converter: cattrs.Converter) -> None:
    """Add the hooks that keep every command of :mod:`restate_versioning.commands` in a
    journal, strictly, to ``converter``: every field, as :data:`_JOURNAL_TYPES` says. Each
    command's hooks are made the first time the converter meets it, not when it is set up."""
    commands = frozenset(COMMANDS.values())

    def is_command(type_: Any) -> bool:
        return type_ in commands

    def overrides(command: type[Command[Any]], which: str) -> dict[str, Any]:
        made = {}
        for field in attrs.fields(attrs.resolve_types(command)):
            write, read = _JOURNAL_TYPES[field.type]
            hook = {"unstruct_hook": write} if which == "write" else {"struct_hook": read}
            made[field.name] = cattrs.gen.override(**hook)
        return made

    converter.register_unstructure_hook_factory(
        is_command,
        lambda command: cattrs.gen.make_dict_unstructure_fn(
            command, converter, **overrides(command, "write")
        ),
    )
    converter.register_structure_hook_factory(
        is_command,
        lambda command: cattrs.gen.make_dict_structure_fn(
            command, converter, _cattrs_forbid_extra_keys=True, **overrides(command, "read")
        ),
    )


def command_arguments(command: Command[Any]) -> dict[str, Any]:
    """The arguments a journal keeps for ``command`` (format :data:`JOURNAL_FORMAT`)."""
    arguments: dict[str, Any] = _CONVERTER.unstructure(command, type(command))
    return arguments


def command_from_arguments(
    name: str, arguments: Mapping[str, Any], journal: int = JOURNAL_FORMAT
) -> Command[Any]:
    """The command a journal keeps as ``name`` and ``arguments`` (of format ``journal``);
    ``ValueError`` saying what is wrong with a record that is not one."""
    command = COMMANDS.get(name)
    if command is None:
        raise ValueError(f"unknown command {name!r}")
    if journal < 2:
        renamed = _RENAMED_IN_FORMAT_2.get(name, {})
        arguments = {renamed.get(key, key): value for key, value in arguments.items()}
    left_out = _OPTIONAL_IN_FORMAT_1.get(name, frozenset()) if journal < 2 else frozenset()
    for field in attrs.fields(command):
        if field.name not in arguments and field.name not in left_out:
            raise ValueError(f"the argument {field.name!r} is missing")
    try:
        made: Command[Any] = _CONVERTER.structure(dict(arguments), command)
    except (ClassValidationError, ForbiddenExtraKeysError) as exc:
        messages = cattrs.transform_error(exc, path="$.arguments", format_exception=_format_error)
        raise ValueError("; ".join(messages)) from None
    return made


_CONVERTER = make_converter()


def dumps(registry: RegistryQueries, *, indent: int | None = None) -> str:
    """The whole registry as a JSON snapshot."""
    document = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "registry": _CONVERTER.unstructure(registry.snapshot(), RegistrySnapshot),
    }
    return json.dumps(document, indent=indent, sort_keys=False)


def loads(
    text: str | bytes, *, clock: Clock | None = None, ids: IdGenerator | None = None
) -> Registry:
    """A registry from a JSON snapshot made by :func:`dumps`; raises
    :class:`InvalidSnapshot` listing every problem, and builds nothing on error."""
    try:
        # Its shape is fixed and its kept manifests are read as manifests are: no depth walk.
        document = _json.loads(text, walk_depth=False)
    except _json.JsonError as exc:
        raise InvalidSnapshot([Problem(exc.path, exc.reason)]) from None
    if not isinstance(document, dict):
        raise InvalidSnapshot([Problem("$", f"expected an object, got {type(document).__name__}")])
    problems = []
    if document.get("format") != FORMAT:
        shown = quote(document.get("format"))
        problems.append(Problem("$.format", f"expected {FORMAT!r}, got {shown}"))
    version = document.get("version")
    if type(version) is not int or version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        problems.append(
            Problem(
                "$.version",
                f"format version {version!r} is "
                + ("newer than this library reads" if newer else "not one this library reads")
                + f" (it reads {FORMAT_VERSION})",
            )
        )
    extra = set(document) - {"format", "version", "registry"}
    problems.extend(Problem(f"$.{key}", f"unknown field {key!r}") for key in sorted(extra))
    if "registry" not in document:
        problems.append(Problem("$.registry", "missing field 'registry'"))
    if problems:
        raise InvalidSnapshot(problems)
    try:
        snapshot = _CONVERTER.structure(document["registry"], RegistrySnapshot)
    except (ClassValidationError, IterableValidationError, ForbiddenExtraKeysError) as exc:
        messages = cattrs.transform_error(exc, path="$.registry", format_exception=_format_error)
        raise InvalidSnapshot([_problem(m) for m in messages]) from None
    except RecursionError:  # never with JSON read by _json, which bounds the depth
        raise InvalidSnapshot([Problem("$.registry", "nested too deeply")]) from None
    except Exception as exc:  # a document of the wrong shape altogether, e.g. a list
        raise InvalidSnapshot([Problem("$.registry", f"{type(exc).__name__}: {exc}")]) from None
    return Registry.from_snapshot(
        _from_before(document["registry"], snapshot), clock=clock, ids=ids
    )


def _from_before(raw: Any, snapshot: RegistrySnapshot) -> RegistrySnapshot:
    """``snapshot``, with each revision that a snapshot from before revisions kept what the
    admin API shows (one without ``retry_policy``) left without those fields taking them from
    its deployment's kept manifest, as its registration would have; without a kept manifest
    they stay at their defaults (no option set, no payload declared)."""
    deployments = []
    for listed, deployment in zip(raw["deployments"], snapshot.deployments, strict=True):
        old = [n for n in deployment.services if "retry_policy" not in listed["services"][n]]
        if not old or deployment.manifest is None:
            deployments.append(deployment)
            continue
        services = {name: _effective(deployment.manifest, name) for name in old}
        deployments.append(
            attrs.evolve(
                deployment,
                services={
                    name: _refreshed(revision, services.get(name))
                    for name, revision in deployment.services.items()
                },
            )
        )
    return attrs.evolve(snapshot, deployments=tuple(deployments))


def _effective(manifest: EndpointManifest, name: str) -> ServiceManifest | None:
    found = effective_services(manifest).get(name)
    return found[1] if found is not None else None


def _refreshed(revision: ServiceRevision, service: ServiceManifest | None) -> ServiceRevision:
    """``revision`` with what the admin API shows taken from ``service``, where it serves the
    same handlers; what the revision already had (visibility, state...) is kept."""
    if service is None:
        return revision
    fresh = new_service_revision(service, revision.revision, revision.deployment_id)
    if set(fresh.handlers) != set(revision.handlers):
        return revision
    return attrs.evolve(
        fresh,
        type=revision.type,
        public=revision.public,
        documentation=revision.documentation,
        metadata=revision.metadata,
        state=revision.state,
        handlers={
            name: attrs.evolve(fresh.handlers[name], type=handler.type, public=handler.public)
            for name, handler in revision.handlers.items()
        },
    )


def _format_error(exc: BaseException, type_: type | None) -> str:
    if isinstance(exc, VersioningError | _Refused | _NotJournalable):
        return str(exc)
    return format_exception(exc, type_)


def _problem(message: str) -> Problem:
    text, _, path = message.rpartition(" @ ")
    return Problem(path or "$", text or message)


# --- the admin API's views -----------------------------------------------------------------


def admin_time(value: datetime) -> str:
    """As the server prints a time: UTC, nanoseconds, ``Z``. Raises :class:`InvalidTime` for a
    time with no UTC equivalent (which no registry holds: every time is checked where it
    enters)."""
    utc = check_time(value, "a deployment's creation time").astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond * 1000:09d}Z"


def _not_applied(millis: int, where: str) -> dict[str, str]:
    """The server's note on an inactivity timeout a REQUEST_RESPONSE deployment ignores."""
    return {
        "code": _NOT_APPLIED,
        "message": f"The configured inactivity_timeout {format_millis(millis)} will not be "
        f"applied because the {where} is exposed in Request/Response mode.",
    }


#: A retry policy's fields: the server's name, the model's, and how the server shows a value.
_RETRY_FIELDS: tuple[tuple[str, str, Any], ...] = (
    ("initial_interval", "initial_interval_ms", format_millis),
    ("exponentiation_factor", "exponentiation_factor", float),
    ("max_attempts", "max_attempts", int),
    ("max_interval", "max_interval_ms", format_millis),
    ("on_max_attempts", "on_max_attempts", lambda value: value.title),
)


def _retry_view(policy: RetryPolicy, defaults: RetryPolicy | None) -> dict[str, Any]:
    """A retry policy as the server shows it: a service's with ``defaults`` filled in, a
    handler's (no ``defaults``) with what it sets, and ``max_attempts`` always."""
    out: dict[str, Any] = {}
    for shown, field, show in _RETRY_FIELDS:
        value = getattr(policy, field)
        if value is None and defaults is not None:
            value = getattr(defaults, field)
        if value is not None:
            out[shown] = show(value)
        elif shown == "max_attempts":
            out[shown] = None
    return out


def _admin_handler(service: ServiceRevision, handler: Handler, mode: ProtocolMode) -> Any:
    item: dict[str, Any] = {"name": handler.name}
    if service.type is not ServiceType.SERVICE:
        item["ty"] = handler.type.title
    if handler.documentation is not None:
        item["documentation"] = handler.documentation
    if handler.metadata:
        item["metadata"] = dict(handler.metadata)
    bidi = mode is ProtocolMode.BIDI_STREAM
    durations = (
        ("idempotency_retention", handler.idempotency_retention_ms),
        ("journal_retention", handler.journal_retention_ms),
        ("inactivity_timeout", handler.inactivity_timeout_ms if bidi else None),
        ("abort_timeout", handler.abort_timeout_ms),
    )
    for name, millis in durations:
        if millis is not None:
            item[name] = format_millis(millis)
    if handler.enable_lazy_state is not None:
        item["enable_lazy_state"] = handler.enable_lazy_state
    # The server shows a handler of a private service as private too.
    item["public"] = is_public(service, handler)
    item["input_description"] = handler.input_description
    item["output_description"] = handler.output_description
    if handler.input_json_schema is not None:
        item["input_json_schema"] = handler.input_schema()
    if handler.output_json_schema is not None:
        item["output_json_schema"] = handler.output_schema()
    item["retry_policy"] = _retry_view(handler.retry_policy, None)
    if not bidi and handler.inactivity_timeout_ms is not None:
        item["info"] = [_not_applied(handler.inactivity_timeout_ms, "handler")]
    return item


def _admin_service(service: ServiceRevision, mode: ProtocolMode) -> dict[str, Any]:
    """A service revision as the server shows it, in a deployment speaking ``mode``."""
    out: dict[str, Any] = {
        "name": service.name,
        "ty": service.type.title,
        "handlers": [_admin_handler(service, h, mode) for h in service.handlers.values()],
    }
    if service.documentation is not None:
        out["documentation"] = service.documentation
    if service.metadata:
        out["metadata"] = dict(service.metadata)
    out["deployment_id"] = service.deployment_id
    out["revision"] = service.revision
    out["public"] = service.public

    def shown(millis: int | None, default: int) -> str:
        return format_millis(millis if millis is not None else default)

    bidi = mode is ProtocolMode.BIDI_STREAM
    out["idempotency_retention"] = shown(
        service.idempotency_retention_ms, DEFAULT_IDEMPOTENCY_RETENTION_MS
    )
    if service.type is ServiceType.WORKFLOW:
        out["workflow_completion_retention"] = shown(
            service.workflow_completion_retention_ms, DEFAULT_WORKFLOW_COMPLETION_RETENTION_MS
        )
    out["journal_retention"] = shown(service.journal_retention_ms, DEFAULT_JOURNAL_RETENTION_MS)
    out["inactivity_timeout"] = (
        shown(service.inactivity_timeout_ms, DEFAULT_INACTIVITY_TIMEOUT_MS) if bidi else "0s"
    )
    out["abort_timeout"] = shown(service.abort_timeout_ms, DEFAULT_ABORT_TIMEOUT_MS)
    out["enable_lazy_state"] = (
        service.enable_lazy_state
        if service.enable_lazy_state is not None
        else DEFAULT_ENABLE_LAZY_STATE
    )
    out["retry_policy"] = _retry_view(service.retry_policy, DEFAULT_RETRY_POLICY)
    if not bidi and service.inactivity_timeout_ms is not None:
        out["info"] = [_not_applied(service.inactivity_timeout_ms, "service")]
    return out


def _service_view(registry: RegistryQueries, service: ServiceRevision) -> dict[str, Any]:
    return _admin_service(service, registry.deployment(service.deployment_id).protocol_mode)


def admin_services(registry: RegistryQueries) -> dict[str, Any]:
    """``GET /services``: the latest revision of every service."""
    return {"services": [_service_view(registry, s) for s in registry.services()]}


def admin_service(registry: RegistryQueries, name: str) -> dict[str, Any]:
    """``GET /services/{name}``: the latest revision of ``name``;
    :class:`~restate_versioning.ServiceNotFound` if there is none."""
    return _service_view(registry, registry.service(name))


def _admin_deployment(deployment: Deployment, *, detailed: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"id": deployment.id}
    if deployment.kind is EndpointKind.LAMBDA:
        out["arn"] = deployment.endpoint
    else:
        out["uri"] = display_endpoint(deployment.endpoint)
        out["protocol_type"] = deployment.protocol_mode.title
        if deployment.transport is not None:  # the server always knows it; here, if discovered
            out["http_version"] = deployment.transport
    out["created_at"] = admin_time(deployment.created_at)
    out["min_protocol_version"] = deployment.min_protocol_version
    out["max_protocol_version"] = deployment.max_protocol_version
    if deployment.sdk_version is not None:
        out["sdk_version"] = deployment.sdk_version
    if detailed:
        out["services"] = [
            _admin_service(revision, deployment.protocol_mode)
            for revision in deployment.services.values()
        ]
    else:
        out["services"] = [
            {"name": name, "revision": revision.revision}
            for name, revision in deployment.services.items()
        ]
    return out


def admin_deployments(registry: RegistryQueries) -> dict[str, Any]:
    """``GET /deployments``: every deployment with the revisions it holds."""
    return {"deployments": [_admin_deployment(d) for d in registry.deployments()]}


def admin_registration(registration: Registration) -> dict[str, Any]:
    """What ``POST /deployments`` answers for ``registration``: the deployment's id, each
    service revision it holds shown in full (as ``GET /services/{name}`` shows a latest one),
    its protocol versions and its SDK."""
    deployment = registration.deployment
    out: dict[str, Any] = {
        "id": deployment.id,
        "services": [
            _admin_service(revision, deployment.protocol_mode)
            for revision in deployment.services.values()
        ],
        "min_protocol_version": deployment.min_protocol_version,
        "max_protocol_version": deployment.max_protocol_version,
    }
    if deployment.sdk_version is not None:
        out["sdk_version"] = deployment.sdk_version
    return out


def admin_deployment(registry: RegistryQueries, deployment_id: str) -> dict[str, Any]:
    """``GET /deployments/{id}``: the deployment with each service revision it holds shown in
    full, as ``GET /services/{name}`` shows a latest one; raises what
    :meth:`Registry.deployment` raises for an id it does not hold."""
    return admin_deployment_of(registry.deployment(deployment_id))


def admin_deployment_of(deployment: Deployment) -> dict[str, Any]:
    """A deployment as ``GET /deployments/{id}`` shows it (one that is not kept too: what a dry
    run of ``PATCH /deployments/{id}`` answers)."""
    return _admin_deployment(deployment, detailed=True)
