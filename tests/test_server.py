"""The admin API and ingress served from the model (restate_versioning.server), in process.

What the real restate-server 1.7.12 answered for the same requests is pinned in
``tests/test_server_cli.py`` (the real CLI against both) and noted here where a test holds it.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

from restate_versioning import ManualClock, Registry, SequentialIds
from restate_versioning.commands import Register
from restate_versioning.serialization import admin_services
from restate_versioning.server import AdminServer, ServedRegistry
from restate_versioning.server.tables import SCHEMAS, idempotency_key
from restate_versioning.storage import SQLiteStorage, StoredRegistry
from restate_versioning.transport import StaticTransport

from .helpers import manifest, service

SHOP = manifest(
    service("Greeter"), service("Tickets", "VIRTUAL_OBJECT"), service("Signup", "WORKFLOW")
)
RETYPED = manifest(service("Greeter", "VIRTUAL_OBJECT"))
V1 = "http://127.0.0.1:9081/"
V2 = "http://127.0.0.1:9082/"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def registry(clock: ManualClock) -> Registry:
    return Registry(clock=clock, ids=SequentialIds())


@pytest.fixture
def server(registry: Registry, clock: ManualClock) -> Iterator[AdminServer]:
    transport = StaticTransport({V1: SHOP, V2: RETYPED})
    with AdminServer(registry, transport=transport, clock=clock) as running:
        yield running


def _query(server: AdminServer, sql: str) -> list[dict[str, Any]]:
    answer = httpx.post(
        f"{server.admin_url}/query", json={"query": sql}, headers={"accept": "application/json"}
    )
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["rows"]
    return rows


def _send(server: AdminServer, path: str) -> str:
    answer = httpx.post(f"{server.ingress_url}/{path}", json="x")
    assert answer.status_code == 202, answer.text  # as the server answers a send
    assert answer.json()["status"] == "Accepted"
    invocation_id: str = answer.json()["invocationId"]
    return invocation_id


def test_version_answers_what_1_7_12_answers_with_its_ingress(server: AdminServer) -> None:
    answer = httpx.get(f"{server.admin_url}/version").json()
    assert answer["version"] == "1.7.12"
    assert (answer["min_admin_api_version"], answer["max_admin_api_version"]) == (2, 4)
    assert answer["ingress_endpoint"] == f"{server.ingress_url}/"
    assert set(answer["features"].values()) == {False}


@pytest.mark.parametrize("prefix", ["", "/v2", "/v3", "/v4"])
def test_the_api_answers_at_its_root_and_under_each_version_it_speaks(
    server: AdminServer, registry: Registry, prefix: str
) -> None:
    registry.register(V1, SHOP)
    answer = httpx.get(f"{server.admin_url}{prefix}/services")
    assert answer.status_code == 200
    assert answer.json() == admin_services(registry)


def test_post_deployments_discovers_and_answers_201_then_200_for_the_same_endpoint(
    server: AdminServer, registry: Registry
) -> None:
    body = {"uri": V1, "additional_headers": None, "use_http_11": False, "force": False}
    dry = httpx.post(f"{server.admin_url}/v4/deployments", json={**body, "dry_run": True})
    assert dry.status_code == 201  # a dry run of a new deployment: 201, as the server answers
    assert registry.deployments() == ()
    created = httpx.post(f"{server.admin_url}/v4/deployments", json=body)
    assert created.status_code == 201
    deployment_id = created.json()["id"]
    assert created.headers["location"] == f"deployments/{deployment_id}"
    assert [s["name"] for s in created.json()["services"]] == ["Greeter", "Tickets", "Signup"]
    again = httpx.post(f"{server.admin_url}/v4/deployments", json=body)
    assert (again.status_code, again.json()["id"]) == (200, deployment_id)
    assert len(registry.deployments()) == 1


def test_a_service_type_change_answers_409_meta0006_and_changes_nothing(
    server: AdminServer, registry: Registry
) -> None:
    registry.register(V1, SHOP)
    before = registry.snapshot()
    answer = httpx.post(f"{server.admin_url}/deployments", json={"uri": V2})
    assert answer.status_code == 409
    assert answer.json()["restate_code"] == "META0006"
    assert "Greeter" in answer.json()["message"]
    assert registry.snapshot() == before
    forced = httpx.post(f"{server.admin_url}/deployments", json={"uri": V2, "breaking": True})
    assert forced.status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        # what restate-server 1.7.12 answers for each (its text bodies quote no input)
        ("POST", "/deployments", b"{", 400),
        ("POST", "/deployments", b"[]", 422),
        ("POST", "/deployments", b"{}", 422),
        ("POST", "/deployments", b'{"uri": "127.0.0.1:9"}', 400),
        ("POST", "/deployments", b'{"uri": "http://127.0.0.1:1/"}', 500),
        ("POST", "/deployments", b'{"uri": "http://127.0.0.1:9081/", "force": "yes"}', 422),
        ("POST", "/deployments", b'{"uri": "' + b"x" * 2_100_000 + b'"}', 413),
        ("GET", "/deployments/dp_11nGQpCRmau6ypL82KH2TnP", b"", 404),
        ("GET", "/deployments/not-an-id", b"", 400),
        ("DELETE", "/deployments/dp_11nGQpCRmau6ypL82KH2TnP?force=true", b"", 404),
        ("DELETE", "/deployments/dp_11nGQpCRmau6ypL82KH2TnP", b"", 501),
        ("GET", "/services/Nope", b"", 404),
        ("PATCH", "/services/Greeter", b'{"public": "no"}', 422),
        ("PATCH", "/invocations/inv_1x/kill", b"", 400),
        ("POST", "/query", b'{"query": "SELEC 1"}', 400),
        ("POST", "/query", b'{"query": "CREATE TABLE t (a INT)"}', 400),
        ("POST", "/query", b'{"query": "DROP TABLE sys_invocation"}', 400),
        ("POST", "/query", b"{}", 422),
        ("DELETE", "/services", b"", 405),
        ("GET", "/nope", b"", 404),
    ],
)
def test_bad_requests_get_an_error_and_leave_the_registry_as_it_was(
    server: AdminServer, registry: Registry, method: str, path: str, body: bytes, status: int
) -> None:
    registry.register(V1, SHOP)
    before = registry.snapshot()
    headers = {"content-type": "application/json"}
    answer = httpx.request(method, f"{server.admin_url}{path}", content=body, headers=headers)
    assert answer.status_code == status, answer.text
    if answer.headers.get("content-type") == "application/json":
        assert answer.json()["message"]
    elif status not in (404, 405, 501):  # the server's plain-text refusals
        assert answer.headers["content-type"].startswith("text/plain")
        assert answer.text
    assert registry.snapshot() == before


def test_a_body_that_is_not_json_is_415_as_the_server_answers(server: AdminServer) -> None:
    answer = httpx.post(f"{server.admin_url}/deployments", content=b'{"uri": "http://h:1/"}')
    assert answer.status_code == 415
    assert answer.text == "Expected request with `Content-Type: application/json`"


def test_a_delayed_send_answers_its_execution_time(server: AdminServer, registry: Registry) -> None:
    registry.register(V1, SHOP)
    answer = httpx.post(f"{server.ingress_url}/Greeter/greet/send?delay=10s", json="x")
    assert answer.status_code == 202
    call = registry.invocation(answer.json()["invocationId"])
    assert call.execute_at is not None
    assert answer.json()["executionTime"].startswith(call.execute_at.strftime("%Y-%m-%dT%H:%M:%S"))


def test_delete_is_501_without_force_and_202_with_it(
    server: AdminServer, registry: Registry
) -> None:
    deployment_id = registry.register(V1, SHOP).deployment.id
    assert httpx.delete(f"{server.admin_url}/deployments/{deployment_id}").status_code == 501
    assert len(registry.deployments()) == 1
    answer = httpx.delete(f"{server.admin_url}/deployments/{deployment_id}?force=true")
    assert answer.status_code == 202
    assert registry.deployments() == ()


def test_patch_services_sets_the_visibility_and_answers_the_service(
    server: AdminServer, registry: Registry
) -> None:
    registry.register(V1, SHOP)
    answer = httpx.patch(f"{server.admin_url}/services/Greeter", json={"public": False})
    assert (answer.status_code, answer.json()["public"]) == (200, False)
    assert registry.service("Greeter").public is False
    refused = httpx.post(f"{server.ingress_url}/Greeter/greet/send", json="x")
    assert refused.status_code == 400  # "the invoked service is not public"


def test_ingress_sends_answer_the_invocation_id_and_a_delay_schedules_the_call(
    server: AdminServer, registry: Registry, clock: ManualClock
) -> None:
    registry.register(V1, SHOP)
    running = _send(server, "Greeter/greet/send")
    holder = _send(server, "Tickets/t1/reserve/send")
    queued = _send(server, "Tickets/t1/reserve/send")
    later = _send(server, "Greeter/greet/send?delay=10s")
    statuses = {
        r["id"]: r["status"] for r in _query(server, "SELECT id, status FROM sys_invocation")
    }
    assert statuses == {
        running: "running",
        holder: "running",
        queued: "pending",
        later: "scheduled",
    }
    assert _query(server, "SELECT id FROM sys_inbox") == [{"id": queued}]
    assert _query(server, "SELECT invocation_id FROM sys_keyed_service_status") == [
        {"invocation_id": holder}
    ]
    moved = httpx.post(f"{server.admin_url}/restate-versioning/clock", json={"advance": "10s"})
    assert moved.status_code == 200
    assert registry.invocation(later).status.value == "running"


def test_a_call_waits_for_its_output_until_the_control_api_completes_it(
    server: AdminServer, registry: Registry
) -> None:
    registry.register(V1, SHOP)
    with httpx.Client(timeout=10) as client:
        answers: list[httpx.Response] = []
        caller = threading.Thread(
            target=lambda: answers.append(
                client.post(f"{server.ingress_url}/Greeter/greet", json="x")
            )
        )
        caller.start()
        deadline = time.monotonic() + 5
        while not list(registry.invocations()) and time.monotonic() < deadline:
            time.sleep(0.01)
        (call,) = registry.invocations()
        assert not answers  # it waits: no handler runs here
        done = client.post(
            f"{server.admin_url}/restate-versioning/invocations/{call.id}/complete",
            json={"output": "Hello x!"},
        )
        assert (done.status_code, done.json()["status"]) == (200, "completed")
        caller.join(5)
    assert answers[0].status_code == 200
    assert answers[0].json() == "Hello x!"


def test_kill_and_cancel_end_calls_failed_as_the_server_shows_them(
    server: AdminServer, registry: Registry
) -> None:
    # restate-server 1.7.12: kill answers 200 and ends the call "[409] killed"; cancel answers
    # 202 and, with a handler that does not catch it, "[409] cancelled"
    registry.register(V1, SHOP)
    killed = _send(server, "Greeter/greet/send")
    cancelled = _send(server, "Greeter/greet/send")
    assert httpx.patch(f"{server.admin_url}/invocations/{killed}/kill").status_code == 200
    assert httpx.patch(f"{server.admin_url}/invocations/{cancelled}/cancel").status_code == 202
    rows = _query(
        server, "SELECT id, status, completion_result, completion_failure FROM sys_invocation"
    )
    assert sorted(rows, key=lambda r: r["id"]) == sorted(
        [
            {
                "id": killed,
                "status": "completed",
                "completion_result": "failure",
                "completion_failure": "[409] killed",
            },
            {
                "id": cancelled,
                "status": "completed",
                "completion_result": "failure",
                "completion_failure": "[409] cancelled",
            },
        ],
        key=lambda r: r["id"],
    )


def test_pause_and_resume_move_a_call_as_the_registry_does(
    server: AdminServer, registry: Registry
) -> None:
    registry.register(V1, SHOP)
    call = _send(server, "Greeter/greet/send")
    # restate-server 1.7.12: 202 for a running call (paused at its next step), 200 once paused
    assert httpx.patch(f"{server.admin_url}/invocations/{call}/pause").status_code == 202
    assert httpx.patch(f"{server.admin_url}/invocations/{call}/pause").status_code == 200
    assert registry.invocation(call).status.value == "paused"
    answer = httpx.patch(f"{server.admin_url}/invocations/{call}/resume?deployment=latest")
    assert answer.status_code == 200
    assert registry.invocation(call).status.value == "running"
    later = _send(server, "Greeter/greet/send?delay=1h")
    refused = httpx.patch(f"{server.admin_url}/invocations/{later}/resume")
    assert refused.status_code == 425  # "either inboxed or scheduled, cannot be resumed"
    assert later in refused.json()["message"]


def test_query_answers_an_arrow_stream_by_default_and_json_rows_when_asked(
    server: AdminServer, registry: Registry
) -> None:
    registry.register(V1, SHOP)
    answer = httpx.post(f"{server.admin_url}/query", json={"query": "SELECT * FROM sys_service"})
    assert answer.headers["content-type"] == "application/vnd.apache.arrow.stream"
    table = pa.ipc.open_stream(io.BytesIO(answer.content)).read_all()
    assert table.schema.names == [name for name, _ in SCHEMAS["sys_service"]]
    assert sorted(table.column("name").to_pylist()) == ["Greeter", "Signup", "Tickets"]
    rows = _query(server, "SELECT name, revision, public, ty FROM sys_service ORDER BY name")
    assert rows[0] == {"name": "Greeter", "revision": 1, "public": True, "ty": "service"}


def test_json_rows_leave_nulls_out_as_the_server_does(
    server: AdminServer, registry: Registry
) -> None:
    registry.register(V1, SHOP)
    call = _send(server, "Greeter/greet/send")
    (row,) = _query(server, "SELECT id, idempotency_key, invoked_by_id FROM sys_invocation")
    assert row == {"id": call, "idempotency_key": idempotency_key(call)}


def test_information_schema_lists_each_table_with_the_server_columns(server: AdminServer) -> None:
    rows = _query(
        server,
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
    )
    listed: dict[str, list[str]] = {}
    for row in rows:
        listed.setdefault(row["table_name"], []).append(row["column_name"])
    assert listed == {table: [name for name, _ in columns] for table, columns in SCHEMAS.items()}


def test_the_clock_does_not_move_unless_it_is_a_manual_clock(registry: Registry) -> None:
    with AdminServer(registry) as running:
        answer = httpx.post(f"{running.admin_url}/restate-versioning/clock", json={"advance": "1s"})
    assert answer.status_code == 409


def test_a_stored_registry_is_served_and_keeps_what_the_api_does(tmp_path: Path) -> None:
    path = tmp_path / "served.db"
    with StoredRegistry(SQLiteStorage(path)) as stored:
        transport = StaticTransport({V1: SHOP})
        with AdminServer(stored, transport=transport) as running:
            answer = httpx.post(f"{running.admin_url}/deployments", json={"uri": V1})
            assert answer.status_code == 201
    with StoredRegistry(SQLiteStorage(path)) as again:
        assert [d.endpoint for d in again.registry.deployments()] == [V1]


def test_a_served_registry_takes_changes_from_the_harness_under_its_lock(
    registry: Registry,
) -> None:
    served = ServedRegistry(registry)
    with AdminServer(served) as running:
        with served.lock:
            registry.register(V1, SHOP)
        assert [s["name"] for s in httpx.get(f"{running.admin_url}/services").json()["services"]]


def test_the_admin_server_fixture_serves_the_test_registry(
    admin_server: AdminServer, versioning_clock: ManualClock
) -> None:
    admin_server.served.execute(Register(V1, SHOP))
    assert httpx.get(f"{admin_server.admin_url}/deployments").json()["deployments"]
    before = versioning_clock()
    moved = httpx.post(f"{admin_server.admin_url}/restate-versioning/clock", json={"advance": "1m"})
    assert moved.status_code == 200
    assert versioning_clock() - before == timedelta(minutes=1)


@pytest.mark.integration  # starts the console script
def test_serve_answers_on_the_ports_it_prints_until_interrupted(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "restate_versioning",
            "--store",
            str(tmp_path / "s.db"),
            "serve",
            "--admin-port",
            "0",
            "--ingress-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        admin = process.stdout.readline().split()[-1]
        ingress = process.stdout.readline().split()[-1]
        assert httpx.get(f"{admin}/version").json()["ingress_endpoint"] == f"{ingress}/"
        assert httpx.get(f"{ingress}/restate/health").status_code == 200
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_an_idempotency_key_makes_the_same_send_the_same_invocation(
    server: AdminServer, registry: Registry
) -> None:
    """Seen on the server: the same key answers the same id, "PreviouslyAccepted" (even with
    another body), with ``x-restate-id``; sys_invocation shows the key."""
    registry.register(V1, SHOP)
    headers = {"idempotency-key": "order-1"}
    first = httpx.post(f"{server.ingress_url}/Greeter/greet/send", json="a", headers=headers)
    again = httpx.post(f"{server.ingress_url}/Greeter/greet/send", json="b", headers=headers)
    invocation_id = first.json()["invocationId"]
    assert (first.status_code, first.json()["status"]) == (202, "Accepted")
    assert again.json() == {"invocationId": invocation_id, "status": "PreviouslyAccepted"}
    assert again.headers["x-restate-id"] == invocation_id
    assert len(list(registry.invocations())) == 1
    rows = _query(server, "SELECT idempotency_key FROM sys_invocation")
    assert rows == [{"idempotency_key": "order-1"}]
    other = httpx.post(f"{server.ingress_url}/Greeter/greet/send", json="a")
    assert other.json()["invocationId"] != invocation_id


def test_an_idempotency_key_on_a_workflow_run_is_refused(
    server: AdminServer, registry: Registry
) -> None:
    registry.register(V1, SHOP)
    answer = httpx.post(
        f"{server.ingress_url}/Signup/u1/run/send", json="x", headers={"idempotency-key": "k"}
    )
    assert answer.status_code == 400
    assert answer.json()["message"].startswith("cannot use the idempotency key with workflow")
    assert answer.headers["x-restate-error-source"] == "ingress"
    assert list(registry.invocations()) == []


def test_the_output_of_a_call_is_470_until_it_completes(
    server: AdminServer, registry: Registry
) -> None:
    registry.register(V1, SHOP)
    call = _send(server, "Greeter/greet/send")
    output = f"{server.ingress_url}/restate/invocation/{call}/output"
    waiting = httpx.get(output)
    assert waiting.status_code == 470
    assert waiting.json() == {
        "code": 470,
        "message": "the invocation exists but has not completed yet",
        "source": "ingress",
    }
    httpx.post(
        f"{server.admin_url}/restate-versioning/invocations/{call}/complete",
        json={"output": "Hello x!"},
    )
    done = httpx.get(output)
    assert (done.status_code, done.json()) == (200, "Hello x!")
    assert done.headers["x-restate-id"] == call
    attached = httpx.get(f"{server.ingress_url}/restate/invocation/{call}/attach")
    assert attached.json() == "Hello x!"


def test_a_workflow_runs_output_is_read_by_its_key(server: AdminServer, registry: Registry) -> None:
    registry.register(V1, SHOP)
    run = _send(server, "Signup/u1/run/send")
    again = httpx.post(f"{server.ingress_url}/Signup/u1/run/send", json="x")
    assert again.json() == {"invocationId": run, "status": "PreviouslyAccepted"}
    assert httpx.get(f"{server.ingress_url}/restate/workflow/Signup/u1/output").status_code == 470
    httpx.post(f"{server.admin_url}/restate-versioning/invocations/{run}/complete", json={})
    done = httpx.get(f"{server.ingress_url}/restate/workflow/Signup/u1/output")
    assert (done.status_code, done.json()) == (200, None)
    unknown = httpx.get(f"{server.ingress_url}/restate/workflow/Signup/u2/output")
    assert (unknown.status_code, unknown.json()["message"]) == (404, "invocation not found")


def test_purge_forgets_a_completed_call_and_refuses_one_that_runs(
    server: AdminServer, registry: Registry
) -> None:
    registry.register(V1, SHOP)
    call = _send(server, "Greeter/greet/send")
    running = httpx.patch(f"{server.admin_url}/invocations/{call}/purge")
    assert running.status_code == 409
    assert running.json()["message"] == f"The invocation '{call}' is not yet completed."
    registry.complete(call)
    assert httpx.patch(f"{server.admin_url}/invocations/{call}/purge").status_code == 200
    gone = httpx.patch(f"{server.admin_url}/invocations/{call}/purge")
    assert gone.json()["message"] == f"The requested invocation '{call}' does not exist"
    assert list(registry.invocations()) == []


def test_restart_as_new_starts_the_target_of_a_completed_call_again(
    server: AdminServer, registry: Registry
) -> None:
    registry.register(V1, SHOP)
    call = _send(server, "Tickets/t1/reserve/send")
    assert httpx.patch(f"{server.admin_url}/invocations/{call}/restart-as-new").status_code == 409
    registry.complete(call)
    answer = httpx.patch(f"{server.admin_url}/invocations/{call}/restart-as-new")
    new = registry.invocation(answer.json()["new_invocation_id"])
    assert (new.service, new.handler, new.key, new.status.value) == (
        "Tickets",
        "reserve",
        "t1",
        "running",
    )


def test_patch_services_sets_retentions_and_timeouts_as_the_server_reads_durations(
    server: AdminServer, registry: Registry
) -> None:
    registry.register(V1, SHOP)
    body = {"idempotency_retention": "PT1H30M", "journal_retention": "90 minutes"}
    answer = httpx.patch(f"{server.admin_url}/services/Greeter", json=body)
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert (shown["idempotency_retention"], shown["journal_retention"]) == ("1h 30m", "1h 30m")
    assert registry.service("Greeter").idempotency_retention_ms == 5_400_000
    before = registry.snapshot()
    negative = httpx.patch(f"{server.admin_url}/services/Greeter", json={"abort_timeout": "-1h"})
    assert negative.status_code == 422
    assert "negative signed durations" in negative.text
    retention = {"workflow_completion_retention": "1h"}
    refused = httpx.patch(f"{server.admin_url}/services/Greeter", json=retention)
    assert refused.json()["message"] == (
        "modifying retention time for service type Service is unsupported"
    )
    assert registry.snapshot() == before


def test_the_ingress_checks_the_body_against_the_handlers_input_rules(
    server: AdminServer, registry: Registry
) -> None:
    registry.register(
        V1,
        manifest(
            service(
                "Greeter",
                handlers=[
                    {
                        "name": "greet",
                        "input": {"contentType": "application/json", "jsonSchema": {}},
                    }
                ],
            )
        ),
    )
    url = f"{server.ingress_url}/Greeter/greet/send"
    text = httpx.post(url, content=b"x", headers={"content-type": "text/plain"})
    assert text.json()["message"] == (
        "input validation error: Content-type 'text/plain' does not match 'application/json'"
    )
    empty = httpx.post(url, content=b"", headers={"content-type": "application/json"})
    assert empty.json()["message"] == "input validation error: Empty body not allowed"
    assert httpx.post(url, content=b"").status_code == 202  # no body, no type: not required
    assert httpx.put(url, json="x").status_code == 405


def test_patch_deployments_moves_the_same_code_and_refuses_other_code(
    registry: Registry, clock: ManualClock
) -> None:
    """The server answers 200 for either (tests/test_server_bad_input.py pins the move of the
    same code against it); the model refuses an endpoint serving other services, 400
    META0016, and changes nothing."""
    deployment_id = registry.register(V1, SHOP).deployment.id
    transport = StaticTransport({V2: SHOP, "http://127.0.0.1:9083/": RETYPED})
    with AdminServer(registry, transport=transport, clock=clock) as server:
        url = f"{server.admin_url}/deployments/{deployment_id}"
        before = registry.snapshot()
        refused = httpx.patch(url, json={"uri": "http://127.0.0.1:9083/"})
        assert refused.status_code == 400
        assert refused.json()["restate_code"] == "META0016"
        assert registry.snapshot() == before
        moved = httpx.patch(url, json={"uri": V2})
        assert (moved.status_code, moved.json()["uri"]) == (200, V2)
        assert registry.find_deployment(V2) == registry.deployment(deployment_id)
