"""``POST /query``: SQL over the registry's tables (:mod:`restate_versioning.server.tables`),
answered by Apache DataFusion, the engine restate-server itself answers with.

Only queries run: DataFusion is told to refuse DDL, DML and statements, so nothing can change a
table. A query is planned first over empty tables; the columns its optimized plan scans are
the ones built from the registry (the others of a table it reads are null, the tables it does
not read empty), and what was built is kept until the registry changes.
``information_schema`` is DataFusion's own, over the same tables, so it lists the columns the
server lists. The answer is an Arrow IPC stream (``application/vnd.apache.arrow.stream``), or,
for ``Accept: application/json``, ``{"rows": [...]}``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
from datafusion import SessionConfig, SessionContext, SQLOptions
from starlette.responses import Response

from .problems import HttpProblem
from .state import ServedRegistry
from .tables import TABLES, build_table, schema_of

__all__ = ["ARROW_STREAM", "QueryEngine"]

#: The content type of an Arrow IPC stream answer.
ARROW_STREAM = "application/vnd.apache.arrow.stream"

_NAMES = re.compile(
    r"\b(" + "|".join(sorted(TABLES, key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)
_SERVER_ERRORS = re.compile(
    r"table '[^']*' not found|This feature is not implemented|^Datafusion error: Schema error"
)
#: What a newer DataFusion adds to a message that the server's does not say.
_SUGGESTION = re.compile(r" Did you mean '[^']*'\?\n")
_OPTIONS = SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)


class QueryEngine:
    """Answers ``POST /query`` for one served registry."""

    def __init__(self, served: ServedRegistry) -> None:
        self._served = served
        self._key: object = None
        #: the tables built for the state ``_key``, with the columns each was built with
        self._tables: dict[str, tuple[pa.Table, frozenset[str] | None]] = {}

    def _context(self, tables: Mapping[str, pa.Table]) -> SessionContext:
        config = SessionConfig().with_information_schema(True)
        # the server's catalog: "table 'restate.public.nope' not found"
        context = SessionContext(config.with_default_catalog_and_schema("restate", "public"))
        for name in TABLES:
            table = tables.get(name)
            if table is None:
                table = schema_of(name).empty_table()
            context.register_record_batches(name, [table.to_batches() or [_empty(table)]])
        return context

    def _read(self, sql: str) -> dict[str, frozenset[str] | None]:
        """The columns of each table ``sql`` reads (``None``: every one), as DataFusion's
        optimizer projects its scans; a table named where no scan shows it (in a subquery of
        an expression) is read whole. Raises :class:`HttpProblem` for SQL it refuses."""
        plan = self._plan(self._context({}), sql).optimized_logical_plan()
        read: dict[str, frozenset[str] | None] = {}
        pending = [plan]
        while pending:
            node = pending.pop()
            pending.extend(node.inputs())
            variant = node.to_variant()
            if type(variant).__name__ != "TableScan":
                continue
            schema, _, table = str(variant.table_name()).rpartition(".")
            if table not in TABLES or schema.endswith("information_schema"):
                continue  # DataFusion's own
            projection = variant.projection()
            columns = None if not projection else frozenset(name for _, name in projection)
            if table in read and (read[table] is None or columns is None):
                read[table] = None
            else:
                read[table] = (read.get(table) or frozenset()) | (columns or frozenset())
        for table in {m.lower() for m in _NAMES.findall(sql)} - set(read):
            read[table] = None
        return read

    def tables(self, sql: str) -> dict[str, pa.Table]:
        """The tables ``sql`` reads, built from the registry now (the columns it reads, the
        others null), or kept from an earlier query while the registry has not changed."""
        read = self._read(sql)
        with self._served.lock:
            registry = self._served.queries()
            key = self._served.state_key()
            if key != self._key:
                self._key, self._tables = key, {}
            out: dict[str, pa.Table] = {}
            for name, columns in read.items():
                kept = self._tables.get(name)
                if kept is not None and (
                    kept[1] is None or (columns is not None and columns <= kept[1])
                ):
                    out[name] = kept[0]
                    continue
                if kept is not None and columns is not None:
                    columns = columns | (kept[1] or frozenset())
                if kept is not None and kept[1] is None:
                    columns = None
                (table,) = build_table(
                    registry,
                    [name],
                    self._served.failures,
                    {name: columns},
                    self._served.idempotency_keys,
                ).values()
                self._tables[name] = (table, columns)
                out[name] = table
            return out

    @staticmethod
    def _plan(context: SessionContext, sql: str) -> Any:
        try:
            return context.sql_with_options(sql, _OPTIONS)
        except Exception as exc:  # DataFusion raises ValueError / Exception subclasses
            message = _SUGGESTION.sub(" ", f"Datafusion error: {exc}")
            # the server: 500 for a table it does not have or SQL it does not implement
            status = 500 if _SERVER_ERRORS.search(message) else 400
            raise HttpProblem(status, message, coded=False) from exc

    def run(self, sql: str) -> pa.Table:
        """The answer to ``sql``; :class:`HttpProblem` (400, or 500 as the server) with
        DataFusion's message if it refuses it."""
        frame = self._plan(self._context(self.tables(sql)), sql)
        try:
            return frame.to_arrow_table()
        except Exception as exc:
            raise HttpProblem(500, f"Datafusion error: {exc}", coded=False) from exc

    def answer(self, sql: str, wants_json: bool) -> Response:
        """The HTTP answer to ``sql``: JSON rows, or an Arrow IPC stream."""
        table = self.run(sql)
        if wants_json:
            # the server leaves a null out of its row
            rows = [
                {k: _json_value(v) for k, v in row.items() if v is not None}
                for row in table.to_pylist()
            ]
            return Response(
                json.dumps({"rows": rows}, separators=(",", ":"), ensure_ascii=False).encode(),
                media_type="application/json",
            )
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return Response(sink.getvalue().to_pybytes(), media_type=ARROW_STREAM)


def _empty(table: pa.Table) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=table.schema)


def _json_value(value: Any) -> Any:
    """A value as the server's JSON rows show it: times in UTC with ``Z`` and no zero
    fraction, durations as ``PT86400S``, bytes in lowercase hex, NaN and infinities null."""
    if isinstance(value, dt.datetime):
        utc = value.astimezone(dt.UTC)
        spec = "milliseconds" if utc.microsecond else "seconds"
        return utc.isoformat(timespec=spec).replace("+00:00", "Z")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dt.timedelta):  # as the server prints one: "PT86400S"
        seconds = value.total_seconds()
        return f"PT{int(seconds) if seconds == int(seconds) else seconds}S"
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _json_value(v) for k, v in value.items()}
    return value
