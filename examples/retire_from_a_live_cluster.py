"""Retire a deployment from a live cluster: register v2, wait for v1 to drain, remove it safely,
prune.

The example starts what it needs on 127.0.0.1 and stops it at the end: a restate-server (the
binary ``make restate`` installs under ``.cache/restate``, or ``$RESTATE_SERVER``, or one on the
``PATH``) and two endpoints of the Restate Python SDK serving ``Greeter`` (this file's ``app``,
under hypercorn). ``Greeter/greet`` sleeps for a few seconds, so a call made on v1 keeps v1 from
draining for that long. ``AdminClient`` refuses to remove v1 while that call is pinned to it,
waits for it to drain, removes it, then plans a prune: v2 stays, the latest.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import restate

from restate_versioning import RemovalBlocked
from restate_versioning.admin import AdminClient, DrainProgress
from restate_versioning.views import render_removal_plan

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

Greeter = restate.Service("Greeter")


@Greeter.handler()
async def greet(ctx: restate.Context, name: str) -> str:
    await ctx.sleep(timedelta(seconds=3))
    return f"Hello, {name}!"


app = restate.app(services=[Greeter])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_binary() -> str:
    given = os.environ.get("RESTATE_SERVER")
    pattern = str(ROOT / ".cache/restate/node_modules/@restatedev/restate-server-*/bin/*")
    found = given or next(iter(sorted(glob.glob(pattern))), None) or shutil.which("restate-server")
    if found is None:
        sys.exit("no restate-server: run `make restate`, or set RESTATE_SERVER to its binary")
    return found


def wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{process.args!r} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    sys.exit(f"{url} did not answer within 60 s")


@contextmanager
def started() -> Iterator[tuple[str, str, list[str]]]:
    """A restate-server and two SDK endpoints: the admin URL, the ingress URL, the endpoints'
    URLs. Every process is in a group of its own, and every group is stopped at the end."""
    processes: list[subprocess.Popen[bytes]] = []
    home = Path(tempfile.mkdtemp(prefix="retire-example-"))
    try:
        admin, ingress, node = free_port(), free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTATE_")}
        env |= {
            "RESTATE_ADMIN__BIND_ADDRESS": f"127.0.0.1:{admin}",
            "RESTATE_INGRESS__BIND_ADDRESS": f"127.0.0.1:{ingress}",
            "RESTATE_BIND_ADDRESS": f"127.0.0.1:{node}",
            "RESTATE_ADVERTISED_ADDRESS": f"http://127.0.0.1:{node}/",
            "RESTATE_DISABLE_TELEMETRY": "true",
            "RESTATE_DEFAULT_NUM_PARTITIONS": "4",
        }
        command = [server_binary(), "--no-logo", "--base-dir", str(home / "data")]
        with (home / "server.log").open("wb") as log:
            processes.append(
                subprocess.Popen(
                    command, env=env, stdout=log, stderr=log, start_new_session=True, cwd=home
                )
            )
        wait_for(f"http://127.0.0.1:{admin}/health", processes[0])
        endpoints = []
        for _ in range(2):
            port = free_port()
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "hypercorn", f"{Path(__file__).stem}:app",
                     "--bind", f"127.0.0.1:{port}"],
                    cwd=HERE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )  # fmt: skip
            wait_for(f"http://127.0.0.1:{port}/health", processes[-1])
            endpoints.append(f"http://127.0.0.1:{port}")
        yield f"http://127.0.0.1:{admin}", f"http://127.0.0.1:{ingress}", endpoints
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    with started() as (admin_url, ingress_url, (v1_url, v2_url)):
        cluster = AdminClient(admin_url, timeout=30)
        v1 = cluster.register(v1_url).deployment.id
        print(f"registered v1: {v1}")

        sent = httpx.post(f"{ingress_url}/Greeter/greet/send", json="Ada", timeout=30)
        call = sent.json()["invocationId"]
        while cluster.load().invocation(call).pinned_deployment_id != v1:
            time.sleep(0.2)
        print(f"a call in flight on v1: {call}")

        v2 = cluster.register(v2_url)
        print(f"registered v2: {v2.deployment.id}, Greeter revision {v2.changes[0].new_revision}")

        try:
            cluster.remove(v1)
        except RemovalBlocked as blocked:
            print("removing v1 now is refused; the cluster is left as it was:")
            print(render_removal_plan(blocked.plan))

        def progress(report: DrainProgress) -> None:
            print(f"  waiting: {report.in_flight} in flight, {report.queued} queued")

        cluster.wait_drained(v1, timeout=60, poll=1, progress=progress)
        print("v1 is drained")
        removed = cluster.remove(v1)
        print(f"removed {removed.deployment.id}")

        pruned = cluster.prune(dry_run=True)
        for plan in pruned.kept:
            print(f"prune keeps {plan.deployment_id}: {plan.blockers[0].message}")


if __name__ == "__main__":
    main()
