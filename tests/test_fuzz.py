"""Bounded fuzzing of the model's input surfaces: ids, endpoints and snapshots.

Each input either is accepted (and then is what it claims: an id that round-trips, an endpoint
discovery can request, a registry whose ``verify()`` is empty) or raises the library's own error;
never another exception, and never slowly: each input gets a time bound that catches a hang.
``FUZZ_EXAMPLES`` (default 150) sets how many inputs each surface tries.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from restate_versioning import (
    InvalidId,
    InvalidSnapshot,
    ManualClock,
    Registry,
    SequentialIds,
    VersioningError,
)
from restate_versioning.ids import (
    ALPHABET,
    deployment_id_from_ulid,
    invocation_id_from_parts,
    parse_deployment_id,
    parse_invocation_id,
)
from restate_versioning.serialization import dumps, loads

from .helpers import fuzz_settings, manifest, populate, service
from .test_endpoints import ENDPOINT_INPUTS, check_discovery_takes

pytestmark = pytest.mark.fuzz

#: Seconds any one input may take: far above the milliseconds each takes, far below a hang.
BOUND = 2.0

#: 150 inputs per surface in ``make test``; ``FUZZ_EXAMPLES`` sets more.
FUZZ = fuzz_settings(150)


class _Bounded:
    """Asserts that the block it guards ends within :data:`BOUND` seconds."""

    def __enter__(self) -> None:
        self._started = time.monotonic()

    def __exit__(self, *_: object) -> None:
        elapsed = time.monotonic() - self._started
        assert elapsed < BOUND, f"one input took {elapsed:.2f} s"


# --- ids ------------------------------------------------------------------------------------

_NEAR_IDS = st.builds(
    "{}{}".format,
    st.sampled_from(["dp_1", "inv_1", "dp_", "inv_", "dp_2", "DP_1", "", "inv_1dp_1"]),
    st.text(alphabet=ALPHABET + "_-+./é \x00", max_size=40),
)
ID_INPUTS: st.SearchStrategy[object] = st.one_of(
    _NEAR_IDS,
    st.integers(0, (1 << 128) - 1).map(deployment_id_from_ulid),
    st.tuples(st.integers(0, (1 << 64) - 1), st.integers(0, (1 << 128) - 1)).map(
        lambda parts: invocation_id_from_parts(*parts)
    ),
    st.text(max_size=50),
    st.none(),
    st.integers(),
    st.floats(),
    st.binary(max_size=30),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


@FUZZ
@given(ID_INPUTS)
def test_any_id_is_parsed_exactly_or_refused_with_invalid_id(value: object) -> None:
    """An id either parses and round-trips to the same text, or raises :class:`InvalidId`;
    the registry's id queries raise the library's error for it (or find nothing)."""
    registry = Registry(ids=SequentialIds())
    with _Bounded():
        surfaces: list[tuple[Callable[[object], Any], Callable[[Any], str]]] = [
            (parse_deployment_id, lambda p: deployment_id_from_ulid(p.ulid)),
            (parse_invocation_id, lambda p: invocation_id_from_parts(p.partition_key, p.uuid)),
        ]
        for parse, rebuild in surfaces:
            refused: InvalidId | None = None
            try:
                parsed: Any = parse(value)
            except InvalidId as exc:
                refused = exc
            else:
                assert rebuild(parsed) == value
            assert refused is None or refused.value is value
        for query in (registry.deployment, registry.invocation, registry.removal_plan):
            with pytest.raises(VersioningError):
                query(value)  # type: ignore[arg-type]


MANIFEST = manifest(service("Greeter"))

# --- endpoints ------------------------------------------------------------------------------


@FUZZ
@given(ENDPOINT_INPUTS)
def test_any_endpoint_is_one_discovery_can_request_or_is_refused(text: str) -> None:
    """Generated and mutated endpoints: accepted ones are ones httpx takes and builds the
    discovery request for; refused ones raise :class:`InvalidEndpoint`; within the bound."""
    with _Bounded():
        check_discovery_takes(text)


@FUZZ
@given(ENDPOINT_INPUTS)
def test_registering_any_endpoint_keeps_no_secret_and_changes_nothing_on_refusal(
    text: str,
) -> None:
    """Registering any endpoint either creates a deployment whose endpoint holds no user or
    password (only ``***@``), or raises the library's error, which quotes no ``...@`` it was
    given, and leaves the registry as it was."""
    registry = Registry(ids=SequentialIds())
    before = registry.snapshot()
    with _Bounded():
        try:
            kept = registry.register(text, MANIFEST).deployment.endpoint
        except VersioningError as exc:
            assert registry.snapshot() == before
            # every "secret@" is hidden; a "secret" that is not before an "@" is no credential
            allowed = text.count("secret") - text.count("secret@")
            for shown in (str(exc), repr(getattr(exc, "endpoint", ""))):
                assert shown.count("secret") <= allowed, shown
        else:
            assert registry.verify() == ()
            if not kept.startswith("arn:"):
                assert urlsplit(kept).password is None
                assert urlsplit(kept).username in (None, "***")


# --- snapshots ------------------------------------------------------------------------------


def _base() -> str:
    clock = ManualClock()
    registry = populate(Registry(clock=clock, ids=SequentialIds()), clock)
    clock.advance(timedelta(seconds=1))
    return dumps(registry)


BASE = _base()
BASE_DOCUMENT = json.loads(BASE)

ODD_TIMES = st.one_of(
    st.sampled_from(
        [
            "9999-12-31T23:59:59-14:00",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59.999999+00:00",
            "2026-13-01T00:00:00+00:00",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00+24:00",
            "+99999-01-01T00:00:00Z",
            "2026-01-01T00:00:00Z" * 1000,
            "",
        ]
    ),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.integers(),
    st.floats(allow_nan=False),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


def _places(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value inside a document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key)
            yield from _places(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*path, index)
            yield from _places(value, (*path, index))


PLACES = list(_places(BASE_DOCUMENT))
TIME_PLACES = [p for p in PLACES if p[-1] in ("created_at", "execute_at")]
INBOX_PLACES = [p for p in PLACES if len(p) == 3 and p[:2] == ("registry", "inboxes")]


def _at(document: Any, path: tuple[Any, ...]) -> tuple[Any, Any]:
    node = document
    for step in path[:-1]:
        node = node[step]
    return node, path[-1]


@st.composite
def mutated_snapshots(draw: st.DrawFn) -> str | bytes:
    """A busy registry's snapshot, mutated: byte flips, deleted keys, duplicated inbox
    entries, odd and huge timestamps, deep nesting, values replaced by other JSON."""
    kind = draw(st.sampled_from(["flip", "delete", "inbox", "time", "deep", "replace"]))
    if kind == "flip":
        data = bytearray(BASE.encode())
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    document = copy.deepcopy(BASE_DOCUMENT)
    if kind == "delete":
        node, key = _at(document, draw(st.sampled_from(PLACES)))
        del node[key]
    elif kind == "inbox":
        node, key = _at(document, draw(st.sampled_from(INBOX_PLACES)))
        inbox = node[key]
        if draw(st.booleans()):
            inbox[2].append(draw(st.sampled_from(inbox[2])))
        else:
            node.append(copy.deepcopy(inbox))
    elif kind == "time":
        node, key = _at(document, draw(st.sampled_from(TIME_PLACES)))
        node[key] = draw(ODD_TIMES)
    elif kind == "replace":
        node, key = _at(document, draw(st.sampled_from(PLACES)))
        node[key] = draw(JSON_VALUES)
    text = json.dumps(document)
    if kind == "deep":
        depth = draw(st.integers(100, 5000))
        at = draw(st.integers(0, len(text)))
        text = text[:at] + "[" * depth + "]" * depth + text[at:]
    return text


@FUZZ
@given(mutated_snapshots())
def test_any_mutated_snapshot_is_refused_or_loads_a_consistent_registry(
    text: str | bytes,
) -> None:
    """A mutated snapshot raises :class:`InvalidSnapshot`, or loads a registry whose
    ``verify()`` is empty and that round-trips exactly; never another exception."""
    with _Bounded():
        try:
            registry = loads(text)
        except InvalidSnapshot as exc:
            problems = exc.problems
        else:
            problems = ()
        if problems:
            return
        assert registry.verify() == ()
        assert loads(dumps(registry)).snapshot() == registry.snapshot()
