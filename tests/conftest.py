"""The fixtures and hooks of the suite; what the tests build and start is in ``helpers.py``.

The ``registry`` and ``versioning_clock`` fixtures come from the package's own pytest plugin
(``restate_versioning.testing.plugin``), which pytest loads through its ``pytest11`` entry
point, as it does in a user's project."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .helpers import SESSION_MARK, marked_processes, needed, own_restate_server, sdk_endpoint_url

if TYPE_CHECKING:
    from .restate_server import RestateServer

pytest_plugins = ["pytester"]  # to run the package's own pytest plugin in a test


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The DSN of a throwaway PostgreSQL database (``tests/postgres_server.py``), or of
    ``$RESTATE_VERSIONING_POSTGRES_DSN``; tests give each store a ``fresh_prefix()``. Without
    a PostgreSQL the test is skipped, except on CI, where that is a failure."""
    try:
        from .postgres_server import PostgresServer, PostgresUnavailable
    except ImportError as exc:  # psycopg is in the dev and postgres extras
        needed("PostgreSQL", exc)
    try:
        server = PostgresServer.start()
    except PostgresUnavailable as exc:
        needed("PostgreSQL", exc)
    try:
        yield server.dsn
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sdk_bidi_url() -> Iterator[str]:
    """The URL of a real restate-sdk 1.3.0 endpoint (``tests/sdk/services.py``, hypercorn,
    HTTP/1.1 and h2c) in BIDI_STREAM mode. Skipped without the SDK, failed on CI."""
    yield from sdk_endpoint_url("app_bidi")


@pytest.fixture(scope="session")
def sdk_request_response_url() -> Iterator[str]:
    """The URL of a real restate-sdk 1.3.0 endpoint in REQUEST_RESPONSE mode (as
    :func:`sdk_bidi_url`)."""
    yield from sdk_endpoint_url("app_request_response")


@pytest.fixture(scope="session")
def restate_server() -> Iterator[RestateServer]:
    """A throwaway real restate-server 1.7.12 (``tests/restate_server.py``) on 127.0.0.1 and
    free ports, shared by the session. Skipped without it, failed on CI."""
    yield from own_restate_server()


# --- no process outlives the test session ---------------------------------------------------


def pytest_sessionstart(session: pytest.Session) -> None:
    os.environ.setdefault(SESSION_MARK, f"{os.getpid()}-{time.time_ns()}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session if a process it started is still running (after a moment's grace for
    processes that were killed and are being reaped)."""
    if not Path("/proc").is_dir():
        return
    mark = os.environ[SESSION_MARK]
    deadline = time.monotonic() + 3
    while (left := marked_processes(mark)) and time.monotonic() < deadline:
        time.sleep(0.1)
    if left:
        commands = []
        for pid in left:
            try:
                commands.append(f"{pid}: {Path(f'/proc/{pid}/cmdline').read_bytes()!r}")
            except OSError:
                continue
        if commands:
            print("\nprocesses the tests started are still running:\n" + "\n".join(commands))
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
