"""Deployment and invocation ids, in Restate's exact format (docs/rules.md, "Deployments and
their identity").

* ``dp_1`` + a 128-bit ULID as 22 base62 characters (``dp_14QXqzxvV9BGkoegz0ssooN``).
* ``inv_1`` + the partition key (u64, 11 characters) + a 128-bit invocation uuid (22
  characters), 38 characters in all.

The base62 alphabet is ``0-9a-zA-Z``; each number is left-padded with ``0`` to its fixed width.
Restate encodes the *big-endian* value of each number as read on a little-endian machine, so the
bytes are swapped before encoding: ``encode(int.from_bytes(value.to_bytes(16, "big"),
"little"))``. Parsing undoes the swap, so :func:`parse_deployment_id` gives back the ULID, whose
first 48 bits are its creation time in milliseconds.

Ids are plain ``str`` everywhere in the model; this module makes and checks them. Id generation is
injectable (:class:`IdGenerator`), so a harness can make a registry fully deterministic.
"""

from __future__ import annotations

import os
import random
import re
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

import attrs

from .errors import InvalidId

__all__ = [
    "DEPLOYMENT_ID_PREFIX",
    "INVOCATION_ID_PREFIX",
    "IdGenerator",
    "ParsedDeploymentId",
    "ParsedInvocationId",
    "RandomIds",
    "SequentialIds",
    "deployment_id_from_ulid",
    "invocation_id_from_parts",
    "is_deployment_id",
    "is_invocation_id",
    "parse_deployment_id",
    "parse_invocation_id",
]

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGIT = {c: i for i, c in enumerate(ALPHABET)}
# Two base62 digits at a time: halves the Python-level loop of the encoder.
_PAIRS = [a + b for a in ALPHABET for b in ALPHABET]
_BASE2 = 62 * 62

CODEC_VERSION = "1"
DEPLOYMENT_ID_PREFIX = "dp_" + CODEC_VERSION
INVOCATION_ID_PREFIX = "inv_" + CODEC_VERSION
_U64_WIDTH = 11  # ceil(64 / 6)
_U128_WIDTH = 22  # ceil(128 / 6)
_U64_MAX = (1 << 64) - 1
_U128_MAX = (1 << 128) - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def _swap64(value: int) -> int:
    return int.from_bytes(value.to_bytes(8, "big"), "little")


def _swap128(value: int) -> int:
    return int.from_bytes(value.to_bytes(16, "big"), "little")


_BASE11 = 62**11


def _encode11(value: int) -> str:
    """``value`` (< 62**11) as exactly 11 base62 digits, unrolled: this is on the hot path of
    every invocation."""
    pairs, alphabet = _PAIRS, ALPHABET
    value, a = divmod(value, _BASE2)
    value, b = divmod(value, _BASE2)
    value, c = divmod(value, _BASE2)
    value, d = divmod(value, _BASE2)
    value, e = divmod(value, _BASE2)
    return alphabet[value] + pairs[e] + pairs[d] + pairs[c] + pairs[b] + pairs[a]


def _encode22(value: int) -> str:
    """``value`` (< 2**128) as exactly 22 base62 digits."""
    high, low = divmod(value, _BASE11)
    return _encode11(high) + _encode11(low)


def _decode(text: str, kind: str, whole: str) -> int:
    value = 0
    for char in text:
        digit = _DIGIT.get(char)
        if digit is None:
            raise InvalidId(whole, kind, f"{char!r} is not a base62 character (0-9a-zA-Z)")
        value = value * 62 + digit
    return value


@attrs.frozen
class ParsedDeploymentId:
    """A deployment id taken apart: the ULID it encodes, and the time that ULID carries."""

    id: str
    ulid: int

    @property
    def timestamp(self) -> datetime:
        """When the id was made: the ULID's first 48 bits, milliseconds since the epoch."""
        return _EPOCH + timedelta(milliseconds=self.ulid >> 80)


@attrs.frozen
class ParsedInvocationId:
    """An invocation id taken apart: its partition key and its invocation uuid."""

    id: str
    partition_key: int
    uuid: int


def deployment_id_from_ulid(ulid: int) -> str:
    """The ``dp_`` id of a 128-bit ULID, as Restate prints it."""
    if not 0 <= ulid <= _U128_MAX:
        raise ValueError(f"a ULID is a 128-bit unsigned number, got {ulid!r}")
    return DEPLOYMENT_ID_PREFIX + _encode22(_swap128(ulid))


def invocation_id_from_parts(partition_key: int, uuid: int) -> str:
    """The ``inv_`` id of a partition key (u64) and an invocation uuid (u128)."""
    if not 0 <= partition_key <= _U64_MAX:
        raise ValueError(f"a partition key is a 64-bit unsigned number, got {partition_key!r}")
    if not 0 <= uuid <= _U128_MAX:
        raise ValueError(f"an invocation uuid is a 128-bit unsigned number, got {uuid!r}")
    return INVOCATION_ID_PREFIX + _encode11(_swap64(partition_key)) + _encode22(_swap128(uuid))


def _body(value: object, kind: str, prefix: str, width: int) -> str:
    if not isinstance(value, str):
        raise InvalidId(value, kind, f"an id is a str, not {type(value).__name__}")
    resource = prefix[:-1]
    if not value.startswith(resource):
        other = "an invocation (inv_...)" if kind == "deployment" else "a deployment (dp_...)"
        looks_like = f"; it looks like {other} id" if value.startswith(("inv_", "dp_")) else ""
        raise InvalidId(value, kind, f"it must start with {resource!r}{looks_like}")
    if not value.startswith(prefix):
        raise InvalidId(
            value,
            kind,
            f"unsupported id codec version {value[len(resource) :][:1]!r}, "
            f"expected {CODEC_VERSION!r}",
        )
    body = value[len(prefix) :]
    if len(body) != width:
        raise InvalidId(
            value,
            kind,
            f"expected {len(prefix) + width} characters, got {len(value)}",
        )
    return body


def parse_deployment_id(value: object) -> ParsedDeploymentId:
    """Check and take apart a deployment id; raises :class:`InvalidId` quoting the input."""
    body = _body(value, "deployment", DEPLOYMENT_ID_PREFIX, _U128_WIDTH)
    assert isinstance(value, str)
    raw = _decode(body, "deployment", value)
    if raw > _U128_MAX:
        raise InvalidId(value, "deployment", "the encoded number does not fit 128 bits")
    return ParsedDeploymentId(id=value, ulid=_swap128(raw))


def parse_invocation_id(value: object) -> ParsedInvocationId:
    """Check and take apart an invocation id; raises :class:`InvalidId` quoting the input."""
    body = _body(value, "invocation", INVOCATION_ID_PREFIX, _U64_WIDTH + _U128_WIDTH)
    assert isinstance(value, str)
    raw_key = _decode(body[:_U64_WIDTH], "invocation", value)
    raw_uuid = _decode(body[_U64_WIDTH:], "invocation", value)
    if raw_key > _U64_MAX:
        raise InvalidId(value, "invocation", "the partition key does not fit 64 bits")
    if raw_uuid > _U128_MAX:
        raise InvalidId(value, "invocation", "the invocation uuid does not fit 128 bits")
    return ParsedInvocationId(id=value, partition_key=_swap64(raw_key), uuid=_swap128(raw_uuid))


# Whether an id is well formed, without decoding it: its shape, and its numbers compared as
# text with the largest ones (after mapping the digits to an alphabet in ASCII order, text
# order is number order for numbers of one width).
_ORDERED = str.maketrans(ALPHABET, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_LARGEST_U64 = _encode11(_U64_MAX).translate(_ORDERED)
_LARGEST_U128 = _encode22(_U128_MAX).translate(_ORDERED)
_DEPLOYMENT_SHAPE = re.compile(re.escape(DEPLOYMENT_ID_PREFIX) + "[0-9a-zA-Z]{22}")
_INVOCATION_SHAPE = re.compile(re.escape(INVOCATION_ID_PREFIX) + "[0-9a-zA-Z]{33}")


def is_deployment_id(value: object) -> bool:
    """Whether ``value`` is a well-formed deployment id (what :func:`parse_deployment_id`
    accepts)."""
    return (
        isinstance(value, str)
        and _DEPLOYMENT_SHAPE.fullmatch(value) is not None
        and value[4:].translate(_ORDERED) <= _LARGEST_U128
    )


def is_invocation_id(value: object) -> bool:
    """Whether ``value`` is a well-formed invocation id (what :func:`parse_invocation_id`
    accepts)."""
    if not isinstance(value, str) or _INVOCATION_SHAPE.fullmatch(value) is None:
        return False
    body = value[5:].translate(_ORDERED)
    return body[:_U64_WIDTH] <= _LARGEST_U64 and body[_U64_WIDTH:] <= _LARGEST_U128


@runtime_checkable
class IdGenerator(Protocol):
    """Makes new ids. Implementations must return well-formed ids (see this module) that they
    have never returned before; ``now`` is the registry clock's time, for time-ordered ids.
    A generator may also have ``peek_deployment_id(now)``: the id ``deployment_id(now)`` would
    return, without taking it, which a dry-run registration shows (the shipped ones have it)."""

    def deployment_id(self, now: datetime) -> str:
        """A new ``dp_...`` id."""
        ...

    def invocation_id(self, now: datetime) -> str:
        """A new ``inv_...`` id."""
        ...


def _ulid(now: datetime, random_bits: int) -> int:
    millis = ((now - _EPOCH) // _MILLISECOND) & ((1 << 48) - 1)
    return (millis << 80) | (random_bits & ((1 << 80) - 1))


class RandomIds:
    """Ids like Restate's: a ULID of the time and 80 random bits, a random partition key.

    Without ``seed`` the randomness comes from the operating system; with a seed the sequence is
    reproducible (for harnesses and property tests).
    """

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed) if seed is not None else None

    def _bits(self, count: int) -> int:
        if self._random is not None:
            return self._random.getrandbits(count)
        return int.from_bytes(os.urandom((count + 7) // 8), "big") >> (-count % 8)

    def deployment_id(self, now: datetime) -> str:
        return deployment_id_from_ulid(_ulid(now, self._bits(80)))

    def peek_deployment_id(self, now: datetime) -> str:
        """The id :meth:`deployment_id` would return now, without taking it (with a seed; an
        unseeded generator has no sequence to keep, and gives a fresh random id)."""
        if self._random is None:
            return self.deployment_id(now)
        state = self._random.getstate()
        try:
            return self.deployment_id(now)
        finally:
            self._random.setstate(state)

    def invocation_id(self, now: datetime) -> str:
        return invocation_id_from_parts(self._bits(64), _ulid(now, self._bits(80)))


class SequentialIds:
    """Deterministic ids that count up from ``start``: the n-th deployment id is the ULID of
    the registry clock's time with random part ``n``. Two runs with the same clock give the same
    ids, and ids sort in the order they were made."""

    def __init__(self, start: int = 1) -> None:
        self._next_deployment = start
        self._next_invocation = start

    def deployment_id(self, now: datetime) -> str:
        n = self._next_deployment
        self._next_deployment += 1
        return deployment_id_from_ulid(_ulid(now, n))

    def peek_deployment_id(self, now: datetime) -> str:
        """The id :meth:`deployment_id` would return now, without taking it: what a dry run
        shows."""
        return deployment_id_from_ulid(_ulid(now, self._next_deployment))

    def invocation_id(self, now: datetime) -> str:
        n = self._next_invocation
        self._next_invocation += 1
        return invocation_id_from_parts(n, _ulid(now, n))
