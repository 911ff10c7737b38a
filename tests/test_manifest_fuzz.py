"""Fuzzing manifests: whatever an endpoint answers, reading and registering it either works or
raises the library's own error, quickly, and a refusal changes nothing.

The inputs are the real manifests of ``tests/data/`` (what restate-sdk 1.3.0 answers and the 54
manifests restate-server 1.7.12 was sent), mutated as text (bytes flipped, truncated) and as
values (deep nesting, huge numbers and strings, ``NaN``, a key twice, values of the wrong type,
broken state declarations spliced in), and manifests and JSON values generated from nothing.
Each must make :meth:`EndpointManifest.from_json` return a manifest or raise
:class:`InvalidManifest`, and ``Registry.register`` succeed or raise a
:class:`VersioningError` that leaves ``registry.snapshot()`` as it was, all within
:data:`TIME_BOUND` seconds.

``make test`` runs a few examples of each; ``FUZZ_EXAMPLES=5000`` runs more.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from restate_versioning import (
    STATE_METADATA_PREFIX,
    EndpointManifest,
    InvalidManifest,
    Registry,
    SequentialIds,
    VersioningError,
)
from restate_versioning.testing.strategies import manifests

from .helpers import DATA, SDK_MANIFEST, V1, V2, fuzz_settings

pytestmark = pytest.mark.fuzz

#: Seconds one input may take, reading and registering it twice: enough on a loaded machine,
#: far less than a hang or a quadratic blow-up on a 1 MiB input would take.
TIME_BOUND = 5.0

#: 60 inputs per test in ``make test``; ``FUZZ_EXAMPLES`` sets more.
FUZZ = fuzz_settings(60)

#: The real manifests the mutations start from.
SEEDS: list[dict[str, Any]] = [SDK_MANIFEST] + [
    case["manifest"]
    for case in json.loads((DATA / "restate-1.7.12-manifest-cases.json").read_text())["cases"]
]

#: JSON text the server does not decode, or that is very large or deep: spliced in for a value.
HOSTILE_TEXT = st.one_of(
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "18446744073709551616"]),
    st.integers(100, 20_000).map(lambda n: "[" * n + "]" * n),
    st.integers(100, 5_000).map(lambda n: '{"a": ' * n + "{}" + "}" * n),
    st.integers(4_000, 6_000).map(lambda n: "9" * n),
    st.integers(10_000, 600_000).map(lambda n: json.dumps("x" * n)),
    st.just('{"k": 1, "k": 2}'),
    st.just('"\\ud800"'),
)
#: Python values a ``Mapping`` may hold that JSON cannot, or that are very large or deep.
HOSTILE_VALUES = st.one_of(
    st.sampled_from([float("nan"), float("inf"), {1, 2}, b"bytes", object(), {1: "one"}]),
    st.integers(100, 5_000).map(lambda n: _deep(n)),
    st.integers(2**64 - 2, 2**64 + 2),
    st.integers(4_400, 5_000).map(lambda digits: 10**digits),  # too long for str()
    st.integers(4_400, 5_000).map(lambda digits: {10**digits: 1}),  # a key too long to print
    st.integers(10_000, 100_000).map(lambda n: "x" * n),
    st.just((({"a": [1]},),)),
)
JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
#: Keys a mutation may add to an object: the fields the manifest knows, and one it does not.
FIELDS = st.sampled_from(
    ["name", "ty", "handlers", "services", "metadata", "input", "output", "jsonSchema",
     "protocolMode", "minProtocolVersion", "inactivityTimeout", "ingressPrivate", "unknown"]
)  # fmt: skip
PLACEHOLDER = "\x00fuzz\x00"


def _deep(levels: int) -> Any:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _containers(document: Any) -> list[Any]:
    """Every object and array in ``document``, without recursion."""
    found: list[Any] = []
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            found.append(node)
            stack.extend(node)
    return found


def _put(draw: st.DrawFn, document: Any, value: Any) -> None:
    """Set a value of some object or array in ``document`` to ``value`` (or add it)."""
    container = draw(st.sampled_from(_containers(document)))
    if isinstance(container, dict):
        keys = [*container, draw(FIELDS)]
        container[draw(st.sampled_from(keys))] = value
    elif container and draw(st.booleans()):
        container[draw(st.integers(0, len(container) - 1))] = value
    else:
        container.append(value)


@st.composite
def mutated_text(draw: st.DrawFn) -> bytes:
    """A real manifest as UTF-8 JSON text, mutated: bytes flipped, cut short, a value replaced
    by hostile text, a key doubled, a state declaration of hostile text added."""
    document = _copy(draw(st.sampled_from(SEEDS)))
    kind = draw(st.sampled_from(["flip", "truncate", "splice", "twice", "state", "wrong-type"]))
    if kind == "splice":
        _put(draw, document, PLACEHOLDER)
    elif kind == "twice":
        objects = [c for c in _containers(document) if isinstance(c, dict) and c]
        target = draw(st.sampled_from(objects))
        target[PLACEHOLDER] = draw(JSON_VALUES)
    elif kind == "state":
        services = document["services"] or [{"name": "S", "ty": "VIRTUAL_OBJECT", "handlers": []}]
        document["services"] = services
        service = draw(st.sampled_from(services))
        service.setdefault("metadata", {})[f"{STATE_METADATA_PREFIX}cart"] = PLACEHOLDER
    elif kind == "wrong-type":
        _put(draw, document, draw(JSON_VALUES))
    text = json.dumps(document)
    quoted = json.dumps(PLACEHOLDER)
    if kind == "splice":
        text = text.replace(quoted, draw(HOSTILE_TEXT), 1)
    elif kind == "twice":
        key = draw(FIELDS)
        text = text.replace(quoted, json.dumps(key), 1)
    elif kind == "state":
        text = text.replace(quoted, json.dumps(draw(HOSTILE_TEXT)), 1)
    data = bytearray(text.encode())
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif kind == "truncate":
        del data[draw(st.integers(0, len(data) - 1)) :]
    return bytes(data)


@st.composite
def mutated_values(draw: st.DrawFn) -> Any:
    """A real manifest as Python values, with some value replaced by (or added as) a hostile
    one: not JSON, too deep, too large, or of the wrong type."""
    document = _copy(draw(st.sampled_from(SEEDS)))
    _put(draw, document, draw(HOSTILE_VALUES | JSON_VALUES))
    return document


def _registry() -> Registry:
    registry = Registry(ids=SequentialIds())
    registry.register(V1, SDK_MANIFEST)
    return registry


def reads_and_registers_safely(document: Any) -> None:
    """The property: ``from_json`` gives a manifest (which hashes and writes back to the same
    manifest) or :class:`InvalidManifest`; ``register`` of a new endpoint and a forced
    re-registration give a result or a :class:`VersioningError` that changes nothing; no
    other exception; all within :data:`TIME_BOUND`."""
    started = time.monotonic()
    try:
        parsed: EndpointManifest | None = EndpointManifest.from_json(document)
    except InvalidManifest:
        parsed = None
    if parsed is not None:
        hash(parsed)
        assert EndpointManifest.from_json(parsed.to_json()) == parsed
    registry = _registry()
    for endpoint, force in [(V2, False), (V1, True)]:
        before = registry.snapshot()
        try:
            registry.register(endpoint, document, force=force)
        except InvalidManifest:
            assert registry.snapshot() == before
        except VersioningError:
            assert parsed is not None  # what the parser refuses, register refuses the same way
            assert registry.snapshot() == before
        else:
            assert parsed is not None
    elapsed = time.monotonic() - started
    assert elapsed < TIME_BOUND, f"{elapsed:.1f} s for one input"


def _check(strategy: st.SearchStrategy[Any]) -> Callable[[], None]:
    @FUZZ
    @given(strategy)
    def run(document: Any) -> None:
        reads_and_registers_safely(document)

    return run


def test_mutated_real_manifests_as_text_are_read_or_refused_with_invalid_manifest() -> None:
    """Real manifests as UTF-8 text, mutated (see :func:`mutated_text`)."""
    _check(mutated_text())()


def test_mutated_real_manifests_as_values_are_read_or_refused_with_invalid_manifest() -> None:
    """Real manifests as Python values, mutated (see :func:`mutated_values`)."""
    _check(mutated_values())()


def test_generated_manifests_and_json_values_are_read_or_refused_with_invalid_manifest() -> None:
    """Valid generated manifests (as values and as text) and arbitrary JSON values (as values
    and as text) as a whole manifest."""
    documents = st.one_of(manifests(), JSON_VALUES, HOSTILE_VALUES)
    _check(documents | documents.filter(_dumpable).map(json.dumps))()


def _dumpable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return False
    return True
