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
import weakref
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

import attrs

from .errors import InvalidId

__all__ = [
    "ALPHABET",
    "CODEC_VERSION",
    "DEPLOYMENT_ID_PREFIX",
    "ID_WIDTHS",
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
# Two base62 digits at a time: an encoder splits its number into pairs and looks each one up.
_PAIRS = [a + b for a in ALPHABET for b in ALPHABET]

CODEC_VERSION = "1"
DEPLOYMENT_ID_PREFIX = "dp_" + CODEC_VERSION
INVOCATION_ID_PREFIX = "inv_" + CODEC_VERSION
_U64_WIDTH = 11  # ceil(64 / 6)
_U128_WIDTH = 22  # ceil(128 / 6)
#: The base62 numbers after the codec version of each kind of id, by its prefix: their widths
#: (an invocation's partition key and uuid, a deployment's ULID).
ID_WIDTHS = {"inv": (_U64_WIDTH, _U128_WIDTH), "dp": (_U128_WIDTH,)}
_U64_MAX = (1 << 64) - 1
_U128_MAX = (1 << 128) - 1
_U48_MASK = (1 << 48) - 1
_U80_MASK = (1 << 80) - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_from_bytes = int.from_bytes


def _swap64(value: int) -> int:
    return _from_bytes(value.to_bytes(8, "big"), "little")


def _swap128(value: int) -> int:
    return _from_bytes(value.to_bytes(16, "big"), "little")


# The encoders split a number into chunks of four digits with divisions by 62**4, which fits one
# 30-bit digit of a Python int (so each division is one pass over the number, however large),
# split each chunk into two pairs of digits, look the pairs up and join them in one f-string.
# They are written out, not looped: this is on the hot path of every invocation.


def _encode11(value: int) -> str:
    """``value`` (< 62**11, so any u64) as exactly 11 base62 digits."""
    pairs = _PAIRS
    q1, c1 = value // 62**4, value % 62**4
    top, c2 = q1 // 62**4, q1 % 62**4  # 3, 4 and 4 digits
    return (
        f"{ALPHABET[top // 62**2]}{pairs[top % 62**2]}{pairs[c2 // 62**2]}"
        f"{pairs[c2 % 62**2]}{pairs[c1 // 62**2]}{pairs[c1 % 62**2]}"
    )


def _encode22(value: int) -> str:
    """``value`` (< 62**22, so any u128) as exactly 22 base62 digits."""
    pairs = _PAIRS
    q1, c1 = value // 62**4, value % 62**4
    q2, c2 = q1 // 62**4, q1 % 62**4
    q3, c3 = q2 // 62**4, q2 % 62**4
    q4, c4 = q3 // 62**4, q3 % 62**4
    top, c5 = q4 // 62**4, q4 % 62**4  # 2 digits, then five chunks of 4
    return (
        f"{pairs[top]}{pairs[c5 // 62**2]}{pairs[c5 % 62**2]}{pairs[c4 // 62**2]}"
        f"{pairs[c4 % 62**2]}{pairs[c3 // 62**2]}{pairs[c3 % 62**2]}{pairs[c2 // 62**2]}"
        f"{pairs[c2 % 62**2]}{pairs[c1 // 62**2]}{pairs[c1 % 62**2]}"
    )


def _deployment_text(swapped: int) -> str:
    """The id of a byte-swapped ULID: ``dp_1`` and :func:`_encode22`."""
    return DEPLOYMENT_ID_PREFIX + _encode22(swapped)


def _invocation_text(swapped_key: int, swapped_uuid: int) -> str:
    """The id of a byte-swapped partition key and invocation uuid: ``inv_1``,
    :func:`_encode11` and :func:`_encode22`."""
    return f"{INVOCATION_ID_PREFIX}{_encode11(swapped_key)}{_encode22(swapped_uuid)}"


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
    return _deployment_text(_swap128(ulid))


def invocation_id_from_parts(partition_key: int, uuid: int) -> str:
    """The ``inv_`` id of a partition key (u64) and an invocation uuid (u128)."""
    if not 0 <= partition_key <= _U64_MAX:
        raise ValueError(f"a partition key is a 64-bit unsigned number, got {partition_key!r}")
    if not 0 <= uuid <= _U128_MAX:
        raise ValueError(f"an invocation uuid is a 128-bit unsigned number, got {uuid!r}")
    return _invocation_text(_swap64(partition_key), _swap128(uuid))


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


def _millis(now: datetime) -> int:
    return (now - _EPOCH) // _MILLISECOND


def _ulid(now: datetime, random_bits: int) -> int:
    return ((_millis(now) & _U48_MASK) << 80) | (random_bits & _U80_MASK)


def _millisecond_of(millis: int) -> tuple[datetime, datetime]:
    """The times ``t`` with ``_millis(t) == millis``: from the first, up to the second. (An
    empty span where the second is past ``datetime.max``.)"""
    try:
        first = _EPOCH + millis * _MILLISECOND
        return first, first + _MILLISECOND
    except OverflowError:
        return _EPOCH, _EPOCH


# An unseeded RandomIds draws the operating system's randomness a batch of ids at a time. The
# ULID's 80 random bits come as a number already in place in the byte-swapped ULID (its top 80
# bits; the millisecond fills the other 48). The partition key comes as its 11 digits, drawn
# digit by digit: a first digit uniform in 0..21 and ten uniform in 0..61, each from one random
# byte (the bytes that would favour some digits are dropped); a key above the largest u64 (its
# first digit is then 21, the largest u64's) is dropped too, so that every u64 is equally likely.
# The digits are drawn in an alphabet in ASCII order, in which comparing the text of two numbers
# compares the numbers.
_BATCH = 512
_TENS = [slice(i, i + 10) for i in range(0, 10 * _BATCH, 10)]
_ELEVENS = [slice(i, i + 11) for i in range(0, 11 * _BATCH, 11)]
_ORDERED_ALPHABET = "".join(sorted(ALPHABET))
_KEY_DIGIT = bytes(ord(_ORDERED_ALPHABET[b % 62]) for b in range(256))
_KEY_DIGIT_DROPPED = bytes(range(62 * 4, 256))
_KEY_TOP = bytes(ord(_ORDERED_ALPHABET[b % 22]) for b in range(256))
_KEY_TOP_DROPPED = bytes(range(22 * 11, 256))
_FROM_ORDERED = bytes.maketrans(_ORDERED_ALPHABET.encode(), ALPHABET.encode())
_LARGEST_KEY = _encode11(_U64_MAX).translate(_ORDERED).encode()


def _draw_ulid_parts() -> list[int]:
    """A batch of 80 random bits each, shifted to the top of a byte-swapped ULID."""
    drawn = os.urandom(10 * _BATCH)
    return [_from_bytes(drawn[part], "big") << 48 for part in _TENS]


def _draw_keys() -> list[str]:
    """A batch of random partition keys (uniform u64s, byte-swapped), as their 11 digits."""
    tops = os.urandom(_BATCH + _BATCH // 4).translate(_KEY_TOP, _KEY_TOP_DROPPED)
    rest = os.urandom(11 * _BATCH).translate(_KEY_DIGIT, _KEY_DIGIT_DROPPED)
    count = min(len(tops), len(rest) // 10, _BATCH)
    keys = bytearray(11 * count)
    keys[::11] = tops[:count]
    for digit in range(10):
        keys[digit + 1 :: 11] = rest[digit : 10 * count : 10]
    too_large = []  # where a key starts with the largest u64's first digit and is larger
    start = tops.find(_LARGEST_KEY[0], 0, count)
    while start >= 0:
        if keys[11 * start : 11 * start + 11] > _LARGEST_KEY:
            too_large.append(start)
        start = tops.find(_LARGEST_KEY[0], start + 1, count)
    for start in reversed(too_large):
        del keys[11 * start : 11 * start + 11]
    text = keys.translate(_FROM_ORDERED).decode()
    return list(map(text.__getitem__, _ELEVENS[: count - len(too_large)]))


# A process forked from one holding drawn randomness must not make the ids its parent will: the
# child forgets every unseeded generator's batches and draws its own.
_UNSEEDED: weakref.WeakSet[RandomIds] = weakref.WeakSet()


def _forget_drawn_randomness() -> None:
    for ids in list(_UNSEEDED):
        ids._ulid_parts = []
        ids._invocation_parts = []


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_forget_drawn_randomness)


class RandomIds:
    """Ids like Restate's: a ULID of the time and 80 random bits, a random partition key.

    Without ``seed`` the randomness comes from the operating system, drawn a batch of ids at a
    time (the partition key digit by digit, every u64 equally likely); with a seed the sequence
    is reproducible (for harnesses and property tests): ``random.Random(seed)`` gives 80 bits for
    a deployment id, 64 for the partition key and then 80 for an invocation id, in the order the
    ids are made.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed) if seed is not None else None
        # The millisecond of the last ``now``, [first, after), and its part of the byte-swapped
        # ULID (its low 48 bits): ids made within one millisecond skip the date arithmetic.
        self._first = self._after = _EPOCH
        self._millis6 = b""
        self._millis = 0
        self._ulid_parts: list[int] = []  # unseeded: for deployment ids
        self._invocation_parts: list[tuple[str, int]] = []  # and partition keys for invocation ids
        if seed is None:
            _UNSEEDED.add(self)

    def _clock(self, now: datetime) -> None:
        millis = _millis(now)
        self._millis6 = (millis & _U48_MASK).to_bytes(6, "little")
        self._millis = _from_bytes(self._millis6, "big")
        self._first, self._after = _millisecond_of(millis)

    def deployment_id(self, now: datetime) -> str:
        # The random bits are drawn before ``now`` is looked at, as they always were: a naive
        # ``now`` (a TypeError) takes them all the same.
        if self._random is None:
            try:
                drawn = self._ulid_parts.pop()
            except IndexError:
                self._ulid_parts = _draw_ulid_parts()
                drawn = self._ulid_parts.pop()
            if not self._first <= now < self._after:
                self._clock(now)
            swapped = drawn | self._millis
        else:
            random_part = self._random.getrandbits(80).to_bytes(10, "little")
            if not self._first <= now < self._after:
                self._clock(now)
            swapped = _from_bytes(random_part + self._millis6, "big")
        # _deployment_text, written out
        pairs = _PAIRS
        q1, c1 = swapped // 62**4, swapped % 62**4
        q2, c2 = q1 // 62**4, q1 % 62**4
        q3, c3 = q2 // 62**4, q2 % 62**4
        q4, c4 = q3 // 62**4, q3 % 62**4
        top, c5 = q4 // 62**4, q4 % 62**4
        return (
            f"dp_1{pairs[top]}{pairs[c5 // 62**2]}{pairs[c5 % 62**2]}{pairs[c4 // 62**2]}"
            f"{pairs[c4 % 62**2]}{pairs[c3 // 62**2]}{pairs[c3 % 62**2]}{pairs[c2 // 62**2]}"
            f"{pairs[c2 % 62**2]}{pairs[c1 // 62**2]}{pairs[c1 % 62**2]}"
        )

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
        pairs = _PAIRS
        if self._random is None:
            try:
                key, drawn = self._invocation_parts.pop()
            except IndexError:
                # (a batch of keys is a few short when some were too large)
                parts = zip(_draw_keys(), _draw_ulid_parts(), strict=False)
                self._invocation_parts = list(parts)
                key, drawn = self._invocation_parts.pop()
            if not self._first <= now < self._after:
                self._clock(now)
            swapped = drawn | self._millis
            # _encode22, written out
            q1, c1 = swapped // 62**4, swapped % 62**4
            q2, c2 = q1 // 62**4, q1 % 62**4
            q3, c3 = q2 // 62**4, q2 % 62**4
            q4, c4 = q3 // 62**4, q3 % 62**4
            top, c5 = q4 // 62**4, q4 % 62**4
            return (
                f"inv_1{key}{pairs[top]}{pairs[c5 // 62**2]}{pairs[c5 % 62**2]}"
                f"{pairs[c4 // 62**2]}{pairs[c4 % 62**2]}{pairs[c3 // 62**2]}"
                f"{pairs[c3 % 62**2]}{pairs[c2 // 62**2]}{pairs[c2 % 62**2]}"
                f"{pairs[c1 // 62**2]}{pairs[c1 % 62**2]}"
            )
        # The 64 bits of the key and then the 80 of the ULID are the 144 bits of one draw; read
        # in the other byte order, with the millisecond after them, they are the byte-swapped
        # key and the byte-swapped ULID, one after the other.
        random_part = self._random.getrandbits(144).to_bytes(18, "little")
        if not self._first <= now < self._after:
            self._clock(now)
        both = _from_bytes(random_part + self._millis6, "big")
        swapped_key, swapped = both >> 128, both & _U128_MAX
        # _encode11 and _encode22, written out
        k1, d1 = swapped_key // 62**4, swapped_key % 62**4
        k2, d2 = k1 // 62**4, k1 % 62**4
        q1, c1 = swapped // 62**4, swapped % 62**4
        q2, c2 = q1 // 62**4, q1 % 62**4
        q3, c3 = q2 // 62**4, q2 % 62**4
        q4, c4 = q3 // 62**4, q3 % 62**4
        top, c5 = q4 // 62**4, q4 % 62**4
        return (
            f"inv_1{ALPHABET[k2 // 62**2]}{pairs[k2 % 62**2]}{pairs[d2 // 62**2]}"
            f"{pairs[d2 % 62**2]}{pairs[d1 // 62**2]}{pairs[d1 % 62**2]}"
            f"{pairs[top]}{pairs[c5 // 62**2]}{pairs[c5 % 62**2]}{pairs[c4 // 62**2]}"
            f"{pairs[c4 % 62**2]}{pairs[c3 // 62**2]}{pairs[c3 % 62**2]}{pairs[c2 // 62**2]}"
            f"{pairs[c2 % 62**2]}{pairs[c1 // 62**2]}{pairs[c1 % 62**2]}"
        )


# SequentialIds makes each id from the one before, in the text's own digits: an id's digits, one
# a byte, are a number (``_Steps``), and the next id differs from it by a fixed amount while the
# millisecond stays and the counter's lowest byte does not wrap: the counter sits byte-swapped in
# the id, so one more is 2**120 more on the ULID (and 2**56 more on the partition key). Adding
# it is one addition with base62 carries: each digit byte gets 194 more besides, so that a digit
# that reaches 62 carries out of its byte by itself; the digits that did not carry are then the
# ones at 194 or more, and get their 194 back.
_CARRY = 256 - 62
_TO_DIGITS = bytes.maketrans(ALPHABET.encode(), bytes(range(62)))
_VERSION_BYTE = 0xF1  # the codec version's "1" in a prefix, apart from the digit 1
_TO_TEXT = bytes.maketrans(bytes([*range(62), _VERSION_BYTE]), (ALPHABET + CODEC_VERSION).encode())


class _Steps:
    """The last id of one kind as a number whose bytes are its prefix and its digits, and how
    to add a fixed amount to it."""

    def __init__(self, prefix: str, width: int, step: int) -> None:
        self.width = width
        self.length = len(prefix) + width
        head = prefix.encode()[:-1] + bytes([_VERSION_BYTE])
        self.head = _from_bytes(head, "big") << (8 * width)
        digits = _digits(step, width)
        self.step = sum((_CARRY + digit) << (8 * i) for i, digit in enumerate(reversed(digits)))
        self.high_bits = sum(0x80 << (8 * i) for i in range(width))

    def load(self, text: str) -> int:
        """The number of an id."""
        body = text[self.length - self.width :].encode().translate(_TO_DIGITS)
        return self.head + _from_bytes(body, "big")

    def after(self, value: int) -> tuple[int, str]:
        """The number of the id after the one of ``value``, and its text."""
        value += self.step
        value -= ((value & self.high_bits) >> 7) * _CARRY
        return value, value.to_bytes(self.length, "big").translate(_TO_TEXT).decode()


def _digits(value: int, width: int) -> list[int]:
    digits = []
    for _ in range(width):
        value, digit = divmod(value, 62)
        digits.append(digit)
    return digits[::-1]


_DEPLOYMENT_STEPS = _Steps(DEPLOYMENT_ID_PREFIX, _U128_WIDTH, 1 << 120)
_INVOCATION_STEPS = _Steps(
    INVOCATION_ID_PREFIX, _U64_WIDTH + _U128_WIDTH, (1 << 56) * 62**_U128_WIDTH + (1 << 120)
)


class SequentialIds:
    """Deterministic ids that count up from ``start``: the n-th deployment id is the ULID of
    the registry clock's time with random part ``n``. Two runs with the same clock give the same
    ids, and ids sort in the order they were made."""

    def __init__(self, start: int = 1) -> None:
        self._next_deployment = start
        self._next_invocation = start
        # The last id of each kind (as a _Steps number), the count it can be stepped to, and
        # the millisecond it was made in.
        self._deployment = self._invocation = 0
        self._deployment_next: int | None = None
        self._invocation_next: int | None = None
        self._deployment_ms = self._invocation_ms = (_EPOCH, _EPOCH)

    def deployment_id(self, now: datetime) -> str:
        n = self._next_deployment
        self._next_deployment += 1
        try:
            first, after = self._deployment_ms
            if n == self._deployment_next and n & 0xFF and first <= now < after:
                self._deployment_next = n + 1
                self._deployment, text = _DEPLOYMENT_STEPS.after(self._deployment)
                return text
        except TypeError:
            pass
        millis = _millis(now)
        text = deployment_id_from_ulid(((millis & _U48_MASK) << 80) | (n & _U80_MASK))
        self._deployment = _DEPLOYMENT_STEPS.load(text)
        self._deployment_next = n + 1
        self._deployment_ms = _millisecond_of(millis)
        return text

    def peek_deployment_id(self, now: datetime) -> str:
        """The id :meth:`deployment_id` would return now, without taking it: what a dry run
        shows."""
        return deployment_id_from_ulid(_ulid(now, self._next_deployment))

    def invocation_id(self, now: datetime) -> str:
        n = self._next_invocation
        self._next_invocation += 1
        try:
            first, after = self._invocation_ms
            if n == self._invocation_next and n & 0xFF and first <= now < after:
                self._invocation_next = n + 1
                self._invocation, text = _INVOCATION_STEPS.after(self._invocation)
                return text
        except TypeError:
            pass
        millis = _millis(now)
        text = invocation_id_from_parts(n, ((millis & _U48_MASK) << 80) | (n & _U80_MASK))
        self._invocation = _INVOCATION_STEPS.load(text)
        self._invocation_next = n + 1
        self._invocation_ms = _millisecond_of(millis)
        return text
