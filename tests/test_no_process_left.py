"""No process outlives the test session: every process a test starts carries the session's
mark in its environment, and the session fails if a marked process is still running when it
ends (``tests/conftest.py``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from .helpers import SESSION_MARK, marked_processes


def test_a_process_left_behind_is_found_by_the_session_mark_even_in_its_own_session() -> None:
    """A process started in a session of its own (so not this process's child group), as the
    servers of the tests are, carries the mark; while it runs it is found, and once its group is
    killed it is not."""
    mark = os.environ[SESSION_MARK]
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True
    )
    try:
        deadline = time.monotonic() + 5
        while child.pid not in marked_processes(mark) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.pid in marked_processes(mark)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    assert child.pid not in marked_processes(mark)
