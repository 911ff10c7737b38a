"""Hypothesis strategies for hostile inputs: JSON values, and mutations of a seed corpus (as
Python values and as the bytes of their JSON text)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

_TEXT = st.text(max_size=24) | st.sampled_from(["", " ", "é", "\x00", "\ud800", "dp_", "inv_"])
_NUMBERS = (
    st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, -1, 1, 2**63, 2**64, 2**64 - 1, 10**400])
    | st.floats(allow_nan=False, allow_infinity=False)
)
#: Any JSON value, small.
json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | _NUMBERS | _TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_TEXT, children, max_size=4),
    max_leaves=10,
)


class _Opaque:
    """An object that is no JSON value at all."""

    def __repr__(self) -> str:
        return "<opaque>"


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


#: Python values that JSON text cannot hold: what a caller passing a ``Mapping`` may give.
hostile_values: st.SearchStrategy[Any] = st.sampled_from(
    [
        float("nan"),
        float("inf"),
        -float("inf"),
        b"bytes",
        bytearray(b"x"),
        _Opaque(),
        {1: "a non-string key"},
        {None: 1},
        (1, 2),
        {"a", "set"},
        "x" * 200_000,
        _nested(150),
        _nested(5_000),
    ]
)


def _copy(value: Any) -> Any:
    """A copy of the lists and dicts of ``value`` (however deep; other values are shared)."""
    if not isinstance(value, dict | list):
        return value
    root: Any = {} if isinstance(value, dict) else []
    stack = [(value, root)]
    while stack:
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, child in items:
            if isinstance(child, dict | list):
                copied: Any = {} if isinstance(child, dict) else []
                stack.append((child, copied))
            else:
                copied = child
            if isinstance(target, dict):
                target[key] = copied
            else:
                target.append(copied)
    return root


def _paths(value: Any, limit: int = 400) -> list[tuple[Any, Any]]:
    """Every (container, key) in ``value``, breadth first, at most ``limit``."""
    found: list[tuple[Any, Any]] = []
    queue = [value]
    while queue and len(found) < limit:
        node = queue.pop(0)
        if isinstance(node, dict):
            items: list[tuple[Any, Any]] = list(node.items())
        elif isinstance(node, list):
            items = list(enumerate(node))
        else:
            continue
        for key, child in items:
            found.append((node, key))
            queue.append(child)
    return found


def _as_text(value: Any) -> str:
    """``str(value)``, or a stand-in for a value too deep (or too large) to print."""
    try:
        return str(value)
    except (RecursionError, ValueError):
        return "[" * 200


@st.composite
def mutated_values(draw: st.DrawFn, seed: Any, hostile: bool = False) -> Any:
    """``seed`` (a JSON value) changed in one to three places: a member removed or replaced by
    another value (of another type, deeply nested, huge), a list item doubled, a copy of the
    whole put inside itself. ``hostile`` also puts in values JSON cannot hold."""
    value = _copy(seed)
    replacement = json_values | hostile_values if hostile else json_values
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(value)
        if not paths:
            return _copy(draw(replacement))
        container, key = draw(st.sampled_from(paths))
        operation = draw(
            st.sampled_from(["delete", "replace", "replace", "nest", "double", "self", "type"])
        )
        if operation == "delete":
            del container[key]
        elif operation == "replace":
            container[key] = _copy(draw(replacement))  # never change a shared value
        elif operation == "nest":
            inner = container[key]
            for _ in range(draw(st.sampled_from([2, 50, 127, 128, 129, 400]))):
                inner = draw(st.sampled_from([[inner], {"k": inner}]))
            container[key] = inner
        elif operation == "double" and isinstance(container, list):
            container.insert(key, _copy(container[key]))
        elif operation == "self":
            container[key] = _copy(value)
        else:
            old = container[key]
            swaps: list[Any] = [_as_text(old), [old], {"v": old}, None, True, 0, 1.5, -1]
            container[key] = draw(st.sampled_from(swaps))
    return value


_SPLICES = [
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e999",
    b"-0",
    b"\xff",
    b"\xc3",
    b"\x00",
    b'"\\ud800"',
    b"[" * 200,
    b"{",
    b"}",
    b",",
    b'"name": "twice", "name": "again", ',
    b"null",
]


@st.composite
def mutated_text(draw: st.DrawFn, seed: Any) -> bytes:
    """The JSON text of ``seed`` with one to three byte-level changes: cut short, bytes
    removed, replaced or inserted (``NaN``, invalid UTF-8, a key twice, deep nesting), or the
    whole wrapped 100 to 300 levels deep."""
    data = json.dumps(seed).encode()
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        operation = draw(st.sampled_from(["cut", "remove", "insert", "insert", "byte", "wrap"]))
        if operation == "cut":
            data = data[:at]
        elif operation == "remove":
            data = data[:at] + data[at + draw(st.integers(1, 16)) :]
        elif operation == "insert":
            splice = draw(st.sampled_from(_SPLICES) | st.binary(max_size=8))
            data = data[:at] + splice + data[at:]
        elif operation == "byte" and data:
            index = min(at, len(data) - 1)
            data = data[:index] + bytes([draw(st.integers(0, 255))]) + data[index + 1 :]
        else:
            depth = draw(st.integers(100, 300))
            data = b"[" * depth + data + b"]" * depth
    return data


def either(seed: Any, hostile: bool = True) -> st.SearchStrategy[Any]:
    """A mutated value (sometimes with values JSON cannot hold) or mutated JSON text of
    ``seed``, or ``seed`` itself."""
    return st.one_of(
        st.just(seed),
        mutated_values(seed, hostile=hostile),
        mutated_text(seed),
    )
