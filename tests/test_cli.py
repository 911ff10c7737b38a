"""The ``restate-versioning`` console script, run for real in a subprocess.

Exit codes are the contract: 0 done, 1 the library refused (one ``error: ...`` line on stderr,
never a traceback), 2 bad usage (unknown verb, malformed id, missing file, a write with
``--admin-url``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from restate_versioning.storage import SQLiteStorage, StoredRegistry

from .conftest import SDK_MANIFEST

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
    plan = ok(tmp_path, "deployments", "plan-removal", v2)
    assert "NOT safe to remove" in plan
    assert "ROLLBACK" in plan
    assert as_json(tmp_path, "deployments", "plan-removal", v2)["safe"] is False

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

    plan = as_json(tmp_path, "deployments", "plan-removal", v1)
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
        ("deployments", "remove", "dp_10zwYst2RFibN7qwjN53Ked"),
        ("deployments", "promote", "dp_10zwYst2RFibN7qwjN53Ked"),
        ("services", "set-public", "Greeter", "false"),
        ("history",),
    ],
)
def test_a_write_with_admin_url_is_bad_usage(
    tmp_path: Path, manifest_file: Path, verb: tuple[str, ...]
) -> None:
    result = refused(tmp_path, "--admin-url", "http://127.0.0.1:9", *verb, code=2)
    assert "--admin-url" in result.stderr
    assert not (tmp_path / STORE).exists()


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


def test_a_live_cluster_reads_through_the_admin_api(
    tmp_path: Path, restate_server: RestateServer, sdk_bidi_url: str
) -> None:
    """``--admin-url`` loads a real restate-server's state, read-only, and the read verbs work
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
    assert table[0].split() == ["ID", "TARGET", "STATUS", "DEPLOYMENT"]
    assert [row.split()[2] for row in table[1:]] == ["completed", "running"]
    delayed = ok(tmp_path, "invocations", "invoke", "Greeter", "greet", "--delay", "60")
    assert delayed.split()[2] == "scheduled"
    ok(tmp_path, "invocations", "kill", delayed.split()[0])
    refused(tmp_path, "invocations", "complete", invocation_id)  # completing twice
    refused(tmp_path, "invocations", "kill", "inv_nope")
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
    plan = ok(tmp_path, "deployments", "plan-removal", v2)
    assert "Warnings:" in plan
    assert "rolling 'TicketObject' back to revision 1" in plan
    warnings = as_json(tmp_path, "deployments", "plan-removal", v2)["warnings"]
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
