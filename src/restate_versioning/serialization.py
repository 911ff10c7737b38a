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
* :func:`admin_services` / :func:`admin_deployments`: what ``GET /services`` and
  ``GET /deployments`` of a restate-server 1.7 answer for the same state, with the server's
  field names and spellings (the fields the model knows: versioning, not timeouts).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, get_args, get_origin

import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.v import format_exception

from . import _json
from ._frozen import FrozenMap
from .clock import check_time
from .endpoints import EndpointKind, display_endpoint
from .errors import InvalidSnapshot, InvalidTime, Problem, VersioningError, quote
from .ids import IdGenerator
from .manifest import EndpointManifest
from .model import Deployment, ServiceRevision, ServiceType
from .registry import Clock, Registry
from .rules.invocations import is_public
from .snapshot import RegistrySnapshot

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "admin_deployments",
    "admin_services",
    "configure_converter",
    "dumps",
    "loads",
    "make_converter",
]

FORMAT = "restate-versioning/registry"
FORMAT_VERSION = 1


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


def configure_converter(converter: cattrs.Converter) -> None:
    """Add this library's hooks to ``converter``."""
    converter.register_unstructure_hook(datetime, lambda value: value.isoformat())
    converter.register_structure_hook(datetime, _structure_datetime)

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
    return converter


_CONVERTER = make_converter()


def dumps(registry: Registry, *, indent: int | None = None) -> str:
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
    return Registry.from_snapshot(snapshot, clock=clock, ids=ids)


def _format_error(exc: BaseException, type_: type | None) -> str:
    if isinstance(exc, VersioningError | _Refused):
        return str(exc)
    return format_exception(exc, type_)


def _problem(message: str) -> Problem:
    text, _, path = message.rpartition(" @ ")
    return Problem(path or "$", text or message)


# --- the admin API's views -----------------------------------------------------------------


def _admin_time(value: datetime) -> str:
    """As the server prints a time: UTC, nanoseconds, ``Z``. Raises :class:`InvalidTime` for a
    time with no UTC equivalent (which no registry holds: every time is checked where it
    enters)."""
    utc = check_time(value, "a deployment's creation time").astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond * 1000:09d}Z"


def _admin_service(service: ServiceRevision) -> dict[str, Any]:
    handlers = []
    for handler in service.handlers.values():
        item: dict[str, Any] = {"name": handler.name}
        if service.type is not ServiceType.SERVICE:
            item["ty"] = handler.type.title
        # The server shows a handler of a private service as private too.
        item["public"] = is_public(service, handler)
        handlers.append(item)
    out: dict[str, Any] = {
        "name": service.name,
        "ty": service.type.title,
        "handlers": handlers,
        "deployment_id": service.deployment_id,
        "revision": service.revision,
        "public": service.public,
    }
    if service.documentation is not None:
        out["documentation"] = service.documentation
    if service.metadata:
        out["metadata"] = dict(service.metadata)
    return out


def admin_services(registry: Registry) -> dict[str, Any]:
    """``GET /services``: the latest revision of every service."""
    return {"services": [_admin_service(s) for s in registry.services()]}


def _admin_deployment(deployment: Deployment) -> dict[str, Any]:
    out: dict[str, Any] = {"id": deployment.id}
    if deployment.kind is EndpointKind.LAMBDA:
        out["arn"] = deployment.endpoint
    else:
        out["uri"] = display_endpoint(deployment.endpoint)
        out["protocol_type"] = deployment.protocol_mode.title
        if deployment.transport is not None:  # the server always knows it; here, if discovered
            out["http_version"] = deployment.transport
    out["created_at"] = _admin_time(deployment.created_at)
    out["min_protocol_version"] = deployment.min_protocol_version
    out["max_protocol_version"] = deployment.max_protocol_version
    if deployment.sdk_version is not None:
        out["sdk_version"] = deployment.sdk_version
    out["services"] = [
        {"name": name, "revision": revision.revision}
        for name, revision in deployment.services.items()
    ]
    return out


def admin_deployments(registry: Registry) -> dict[str, Any]:
    """``GET /deployments``: every deployment with the revisions it holds."""
    return {"deployments": [_admin_deployment(d) for d in registry.deployments()]}
