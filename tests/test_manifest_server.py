"""What a real restate-server 1.7.12 answers to manifests its JSON decoder refuses, and that the
library refuses them the same way; and what it does with a duration longer than it can hold.

An endpoint of our own (``http.server`` on 127.0.0.1, HTTP/1.1) answers discovery with the text
of each case; the server is asked to register it (``dry_run``, so the shared server keeps
nothing). It refuses what serde_json cannot decode with a 500, no ``restate_code``, and
"received a bad response from the SDK that cannot be decoded: <words> at line L column C";
the library's :class:`InvalidManifest` has no code either, and its problem starts with the same
words. An integer option above u64::MAX is one of those.

A duration above :data:`MAX_DURATION_MILLIS` is decoded, and then the server panics: that is
shown on a server of its own, thrown away after the test.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from restate_versioning import EndpointManifest, InvalidManifest, Outcome, Registry
from restate_versioning.manifest import DURATION_OPTIONS, MAX_DURATION_MILLIS

from .discovery_endpoint import discovery_endpoint
from .helpers import handler, manifest, service, start_restate_server
from .restate_server import RestateServer

pytestmark = pytest.mark.integration  # a real restate-server

BASE = json.dumps(manifest(service("Probe")))


def with_schema(schema: str) -> str:
    return BASE.replace(
        '{"name": "greet"}', f'{{"name": "greet", "input": {{"jsonSchema": {schema}}}}}'
    )


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def with_option(level: str, option: str, value: int) -> str:
    """:data:`BASE` with ``option`` set to ``value`` on its service or on its handler."""
    options: dict[str, Any] = {option: value}
    if level == "service":
        return json.dumps(manifest(service("Probe", **options)))
    return json.dumps(manifest(service("Probe", handlers=[handler("greet", **options)])))


U64 = "expected u64"


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
    pytest.param(
        with_option("service", "retryPolicyMaxAttempts", 2**64),
        f"invalid type: floating point `1.8446744073709552e+19`, {U64}",
        id="attempts-2**64",
    ),
    pytest.param(
        with_option("handler", "journalRetention", 2**64),
        f"invalid type: floating point `1.8446744073709552e+19`, {U64}",
        id="handler-retention-2**64",
    ),
    pytest.param(
        with_option("handler", "retryPolicyMaxAttempts", 123456789012345678901234),
        f"invalid type: floating point `1.2345678901234567e+23`, {U64}",
        id="attempts-24-digits",
    ),
    pytest.param(
        with_option("service", "inactivityTimeout", 10**400),
        "number out of range",
        id="timeout-10**400",
    ),
]

#: What the server takes: the library takes it too.
ACCEPTED: list[Any] = [
    pytest.param(with_schema(nested(121)), id="127-levels"),
    pytest.param(with_schema('{"maximum": 1e300}'), id="a-large-double"),
    pytest.param(with_option("handler", "retryPolicyMaxAttempts", 2**64 - 1), id="u64-max"),
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


# --- durations the server cannot hold -------------------------------------------------------


@pytest.fixture
def own_server() -> Iterator[RestateServer]:
    """A fresh restate-server for one test that may break it (skipped without one, failed on
    CI); its whole process group is gone when the test ends."""
    server = start_restate_server()
    group = server.process.pid  # the server leads a session, so a process group, of its own
    try:
        yield server
    finally:
        server.stop()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            pytest.fail(
                f"the process group {group} of the throwaway restate-server is still running"
            )


def every_duration(millis: int) -> dict[str, Any]:
    """A manifest with every duration option set to ``millis``: on a Service and its handler,
    and on a Workflow's run handler (``workflowCompletionRetention``)."""
    on_service: dict[str, Any] = dict.fromkeys(DURATION_OPTIONS, millis)
    del on_service["workflowCompletionRetention"]
    return manifest(
        service("Probe", handlers=[handler("greet", **on_service)], **on_service),
        service(
            "Flow",
            "WORKFLOW",
            handlers=[handler("run", "WORKFLOW", workflowCompletionRetention=millis)],
        ),
    )


def test_the_longest_duration_registers_and_a_longer_one_is_refused_where_the_server_panics(
    own_server: RestateServer, endpoint: str
) -> None:
    """:data:`MAX_DURATION_MILLIS` in every duration option registers on the server (201, and
    ``GET /services`` answers) and in the model. ``journal_retention=timedelta.max`` on a
    handler, as the Python SDK would send it, makes the server panic: it closes the connection
    without an answer, its log says why (the seconds are outside
    -631107417600..=631107417600), and the handler was stored, so ``GET /services`` and
    ``GET /deployments/{id}`` panic from then on. The model refuses it instead, at its path,
    naming the option, the value and the bound, and keeps nothing."""
    registry = Registry()
    longest = every_duration(MAX_DURATION_MILLIS)
    _Answers.body = json.dumps(longest).encode()
    with httpx.Client(timeout=30) as client:
        answer = client.post(
            f"{own_server.admin_url}/deployments", json={"uri": endpoint, "use_http_11": True}
        )
        assert answer.status_code == 201, answer.text
        assert client.get(f"{own_server.admin_url}/services").status_code == 200
        assert registry.register(endpoint, longest).outcome is Outcome.CREATED

        millis = timedelta.max // timedelta(milliseconds=1)
        longer = manifest(service("Probe", handlers=[handler("greet", journalRetention=millis)]))
        before = registry.snapshot()
        with pytest.raises(InvalidManifest) as raised:
            registry.register(f"{endpoint}/longer", longer)
        assert [(p.path, p.code) for p in raised.value.problems] == [
            ("$.services[0].handlers[0].journalRetention", None)
        ]
        message = raised.value.problems[0].message
        assert message.startswith(f"journalRetention is {millis} ms, longer than")
        assert f"at most {MAX_DURATION_MILLIS} ms" in message
        assert registry.snapshot() == before

        _Answers.body = json.dumps(longer).encode()
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(
                f"{own_server.admin_url}/deployments",
                json={"uri": f"{endpoint}/longer", "use_http_11": True},
            )
        deployments = client.get(f"{own_server.admin_url}/deployments").json()["deployments"]
        stored = [d["id"] for d in deployments if d["uri"] == f"{endpoint}/longer"]
        assert len(stored) == 1  # stored before the panic
        for path in ("/services", f"/deployments/{stored[0]}"):
            with pytest.raises(httpx.RemoteProtocolError):
                client.get(f"{own_server.admin_url}{path}")
    log = (own_server.home / "server.log").read_text(errors="replace")
    assert re.search(
        r"panicked at .*\n.*parameter 'seconds' is not in the required range of "
        r"-631107417600\.\.=631107417600",
        log,
    ), own_server.log_tail()
