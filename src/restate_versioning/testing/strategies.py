"""Hypothesis strategies for the things Restate versions (needs the ``testing`` extra).

* :func:`service_names`, :func:`handler_names` — names the server accepts (reserved service
  names left out);
* :func:`manifests` — valid discovery manifests, as JSON;
* :func:`invalid_manifests` — manifests the server refuses, each with the :data:`REASONS` key
  saying why;
* :func:`endpoints` — HTTP endpoints on loopback and versioned Lambda ARNs;
* :func:`steps` — sequences of commands (:class:`Step`) that :func:`apply` runs on a registry;
* :func:`state_schemas` — JSON Schemas of the kind services declare for their state, within
  what :mod:`restate_versioning.schemas` reasons about; :func:`evolved_schemas` — a schema
  changed the way a new revision changes it (widened, narrowed, renamed...), and
  :func:`schema_pairs` — both at once.
"""

# No `from __future__ import annotations` here: the API reference reads the signatures of the
# strategies through Hypothesis's wrappers, where annotations kept as text cannot be resolved.

import string
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import attrs
from hypothesis import strategies as st

from ..commands import COMMANDS, Command
from ..errors import VersioningError
from ..manifest import HandlerType, ServiceType
from ..registry import Registry
from ..rules.manifest import HANDLER_TYPES, is_reserved_service_name

__all__ = [
    "REASONS",
    "Step",
    "apply",
    "command_of",
    "endpoints",
    "evolved_schemas",
    "handler_names",
    "invalid_manifests",
    "manifests",
    "schema_pairs",
    "service_names",
    "state_schemas",
    "steps",
]

_FIRST = string.ascii_letters
_REST = string.ascii_letters + string.digits


@st.composite
def _names(draw: st.DrawFn, rest: str, max_size: int) -> str:
    if draw(st.booleans()):
        head = draw(st.sampled_from(_FIRST))
    else:
        head = "_" + draw(st.sampled_from(_REST))
    return head + draw(st.text(alphabet=rest, max_size=max_size))


def service_names(max_size: int = 12) -> st.SearchStrategy[str]:
    """Service names the server accepts: ``^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9._-]*$``, not
    reserved (``restate...``, ``openapi``)."""
    return _names(_REST + "._-", max_size).filter(lambda n: not is_reserved_service_name(n))


def handler_names(max_size: int = 12) -> st.SearchStrategy[str]:
    """Handler names the server accepts: ``^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9_]*$``."""
    return _names(_REST + "_", max_size)


@st.composite
def _service(draw: st.DrawFn, name: str) -> dict[str, Any]:
    service_type = draw(st.sampled_from(list(ServiceType)))
    declared = draw(
        st.lists(
            st.tuples(handler_names(), st.sampled_from(list(HANDLER_TYPES[service_type]))),
            min_size=1,
            max_size=4,
            unique_by=lambda pair: pair[0],
        )
    )
    handlers: list[dict[str, Any]] = []
    for handler_name, handler_type in declared:
        handler: dict[str, Any] = {"name": handler_name}
        if handler_type is not None:
            handler["ty"] = handler_type.value
        handlers.append(handler)
    service: dict[str, Any] = {"name": name, "ty": service_type.value, "handlers": handlers}
    if draw(st.booleans()):
        service["ingressPrivate"] = draw(st.booleans())
    return service


@st.composite
def manifests(
    draw: st.DrawFn, names: Sequence[str] | None = None, max_services: int = 3
) -> dict[str, Any]:
    """A valid discovery manifest as JSON: 1 to ``max_services`` services (named from
    ``names`` when given), handlers of types their service allows, a protocol range that
    overlaps the supported [5, 7]."""
    pool = st.sampled_from(list(names)) if names else service_names()
    chosen = draw(st.lists(pool, min_size=1, max_size=max_services, unique=True))
    low = draw(st.integers(1, 7))
    high = draw(st.integers(max(low, 5), 9))
    return {
        "protocolMode": draw(st.sampled_from(["REQUEST_RESPONSE", "BIDI_STREAM"])),
        "minProtocolVersion": low,
        "maxProtocolVersion": high,
        "services": [draw(_service(name)) for name in chosen],
    }


#: Why an invalid manifest is refused, and the Restate code the server answers with (or None).
REASONS: Mapping[str, str | None] = {
    "reserved service name": "META0005",
    "unsupported protocol versions": "META0012",
    "min protocol above max": "META0013",
    "missing protocol mode": "META0013",
    "handler type not allowed for its service type": None,
    "service name does not match the pattern": None,
}


@st.composite
def invalid_manifests(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A manifest the server refuses, and the :data:`REASONS` key saying why. Exactly one
    thing is wrong with it."""
    document = draw(manifests(max_services=1))
    service = document["services"][0]
    reason = draw(st.sampled_from(list(REASONS)))
    if reason == "reserved service name":
        service["name"] = draw(st.sampled_from(["restate", "RestateFoo", "openapi", "restateX"]))
    elif reason == "unsupported protocol versions":
        document["minProtocolVersion"], document["maxProtocolVersion"] = draw(
            st.sampled_from([(1, 4), (8, 9), (1, 1)])
        )
    elif reason == "min protocol above max":
        document["minProtocolVersion"], document["maxProtocolVersion"] = 7, 5
    elif reason == "missing protocol mode":
        del document["protocolMode"]
    elif reason == "handler type not allowed for its service type":
        service_type = ServiceType(service["ty"])
        allowed = HANDLER_TYPES[service_type]
        wrong = [t for t in HandlerType if t not in allowed]
        service["handlers"][0]["ty"] = draw(st.sampled_from(wrong)).value
    else:
        service["name"] = draw(st.sampled_from(["1bad", "", "bad name", "-x"]))
    return document, reason


def endpoints() -> st.SearchStrategy[str]:
    """HTTP endpoints on 127.0.0.1 (with a path or not) and versioned AWS Lambda ARNs."""
    http = st.builds(
        lambda port, path: f"http://127.0.0.1:{port}{path}",
        st.integers(1024, 65535),
        st.sampled_from(["", "/", "/svc", "/a/b"]),
    )
    lambdas = st.builds(
        lambda name, version: f"arn:aws:lambda:eu-central-1:123456789012:function:{name}:{version}",
        st.text(alphabet=_REST, min_size=1, max_size=12),
        st.integers(1, 99),
    )
    return st.one_of(http, lambdas)


@attrs.frozen
class Step:
    """One command for :func:`apply`: the name of a command of
    :mod:`restate_versioning.commands` (its method) and its arguments."""

    command: str
    arguments: tuple[tuple[str, Any], ...] = ()

    def __str__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.arguments)
        return f"{self.command}({shown})"


def command_of(registry: Registry, step: Step) -> Command[Any] | None:
    """The command value ``step`` stands for on ``registry`` (see
    :mod:`restate_versioning.commands`): a step that names an invocation or deployment by
    index (``invocation``/``deployment``) takes the n-th one the registry knows, modulo their
    count; ``None`` when there is none."""
    arguments = dict(step.arguments)
    for key, known, field in (
        ("invocation", [i.id for i in registry.invocations()], "invocation_id"),
        ("deployment", [d.id for d in registry.deployments()], "deployment_id"),
    ):
        if key in arguments:
            if not known:
                return None
            arguments[field] = known[arguments.pop(key) % len(known)]
    return COMMANDS[step.command](**arguments)


def apply(registry: Registry, step: Step) -> Any:
    """Run ``step`` on ``registry`` (:meth:`Registry.execute` of :func:`command_of`); returns
    ``None`` when it names nothing the registry knows, or when the registry refuses it."""
    command = command_of(registry, step)
    if command is None:
        return None
    try:
        return registry.execute(command)
    except VersioningError:
        return None


def steps(
    names: Sequence[str] = ("Greeter", "Ticket", "Signup"),
    endpoints_: Sequence[str] = ("http://127.0.0.1:9081", "http://127.0.0.1:9082"),
    max_size: int = 30,
) -> st.SearchStrategy[list[Step]]:
    """Sequences of commands over a few service names and endpoints, for :func:`apply`."""
    handlers = st.sampled_from(["greet", "run", "reserve", "status"])
    register = st.builds(
        lambda endpoint, manifest, force, breaking: Step(
            "register",
            (
                ("endpoint", endpoint),
                ("manifest", manifest),
                ("force", force),
                ("breaking", breaking),
            ),
        ),
        st.sampled_from(list(endpoints_)),
        manifests(names=names),
        st.booleans(),
        st.booleans(),
    )
    invoke = st.builds(
        lambda service, handler, key, delay: Step(
            "invoke",
            (("service", service), ("handler", handler), ("key", key), ("delay", delay)),
        ),
        st.sampled_from(list(names)),
        handlers,
        st.sampled_from([None, "k1", "k2"]),
        st.sampled_from([None, timedelta(seconds=5)]),
    )
    on_invocation = st.builds(
        lambda command, index: Step(command, (("invocation", index),)),
        st.sampled_from(["suspend", "pause", "resume", "complete", "kill"]),
        st.integers(0, 100),
    )
    on_deployment = st.builds(
        lambda command, index: Step(command, (("deployment", index),)),
        st.sampled_from(["remove", "promote"]),
        st.integers(0, 100),
    )
    other = st.sampled_from([Step("start_due")]) | st.builds(
        lambda name, public: Step("set_public", (("name", name), ("public", public))),
        st.sampled_from(list(names)),
        st.booleans(),
    )
    return st.lists(
        st.one_of(register, invoke, on_invocation, on_deployment, other), max_size=max_size
    )


# --- state schemas ----------------------------------------------------------------------------

_PATTERNS = ("^[a-z]*$", "^a", "^[0-9]+$")
_PROPERTY_NAMES = st.sampled_from(["id", "name", "count", "items", "note", "total", "tags"])
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(["a", "b", "", "xyz"])
)


@st.composite
def _numeric(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind}
    low = draw(st.none() | st.integers(-10, 10))
    if low is not None:
        schema[draw(st.sampled_from(["minimum", "exclusiveMinimum"]))] = low
    high = draw(st.none() | st.integers(-10, 10))
    if high is not None and (low is None or high > low + 1):
        schema[draw(st.sampled_from(["maximum", "exclusiveMaximum"]))] = high
    if draw(st.integers(0, 4)) == 0:
        schema["multipleOf"] = draw(st.sampled_from([1, 2, 0.5] if kind == "number" else [1, 2]))
    return schema


@st.composite
def _string(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    low = draw(st.none() | st.integers(0, 3))
    if low is not None:
        schema["minLength"] = low
    high = draw(st.none() | st.integers(3, 8))
    if high is not None:
        schema["maxLength"] = high
    if draw(st.integers(0, 5)) == 0:
        schema["pattern"] = draw(st.sampled_from(_PATTERNS))
    return schema


def _leaves() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.just({"type": "null"}),
        st.just({"type": "boolean"}),
        _numeric("integer"),
        _numeric("number"),
        _string(),
        st.lists(_SCALARS, min_size=1, max_size=4, unique=True).map(lambda v: {"enum": v}),
        _SCALARS.map(lambda v: {"const": v}),
        st.just(True),
    )


def _composites(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    @st.composite
    def objects(draw: st.DrawFn) -> dict[str, Any]:
        properties = draw(st.dictionaries(_PROPERTY_NAMES, children, max_size=4))
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if properties:
            schema["required"] = sorted(draw(st.sets(st.sampled_from(sorted(properties)))))
        additional = draw(st.sampled_from(["absent", "closed", "schema"]))
        if additional == "closed":
            schema["additionalProperties"] = False
        elif additional == "schema":
            schema["additionalProperties"] = draw(children)
        return schema

    @st.composite
    def arrays(draw: st.DrawFn) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array", "items": draw(children)}
        if draw(st.booleans()):
            schema["maxItems"] = draw(st.integers(0, 4))
        if draw(st.integers(0, 3)) == 0:
            schema["minItems"] = draw(st.integers(0, schema.get("maxItems", 2)))
        if draw(st.integers(0, 4)) == 0:
            schema["uniqueItems"] = True
        return schema

    return st.one_of(
        objects(),
        arrays(),
        children.map(lambda c: {"anyOf": [c, {"type": "null"}]}),
    )


def state_schemas(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """JSON Schemas like the ones services declare for their state: typed scalars with bounds,
    enums, nullable values, arrays and (open or closed) objects, nested."""
    return st.recursive(_leaves(), _composites, max_leaves=max_leaves)


def _with(schema: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = {k: v for k, v in schema.items() if k not in changes}
    out.update({k: v for k, v in changes.items() if v is not None})
    return out


@st.composite
def evolved_schemas(draw: st.DrawFn, schema: Any) -> Any:
    """``schema`` as a new revision might change it: one change somewhere in it (a bound moved
    either way, a property added, dropped, renamed or made (not) required, a type widened or
    changed, null allowed or not...), or none."""
    if not isinstance(schema, dict):
        return draw(st.sampled_from([schema, {"type": "string"}, {"type": "object"}]))
    kind = schema.get("type")
    choices: list[Any] = [schema, True, {"type": "string"}, {"anyOf": [schema, {"type": "null"}]}]
    if kind in ("integer", "number"):
        for keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if keyword in schema:
                for delta in (-1, 1):
                    choices.append(_with(schema, **{keyword: schema[keyword] + delta}))
                choices.append({k: v for k, v in schema.items() if k != keyword})
        choices += [_with(schema, type="number"), _with(schema, type="integer")]
        choices.append(_with(schema, multipleOf=draw(st.sampled_from([1, 2, 0.5]))))
    elif kind == "string":
        for keyword in ("minLength", "maxLength"):
            if keyword in schema:
                for delta in (-1, 1):
                    choices.append(_with(schema, **{keyword: max(0, schema[keyword] + delta)}))
        choices.append(_with(schema, pattern=draw(st.sampled_from(_PATTERNS))))
        choices.append({k: v for k, v in schema.items() if k != "pattern"})
    elif "enum" in schema:
        values = schema["enum"]
        choices.append({"enum": [*values, draw(_SCALARS)]})
        if len(values) > 1:
            choices.append({"enum": values[1:]})
    elif kind == "array":
        choices.append(_with(schema, items=draw(evolved_schemas(schema["items"]))))
        choices.append(_with(schema, uniqueItems=None if schema.get("uniqueItems") else True))
        choices.append(_with(schema, maxItems=draw(st.integers(0, 4))))
    elif kind == "object":
        properties: dict[str, Any] = schema.get("properties", {})
        required: list[str] = schema.get("required", [])
        for name, child in properties.items():
            changed = {**properties, name: draw(evolved_schemas(child))}
            choices.append(_with(schema, properties=changed))
            dropped = {k: v for k, v in properties.items() if k != name}
            choices.append(
                _with(schema, properties=dropped, required=[r for r in required if r != name])
            )
            toggled = sorted(set(required) ^ {name})
            choices.append(_with(schema, required=toggled))
        added = draw(_PROPERTY_NAMES)
        choices.append(_with(schema, properties={**properties, added: draw(state_schemas(2))}))
        choices.append(_with(schema, additionalProperties=draw(st.sampled_from([True, False]))))
    elif "anyOf" in schema:
        choices.append(schema["anyOf"][0])
        choices.append({"anyOf": [draw(evolved_schemas(schema["anyOf"][0])), {"type": "null"}]})
    return draw(st.sampled_from(choices))


@st.composite
def schema_pairs(draw: st.DrawFn) -> tuple[Any, Any]:
    """An old state schema and how a new revision changed it."""
    old = draw(state_schemas())
    return old, draw(evolved_schemas(old))
