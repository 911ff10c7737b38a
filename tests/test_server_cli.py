"""The real ``restate`` CLI 1.7.12 against the served model prints what it prints against a
real restate-server 1.7.12 in the same state.

A real server with two real SDK endpoints is put in a state with something of everything:
two deployments (v1 draining with a call pinned to it, v2 latest), a completed call, a running
Virtual Object call holding its key with another queued behind it, a delayed call, a workflow
run waiting. The cluster is read into a :class:`Registry` (:class:`AdminSource`), the registry
is served (:class:`AdminServer`), and each CLI command runs against both: the outputs must be
equal, with the times and durations masked (the model keeps one time per call) and nothing
else. Then the same writes go to both (``invocations kill``, ``deployments remove``) and the
reads are compared again.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from restate_versioning.admin import AdminSource
from restate_versioning.server import AdminServer

from .helpers import own_restate_server, start_sdk_endpoint
from .restate_server import RestateServer

pytestmark = pytest.mark.integration  # a real restate-server, SDK endpoints and the CLI

#: What differs between two runs of the same scenario: times and durations.
_MASKS = (
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d\d:\d\d"), "<time>"),
    (re.compile(r"\w{3} \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d\d:\d\d"), "<time>"),
    (re.compile(r"\((invoked )?[^()]*?(ago|ms|seconds?|minutes?)\)"), "(<duration>)"),
    (re.compile(r"Query took [\d.]+\w+"), "Query took <duration>"),
    (re.compile(r"Idempotency key:  \w+"), "Idempotency key:  <key>"),
    # the model keeps no journal beyond a call's input (#0): what its handler did is not shown
    (re.compile(r"^ +├──── #[1-9].*\n", re.MULTILINE), ""),
    (re.compile(r"[ \t]+$", re.MULTILINE), ""),
)


def _masked(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def _diff(real: tuple[int, str], served: tuple[int, str]) -> str:
    lines = difflib.unified_diff(
        real[1].splitlines(), served[1].splitlines(), "real server", "served model", lineterm=""
    )
    return f"exit codes {real[0]} (real) and {served[0]} (served)\n" + "\n".join(lines)


class Scene:
    def __init__(
        self, real: RestateServer, served: AdminServer, ids: dict[str, str], v3: str
    ) -> None:
        self.real = real
        self.served = served
        self.ids = ids
        self.v3 = v3  # an endpoint neither side has registered yet

    def both(self, *args: str) -> tuple[tuple[int, str], tuple[int, str]]:
        """What the CLI prints against the real server, then against the served model."""
        words = [self.ids.get(a, a) for a in args]
        answers = (
            self.real.cli(*words, timeout=60),
            self.real.cli(*words, timeout=60, admin_url=self.served.admin_url),
        )
        real, served = ((done.returncode, _masked(done.stdout + done.stderr)) for done in answers)
        return real, served


def _wait_for(real: RestateServer, sql: str, rows: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.post(
            f"{real.admin_url}/query", json={"query": sql}, headers={"accept": "application/json"}
        )
        if answer.status_code == 200 and len(answer.json()["rows"]) >= rows:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{sql!r} did not answer {rows} rows: {answer.text}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def scene() -> Iterator[Scene]:
    real_servers = own_restate_server()
    real = next(real_servers)
    v1 = start_sdk_endpoint("app_lifecycle")
    v2 = start_sdk_endpoint("app_lifecycle")
    v3 = start_sdk_endpoint("app_lifecycle")
    shop = start_sdk_endpoint("app")
    try:
        ids: dict[str, str] = {}

        def register(url: str) -> str:
            answer = httpx.post(f"{real.admin_url}/deployments", json={"uri": url}, timeout=30)
            assert answer.status_code == 201, answer.text
            deployment_id: str = answer.json()["id"]
            return deployment_id

        def send(path: str, body: Any) -> str:
            answer = httpx.post(f"{real.ingress_url}/{path}", json=body, timeout=30)
            assert answer.status_code == 202, answer.text
            invocation_id: str = answer.json()["invocationId"]
            return invocation_id

        ids["V1"] = register(v1.url)
        ids["HELD"] = send("Holder/hold/send", "on v1")  # pinned to v1, runs on
        _wait_for(real, "SELECT id FROM sys_invocation WHERE pinned_deployment_id IS NOT NULL", 1)
        ids["V2"] = register(v2.url)
        ids["SHOP"] = register(shop.url)
        httpx.post(f"{real.ingress_url}/Greeter/greet", json="done", timeout=30)
        ids["SLOW"] = send("TicketObject/t1/reserve/send", "slow seat")  # holds t1, sleeps
        _wait_for(real, "SELECT invocation_id FROM sys_keyed_service_status", 1)
        ids["QUEUED"] = send("TicketObject/t1/reserve/send", "next")  # waits behind it
        ids["LATER"] = send("Greeter/greet/send?delay=1h", "later")
        ids["RUN"] = send("Signup/u1/run/send", "u1@example.com")
        _wait_for(real, "SELECT id FROM sys_invocation WHERE status != 'completed'", 5)
        registry = AdminSource(real.admin_url).load()
        with AdminServer(registry) as served:
            yield Scene(real, served, ids, v3.url)
    finally:
        for endpoint in (v1, v2, v3, shop):
            endpoint.stop()
        next(real_servers, None)


#: Commands that print services or handlers in the order the admin API lists them: the
#: server's own (a hash map's, which changes between answers); compared line by line, sorted.
UNORDERED = {
    ("services", "list"),
    ("services", "status"),
    ("services", "describe", "TicketObject"),
    ("deployments", "describe", "SHOP"),
}

READS = (
    ("services", "list"),
    ("deployments", "list"),
    ("deployments", "list", "--extra"),
    ("deployments", "describe", "V1"),
    ("deployments", "describe", "SHOP"),
    ("services", "status"),
    ("services", "describe", "TicketObject"),
    ("invocations", "list"),
    ("invocations", "list", "--all"),
    ("invocations", "describe", "HELD"),
    ("invocations", "describe", "QUEUED"),
    ("invocations", "describe", "LATER"),
)


@pytest.mark.parametrize("command", READS, ids=" ".join)
def test_the_cli_reads_the_served_model_as_it_reads_the_real_server(
    scene: Scene, command: tuple[str, ...]
) -> None:
    real, served = scene.both(*command)
    if command in UNORDERED:
        real, served = (
            (code, "\n".join(sorted(text.splitlines()))) for code, text in (real, served)
        )
    assert served == real, _diff(real, served)


def test_the_same_writes_leave_the_cli_reading_the_same_on_both(scene: Scene) -> None:
    # v1 is draining: the CLI refuses to remove it, on both
    (real_code, real), (served_code, served) = scene.both("deployments", "remove", "V1", "--yes")
    assert (served_code, served) == (real_code, real), _diff(
        (real_code, real), (served_code, served)
    )
    assert real_code != 0
    # the call pinned to it is killed, on both
    real_kill, served_kill = scene.both("invocations", "kill", "HELD", "--yes")
    assert served_kill == real_kill, _diff(real_kill, served_kill)
    _wait_for(
        scene.real,
        f"SELECT id FROM sys_invocation WHERE id = '{scene.ids['HELD']}' AND status = 'completed'",
        1,
    )
    for command in (("invocations", "describe", "HELD"), ("deployments", "list", "--extra")):
        real_read, served_read = scene.both(*command)
        assert served_read == real_read, _diff(real_read, served_read)
    # now drained: removed on both, and both list what is left
    real_remove, served_remove = scene.both("deployments", "remove", "V1", "--yes")
    assert served_remove == real_remove, _diff(real_remove, served_remove)
    assert real_remove[0] == 0
    real_list, served_list = scene.both("deployments", "list")
    assert served_list == real_list, _diff(real_list, served_list)


def test_the_cli_registers_a_real_endpoint_on_both_alike(scene: Scene) -> None:
    # the served model discovers the endpoint itself (HTTP, h2c); each side makes its own id
    ids = re.compile(r"dp_[0-9a-zA-Z]{23}")
    real, served = scene.both("deployments", "register", scene.v3, "--yes")
    real, served = ((code, ids.sub("<id>", text)) for code, text in (real, served))
    assert served == real, _diff(real, served)
    assert real[0] == 0
    listed = scene.both("services", "list")
    real_rows, served_rows = (sorted(ids.sub("<id>", text).splitlines()) for _, text in listed)
    assert served_rows == real_rows
