"""The versioning story through the command line, on an embedded store (``make demo``).

Greeter v1 also serves Legacy, a service being retired, which Greeter's handler calls. A long
call runs on v1 and a call to Legacy is scheduled; v2 arrives without Legacy; the plan says
what blocks removing v1, and each blocker is cleared from the command line: Legacy is made
private, its caller is forgotten, the scheduled call is started once due and completes, and
the long call is paused and resumed on the latest deployment (v1 drains). v1 is removed. Every
step is a real ``restate-versioning`` command on a SQLite store in a temporary folder.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def manifest(*services: tuple[str, list[str]]) -> str:
    return json.dumps(
        {
            "protocolMode": "REQUEST_RESPONSE",
            "minProtocolVersion": 5,
            "maxProtocolVersion": 7,
            "services": [
                {"name": name, "ty": "SERVICE", "handlers": [{"name": h} for h in handlers]}
                for name, handlers in services
            ],
        }
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        here = Path(folder)
        (here / "v1.json").write_text(manifest(("Greeter", ["greet"]), ("Legacy", ["old"])))
        (here / "v2.json").write_text(manifest(("Greeter", ["greet", "wave"])))

        def run(*args: str, expect: int = 0) -> str:
            print(f"$ restate-versioning {shlex.join(args)}")
            result = subprocess.run(
                [sys.executable, "-m", "restate_versioning", *args],
                cwd=here,
                capture_output=True,
                text=True,
                check=False,
            )
            print((result.stdout + result.stderr).rstrip())
            print()
            if result.returncode != expect:
                raise SystemExit(f"exit code {result.returncode}, expected {expect}")
            return result.stdout

        v1 = run("deployments", "register", "http://greeter-v1:9080", "--manifest", "v1.json")
        v1_id = v1.split()[0]
        run("services", "declare-caller", "Legacy", "Greeter/greet")  # v1's greet calls Legacy
        call = run("invocations", "invoke", "Greeter", "greet").split()[0]
        later = run("invocations", "invoke", "Legacy", "old", "--delay", "1").split()[0]
        run("services", "list")
        run("deployments", "register", "http://greeter-v2:9080", "--manifest", "v2.json")
        run("services", "status")
        run("deployments", "list")
        run("deployments", "plan-removal", v1_id, expect=1)  # not safe: exit 1, and why
        run("deployments", "remove", v1_id, expect=1)
        run("services", "set-public", "Legacy", "false")  # PUBLIC: no new calls from outside
        run("services", "callers", "Legacy")
        run("services", "forget-caller", "Legacy", "Greeter/greet")  # CALLERS: v2 does not call
        time.sleep(1)  # the scheduled call's time comes (the store runs on the wall clock)
        run("invocations", "start-due")  # QUEUED: it starts, on v1, where Legacy still is
        run("invocations", "complete", later)
        run("invocations", "pause", call)  # IN_FLIGHT: the long call moves to the latest
        run("invocations", "resume", call, "--deployment", "latest")
        run("deployments", "plan-removal", v1_id)
        run("deployments", "remove", v1_id)
        run("invocations", "complete", call)
        run("history")


if __name__ == "__main__":
    main()
