"""JSON that comes from outside the library: read strictly, within bounds, as the server reads it.

Restate's server decodes JSON with serde_json, which refuses ``NaN`` and ``Infinity`` (they are
not JSON), bytes that are not UTF-8, and nesting deeper than 127 arrays and objects (it refuses
the 128th); a Restate manifest with a key twice is refused too. Python's :mod:`json` takes all
of these, and raises a bare :class:`RecursionError` a little deeper. :func:`loads` reads JSON
the way the server does, and :func:`check_value` checks a value given as Python objects (a
manifest passed as a ``Mapping``) the same way. Both raise :class:`JsonError` with the
``$.path`` of the problem, which each caller turns into its own error (``InvalidManifest``,
``InvalidSnapshot``, ``StorageError``, ``AdminApiError``).

This is the one home of those bounds: every reader of outside JSON in the library goes through it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from .errors import quote

__all__ = ["MAX_DEPTH", "MAX_VALUES", "JsonError", "check_value", "loads"]

#: How deeply arrays and objects may nest: serde_json's recursion limit, which the server's
#: decoding has (restate-server 1.7.12 reads 127 levels and refuses the 128th).
MAX_DEPTH = 127
#: How many values (scalars and containers) :func:`check_value` looks at before it says the
#: value is too large: about what the largest manifest discovery reads (1 MiB) can hold.
MAX_VALUES = 1_000_000


class JsonError(ValueError):
    """JSON the library does not read: where (a ``$.path``) and why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{reason} @ {path}")
        self.path = path
        self.reason = reason


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)  # built in C: the hook costs one length comparison per object
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JsonError("$", f"the key {_describe(key)} appears twice in one object")
            seen.add(key)
    return out


def _constant(name: str) -> Any:
    raise JsonError("$", f"{name} is not a JSON value")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: serde_json's "number out of range"
        raise JsonError("$", f"the number {_describe(text)} is out of range")
    return value


def loads(
    data: str | bytes | bytearray, *, max_bytes: int | None = None, walk_depth: bool = True
) -> Any:
    """The JSON value of ``data``: UTF-8 text (a ``str``, or bytes in UTF-8), at most
    ``max_bytes`` long when given, with no ``NaN``/``Infinity``, no key twice in an object and
    at most :data:`MAX_DEPTH` levels of nesting. Raises :class:`JsonError` otherwise.

    ``walk_depth=False`` leaves out the walk that counts the levels of a value that parsed
    (nesting deep enough to exhaust the stack is still refused): for a document of a fixed shape
    whose reader refuses a value of the wrong shape anyway, and reads what is free-form in it
    through this module again (a registry snapshot: its kept manifests are read as manifests).
    The walk is a third of the time of reading a large snapshot."""
    if isinstance(data, bytes | bytearray):
        if max_bytes is not None and len(data) > max_bytes:
            raise JsonError("$", f"{len(data)} bytes is more than the limit of {max_bytes}")
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonError("$", f"not UTF-8 text: {exc}") from None
    elif isinstance(data, str):
        text = data
        if max_bytes is not None and len(text) > max_bytes:
            size = len(text.encode("utf-8", "surrogatepass"))
            if size > max_bytes:
                raise JsonError("$", f"{size} bytes is more than the limit of {max_bytes}")
    else:
        raise JsonError("$", f"expected JSON text (str or bytes), got {type(data).__name__}")
    try:
        value = json.loads(
            text, object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float
        )
    except JsonError:
        raise
    except RecursionError:
        raise JsonError("$", f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise JsonError("$", f"malformed JSON: {exc}") from None
    if walk_depth:
        _check_depth(value)
    return value


def _check_depth(value: Any) -> None:
    """Raise :class:`JsonError` if parsed JSON nests deeper than :data:`MAX_DEPTH`."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_DEPTH:
            raise JsonError("$", f"nested deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


#: A short quotation of a value in a message (one home: :func:`errors.quote`).
_describe = quote


def check_value(value: Any, path: str = "$", *, max_values: int = MAX_VALUES) -> None:
    """Raise :class:`JsonError` unless ``value`` is made of JSON values only (``None``, ``bool``,
    ``int``, finite ``float``, ``str``, lists or tuples, and mappings with ``str`` keys),
    nested at most :data:`MAX_DEPTH` levels (a value that contains itself is nested without
    end), with at most ``max_values`` values in all."""
    stack: list[tuple[Any, str, int]] = [(value, path, 1)]
    count = 0
    while stack:
        node, where, depth = stack.pop()
        count += 1
        if count > max_values:
            raise JsonError(path, f"it holds more than {max_values} values")
        if node is None or isinstance(node, str | bool | int):
            continue
        if isinstance(node, float):
            if not math.isfinite(node):
                raise JsonError(where, f"{node!r} is not a JSON value")
            continue
        if isinstance(node, Mapping | list | tuple):
            if depth > MAX_DEPTH:
                raise JsonError(where, f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(node, Mapping):
                for key, item in node.items():
                    if not isinstance(key, str):
                        raise JsonError(where, f"the key {_describe(key)} is not a string")
                    stack.append((item, f"{where}.{key}", depth + 1))
            else:
                stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(node))
            continue
        raise JsonError(where, f"{_describe(node)} ({type(node).__name__}) is not a JSON value")
