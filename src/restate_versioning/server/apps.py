"""The ASGI applications (Starlette): the admin API, the ingress, and the control API.

* :func:`admin_app`: Restate's admin API over a :class:`ServedRegistry` (the routes are listed
  in :mod:`restate_versioning.server`), and the control API under ``/restate-versioning/``.
* :func:`ingress_app`: ``POST /{service}/{handler}`` and ``/{service}/{key}/{handler}``, with
  ``/send`` and ``?delay=``.
* :func:`by_port`: one app that hands each request to the app of the port it came in on.

Every answer is read or made under the served registry's lock; a refusal of the model is
answered as the server answers it (:mod:`restate_versioning.server.problems`) and changes
nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from .. import _json
from .._durations import parse_millis
from ..commands import (
    Complete,
    Fail,
    Invoke,
    Kill,
    Pause,
    Pin,
    Register,
    Remove,
    Resume,
    ResumeOn,
    SetPublic,
    Suspend,
)
from ..errors import VersioningError, quote
from ..ids import is_deployment_id
from ..model import InvocationStatus, Outcome
from ..serialization import (
    admin_deployment,
    admin_deployments,
    admin_registration,
    admin_service,
    admin_services,
    admin_time,
)
from ..transport import Discovery
from .problems import HttpProblem, answer_for
from .query import QueryEngine
from .state import ServedRegistry, discovery_transport

__all__ = ["MAX_BODY_BYTES", "VERSION", "admin_app", "by_port", "ingress_app"]

#: What ``GET /version`` answers (a default-configured restate-server 1.7.12: every feature
#: flag off), with the ingress URL after ``max_admin_api_version``.
VERSION: Mapping[str, Any] = {
    "version": "1.7.12",
    "min_admin_api_version": 2,
    "max_admin_api_version": 4,
    "features": dict.fromkeys(
        (
            "scoped_promise_table_migration",
            "invoker_yield",
            "vqueues",
            "protocol_v7",
            "scoped_virtual_objects",
            "vqueues_migration_skip_completed",
            "vqueues_async_refill",
            "preflight_invocation_termination_retention",
            "vqueue_obsolete_cleanup",
            "scoped_state_table_migration",
            "kafka_scope",
            "unique_random_seeds",
        ),
        False,
    ),
}
#: The largest request body read, in bytes (the server refuses a 2 MB one: 413).
MAX_BODY_BYTES = 2 * 1024 * 1024

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


# --- answers ---------------------------------------------------------------------------------


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _json_answer(value: Any, status: int = 200) -> Response:
    return Response(_json_bytes(value), status_code=status, media_type="application/json")


def _problem_answer(problem: HttpProblem) -> Response:
    if problem.text:
        return Response(problem.message, problem.status, media_type="text/plain; charset=utf-8")
    return _json_answer(problem.body(), problem.status)


async def _on_problem(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HttpProblem)
    return _problem_answer(exc)


async def _on_refusal(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, VersioningError)
    return _problem_answer(answer_for(exc))


async def _on_http(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return Response(status_code=405, headers=exc.headers)
    return Response(status_code=exc.status_code)


_HANDLERS: Mapping[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    HttpProblem: _on_problem,
    VersioningError: _on_refusal,
    HTTPException: _on_http,
}


async def _body(request: Request) -> bytes:
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HttpProblem(
                413, "Failed to buffer the request body: length limit exceeded", text=True
            )
        chunks.append(chunk)
    return b"".join(chunks)


_UNREADABLE = "Failed to deserialize the JSON body into the target type"


async def _json_object(
    request: Request, *, empty: Any = None, kind: str | None = None, strict: bool = True
) -> dict[str, Any]:
    """The request's JSON object, refused as the server refuses it (in plain text): 415
    without ``Content-Type: application/json`` (``strict``), 400 for what is not JSON, 422 for
    JSON that is not an object (``kind`` names what the server expected, an untagged enum)."""
    if strict and not request.headers.get("content-type", "").startswith("application/json"):
        raise HttpProblem(415, "Expected request with `Content-Type: application/json`", text=True)
    raw = await _body(request)
    if not raw.strip() and empty is not None:
        return dict(empty)
    try:
        value = _json.loads(raw)
    except _json.JsonError as exc:
        raise HttpProblem(
            400, f"Failed to parse the request body as JSON: {exc}", text=True
        ) from exc
    if not isinstance(value, dict):
        raise _not_the_kind(kind, f"invalid type: {quote(value)}, expected an object")
    return value


def _not_the_kind(kind: str | None, why: str) -> HttpProblem:
    if kind is not None:
        why = f"data did not match any variant of untagged enum {kind}"
    return HttpProblem(422, f"{_UNREADABLE}: {why}", text=True)


_JSON_TYPES = {bool: "a boolean", str: "a string", dict: "a map", int: "an integer"}


def _field(
    body: Mapping[str, Any], name: str, kind: type, default: Any, *, of: str | None = None
) -> Any:
    """``body[name]`` if it is a ``kind``; ``default`` if it is missing or ``null``, as the
    server reads an optional field; 422 otherwise (``of``: the untagged enum it is part of)."""
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise _not_the_kind(
            of, f"{name}: invalid type: {quote(value)}, expected {_JSON_TYPES[kind]}"
        )
    return value


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false")
    if value not in ("true", "false"):
        raise HttpProblem(
            400, f"Failed to deserialize query string: {name}: invalid boolean {quote(value)}"
        )
    return value == "true"


# --- the admin API ---------------------------------------------------------------------------


def admin_app(served: ServedRegistry, *, ingress_url: str | None = None) -> Starlette:
    """Restate's admin API over ``served``, and the control API (see the package docstring).
    ``ingress_url`` is what ``GET /version`` says the ingress is."""
    engine = QueryEngine(served)
    version = {k: v for k, v in VERSION.items() if k != "features"}
    if ingress_url is not None:
        version["ingress_endpoint"] = ingress_url.rstrip("/") + "/"
    version["features"] = VERSION["features"]

    def read(view: Callable[[Any], Any]) -> Any:
        with served.lock:
            return view(served.queries())

    listings: dict[str, bytes] = {}
    listed_at: list[object] = [None]

    def listing(name: str, view: Callable[[Any], Any]) -> Response:
        """``GET /services`` or ``GET /deployments``: made once per state of the registry
        (tools poll them), made again after any change."""
        with served.lock:
            queries = served.queries()
            key = served.state_key()
            if key != listed_at[0]:
                listings.clear()
                listed_at[0] = key
            body = listings.get(name)
            if body is None:
                body = listings[name] = _json_bytes(view(queries))
        return Response(body, media_type="application/json")

    def deployment_in(request: Request) -> str:
        """The deployment id of the path, or the server's 400 for one it cannot read."""
        deployment_id: str = request.path_params["deployment"]
        if not is_deployment_id(deployment_id):
            raise HttpProblem(
                400,
                f"Invalid URL: Cannot parse `deployment` with value `{deployment_id}`: bad format",
                text=True,
            )
        return deployment_id

    def service_in(request: Request) -> str:
        """The service of the path, or the admin API's 404 for one it does not know."""
        name: str = request.path_params["service"]
        with served.lock:
            if name not in {s.name for s in served.queries().services()}:
                raise HttpProblem(404, f"The requested service '{name}' does not exist")
        return name

    async def health(_: Request) -> Response:
        return Response(status_code=200)

    async def get_version(_: Request) -> Response:
        return _json_answer(version)

    def list_deployments(_: Request) -> Response:
        def view(queries: Any) -> Any:
            answer = admin_deployments(queries)
            for deployment in answer["deployments"]:
                _with_http_version(deployment)
            return answer

        return listing("deployments", view)

    def get_deployment(request: Request) -> Response:
        deployment_id = deployment_in(request)
        return _json_answer(_with_http_version(read(lambda q: admin_deployment(q, deployment_id))))

    async def register(request: Request) -> Response:
        kind = "RegisterDeploymentRequest"
        body = await _json_object(request, kind=kind)
        uri = body.get("uri")
        arn = body.get("arn")
        if (uri is None) == (arn is None):
            raise _not_the_kind(kind, "")
        endpoint = _field(body, "uri" if uri is not None else "arn", str, None, of=kind)
        force = _field(body, "force", bool, False, of=kind)
        breaking = _field(body, "breaking", bool, False, of=kind)
        dry_run = _field(body, "dry_run", bool, False, of=kind)
        use_http_11 = _field(body, "use_http_11", bool, False, of=kind)
        headers = _field(body, "additional_headers", dict, {}, of=kind)
        registration = await run_in_threadpool(
            _register, served, endpoint, force, breaking, dry_run, use_http_11, headers
        )
        deployment = registration.deployment
        # 201 for a new deployment (a dry run's too), 200 for one registered already
        created = registration.outcome is Outcome.CREATED
        response = _json_answer(admin_registration(registration), 201 if created else 200)
        response.headers["location"] = f"deployments/{deployment.id}"
        return response

    def delete_deployment(request: Request) -> Response:
        deployment_id = deployment_in(request)
        force = _flag(request, "force")
        if not force:  # the server answers 501, with no body, before it looks
            return Response(status_code=501)
        with served.lock:
            queries = served.queries()
            known = {d.id for d in queries.deployments()}
            if deployment_id not in known and not queries.was_removed(deployment_id):
                raise HttpProblem(
                    404,
                    f"not found in the schema registry: deployment with id '{deployment_id}'",
                )
            served.execute(Remove(deployment_id, force=True))
        return Response(status_code=202)

    def list_services(_: Request) -> Response:
        return listing("services", admin_services)

    def get_service(request: Request) -> Response:
        name = service_in(request)
        return _json_answer(read(lambda q: admin_service(q, name)))

    async def patch_service(request: Request) -> Response:
        name = service_in(request)
        body = await _json_object(request)
        public = _field(body, "public", bool, None)
        with served.lock:
            if public is not None:
                served.execute(SetPublic(name, public))
            return _json_answer(admin_service(served.queries(), name))

    def list_handlers(request: Request) -> Response:
        name = service_in(request)
        return _json_answer({"handlers": read(lambda q: admin_service(q, name))["handlers"]})

    def get_handler(request: Request) -> Response:
        name = service_in(request)
        handler = request.path_params["handler"]
        handlers = read(lambda q: admin_service(q, name))["handlers"]
        for entry in handlers:
            if entry["name"] == handler:
                return _json_answer(entry)
        raise HttpProblem(
            404, f"The requested handler '{handler}' on service '{name}' does not exist"
        )

    def invocation_action(request: Request) -> Response:
        invocation_id = request.path_params["invocation"]
        action = request.path_params["action"]
        with served.lock:
            before = served.queries().invocation(invocation_id).status
            status = 200
            if action in ("kill", "cancel"):
                # No handler runs here to catch a cancellation: a cancelled call ends as a
                # killed one does, failed with "[409] cancelled"; the server answers 202 for
                # a started call (its handler decides when), 200 for a queued one (it vanishes)
                ended = served.execute(Kill(invocation_id))
                if ended.status is InvocationStatus.COMPLETED:
                    word = "killed" if action == "kill" else "cancelled"
                    served.failures.setdefault(invocation_id, f"[409] {word}")
                if action == "cancel" and not before.is_queued:
                    status = 202
            elif action == "pause":
                served.execute(Pause(invocation_id))
                if before in (InvocationStatus.RUNNING, InvocationStatus.BACKING_OFF):
                    status = 202  # paused at its next step; 200 when it was paused already
            elif action == "resume":
                if before.is_queued:
                    raise HttpProblem(
                        425,
                        f"The invocation '{invocation_id}' is either inboxed or scheduled, "
                        "cannot be resumed.",
                    )
                target = request.query_params.get("deployment", "keep")
                where: Any = ResumeOn(target) if target in ("keep", "latest") else target
                served.execute(Resume(invocation_id, where))
            else:
                raise HttpProblem(404, f"no such action {quote(action)}")
        return Response(status_code=status)

    async def query(request: Request) -> Response:
        body = await _json_object(request)
        sql = body.get("query")
        if not isinstance(sql, str):
            raise _not_the_kind(None, f"query: expected a string, got {quote(sql)}")
        # JSON only for exactly this Accept, as the server: anything else gets Arrow
        wants_json = request.headers.get("accept") == "application/json"
        return await run_in_threadpool(engine.answer, sql, wants_json)

    api: list[BaseRoute] = [
        Route("/deployments", list_deployments, methods=["GET"]),
        Route("/deployments", register, methods=["POST"]),
        Route("/deployments/{deployment}", get_deployment, methods=["GET"]),
        Route("/deployments/{deployment}", delete_deployment, methods=["DELETE"]),
        Route("/services", list_services, methods=["GET"]),
        Route("/services/{service}", get_service, methods=["GET"]),
        Route("/services/{service}", patch_service, methods=["PATCH"]),
        Route("/services/{service}/handlers", list_handlers, methods=["GET"]),
        Route("/services/{service}/handlers/{handler}", get_handler, methods=["GET"]),
        Route("/invocations/{invocation}/{action}", invocation_action, methods=["PATCH"]),
        Route("/query", query, methods=["POST"]),
    ]
    # The API answers at its root and under each version it speaks (the CLI asks /v4/...).
    versions = range(VERSION["min_admin_api_version"], VERSION["max_admin_api_version"] + 1)
    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/version", get_version, methods=["GET"]),
        *api,
        *(Mount(f"/v{number}", routes=api) for number in versions),
        *_control_routes(served),
    ]
    return Starlette(routes=routes, exception_handlers=dict(_HANDLERS))


#: The HTTP version shown for an HTTP deployment registered without a discovery (a manifest
#: given to :meth:`Registry.register <restate_versioning.Registry.register>`): the one the
#: server's discovery speaks unless told ``use_http_11``. The server always shows one, and
#: the ``restate`` CLI reads no deployment without it.
DEFAULT_HTTP_VERSION = "HTTP/2.0"


def _with_http_version(deployment: dict[str, Any]) -> dict[str, Any]:
    if "uri" in deployment:
        deployment.setdefault("http_version", DEFAULT_HTTP_VERSION)
    return deployment


def _register(
    served: ServedRegistry,
    endpoint: str,
    force: bool,
    breaking: bool,
    dry_run: bool,
    use_http_11: bool,
    headers: Mapping[str, str],
) -> Any:
    """``POST /deployments``: discover ``endpoint`` (outside the lock: it may be slow) unless it
    is registered already and not forced, then register what it serves."""
    with served.lock:
        known = served.queries().find_deployment(endpoint)
    if known is not None and not force:
        return served.execute(
            Register(endpoint, known.manifest or {}, breaking=breaking, dry_run=dry_run)
        )
    transport = discovery_transport(
        served.transport, use_http_11=use_http_11, headers=headers, endpoint=endpoint
    )
    discovery: Discovery = transport.discover(endpoint)
    return served.execute(
        Register(
            endpoint,
            discovery.manifest,
            force=force,
            breaking=breaking or force,
            dry_run=dry_run,
            http_version=discovery.http_version,
            sdk_version=discovery.sdk_version,
        )
    )


# --- the control API -------------------------------------------------------------------------

#: Where the control API lives: a prefix no Restate route and no service can have (a service
#: name starting with ``restate`` is reserved).
CONTROL_PREFIX = "/restate-versioning"


def _control_routes(served: ServedRegistry) -> list[Route]:
    """The one part that is not Restate's: moving calls as their handlers would, and the clock.

    ``POST /restate-versioning/invocations/{id}/{action}`` with ``action`` one of
    ``complete`` (body ``{"output": ...}``, optional: what a waiting caller gets), ``suspend``,
    ``pin``, ``fail`` (body ``{"code": "...", "message": "..."}``); ``POST
    /restate-versioning/clock`` with ``{"advance": "10s"}`` or ``{"advance_ms": 10000}``
    (needs a served :class:`~restate_versioning.clock.ManualClock`), which then starts the
    delayed calls that fell due. Each answers the invocation (or the time) as JSON."""

    async def move(request: Request) -> Response:
        invocation_id = request.path_params["invocation"]
        action = request.path_params["action"]
        body = await _json_object(request, empty={}, strict=False)
        with served.lock:
            if action == "complete":
                output = body.get("output")
                invocation = served.execute(Complete(invocation_id))
                served.outputs[invocation_id] = json.dumps(output).encode()
            elif action == "suspend":
                invocation = served.execute(Suspend(invocation_id))
            elif action == "pin":
                invocation = served.execute(Pin(invocation_id))
            elif action == "fail":
                code = _field(body, "code", str, "RT0007")
                message = _field(body, "message", str, None)
                invocation = served.execute(Fail(invocation_id, code=code, message=message))
            else:
                raise HttpProblem(404, f"no such control action {quote(action)}")
        return _json_answer(_invocation_answer(invocation))

    async def clock(request: Request) -> Response:
        body = await _json_object(request, empty={}, strict=False)
        with served.lock:
            if served.clock is None:
                raise HttpProblem(
                    409, "the server's clock is not a ManualClock: it cannot be moved"
                )
            advance = body.get("advance")
            if isinstance(advance, str):
                millis = parse_millis(advance)
                if millis is None:
                    raise HttpProblem(400, f"not a duration: {quote(advance)}")
            else:
                millis = _field(body, "advance_ms", int, 0)
            if millis < 0:
                raise HttpProblem(400, f"the clock only moves forward, not by {millis} ms")
            now = served.clock.advance(timedelta(milliseconds=millis))
            served.queries()  # start what fell due
        return _json_answer({"now": now.isoformat()})

    return [
        Route(f"{CONTROL_PREFIX}/invocations/{{invocation}}/{{action}}", move, methods=["POST"]),
        Route(f"{CONTROL_PREFIX}/clock", clock, methods=["POST"]),
    ]


def _invocation_answer(invocation: Any) -> dict[str, Any]:
    return {
        "id": invocation.id,
        "target": f"{invocation.service}/{invocation.handler}",
        "key": invocation.key,
        "status": invocation.status.value,
        "pinned_deployment_id": invocation.pinned_deployment_id,
    }


# --- the ingress -----------------------------------------------------------------------------


def ingress_app(served: ServedRegistry) -> Starlette:
    """The ingress over ``served`` (see the package docstring)."""

    async def call(request: Request) -> Response:
        parts = request.path_params["path"].split("/")
        send = False
        if parts and parts[-1] == "send" and len(parts) in (3, 4):
            send = True
            parts = parts[:-1]
        if len(parts) == 2:
            service, handler = parts
            key = None
        elif len(parts) == 3:
            service, key, handler = parts
        else:
            return Response(status_code=404)
        delay = _delay(request.query_params.get("delay"))
        await _body(request)
        with served.lock:
            invocation = served.execute(Invoke(service, handler, key=key, delay=delay))
        if send:
            answer: dict[str, Any] = {"invocationId": invocation.id}
            if invocation.execute_at is not None and delay is not None:
                answer["executionTime"] = admin_time(invocation.execute_at)
            answer["status"] = "Accepted"
            return _json_answer(answer, 202)
        return await _wait_for_output(served, invocation.id)

    async def health(_: Request) -> Response:
        return Response(status_code=200)

    routes = [
        Route("/restate/health", health, methods=["GET"]),
        Route("/{path:path}", call, methods=["POST"]),
    ]
    return Starlette(routes=routes, exception_handlers=dict(_HANDLERS))


def _delay(text: str | None) -> timedelta | None:
    if text is None:
        return None
    millis = parse_millis(text)
    if millis is None:
        raise HttpProblem(400, f"Cannot parse the delay {quote(text)}")
    return timedelta(milliseconds=millis) if millis else None


async def _wait_for_output(served: ServedRegistry, invocation_id: str) -> Response:
    """A call waits for its output, as a caller of the ingress does: until the control API
    completes it (the output it gave), or it is killed."""
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()
    stop = served.listen(lambda: loop.call_soon_threadsafe(changed.set))
    try:
        while True:
            with served.lock:
                invocation = served.queries().invocation(invocation_id)
                if invocation.status is InvocationStatus.COMPLETED:
                    output = served.outputs.get(invocation_id)
                    if output is None:
                        failure = served.failures.get(invocation_id, "[409] killed")
                        code, _, message = failure.partition("] ")
                        raise HttpProblem(int(code.strip("[")), message)
                    return Response(output, media_type="application/json")
            await changed.wait()
            changed.clear()
    finally:
        stop()


# --- by port ---------------------------------------------------------------------------------


def by_port(apps: Mapping[int, ASGIApp]) -> ASGIApp:
    """One ASGI app that hands each request to the app of the local port it came in on."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        server = scope.get("server")
        target = apps.get(server[1]) if server else None
        if target is None:
            target = next(iter(apps.values()))
        await target(scope, receive, send)

    return app
