"""What a real restate-server 1.7.12 answers to manifests its JSON decoder refuses, and that the
library refuses them the same way.

An endpoint of our own (``http.server`` on 127.0.0.1, HTTP/1.1) answers discovery with the text
of each case; the server is asked to register it (``dry_run``, so the shared server keeps
nothing). It refuses what serde_json cannot decode with a 500, no ``restate_code``, and
"received a bad response from the SDK that cannot be decoded: <words> at line L column C";
the library's :class:`InvalidManifest` has no code either, and its problem starts with the same
words.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from restate_versioning import EndpointManifest, InvalidManifest

from .conftest import manifest, service
from .discovery_endpoint import discovery_endpoint
from .restate_server import RestateServer

BASE = json.dumps(manifest(service("Probe")))


def with_schema(schema: str) -> str:
    return BASE.replace(
        '{"name": "greet"}', f'{{"name": "greet", "input": {{"jsonSchema": {schema}}}}}'
    )


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


#: (the discovery answer, serde_json's words for it): the server and the library refuse each.
REFUSED: list[Any] = [
    pytest.param(
        BASE.replace('"maxProtocolVersion": 7', '"maxProtocolVersion": 7, "maxProtocolVersion": 7'),
        "duplicate field `maxProtocolVersion`",
        id="a-field-twice",
    ),
    pytest.param(
        BASE.replace('"name": "Probe"', '"name": "Probe", "name": "Probe"'),
        "duplicate field `name`",
        id="a-service-field-twice",
    ),
    pytest.param(with_schema('{"maximum": NaN}'), "expected value", id="nan"),
    pytest.param(with_schema("[Infinity]"), "expected value", id="infinity"),
    pytest.param(with_schema('{"maximum": 1e400}'), "number out of range", id="1e400"),
    pytest.param(with_schema(nested(122)), "recursion limit exceeded", id="128-levels"),
    pytest.param(with_schema(nested(123)), "recursion limit exceeded", id="129-levels"),
    pytest.param(with_schema(nested(5000)), "recursion limit exceeded", id="5006-levels"),
    pytest.param(
        BASE.replace("Probe", "Pr\u00f6be").encode("latin-1"),
        "invalid unicode code point",
        id="latin-1",
    ),
]

#: What the server takes: the library takes it too.
ACCEPTED: list[Any] = [
    pytest.param(with_schema(nested(121)), id="127-levels"),
    pytest.param(with_schema('{"maximum": 1e300}'), id="a-large-double"),
]

#: What the server takes and the library refuses, on purpose: the server keeps the last of two
#: equal keys inside ``metadata`` and a ``jsonSchema``; the library refuses a key twice anywhere.
FURTHER: list[Any] = [
    pytest.param(with_schema('{"type": "object", "type": "string"}'), id="twice-in-a-json-schema"),
    pytest.param(
        BASE.replace('"ty": "SERVICE"', '"ty": "SERVICE", "metadata": {"k": "a", "k": "b"}'),
        id="twice-in-metadata",
    ),
]


class _Answers:
    body: bytes = b""


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """An HTTP/1.1 endpoint on 127.0.0.1 that answers discovery with ``_Answers.body``."""
    with discovery_endpoint(lambda: _Answers.body) as url:
        yield url


def server_answer(server: RestateServer, endpoint: str, body: str | bytes) -> httpx.Response:
    """What the server answers to registering ``endpoint`` when it serves ``body``."""
    _Answers.body = body if isinstance(body, bytes) else body.encode()
    with httpx.Client(timeout=30) as client:
        return client.post(
            f"{server.admin_url}/deployments",
            json={"uri": endpoint, "use_http_11": True, "dry_run": True, "force": True},
        )


@pytest.mark.parametrize(("body", "words"), REFUSED)
def test_what_the_server_cannot_decode_the_library_refuses_in_the_same_words(
    restate_server: RestateServer, endpoint: str, body: str | bytes, words: str
) -> None:
    """The server refuses with a 500, no code, and serde_json's words; the library's first
    problem has no code and starts with the same words."""
    answer = server_answer(restate_server, endpoint, body)
    assert answer.status_code == 500, answer.text
    assert answer.json()["restate_code"] is None
    assert f"cannot be decoded: {words} at line 1 column" in answer.json()["message"]
    with pytest.raises(InvalidManifest) as raised:
        EndpointManifest.from_json(body)
    assert raised.value.code is None
    assert raised.value.problems[0].message.startswith(words)


@pytest.mark.parametrize("body", ACCEPTED)
def test_what_the_server_decodes_the_library_reads(
    restate_server: RestateServer, endpoint: str, body: str
) -> None:
    """127 levels of nesting in all, and a double near the largest, are taken by both."""
    answer = server_answer(restate_server, endpoint, body)
    assert answer.status_code == 201, answer.text
    assert EndpointManifest.from_json(body).service("Probe")


@pytest.mark.parametrize("body", FURTHER)
def test_a_key_twice_where_the_server_keeps_the_last_is_refused_by_the_library(
    restate_server: RestateServer, endpoint: str, body: str
) -> None:
    """Inside ``metadata`` and a ``jsonSchema`` the server takes the last of two equal keys;
    the library goes further and refuses the manifest (a key twice is a bug in the SDK that
    sent it, and which value counts would depend on the reader)."""
    answer = server_answer(restate_server, endpoint, body)
    assert answer.status_code == 201, answer.text
    with pytest.raises(InvalidManifest) as raised:
        EndpointManifest.from_json(body)
    assert raised.value.problems[0].message.startswith("duplicate field")
