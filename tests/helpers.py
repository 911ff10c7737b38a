"""What the tests build and start: discovery JSON (manifests, services, handlers, a manifest
that sets every option), a registry with something of everything, where a fresh store is,
recorded answers of the server and a fake admin API to serve them, and real components
(restate-server, SDK endpoints) with :func:`needed` when one cannot be had. ``conftest.py``
keeps the fixtures and hooks."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest
from hypothesis import HealthCheck, settings

from restate_versioning import ManualClock, Registry

if TYPE_CHECKING:
    import httpx

    from restate_versioning.admin import AdminClient, AdminSource

    from .restate_server import RestateServer
    from .sdk.endpoint import SdkEndpoint

DATA = Path(__file__).parent / "data"

#: What restate-sdk 1.3.0 answers to discovery for Greeter (Service), TicketObject (Virtual
#: Object: exclusive ``reserve``, shared ``status``) and Signup (Workflow: ``run``, shared
#: ``confirm``).
SDK_MANIFEST: dict[str, Any] = json.loads((DATA / "python-sdk-1.3.0-v4.json").read_text())

V1 = "http://127.0.0.1:9081"
V2 = "http://127.0.0.1:9082"
V3 = "http://127.0.0.1:9083"


# --- discovery JSON ---------------------------------------------------------------------------


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


def service_options(base: int) -> dict[str, Any]:
    """Every service-level option, none at the server's default (durations from ``base`` ms)."""
    return {
        "inactivityTimeout": base + 1,
        "abortTimeout": base + 2,
        "journalRetention": base + 3,
        "idempotencyRetention": base + 4,
        "retryPolicyInitialInterval": base + 5,
        "retryPolicyMaxInterval": base + 6,
        "enableLazyState": True,
        "retryPolicyMaxAttempts": 7,
        "retryPolicyExponentiationFactor": 1.5,
        "retryPolicyOnMaxAttempts": "KILL",
    }


def handler_options(base: int, *, workflow: bool) -> dict[str, Any]:
    """Every handler-level option a handler may set: a ``WORKFLOW`` handler sets
    ``workflowCompletionRetention`` and may not set ``idempotencyRetention``; another one the
    other way round."""
    options = {**service_options(base), "retryPolicyOnMaxAttempts": "PAUSE"}
    if workflow:
        del options["idempotencyRetention"]
        options["workflowCompletionRetention"] = base + 8
    return options


#: How the payloads below are described, as the server described them.
PAYLOADS: list[tuple[dict[str, Any] | None, bool, str, Any]] = [
    # (payload, is the output, the description shown, the JSON Schema shown or None)
    (None, False, "*/*", None),
    (None, True, "application/json", None),
    ({}, False, "none", None),
    ({}, True, "none", None),
    ({"required": False, "jsonSchema": True}, False, "none", None),
    ({"jsonSchema": {"type": "string"}}, True, "none", None),
    ({"required": True}, False, "<invalid rules>", None),
    ({"required": True, "jsonSchema": {"type": "object"}}, False, "<invalid rules>", None),
    ({"setContentTypeIfEmpty": True}, True, "none", None),
    ({"contentType": "text/plain", "required": True}, False, "text/plain", None),
    ({"contentType": "application/*"}, False, "application/*", None),
    ({"contentType": "application/json"}, True, "application/json", None),
    (
        {"contentType": "application/json", "setContentTypeIfEmpty": True},
        True,
        "optional application/json",
        None,
    ),
    (
        {"contentType": "application/json", "setContentTypeIfEmpty": True, "jsonSchema": {}},
        True,
        "optional application/json",
        {},
    ),
    (
        {
            "contentType": "text/plain",
            "setContentTypeIfEmpty": True,
            "jsonSchema": {"type": "string"},
        },
        True,
        "JSON string",
        {"type": "string"},
    ),
    (
        {"required": False, "contentType": "application/json", "jsonSchema": {"type": "object"}},
        False,
        "JSON object",
        {"type": "object"},
    ),
    (
        {"contentType": "application/json", "jsonSchema": {"type": "array", "title": "List"}},
        False,
        "JSON 'List'",
        {"type": "array", "title": "List"},
    ),
    ({"contentType": "x/y", "jsonSchema": {"title": ""}}, True, "JSON ''", {"title": ""}),
    (
        {"contentType": "application/json", "jsonSchema": {"type": ["string", "null"]}},
        False,
        "application/json",
        {"type": ["string", "null"]},
    ),
    ({"contentType": "application/json", "jsonSchema": True}, False, "application/json", True),
    ({"contentType": "application/json", "jsonSchema": False}, True, "application/json", False),
]


def every_option(*, mode: str) -> dict[str, Any]:
    """A manifest that sets every service-level and handler-level option the manifest schema
    has (``SERVICE_OPTIONS``, ``HANDLER_OPTIONS``), documentation and metadata on services and
    handlers, and input/output with every ``PAYLOAD_FIELDS`` field; beside a service that sets
    nothing, and one whose handlers show the payload descriptions of :data:`PAYLOADS`."""
    payload_handlers = []
    inputs = [p for p in PAYLOADS if not p[1]]
    outputs = [p for p in PAYLOADS if p[1]]
    for index in range(max(len(inputs), len(outputs))):
        handler: dict[str, Any] = {"name": f"payload{index:02}"}
        if index < len(inputs) and inputs[index][0] is not None:
            handler["input"] = inputs[index][0]
        if index < len(outputs) and outputs[index][0] is not None:
            handler["output"] = outputs[index][0]
        payload_handlers.append(handler)
    return manifest(
        {
            "name": "ViewsFlow",
            "ty": "WORKFLOW",
            "documentation": "signs people up",
            "metadata": {"team": "growth", "tier": "1"},
            **service_options(3_600_000),
            "handlers": [
                {
                    "name": "run",
                    "ty": "WORKFLOW",
                    "documentation": "the run",
                    "metadata": {"owner": "ana"},
                    "input": {
                        "required": True,
                        "contentType": "application/json",
                        "jsonSchema": {"type": "object", "properties": {"x": {"type": "integer"}}},
                    },
                    "output": {
                        "setContentTypeIfEmpty": True,
                        "contentType": "application/json",
                        "jsonSchema": {"type": "string"},
                    },
                    **handler_options(90_061_000, workflow=True),
                },
                {
                    "name": "confirm",
                    "ty": "SHARED",
                    "ingressPrivate": True,
                    "documentation": "",
                    **handler_options(5, workflow=False),
                },
                {"name": "status", "ty": "SHARED", "enableLazyState": False},
            ],
        },
        {
            "name": "ViewsObject",
            "ty": "VIRTUAL_OBJECT",
            "ingressPrivate": True,
            "metadata": {},
            "retryPolicyMaxAttempts": 0,  # shown as 1
            "handlers": [{"name": "get", "ty": "SHARED"}, {"name": "set"}],
        },
        {"name": "ViewsPayloads", "ty": "SERVICE", "handlers": payload_handlers},
        {"name": "ViewsBare", "ty": "SERVICE", "handlers": [{"name": "greet"}]},
        mode=mode,
    )


def fuzz_settings(default_examples: int) -> settings:
    """Hypothesis settings of a focused fuzz test (marker ``fuzz``): ``$FUZZ_EXAMPLES`` inputs,
    or ``default_examples`` (the slice ``make test`` runs); no deadline, as each test bounds the
    time of one input itself."""
    return settings(
        max_examples=int(os.environ.get("FUZZ_EXAMPLES", str(default_examples))),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# --- registries -------------------------------------------------------------------------------


def populate(registry: Registry, clock: ManualClock) -> Registry:
    """Something of everything: revisions, a forced overwrite, a removal, a private service,
    and invocations in every status a command can reach."""
    v1 = registry.register(V1, SDK_MANIFEST).deployment.id
    registry.invoke("TicketObject", "reserve", key="t1")
    registry.invoke("TicketObject", "reserve", key="t1")
    registry.invoke("TicketObject", "reserve", key="t1", delay=timedelta(seconds=5))
    registry.suspend(registry.invoke("Greeter", "greet").id)
    registry.invoke("Signup", "run", key="w1")
    registry.register(V2, SDK_MANIFEST)
    registry.register(V3, manifest(service("Other")))
    registry.register(V3, manifest(service("Other")), force=True)
    registry.set_public("Greeter", False)
    registry.complete(registry.invoke("Greeter", "greet", caller="Other/greet").id)
    paused = registry.pause(registry.invoke("Greeter", "greet", caller="Other/greet").id)
    registry.remove(v1, force=True)
    registry.resume(paused.id)
    registry.pause(paused.id)
    clock.advance(timedelta(seconds=1))
    return registry


# --- stores ---------------------------------------------------------------------------------

#: The marks of a test on a store of each kind: a PostgreSQL store needs a server.
STORE_MARKS: dict[str, tuple[pytest.MarkDecorator, ...]] = {
    "sqlite": (),
    "postgres": (pytest.mark.integration,),
}
#: The kinds of store, to parametrize over, each with its marks.
STORE_KINDS = [pytest.param(kind, marks=marks) for kind, marks in STORE_MARKS.items()]


def new_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, str]:
    """Where a fresh store of ``kind`` is: ("sqlite", path, "") or ("postgres", dsn, prefix),
    plain strings that a child process can be handed."""
    if kind == "sqlite":
        return ("sqlite", str(tmp_path / "registry.sqlite3"), "")
    from .postgres_server import fresh_prefix

    return ("postgres", request.getfixturevalue("postgres_dsn"), fresh_prefix())


# --- a fake admin API -------------------------------------------------------------------------

ADMIN = "http://127.0.0.1:9070"
EMPTY_QUERY = '{"rows":[]}'

Answer = tuple[int, str]


def recorded(name: str) -> str:
    """An answer of restate-server kept as it was recorded, ``tests/data/<name>``."""
    return (DATA / name).read_text()


class Admin:
    """A fake admin API: canned answers by ``(method, path)``, and every request it got."""

    def __init__(self, answers: dict[tuple[str, str], Answer]) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        import httpx

        self.requests.append(request)
        status, body = self.answers.get(
            (request.method, request.url.path), (404, '{"message":"not found"}')
        )
        return httpx.Response(status, content=body.encode())

    def source(self, timeout: float = 10) -> AdminSource:
        import httpx

        from restate_versioning.admin import AdminSource

        client = httpx.Client(transport=httpx.MockTransport(self))
        return AdminSource(ADMIN, client=client, timeout=timeout)

    def client(self, timeout: float = 10) -> AdminClient:
        """An :class:`AdminClient` that sends its requests here."""
        import httpx

        from restate_versioning.admin import AdminClient

        client = httpx.Client(transport=httpx.MockTransport(self))
        return AdminClient(ADMIN, client=client, timeout=timeout)

    def paths(self) -> list[tuple[str, str]]:
        return [(r.method, r.url.path) for r in self.requests]


# --- real components --------------------------------------------------------------------------


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


def endpoint_starter() -> Iterator[Callable[[str], str]]:
    """For a fixture: a function that starts a new SDK endpoint serving
    ``tests.sdk.services:{app}`` (a new URL each time, so registering it makes new revisions)
    and returns its URL; every one started is stopped at the fixture's end."""
    started: list[SdkEndpoint] = []

    def start(app: str) -> str:
        started.append(start_sdk_endpoint(app))
        return started[-1].url

    try:
        yield start
    finally:
        for each in started:
            each.stop()


def sdk_endpoint_url(app: str) -> Iterator[str]:
    """The URL of :func:`start_sdk_endpoint` for a fixture, stopped at its end."""
    endpoint = start_sdk_endpoint(app)
    try:
        yield endpoint.url
    finally:
        endpoint.stop()


# --- no process outlives the test session -----------------------------------------------------

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
