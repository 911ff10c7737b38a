"""Deployment and invocation ids (docs/rules.md, "Deployments and their identity").

    Deployment ids look like ``dp_14QXqzxvV9BGkoegz0ssooN``: ``dp_``, the codec version ``1``,
    then a 128-bit ULID as 22 base62 characters (alphabet ``0-9a-zA-Z``, left-padded with
    ``0``). Restate's encoder swaps byte order first. Invocation ids: ``inv_1`` + partition key
    (u64, 11 chars) + a 128-bit invocation uuid (22 chars) = 38 characters.

The real ids below were handed out by restate-server 1.7.12 (/tmp/obs/transcript.md); their
``created_at`` comes from ``GET /deployments`` and ``sys_invocation``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from restate_versioning import IdGenerator, InvalidId, RandomIds, SequentialIds, VersioningError
from restate_versioning.ids import (
    DEPLOYMENT_ID_PREFIX,
    INVOCATION_ID_PREFIX,
    deployment_id_from_ulid,
    invocation_id_from_parts,
    is_deployment_id,
    is_invocation_id,
    parse_deployment_id,
    parse_invocation_id,
)

BASE62 = string.digits + string.ascii_lowercase + string.ascii_uppercase
U64_MAX = (1 << 64) - 1
U128_MAX = (1 << 128) - 1
MS = timedelta(milliseconds=1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def ulid_time(value: int) -> datetime:
    """The time in a ULID's first 48 bits, computed here independently of the library."""
    return datetime(1970, 1, 1, tzinfo=UTC) + (value >> 80) * MS


# --- real ids -------------------------------------------------------------------------------

#: Deployment ids and ``created_at`` of first registrations (no force), from GET /deployments.
FIRST_REGISTRATIONS = [
    ("dp_15ol5Jdgl5VjRmNPZ8USZix", "2026-11-26T05:42:23.968Z", "http://127.0.0.1:9082/"),
    ("dp_10soVxbeF6t0UdxIlA9vjXj", "2026-11-26T05:43:50.419Z", "http://127.0.0.1:9084/"),
    ("dp_13UM6sjlkCx3n0ACRnjDSZb", "2026-11-26T05:45:07.701Z", "/c02b_name_dotted_my.pkg.Svc"),
    ("dp_15M2cMgeMPPtX7LMWXvYH0B", "2026-11-26T05:45:07.972Z", "/c02c_name_dash_bad-svc"),
    ("dp_10qZlNBYlNOPaY111gvOFlD", "2026-11-26T05:45:08.247Z", "/c02d_name_underscore__svc"),
    ("dp_13CjcpAm8YWyvHON3R13ktj", "2026-11-26T05:45:09.254Z", "/c03c_handler_restateX"),
    ("dp_14zfSrP6NBKEldWCyY73IFb", "2026-11-26T05:45:10.074Z", "/c05b_service_handler_SHARED"),
    ("dp_12et0jDzkCuvCvh3YFmaMbD", "2026-11-26T05:45:10.870Z", "/c07b_proto_min6_max99"),
    ("dp_11DEMF8432QE14hMUHm3Q5j", "2026-11-26T05:45:11.760Z", "/c08b_protocolMode_BIDI..."),
    ("dp_11kysQPqyLrc5kK64Re1o1H", "2026-11-26T05:45:13.819Z", "/c12_duplicate_service_names"),
    ("dp_15qUBV1iNeLTAVVPuMsQtLb", "2026-11-26T05:45:14.392Z", "/c13_duplicate_handler_names"),
    ("dp_12CeNdwAr71oDPdZTRkPjPj", "2026-11-26T05:45:14.668Z", "/c14_workflow_two_WORKFLOW..."),
    ("dp_15yXefii1CQ1Vg3okemnVpD", "2026-11-26T05:45:14.949Z", "/c15_workflow_no_WORKFLOW..."),
    ("dp_12AiIXTU034igmpGw6oBPUd", "2026-11-26T05:45:15.256Z", "/c15b_workflow_handler_no_ty"),
    ("dp_10RB7hsTgkUMDmf2GkOHBUl", "2026-11-26T05:45:15.563Z", "/c16_empty_services"),
    ("dp_171N5GGGtqejbESHTrwi4eZ", "2026-11-26T05:45:15.864Z", "/c17_service_no_handlers"),
    ("dp_13m3kmVKrtd0SfsfUEVe4Ct", "2026-11-26T05:45:44.148Z", "http://127.0.0.1:9090/ysame/"),
    ("dp_17eyz8T5Ytd5odgMhJu9pmh", "2026-11-26T05:46:02.508Z", "http://127.0.0.1:9086/"),
]

#: Ids whose endpoint was registered again with ``force``: the server reset ``created_at``.
FORCED = [
    # first registered in transcript 2.1, forced in 2.4
    ("dp_131iEjmRB5Z36mzIJBmSNkl", "2026-11-26T05:42:05.549Z"),
    # the CLI showed "Created at: 05:42:49" before the force of 5f.2
    ("dp_15CQDLem8GUdqUhscpEpSeJ", "2026-11-26T05:43:44.045Z"),
    # first registered in 4.y1, forced in 4.y3
    ("dp_17wzduLoR34t5HospS8vZFn", "2026-11-26T05:45:35.914Z"),
]

OTHER_DEPLOYMENT_IDS = [
    "dp_11X6KCePZl2odUy2RstS1FL",
    "dp_172ZrSAUlXRuejyIfOdQxMJ",  # handed out by a dry run, never stored
    "dp_14ZC3m5jUG7qS28e8ndrcjv",
    "dp_11VMWSnfgY1NFK2l5pjdOEx",
    "dp_16ggFYxwtC8HxH8c3WrlLYR",
    # the examples of (docs/rules.md, "Deployments and their identity")
    "dp_11nGQpCRmau6ypL82KH2TnP",
    "dp_14QXqzxvV9BGkoegz0ssooN",
]

REAL_DEPLOYMENT_IDS = [i for i, *_ in FIRST_REGISTRATIONS] + [i for i, _ in FORCED]
REAL_DEPLOYMENT_IDS += OTHER_DEPLOYMENT_IDS

#: ``SELECT id, target, created_at, invoked_by_target FROM sys_invocation`` (final state).
REAL_INVOCATIONS = [
    ("inv_1iyF5Za7tVoR4RdJmJGFHpIlkKyJhKoqI3", "TicketObject/t1/reserve", "05:42:41.136"),
    ("inv_1iyF5Za7tVoR55Oauy1i7AA5JMR4LVvBCp", "TicketObject/t1/reserve", "05:42:41.286"),
    ("inv_1bTi9ZsozqIi4HxOuJwItHjFwxmEUxhXXh", "Greeter/greet", "05:42:41.461"),
    ("inv_12kpUQONmeFb11Km8kYitYGzVISS24A1yv", "Signup/w1/run", "05:42:56.335"),
    ("inv_12kpUQONmeFb7FDR11y3FGjdJHYp4zl2rD", "Signup/w1/confirm", "05:42:59.844"),
    ("inv_1iyF5Za7tVoR5J6zHFokADHpcTw30ZbROQ", "TicketObject/t1/status", "05:43:56.708"),
    ("inv_19HG7isAob3t74SKTRdk3Q9d28fVqrBYFr", "TicketObject/t2/reserve", "05:45:51.500"),
    ("inv_1dSdr5AkITwS4k0ti75863YrjEW2VJTk59", "Greeter/greet", "05:45:57.589"),
    ("inv_14XqS2oNVyvc2D36WwFP5AttW88eTQ6Guk", "Caller/call", "05:46:38.355"),
    ("inv_1i5bYHy2JavE2wjfZgiFJnpxpoeVAk9DvH", "Greeter/greet", "05:46:38.362"),
    ("inv_11IdfCk1urUd25Le4Na5fMPQIVEh8F3jB7", "TicketObject/t3/reserve", "05:47:08.381"),
]
REAL_INVOCATION_IDS = [i for i, *_ in REAL_INVOCATIONS]


@pytest.mark.parametrize("deployment_id", REAL_DEPLOYMENT_IDS)
def test_a_real_deployment_id_parses_and_round_trips(deployment_id: str) -> None:
    """Every id the server handed out parses, and encoding its ULID gives the same string."""
    parsed = parse_deployment_id(deployment_id)
    assert parsed.id == deployment_id
    assert deployment_id_from_ulid(parsed.ulid) == deployment_id
    assert is_deployment_id(deployment_id)
    assert not is_invocation_id(deployment_id)
    assert len(deployment_id) == 26


@pytest.mark.parametrize("invocation_id", REAL_INVOCATION_IDS)
def test_a_real_invocation_id_parses_and_round_trips(invocation_id: str) -> None:
    """Every id in ``sys_invocation`` parses, and re-encoding its parts gives the same string."""
    parsed = parse_invocation_id(invocation_id)
    assert parsed.id == invocation_id
    assert invocation_id_from_parts(parsed.partition_key, parsed.uuid) == invocation_id
    assert is_invocation_id(invocation_id)
    assert not is_deployment_id(invocation_id)
    assert len(invocation_id) == 38


def test_the_rules_example_deployment_id_was_made_on_2025_01_07() -> None:
    """(docs/rules.md, "Deployments and their identity"): ``dp_11nGQpCRmau6ypL82KH2TnP`` holds a
    ULID made on 2025-01-07."""
    parsed = parse_deployment_id("dp_11nGQpCRmau6ypL82KH2TnP")
    assert parsed.timestamp.date() == datetime(2025, 1, 7).date()
    assert parsed.timestamp == ulid_time(parsed.ulid)


@pytest.mark.parametrize(("deployment_id", "created_at", "endpoint"), FIRST_REGISTRATIONS)
def test_a_deployment_id_is_a_ulid_of_the_time_it_was_registered(
    deployment_id: str, created_at: str, endpoint: str
) -> None:
    """The ULID of a deployment id carries its registration time: on restate-server 1.7.12 it was
    ``created_at`` or at most 2 ms later, for every first registration observed."""
    timestamp = parse_deployment_id(deployment_id).timestamp
    assert timestamp.tzinfo is not None
    assert utc(created_at) <= timestamp <= utc(created_at) + 2 * MS


def test_the_exact_example_dp_10so_was_created_at_its_ulid_time() -> None:
    """``dp_10soVxbeF6t0UdxIlA9vjXj`` was created at 2026-11-26T05:43:50.419000000Z."""
    assert parse_deployment_id("dp_10soVxbeF6t0UdxIlA9vjXj").timestamp == utc(
        "2026-11-26T05:43:50.419Z"
    )


@pytest.mark.parametrize(("deployment_id", "created_at"), FORCED)
def test_a_forced_re_registration_resets_created_at_but_keeps_the_id(
    deployment_id: str, created_at: str
) -> None:
    """With ``force`` the deployment is overwritten in place: same id, ``created_at`` reset. The
    id still carries the time of the first registration, which is earlier."""
    assert parse_deployment_id(deployment_id).timestamp < utc(created_at)


def test_dp_15cq_carries_the_created_at_the_cli_showed_before_the_force() -> None:
    """``restate deployments list`` showed ``dp_15CQDLem8GUdqUhscpEpSeJ`` created
    "Thu 26 Nov 2026 05:42:49 +00:00" before it was force re-registered."""
    timestamp = parse_deployment_id("dp_15CQDLem8GUdqUhscpEpSeJ").timestamp
    assert timestamp.replace(microsecond=0) == utc("2026-11-26T05:42:49Z")


def test_invocations_on_the_same_key_share_their_partition_key() -> None:
    """``inv_1iyF5Za7tVoR4RdJmJGFHpIlkKyJhKoqI3`` and ``inv_1iyF5Za7tVoR55Oauy1i7AA5JMR4LVvBCp`` are
    two calls to TicketObject with key t1: the same partition key, different uuids."""
    by_target: dict[str, set[int]] = {}
    for invocation_id, target, _ in REAL_INVOCATIONS:
        if target.count("/") == 2:  # a keyed call: Service/key/handler
            key = target.rsplit("/", 1)[0]
            by_target.setdefault(key, set()).add(parse_invocation_id(invocation_id).partition_key)
    assert {key: len(keys) for key, keys in by_target.items()} == {
        "TicketObject/t1": 1,
        "TicketObject/t2": 1,
        "TicketObject/t3": 1,
        "Signup/w1": 1,
    }
    assert len(set.union(*by_target.values())) == 4  # different keys, different partition keys
    first = parse_invocation_id("inv_1iyF5Za7tVoR4RdJmJGFHpIlkKyJhKoqI3")
    second = parse_invocation_id("inv_1iyF5Za7tVoR55Oauy1i7AA5JMR4LVvBCp")
    assert first.partition_key == second.partition_key
    assert first.uuid != second.uuid


@pytest.mark.parametrize(
    ("invocation_id", "created_at"),
    [
        # calls made by the handler Caller/call (invoked_by_target = "Caller/call")
        ("inv_1i5bYHy2JavE2wjfZgiFJnpxpoeVAk9DvH", "2026-11-26T05:46:38.362Z"),
        ("inv_11IdfCk1urUd25Le4Na5fMPQIVEh8F3jB7", "2026-11-26T05:47:08.381Z"),
    ],
)
def test_the_uuid_of_a_call_from_a_handler_is_a_ulid_of_its_created_at(
    invocation_id: str, created_at: str
) -> None:
    """Observed in ``sys_invocation``: a call made by another handler has an invocation uuid that
    is a ULID of its ``created_at``, to the millisecond. (Ingress ``/send`` calls carry an
    idempotency key and workflow runs a workflow key; their uuids are not time-based.)"""
    assert ulid_time(parse_invocation_id(invocation_id).uuid) == utc(created_at)


# --- generating ids ---------------------------------------------------------------------------

NOW = datetime(2026, 11, 26, 5, 42, 23, 968000, tzinfo=UTC)


@pytest.mark.parametrize("ids", [RandomIds(), RandomIds(seed=7), SequentialIds()])
def test_every_generator_is_an_id_generator(ids: object) -> None:
    """``RandomIds`` and ``SequentialIds`` implement the ``IdGenerator`` protocol."""
    assert isinstance(ids, IdGenerator)


@pytest.mark.parametrize("ids", [RandomIds(), RandomIds(seed=1), SequentialIds()])
def test_generated_ids_are_well_formed_and_carry_the_time(ids: IdGenerator) -> None:
    """Generated ids parse, have 26 (``dp_``) and 38 (``inv_``) characters, and their ULID holds
    the registry clock's time in milliseconds."""
    assert (DEPLOYMENT_ID_PREFIX, INVOCATION_ID_PREFIX) == ("dp_1", "inv_1")
    for _ in range(50):
        deployment_id = ids.deployment_id(NOW)
        invocation_id = ids.invocation_id(NOW)
        assert len(deployment_id) == 26
        assert deployment_id.startswith(DEPLOYMENT_ID_PREFIX)
        assert len(invocation_id) == 38
        assert invocation_id.startswith(INVOCATION_ID_PREFIX)
        assert parse_deployment_id(deployment_id).timestamp == NOW
        assert ulid_time(parse_invocation_id(invocation_id).uuid) == NOW


def test_random_ids_with_a_seed_are_reproducible() -> None:
    """``RandomIds``: "with a seed the sequence is reproducible (for harnesses and property
    tests)"."""

    def run(ids: RandomIds) -> list[str]:
        return [f(NOW + n * MS) for n in range(20) for f in (ids.deployment_id, ids.invocation_id)]

    assert run(RandomIds(seed=42)) == run(RandomIds(seed=42))
    assert run(RandomIds(seed=42)) != run(RandomIds(seed=43))


def test_random_ids_without_a_seed_do_not_repeat() -> None:
    """``IdGenerator``: implementations "must return well-formed ids (...) that they have never
    returned before"."""
    ids = RandomIds()
    made = [ids.deployment_id(NOW) for _ in range(1000)]
    made += [ids.invocation_id(NOW) for _ in range(1000)]
    assert len(set(made)) == len(made)


def test_sequential_ids_are_deterministic_and_sort_in_the_order_they_were_made() -> None:
    """``SequentialIds``: "Two runs with the same clock give the same ids, and ids sort in the
    order they were made"; the n-th id is the ULID of the clock's time with random part n."""

    def run() -> tuple[list[str], list[str]]:
        ids = SequentialIds()
        deployments = [ids.deployment_id(NOW) for _ in range(100)]
        invocations = [ids.invocation_id(NOW) for _ in range(100)]
        return deployments, invocations

    deployments, invocations = run()
    assert run() == (deployments, invocations)
    ulids = [parse_deployment_id(i).ulid for i in deployments]
    assert ulids == sorted(ulids)
    assert [u & ((1 << 80) - 1) for u in ulids] == list(range(1, 101))
    uuids = [parse_invocation_id(i).uuid for i in invocations]
    assert uuids == sorted(uuids)
    assert len(set(deployments)) == len(set(invocations)) == 100


def test_sequential_ids_start_where_told() -> None:
    """``SequentialIds(start=n)``: the first id has random part ``n``."""
    deployment_id = SequentialIds(start=5).deployment_id(NOW)
    assert parse_deployment_id(deployment_id).ulid & 0xFF == 5


# --- parse errors ---------------------------------------------------------------------------

DP = "dp_131iEjmRB5Z36mzIJBmSNkl"
INV = "inv_1iyF5Za7tVoR4RdJmJGFHpIlkKyJhKoqI3"

NOT_DEPLOYMENT_IDS: list[tuple[object, str]] = [
    (INV, "looks like an invocation (inv_...) id"),
    ("inv_1", "looks like an invocation (inv_...) id"),
    ("not_an_id", "must start with 'dp_'"),
    ("", "must start with 'dp_'"),
    ("dp", "must start with 'dp_'"),
    ("DP_131iEjmRB5Z36mzIJBmSNkl", "must start with 'dp_'"),
    (" " + DP, "must start with 'dp_'"),
    ("dp_2" + DP[4:], "unsupported id codec version '2', expected '1'"),
    ("dp_0" + DP[4:], "unsupported id codec version '0', expected '1'"),
    ("dp_1234", "expected 26 characters, got 7"),  # the server: "bad length"
    (DP[:-1], "expected 26 characters, got 25"),
    (DP + "0", "expected 26 characters, got 27"),
    (DP + "\n", "expected 26 characters, got 27"),
    ("dp_1" + "-" * 22, "'-' is not a base62 character"),
    (DP[:-1] + "_", "'_' is not a base62 character"),
    (DP[:-1] + "é", "'é' is not a base62 character"),
    ("dp_1" + "z" * 22, "does not fit 128 bits"),
    ("dp_1" + "Z" * 22, "does not fit 128 bits"),
    (None, "an id is a str, not NoneType"),
    (DP.encode(), "an id is a str, not bytes"),
    (131, "an id is a str, not int"),
    ([DP], "an id is a str, not list"),
]

NOT_INVOCATION_IDS: list[tuple[object, str]] = [
    (DP, "looks like a deployment (dp_...) id"),
    ("dp_1234", "looks like a deployment (dp_...) id"),
    ("not_an_id", "must start with 'inv_'"),
    ("", "must start with 'inv_'"),
    ("INV_1iyF5Za7tVoR4RdJmJGFHpIlkKyJhKoqI3", "must start with 'inv_'"),
    ("inv_2" + INV[5:], "unsupported id codec version '2', expected '1'"),
    (INV[:-1], "expected 38 characters, got 37"),
    (INV + "a", "expected 38 characters, got 39"),
    ("inv_1", "expected 38 characters, got 5"),
    ("inv_1" + "." * 33, "'.' is not a base62 character"),
    (INV[:20] + "+" + INV[21:], "'+' is not a base62 character"),
    ("inv_1" + "z" * 11 + "0" * 22, "the partition key does not fit 64 bits"),
    ("inv_1" + "0" * 11 + "z" * 22, "the invocation uuid does not fit 128 bits"),
    (None, "an id is a str, not NoneType"),
    (INV.encode(), "an id is a str, not bytes"),
    (1.5, "an id is a str, not float"),
]


@pytest.mark.parametrize(("value", "reason"), NOT_DEPLOYMENT_IDS)
def test_a_malformed_deployment_id_raises_invalid_id_quoting_it(value: object, reason: str) -> None:
    """``parse_deployment_id`` raises :class:`InvalidId` (a ``ValueError``) quoting the input."""
    with pytest.raises(InvalidId) as info:
        parse_deployment_id(value)
    error = info.value
    assert repr(value) in str(error)
    assert reason in str(error)
    assert error.value == value or error.value is value
    assert error.kind == "deployment"
    assert isinstance(error, ValueError)
    assert isinstance(error, VersioningError)
    assert error.code is None
    assert not is_deployment_id(value)


@pytest.mark.parametrize(("value", "reason"), NOT_INVOCATION_IDS)
def test_a_malformed_invocation_id_raises_invalid_id_quoting_it(value: object, reason: str) -> None:
    """``parse_invocation_id`` raises :class:`InvalidId` (a ``ValueError``) quoting the input."""
    with pytest.raises(InvalidId) as info:
        parse_invocation_id(value)
    error = info.value
    assert repr(value) in str(error)
    assert reason in str(error)
    assert error.kind == "invocation"
    assert isinstance(error, ValueError)
    assert isinstance(error, VersioningError)
    assert not is_invocation_id(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "a ULID is a 128-bit unsigned number, got -1"),
        (1 << 128, "a ULID is a 128-bit unsigned number"),
    ],
)
def test_only_128_bit_numbers_make_deployment_ids(value: int, message: str) -> None:
    """A ULID is a u128: anything else is a ``ValueError`` quoting the number."""
    with pytest.raises(ValueError, match=message):
        deployment_id_from_ulid(value)


@pytest.mark.parametrize(
    ("partition_key", "uuid", "message"),
    [
        (-1, 0, "a partition key is a 64-bit unsigned number, got -1"),
        (1 << 64, 0, "a partition key is a 64-bit unsigned number"),
        (0, -1, "an invocation uuid is a 128-bit unsigned number, got -1"),
        (0, 1 << 128, "an invocation uuid is a 128-bit unsigned number"),
    ],
)
def test_only_u64_keys_and_u128_uuids_make_invocation_ids(
    partition_key: int, uuid: int, message: str
) -> None:
    """The partition key is a u64 and the invocation uuid a u128."""
    with pytest.raises(ValueError, match=message):
        invocation_id_from_parts(partition_key, uuid)


# --- the encoding, as properties ------------------------------------------------------------

u64 = st.integers(min_value=0, max_value=U64_MAX)
u128 = st.integers(min_value=0, max_value=U128_MAX)


@given(u128)
def test_any_128_bit_ulid_round_trips_through_a_deployment_id(ulid: int) -> None:
    """Every u128 encodes to a 26-character id of base62 characters that parses back to it."""
    deployment_id = deployment_id_from_ulid(ulid)
    assert len(deployment_id) == 26
    assert set(deployment_id[4:]) <= set(BASE62)
    assert parse_deployment_id(deployment_id).ulid == ulid


@given(u64, u128)
def test_any_key_and_uuid_round_trip_through_an_invocation_id(
    partition_key: int, uuid: int
) -> None:
    """Every (u64, u128) pair encodes to a 38-character id that parses back to it."""
    invocation_id = invocation_id_from_parts(partition_key, uuid)
    assert len(invocation_id) == 38
    parsed = parse_invocation_id(invocation_id)
    assert (parsed.partition_key, parsed.uuid) == (partition_key, uuid)


@given(u128)
def test_the_encoder_swaps_the_byte_order_before_base62(ulid: int) -> None:
    """(docs/rules.md, "Deployments and their identity"): the 16 bytes of the ULID are read in
    the opposite byte order (``int.from_bytes(ulid.to_bytes(16, 'big'), 'little')``) and written
    as 22 base62 digits, left-padded with ``0`` (written from the rule, not from the library)."""
    value = int.from_bytes(ulid.to_bytes(16, "big"), "little")
    digits = ""
    while value:
        value, digit = divmod(value, 62)
        digits = BASE62[digit] + digits
    assert deployment_id_from_ulid(ulid) == "dp_1" + digits.rjust(22, "0")


@given(st.text(alphabet=BASE62, min_size=22, max_size=22))
def test_every_22_character_body_that_fits_128_bits_parses_and_round_trips(body: str) -> None:
    """The encoding is canonical: a body parses exactly when its number fits 128 bits, and then
    re-encoding gives the same string back."""
    value = 0
    for char in body:
        value = value * 62 + BASE62.index(char)
    deployment_id = "dp_1" + body
    if value > U128_MAX:
        assert not is_deployment_id(deployment_id)
    else:
        assert deployment_id_from_ulid(parse_deployment_id(deployment_id).ulid) == deployment_id


@given(u128, u128)
def test_deployment_ids_differ_exactly_when_their_ulids_differ(a: int, b: int) -> None:
    """Encoding is injective: two ULIDs give the same id only when they are equal."""
    assert (deployment_id_from_ulid(a) == deployment_id_from_ulid(b)) == (a == b)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The last millisecond a ULID's 48-bit time can hold (year 10889) is beyond ``datetime``; the
#: properties below go up to the end of year 9999.
LAST = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.just(UTC),
    ),
    st.integers(min_value=0, max_value=2**32),
)
def test_a_generated_id_carries_its_time_to_the_millisecond(now: datetime, seed: int) -> None:
    """A generated ULID is "the time and 80 random bits": its timestamp is ``now`` truncated to
    the millisecond."""
    expected = now.replace(microsecond=now.microsecond // 1000 * 1000)
    ids = RandomIds(seed=seed)
    assert parse_deployment_id(ids.deployment_id(now)).timestamp == expected
    assert ulid_time(parse_invocation_id(ids.invocation_id(now)).uuid) == expected
    assert parse_deployment_id(SequentialIds().deployment_id(now)).timestamp == expected


@example(millis=34365513600001)  # 3059-01-01T00:00:00.001Z; the library says .000999
@given(st.integers(min_value=0, max_value=(LAST - EPOCH) // MS))
def test_the_timestamp_of_a_deployment_id_is_exact_for_every_millisecond(millis: int) -> None:
    """``ParsedDeploymentId.timestamp`` is "the ULID's first 48 bits, milliseconds since the
    epoch": exactly that many milliseconds, never a float approximation of it."""
    ulid = (millis << 80) | 0x1234
    assert parse_deployment_id(deployment_id_from_ulid(ulid)).timestamp == EPOCH + millis * MS


@example(now=datetime(3059, 1, 1, 0, 0, 0, 996, tzinfo=UTC))  # the library makes .001
@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=LAST.replace(tzinfo=None)))
def test_a_generated_ulid_holds_the_time_truncated_to_the_millisecond(now: datetime) -> None:
    """The ULID of a generated id holds ``now`` in whole milliseconds since the epoch, truncated
    (a ULID never claims a moment later than the one it was made at)."""
    now = now.replace(tzinfo=UTC)
    millis = (now - EPOCH) // MS
    assert parse_deployment_id(SequentialIds().deployment_id(now)).ulid >> 80 == millis
    assert parse_invocation_id(RandomIds(seed=1).invocation_id(now)).uuid >> 80 == millis


_ID_LIKE = st.one_of(
    st.builds(
        "{}{}".format,
        st.sampled_from(["dp_1", "inv_1", "dp_2", "inv_", ""]),
        st.text(alphabet="0123456789abcxyzABCXYZ_é", min_size=20, max_size=35),
    ),
    st.builds("dp_1{}".format, st.text(alphabet="0189azAZ", min_size=22, max_size=22)),
    st.builds("inv_1{}".format, st.text(alphabet="0189azAZ", min_size=33, max_size=33)),
    st.integers(0, (1 << 128) - 1).map(deployment_id_from_ulid),
    st.none(),
    st.lists(st.integers(), max_size=2),
)


@given(_ID_LIKE)
@example(deployment_id_from_ulid((1 << 128) - 1))
@example("dp_1" + "Z" * 22)
@example(invocation_id_from_parts((1 << 64) - 1, (1 << 128) - 1))
@example("inv_1" + "z" * 11 + "0" * 22)
@example("inv_1" + "0" * 11 + "Z" * 22)
def test_is_an_id_answers_exactly_what_parsing_accepts(value: object) -> None:
    """``is_deployment_id`` and ``is_invocation_id`` check an id without decoding it (for
    loading large snapshots fast); they agree with the parsers on every value, the largest
    numbers and the first ones too large included."""
    for check, parse in (
        (is_deployment_id, parse_deployment_id),
        (is_invocation_id, parse_invocation_id),
    ):
        try:
            parse(value)
        except InvalidId:
            assert not check(value)
        else:
            assert check(value)


# --- generated ids stay what they were --------------------------------------------------------

PINNED = json.loads((Path(__file__).parent / "data" / "ids-pinned.json").read_text())
PIN_START = datetime(2026, 11, 26, 5, 42, 23, 968000, tzinfo=UTC)


def pinned_run(ids: IdGenerator, count: int, step_us: int, pattern: str) -> list[str]:
    """``count`` ids, deployment (``d``) or invocation (``i``) ids in turn as ``pattern`` says,
    at times ``step_us`` microseconds apart: how ``tests/data/ids-pinned.json`` was made, with
    the generators as they were before ids were made from the id before."""
    made = []
    for n in range(count):
        now = PIN_START + timedelta(microseconds=n * step_us)
        kind = pattern[n % len(pattern)]
        made.append(ids.deployment_id(now) if kind == "d" else ids.invocation_id(now))
    return made


PINNED_RUNS: dict[str, tuple[Callable[[], IdGenerator], int, int, str]] = {
    "random_seed_7": (lambda: RandomIds(seed=7), 300, 397, "iidi"),
    "random_seed_0": (lambda: RandomIds(seed=0), 300, 1, "id"),
    "sequential": (SequentialIds, 300, 250, "iiid"),
    "sequential_from_250": (lambda: SequentialIds(start=250), 300, 3, "di"),
    "sequential_from_65530": (lambda: SequentialIds(start=65530), 300, 1001, "id"),
}
LONG_PINNED_RUNS: dict[str, tuple[Callable[[], IdGenerator], int, int, str]] = {
    "random_seed_3": (lambda: RandomIds(seed=3), 20000, 37, "iid"),
    "sequential_from_0": (lambda: SequentialIds(start=0), 20000, 7, "iiiid"),
    "sequential_from_2**64-600": (lambda: SequentialIds(start=2**64 - 600), 1000, 11, "d"),
}


@pytest.mark.parametrize("name", PINNED_RUNS)
def test_a_seeded_or_sequential_generator_makes_the_ids_it_always_made(name: str) -> None:
    """``RandomIds(seed=...)`` and ``SequentialIds`` are reproducible: the same calls at the
    same times give, byte for byte, the ids the generators gave before they were made fast
    (pinned in ``tests/data/ids-pinned.json``): across millisecond changes, the counter's
    lowest byte wrapping (250 -> 256, 65530 -> 65536) and both kinds interleaved."""
    make, count, step, pattern = PINNED_RUNS[name]
    assert pinned_run(make(), count, step, pattern) == PINNED["ids"][name]


@pytest.mark.parametrize("name", LONG_PINNED_RUNS)
def test_long_runs_of_ids_are_byte_for_byte_the_pinned_ones(name: str) -> None:
    """The same over 20,000 ids (one in three, or one in five, a deployment id), and deployment
    ids counting past 2**64: the SHA-256 of the ids, one a line."""
    make, count, step, pattern = LONG_PINNED_RUNS[name]
    text = "\n".join(pinned_run(make(), count, step, pattern))
    assert hashlib.sha256(text.encode()).hexdigest() == PINNED["sha256"][name]


def reference_encode(value: int, width: int) -> str:
    """Base62, left-padded with ``0`` to ``width``, digit by digit (written from the rule)."""
    digits = ""
    while value:
        value, digit = divmod(value, 62)
        digits = BASE62[digit] + digits
    return digits.rjust(width, "0")


def reference_swap(value: int, size: int) -> int:
    return int.from_bytes(value.to_bytes(size, "big"), "little")


def reference_ulid(now: datetime, random_part: int) -> int:
    millis = (now - EPOCH) // MS
    return ((millis % (1 << 48)) << 80) | (random_part % (1 << 80))


def reference_sequential(start: int, kinds: str, times: list[datetime]) -> list[str]:
    """What ``SequentialIds(start)`` makes, from (docs/rules.md, "Deployments and their
    identity") and its docstring: the n-th id of a kind is the ULID of the time with random part
    n (and, for an invocation, partition key n)."""
    counters = {"d": start, "i": start}
    made = []
    for kind, now in zip(kinds, times, strict=True):
        n = counters[kind]
        counters[kind] += 1
        uuid = reference_encode(reference_swap(reference_ulid(now, n), 16), 22)
        if kind == "d":
            made.append("dp_1" + uuid)
        else:
            made.append("inv_1" + reference_encode(reference_swap(n, 8), 11) + uuid)
    return made


@given(
    start=st.one_of(
        st.integers(0, 1000),
        st.integers(0, 2**64 - 1000),
        st.integers(0, 2**64 - 1).map(lambda n: n - n % 256 - 3),
    ).filter(lambda n: n >= 0),
    steps=st.lists(
        st.tuples(st.sampled_from("di"), st.sampled_from([0, 1, 999, 1000, 1001, 86_400_000_000])),
        min_size=1,
        max_size=600,
    ),
)
def test_sequential_ids_are_the_ulids_of_their_count_whatever_the_order_and_times(
    start: int, steps: list[tuple[str, int]]
) -> None:
    """Each id ``SequentialIds`` makes (most of them stepped from the id before) is the one the
    rule gives, through counters wrapping their lowest byte, times that stay in one millisecond,
    move within it or leave it, and the two kinds in any order."""
    times, now = [], PIN_START
    for _, advance in steps:
        now += timedelta(microseconds=advance)
        times.append(now)
    kinds = "".join(kind for kind, _ in steps)
    ids = SequentialIds(start=start)
    made = [
        ids.deployment_id(t) if k == "d" else ids.invocation_id(t)
        for k, t in zip(kinds, times, strict=True)
    ]
    assert made == reference_sequential(start, kinds, times)


@given(
    seed=st.integers(0, 2**32),
    kinds=st.text(alphabet="di", min_size=1, max_size=50),
    now=st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31)).map(
        lambda t: t.replace(tzinfo=UTC)
    ),
)
def test_seeded_random_ids_are_the_ulids_of_the_seeded_bits(
    seed: int, kinds: str, now: datetime
) -> None:
    """``RandomIds(seed)`` draws 64 bits for the partition key and then 80 for the ULID (80
    for a deployment id) from ``random.Random(seed)``, as it always did."""
    bits = random.Random(seed).getrandbits
    expected = []
    for kind in kinds:
        if kind == "d":
            uuid = reference_swap(reference_ulid(now, bits(80)), 16)
            expected.append("dp_1" + reference_encode(uuid, 22))
        else:
            key = reference_swap(bits(64), 8)
            uuid = reference_swap(reference_ulid(now, bits(80)), 16)
            expected.append("inv_1" + reference_encode(key, 11) + reference_encode(uuid, 22))
    ids = RandomIds(seed=seed)
    assert [ids.deployment_id(now) if k == "d" else ids.invocation_id(now) for k in kinds] == (
        expected
    )


def test_sequential_invocation_ids_stop_at_the_largest_partition_key() -> None:
    """The partition key is a u64: ``SequentialIds`` counts invocation ids up to 2**64 - 1 (the
    last ones stepped from the one before) and refuses the next with the ``ValueError`` of
    ``invocation_id_from_parts``, as it always did."""
    ids = SequentialIds(start=2**64 - 300)
    made = [ids.invocation_id(NOW) for _ in range(300)]
    assert made == reference_sequential(2**64 - 300, "i" * 300, [NOW] * 300)
    with pytest.raises(ValueError, match="a partition key is a 64-bit unsigned number"):
        ids.invocation_id(NOW)


@pytest.mark.parametrize("ids", [SequentialIds(), RandomIds(seed=1), RandomIds()])
def test_a_naive_time_makes_no_id(ids: IdGenerator) -> None:
    """The registry clock's time must be aware: a naive one is a ``TypeError`` from the date
    arithmetic, before and after ids made at an aware time (whose millisecond is cached)."""
    naive = NOW.replace(tzinfo=None)
    for make in (ids.deployment_id, ids.invocation_id):
        with pytest.raises(TypeError, match="offset-naive and offset-aware"):
            make(naive)
        assert make(NOW)
        with pytest.raises(TypeError, match="offset-naive and offset-aware"):
            make(naive)


@given(
    now=st.datetimes(
        min_value=datetime(1970, 1, 2),  # after the epoch in every zone below
        max_value=datetime(9999, 12, 31, 23, 59, 59, 999999),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12, minutes=-30))]
        ),
    )
)
@example(now=datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
@example(now=datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-12))))
def test_an_id_carries_the_utc_millisecond_of_any_aware_time(now: datetime) -> None:
    """Whatever the time zone, the ULID holds the UTC milliseconds since the epoch, to the last
    millisecond ``datetime`` can hold (and past it, as a UTC instant beyond year 9999)."""
    millis = (now - EPOCH) // MS
    for ids in (SequentialIds(), RandomIds(seed=5)):
        for _ in range(2):  # made afresh, then within the millisecond cached
            assert parse_deployment_id(ids.deployment_id(now)).ulid >> 80 == millis
            assert parse_invocation_id(ids.invocation_id(now)).uuid >> 80 == millis


# --- RandomIds, made fast ---------------------------------------------------------------------


def reference_decode(text: str) -> int:
    """The number of base62 digits (written from the rule, not from the library)."""
    value = 0
    for char in text:
        value = value * 62 + BASE62.index(char)
    return value


@given(
    times=st.lists(
        st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30)).map(
            lambda t: t.replace(tzinfo=UTC)
        ),
        min_size=1,
        max_size=5,
    ),
    per_time=st.integers(1, 700),
)
def test_unseeded_random_ids_parse_and_carry_the_millisecond_of_now(
    times: list[datetime], per_time: int
) -> None:
    """An unseeded ``RandomIds`` (its randomness drawn a batch at a time) makes ids that parse
    and whose ULID holds ``now`` in whole milliseconds, through batches running out and times
    jumping back and forth."""
    ids = RandomIds()
    for now in times:
        millis = (now - EPOCH) // MS
        for _ in range(per_time):
            deployment_id, invocation_id = ids.deployment_id(now), ids.invocation_id(now)
            assert parse_deployment_id(deployment_id).ulid >> 80 == millis
            assert parse_invocation_id(invocation_id).uuid >> 80 == millis
            assert is_deployment_id(deployment_id)
            assert is_invocation_id(invocation_id)


def test_unseeded_random_ids_vary_every_random_bit() -> None:
    """An unseeded id has 80 random bits in its ULID and 64 in its partition key: over 3,000 ids
    every one of those bits is seen set and unset (a bit stuck either way fails with odds of
    2**-3000), while the time's 48 bits stay those of ``now``."""
    ids = RandomIds()
    ulids = [parse_deployment_id(ids.deployment_id(NOW)).ulid for _ in range(3000)]
    invocations = [parse_invocation_id(ids.invocation_id(NOW)) for _ in range(3000)]
    for values, bits in (
        (ulids, 80),
        ([i.uuid for i in invocations], 80),
        ([i.partition_key for i in invocations], 64),
    ):
        mask = (1 << bits) - 1
        seen_set = seen_unset = 0
        for value in values:
            seen_set |= value & mask
            seen_unset |= ~value & mask
        assert seen_set == seen_unset == mask
    assert {u >> 80 for u in ulids} == {(NOW - EPOCH) // MS}


def test_unseeded_partition_keys_are_every_u64_and_no_more(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unseeded partition key is drawn digit by digit: a first digit in 0..21 from a byte
    (bytes 242 and up dropped), ten digits in 0..61 from a byte each (bytes 248 and up
    dropped), and the key dropped when it is above the largest u64 (``lYGhA16ahyf``), so that
    every u64, the largest included, is equally likely and nothing larger is ever made."""
    from restate_versioning import ids as module

    largest = [BASE62.index(c) for c in module._encode11(U64_MAX)]
    assert largest[0] == 21
    one_more = [*largest[:-1], largest[-1] + 1]
    keys = [
        largest,  # kept
        one_more,  # dropped
        [0] * 11,  # kept
        [21] + [0] * 10,  # kept: the first digit of the largest, smaller after it
        [21, 61] + [0] * 9,  # dropped: larger in its second digit
        [20] + [61] * 10,  # kept
    ]
    count = module._BATCH
    tops = bytes([242, 255])  # dropped
    tops += bytes(k[0] + 22 * (i % 11) for i, k in enumerate(keys))  # b % 22 is the digit
    tops += bytes(i % 21 for i in range(count * 2))  # below 21: always kept
    rest = bytes([248, 255])  # dropped
    rest += bytes(d + 62 * (i % 4) for i, k in enumerate(keys) for d in k[1:])
    rest += bytes(i % 62 for i in range(count * 11))
    drawn = iter([tops, rest])
    monkeypatch.setattr(os, "urandom", lambda size: next(drawn)[:size])
    made = module._draw_keys()
    expected = [keys[0], keys[2], keys[3], keys[5]]
    assert [[BASE62.index(c) for c in k] for k in made[:4]] == expected
    assert all(reference_decode(k) <= U64_MAX for k in made)
    assert len(made) == count - 2  # a batch of candidates, less the two above the largest


@given(
    seed=st.integers(0, 2**64),
    steps=st.lists(
        st.tuples(st.sampled_from("dip"), st.sampled_from([0, 1, 999, 1000, 1001, 86_400_000_000])),
        min_size=1,
        max_size=300,
    ),
)
def test_seeded_random_ids_are_the_seeded_bits_encoded_whatever_the_order_and_times(
    seed: int, steps: list[tuple[str, int]]
) -> None:
    """``RandomIds(seed)`` makes, byte for byte, what a slow encoder written from the rule makes
    of the bits ``random.Random(seed)`` gives (80 for a deployment id; 64 for the partition key,
    then 80, for an invocation id), whatever the order of the kinds, at times that stay in one
    millisecond, move within it or leave it; ``peek_deployment_id`` shows the next deployment
    id and takes nothing."""
    reference = random.Random(seed)
    ids = RandomIds(seed=seed)
    now = PIN_START
    for kind, advance in steps:
        now += timedelta(microseconds=advance)
        if kind == "i":
            key = reference_encode(reference_swap(reference.getrandbits(64), 8), 11)
            uuid = reference_swap(reference_ulid(now, reference.getrandbits(80)), 16)
            assert ids.invocation_id(now) == "inv_1" + key + reference_encode(uuid, 22)
            continue
        state = reference.getstate()
        uuid = reference_swap(reference_ulid(now, reference.getrandbits(80)), 16)
        if kind == "p":
            reference.setstate(state)
            assert ids.peek_deployment_id(now) == "dp_1" + reference_encode(uuid, 22)
        else:
            assert ids.deployment_id(now) == "dp_1" + reference_encode(uuid, 22)


def test_a_naive_time_takes_the_seeded_bits_it_would_have_used() -> None:
    """A seeded ``RandomIds`` draws an id's bits before it looks at the time, as it always did:
    an id refused for a naive time still takes them, and the next id has the bits after."""
    reference = random.Random(11)
    ids = RandomIds(seed=11)
    naive = NOW.replace(tzinfo=None)
    for make in (ids.deployment_id, ids.invocation_id):
        with pytest.raises(TypeError):
            make(naive)
    reference.getrandbits(80)
    reference.getrandbits(144)
    uuid = reference_swap(reference_ulid(NOW, reference.getrandbits(80)), 16)
    assert ids.deployment_id(NOW) == "dp_1" + reference_encode(uuid, 22)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_process_makes_ids_of_its_own() -> None:
    """``IdGenerator``: ids "they have never returned before", across writers too: an unseeded
    ``RandomIds`` draws its randomness a batch at a time, and a process forked from one holding
    a batch forgets it and draws its own, so that parent and child never make the same id."""
    ids = RandomIds()
    ids.deployment_id(NOW)
    ids.invocation_id(NOW)  # both kinds hold a batch now
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        os.close(read)
        made = [ids.deployment_id(NOW) for _ in range(50)] + [
            ids.invocation_id(NOW) for _ in range(50)
        ]
        os.write(write, "\n".join(made).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        in_child = pipe.read().split("\n")
    os.waitpid(child, 0)
    in_parent = [ids.deployment_id(NOW) for _ in range(50)]
    in_parent += [ids.invocation_id(NOW) for _ in range(50)]
    assert len(in_child) == 100
    assert not set(in_child) & set(in_parent)
