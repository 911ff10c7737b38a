"""Shared fixtures: a registry with a manual clock and sequential ids, and manifest builders."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest
from hypothesis import HealthCheck, settings

from restate_versioning import ManualClock, Registry, SequentialIds

if TYPE_CHECKING:
    from .restate_server import RestateServer
    from .sdk.endpoint import SdkEndpoint

pytest_plugins = ["pytester"]  # to run the package's own pytest plugin in a test

DATA = Path(__file__).parent / "data"

#: What restate-sdk 1.3.0 answers to discovery for Greeter (Service), TicketObject (Virtual
#: Object: exclusive ``reserve``, shared ``status``) and Signup (Workflow: ``run``, shared
#: ``confirm``).
SDK_MANIFEST: dict[str, Any] = json.loads((DATA / "python-sdk-1.3.0-v4.json").read_text())


def handler(name: str, ty: str | None = None, **extra: Any) -> dict[str, Any]:
    """A handler definition as discovery JSON."""
    out: dict[str, Any] = {"name": name}
    if ty is not None:
        out["ty"] = ty
    out.update(extra)
    return out


def service(
    name: str, ty: str = "SERVICE", handlers: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    """A service definition as discovery JSON (one ``greet``/``run`` handler by default)."""
    if handlers is None:
        handlers = {
            "SERVICE": [handler("greet")],
            "VIRTUAL_OBJECT": [handler("reserve", "EXCLUSIVE"), handler("status", "SHARED")],
            "WORKFLOW": [handler("run", "WORKFLOW"), handler("confirm", "SHARED")],
        }[ty]
    return {"name": name, "ty": ty, "handlers": handlers, **extra}


def manifest(
    *services: dict[str, Any],
    mode: str | None = "REQUEST_RESPONSE",
    low: int = 5,
    high: int = 7,
    **extra: Any,
) -> dict[str, Any]:
    """An endpoint manifest as discovery JSON."""
    out: dict[str, Any] = {}
    if mode is not None:
        out["protocolMode"] = mode
    out.update({"minProtocolVersion": low, "maxProtocolVersion": high})
    out["services"] = list(services)
    out.update(extra)
    return out


def fuzz_settings(default_examples: int) -> settings:
    """Hypothesis settings of a focused fuzz test (marker ``fuzz``): ``$FUZZ_EXAMPLES`` inputs,
    or ``default_examples`` (the slice ``make test`` runs); no deadline, as each test bounds the
    time of one input itself."""
    return settings(
        max_examples=int(os.environ.get("FUZZ_EXAMPLES", str(default_examples))),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


V1 = "http://127.0.0.1:9081"
V2 = "http://127.0.0.1:9082"
V3 = "http://127.0.0.1:9083"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def registry(clock: ManualClock) -> Registry:
    return Registry(clock=clock, ids=SequentialIds())


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The DSN of a throwaway PostgreSQL database (``tests/postgres_server.py``), or of
    ``$RESTATE_VERSIONING_POSTGRES_DSN``; tests give each store a ``fresh_prefix()``. Without
    a PostgreSQL the test is skipped, except on CI, where that is a failure."""
    try:
        from .postgres_server import PostgresServer, PostgresUnavailable
    except ImportError as exc:  # psycopg is in the dev and postgres extras
        _no_postgres(str(exc))
    try:
        server = PostgresServer.start()
    except PostgresUnavailable as exc:
        _no_postgres(str(exc))
    try:
        yield server.dsn
    finally:
        server.stop()


def _no_postgres(reason: str) -> NoReturn:
    needed("PostgreSQL", reason)


def needed(what: str, reason: object) -> NoReturn:
    """A real component a test needs (``what``) cannot be had: a failure on CI, where every
    one must be there, else a skip that says why."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is needed on CI: {reason}")
    pytest.skip(f"no {what}: {reason}")


def start_restate_server() -> RestateServer:
    """A fresh real restate-server (``tests/restate_server.py``), or :func:`needed`."""
    from .restate_server import RestateServer, RestateUnavailable

    try:
        return RestateServer.start()
    except RestateUnavailable as exc:
        needed("restate-server (scripts/ensure-restate installs it)", exc)


def own_restate_server() -> Iterator[RestateServer]:
    """A fresh restate-server for a fixture, stopped (its whole process group) at its end:
    for tests whose services or calls the others do not expect."""
    server = start_restate_server()
    try:
        yield server
    finally:
        server.stop()


def start_sdk_endpoint(app: str) -> SdkEndpoint:
    """A real restate-sdk endpoint serving ``tests.sdk.services:{app}``, or :func:`needed`."""
    from .sdk.endpoint import SdkEndpoint, SdkUnavailable

    try:
        return SdkEndpoint.start(f"tests.sdk.services:{app}")
    except SdkUnavailable as exc:
        needed("Restate Python SDK endpoint", exc)


def _sdk_endpoint(app: str) -> Iterator[str]:
    endpoint = start_sdk_endpoint(app)
    try:
        yield endpoint.url
    finally:
        endpoint.stop()


@pytest.fixture(scope="session")
def sdk_bidi_url() -> Iterator[str]:
    """The URL of a real restate-sdk 1.3.0 endpoint (``tests/sdk/services.py``, hypercorn,
    HTTP/1.1 and h2c) in BIDI_STREAM mode. Skipped without the SDK, failed on CI."""
    yield from _sdk_endpoint("app_bidi")


@pytest.fixture(scope="session")
def sdk_request_response_url() -> Iterator[str]:
    """The URL of a real restate-sdk 1.3.0 endpoint in REQUEST_RESPONSE mode (as
    :func:`sdk_bidi_url`)."""
    yield from _sdk_endpoint("app_request_response")


@pytest.fixture(scope="session")
def restate_server() -> Iterator[RestateServer]:
    """A throwaway real restate-server 1.7.12 (``tests/restate_server.py``) on 127.0.0.1 and
    free ports, shared by the session. Skipped without it, failed on CI."""
    yield from own_restate_server()


# --- no process outlives the test session ---------------------------------------------------

#: Set for the whole session: every process the tests start inherits it (the helpers that start
#: servers pass the environment on), so a process left behind, a child or a grandchild that was
#: handed to init, is found at the end by its environment.
SESSION_MARK = "VERSIONING_TEST_SESSION"


def marked_processes(mark: str) -> list[int]:
    """The processes (other than this one) whose environment holds ``SESSION_MARK=mark``,
    except this interpreter's own multiprocessing resource tracker, which ends with it."""
    needle = f"{SESSION_MARK}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environment = (entry / "environ").read_bytes()
            if needle not in environment.split(b"\0"):
                continue
            parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):  # gone meanwhile, or not ours to read
            continue
        if parent == os.getpid() and b"multiprocessing.resource_tracker" in command:
            continue
        found.append(int(entry.name))
    return found


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
