"""The ``restate-versioning`` console script, run for real in a subprocess.

Exit codes are the contract: 0 done, 1 the library refused (one ``error: ...`` line on stderr,
never a traceback), 2 bad usage (unknown verb, malformed id, missing file, a write with
``--admin-url``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest

from restate_versioning.storage import SQLiteStorage, StoredRegistry

from .helpers import SDK_MANIFEST, handler, manifest, service, start_restate_server

if TYPE_CHECKING:
    from .restate_server import RestateServer

STORE = "restate-versioning.db"


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "restate_versioning", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(cwd: Path, *args: str) -> str:
    result = run(cwd, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def shows_blocked(cwd: Path, *args: str) -> str:
    """Run a command that shows something and exits 1 (``plan-removal`` of an unsafe removal):
    what it printed on stdout."""
    return refused(cwd, *args).stdout


def as_json(cwd: Path, *args: str) -> Any:
    return json.loads(ok(cwd, *args, "--json"))


def refused(cwd: Path, *args: str, code: int = 1) -> subprocess.CompletedProcess[str]:
    """Run a command that must fail with ``code`` and a readable message, no traceback."""
    result = run(cwd, *args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    if code == 1:
        assert result.stderr.startswith("error: ")
        assert result.stderr.count("\n") == 1
    return result


@pytest.fixture
def manifest_file(tmp_path: Path) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(SDK_MANIFEST))
    return path


def register(cwd: Path, endpoint: str, *flags: str) -> str:
    """Register the SDK manifest at ``endpoint``; the deployment id."""
    out = ok(cwd, "deployments", "register", endpoint, "--manifest", "manifest.json", *flags)
    return out.split()[0]


def test_help_lists_the_verbs_and_an_unknown_verb_is_bad_usage(tmp_path: Path) -> None:
    out = ok(tmp_path, "--help")
    assert "deployments" in out
    assert "services" in out
    assert "history" in out
    assert "register" in ok(tmp_path, "deployments", "--help")
    assert "No such command" in refused(tmp_path, "frobnicate", code=2).stderr
    refused(tmp_path, "deployments", "frobnicate", code=2)


def test_the_installed_console_script_runs(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "restate-versioning"
    result = subprocess.run(
        [str(script), "services", "list"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "NAME" in result.stdout


def test_reading_without_a_store_shows_an_empty_registry_and_creates_nothing(
    tmp_path: Path,
) -> None:
    assert as_json(tmp_path, "services", "list") == []
    assert as_json(tmp_path, "deployments", "list") == []
    assert as_json(tmp_path, "deployments", "drained") == []
    assert as_json(tmp_path, "history") == []
    assert not (tmp_path / STORE).exists()


def test_register_from_a_manifest_then_the_read_verbs(tmp_path: Path, manifest_file: Path) -> None:
    v1 = register(tmp_path, "http://greeter-v1:9080")
    dry = ok(
        tmp_path,
        "deployments",
        "register",
        "http://greeter-v2:9080",
        "--manifest",
        str(manifest_file),
        "--dry-run",
    )
    assert "would be CREATED" in dry
    assert "Greeter: revision 1 -> 2" in dry
    assert len(as_json(tmp_path, "deployments", "list")) == 1  # a dry run stores nothing
    v2 = register(tmp_path, "http://greeter-v2:9080")

    text = ok(tmp_path, "services", "list")
    assert f"[public]  Greeter       2                         HTTP             {v2}" in text
    services = as_json(tmp_path, "services", "list")
    assert {s["name"]: s["revision"] for s in services} == {
        "Greeter": 2,
        "Signup": 2,
        "TicketObject": 2,
    }

    rows = as_json(tmp_path, "deployments", "list")
    assert [(r["id"], r["status"]) for r in rows] == [(v2, "Active"), (v1, "Drained")]
    assert "STATUS" in ok(tmp_path, "deployments", "list")

    described = ok(tmp_path, "deployments", "describe", v1)
    assert f"Revision: 1 [Latest 2 is in deployment ID {v2}]" in described
    description = as_json(tmp_path, "deployments", "describe", v2)
    assert description["id"] == v2
    assert description["endpoint"] == "http://greeter-v2:9080/"

    assert "Greeter" in ok(tmp_path, "services", "status")
    status = as_json(tmp_path, "services", "status", "Greeter")
    assert [h["handler"] for h in status["handlers"]] == ["greet"]
    assert status["active_keys"] == []

    history = ok(tmp_path, "history")
    assert history.splitlines()[0].split() == ["#", "AT", "COMMAND", "SUMMARY"]
    assert f"CREATED {v1}" in history
    assert f"CREATED {v2}" in history
    assert [r["command"] for r in as_json(tmp_path, "history")] == ["register", "register"]


def test_removal_is_refused_with_its_blockers_then_promote_makes_it_safe(
    tmp_path: Path, manifest_file: Path
) -> None:
    v1 = register(tmp_path, "http://greeter-v1:9080")
    v2 = register(tmp_path, "http://greeter-v2:9080")
    plan = shows_blocked(tmp_path, "deployments", "plan-removal", v2)
    assert "NOT safe to remove" in plan
    assert "ROLLBACK" in plan
    assert (
        json.loads(shows_blocked(tmp_path, "deployments", "plan-removal", v2, "--json"))["safe"]
        is False
    )

    blocked = refused(tmp_path, "deployments", "remove", v2)
    assert "ROLLBACK" in blocked.stdout
    assert "use --force" in blocked.stderr
    assert len(as_json(tmp_path, "deployments", "list")) == 2  # nothing was removed

    drained = as_json(tmp_path, "deployments", "drained")
    assert [p["deployment_id"] for p in drained] == [v1]
    assert "is safe to remove" in ok(tmp_path, "deployments", "drained")

    promoted = ok(tmp_path, "deployments", "promote", v1)
    assert f"{v1} OVERWRITTEN" in promoted
    assert "Greeter: revision 2 -> 3" in promoted
    removed = ok(tmp_path, "deployments", "remove", v2)
    assert f"removed {v2}" in removed
    assert "(forced)" not in removed

    v3 = register(tmp_path, "http://greeter-v3:9080")
    forced = ok(tmp_path, "deployments", "remove", v3, "--force")
    assert f"removed {v3} (forced)" in forced
    assert "overridden ROLLBACK" in forced
    assert [r["id"] for r in as_json(tmp_path, "deployments", "list")] == [v1]
    assert refused(tmp_path, "deployments", "remove", v3).stderr.startswith("error: ")


def test_a_running_invocation_shows_in_status_and_blocks_removal(
    tmp_path: Path, manifest_file: Path
) -> None:
    v1 = register(tmp_path, "http://greeter-v1:9080")
    with StoredRegistry(SQLiteStorage(tmp_path / STORE)) as stored:
        call = stored.invoke("Greeter", "greet")
    register(tmp_path, "http://greeter-v2:9080")

    status = ok(tmp_path, "services", "status", "Greeter")
    assert call.id in status
    handlers = as_json(tmp_path, "services", "status", "Greeter")["handlers"]
    assert handlers[0]["counts"] == [["running", 1]]
    assert handlers[0]["oldest"]["id"] == call.id
    assert as_json(tmp_path, "deployments", "list")[1]["status"] == "Draining"

    plan = json.loads(shows_blocked(tmp_path, "deployments", "plan-removal", v1, "--json"))
    assert [b["kind"] for b in plan["blockers"]] == ["IN_FLIGHT"]
    assert "IN_FLIGHT" in refused(tmp_path, "deployments", "remove", v1).stdout


def test_set_public_makes_a_service_private(tmp_path: Path, manifest_file: Path) -> None:
    register(tmp_path, "http://greeter-v1:9080")
    assert "Greeter revision 1 is now private" in ok(
        tmp_path, "services", "set-public", "Greeter", "false"
    )
    assert "[private]  Greeter" in ok(tmp_path, "services", "list")
    assert "is now public" in ok(tmp_path, "services", "set-public", "Greeter", "true")
    refused(tmp_path, "services", "set-public", "Greeter", "maybe", code=2)
    assert "'Nope' not found" in refused(tmp_path, "services", "set-public", "Nope", "0").stderr


def test_bad_input_is_one_readable_line(tmp_path: Path, manifest_file: Path) -> None:
    register(tmp_path, "http://greeter-v1:9080")
    unknown = refused(tmp_path, "deployments", "describe", "dp_10zwYst2RFibN7qwjN53Ked")
    assert "does not exist" in unknown.stderr
    refused(tmp_path, "deployments", "plan-removal", "dp_10zwYst2RFibN7qwjN53Ked")
    refused(tmp_path, "deployments", "promote", "dp_10zwYst2RFibN7qwjN53Ked")
    assert (
        "not a valid deployment id"
        in refused(tmp_path, "deployments", "describe", "nope", code=2).stderr
    )
    refused(tmp_path, "deployments", "remove", "dp_", code=2)
    missing = refused(
        tmp_path, "deployments", "register", "http://x:9080", "--manifest", "absent.json", code=2
    )
    assert "does not exist" in missing.stderr
    (tmp_path / "bad.json").write_text("{not json")
    invalid = refused(
        tmp_path, "deployments", "register", "http://x:9080", "--manifest", "bad.json"
    )
    assert "malformed JSON" in invalid.stderr
    (tmp_path / "empty.json").write_text("{}")
    assert (
        "invalid endpoint manifest"
        in refused(
            tmp_path, "deployments", "register", "http://x:9080", "--manifest", "empty.json"
        ).stderr
    )
    refused(tmp_path, "deployments", "register", "not a url", "--manifest", "manifest.json")
    assert "'Nope' not found" in refused(tmp_path, "services", "status", "Nope").stderr
    assert len(as_json(tmp_path, "deployments", "list")) == 1


def test_a_store_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    (tmp_path / "other.db").write_text("not a database")
    result = refused(tmp_path, "--store", "other.db", "services", "list")
    assert "cannot use the store" in result.stderr


@pytest.mark.parametrize(
    "verb",
    [
        ("deployments", "register", "http://x:9080", "--manifest", "manifest.json"),
        ("deployments", "register", "http://x:9080", "--dry-run"),
        ("deployments", "promote", "dp_10zwYst2RFibN7qwjN53Ked"),
        ("services", "declare-caller", "Greeter", "Signup/run"),
        ("services", "forget-caller", "Greeter", "Signup/run"),
        ("invocations", "start-due"),
        ("invocations", "pause", "inv_1jRQOV56MSwg31yZ8yWogce9XtMqZWNr6F"),
        ("history",),
    ],
)
def test_a_write_only_a_store_takes_is_bad_usage_with_admin_url(
    tmp_path: Path, manifest_file: Path, verb: tuple[str, ...]
) -> None:
    result = refused(tmp_path, "--admin-url", "http://127.0.0.1:9", *verb, code=2)
    assert "--admin-url" in result.stderr
    assert not (tmp_path / STORE).exists()


@pytest.mark.parametrize(
    "verb",
    [("deployments", "prune"), ("deployments", "wait-drained", "dp_10zwYst2RFibN7qwjN53Ked")],
)
def test_a_verb_that_acts_on_a_live_cluster_only_is_bad_usage_without_admin_url(
    tmp_path: Path, verb: tuple[str, ...]
) -> None:
    result = refused(tmp_path, *verb, code=2)
    assert "--admin-url" in result.stderr
    assert not (tmp_path / STORE).exists()


@pytest.mark.integration
def test_register_discovers_a_real_sdk_endpoint(tmp_path: Path, sdk_bidi_url: str) -> None:
    created = ok(tmp_path, "deployments", "register", sdk_bidi_url)
    deployment_id, outcome = created.split()[:2]
    assert outcome == "CREATED:"
    assert "Greeter: revision - -> 1" in created
    again = ok(tmp_path, "deployments", "register", sdk_bidi_url)
    assert again.split()[:2] == [deployment_id, "UNCHANGED:"]
    description = as_json(tmp_path, "deployments", "describe", deployment_id)
    assert description["transport"] == "HTTP/2.0"
    assert description["protocol_style"] == "Bidirectional Stream"
    assert description["sdk_version"].startswith("restate-sdk-python/")
    forced = ok(tmp_path, "deployments", "register", sdk_bidi_url, "--force", "--dry-run")
    assert "would be" in forced
    unreachable = refused(tmp_path, "deployments", "register", "http://127.0.0.1:9")
    assert deployment_id not in unreachable.stderr


@pytest.mark.integration
def test_a_live_cluster_reads_through_the_admin_api(
    tmp_path: Path, restate_server: RestateServer, sdk_bidi_url: str
) -> None:
    """``--admin-url`` loads a real restate-server's state, and the read verbs work
    on it: the deployment registered through the real admin API is there."""
    import httpx

    answer = httpx.post(
        f"{restate_server.admin_url}/deployments", json={"uri": sdk_bidi_url}, timeout=30
    )
    assert answer.status_code in (200, 201), answer.text
    deployment_id = answer.json()["id"]
    live = ("--admin-url", restate_server.admin_url)
    deployments = as_json(tmp_path, *live, "deployments", "list")
    assert deployment_id in json.dumps(deployments)
    services = as_json(tmp_path, *live, "services", "list")
    assert "Greeter" in json.dumps(services)
    assert deployment_id in ok(tmp_path, *live, "deployments", "describe", deployment_id)
    assert not (tmp_path / STORE).exists()


def test_invocations_move_through_their_statuses(tmp_path: Path, manifest_file: Path) -> None:
    deployment_id = register(tmp_path, "http://127.0.0.1:9081")
    line = ok(tmp_path, "invocations", "invoke", "TicketObject", "reserve", "--key", "k")
    invocation_id, target, status, pinned = line.split()
    assert (target, status, pinned) == ("TicketObject/k/reserve", "running", deployment_id)
    waiting = ok(tmp_path, "invocations", "invoke", "TicketObject", "reserve", "--key", "k")
    assert waiting.split()[2:] == ["pending", "-"]  # not pinned: it has not started
    assert ok(tmp_path, "invocations", "suspend", invocation_id).split()[2] == "suspended"
    assert ok(tmp_path, "invocations", "resume", invocation_id).split()[2] == "running"
    assert ok(tmp_path, "invocations", "complete", invocation_id).split()[2] == "completed"
    listed = as_json(tmp_path, "invocations", "list")
    assert [i["status"] for i in listed] == ["completed", "running"]
    table = ok(tmp_path, "invocations", "list").splitlines()
    assert table[0].split() == ["ID", "TARGET", "STATUS", "DEPLOYMENT", "INVOKED-BY"]
    assert [row.split()[2] for row in table[1:]] == ["completed", "running"]
    delayed = ok(tmp_path, "invocations", "invoke", "Greeter", "greet", "--delay", "60")
    assert delayed.split()[2] == "scheduled"
    ok(tmp_path, "invocations", "kill", delayed.split()[0])
    refused(tmp_path, "invocations", "complete", invocation_id)  # completing twice
    refused(tmp_path, "invocations", "kill", "inv_nope", code=2)
    refused(tmp_path, "invocations", "invoke", "Greeter", "greet", "--delay", "-1", code=2)


def test_register_checks_declared_state_and_promote_is_checked_as_a_rollback(
    tmp_path: Path, manifest_file: Path
) -> None:
    narrow = {"type": "object", "properties": {"n": {"type": "integer"}}}
    wide = {"type": "object", "properties": {"n": {"type": "number"}}}
    for name, schema in (("narrow.json", narrow), ("wide.json", wide)):
        (tmp_path / name).write_text(json.dumps({"TicketObject": {"seats": schema}}))
    v1 = register(tmp_path, "http://127.0.0.1:9081", "--state", "narrow.json")
    out = ok(
        tmp_path, "deployments", "register", "http://127.0.0.1:9082",
        "--manifest", "manifest.json", "--state", "wide.json",
    )  # fmt: skip
    assert "TicketObject revision 2 reading the state of revision 1: compatible" in out
    v2 = out.split()[0]
    failure = refused(tmp_path, "deployments", "promote", v1)
    assert "incompatible state" in failure.stderr
    assert "'seats'" in failure.stderr
    assert failure.stderr.endswith("(--breaking does it anyway)\n")  # the flag, not breaking=
    plan = shows_blocked(tmp_path, "deployments", "plan-removal", v2)
    assert "Warnings:" in plan
    assert "rolling 'TicketObject' back to revision 1" in plan
    warnings = json.loads(shows_blocked(tmp_path, "deployments", "plan-removal", v2, "--json"))[
        "warnings"
    ]
    assert warnings[0]["check"]["keys"][0]["compatibility"]["verdict"] == "incompatible"
    promoted = ok(tmp_path, "deployments", "promote", v1, "--breaking")
    assert "incompatible" in promoted


def test_a_state_file_that_is_not_a_json_object_is_bad_usage(
    tmp_path: Path, manifest_file: Path
) -> None:
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "list.json").write_text("[1]")
    args = ("deployments", "register", "http://127.0.0.1:9081", "--manifest", "manifest.json")
    assert (
        "'bad.json' is not JSON" in refused(tmp_path, *args, "--state", "bad.json", code=2).stderr
    )
    assert "not [1]" in refused(tmp_path, *args, "--state", "list.json", code=2).stderr
    (tmp_path / "schema.json").write_text(json.dumps({"TicketObject": {"k": {"type": 3}}}))
    assert "invalid state declaration" in refused(tmp_path, *args, "--state", "schema.json").stderr
    assert as_json(tmp_path, "deployments", "list") == []


# --- every blocker cleared from the command line --------------------------------------------


def write_manifest(cwd: Path, name: str, *services: str) -> str:
    """A manifest file ``name`` serving these plain services, each with a ``run`` handler."""
    document = manifest(*(service(s, handlers=[handler("run")]) for s in services))
    (cwd / name).write_text(json.dumps(document))
    return name


def test_a_declared_caller_blocks_removal_until_forgotten_from_the_command_line(
    tmp_path: Path,
) -> None:
    billing = ok(
        tmp_path, "deployments", "register", "http://billing:9080",
        "--manifest", write_manifest(tmp_path, "billing.json", "Payments"),
    ).split()[0]  # fmt: skip
    ok(
        tmp_path, "deployments", "register", "http://checkout:9080",
        "--manifest", write_manifest(tmp_path, "checkout.json", "Checkout"),
    )  # fmt: skip
    ok(tmp_path, "services", "set-public", "Payments", "false")
    assert "No handler is known to call 'Payments'." in ok(
        tmp_path, "services", "callers", "Payments"
    )
    declared = ok(tmp_path, "services", "declare-caller", "Payments", "Checkout/run")
    assert declared == "Checkout/run calls Payments: declared\n"
    assert ok(tmp_path, "services", "callers", "Payments") == "Checkout/run\n"
    assert as_json(tmp_path, "services", "callers", "Payments") == ["Checkout/run"]

    plan = shows_blocked(tmp_path, "deployments", "plan-removal", billing)
    assert "CALLERS: services that would vanish still have callers that stay" in plan
    assert "services callers Payments lists them" in plan
    assert "services forget-caller SERVICE CALLER" in plan
    assert "CALLERS" in refused(tmp_path, "deployments", "remove", billing).stdout

    forgotten = ok(tmp_path, "services", "forget-caller", "Payments", "Checkout/run")
    assert forgotten == "Checkout/run calls Payments: forgotten\n"
    assert as_json(tmp_path, "services", "callers", "Payments") == []
    assert "is safe to remove." in ok(tmp_path, "deployments", "plan-removal", billing)
    again = refused(tmp_path, "services", "forget-caller", "Payments", "Checkout/run")
    assert "'Checkout/run' is not known to call 'Payments'" in again.stderr
    bad = refused(tmp_path, "services", "declare-caller", "Payments", "Checkout")
    assert "'Checkout'" in bad.stderr
    assert [r["command"] for r in as_json(tmp_path, "history")][-2:] == [
        "declare_caller",
        "forget_caller",
    ]


def test_a_scheduled_call_starts_when_start_due_runs_after_its_time(
    tmp_path: Path, manifest_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store has no process of its own: a due call stays scheduled through other commands
    until ``invocations start-due`` starts it, on the latest revision. (In-process, so that
    "not due yet" does not depend on how fast an interpreter starts.)"""
    from click.testing import CliRunner

    from restate_versioning.cli import cli

    monkeypatch.chdir(tmp_path)

    def line(*args: str) -> str:
        result = CliRunner().invoke(cli, list(args))
        assert result.exit_code == 0, result.output
        return result.stdout

    register(tmp_path, "http://greeter-v1:9080")
    later = line("invocations", "invoke", "Greeter", "greet", "--delay", "1").split()[0]
    assert line("invocations", "start-due") == "No scheduled call is due.\n"
    time.sleep(1.1)
    v2 = register(tmp_path, "http://greeter-v2:9080")  # another command: it starts nothing
    assert [i["status"] for i in as_json(tmp_path, "invocations", "list")] == ["scheduled"]
    assert line("invocations", "start-due").split() == [later, "Greeter/greet", "running", v2]
    assert line("invocations", "start-due") == "No scheduled call is due.\n"
    assert "start_due" in line("history")
    assert "time has come by the wall clock" in " ".join(line("invocations", "--help").split())


def test_a_paused_call_resumes_where_it_is_pinned_or_on_the_deployment_given(
    tmp_path: Path, manifest_file: Path
) -> None:
    v1 = register(tmp_path, "http://greeter-v1:9080")
    first = ok(tmp_path, "invocations", "invoke", "Greeter", "greet").split()[0]
    second = ok(tmp_path, "invocations", "invoke", "Greeter", "greet").split()[0]
    v2 = register(tmp_path, "http://greeter-v2:9080")
    assert ok(tmp_path, "invocations", "pause", first).split()[2:] == ["paused", v1]
    assert "IN_FLIGHT" in shows_blocked(tmp_path, "deployments", "plan-removal", v1)
    moved = ok(tmp_path, "invocations", "resume", first, "--deployment", "latest")
    assert moved.split()[2:] == ["running", v2]
    ok(tmp_path, "invocations", "pause", first)
    assert ok(tmp_path, "invocations", "resume", first, "--deployment", v1).split()[3] == v1
    ok(tmp_path, "invocations", "suspend", second)
    assert ok(tmp_path, "invocations", "resume", second).split()[2:] == ["running", v1]
    # running: resuming it where it runs changes nothing (the server answers 200); moving is 409
    assert ok(tmp_path, "invocations", "resume", second).split()[2:] == ["running", v1]
    refused(tmp_path, "invocations", "resume", second, "--deployment", "latest")
    ok(tmp_path, "invocations", "pause", second)
    assert (
        "--deployment"
        in refused(tmp_path, "invocations", "resume", second, "--deployment", "nope", code=2).stderr
    )
    unknown = refused(tmp_path, "invocations", "resume", second, "--deployment", KNOWN_DP)
    assert "does not exist" in unknown.stderr
    assert ok(tmp_path, "invocations", "resume", second, "--deployment", "keep").split()[3] == v1


def test_services_status_shows_the_calls_stuck_after_a_forced_removal(
    tmp_path: Path, manifest_file: Path
) -> None:
    """The service is gone with its only deployment, but its calls are stuck there: its
    status still shows them. A service that never existed is still not found."""
    v1 = register(tmp_path, "http://greeter-v1:9080")
    call = ok(tmp_path, "invocations", "invoke", "Greeter", "greet").split()[0]
    ok(tmp_path, "deployments", "remove", v1, "--force")
    assert "Greeter" not in ok(tmp_path, "services", "list")
    status = ok(tmp_path, "services", "status", "Greeter")
    assert call in status
    handlers = as_json(tmp_path, "services", "status", "Greeter")["handlers"]
    assert [(h["handler"], h["counts"]) for h in handlers] == [("greet", [["running", 1]])]
    assert call in ok(tmp_path, "services", "status")
    assert "'Nope' not found" in refused(tmp_path, "services", "status", "Nope").stderr
    ok(tmp_path, "invocations", "kill", call)
    assert "'Greeter' not found" in refused(tmp_path, "services", "status", "Greeter").stderr


@pytest.mark.integration
def test_services_status_on_a_live_cluster_shows_the_calls_stuck_after_a_forced_removal(
    tmp_path: Path, sdk_bidi_url: str
) -> None:
    """On a real restate-server 1.7.12 of its own (the service must vanish): a slow call is
    in flight and the only deployment of Greeter is removed with force. The real ``restate
    services status Greeter`` then says the service does not exist (exit 1); ours, read from
    the same cluster, shows the stuck call."""
    import httpx

    with start_restate_server() as server:
        answer = httpx.post(
            f"{server.admin_url}/deployments", json={"uri": sdk_bidi_url}, timeout=30
        )
        assert answer.status_code == 201, answer.text
        deployment_id = answer.json()["id"]
        sent = httpx.post(f"{server.ingress_url}/Greeter/greet/send", json="slow", timeout=30)
        assert sent.status_code == 202, sent.text
        call = sent.json()["invocationId"]
        live = ("--admin-url", server.admin_url)
        deadline = time.monotonic() + 30
        while call not in ok(tmp_path, *live, "services", "status", "Greeter"):
            assert time.monotonic() < deadline, "the call never showed"
            time.sleep(0.2)
        removed = httpx.delete(
            f"{server.admin_url}/deployments/{deployment_id}", params={"force": "true"}, timeout=30
        )
        assert removed.status_code == 202, removed.text
        real = server.cli("services", "status", "Greeter")
        assert real.returncode == 1
        assert "The requested service 'Greeter' does not exist" in real.stdout + real.stderr
        assert "Greeter" not in ok(tmp_path, *live, "services", "list")
        handlers = as_json(tmp_path, *live, "services", "status", "Greeter")["handlers"]
        assert [h["handler"] for h in handlers] == ["greet"]
        assert handlers[0]["oldest"]["id"] == call
        assert handlers[0]["oldest"]["pinned_deployment_id"] == deployment_id
        assert "'Nope' not found" in refused(tmp_path, *live, "services", "status", "Nope").stderr


def test_refusals_name_the_flags_not_the_python_arguments(
    tmp_path: Path, manifest_file: Path
) -> None:
    v1 = register(tmp_path, "http://greeter-v1:9080")
    no_key = refused(tmp_path, "invocations", "invoke", "TicketObject", "reserve").stderr
    assert "calls need --key KEY" in no_key
    assert "(a str)" not in no_key
    a_key = refused(tmp_path, "invocations", "invoke", "Greeter", "greet", "--key", "k").stderr
    assert "calls take no --key, got 'k'" in a_key
    beyond = refused(tmp_path, "invocations", "invoke", "Greeter", "greet", "--delay", "9e12")
    assert "--delay 9e+12 seconds is beyond any date" in beyond.stderr
    assert "timedelta" not in beyond.stderr
    plan = shows_blocked(tmp_path, "deployments", "plan-removal", v1)
    assert "(services set-public Greeter false; services set-public TicketObject false;" in plan
    assert "set_public(" not in plan
    forced = ok(tmp_path, "deployments", "remove", v1, "--force")
    assert "set_public(" not in forced
    assert "services set-public Signup false" in forced

    # a call pinned to the removed deployment: its next attempt fails; it cannot be moved then
    v2 = register(tmp_path, "http://greeter-v2:9080")
    call = ok(tmp_path, "invocations", "invoke", "Greeter", "greet").split()[0]
    ok(tmp_path, "deployments", "remove", v2, "--force")
    ok(tmp_path, "invocations", "pause", call)
    assert ok(tmp_path, "invocations", "resume", call).split()[2] == "backing-off"
    stuck = refused(tmp_path, "invocations", "resume", call, "--deployment", "latest").stderr
    assert "resumes only with --deployment keep" in stuck
    # a call that never started (its service had no deployment left) is pinned nowhere
    register(tmp_path, "http://greeter-v3:9080")
    later = ok(tmp_path, "invocations", "invoke", "Greeter", "greet", "--delay", "0.1").split()[0]
    v3 = as_json(tmp_path, "deployments", "list")[0]["id"]
    ok(tmp_path, "deployments", "remove", v3, "--force")
    time.sleep(0.2)
    assert ok(tmp_path, "invocations", "start-due").split()[2:] == ["backing-off", "-"]
    ok(tmp_path, "invocations", "pause", later)
    nowhere = refused(tmp_path, "invocations", "resume", later, "--deployment", "latest")
    assert "resume it without --deployment (or with --deployment keep)" in nowhere.stderr


def test_a_promote_without_a_kept_manifest_says_the_flag() -> None:
    """A deployment read without its manifest (as from a live cluster) cannot be promoted:
    the command line's words for it say ``--force``, not ``force=True``."""
    from restate_versioning import Registry, VersioningError
    from restate_versioning.cli import _in_flags

    registry = Registry()
    registry.register("http://greeter-v1:9080", SDK_MANIFEST)
    snapshot = registry.snapshot()
    deployments = tuple(attrs.evolve(d, manifest=None) for d in snapshot.deployments)
    bare = Registry.from_snapshot(attrs.evolve(snapshot, deployments=deployments))
    with pytest.raises(VersioningError) as raised:
        bare.promote(deployments[0].id)
    assert "force=True" in str(raised.value)  # the library speaks Python
    assert _in_flags(raised.value).endswith("register its endpoint again with --force")


def test_re_registering_a_known_endpoint_with_another_manifest_is_unchanged_and_says_why(
    tmp_path: Path, manifest_file: Path
) -> None:
    """As the server does no discovery of a known endpoint, the registry keeps the first
    manifest: the second file is not read at all (not even when it is not a manifest), the
    output says so and that ``--force`` overwrites."""
    v1 = register(tmp_path, "http://greeter-v1:9080")
    other = write_manifest(tmp_path, "other.json", "Other")
    (tmp_path / "broken.json").write_text("{not json")
    for name in (other, "broken.json"):
        out = ok(tmp_path, "deployments", "register", "http://greeter-v1:9080", "--manifest", name)
        first, note = out.splitlines()
        assert first == f"{v1} UNCHANGED: http://greeter-v1:9080"
        assert "is already registered: the manifest was not read again" in note
        assert f"(--manifest {name!r} is ignored)" in note
        assert note.endswith("--force overwrites it")
    assert [s["name"] for s in as_json(tmp_path, "services", "list")] == [
        "Greeter",
        "Signup",
        "TicketObject",
    ]
    dry = ok(tmp_path, "deployments", "register", "http://greeter-v1:9080/", "--manifest", other,
             "--dry-run")  # fmt: skip
    assert "would be UNCHANGED" in dry
    assert "was not read again" in dry
    forced = ok(tmp_path, "deployments", "register", "http://greeter-v1:9080", "--manifest", other,
                "--force")  # fmt: skip
    assert f"{v1} OVERWRITTEN" in forced
    assert "not read again" not in forced
    assert [s["name"] for s in as_json(tmp_path, "services", "list")] == ["Other"]
    assert len(as_json(tmp_path, "history")) == 2  # UNCHANGED is not journaled


# --- bad command lines: a table, run in-process --------------------------------------------

KNOWN_DP = "dp_10zwYst2RFibN7qwjN53Ked"  # well formed, never registered
#: Seconds after which a bad command line counts as hanging (the slowest, an unreachable
#: endpoint, retries for about 1.5 s).
HANG_BOUND = 10.0
SECRET = "secret"  # the password in every URL with credentials below: it must never show


@pytest.fixture
def bad_inputs(tmp_path: Path) -> Path:
    """A working directory with a store holding one deployment and one running call, and the
    files the bad command lines name."""
    (tmp_path / "manifest.json").write_text(json.dumps(SDK_MANIFEST))
    with StoredRegistry(SQLiteStorage(tmp_path / STORE)) as stored:
        stored.register("http://127.0.0.1:9081", SDK_MANIFEST)
        stored.invoke("TicketObject", "reserve", key="k")
    files = {
        "deep.json": "[" * 200 + "]" * 200,
        "deep-object.json": '{"a":' * 200 + "1" + "}" * 200,
        "huge.json": "[" + "0," * 600_000 + "0]",
        "nan.json": '{"services": NaN}',
        "infinity.json": "[Infinity]",
        "twice.json": '{"services": [], "services": []}',
        "list.json": "[1]",
        "empty-object.json": "{}",
        "number.json": "3",
        "not-json.json": "{not json",
        "truncated.json": json.dumps(SDK_MANIFEST)[:-7],
        "bad-schema.json": json.dumps({"TicketObject": {"k": {"type": 3}}}),
        "service-state.json": json.dumps({"Greeter": {"k": {"type": "string"}}}),
        "not-a-store.db": "not a database",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "latin1.json").write_bytes(b'{"services": "caf\xe9"}')
    (tmp_path / "a-directory").mkdir()
    return tmp_path


def _store_state(cwd: Path) -> tuple[Any, ...]:
    """Everything a command could change in the store: its history and its registry."""
    from restate_versioning import serialization

    with StoredRegistry(SQLiteStorage(cwd / STORE, create=False)) as stored:
        return stored.history(), serialization.dumps(stored.registry)


register_with = ("deployments", "register", "http://127.0.0.1:9085", "--manifest")
state_with = (*register_with, "manifest.json", "--state")
unreachable_admin = ("--timeout", "2", "--admin-url", f"http://user:{SECRET}@127.0.0.1:9")

#: (name, command line, exit code, what the message says). Exit 1: one ``error: ...`` line;
#: exit 2: click's usage message.
BAD_COMMAND_LINES: list[tuple[str, tuple[str, ...], int, str]] = [
    # deployment ids of every malformed kind: usage errors
    ("describe a word", ("deployments", "describe", "nope"), 2, "not a valid deployment id"),
    ("describe an empty id", ("deployments", "describe", ""), 2, "not a valid deployment id"),
    ("describe a bare prefix", ("deployments", "remove", "dp_"), 2, "not a valid deployment id"),
    ("an id too short", ("deployments", "promote", "dp_10zwYst2RF"), 2, "not a valid"),
    ("an id too long", ("deployments", "plan-removal", KNOWN_DP + "x"), 2, "not a valid"),
    ("an id with a blank", ("deployments", "describe", " " + KNOWN_DP), 2, "not a valid"),
    ("an invocation id as deployment", ("deployments", "describe", "inv_1"), 2, "not a valid"),
    ("an id out of the alphabet", ("deployments", "describe", "dp_" + "!" * 23), 2, "not a"),
    ("a non-ascii id", ("deployments", "describe", "dp_" + "é" * 23), 2, "not a valid"),
    ("a very long id", ("deployments", "describe", "dp_" + "a" * 100_000), 2, "not a valid"),
    # well-formed ids that name nothing: refusals
    ("describe an unknown id", ("deployments", "describe", KNOWN_DP), 1, "does not exist"),
    ("plan an unknown id", ("deployments", "plan-removal", KNOWN_DP), 1, "does not exist"),
    ("remove an unknown id", ("deployments", "remove", KNOWN_DP), 1, "does not exist"),
    ("promote an unknown id", ("deployments", "promote", KNOWN_DP), 1, "does not exist"),
    # invocation ids
    ("kill a word", ("invocations", "kill", "inv_nope"), 2, "inv_nope"),
    ("suspend an empty id", ("invocations", "suspend", ""), 2, "''"),
    ("resume a deployment id", ("invocations", "resume", KNOWN_DP), 2, KNOWN_DP),
    ("complete a very long id", ("invocations", "complete", "inv_" + "1" * 100_000), 2, "inv_"),
    ("kill an id 4 characters too long", ("invocations", "kill", "inv_1" + "0" * 37), 2, "inv_1"),
    # wrong types and odd numbers
    ("a visibility that is no bool", ("services", "set-public", "Greeter", "maybe"), 2, "maybe"),
    ("set-public an unknown service", ("services", "set-public", "Nope", "0"), 1, "'Nope'"),
    ("status of an unknown service", ("services", "status", "Nope"), 1, "'Nope'"),
    ("a delay that is a word", ("invocations", "invoke", "Greeter", "greet", "--delay", "soon"),
     2, "'soon'"),
    ("a delay of nan", ("invocations", "invoke", "Greeter", "greet", "--delay", "nan"), 2, "nan"),
    ("a delay of inf", ("invocations", "invoke", "Greeter", "greet", "--delay", "inf"), 2, "inf"),
    ("a delay of -inf", ("invocations", "invoke", "Greeter", "greet", "--delay", "-inf"),
     2, "-inf"),
    ("a delay of 1e300", ("invocations", "invoke", "Greeter", "greet", "--delay", "1e300"),
     2, "1e300"),
    ("a negative delay", ("invocations", "invoke", "Greeter", "greet", "--delay", "-1"), 2, "-1"),
    ("an empty delay", ("invocations", "invoke", "Greeter", "greet", "--delay", ""), 2, "''"),
    ("a delay beyond any date", ("invocations", "invoke", "Greeter", "greet", "--delay", "9e12"),
     1, "beyond any date"),
    ("a timeout of 0", ("--timeout", "0", "services", "list"), 2, "'0'"),
    ("a negative timeout", ("--timeout", "-3", "services", "list"), 2, "'-3'"),
    ("a timeout of nan", ("--timeout", "nan", "services", "list"), 2, "'nan'"),
    ("a timeout of 1e300", ("--timeout", "1e300", "services", "list"), 2, "'1e300'"),
    ("a timeout that is a word", ("--timeout", "long", "services", "list"), 2, "'long'"),
    ("a key for a plain service", ("invocations", "invoke", "Greeter", "greet", "--key", "k"),
     1, "key"),
    ("no key for an object", ("invocations", "invoke", "TicketObject", "reserve"), 1, "key"),
    ("invoke an unknown service", ("invocations", "invoke", "Nope", "greet"), 1, "'Nope'"),
    ("invoke an unknown handler", ("invocations", "invoke", "Greeter", "nope"), 1, "'nope'"),
    ("a caller without a handler", ("invocations", "invoke", "Greeter", "greet", "--caller", "x"),
     1, "'x'"),
    # missing arguments, unknown verbs and options
    ("register without an endpoint", ("deployments", "register"), 2, "Missing argument"),
    ("describe without an id", ("deployments", "describe"), 2, "Missing argument"),
    ("invoke without a handler", ("invocations", "invoke", "Greeter"), 2, "Missing argument"),
    ("set-public without a value", ("services", "set-public", "Greeter"), 2, "Missing argument"),
    ("kill without an id", ("invocations", "kill"), 2, "Missing argument"),
    ("--store without a value", ("services", "list", "--store"), 2, "No such option"),
    ("--admin-url without a value", ("--admin-url",), 2, "requires an argument"),
    ("an unknown verb", ("frobnicate",), 2, "No such command"),
    ("an unknown sub-verb", ("deployments", "frobnicate"), 2, "No such command"),
    ("an unknown option", ("--frobnicate", "services", "list"), 2, "No such option"),
    ("an extra argument", ("services", "list", "extra"), 2, "unexpected extra argument"),
    # files: missing, directories, devices, unreadable, deep, huge, not strict JSON
    ("a manifest that is absent", (*register_with, "absent.json"), 2, "does not exist"),
    ("a manifest that is a directory", (*register_with, "a-directory"), 2, "is a directory"),
    ("a manifest that is /dev/null", (*register_with, "/dev/null"), 1, "malformed JSON"),
    ("a manifest that cannot be read", (*register_with, "/proc/self/mem"), 1, "error"),
    ("a manifest nested 200 deep", (*register_with, "deep.json"), 1, "deeper than 127"),
    ("a manifest of objects 200 deep", (*register_with, "deep-object.json"), 1, "deeper than"),
    ("a manifest over 1 MiB", (*register_with, "huge.json"), 1, "larger than the limit"),
    ("a manifest with NaN", (*register_with, "nan.json"), 1, "NaN is not a JSON value"),
    ("a manifest with Infinity", (*register_with, "infinity.json"), 1, "Infinity"),
    ("a manifest with a key twice", (*register_with, "twice.json"), 1, "appears twice"),
    ("a manifest that is not UTF-8", (*register_with, "latin1.json"), 1, "not UTF-8"),
    ("a manifest that is not JSON", (*register_with, "not-json.json"), 1, "malformed JSON"),
    ("a manifest cut short", (*register_with, "truncated.json"), 1, "malformed JSON"),
    ("a manifest that is a list", (*register_with, "list.json"), 1, "invalid endpoint manifest"),
    ("a manifest that is a number", (*register_with, "number.json"), 1, "invalid endpoint"),
    ("a manifest with nothing", (*register_with, "empty-object.json"), 1, "invalid endpoint"),
    ("a state file that is absent", (*state_with, "absent.json"), 2, "does not exist"),
    ("a state file that is a directory", (*state_with, "a-directory"), 2, "is a directory"),
    ("a state file nested 200 deep", (*state_with, "deep.json"), 2, "deeper than 127"),
    ("a state file over 1 MiB", (*state_with, "huge.json"), 2, "larger than the limit"),
    ("a state file with NaN", (*state_with, "nan.json"), 2, "NaN is not a JSON value"),
    ("a state file with a key twice", (*state_with, "twice.json"), 2, "appears twice"),
    ("a state file that is not UTF-8", (*state_with, "latin1.json"), 2, "not UTF-8"),
    ("a state file that is a list", (*state_with, "list.json"), 2, "not [1]"),
    ("a state file with a bad schema", (*state_with, "bad-schema.json"), 1, "invalid state"),
    ("state for a plain service", (*state_with, "service-state.json"), 1, "invalid state"),
    # stores that are no store
    ("/dev/null as the store", ("--store", "/dev/null", "services", "list"), 1, "error"),
    ("a directory as the store", ("--store", "a-directory", "services", "list"), 2, "directory"),
    ("a file that is no database", ("--store", "not-a-store.db", "services", "list"),
     1, "cannot use the store"),
    ("a store in no directory", ("--store", "absent/dir/x.db", "services", "set-public",
     "Greeter", "false"), 1, "error"),
    # endpoints, with and without credentials
    ("an endpoint that is no URL", (*register_with[:2], "not a url", "--manifest",
     "manifest.json"), 1, "not a url"),
    ("an endpoint with another scheme", (*register_with[:2], f"ftp://user:{SECRET}@h/",
     "--manifest", "manifest.json"), 1, "ftp://***@h/"),
    ("an endpoint with no host", (*register_with[:2], "http://", "--manifest", "manifest.json"),
     1, "http://"),
    ("an endpoint with a bad port", (*register_with[:2], "http://h:99999", "--manifest",
     "manifest.json"), 1, "99999"),
    ("a Lambda ARN with no version", (*register_with[:2],
     "arn:aws:lambda:eu-central-1:123456789012:function:f", "--manifest", "manifest.json"),
     1, "no function version"),
    ("an unreachable endpoint with credentials", ("--timeout", "2", *register_with[:2],
     f"http://user:{SECRET}@127.0.0.1:9"), 1, "http://***@127.0.0.1:9"),
    ("an unreachable endpoint with a quote in its password", ("--timeout", "2",
     *register_with[:2], f"http://user:{SECRET}'x@127.0.0.1:9"), 1, "***@127.0.0.1:9"),
    # a live cluster's admin API
    ("an admin URL with another scheme", ("--admin-url", f"ftp://user:{SECRET}@h",
     "services", "list"), 2, "ftp://***@h"),
    ("an admin URL that is no URL", ("--admin-url", "nope", "deployments", "list"), 2, "'nope'"),
    ("an unreachable admin URL", (*unreachable_admin, "deployments", "list"),
     1, "http://***@127.0.0.1:9"),
    ("an unreachable admin URL, describe", (*unreachable_admin, "deployments", "describe",
     KNOWN_DP), 1, "http://***@127.0.0.1:9"),
    ("a store's write with an admin URL", (*unreachable_admin, "deployments", "promote",
     KNOWN_DP), 2, "--admin-url"),
    ("a removal from an unreachable admin URL", (*unreachable_admin, "deployments", "remove",
     KNOWN_DP, "--yes"), 1, "http://***@127.0.0.1:9"),
    ("history with an admin URL", (*unreachable_admin, "history"), 2, "--admin-url"),
]  # fmt: skip


def _check_one_failure(result: Any, code: int, says: str) -> None:
    """The rule for every failing command line: the documented exit code, no traceback, the
    message quoting the input, and never a URL's password."""
    from click.testing import Result

    assert isinstance(result, Result)
    out = result.stdout + result.stderr
    assert result.exit_code == code, out
    assert result.exception is None or isinstance(result.exception, SystemExit), out
    assert "Traceback" not in out
    assert SECRET not in out
    if code == 1:
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: ")
    else:
        assert result.stderr.count("Error: ") == 1, result.stderr
    assert says in result.stderr


def test_the_table_has_the_issues_sixty_six_kinds_of_bad_command_line() -> None:
    """The table below covers at least the 66 kinds of bad command line the issue lists, each
    named once."""
    names = [name for name, *_ in BAD_COMMAND_LINES]
    assert len(set(names)) == len(names)
    assert len(names) >= 66


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [pytest.param(args, code, says, id=name) for name, args, code, says in BAD_COMMAND_LINES],
)
def test_a_bad_command_line_is_one_error_and_changes_nothing(
    bad_inputs: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    code: int,
    says: str,
) -> None:
    """Every bad command line exits 1 with one ``error:`` line or 2 with click's usage
    message, never with a traceback or a password, and leaves the store as it was."""
    from click.testing import CliRunner

    from restate_versioning.cli import cli

    if "/proc/self/mem" in args and not Path("/proc/self/mem").exists():
        pytest.skip("needs Linux's /proc")
    monkeypatch.chdir(bad_inputs)
    before = _store_state(bad_inputs)
    started = time.monotonic()
    result = CliRunner().invoke(cli, list(args), prog_name="restate-versioning")
    assert time.monotonic() - started < HANG_BOUND  # a hang, not a measure of speed
    _check_one_failure(result, code, says)
    assert _store_state(bad_inputs) == before


def test_an_unexpected_exception_is_one_error_line_with_its_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception that is not the library's (a bug, a broken dependency) still becomes one
    ``error:`` line naming its type, and exit 1: never a traceback."""
    from click.testing import CliRunner

    from restate_versioning import views
    from restate_versioning.cli import cli

    def broken(*_: object) -> None:
        raise RuntimeError(f"boom at http://user:{SECRET}@h/")

    monkeypatch.chdir(tmp_path)
    SQLiteStorage(tmp_path / "restate-versioning.db").close()  # a store, so no note of none
    monkeypatch.setattr(views, "services_list", broken)
    result = CliRunner().invoke(cli, ["services", "list"])
    _check_one_failure(result, 1, "unexpected RuntimeError: boom at http://***@h/")


def test_credentials_in_an_endpoint_never_show_in_what_the_cli_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An endpoint registered with ``user:password@`` is printed with ``***@`` in every table
    and in JSON."""
    from click.testing import CliRunner

    from restate_versioning.cli import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps(SDK_MANIFEST))
    runner = CliRunner()
    endpoint = f"http://user:{SECRET}@greeter:9080/"
    outputs = [
        runner.invoke(cli, ["deployments", "register", endpoint, "--manifest", "manifest.json"])
    ]
    deployment_id = outputs[0].stdout.split()[0]
    codes = [0]
    for args, code in (
        (["deployments", "list"], 0),
        (["deployments", "list", "--json"], 0),
        (["deployments", "describe", deployment_id], 0),
        (["deployments", "describe", deployment_id, "--json"], 0),
        (["deployments", "plan-removal", deployment_id], 1),  # not safe (public): exit 1
        (["history", "--json"], 0),
    ):
        outputs.append(runner.invoke(cli, args))
        codes.append(code)
    for result, code in zip(outputs, codes, strict=True):
        assert result.exit_code == code, result.output
        assert SECRET not in result.output
    assert "http://***@greeter:9080/" in outputs[1].stdout


@pytest.mark.parametrize(
    ("value", "seconds"), [("0", 0.0), ("1.5", 1.5), ("86400", 86400.0), ("1e-3", 0.001)]
)
def test_a_finite_delay_schedules_the_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, seconds: float
) -> None:
    """``--delay`` takes any finite, non-negative number of seconds that fits a timedelta."""
    from click.testing import CliRunner

    from restate_versioning.cli import cli

    monkeypatch.chdir(tmp_path)
    with StoredRegistry(SQLiteStorage(tmp_path / STORE)) as stored:
        stored.register("http://127.0.0.1:9081", SDK_MANIFEST)
    result = CliRunner().invoke(
        cli, ["invocations", "invoke", "Greeter", "greet", "--delay", value]
    )
    assert result.exit_code == 0, result.output
    expected = "running" if seconds == 0 else "scheduled"
    assert result.stdout.split()[2] == expected


def _silent_listener() -> Any:
    """A socket on 127.0.0.1 whose connections are accepted by the kernel and never answered:
    a peer that hangs."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    return listener


#: How much longer than ``--timeout`` a command may take against a peer that never answers
#: (starting the interpreter aside): retries, backoff and connection set-up.
HANG_MARGIN = 6.0


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("deployments", "register", "http://127.0.0.1:{port}"), id="discovery"),
        pytest.param(("--admin-url", "http://127.0.0.1:{port}", "services", "list"), id="admin"),
    ],
)
def test_a_peer_that_never_answers_fails_within_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    """``--timeout`` bounds discovery and the admin API: a real socket that accepts and never
    answers makes the command fail (exit 1, one line) within the timeout plus a margin."""
    from click.testing import CliRunner

    from restate_versioning.cli import cli

    monkeypatch.chdir(tmp_path)
    with _silent_listener() as listener:
        port = listener.getsockname()[1]
        command = ["--timeout", "0.5", *(a.format(port=port) for a in args)]
        started = time.monotonic()
        result = CliRunner().invoke(cli, command)
        elapsed = time.monotonic() - started
    _check_one_failure(result, 1, f"127.0.0.1:{port}")
    assert elapsed < 0.5 + HANG_MARGIN


@pytest.mark.parametrize(
    ("args", "code"),
    [
        pytest.param(("invocations", "invoke", "Greeter", "greet", "--delay", "nan"), 2, id="nan"),
        pytest.param(("--store", "/dev/null", "services", "list"), 1, id="dev-null-store"),
        pytest.param((*register_with, "deep.json"), 1, id="deep-manifest"),
        pytest.param((*state_with, "deep.json"), 2, id="deep-state"),
        pytest.param((*unreachable_admin, "services", "list"), 1, id="admin-credentials"),
    ],
)
def test_no_traceback_reaches_the_terminal_end_to_end(
    bad_inputs: Path, args: tuple[str, ...], code: int
) -> None:
    """Run for real (``python -m restate_versioning``): the same guarantees hold in a real
    process: the exit code, one line, no traceback, no password."""
    result = refused(bad_inputs, *args, code=code)
    assert SECRET not in result.stdout + result.stderr
    if code == 2:
        assert result.stderr.count("Error: ") == 1


@pytest.mark.parametrize(
    ("module", "args", "extra"),
    [
        ("h2", ["deployments", "register", "http://127.0.0.1:9/"], "http"),
        ("httpx", ["deployments", "register", "http://127.0.0.1:9/"], "http"),
        ("httpx", ["--admin-url", "http://127.0.0.1:9/", "services", "list"], "admin"),
    ],
)
def test_a_missing_optional_dependency_is_one_line_naming_the_extra_to_install(
    module: str, args: list[str], extra: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an optional dependency (h2 for HTTP/2 discovery, httpx for discovery and the
    admin API) a verb that needs it is one ``error:`` line naming the extra, never a traceback."""
    from click.testing import CliRunner

    from restate_versioning.cli import cli

    monkeypatch.chdir(tmp_path)
    for name in [m for m in sys.modules if m == module or m.startswith(f"{module}.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # import refuses it, as if not installed
    if module == "httpx":  # the modules that import httpx at their top must be imported again
        for name in ("restate_versioning.transport", "restate_versioning.admin"):
            monkeypatch.delitem(sys.modules, name, raising=False)
    result = CliRunner().invoke(cli, args)
    _check_one_failure(result, 1, f"pip install 'restate-versioning[{extra}]'")


def test_reading_a_store_that_does_not_exist_says_so_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read verb on a store path where no store is yet shows the empty registry, says on
    stderr that there is no store there (naming the file), and creates nothing."""
    from click.testing import CliRunner

    from restate_versioning.cli import cli

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["--store", "nowhere.db", "deployments", "list"])
    assert result.exit_code == 0
    assert "there is no store at 'nowhere.db'" in result.stderr
    assert not (tmp_path / "nowhere.db").exists()


def test_a_call_can_be_made_from_an_invocation_by_its_id(
    tmp_path: Path, manifest_file: Path
) -> None:
    register(tmp_path, "http://127.0.0.1:9081")
    line = ok(tmp_path, "invocations", "invoke", "TicketObject", "reserve", "--key", "k")
    caller_id = line.split()[0]
    ok(tmp_path, "invocations", "invoke", "Greeter", "greet", "--caller", caller_id)
    (called,) = [i for i in as_json(tmp_path, "invocations", "list") if i["service"] == "Greeter"]
    assert (called["caller"], called["caller_id"], called["caller_key"]) == (
        "TicketObject/reserve",
        caller_id,
        "k",
    )
    ok(tmp_path, "invocations", "complete", caller_id)
    refused(tmp_path, "invocations", "invoke", "Greeter", "greet", "--caller", caller_id)


def test_a_running_call_fails_and_a_killed_call_takes_the_calls_it_sent_along(
    tmp_path: Path, manifest_file: Path
) -> None:
    v1 = register(tmp_path, "http://127.0.0.1:9081")
    parent = ok(tmp_path, "invocations", "invoke", "TicketObject", "reserve", "--key", "k").split()[
        0
    ]
    child = ok(tmp_path, "invocations", "invoke", "Greeter", "greet", "--caller", parent).split()[0]
    failed = ok(tmp_path, "invocations", "fail", child, "--code", "RT0012")
    assert failed.split()[2:] == ["backing-off", v1]
    refused(tmp_path, "invocations", "fail", child, "--code", "RT0012")  # not running now
    refused(tmp_path, "invocations", "fail", parent, "--code", "oops")
    assert "--code" in refused(tmp_path, "invocations", "fail", parent, code=2).stderr
    ok(tmp_path, "invocations", "kill", parent)
    statuses = {i["id"]: i["status"] for i in as_json(tmp_path, "invocations", "list")}
    assert statuses == {parent: "completed", child: "completed"}


def test_a_call_that_pins_at_its_first_command_is_pinned_by_the_pin_verb(
    tmp_path: Path, manifest_file: Path
) -> None:
    v1 = register(tmp_path, "http://127.0.0.1:9081")
    line = ok(tmp_path, "invocations", "invoke", "Greeter", "greet", "--pin-at-first-command")
    call, _, status, pinned = line.split()
    assert (status, pinned) == ("running", "-")
    assert ok(tmp_path, "invocations", "pin", call).split()[2:] == ["running", v1]
    refused(tmp_path, "invocations", "pin", call)  # pinned already


def test_a_write_to_a_live_cluster_asks_first_on_a_terminal_and_no_sends_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from click.testing import CliRunner

    from restate_versioning import cli as command_line

    monkeypatch.setattr(command_line, "_interactive", lambda: True)
    runner = CliRunner()
    live = ("--timeout", "2", "--admin-url", "http://127.0.0.1:9")
    declined = runner.invoke(
        command_line.cli, [*live, "services", "set-public", "Greeter", "false"], input="n\n"
    )
    assert declined.exit_code == 1
    assert "make Greeter private on http://127.0.0.1:9?" in declined.output
    assert "not confirmed: nothing was changed" in declined.output
    # yes, asked or given: it goes on to the cluster (which cannot be reached here)
    for args, answer in (
        (["services", "set-public", "Greeter", "false"], "y\n"),
        (["services", "set-public", "Greeter", "false", "--yes"], None),
    ):
        went_on = runner.invoke(command_line.cli, [*live, *args], input=answer)
        assert went_on.exit_code == 1
        assert "cannot read the Restate admin API" in went_on.output
