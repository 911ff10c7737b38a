"""The endpoint manifest: what an SDK endpoint answers to discovery, as frozen values.

:meth:`EndpointManifest.from_json` reads Restate's discovery JSON (manifest versions 1-4). It
checks the *shape* against ``endpoint_manifest_schema.json`` of restatedev/service-protocol as the
1.7 server ships it: every field that schema allows is accepted, any other is refused, types and
enums are checked, and every problem is reported at once with its ``$.path``. What makes a
well-shaped manifest registrable (names, reserved names, handler types, protocol versions) is a
registration rule and lives in :mod:`restate_versioning.rules.manifest`.

Fields the model does not interpret (timeouts, retention, retry policy, payload descriptions) are
kept as they were sent, so a manifest round-trips exactly through :meth:`EndpointManifest.to_json`
(except that an optional field sent as ``null`` is read, as the server reads it, as absent;
``metadata`` and the required fields may not be ``null``). A duration or a count above
:data:`MAX_U64` is refused here, in the server's words; a duration above
:data:`MAX_DURATION_MILLIS`, which the server decodes and then panics on, is refused when
registering (:mod:`restate_versioning.rules.manifest`), going further than the server.

JSON is read as the server reads it (serde_json), within bounds (:mod:`restate_versioning._json`):
UTF-8 text only, no ``NaN`` or ``Infinity``, no number too large for a double, no key twice in an
object, at most 127 levels of nesting and at most :data:`MAX_MANIFEST_BYTES` of text (or, for a
manifest given as a ``Mapping``, :data:`MAX_MANIFEST_VALUES` values, all of them JSON values).
Each refusal is an :class:`~restate_versioning.errors.InvalidManifest` problem at the ``$.path``
of the offending value, worded as the server words it where it has words for it. Going further
than restate-server 1.7.12: inside ``metadata`` and a payload's ``jsonSchema`` the server keeps
the last of two equal keys, and the library refuses them as everywhere else; and the server has
no size limit of its own.
"""

from __future__ import annotations

import ast
import json
import math
import re
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from . import _json
from ._frozen import FrozenMap, freeze
from .enums import HandlerType, ProtocolMode, ServiceType
from .errors import InvalidManifest, Problem, quote

__all__ = [
    "DURATION_OPTIONS",
    "MAX_DURATION_MILLIS",
    "MAX_MANIFEST_BYTES",
    "MAX_MANIFEST_VALUES",
    "MAX_U64",
    "Discovery",
    "EndpointManifest",
    "HandlerManifest",
    "HandlerType",
    "ProtocolMode",
    "ServiceManifest",
    "ServiceType",
]

#: The largest manifest read, in bytes of UTF-8 text (1 MiB): what discovery reads at most.
#: Larger text given to :meth:`EndpointManifest.from_json` (or to ``Registry.register``, or to
#: the command line) is an :class:`~restate_versioning.errors.InvalidManifest` quoting its size
#: and the limit. The largest real manifests are a few tens of kilobytes.
MAX_MANIFEST_BYTES = 1024 * 1024
#: The most values (scalars, arrays and objects) a manifest given as a ``Mapping`` may hold: as
#: many as :data:`MAX_MANIFEST_BYTES` of JSON text can (``[0,0,...]``, two bytes a value).
MAX_MANIFEST_VALUES = MAX_MANIFEST_BYTES // 2
#: The largest integer a duration (milliseconds) or a count (``retryPolicyMaxAttempts``) may be
#: in a manifest: restate-server decodes each as a u64. A larger one is an
#: :class:`~restate_versioning.errors.InvalidManifest` problem at its ``$.path`` in the server's
#: words ("invalid type: floating point `1.8446744073709552e+19`, expected u64": serde_json
#: reads it as a double; restate-server 1.7.12 answers 500 with no code).
MAX_U64 = 2**64 - 1
#: The longest duration, in milliseconds, that restate-server 1.7.12 holds in a manifest option:
#: 631,107,417,600 s (7,304,484 days, about 20,000 years: its time library's bound) and 999 ms,
#: the largest value it registered (found by bisection on the real server). Registering a longer
#: one makes the server panic (it closes the connection without an answer), and one in a handler
#: is stored first, after which ``GET /services`` and ``GET /deployments/{id}`` panic too. The
#: model refuses it when registering, going further than the server: see
#: :func:`restate_versioning.rules.manifest.duration_problems`.
MAX_DURATION_MILLIS = 631_107_417_600_999


JsonValue = Any

#: The options that are durations, in milliseconds (``workflowCompletionRetention`` is a
#: handler's only): each at most :data:`MAX_DURATION_MILLIS` to register.
DURATION_OPTIONS = (
    "inactivityTimeout",
    "abortTimeout",
    "journalRetention",
    "idempotencyRetention",
    "retryPolicyInitialInterval",
    "retryPolicyMaxInterval",
    "workflowCompletionRetention",
)
# Options that the server reads from a service or handler definition but that do not change the
# versioning rules; the model keeps them verbatim. The value says which JSON type each takes.
SERVICE_OPTIONS: Mapping[str, str] = {
    **dict.fromkeys(DURATION_OPTIONS[:-1], "non-negative integer"),  # all but the workflow's
    "enableLazyState": "boolean",
    "retryPolicyMaxAttempts": "non-negative integer",
    "retryPolicyExponentiationFactor": "number",
    "retryPolicyOnMaxAttempts": "PAUSE|KILL",
}
HANDLER_OPTIONS: Mapping[str, str] = {
    **SERVICE_OPTIONS,
    "workflowCompletionRetention": "non-negative integer",
}
PAYLOAD_FIELDS: Mapping[str, Mapping[str, str]] = {
    "input": {"required": "boolean", "contentType": "string", "jsonSchema": "any"},
    "output": {"setContentTypeIfEmpty": "boolean", "contentType": "string", "jsonSchema": "any"},
}
_MAX_PROTOCOL = MAX_U64  # the server decodes a u64; registration bounds it further


@attrs.frozen
class HandlerManifest:
    """A handler as the manifest describes it. ``type`` is ``None`` when the manifest leaves it
    out; the effective type depends on the service type (see ``rules.manifest.HANDLER_TYPES``)."""

    name: str
    type: HandlerType | None = None
    ingress_private: bool | None = None
    documentation: str | None = None
    metadata: FrozenMap[str, str] | None = attrs.field(
        default=None, converter=attrs.converters.optional(freeze)
    )
    input: FrozenMap[str, JsonValue] | None = attrs.field(
        default=None, converter=attrs.converters.optional(freeze)
    )
    output: FrozenMap[str, JsonValue] | None = attrs.field(
        default=None, converter=attrs.converters.optional(freeze)
    )
    options: FrozenMap[str, JsonValue] = attrs.field(converter=freeze, factory=FrozenMap)


def _handlers(items: Iterable[HandlerManifest]) -> tuple[HandlerManifest, ...]:
    return tuple(items)


@attrs.frozen
class ServiceManifest:
    """A service as the manifest describes it."""

    name: str
    type: ServiceType
    handlers: tuple[HandlerManifest, ...] = attrs.field(converter=_handlers)
    ingress_private: bool | None = None
    documentation: str | None = None
    metadata: FrozenMap[str, str] | None = attrs.field(
        default=None, converter=attrs.converters.optional(freeze)
    )
    options: FrozenMap[str, JsonValue] = attrs.field(converter=freeze, factory=FrozenMap)


def _services(items: Iterable[ServiceManifest]) -> tuple[ServiceManifest, ...]:
    return tuple(items)


@attrs.frozen
class EndpointManifest:
    """What a deployment serves: its protocol and its services.

    ``protocol_mode`` is optional in the manifest schema, but the server refuses to register a
    manifest without it (META0013), so it is ``None`` only until registration says no.
    """

    protocol_mode: ProtocolMode | None
    min_protocol_version: int
    max_protocol_version: int
    services: tuple[ServiceManifest, ...] = attrs.field(converter=_services)
    lambda_compression: str | None = None

    def service(self, name: str) -> ServiceManifest:
        """The service called ``name``; ``KeyError`` if the manifest has none."""
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    @classmethod
    def from_json(cls, document: str | bytes | bytearray | Mapping[str, Any]) -> EndpointManifest:
        """Read a discovery answer: JSON text (a ``str``, or UTF-8 bytes) or a ``Mapping``
        already decoded. Raises :class:`InvalidManifest` listing every problem, and nothing
        else, whatever ``document`` holds.

        Text is read as the server reads it: malformed JSON, bytes that are not UTF-8, ``NaN``
        and ``Infinity``, a number too large for a double, a key twice in one object, nesting
        deeper than 127 levels, or more than :data:`MAX_MANIFEST_BYTES` bytes are each one
        problem, at the ``$.path`` where it is (``$`` for the size), quoting the start of the
        input. A ``Mapping`` must hold JSON values only (``None``, ``bool``, ``int``, finite
        ``float``, ``str``, lists or tuples, mappings with ``str`` keys), at most 127 levels
        deep and :data:`MAX_MANIFEST_VALUES` values in all."""
        parsed: object = document
        if isinstance(document, str | bytes | bytearray):
            parsed = _read_text(document)
        elif isinstance(document, Mapping):
            try:
                _json.check_value(document, "$", max_values=MAX_MANIFEST_VALUES)
            except _json.JsonError as exc:
                raise InvalidManifest([Problem(exc.path, exc.reason)]) from None
        problems: list[Problem] = []
        manifest = _read_endpoint(parsed, "$", problems)
        if problems or manifest is None:
            raise InvalidManifest(problems)
        _READ[id(manifest)] = manifest
        return manifest

    @property
    def was_read(self) -> bool:
        """Whether :meth:`from_json` made this value (so it was checked as the server checks a
        discovery answer), rather than code building it by hand."""
        return _READ.get(id(self)) is self

    def to_json(self) -> dict[str, Any]:
        """The discovery JSON of this manifest (the inverse of :meth:`from_json`). Raises
        :class:`InvalidManifest` for a value built by hand whose options, metadata or payloads
        hold what is not JSON (or nest deeper than 127 levels): one that :meth:`from_json`
        made always has a JSON form."""
        try:
            return self._json()
        except _NotJson:
            pass
        _check_json(self)  # says where, and why
        raise InvalidManifest([Problem("$", "the manifest holds what is not a JSON value")])

    def _json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.protocol_mode is not None:
            out["protocolMode"] = self.protocol_mode.value
        out["minProtocolVersion"] = self.min_protocol_version
        out["maxProtocolVersion"] = self.max_protocol_version
        if self.lambda_compression is not None:
            out["lambdaCompression"] = self.lambda_compression
        out["services"] = [_service_json(s) for s in self.services]
        return out


# How deep the objects of services and handlers are in a manifest (the manifest is level 1).
_SERVICE_DEPTH = 3
_HANDLER_DEPTH = 5


#: The manifests :meth:`EndpointManifest.from_json` made, by ``id`` (they go when they are no
#: longer used): a registration takes them as they are, and reads one built by hand again.
_READ: weakref.WeakValueDictionary[int, EndpointManifest] = weakref.WeakValueDictionary()


def _common_json(
    out: dict[str, Any], item: ServiceManifest | HandlerManifest, depth: int
) -> dict[str, Any]:
    if item.documentation is not None:
        out["documentation"] = item.documentation
    if item.ingress_private is not None:
        out["ingressPrivate"] = item.ingress_private
    for name, value in item.options.items():
        out[name] = _thaw(value, depth + 1)
    if item.metadata is not None:
        out["metadata"] = _thaw(item.metadata, depth + 1)
    return out


def _service_json(service: ServiceManifest) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": service.name,
        "ty": service.type.value,
        "handlers": [_handler_json(h) for h in service.handlers],
    }
    return _common_json(out, service, _SERVICE_DEPTH)


def _handler_json(handler: HandlerManifest) -> dict[str, Any]:
    out: dict[str, Any] = {"name": handler.name}
    if handler.type is not None:
        out["ty"] = handler.type.value
    for field in ("input", "output"):
        payload = getattr(handler, field)
        if payload is not None:
            out[field] = _thaw(payload, _HANDLER_DEPTH + 1)
    return _common_json(out, handler, _HANDLER_DEPTH)


class _NotJson(Exception):
    """What :func:`_thaw` met is no JSON value, or too deep; :func:`_check_json` says more."""


def _thaw(value: Any, depth: int) -> Any:
    """``value``, at level ``depth`` of a manifest, as plain JSON values (dicts and lists),
    or :class:`_NotJson` if it holds anything else or nests deeper than 127 levels in all
    (so the recursion is bounded)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float or isinstance(value, float):
        if math.isfinite(value):
            return value
        raise _NotJson
    if isinstance(value, str | int):
        return value
    if depth > _json.MAX_DEPTH:
        raise _NotJson
    if isinstance(value, Mapping):
        items = value._data.items() if isinstance(value, FrozenMap) else value.items()
        out: dict[str, Any] = {}
        for key, item in items:
            if not isinstance(key, str):
                raise _NotJson
            out[key] = _thaw(item, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_thaw(item, depth + 1) for item in value]
    raise _NotJson


def _freeze_json(value: Any) -> Any:
    """``value`` (JSON values, checked: at most 127 levels deep) with mappings frozen and
    arrays (lists or tuples) as tuples, all the way down, so that it hashes."""
    if isinstance(value, Mapping):
        return FrozenMap({k: _freeze_json(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze_json(v) for v in value)
    return value


def _check_json(manifest: EndpointManifest) -> None:
    """Raise :class:`InvalidManifest` unless every option, metadata entry and payload of
    ``manifest`` is made of JSON values (as ``_json.check_value`` says), nested at most 127
    levels deep counted from the top of the manifest, with at most :data:`MAX_MANIFEST_VALUES`
    values in all: what a value built by hand needs to have a JSON form. The problem is at its
    ``$.path``."""
    skeleton = {
        "services": [
            {
                **service.options,
                "metadata": service.metadata,
                "handlers": [
                    {
                        **handler.options,
                        "metadata": handler.metadata,
                        "input": handler.input,
                        "output": handler.output,
                    }
                    for handler in service.handlers
                ],
            }
            for service in manifest.services
        ]
    }
    try:
        _json.check_value(skeleton, "$", max_values=MAX_MANIFEST_VALUES)
    except _json.JsonError as exc:
        raise InvalidManifest([Problem(exc.path, exc.reason)]) from None


# --- JSON text, read as the server reads it -------------------------------------------------

#: The words serde_json (so restate-server) has for what ``_json`` refuses in text, by the start
#: of ``_json``'s reason: restate-server 1.7.12 answered "received a bad response from the SDK
#: that cannot be decoded: <words> at line L column C" (``tests/test_manifest_server.py``).
_SERDE_WORDS = (
    ("not UTF-8 text", "invalid unicode code point"),
    ("nested deeper than", "recursion limit exceeded"),
    ("NaN is not", "expected value"),
    ("Infinity is not", "expected value"),
    ("-Infinity is not", "expected value"),
    ("the number", "number out of range"),  # 1e400: too large for a double
)
_TWICE = re.compile(r"the key (.*) appears twice in one object")
_CONSTANT = re.compile(r"(NaN|Infinity|-Infinity) is not a JSON value")


def _server_words(reason: str) -> str:
    """``_json``'s ``reason`` for text, after the server's words for it where it has some."""
    twice = _TWICE.fullmatch(reason)
    if twice is not None:
        return f"duplicate field `{_unquote(twice.group(1))}`: {reason}"
    for start, words in _SERDE_WORDS:
        if reason.startswith(start):
            return f"{words}: {reason}"
    return reason


def _unquote(shown: str) -> str:
    """The text of a key ``_json`` quoted with ``repr``."""
    try:
        key = ast.literal_eval(shown)
    except (ValueError, SyntaxError):
        return shown
    return key if isinstance(key, str) else shown


def _read_text(document: str | bytes | bytearray) -> Any:
    """The JSON value of manifest text, or :class:`InvalidManifest`: one problem at the path of
    what the server refuses too, quoting the start of the input."""
    quoted = repr(document[:80])
    try:
        value = _json.loads(document, max_bytes=MAX_MANIFEST_BYTES)
    except _json.JsonError as exc:
        path = exc.path
        if path == "$":
            path = _locate(document, exc.reason) or path
        raise InvalidManifest(
            [Problem(path, f"{_server_words(exc.reason)}, in {quoted}")]
        ) from None
    return value


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]|[^\s{}\[\],:"]+')


def _locate(document: str | bytes | bytearray, reason: str) -> str | None:
    """The ``$.path`` of what ``_json.loads`` refused in UTF-8 JSON text for ``reason``: the
    second of two equal keys, the first ``NaN``/``Infinity``, or the first container nested
    deeper than 127 levels; ``None`` for other reasons or if it is not found. One pass over the
    tokens, without recursion: it must not fail where the reading it explains did."""
    twice, constant = _TWICE.fullmatch(reason), _CONSTANT.fullmatch(reason)
    deep = reason.startswith("nested deeper than")
    large = reason.startswith("the number")
    if twice is None and constant is None and not deep and not large:
        return None
    text = document if isinstance(document, str) else bytes(document).decode("utf-8", "replace")
    # Per open container: [is an object, its key or index now, keys seen, expecting a key].
    stack: list[list[Any]] = []

    def here() -> str:
        return "$" + "".join(f".{at}" if is_object else f"[{at}]" for is_object, at, _, _ in stack)

    for match in _TOKEN.finditer(text):
        token = match.group()
        top = stack[-1] if stack else None
        if token in ("{", "["):
            if deep and len(stack) >= _json.MAX_DEPTH:
                return here()
            stack.append([token == "{", "" if token == "{" else 0, set(), token == "{"])
        elif token in ("}", "]"):
            if stack:
                stack.pop()
        elif top is None:
            continue
        elif token == ",":
            if top[0]:
                top[3] = True
            else:
                top[1] += 1
        elif token == ":":
            top[3] = False
        elif top[0] and top[3] and token.startswith('"'):
            try:
                key = json.loads(token)
            except ValueError:
                return None
            top[1] = key
            if twice is not None and key in top[2] and repr(key) == twice.group(1):
                return here()
            top[2].add(key)
        elif (constant is not None and token == constant.group(1)) or (
            large and _NUMBER.fullmatch(token) and not math.isfinite(float(token))
        ):
            return here()
    return None


#: What a problem quotes of a value, whatever its size (one home: :func:`errors.quote`).
_show = quote


# --- reading, with every problem collected --------------------------------------------------


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _check_value(value: object, kind: str) -> str | None:
    """None when ``value`` is of ``kind``, else what is wrong with it."""
    if kind == "any":
        return None
    if kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "string":
        ok = isinstance(value, str)
    elif kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind == "non-negative integer":
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_U64
    else:  # an enumeration: "PAUSE|KILL", "zstd"
        ok = isinstance(value, str) and value in kind.split("|")
    if ok:
        return None
    return f"expected a {kind}, got {_show(value)}"


def _object(
    value: object, path: str, allowed: set[str], required: tuple[str, ...], problems: list[Problem]
) -> Mapping[str, Any] | None:
    if not isinstance(value, Mapping):
        problems.append(
            Problem(path, f"expected an object, got {_type_name(value)} {_show(value)}")
        )
        return None
    ok = True
    for key in value:
        if key not in allowed:
            problems.append(Problem(f"{path}.{key}", f"unknown field {key!r}"))
            ok = False
    for key in required:
        if key not in value:
            problems.append(Problem(f"{path}.{key}", f"missing field {key!r}"))
            ok = False
    return value if ok else None


def _get(
    obj: Mapping[str, Any],
    key: str,
    path: str,
    check: Callable[[Any], str | None],
    problems: list[Problem],
    *,
    optional: bool = False,
) -> Any:
    """The checked value of ``key``. For an ``optional`` field, JSON ``null`` is the same as
    leaving the field out, as the server reads it."""
    if key not in obj:
        return None
    value = obj[key]
    if optional and value is None:
        return None
    error = check(value)
    if error is not None:
        problems.append(Problem(f"{path}.{key}", error))
        return None
    return value


def _enum_check(enum_type: Any) -> Callable[[Any], str | None]:
    names = [m.value for m in enum_type]

    def check(value: Any) -> str | None:
        if isinstance(value, str) and value in names:
            return None
        return f"expected one of {', '.join(names)}, got {_show(value)}"

    return check


def _kind_check(kind: str) -> Callable[[Any], str | None]:
    return lambda value: _check_value(value, kind)


def _protocol_check(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= _MAX_PROTOCOL:
        return None
    return f"expected an integer from 1 to {_MAX_PROTOCOL}, got {_show(value)}"


def _metadata_check(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return f"expected an object of strings, got {_show(value)}"
    bad = [k for k, v in value.items() if not isinstance(v, str)]
    if bad:
        return f"metadata values must be strings, {_show(bad[0])} is {_show(value[bad[0]])}"
    return None


def _as_serde_reads(value: int) -> float:
    """The double serde_json (so restate-server) reads for the JSON integer ``value``, which is
    above :data:`MAX_U64`: the longest prefix of its digits that fits a u64, times ten to the
    number of digits left, rounded twice as serde_json rounds it (``inf`` where it says
    "number out of range")."""
    if value.bit_length() > 4096:  # more than 1,200 digits: far beyond the largest double
        return math.inf
    digits = str(value)
    significand = used = 0
    for digit in map(int, digits):
        if significand > MAX_U64 // 10 or (significand == MAX_U64 // 10 and digit > MAX_U64 % 10):
            break
        significand, used = significand * 10 + digit, used + 1
    exponent = len(digits) - used
    if exponent > 308:
        return math.inf
    return float(significand) * float(f"1e{exponent}")


def _u64_problem(name: str, value: int) -> str:
    """What is wrong with the integer option ``name`` set to ``value``, above :data:`MAX_U64`:
    the server's words first (restate-server 1.7.12 answers 500, no code, "... cannot be
    decoded: <words> at line L column C"), then the field, the value and the bound."""
    read = _as_serde_reads(value)
    words = (
        f"invalid type: floating point `{read!r}`, expected u64"
        if math.isfinite(read)
        else "number out of range"
    )
    return f"{words}: {name} is {_show(value)}, above {MAX_U64}, the largest u64"


def _options(
    obj: Mapping[str, Any], table: Mapping[str, str], path: str, problems: list[Problem]
) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name, kind in table.items():
        if obj.get(name) is not None:  # null is the same as absent
            value = obj[name]
            if isinstance(value, int) and not isinstance(value, bool) and value > MAX_U64:
                problems.append(Problem(f"{path}.{name}", _u64_problem(name, int(value))))
                continue
            error = _check_value(obj[name], kind)
            if error is None:
                options[name] = obj[name]
            else:
                problems.append(Problem(f"{path}.{name}", error))
    return options


_COMMON = {"name", "documentation", "ingressPrivate", "metadata"}
_ENDPOINT_KEYS = {
    "protocolMode",
    "minProtocolVersion",
    "maxProtocolVersion",
    "lambdaCompression",
    "services",
}


def _read_endpoint(value: object, path: str, problems: list[Problem]) -> EndpointManifest | None:
    obj = _object(
        value,
        path,
        _ENDPOINT_KEYS,
        ("minProtocolVersion", "maxProtocolVersion", "services"),
        problems,
    )
    if not isinstance(value, Mapping):
        return None
    source: Mapping[str, Any] = value
    mode = _get(source, "protocolMode", path, _enum_check(ProtocolMode), problems, optional=True)
    low = _get(source, "minProtocolVersion", path, _protocol_check, problems)
    high = _get(source, "maxProtocolVersion", path, _protocol_check, problems)
    compression = _get(
        source, "lambdaCompression", path, _kind_check("zstd"), problems, optional=True
    )
    services: list[ServiceManifest] = []
    raw_services = source.get("services")
    if "services" in source and not isinstance(raw_services, list | tuple):
        problems.append(
            Problem(f"{path}.services", f"expected an array, got {_show(raw_services)}")
        )
    elif raw_services is not None:
        for index, raw in enumerate(raw_services):
            service = _read_service(raw, f"{path}.services[{index}]", problems)
            if service is not None:
                services.append(service)
    if obj is None or problems:
        return None
    return EndpointManifest(
        protocol_mode=ProtocolMode(mode) if mode is not None else None,
        min_protocol_version=low,
        max_protocol_version=high,
        services=services,
        lambda_compression=compression,
    )


def _read_service(value: object, path: str, problems: list[Problem]) -> ServiceManifest | None:
    start = len(problems)
    allowed = _COMMON | {"ty", "handlers"} | set(SERVICE_OPTIONS)
    obj = _object(value, path, allowed, ("name", "ty", "handlers"), problems)
    if not isinstance(value, Mapping):
        return None
    name = _get(value, "name", path, _kind_check("string"), problems)
    ty = _get(value, "ty", path, _enum_check(ServiceType), problems)
    private = _get(value, "ingressPrivate", path, _kind_check("boolean"), problems, optional=True)
    docs = _get(value, "documentation", path, _kind_check("string"), problems, optional=True)
    metadata = _get(value, "metadata", path, _metadata_check, problems)
    options = _options(value, SERVICE_OPTIONS, path, problems)
    handlers: list[HandlerManifest] = []
    raw_handlers = value.get("handlers")
    if "handlers" in value and not isinstance(raw_handlers, list | tuple):
        problems.append(
            Problem(f"{path}.handlers", f"expected an array, got {_show(raw_handlers)}")
        )
    elif raw_handlers is not None:
        for index, raw in enumerate(raw_handlers):
            handler = _read_handler(raw, f"{path}.handlers[{index}]", problems)
            if handler is not None:
                handlers.append(handler)
    if obj is None or len(problems) > start:
        return None
    return ServiceManifest(
        name=name,
        type=ServiceType(ty),
        handlers=handlers,
        ingress_private=private,
        documentation=docs,
        metadata=metadata,
        options=options,
    )


def _read_handler(value: object, path: str, problems: list[Problem]) -> HandlerManifest | None:
    start = len(problems)
    allowed = _COMMON | {"ty", "input", "output"} | set(HANDLER_OPTIONS)
    obj = _object(value, path, allowed, ("name",), problems)
    if not isinstance(value, Mapping):
        return None
    name = _get(value, "name", path, _kind_check("string"), problems)
    ty = _get(value, "ty", path, _enum_check(HandlerType), problems, optional=True)
    private = _get(value, "ingressPrivate", path, _kind_check("boolean"), problems, optional=True)
    docs = _get(value, "documentation", path, _kind_check("string"), problems, optional=True)
    metadata = _get(value, "metadata", path, _metadata_check, problems)
    options = _options(value, HANDLER_OPTIONS, path, problems)
    payloads: dict[str, Any] = {}
    for field, fields in PAYLOAD_FIELDS.items():
        if value.get(field) is None:  # absent, or null: the same to the server
            continue
        payload = _object(value[field], f"{path}.{field}", set(fields), (), problems)
        if payload is None:
            continue
        for key, kind in fields.items():
            _get(payload, key, f"{path}.{field}", _kind_check(kind), problems, optional=True)
        payloads[field] = _freeze_json(payload)
    if obj is None or len(problems) > start:
        return None
    return HandlerManifest(
        name=name,
        type=HandlerType(ty) if ty is not None else None,
        ingress_private=private,
        documentation=docs,
        metadata=metadata,
        input=payloads.get("input"),
        output=payloads.get("output"),
        options=options,
    )


@attrs.frozen
class Discovery:
    """What an endpoint answered to discovery: its manifest, the HTTP version of the answer as
    the server prints it (``"HTTP/2.0"``, ``"HTTP/1.1"``; ``None`` for Lambda or when unknown)
    and the SDK that served it (the ``x-restate-server`` header, e.g.
    ``"restate-sdk-python/1.3.0"``), as :meth:`Registry.register` records them: what a
    :class:`~restate_versioning.transport.Transport` discovers, ``register`` takes."""

    manifest: EndpointManifest
    http_version: str | None = None
    sdk_version: str | None = None
