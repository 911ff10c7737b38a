"""How the server reads a request: its body and its query string, and the words it refuses
them with (restate-server 1.7.12 reads them with axum's extractors over serde_json).

* A body over :data:`MAX_BODY_BYTES` is 413, in plain text.
* A JSON body needs ``Content-Type: application/json`` (415, in plain text).
* JSON that does not parse is 400 ``Failed to parse the request body as JSON: ...``, and JSON
  of the wrong shape is 422 ``Failed to deserialize the JSON body into the target type: ...``,
  both in plain text and in serde_json's words, with its ``at line L column C`` and the field
  the problem is in (``query: invalid type: integer `5`, expected a string``). The parse
  errors are jiter's, which words them as serde_json does; the shape is checked here, against
  a :class:`Struct` (the fields the server's request type has, in its order), field by field in
  the order of the document, as serde reads them. Unknown fields are ignored, as the server
  ignores them.
* An untagged enum, a sequence of :class:`Struct` (``POST /deployments``: by ``uri`` or by
  ``arn``), is read as its first variant that fits, and refused without a place: serde reads
  the whole value first, then tries each variant. A duration is read as the server reads one
  (:func:`~restate_versioning._durations.parse_duration`).
* A boolean in a query string is ``true`` or ``false``, else 400 in plain text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import jiter
from starlette.requests import Request

from .._durations import DurationError, parse_duration
from .problems import HttpProblem

__all__ = ["EXPECTED", "MAX_BODY_BYTES", "Struct", "body_bytes", "flag", "json_body", "read_struct"]

#: The largest request body read, in bytes (the server refuses a 2 MB one: 413).
MAX_BODY_BYTES = 2 * 1024 * 1024

_UNPARSED = "Failed to parse the request body as JSON"
_UNREADABLE = "Failed to deserialize the JSON body into the target type"

#: What serde says a field of each kind expects.
EXPECTED: Mapping[str, str] = {
    "string": "a string",
    "boolean": "a boolean",
    "map": "a map",
    "duration": "a human-friendly duration string",
    "integer": "an integer",
    "any": "any value",
}


@attrs.frozen
class Struct:
    """A request type of the server: its ``name``, its ``fields`` (name to kind, a key of
    :data:`EXPECTED`) in declaration order, those that are ``required`` (the others may be
    missing or ``null``), and those that must be ``present`` even if ``null``. Given as a
    sequence (serde takes one for a struct: its fields in order), the missing fields of a
    struct with ``sequence_defaults`` take their defaults; those of one without are refused."""

    name: str
    fields: Mapping[str, str]
    required: frozenset[str] = frozenset()
    present: frozenset[str] = frozenset()
    sequence_defaults: bool = True


async def body_bytes(request: Request) -> bytes:
    """The request's body, or the server's 413 for one over :data:`MAX_BODY_BYTES`."""
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HttpProblem(
                413, "Failed to buffer the request body: length limit exceeded", text=True
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(
    request: Request, shape: Struct | Sequence[Struct], *, strict: bool = True
) -> dict[str, Any]:
    """The request's JSON body read as ``shape`` (see the module docstring): the fields it
    has, by name (``null`` and missing ones left out; a duration as its milliseconds).
    ``strict=False`` (the control API, not the server's) needs no content type, and reads an
    empty body as ``{}``."""
    if strict and not request.headers.get("content-type", "").startswith("application/json"):
        raise HttpProblem(415, "Expected request with `Content-Type: application/json`", text=True)
    raw = await body_bytes(request)
    if not strict and not raw.strip():
        raw = b"{}"
    return read_struct(raw, shape)


def read_struct(raw: bytes, shape: Struct | Sequence[Struct]) -> dict[str, Any]:
    """``raw`` read as ``shape``, or :class:`HttpProblem` 400 or 422 in the server's words.
    A sequence of structs is an untagged enum: the first variant that reads it."""
    variants = (shape,) if isinstance(shape, Struct) else tuple(shape)
    untagged = not isinstance(shape, Struct)
    reader = _Reader.of(raw)
    try:
        value = jiter.from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        where = None if untagged else reader.field_at(str(exc))
        message = _in(where, reader.parse_error(str(exc)))
        raise HttpProblem(400, f"{_UNPARSED}: {message}", text=True) from None
    for variant in variants:
        try:
            return reader.read(variant, value)
        except _Refused as refused:
            if not untagged:
                raise HttpProblem(422, f"{_UNREADABLE}: {refused}", text=True) from None
    why = f"data did not match any variant of untagged enum {variants[0].name}"
    raise HttpProblem(422, f"{_UNREADABLE}: {why}", text=True)


def flag(request: Request, name: str) -> bool:
    """The boolean query parameter ``name`` (``false`` if missing), or the server's 400."""
    value = request.query_params.get(name, "false")
    if value not in ("true", "false"):
        raise HttpProblem(
            400,
            f"Failed to deserialize query string: {name}: provided string was not "
            "`true` or `false`",
            text=True,
        )
    return value == "true"


def _in(field: str | None, message: str) -> str:
    return message if field is None else f"{field}: {message}"


class _Refused(Exception):
    """JSON of the wrong shape, in serde's words (with its place)."""


def _unexpected(value: Any) -> str:
    """How serde names a value it did not expect."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value!r}`"
    if isinstance(value, str):
        return f"string {json.dumps(value, ensure_ascii=False)}"
    return "sequence" if isinstance(value, list) else "map"


_KINDS: Mapping[str, type | tuple[type, ...]] = {
    "string": str,
    "boolean": bool,
    "map": dict,
    "duration": str,
    "integer": int,
    "any": object,
}


class _Reader:
    """The top level of a JSON document that parsed, read as serde reads a struct: each value
    with the place serde reports it at (``line L column C``)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._decoder = json.JSONDecoder()
        #: each top-level key, in document order: where it ends, where its value starts and
        #: ends, and the value (``None`` for one that does not parse)
        self.spans: list[tuple[str, int, int, int, Any]] = []

    @classmethod
    def of(cls, raw: bytes) -> _Reader:
        reader = cls(raw.decode("utf-8", "replace"))
        reader._scan()
        return reader

    def place(self, index: int) -> str:
        """serde_json's place after reading ``index`` characters."""
        line = self.text.count("\n", 0, index) + 1
        start = self.text.rfind("\n", 0, index) + 1
        return f"at line {line} column {index - start}"

    def _skip(self, index: int) -> int:
        while index < len(self.text) and self.text[index] in " \t\r\n":
            index += 1
        return index

    def _scan(self) -> None:
        """The keys of a top-level object and where their values are, as far as they parse."""
        text = self.text
        index = self._skip(0)
        if not text.startswith("{", index):
            return
        index = self._skip(index + 1)
        while index < len(text) and text[index] == '"':
            try:
                key, key_end = self._decoder.raw_decode(text, index)
            except ValueError:
                return  # the key does not parse: the error is in no field
            start = self._skip(key_end)
            if not text.startswith(":", start):
                return
            start = self._skip(start + 1)
            try:
                value, end = self._decoder.raw_decode(text, start)
            except ValueError:  # the value does not parse: the error is in this field
                self.spans.append((key, key_end, start, len(text) + 1, None))
                return
            self.spans.append((key, key_end, start, end, value))
            index = self._skip(end)
            if not text.startswith(",", index):
                return
            index = self._skip(index + 1)

    def field_at(self, error: str) -> str | None:
        """The top-level key whose value a parse error (``... at line L column C``) is in."""
        index = self._index_of(error)
        for key, _, start, end, _ in self.spans:
            if start <= index < end:
                return key
        return None

    def _index_of(self, error: str) -> int:
        _, _, where = error.rpartition(" at line ")
        line_text, _, column_text = where.partition(" column ")
        line, column = int(line_text), int(column_text)
        start = 0
        for _ in range(line - 1):
            start = self.text.index("\n", start) + 1
        return start + column

    def parse_error(self, error: str) -> str:
        """jiter's words for a parse error, placed as serde_json places it: an invalid code
        point in a string is reported once the string is read (after its closing quote)."""
        if not error.startswith("invalid unicode code point"):
            return error
        index = self._index_of(error)
        closing = self.text.find('"', index)
        return f"invalid unicode code point {self.place(closing + 1 if closing >= 0 else index)}"

    def read(self, struct: Struct, value: Any) -> dict[str, Any]:
        """The document, whose JSON value is ``value``, as ``struct``; :class:`_Refused` in
        serde's words otherwise."""
        if isinstance(value, list):
            return self._read_sequence(value, struct)
        if not isinstance(value, dict):  # a scalar: reported once it is read
            end = self._decoder.raw_decode(self.text, self._skip(0))[1]
            raise _Refused(
                f"invalid type: {_unexpected(value)}, expected struct {struct.name} "
                f"{self.place(end)}"
            )
        out: dict[str, Any] = {}
        seen: set[str] = set()
        for key, key_end, start, end, item in self.spans:
            if key not in struct.fields:
                continue
            if key in seen:
                raise _Refused(f"duplicate field `{key}` {self.place(key_end)}")
            seen.add(key)
            read = self._field(struct, key, item, start, end)
            if read is not None:
                out[key] = read
        for name in struct.fields:
            if (name in struct.required and name not in out) or (
                name in struct.present and name not in seen
            ):
                raise _Refused(f"missing field `{name}` {self.place(len(self.text.rstrip()))}")
        return out

    def _element_spans(self) -> list[tuple[int, int]]:
        """Where each element of a top-level array (that parsed) starts and ends."""
        text = self.text
        index = self._skip(self._skip(0) + 1)
        spans = []
        while index < len(text) and text[index] != "]":
            _, end = self._decoder.raw_decode(text, index)
            spans.append((index, end))
            index = self._skip(end)
            if text.startswith(",", index):
                index = self._skip(index + 1)
        return spans

    def _field(
        self, struct: Struct, key: str, item: Any, start: int, end: int, *, label: str = ""
    ) -> Any:
        """``item`` read as ``struct``'s field ``key`` (a duration as its milliseconds), or
        refused as serde words it: with the place it was read at, after ``label`` (the field,
        by default ``key``)."""
        label = label or key
        kind = struct.fields[key]
        if item is None and key not in struct.required:
            return None
        wanted = _KINDS[kind]
        if kind == "any" or (
            isinstance(item, wanted) and not (kind != "boolean" and isinstance(item, bool))
        ):
            if kind == "duration":
                try:
                    return parse_duration(item)
                except DurationError as exc:
                    raise _Refused(f"{label}: {exc} {self.place(end)}") from None
            return item
        # serde reports a map or a sequence where it starts, anything else once it is read
        place = self.place(start if isinstance(item, dict | list) else end)
        raise _Refused(
            f"{label}: invalid type: {_unexpected(item)}, expected {EXPECTED[kind]} {place}"
        )

    def _read_sequence(self, items: Sequence[Any], struct: Struct) -> dict[str, Any]:
        """A struct given as a sequence: its fields in declaration order (serde takes one)."""
        names = list(struct.fields)
        needed = len(struct.required) if struct.sequence_defaults else len(names)
        if len(items) < needed:
            count = len(names)
            place = self.place(len(self.text.rstrip()))
            raise _Refused(
                f"invalid length {len(items)}, expected struct {struct.name} with "
                f"{count} element{'s' if count != 1 else ''} {place}"
            )
        out: dict[str, Any] = {}
        spans = self._element_spans()
        for index, (name, item) in enumerate(zip(names, items, strict=False)):
            start, end = spans[index]
            read = self._field(struct, name, item, start, end, label=f"[{index}]")
            if read is not None:
                out[name] = read
        return out
