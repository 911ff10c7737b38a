"""Whether a JSON Schema accepts every value another one accepts: the check behind state
compatibility (Restate checks nothing; this library goes further: docs/rules.md, "State").

:func:`backward` asks "can a reader with schema ``new`` read every value written under ``old``?",
that is, is every value valid under ``old`` valid under ``new``? :func:`forward` asks the reverse,
which is what a rollback needs. Each answers a :class:`SchemaCompatibility`:

* ``COMPATIBLE`` when the check proved it for the keywords it reasons about: ``type`` (a name or a
  list, ``integer`` within ``number``), ``enum`` and ``const``, ``properties``, ``required``,
  ``additionalProperties``, ``minProperties`` / ``maxProperties``, ``items`` (one schema),
  ``minItems`` / ``maxItems`` / ``uniqueItems``, ``minimum`` / ``maximum`` /
  ``exclusiveMinimum`` / ``exclusiveMaximum`` (compared with the exact value of a float, as the
  validator compares), ``multipleOf`` (integer steps; a float step only when it is the very same,
  as the validator divides by it in floating point), ``minLength`` / ``maxLength`` and
  ``pattern`` (the same one), nullable values written as ``"type": [..., "null"]`` or as
  ``anyOf`` with a ``{"type": "null"}`` branch (what pydantic emits), ``anyOf`` / ``oneOf`` in
  general, a one-item ``allOf``, and ``$ref`` that are plain JSON pointers into the same schema
  (``#/$defs/...``, recursive ones included). Annotations (``title``, ``description``,
  ``default``, ``examples``, ``format``...) do not count: the validator does not assert them.
* ``INCOMPATIBLE`` only with proof: every such :class:`Finding` carries a counterexample, a value
  that :mod:`jsonschema` found valid under the old schema and invalid under the new one.
* ``UNKNOWN`` when a schema uses anything else (``not``, ``if``, ``patternProperties``,
  ``prefixItems``, anchors, a keyword it does not know...), is written for a draft other than
  2020-12 (its ``$schema``), when no counterexample could be confirmed, or when the check
  reached one of its bounds (below). Unknown is never reported as compatible. Two identical
  schemas are compatible whatever they use.

**Objects the writer declares are closed.** A state schema describes what a revision *writes*,
and a writer writes only the properties it declares. So an object schema of the writer (the old
schema of :func:`backward`, the new one of :func:`forward`) that declares ``properties`` and says
nothing of the others (no ``additionalProperties``) is read as closed: its values hold no other
property (:func:`closed` is the schema so read). That is what a pydantic model with its default
``extra="ignore"`` writes, and its schema has no ``additionalProperties``: adding an optional
field to it is compatible. ``"additionalProperties": true`` (pydantic's ``extra="allow"``) or a
schema there keeps it open: a value written under it may hold any other property, so giving a
type to a property it did not declare narrows it. An object schema that declares no
``properties`` (a ``dict``) stays open, and so does one beside keywords that may admit other
properties (``patternProperties``, ``unevaluatedProperties``, ``$ref``, ``allOf``, ``anyOf``,
``oneOf``, ``if`` / ``then`` / ``else``, ``dependentSchemas``). This goes further than JSON
Schema, where an object without ``additionalProperties`` may hold anything else; the reader's
schema is always read that way (an open reader takes the other properties, as pydantic's
``extra="ignore"`` ignores them). ``open_objects=True`` reads the writer that way too: strict
JSON Schema semantics. Either way, a counterexample is valid under the writer's schema as
given (and, closed, under :func:`closed` of it) and invalid under the reader's.

**Bounds.** A check never runs long or grows large, whatever the schemas: past a bound its
verdict is ``UNKNOWN``, with a finding whose reason names the bound. Most bounds are counts, so
the same schemas always get the same answer:

* :data:`MAX_ENUM_VALUES` values in one ``enum`` (an enum is compared value by value, each in
  constant time when the other side is a plain list of values too);
* :data:`MAX_VALIDATIONS` validations of candidate values, and :data:`MAX_COMPARISONS`
  comparisons of a subschema with another (a schema that refers to the same definition from
  many places is compared once per place);
* :data:`MAX_BUILT_ITEMS` items in an array and :data:`MAX_BUILT_LENGTH` characters in a string
  built as a candidate value: a schema that asks for more (``"minItems": 1000000000``) gets no
  candidate of that size, so no counterexample either;
* what cannot be counted is timed: a regular expression (``pattern``, ``patternProperties``) is
  matched against a value for at most :data:`PATTERN_SECONDS` (a pattern that runs past it is
  not matched again in that check), and a whole check runs for at most :data:`CHECK_SECONDS`.
  Here this library goes further than :mod:`jsonschema`, whose :mod:`re` matching cannot be
  stopped: it matches with the `regex <https://pypi.org/project/regex/>`_ package, which reads
  the patterns :mod:`re` reads (its ``VERSION0``) and can be given a timeout.

:func:`schema_problem` (the meta-schema check) reads at most 127 levels of nesting and a million
values (the bounds of all JSON the library reads), never matches a pattern against anything,
and names a pattern that the regular expression engine refuses to compile and a ``$ref`` that
:mod:`jsonschema` cannot resolve within the schema (``#/$defs/Missing``, an anchor nobody
declares). A ``$ref`` to another document is not fetched: it is not a problem, and the check
does not follow it (``UNKNOWN``).
"""

from __future__ import annotations

import contextvars
import copy
import functools
import json
import math
import re
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction
from typing import Any

import attrs
import regex
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.validators import extend, validator_for
from referencing import Registry as _References
from referencing.exceptions import InvalidAnchor, NoSuchAnchor, PointerToNowhere, Unresolvable
from referencing.jsonschema import DRAFT202012, specification_with

from ._json import JsonError, check_value
from .enums import Verdict
from .errors import InvalidStateSchema, Problem, quote

__all__ = [
    "CHECK_SECONDS",
    "MAX_BUILT_ITEMS",
    "MAX_BUILT_LENGTH",
    "MAX_COMPARISONS",
    "MAX_ENUM_VALUES",
    "MAX_VALIDATIONS",
    "PATTERN_SECONDS",
    "Finding",
    "SchemaCompatibility",
    "Verdict",
    "backward",
    "canonical_json",
    "closed",
    "forward",
    "schema_problem",
]

#: The most values one ``enum`` may list for the check to compare it (an unchanged enum of any
#: size is still compatible: identical subschemas are).
MAX_ENUM_VALUES = 1_000
#: How many candidate values one check may validate.
MAX_VALIDATIONS = 20_000
#: How many times one check may compare a subschema with another.
MAX_COMPARISONS = 20_000
#: The most items an array built as a candidate value may hold.
MAX_BUILT_ITEMS = 1_000
#: The most characters a string built as a candidate value may hold.
MAX_BUILT_LENGTH = 4_096
#: How long one regular expression may take to match one value, in seconds.
PATTERN_SECONDS = 0.1
#: How long one check may run, in seconds.
CHECK_SECONDS = 2.0


@attrs.frozen
class Finding:
    """One reason the schemas are not (known to be) compatible: where in the value (a path
    like ``$.items[*].price``), why, and for ``INCOMPATIBLE`` a counterexample, as JSON text:
    a whole value valid under the old schema and invalid under the new one."""

    path: str
    verdict: Verdict
    reason: str
    counterexample: str | None = None

    def __str__(self) -> str:
        example = f" (for example {self.counterexample})" if self.counterexample else ""
        return f"{self.path}: {self.reason}{example}"


@attrs.frozen
class SchemaCompatibility:
    """The answer of :func:`backward` or :func:`forward`: the verdict and its findings
    (none when compatible)."""

    verdict: Verdict
    findings: tuple[Finding, ...] = ()

    @property
    def compatible(self) -> bool:
        return self.verdict is Verdict.COMPATIBLE

    def __str__(self) -> str:
        if not self.findings:
            return self.verdict.value
        return f"{self.verdict.value}: " + "; ".join(str(f) for f in self.findings)


def canonical_json(value: Any) -> str:
    """``value`` as JSON text with sorted keys and no spaces: one text for equal schemas, and
    ``true`` apart from ``1``. Raises ``ValueError`` (or ``TypeError``) for what is not JSON."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def schema_problem(schema: Any) -> str | None:
    """Why ``schema`` is not a valid JSON Schema (for the draft its ``$schema`` names, 2020-12
    by default), or ``None``; it never raises. A schema must be made of JSON values, nest at
    most 127 levels and hold at most a million values, each ``pattern`` must compile, and each
    ``$ref`` into the schema itself must point at something in it (a ``$ref`` to another
    document is not fetched, so not checked).
    Answers are kept for the last 1,024 schemas of up to :data:`_CACHED_CHARS` characters
    asked about: checking a schema against its meta-schema costs milliseconds."""
    if not isinstance(schema, dict | bool):
        return f"a JSON Schema is an object or a boolean, not {quote(schema)}"
    try:
        check_value(schema)
    except JsonError as exc:
        if exc.reason.startswith("nested deeper"):
            return f"it is nested too deeply to check ({exc.reason})"
        return f"it is not made of JSON values: {exc.reason} at {exc.path}"
    text = canonical_json(schema)
    if len(text) > _CACHED_CHARS:
        return _text_problem(text)
    return _cached_text_problem(text)


#: Schemas longer than this (as canonical JSON) are checked again each time, not kept.
_CACHED_CHARS = 16_384


def _text_problem(text: str) -> str | None:
    schema = json.loads(text)
    if isinstance(schema, bool):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # what re says of a pattern while compiling it
            validator_for(schema, default=Draft202012Validator).check_schema(schema)
    except RecursionError:
        return "it is nested too deeply to check"
    except SchemaError as exc:
        where = "".join(f"[{p!r}]" for p in exc.path)
        return f"{quote(exc.message)}{' at ' + where if where else ''}"
    except (OverflowError, re.error, ValueError) as exc:  # re.compile, for format "regex"
        return f"it has a regular expression that cannot be compiled: {exc}"
    return _unresolved_ref(schema)


#: The keywords whose reference :mod:`jsonschema` resolves as it validates.
_REFERENCES = ("$ref", "$dynamicRef")


def _unresolved_ref(schema: dict[str, Any]) -> str | None:
    """Why a ``$ref`` (or ``$dynamicRef``) of ``schema`` that points into the schema itself (or
    a resource it embeds with ``$id``) cannot be resolved as :mod:`jsonschema` resolves it, or
    ``None``. A reference to any other document is not fetched and not reported."""
    try:
        specification = specification_with(schema.get("$schema", ""), default=DRAFT202012)
        root = specification.create_resource(schema)
        uri = root.id() or ""
        references = _References().with_resource(uri, root).crawl()
        stack = [(root, references.resolver(uri))]
        while stack:
            resource, resolver = stack.pop()
            contents = resource.contents
            if isinstance(contents, dict):
                for keyword in _REFERENCES:
                    ref = contents.get(keyword)
                    if not isinstance(ref, str):
                        continue
                    try:
                        resolver.lookup(ref)
                    except (PointerToNowhere, NoSuchAnchor, InvalidAnchor):
                        return f"its {keyword} {quote(ref)} points at nothing in the schema"
                    except Unresolvable:
                        continue  # another document, which is not fetched
            subresources = list(resource.subresources())
            stack.extend((sub, resolver.in_subresource(sub)) for sub in reversed(subresources))
    except RecursionError:
        return "it is nested too deeply to check"
    except (AttributeError, KeyError, LookupError, TypeError, ValueError) as exc:
        return f"its references cannot be resolved: {quote(str(exc))}"
    return None


_cached_text_problem = functools.lru_cache(maxsize=1024)(_text_problem)


def backward(old: Any, new: Any, *, open_objects: bool = False) -> SchemaCompatibility:
    """Whether every value valid under ``old`` is valid under ``new``: a new reader can read
    what the old writer wrote. The old schema's objects that declare ``properties`` and no
    ``additionalProperties`` are read as closed (see :func:`closed`), unless ``open_objects``:
    then every object schema is read as JSON Schema defines it. Both must be valid JSON Schemas
    (see :func:`schema_problem`), else :class:`~restate_versioning.errors.InvalidStateSchema`
    (a ``ValueError``) names each problem. Never raises anything else, and returns within
    about :data:`CHECK_SECONDS` (after the meta-schema check)."""
    problems = []
    for label, schema in (("old", old), ("new", new)):
        problem = schema_problem(schema)
        if problem is not None:
            problems.append(
                Problem(
                    label, f"the {label} schema {quote(schema)} is not a JSON Schema: {problem}"
                )
            )
    if problems:
        raise InvalidStateSchema(problems)
    budget = _Budget()
    token = _BUDGET.set(budget)
    try:
        given = _Document(old, budget)
        writer = given
        if not open_objects:
            origins: dict[int, Any] = {}
            shut = _close(old, origins)
            if shut is not old:
                writer = _Document(shut, budget, origins)
        return _Check(writer, _Document(new, budget), given).run()
    except RecursionError:
        finding = Finding("$", Verdict.UNKNOWN, "the schemas are nested too deeply to compare")
        return SchemaCompatibility(Verdict.UNKNOWN, (finding,))
    except _Stop as exc:
        return SchemaCompatibility(Verdict.UNKNOWN, (Finding("$", Verdict.UNKNOWN, str(exc)),))
    finally:
        _BUDGET.reset(token)


def forward(old: Any, new: Any, *, open_objects: bool = False) -> SchemaCompatibility:
    """Whether every value valid under ``new`` is valid under ``old``: the old reader (after a
    rollback) can read what the new writer wrote. Here the writer is ``new``: its objects are
    the ones read as closed, unless ``open_objects``."""
    return backward(new, old, open_objects=open_objects)


def closed(schema: Any) -> Any:
    """``schema`` as the check reads a writer's schema: each object schema in it that declares
    ``properties`` and nothing that may admit other properties (``additionalProperties``,
    ``patternProperties``, ``unevaluatedProperties``, ``$ref``, ``allOf``, ``anyOf``,
    ``oneOf``, ``if`` / ``then`` / ``else``, ``dependentSchemas``) gets
    ``"additionalProperties": false``; the rest is unchanged (a new value: ``schema`` itself is
    not modified). Subschemas are closed where they describe the value or a part of it
    (``properties``, ``items``, ``additionalProperties``, ``anyOf`` / ``oneOf`` branches, a
    one-item ``allOf``, ``then`` / ``else``, ``$defs``...), never under ``not`` or ``if``, nor
    in an ``allOf`` of several schemas (which may each declare some of the properties).

    What the writer writes is what is valid both under ``schema`` and under this: the check's
    counterexamples are valid under both. This goes further than JSON Schema, where such an
    object may hold any other property. Raises
    :class:`~restate_versioning.errors.InvalidStateSchema` unless ``schema`` is a valid JSON
    Schema (see :func:`schema_problem`)."""
    problem = schema_problem(schema)
    if problem is not None:
        raise InvalidStateSchema(
            [Problem("$", f"the schema {quote(schema)} is not a JSON Schema: {problem}")]
        )
    return copy.deepcopy(_close(schema, {}))


#: Beside these, an object schema's ``properties`` may not be all the properties it admits:
#: it is not closed.
_ADMITS_OTHERS = frozenset(
    {
        "additionalProperties",
        "patternProperties",
        "unevaluatedProperties",
        "$ref",
        "$dynamicRef",
        "$recursiveRef",
        "allOf",
        "anyOf",
        "oneOf",
        "if",
        "then",
        "else",
        "dependentSchemas",
        "dependencies",
    }
)
#: Where a schema holds subschemas of its values: one schema, a list of them, or a map of them.
_ONE_SUBSCHEMA = (
    "items",
    "additionalItems",
    "unevaluatedItems",
    "contains",
    "additionalProperties",
    "unevaluatedProperties",
    "then",
    "else",
)
_LISTED_SUBSCHEMAS = ("anyOf", "oneOf", "allOf", "prefixItems", "items")  # allOf: of one
_NAMED_SUBSCHEMAS = ("properties", "patternProperties", "dependentSchemas", "$defs", "definitions")


def _close(schema: Any, origins: dict[int, Any]) -> Any:
    """:func:`closed`, for a valid schema (nested at most 127 levels): ``schema`` itself when
    nothing in it is closed, else a new value that shares what is unchanged. ``origins`` maps
    the ``id`` of each subschema made to the one of ``schema`` it was made from."""
    if not isinstance(schema, dict):
        return schema
    changes: dict[str, Any] = {}
    for keyword in _ONE_SUBSCHEMA:
        sub = schema.get(keyword)
        if isinstance(sub, dict) and (made := _close(sub, origins)) is not sub:
            changes[keyword] = made
    for keyword in _LISTED_SUBSCHEMAS:
        branches = schema.get(keyword)
        if isinstance(branches, list) and (keyword != "allOf" or len(branches) == 1):
            made_branches = [_close(branch, origins) for branch in branches]
            if any(m is not b for m, b in zip(made_branches, branches, strict=True)):
                changes[keyword] = made_branches
    for keyword in _NAMED_SUBSCHEMAS:
        named = schema.get(keyword)
        if isinstance(named, dict):
            made_named = {name: _close(sub, origins) for name, sub in named.items()}
            if any(made_named[name] is not sub for name, sub in named.items()):
                changes[keyword] = made_named
    if "properties" in schema and not _ADMITS_OTHERS & schema.keys() and _closable(schema):
        changes["additionalProperties"] = False
    if not changes:
        return schema
    out = {**schema, **changes}
    origins[id(out)] = schema
    return out


def _closable(schema: dict[str, Any]) -> bool:
    """Whether an object schema can be read as writing only the properties it declares:
    not when it requires (``required``, ``dependentRequired``, ``minProperties``) more than
    those, for then the closed form would admit no object at all, and any reader would look
    compatible with it."""
    declared = schema.get("properties")
    if not isinstance(declared, dict):
        return False
    required = schema.get("required")
    if isinstance(required, list) and any(name not in declared for name in required):
        return False
    if "dependentRequired" in schema:
        return False
    least = schema.get("minProperties")
    return not (isinstance(least, int) and least > len(declared))


# --- reading a schema as alternatives, one per JSON type ----------------------------------

_ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "$comment",
        "deprecated",
        "readOnly",
        "writeOnly",
        "format",
        "contentMediaType",
        "contentEncoding",
        "$schema",
        "$defs",
        "definitions",
    }
)
_NUMERIC = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})
_FACETS: Mapping[str, frozenset[str]] = {
    "null": frozenset(),
    "boolean": frozenset(),
    "integer": _NUMERIC,
    "number": _NUMERIC,
    "string": frozenset({"minLength", "maxLength", "pattern"}),
    "array": frozenset({"items", "minItems", "maxItems", "uniqueItems"}),
    "object": frozenset(
        {"properties", "required", "additionalProperties", "minProperties", "maxProperties"}
    ),
}
_ALL_FACETS = frozenset().union(*_FACETS.values())
_STRUCTURE = frozenset({"type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref"})
_ANY_TYPES = ("null", "boolean", "number", "string", "array", "object")
_NONE = object()  # no value could be built
_DEPTH = 6  # how deep values are built


@attrs.frozen(eq=False)
class _Alternative:
    """The values of one JSON type that a schema accepts (``facets`` are its keywords for that
    type), or, for ``type == "enum"``, exactly ``values``."""

    type: str
    facets: Mapping[str, Any]
    values: tuple[Any, ...] = ()

    def schema(self) -> Any:
        if self.type == "enum":
            return {"enum": list(self.values)}
        return {"type": self.type, **self.facets}


class _Undecided(Exception):
    """The validator cannot say whether a value is valid, or the check ran out of validations:
    that value is not used (the verdict can only become ``UNKNOWN``)."""


class _Stop(Exception):
    """The check reached a bound that ends it: its verdict is ``UNKNOWN``, with this reason."""


class _Budget:
    """What one check may still spend: validations, comparisons and time, and what it noted of
    the bounds it reached (for the reasons of ``UNKNOWN`` findings)."""

    def __init__(self) -> None:
        self.validations = MAX_VALIDATIONS
        self.comparisons = MAX_COMPARISONS
        self.seconds = CHECK_SECONDS
        self.deadline = time.monotonic() + CHECK_SECONDS
        self.notes: dict[str, None] = {}  # ordered, each once
        self.slow_patterns: dict[str, str] = {}  # pattern -> why it is not matched again
        self.pattern_properties = False  # whether a document has patternProperties

    def note(self, reason: str) -> None:
        self.notes.setdefault(reason)

    def spend(self) -> None:
        """One validation; raises :class:`_Undecided` past :data:`MAX_VALIDATIONS` and
        :class:`_Stop` past the time bound."""
        self.on_time()
        self.validations -= 1
        if self.validations < 0:
            reason = f"the check ran out of its {MAX_VALIDATIONS:,} validations"
            self.note(reason)
            raise _Undecided(reason)

    def compare(self) -> None:
        """One comparison of subschemas; raises :class:`_Stop` past :data:`MAX_COMPARISONS` or
        the time bound."""
        self.on_time()
        self.comparisons -= 1
        if self.comparisons < 0:
            raise _Stop(
                f"the schemas are too large to compare: the check stopped after "
                f"{MAX_COMPARISONS:,} comparisons of subschemas"
            )

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def on_time(self) -> None:
        if self.remaining() <= 0:
            raise _Stop(f"the check stopped at its time bound of {self.seconds:g} s")


_BUDGET: contextvars.ContextVar[_Budget] = contextvars.ContextVar("restate_versioning.schemas")


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> Any:
    """``pattern`` compiled by :mod:`regex` (as :mod:`re` reads it), or the reason it is not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return regex.compile(pattern, regex.VERSION0)
    except (regex.error, OverflowError, RecursionError, ValueError, TypeError) as exc:
        return f"the pattern {quote(pattern)} cannot be matched here: {exc}"


def _search(pattern: str, text: str) -> bool:
    """Whether ``pattern`` matches somewhere in ``text``, as ``re.search``; within
    :data:`PATTERN_SECONDS` or raises :class:`_Undecided` (and the pattern is not matched
    again in this check)."""
    budget = _BUDGET.get()
    if pattern in budget.slow_patterns:
        raise _Undecided(budget.slow_patterns[pattern])
    compiled = _compiled(pattern)
    if isinstance(compiled, str):
        budget.note(compiled)
        raise _Undecided(compiled)
    timeout = min(PATTERN_SECONDS, budget.remaining())
    if timeout <= 0:
        budget.on_time()
    try:
        return compiled.search(text, timeout=timeout) is not None
    except TimeoutError:
        budget.on_time()
        reason = (
            f"matching the pattern {quote(pattern)} ran past its bound of {PATTERN_SECONDS:g} s"
        )
        budget.slow_patterns[pattern] = reason
        budget.note(reason)
        raise _Undecided(reason) from None


def _pattern(validator: Any, pattern: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield ValidationError(f"{quote(instance)} does not match {quote(pattern)}")


def _pattern_properties(validator: Any, patterns: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for name, value in instance.items():
            if _search(pattern, name):
                yield from validator.descend(value, subschema, path=name, schema_path=pattern)


_ADDITIONAL = Draft202012Validator.VALIDATORS["additionalProperties"]
_UNEVALUATED = Draft202012Validator.VALIDATORS["unevaluatedProperties"]


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: Any
) -> Iterator[Any]:
    if "patternProperties" not in schema:  # then jsonschema matches no pattern
        yield from _ADDITIONAL(validator, additional, instance, schema)
        return
    if not validator.is_type(instance, "object"):
        return
    declared = schema.get("properties", {})
    extras = [
        name
        for name in instance
        if name not in declared
        and not any(_search(pattern, name) for pattern in schema["patternProperties"])
    ]
    if validator.is_type(additional, "object"):
        for name in extras:
            yield from validator.descend(instance[name], additional, path=name)
    elif additional is False and extras:
        yield ValidationError(f"{quote(extras)} match none of the patternProperties")


def _unevaluated_properties(
    validator: Any, unevaluated: Any, instance: Any, schema: Any
) -> Iterator[Any]:
    if _BUDGET.get().pattern_properties:  # jsonschema would match those patterns unbounded
        raise _Undecided("unevaluatedProperties beside patternProperties is not evaluated here")
    yield from _UNEVALUATED(validator, unevaluated, instance, schema)


#: Draft 2020-12 as :mod:`jsonschema` validates it, with regular expressions matched by
#: :func:`_search` (bounded in time).
_BoundedValidator = extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
        "unevaluatedProperties": _unevaluated_properties,
    },
)


def _mentions(value: Any, keyword: str) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if keyword in node:
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _key(value: Any) -> Any:
    """A hashable key for a JSON value: equal for values :mod:`jsonschema` calls equal
    (``1`` and ``1.0``; never ``true`` and ``1``)."""
    if isinstance(value, bool) or value is None:
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", Fraction(value))
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, list):
        return ("l", tuple(_key(v) for v in value))
    if isinstance(value, dict):
        return ("d", frozenset((k, _key(v)) for k, v in value.items()))
    return ("o", id(value))


class _Document:
    """A root schema: resolves its local ``$ref`` and validates values against any of its
    subschemas with :mod:`jsonschema` (patterns matched within a time bound)."""

    def __init__(self, root: Any, budget: _Budget, origins: dict[int, Any] | None = None) -> None:
        self.root = root
        self.budget = budget
        #: for a closed writer, the subschema of the schema as given that each one was made from
        self.origins = origins or {}
        self.draft = validator_for(root, default=Draft202012Validator)
        validating = _BoundedValidator if self.draft is Draft202012Validator else self.draft
        self._validator = validating(root)
        self._validators: dict[int, tuple[Any, Any]] = {}  # by id(schema), schema kept alive
        self._listed: dict[int, tuple[Any, frozenset[Any] | None]] = {}
        self._rests: dict[int, tuple[Any, Any]] = {}
        self._budget = budget
        if _mentions(root, "patternProperties"):
            budget.pattern_properties = True

    def valid(self, schema: Any, value: Any) -> bool:
        """Whether ``value`` is valid under ``schema`` (a subschema of this document), as
        :mod:`jsonschema` says. Raises :class:`_Undecided` when it cannot say (the value makes
        the validator fail, a pattern runs past its time, or the check has spent its
        validations), :class:`_Stop` when the check is out of time."""
        self._budget.spend()
        key = id(schema)
        found = self._validators.get(key)
        if found is None or found[0] is not schema:
            found = (schema, self._validator.evolve(schema=schema))
            self._validators[key] = found
        try:
            return bool(found[1].is_valid(value))
        except (ArithmeticError, ValueError, RecursionError) as exc:
            raise _Undecided(f"validating {quote(value)} failed: {exc}") from None

    def accepts(self, schema: Any, value: Any) -> bool:
        """:meth:`valid`, in constant time when ``schema`` is (a ``$ref`` to) only a list of
        values: ``enum`` or ``const`` beside annotations."""
        schema = self.target(schema)
        key = id(schema)
        found = self._listed.get(key)
        if found is None or found[0] is not schema:
            listed: frozenset[Any] | None = None
            if isinstance(schema, dict):
                keys = set(schema) - _ANNOTATIONS
                if keys == {"enum"} and isinstance(schema["enum"], list):
                    listed = frozenset(_key(v) for v in schema["enum"])
                elif keys == {"const"}:
                    listed = frozenset({_key(schema["const"])})
            found = (schema, listed)
            self._listed[key] = found
        if found[1] is None:
            return self.valid(schema, value)
        self._budget.spend()
        return _key(value) in found[1]

    def beside_enum(self, schema: dict[str, Any]) -> Any:
        """``schema`` without its ``enum``: what a listed value must satisfy besides being
        listed; ``None`` when that is nothing."""
        key = id(schema)
        found = self._rests.get(key)
        if found is None or found[0] is not schema:
            rest = {k: v for k, v in schema.items() if k != "enum"}
            found = (schema, rest if set(rest) - _ANNOTATIONS else None)
            self._rests[key] = found
        return found[1]

    def resolve(self, ref: Any) -> Any:
        if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")) or "%" in ref:
            raise LookupError(
                f"has a $ref {ref!r} that is not a plain pointer into the same schema"
            )
        node = self.root
        for part in ref[1:].split("/")[1:] if ref != "#" else []:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise LookupError(f"has a $ref {ref!r} that points at nothing")
        return node

    def target(self, schema: Any) -> Any:
        """The schema a chain of ``$ref`` (alone, or with annotations) leads to; ``schema``
        itself if it is not one or leads nowhere."""
        seen: set[int] = set()
        while (
            isinstance(schema, dict)
            and "$ref" in schema
            and not set(schema) - _ANNOTATIONS - {"$ref"}
            and id(schema) not in seen
        ):
            seen.add(id(schema))
            try:
                schema = self.resolve(schema["$ref"])
            except LookupError:
                break
        return schema

    def alternatives(self, schema: Any, seen: tuple[str, ...] = ()) -> list[_Alternative] | str:
        """The schema as alternatives, or why it cannot be read so."""
        if schema is True:
            return [_Alternative(t, {}) for t in _ANY_TYPES]
        if schema is False:
            return []
        if not isinstance(schema, dict):
            return f"has a subschema {schema!r} that is not an object"
        keys = set(schema) - _ANNOTATIONS - ({"$id"} if schema is self.root else set())
        unknown = keys - _STRUCTURE - _ALL_FACETS
        if unknown:
            return f"uses {', '.join(sorted(unknown))}, which this check does not reason about"
        if "$ref" in keys:
            if keys != {"$ref"}:
                return "uses $ref beside other keywords"
            ref = schema["$ref"]
            if ref in seen:
                return f"has a $ref {ref!r} that only refers to itself"
            try:
                target = self.resolve(ref)
            except LookupError as exc:
                return str(exc)
            return self.alternatives(target, (*seen, ref))
        if "allOf" in keys:
            if keys != {"allOf"} or len(schema["allOf"]) != 1:
                return "uses allOf with more than one schema, or beside other keywords"
            return self.alternatives(schema["allOf"][0], seen)
        for combinator in ("anyOf", "oneOf"):
            if combinator in keys:
                if keys != {combinator}:
                    return f"uses {combinator} beside other keywords"
                found: list[_Alternative] = []
                for branch in schema[combinator]:
                    branch_alternatives = self.alternatives(branch, seen)
                    if isinstance(branch_alternatives, str):
                        return branch_alternatives
                    found += branch_alternatives
                if combinator == "oneOf" and _overlapping(found):
                    return "uses oneOf with branches that accept values of the same type"
                return found
        if "enum" in keys or "const" in keys:
            listed = schema.get("enum", [])
            if isinstance(listed, list) and len(listed) > MAX_ENUM_VALUES:
                return (
                    f"has an enum of {len(listed):,} values, more than the "
                    f"{MAX_ENUM_VALUES:,} this check compares"
                )
            try:
                if "const" in schema:  # one value, checked against all the rest
                    value = schema["const"]
                    kept = (value,) if self.valid(schema, value) else ()
                else:  # each listed value is in the enum: check it against the rest only
                    rest = self.beside_enum(schema)
                    values = tuple(listed)
                    kept = (
                        values if rest is None else tuple(v for v in values if self.valid(rest, v))
                    )
            except _Undecided as exc:
                return f"has an enum that cannot be evaluated ({exc})"
            return [_Alternative("enum", {}, kept)] if kept else []
        for bound in ("exclusiveMinimum", "exclusiveMaximum"):
            if isinstance(schema.get(bound), bool):
                return f"uses the draft-4 boolean {bound}"
        if isinstance(schema.get("items"), list):
            return "uses items as a list (a tuple)"
        declared = schema.get("type", list(_ANY_TYPES))
        types = [declared] if isinstance(declared, str) else list(declared)
        if not all(isinstance(t, str) and t in _FACETS for t in types):
            return f"has a type {declared!r} outside JSON Schema 2020-12's"
        if "number" in types and "integer" in types:
            types.remove("integer")
        return [
            _Alternative(t, {k: _count(k, schema[k]) for k in sorted(_FACETS[t] & keys)})
            for t in dict.fromkeys(types)
        ]


def _overlapping(alternatives: Sequence[_Alternative]) -> bool:
    def kinds(a: _Alternative) -> set[str]:
        if a.type == "enum":
            return {"enum"}
        return {"number"} if a.type in ("integer", "number") else {a.type}

    seen: set[str] = set()
    for alternative in alternatives:
        mine = kinds(alternative)
        if mine & seen or (seen and ("enum" in mine or "enum" in seen)):
            return True
        seen |= mine
    return False


_COUNTS = frozenset(
    {"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"}
)


def _count(keyword: str, value: Any) -> Any:
    """A count keyword as an ``int`` (the meta-schema also takes ``2.0``)."""
    if keyword in _COUNTS and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_REJECTS = "no longer accepts "


def _merge_rejections(found: list[_Local], path: str) -> list[_Local]:
    """One finding for the values of several types that ``path`` no longer accepts."""
    rejections = [
        f
        for f in found
        if f.path == path and f.verdict is Verdict.INCOMPATIBLE and f.reason.startswith(_REJECTS)
    ]
    if len(rejections) < 2:
        return found
    listed = ", ".join(f.reason.removeprefix(_REJECTS) for f in rejections)
    merged = _Local(path, Verdict.INCOMPATIBLE, _REJECTS + listed, rejections[0].witness)
    rest = [f for f in found if f not in rejections]
    return [merged, *rest]


def _accepts_anything(schema: Any) -> bool:
    return schema is True or (isinstance(schema, dict) and not set(schema) - _ANNOTATIONS)


def _has_ref(schema: Any) -> bool:
    if isinstance(schema, dict):
        return "$ref" in schema or any(_has_ref(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_ref(v) for v in schema)
    return False


# --- bounds ---------------------------------------------------------------------------------


@attrs.frozen
class _Bound:
    value: Fraction
    exclusive: bool


def _fraction(value: Any) -> Fraction:
    """The exact value of a JSON number as Python holds it: a float's binary value, which is
    what the validator compares an int with."""
    return Fraction(value)


def _numeric_bounds(facets: Mapping[str, Any], integer: bool) -> tuple[_Bound | None, ...]:
    """The lower and upper bound of numeric facets; for integers, both inclusive integers."""
    lows = [
        _Bound(_fraction(facets[k]), k.startswith("exclusive"))
        for k in ("minimum", "exclusiveMinimum")
        if k in facets
    ]
    highs = [
        _Bound(_fraction(facets[k]), k.startswith("exclusive"))
        for k in ("maximum", "exclusiveMaximum")
        if k in facets
    ]
    low = max(lows, key=lambda b: (b.value, b.exclusive), default=None)
    high = min(highs, key=lambda b: (b.value, not b.exclusive), default=None)
    if integer:
        if low is not None:
            low = _Bound(
                Fraction(math.floor(low.value) + 1 if low.exclusive else math.ceil(low.value)),
                False,
            )
        if high is not None:
            high = _Bound(
                Fraction(math.ceil(high.value) - 1 if high.exclusive else math.floor(high.value)),
                False,
            )
    return low, high


def _multiple_within(old: Mapping[str, Any], new: Mapping[str, Any], integer: bool) -> bool:
    """Whether every multiple of old's ``multipleOf`` (or every integer) passes new's. The
    validator divides in floating point for a float step, so only integer steps are reasoned
    about; a float step must be the very same."""
    step, mine = new["multipleOf"], old.get("multipleOf")
    if mine is not None and type(mine) is type(step) and mine == step:
        return True
    if not isinstance(step, int):
        return False
    if mine is None:
        return integer and step == 1
    return isinstance(mine, int) and mine % step == 0


def _bound_within(old: _Bound | None, new: _Bound | None, side: str) -> bool:
    """Whether new's bound on ``side`` (``"low"`` or ``"high"``) lets through every value
    old's does."""
    if new is None:
        return True
    if old is None:
        return False
    if new.value != old.value:
        return new.value < old.value if side == "low" else new.value > old.value
    return old.exclusive or not new.exclusive


def _range_within(old: Mapping[str, Any], new: Mapping[str, Any], low: str, high: str) -> bool:
    return new.get(low, 0) <= old.get(low, 0) and (
        high not in new or (high in old and old[high] <= new[high])
    )


def _narrowed(
    old: Mapping[str, Any], new: Mapping[str, Any], low: str, high: str, what: str
) -> list[str]:
    """Why the range ``[low, high]`` of ``new`` does not hold the range of ``old``, if it does
    not."""
    if _range_within(old, new, low, high):
        return []
    return [f"the {what} went from {_length(old, low, high)} to {_length(new, low, high)}"]


def _describe_bound(bound: _Bound | None, side: str) -> str:
    if bound is None:
        return "none"
    sign = {"low": (">=", ">"), "high": ("<=", "<")}[side][bound.exclusive]
    value = bound.value
    text = str(_number(value)) if _fits(value) else f"{'-' if value < 0 else ''}10^{_digits(value)}"
    return f"{sign} {text}"


def _digits(value: Fraction) -> int:
    return len(str(abs(int(value)))) - 1


def _fits(value: Fraction) -> bool:
    """Whether a number is small enough to show and to try as a sample."""
    return abs(value) < 10**300


def _number(value: Fraction) -> int | float:
    return int(value) if value.denominator == 1 else float(value)


# --- the check ------------------------------------------------------------------------------


@attrs.frozen
class _Local:
    path: str
    verdict: Verdict
    reason: str
    witness: Any = _NONE


def _child(path: str, name: str) -> str:
    return (
        f"{path}.{name}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else f"{path}[{name!r}]"
    )


class _Check:
    def __init__(self, old: _Document, new: _Document, given: _Document | None = None) -> None:
        self.old = old  # the writer's schema as read: closed, unless open_objects
        self.new = new
        self.given = given or old  # the writer's schema as given
        self._assumed: set[tuple[int, int]] = set()
        self._instances: dict[tuple[int, int], tuple[Any, Any]] = {}  # schema kept alive
        self._building: set[tuple[int, int]] = set()
        self._searches = MAX_VALIDATIONS  # values built, at most
        self._texts: dict[int, tuple[Any, str | None]] = {}  # schema kept alive

    def run(self) -> SchemaCompatibility:
        if canonical_json(self.given.root) == canonical_json(self.new.root):
            return SchemaCompatibility(Verdict.COMPATIBLE)
        for label, document in (("old", self.given), ("new", self.new)):
            if document.draft is not Draft202012Validator:
                reason = (
                    f"the {label} schema is written for {document.draft.__name__}; this check "
                    f"reasons about JSON Schema 2020-12 only"
                )
                return SchemaCompatibility(
                    Verdict.UNKNOWN, (Finding("$", Verdict.UNKNOWN, reason),)
                )
        findings: list[Finding] = []
        for local in self.sub(self.old.root, self.new.root, "$"):
            witness = local.witness
            confirmed = local.verdict is Verdict.INCOMPATIBLE and self.confirms(witness)
            if confirmed:
                findings.append(
                    Finding(local.path, Verdict.INCOMPATIBLE, local.reason, canonical_json(witness))
                )
            elif local.verdict is Verdict.INCOMPATIBLE:
                reason = f"{local.reason}, but no counterexample could be confirmed"
                if self.old.budget.notes:
                    reason += f" ({'; '.join(self.old.budget.notes)})"
                findings.append(Finding(local.path, Verdict.UNKNOWN, reason))
            else:
                findings.append(Finding(local.path, local.verdict, local.reason))
        verdicts = {f.verdict for f in findings}
        verdict = next(
            (v for v in (Verdict.INCOMPATIBLE, Verdict.UNKNOWN) if v in verdicts),
            Verdict.COMPATIBLE,
        )
        return SchemaCompatibility(verdict, tuple(findings))

    def same(self, old: Any, new: Any) -> bool:
        """Whether two subschemas are the same text with no ``$ref`` in it (which could point at
        different definitions), each text made once per check. The old one is compared as given
        (not closed): the values written under it are valid under the same schema."""
        old = self.old.origins.get(id(old), old)
        return (old_text := self.text(old)) is not None and old_text == self.text(new)

    def text(self, schema: Any) -> str | None:
        found = self._texts.get(id(schema))
        if found is None or found[0] is not schema:
            found = (schema, None if _has_ref(schema) else canonical_json(schema))
            self._texts[id(schema)] = found
        return found[1]

    def confirms(self, witness: Any) -> bool:
        """Whether ``witness`` is valid under the old schema (as given, and as read) and invalid
        under the new one."""
        if witness is _NONE:
            return False
        try:
            return (
                self.old.valid(self.old.root, witness)
                and (self.given is self.old or self.given.valid(self.given.root, witness))
                and not self.new.valid(self.new.root, witness)
            )
        except _Undecided:
            return False

    # -- subsumption ---------------------------------------------------------------------

    def sub(self, old: Any, new: Any, path: str) -> list[_Local]:
        """Why not every value valid under ``old`` (of the old document) is valid under
        ``new`` (of the new one); witnesses are values at ``path``."""
        self.old.budget.compare()
        if _accepts_anything(new) or self.same(old, new):
            return []
        pair = (id(old), id(new))
        if pair in self._assumed:  # a recursive schema: assume what is being shown
            return []
        self._assumed.add(pair)
        try:
            olds = self.old.alternatives(old)
            if isinstance(olds, str):
                return [_Local(path, Verdict.UNKNOWN, f"the old schema {olds}")]
            news = self.new.alternatives(new)
            if isinstance(news, str):
                return [_Local(path, Verdict.UNKNOWN, f"the new schema {news}")]
            found: list[_Local] = []
            for alternative in olds:
                found += self.alternative_sub(alternative, new, news, path)
            return _merge_rejections(found, path)
        finally:
            self._assumed.discard(pair)

    def alternative_sub(
        self, old: _Alternative, new: Any, news: Sequence[_Alternative], path: str
    ) -> list[_Local]:
        finite = {"enum": old.values, "null": (None,), "boolean": (False, True)}.get(old.type)
        if finite is not None:
            try:
                rejected = [v for v in finite if not self.new.accepts(new, v)]
            except _Undecided as exc:
                return [_Local(path, Verdict.UNKNOWN, f"cannot compare the listed values: {exc}")]
            if not rejected:
                return []
            listed = ", ".join(canonical_json(v) for v in rejected[:5])
            return [_Local(path, Verdict.INCOMPATIBLE, f"no longer accepts {listed}", rejected[0])]
        same_type = [
            n for n in news if n.type == old.type or (old.type, n.type) == ("integer", "number")
        ]
        if not same_type:
            if any(n.type == "enum" for n in news):
                reason = f"accepts only listed values where {old.type} values were accepted"
            else:
                reason = f"{_REJECTS}{old.type} values"
            return [self.witnessed(old, new, path, reason, news)]
        tries = [self.facets_sub(old, n, new, path) for n in same_type]
        if any(not t for t in tries):
            return []
        if len(same_type) == 1 and not any(n.type == "enum" for n in news):
            return tries[0]
        reason = f"no single alternative of the new schema accepts every {old.type} value"
        return [self.witnessed(old, new, path, reason, news)]

    def witnessed(
        self,
        old: _Alternative,
        new: Any,
        path: str,
        reason: str,
        hints: Sequence[_Alternative] = (),
    ) -> _Local:
        """An incompatibility, with a value of ``old`` that ``new`` rejects if one is found
        (looking near the bounds of ``old`` and of the ``hints``, the new alternatives)."""
        facets: dict[str, Any] = {}
        for hint in hints:
            for keyword, value in hint.facets.items():
                if keyword == "uniqueItems" and value is True:
                    facets["uniqueItems"] = [1]
                elif isinstance(value, int | float) and not isinstance(value, bool):
                    facets.setdefault(keyword, []).append(value)
        schema = old.schema()
        notes = self.old.budget.notes
        before = len(notes)
        undecided: list[str] = []
        for candidate in self.samples(old, self.old, hints=facets)[:400]:
            try:
                if self.old.valid(schema, candidate) and not self.new.valid(new, candidate):
                    return _Local(path, Verdict.INCOMPATIBLE, reason, candidate)
            except _Undecided as exc:
                undecided.append(str(exc))
                continue
        why = list(notes)[before:] or undecided[:1]
        bounds = f" ({'; '.join(why)})" if why else ""
        return _Local(path, Verdict.UNKNOWN, f"{reason} may not hold: no value shows it{bounds}")

    def narrowing(
        self, old: _Alternative, new: _Alternative, node: Any, path: str, reasons: list[str]
    ) -> list[_Local]:
        """One finding for the ``reasons`` ``new`` narrows ``old``, if any, witnessed."""
        if not reasons:
            return []
        return [self.witnessed(old, node, path, "; ".join(reasons), (new,))]

    def facets_sub(
        self, old: _Alternative, new: _Alternative, new_node: Any, path: str
    ) -> list[_Local]:
        if old.type in ("integer", "number"):
            return self.numbers_sub(old, new, new_node, path)
        if old.type == "string":
            return self.strings_sub(old, new, new_node, path)
        if old.type == "array":
            return self.arrays_sub(old, new, new_node, path)
        return self.objects_sub(old, new, new_node, path)

    def numbers_sub(
        self, old: _Alternative, new: _Alternative, node: Any, path: str
    ) -> list[_Local]:
        integer = old.type == "integer"
        old_bounds = _numeric_bounds(old.facets, integer)
        new_bounds = _numeric_bounds(new.facets, integer)
        reasons = []
        if not integer and new.type == "integer":
            reasons.append("accepts only integers where any number was accepted")
        for side, name, was, now in zip(
            ("low", "high"), ("lower", "upper"), old_bounds, new_bounds, strict=True
        ):
            if not _bound_within(was, now, side):
                reasons.append(
                    f"the {name} bound went from {_describe_bound(was, side)} to "
                    f"{_describe_bound(now, side)}"
                )
        if "multipleOf" in new.facets and not _multiple_within(old.facets, new.facets, integer):
            reasons.append(f"values must now be a multiple of {new.facets['multipleOf']}")
        return self.narrowing(old, new, node, path, reasons)

    def strings_sub(
        self, old: _Alternative, new: _Alternative, node: Any, path: str
    ) -> list[_Local]:
        reasons = _narrowed(old.facets, new.facets, "minLength", "maxLength", "length range")
        pattern = new.facets.get("pattern")
        if pattern is not None and pattern != old.facets.get("pattern"):
            reasons.append(f"strings must now match {pattern!r}")
        return self.narrowing(old, new, node, path, reasons)

    def arrays_sub(
        self, old: _Alternative, new: _Alternative, node: Any, path: str
    ) -> list[_Local]:
        reasons = _narrowed(old.facets, new.facets, "minItems", "maxItems", "number of items")
        if (
            new.facets.get("uniqueItems") is True
            and old.facets.get("uniqueItems") is not True
            and old.facets.get("maxItems", 2) >= 2
        ):
            reasons.append("items must now be unique")
        found = self.narrowing(old, new, node, path, reasons)
        if old.facets.get("maxItems", 1) == 0:
            return found
        old_items, new_items = old.facets.get("items", True), new.facets.get("items", True)
        for local in self.sub(old_items, new_items, f"{path}[*]"):
            found.append(attrs.evolve(local, witness=self.array_around(old, local.witness)))
        return found

    def objects_sub(
        self, old: _Alternative, new: _Alternative, node: Any, path: str
    ) -> list[_Local]:
        found: list[_Local] = []
        old_properties = old.facets.get("properties", {})
        new_properties = new.facets.get("properties", {})
        old_required = set(old.facets.get("required", ()))
        old_additional = old.facets.get("additionalProperties", True)
        new_additional = new.facets.get("additionalProperties", True)
        for name in sorted(set(new.facets.get("required", ())) - old_required):
            found.append(
                _Local(
                    _child(path, name),
                    Verdict.INCOMPATIBLE,
                    f"{name!r} is now required, but the old schema lets it be absent",
                    self.object_around(old, None, _NONE),
                )
            )
        sizes = dict(old.facets)  # what the old schema's other keywords imply about the count
        sizes["minProperties"] = max(sizes.get("minProperties", 0), len(old_required))
        if old_additional is False:
            closed = len(old_properties)
            sizes["maxProperties"] = min(sizes.get("maxProperties", closed), closed)
        for reason in _narrowed(
            sizes, new.facets, "minProperties", "maxProperties", "number of properties"
        ):
            found.append(self.witnessed(old, node, path, reason, (new,)))
        for name in sorted(set(old_properties) | set(new_properties)):
            declared = name in old_properties
            old_schema = old_properties.get(name, old_additional)
            new_schema = new_properties.get(name, new_additional)
            for local in self.sub(old_schema, new_schema, _child(path, name)):
                reason = local.reason
                if not declared:
                    reason = (
                        f"the old schema does not declare {name!r} but its "
                        f"additionalProperties allows it: the new schema {reason}"
                    )
                elif name not in new_properties:
                    reason = (
                        f"{name!r} is no longer declared, so the new schema's "
                        f"additionalProperties applies to it: {reason}"
                    )
                found.append(
                    attrs.evolve(
                        local, reason=reason, witness=self.object_around(old, name, local.witness)
                    )
                )
        other = _fresh(set(old_properties) | set(new_properties))
        for local in self.sub(old_additional, new_additional, f"{path}.*"):
            reason = f"properties that neither schema declares: the new schema {local.reason}"
            witness = self.object_around(old, other, local.witness)
            found.append(attrs.evolve(local, reason=reason, witness=witness))
        return found

    # -- building values -------------------------------------------------------------------

    def array_around(self, old: _Alternative, item: Any) -> Any:
        if item is _NONE:
            return _NONE
        size = max(1, old.facets.get("minItems", 0))
        if size > MAX_BUILT_ITEMS:
            self.old.budget.note(_too_many(size))
            return _NONE
        fill = self.instance(old.facets.get("items", True), self.old)
        if fill is _NONE and size > 1:
            return _NONE
        return [item] + [fill] * (size - 1)

    def object_around(self, old: _Alternative, name: str | None, value: Any) -> Any:
        """The smallest object of ``old``, with ``name`` set to ``value`` (if any)."""
        if name is not None and value is _NONE:
            return _NONE
        base = self.minimal_object(old, self.old, depth=0)
        if base is _NONE:
            return _NONE
        if name is not None:
            base[name] = value
        return base

    def minimal_object(self, alternative: _Alternative, document: _Document, depth: int) -> Any:
        properties = alternative.facets.get("properties", {})
        additional = alternative.facets.get("additionalProperties", True)
        value = {}
        for name in alternative.facets.get("required", ()):
            member = self.instance(properties.get(name, additional), document, depth + 1)
            if member is _NONE:
                return _NONE
            value[name] = member
        return value

    def instance(self, schema: Any, document: _Document, depth: int = 0) -> Any:
        """A value valid under ``schema``, or ``_NONE``. Values found are kept; a schema met
        again while its own value is being built (a recursive one) gives none there."""
        schema = document.target(schema)
        key = (id(document), id(schema))
        if key in self._instances:
            return self._instances[key][1]
        self._searches -= 1
        if depth > _DEPTH or key in self._building or self._searches < 0:
            return _NONE
        alternatives = document.alternatives(schema)
        if isinstance(alternatives, str):
            return _NONE
        self._building.add(key)
        try:
            for alternative in alternatives:
                for candidate in self.samples(alternative, document, depth)[:50]:
                    try:
                        if document.valid(schema, candidate):
                            self._instances[key] = (schema, candidate)
                            return candidate
                    except _Undecided:
                        continue
            return _NONE
        finally:
            self._building.discard(key)

    def distinct(self, schema: Any, document: _Document, count: int, depth: int) -> list[Any]:
        """Up to ``count`` different values valid under ``schema``."""
        alternatives = document.alternatives(schema)
        pool: list[Any] = []
        if isinstance(alternatives, str) or depth > _DEPTH:
            return pool
        for alternative in alternatives:
            for candidate in self.samples(alternative, document, depth + 1)[:50]:
                if len(pool) >= count:
                    return pool
                try:
                    if candidate not in pool and document.valid(schema, candidate):
                        pool.append(candidate)
                except _Undecided:
                    continue
        return pool

    def samples(
        self,
        alternative: _Alternative,
        document: _Document,
        depth: int = 0,
        hints: Mapping[str, Sequence[int | float]] | None = None,
    ) -> list[Any]:
        """Values of the alternative's type, near its bounds (and the numeric keywords of
        ``hints``) first: candidates, not checked."""
        hints = hints or {}
        facets = alternative.facets
        kind = alternative.type
        if kind == "enum":
            return list(alternative.values)
        if kind == "null":
            return [None]
        if kind == "boolean":
            return [False, True]
        if kind in ("integer", "number"):
            return _number_samples(facets, kind == "integer", hints)
        if kind == "string":
            low = facets.get("minLength", 0)
            if low > MAX_BUILT_LENGTH:
                document.budget.note(
                    f"strings of at least {low:,} characters are longer than the "
                    f"{MAX_BUILT_LENGTH:,} this check builds"
                )
                return []
            return _string_samples(facets, hints)
        if depth > _DEPTH:
            return []
        if kind == "array":
            item = self.instance(facets.get("items", True), document, depth + 1)
            items = [item] if item is not _NONE else []
            low = facets.get("minItems", 0)
            if low > MAX_BUILT_ITEMS:
                document.budget.note(_too_many(low))
                return []
            wanted = [low, max(low, 1), max(low, 2), facets.get("maxItems", low)]
            wanted += [n + d for n in hints.get("minItems", []) for d in (-1, 0)]
            wanted += [n + d for n in hints.get("maxItems", []) for d in (0, 1)]
            sizes = dict.fromkeys(
                n for n in wanted if low <= n <= facets.get("maxItems", n) and n <= max(low, 64)
            )
            out: list[Any] = [items * n for n in sizes if items or n == 0]
            if facets.get("uniqueItems") is True or "uniqueItems" in hints:
                pool = self.distinct(
                    facets.get("items", True), document, max(sizes, default=0), depth
                )
                out += [pool[:n] for n in sizes if n <= len(pool)]
            return out
        base = self.minimal_object(alternative, document, depth)
        if base is _NONE:
            return []
        extra = _fresh(set(facets.get("properties", {})))
        return [base, {**base, extra: None}, {**base, extra: 0, _fresh({extra, *base}): ""}]


def _too_many(items: int) -> str:
    return (
        f"arrays of at least {items:,} items are more than the {MAX_BUILT_ITEMS:,} this check "
        f"builds"
    )


def _fresh(taken: set[str]) -> str:
    return next(f"extra{i or ''}" for i in range(len(taken) + 1) if f"extra{i or ''}" not in taken)


def _length(facets: Mapping[str, Any], low: str, high: str) -> str:
    return f"[{facets.get(low, 0)}, {facets.get(high, 'unbounded')}]"


def _number_samples(
    facets: Mapping[str, Any], integer: bool, hints: Mapping[str, Sequence[int | float]]
) -> list[Any]:
    low, high = _numeric_bounds(facets, integer)
    anchors = [Fraction(0), Fraction(1), Fraction(-1), Fraction(10**9), Fraction(-(10**9))]
    for keyword in _NUMERIC - {"multipleOf"}:
        for value in hints.get(keyword, []):
            anchors += [_fraction(value) + d for d in (0, 1, -1, Fraction(1, 2), Fraction(-1, 2))]
    for bound in (low, high):
        if bound is not None:
            anchors += [bound.value + d for d in (0, 1, -1, Fraction(1, 2), Fraction(-1, 2))]
    if low is not None and high is not None:
        anchors.append((low.value + high.value) / 2)
    step = facets.get("multipleOf")
    if step is not None:
        unit = _fraction(step)
        anchors += [unit, -unit, 3 * unit]
        anchors += [math.floor(a / unit) * unit for a in list(anchors)]
        anchors += [math.ceil(a / unit) * unit for a in list(anchors)]
    out: list[Any] = []
    for anchor in anchors:
        if (integer and anchor.denominator != 1) or not _fits(anchor):
            continue
        value = _number(anchor)
        if value not in out:
            out.append(value)
    if not integer:
        out += [v for v in (0.5, -0.5, 1.5) if v not in out]
    return out


def _string_samples(
    facets: Mapping[str, Any], hints: Mapping[str, Sequence[int | float]]
) -> list[str]:
    low = facets.get("minLength", 0)
    high = facets.get("maxLength", 4096)
    wanted = [low, low + 1, 0, 1, 8, max(low, 3) + 2]
    wanted += [high, high - 1] if "maxLength" in facets else []
    wanted += [int(n) - 1 for n in hints.get("minLength", [])]
    wanted += [int(n) + 1 for n in hints.get("maxLength", [])]
    lengths = dict.fromkeys(n for n in wanted if low <= n <= high and n <= MAX_BUILT_LENGTH)
    out = [c * n for n in lengths for c in ("a", "A", "0", " ", "-")]
    out += ["abc", "ABC", "a1", "a b", "a@b.c", "2024-01-01", "x" * 64]
    return list(dict.fromkeys(out))
