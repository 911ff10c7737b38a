"""What the ingress checks of a request (docs/rules.md, "What the ingress refuses"), how the
server reads durations, and how it words a request body it cannot read.

The same cases against a real restate-server 1.7.12 are in ``tests/test_server_bad_input.py``;
the rules of input payloads are the server's (its ``input_rules_from_schema``).
"""

from __future__ import annotations

from typing import Any

import pytest

from restate_versioning._durations import DurationError, parse_duration
from restate_versioning.model import ServiceType
from restate_versioning.rules.ingress import (
    BAD_PATH,
    DEFAULT_INPUT_RULES,
    InputRule,
    Target,
    check_input,
    input_rules,
    parse_path,
)
from restate_versioning.server.bodies import Struct, read_struct
from restate_versioning.server.problems import HttpProblem, id_reason

S = ServiceType


@pytest.mark.parametrize(
    ("parts", "service_type", "target"),
    [
        (["Greeter", "greet"], S.SERVICE, Target("Greeter", "greet", None, False)),
        (["Greeter", "greet", "send"], S.SERVICE, Target("Greeter", "greet", None, True)),
        (["Cart", "k", "add"], S.VIRTUAL_OBJECT, Target("Cart", "add", "k", False)),
        (["Cart", "k", "send"], S.VIRTUAL_OBJECT, Target("Cart", "send", "k", False)),
        (["Cart", "k", "send", "send"], S.VIRTUAL_OBJECT, Target("Cart", "send", "k", True)),
        (["Signup", "u1", "run", "send"], S.WORKFLOW, Target("Signup", "run", "u1", True)),
        (["Cart", "a%20b%2Fc", "add"], S.VIRTUAL_OBJECT, Target("Cart", "add", "a b/c", False)),
        (["Greeter", "k", "greet"], S.SERVICE, None),
        (["Greeter", "greet", "extra", "send"], S.SERVICE, None),
        (["Greeter", "greet", ""], S.SERVICE, None),
        (["Cart", "add"], S.VIRTUAL_OBJECT, None),
    ],
)
def test_a_path_fits_its_services_type_or_is_a_bad_path(
    parts: list[str], service_type: ServiceType, target: Target | None
) -> None:
    assert parse_path(parts, service_type) == target
    assert BAD_PATH.startswith("bad path, expected either /:service-name/:handler")


def test_a_handler_without_an_input_payload_takes_anything() -> None:
    assert input_rules(None) == DEFAULT_INPUT_RULES
    assert check_input(DEFAULT_INPUT_RULES, None, b"") is None
    assert check_input(DEFAULT_INPUT_RULES, "text/plain", b"x") is None
    assert check_input(DEFAULT_INPUT_RULES, None, b"x") == "Empty content-type"


@pytest.mark.parametrize(
    ("payload", "content_type", "body", "problem"),
    [
        ({"contentType": "application/json", "jsonSchema": {}}, "application/json", b"1", None),
        ({"contentType": "application/json", "jsonSchema": {}}, None, b"", None),
        (
            {"contentType": "application/json", "jsonSchema": {}},
            "application/json",
            b"",
            "Empty body not allowed",
        ),
        (
            {"contentType": "application/json", "jsonSchema": {}, "required": True},
            None,
            b"",
            "Empty content-type",
        ),
        (
            {"contentType": "application/json"},
            "text/plain; charset=utf-8",
            b"x",
            "Content-type 'text/plain; charset=utf-8' does not match 'application/json'",
        ),
        ({"contentType": "application/json"}, "application/json; charset=utf-8", b"x", None),
        ({"contentType": "application/json"}, "application/json", b"", None),
        ({"contentType": "text/*"}, "text/csv", b"x", None),
        (
            {"contentType": "text/*"},
            "image/png",
            b"x",
            "Content-type 'image/png' does not match 'text/*'",
        ),
        (
            {"contentType": "text/plain"},
            "nonsense",
            b"x",
            "Content-type 'nonsense' does not match 'text/plain'",
        ),
        (
            {},
            "application/json",
            b"x",
            "Expected body and content-type to be empty, but wasn't with content-type "
            "'Some(\"application/json\")'",
        ),
        ({"required": True}, None, b"", "Bad configuration of the input validation rules"),
    ],
)
def test_a_body_passes_if_any_rule_of_its_handlers_input_takes_it(
    payload: dict[str, Any], content_type: str | None, body: bytes, problem: str | None
) -> None:
    assert check_input(input_rules(payload), content_type, body) == problem


def test_a_payload_that_is_not_required_takes_no_body_first() -> None:
    assert input_rules({"contentType": "application/json", "jsonSchema": {}}) == (
        InputRule("none"),
        InputRule("json", "application/json"),
    )
    assert input_rules({"contentType": "text/plain", "required": True}) == (
        InputRule("type", "text/plain"),
    )


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("1h", 3_600_000),
        ("PT1H30M", 5_400_000),
        ("pt10s", 10_000),
        ("P1DT1S", 86_401_000),
        ("1.5h", 5_400_000),
        ("90 minutes", 5_400_000),
        ("1h30m", 5_400_000),
        ("1h 30m", 5_400_000),
        ("2 days", 172_800_000),
        ("1 hour, 2 mins", 3_720_000),
        ("10ms", 10),
        ("0s", 0),
        ("+5s", 5000),
    ],
)
def test_durations_are_read_as_iso_8601_or_the_friendly_format(text: str, millis: int) -> None:
    assert parse_duration(text) == millis


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("soon", "expected duration to start with a unit value"),
        ("", "expected duration to start with a unit value"),
        ("1", "expected to find unit designator suffix"),
        ("1x", "expected to find unit designator suffix"),
        ("-1h", "negative signed durations cannot be converted to an unsigned duration"),
        ("PT", "as an ISO 8601 duration"),
        ("P1H", "as an ISO 8601 duration"),
    ],
)
def test_a_duration_the_server_does_not_read_is_refused_in_its_words(
    text: str, reason: str
) -> None:
    with pytest.raises(DurationError, match=reason):
        parse_duration(text)


QUERY = Struct("QueryRequest", {"query": "string"}, frozenset({"query"}))
MODIFY = Struct("ModifyServiceRequest", {"public": "boolean", "journal_retention": "duration"})


@pytest.mark.parametrize(
    ("raw", "shape", "status", "message"),
    [
        (b"{uri", QUERY, 400, "key must be a string at line 1 column 2"),
        (b"", QUERY, 400, "EOF while parsing a value at line 1 column 0"),
        (b'{"query": "SELECT', QUERY, 400, "query: EOF while parsing a string at line 1 column 17"),
        (b'{"query": "SELECT 1"', QUERY, 400, "EOF while parsing an object at line 1 column 20"),
        (b'{"query": "\xff"}', QUERY, 400, "query: invalid unicode code point at line 1 column 13"),
        (b"{}", QUERY, 422, "missing field `query` at line 1 column 2"),
        (
            b'{"query": 5}',
            QUERY,
            422,
            "query: invalid type: integer `5`, expected a string at line 1 column 11",
        ),
        (
            b'{\n  "query": 5\n}',
            QUERY,
            422,
            "query: invalid type: integer `5`, expected a string at line 2 column 12",
        ),
        (
            b'{"query": null}',
            QUERY,
            422,
            "query: invalid type: null, expected a string at line 1 column 14",
        ),
        (
            b'{"query": []}',
            QUERY,
            422,
            "query: invalid type: sequence, expected a string at line 1 column 10",
        ),
        (
            b'{"query": "a", "query": "b"}',
            QUERY,
            422,
            "duplicate field `query` at line 1 column 22",
        ),
        (
            b"[]",
            QUERY,
            422,
            "invalid length 0, expected struct QueryRequest with 1 element at line 1 column 2",
        ),
        (
            b"5",
            MODIFY,
            422,
            "invalid type: integer `5`, expected struct ModifyServiceRequest at line 1 column 1",
        ),
        (
            b'{"public": "yes"}',
            MODIFY,
            422,
            'public: invalid type: string "yes", expected a boolean at line 1 column 16',
        ),
        (b'{"journal_retention": "1"}', MODIFY, 422, "journal_retention: failed to parse input"),
        (  # seen on the server: a sequence's element is named by its index
            b"[[[]]]",
            QUERY,
            422,
            "[0]: invalid type: sequence, expected a string at line 1 column 1",
        ),
        (
            b"[5]",
            MODIFY,
            422,
            "[0]: invalid type: integer `5`, expected a boolean at line 1 column 2",
        ),
    ],
)
def test_a_body_is_refused_in_serde_jsons_words_with_its_place_and_field(
    raw: bytes, shape: Struct, status: int, message: str
) -> None:
    with pytest.raises(HttpProblem) as refused:
        read_struct(raw, shape)
    assert refused.value.status == status
    assert refused.value.text
    prefix = (
        "Failed to parse the request body as JSON"
        if status == 400
        else ("Failed to deserialize the JSON body into the target type")
    )
    assert refused.value.message.startswith(f"{prefix}: {message}")


def test_unknown_fields_are_ignored_and_nulls_read_as_missing() -> None:
    assert read_struct(b'{"public": null, "nope": [1, {"a": 2}]}', MODIFY) == {}
    assert read_struct(b"[]", MODIFY) == {}  # the server takes a sequence for its struct too


def test_an_untagged_enum_takes_its_first_variant_that_fits_and_is_refused_without_a_place() -> (
    None
):
    by_uri = Struct("Register", {"uri": "string", "force": "boolean"}, frozenset({"uri"}))
    by_arn = Struct("Register", {"arn": "string"}, frozenset({"arn"}))
    assert read_struct(b'{"uri": "http://a", "arn": "b"}', (by_uri, by_arn)) == {"uri": "http://a"}
    assert read_struct(b'{"uri": 5, "arn": "b"}', (by_uri, by_arn)) == {"arn": "b"}
    with pytest.raises(HttpProblem, match=r"did not match any variant of untagged enum Register$"):
        read_struct(b'{"uri": "http://a", "force": "yes"}', (by_uri, by_arn))


@pytest.mark.parametrize(
    ("value", "resource", "reason"),
    [
        ("garbage", "inv", "bad format"),
        ("dp_16XvZ9nfEUjp0K6EUCyfAv7", "inv", "id doesn't match the expected type"),
        ("inv_9abc", "inv", "unrecognized codec version"),
        ("inv_1abc", "inv", "bad length"),
        ("inv_1eBc3PADuk8N6dWZSHpSeIm6aA0U0AId-a", "inv", "base62 decode error"),
        ("inv_1eBc3PADuk8N6dWZSHpSeIm6aA0U0AIdsa", "inv", None),
        ("dp_16XvZ9nfEUjp0K6EUCyfAv7", "dp", None),
        ("x", "dp", "bad format"),
        ("", "dp", "bad length"),
        ("dp_", "dp", "bad length"),
        ("xyz_1abc", "dp", "unrecognized resource type: xyz"),
        ("inv_1eBc3PADuk8N6dWZSHpSeIm6aA0U0AIdsaa", "inv", "bad length"),
    ],
)
def test_an_id_that_cannot_be_read_is_refused_with_the_servers_reason(
    value: str, resource: str, reason: str | None
) -> None:
    assert id_reason(value, resource) == reason
