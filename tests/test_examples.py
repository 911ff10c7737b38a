"""Every example runs, and says what the README promises."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES_DIR = Path(__file__).parent.parent / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.py"))
README = Path(__file__).parent.parent / "README.md"


def output_of(name: str) -> str:
    """What ``examples/<name>`` prints; it must exit 0."""
    return subprocess.run(
        [sys.executable, str(EXAMPLES_DIR / name)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout


#: The examples that start a restate-server and SDK endpoints of their own: each has a test of
#: its own, marked as one that starts processes.
STARTS_PROCESSES = frozenset({"retire_from_a_live_cluster.py"})


@pytest.mark.parametrize(
    "path", [p for p in EXAMPLES if p.name not in STARTS_PROCESSES], ids=lambda p: p.name
)
def test_the_example_runs(path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


@pytest.mark.integration  # the restate CLI against a served model, from a shell script
def test_the_shell_example_drives_the_served_model_with_the_real_restate_cli(
    tmp_path: Path,
) -> None:
    from .helpers import needed
    from .restate_server import RestateUnavailable, find_binary

    try:
        cli = find_binary("restate")
    except RestateUnavailable as exc:
        needed("the restate CLI (scripts/ensure-restate installs it)", exc)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTATE_") and k != "CI"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), str(cli.parent), env["PATH"]])
    env["HOME"] = str(tmp_path)  # the CLI's own config stays out of the user's
    done = subprocess.run(
        ["bash", str(EXAMPLES_DIR / "serve_to_the_restate_cli.sh")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "[public]  Greeter  1" in done.stdout
    assert "Active  1" in done.stdout  # the call sent through the ingress, counted
    assert "completed with success" in done.stdout  # after the control API completed it


def test_the_walkthrough_tells_the_versioning_story() -> None:
    out = output_of("walkthrough.py")
    assert "Greeter 1 -> 2" in out
    assert "the long call resumes where it is pinned" in out
    assert "Draining, 1 in flight" in out
    assert "greeter-v1 is Drained" in out
    assert "[META0006]" in out


def test_the_retirement_example_walks_the_four_prerequisites_to_a_safe_removal() -> None:
    out = output_of("retire_a_service.py")
    steps = out.split("== ")[1:]
    assert len(steps) == 5
    assert all(kind in steps[0] for kind in ("PUBLIC", "CALLERS", "QUEUED", "IN_FLIGHT"))
    assert "CALLERS" not in steps[1]
    assert "Invoices: unaffected" in steps[2]
    assert "PUBLIC" not in steps[3]
    assert "is safe to remove" in steps[4]
    assert "forced: False" in out


def test_the_benchmarks_baseline_does_the_same_work_as_the_registry() -> None:
    """The benchmark's own premise (it is timed by ``make bench``, never here): its dict-and-
    tuple baseline answers like the registry, and its loaded registry really carries work."""
    sys.path.insert(0, str(Path(__file__).parent.parent))
    try:
        bench = importlib.import_module("benchmarks.workload")
    finally:
        sys.path.pop(0)
    bench.check_equivalence()
    registry, queried = bench.loaded_registry(bench.Sizes(400, 400, 4000, 10, 1, 10, 1), 4000)
    plan = registry.removal_plan(queried[-1])
    assert [b.kind.value for b in plan.blockers] == ["PUBLIC", "QUEUED", "IN_FLIGHT"]


def test_the_benchmark_targets_are_rows_the_runner_checks_against_the_figures() -> None:
    """``benchmarks/targets.py`` lists every target as a row (figure, ours or ours/base, the
    comparison, the bound, the unit); the runner checks each figure against its row and says
    when a target names a figure the run did not measure."""
    sys.path.insert(0, str(Path(__file__).parent.parent))
    try:
        runner = importlib.import_module("benchmarks.runner")
        targets = importlib.import_module("benchmarks.targets")
    finally:
        sys.path.pop(0)
    keys = [t.figure for t in targets.TARGETS]
    assert len(keys) == len(set(keys))
    fast = targets.Target("fast", "a", targets.OURS, "<", 1.0, "s")
    half = targets.Target("half", "b", targets.OURS_OVER_BASELINE, ">=", 0.5, "")
    figures = [
        runner.Figure("a", "a, s", 0.5),
        runner.Figure("b", "b/s", 40.0, 100.0, ",.0f"),
        runner.Figure("c", "c, us", 3.0, info=True),
    ]
    rows = runner.rows(figures, [fast, half])
    assert [(r.target, r.passed) for r in rows] == [
        ("ours < 1.00 s", True),
        ("ours/base >= 0.50", False),
        ("(info)", None),
    ]
    assert (rows[1].ours, rows[1].baseline, rows[1].ratio) == ("40", "100", "0.40")
    assert rows[1].target_name == "half"
    with pytest.raises(RuntimeError, match="targets without a figure in this run"):
        runner.rows(figures[:1], [fast, half])


def test_the_stored_registry_example_survives_a_restart() -> None:
    out = output_of("stored_registry.py")
    assert "the registry opened again sees 2 deployments" in out
    assert "is Drained" in out
    assert "  4. complete: " in out


def test_the_harness_example_keeps_a_draining_deployment_and_retires_it_once_drained() -> None:
    out = output_of("harness.py").splitlines()
    assert out[0].startswith("kept dp_")
    assert out[0].endswith(": IN_FLIGHT")
    assert out[1].startswith("retired dp_")
    assert out[2] == "discovered: http://greeter-v1:9080, http://greeter-v2:9080"


def test_the_demo_tells_the_story_through_the_command_line() -> None:
    """``make demo``: register, a caller, a long call and a scheduled one, v2, status, plan;
    every blocker cleared from the command line (private, forget the caller, start what is
    due, move the long call to the latest); remove."""
    out = output_of("cli_walkthrough.py")
    steps = out.split("$ restate-versioning ")
    blocked = next(s for s in steps if s.startswith("deployments plan-removal"))
    for kind in ("PUBLIC: 'Legacy' would vanish", "CALLERS", "QUEUED", "IN_FLIGHT"):
        assert kind in blocked
    assert "error: removing deployment" in out
    assert "Legacy revision 1 is now private" in out
    assert "Greeter/greet calls Legacy: forgotten" in out
    started = next(s for s in steps if s.startswith("invocations start-due"))
    assert "Legacy/old  running" in started
    moved = next(s for s in steps if s.startswith("invocations resume"))
    assert "--deployment latest" in moved
    v2 = next(s for s in steps if "greeter-v2:9080 --manifest" in s).splitlines()[1].split()[0]
    assert moved.splitlines()[1].split()[2:] == ["running", v2]
    assert "is safe to remove." in out
    assert "removed dp_" in out


def test_the_state_example_lets_a_widening_through_and_refuses_a_rename_and_a_rollback() -> None:
    out = output_of("state_compatibility.py")
    steps = out.split("== ")[1:]
    assert "reading the state of revision 1: compatible" in steps[0]
    assert "'product' is now required" in steps[1]
    assert "Cart is still at revision 2" in steps[1]
    assert "STATE: rolling 'Cart' back to revision 1" in steps[2]
    assert "refused:" in steps[3]
    assert "with breaking=True" in steps[3]


def readme_snippet(heading: str) -> str:
    """The first Python block of the README section under ``heading``."""
    section = README.read_text().split(f"\n{heading}\n", 1)[1]
    return section.split("```python\n", 1)[1].split("\n```", 1)[0]


def test_the_readmes_pydantic_state_cases_run_and_hold() -> None:
    snippet = readme_snippet("#### Pydantic models as state")
    assert snippet.count("assert ") == 8
    result = subprocess.run(
        [sys.executable, "-c", snippet], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.integration  # a restate-server and SDK endpoints, started by the example
def test_the_live_retirement_example_waits_for_v1_to_drain_then_removes_it() -> None:
    shown = output_of("retire_from_a_live_cluster.py")
    assert "removing v1 now is refused" in shown
    assert "IN_FLIGHT" in shown
    assert "v1 is drained" in shown
    assert shown.index("v1 is drained") < shown.index("removed dp_")
    assert "prune keeps" in shown
