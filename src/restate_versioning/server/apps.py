"""The admin API and the control API (Starlette).

* :func:`admin_app`: Restate's admin API over a :class:`ServedRegistry` (the routes are listed
  in :mod:`restate_versioning.server`), and the control API under ``/restate-versioning/``.

Every answer is read or made under the served registry's lock; a request is read as the server
reads it (:mod:`~restate_versioning.server.bodies`), and a refusal of the model is answered as
the server answers it (:mod:`~restate_versioning.server.problems`) and changes nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from .._durations import DurationError, parse_duration
from ..commands import (
    Complete,
    Fail,
    Invoke,
    Kill,
    Pause,
    Pin,
    Purge,
    Register,
    Remove,
    Resume,
    ResumeOn,
    SetOptions,
    SetPublic,
    Suspend,
    UpdateDeployment,
)
from ..enums import EndpointKind
from ..errors import DeploymentNotFound, InvocationNotFound, VersioningError, quote
from ..model import Invocation, InvocationStatus, Outcome
from ..serialization import (
    admin_deployment,
    admin_deployment_of,
    admin_deployments,
    admin_registration,
    admin_service,
    admin_services,
)
from .bodies import Struct, flag, json_body
from .problems import (
    EXCEPTION_HANDLERS,
    HttpProblem,
    id_reason,
    invocation_refusal,
    json_bytes,
    json_response,
)
from .query import QueryEngine
from .state import ServedRegistry

__all__ = ["CONTROL_PREFIX", "DEFAULT_HTTP_VERSION", "VERSION", "admin_app"]

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


# --- the admin API ---------------------------------------------------------------------------


#: The request types the admin API reads, as the server declares them (bodies.Struct).
REGISTER_BY_URI = Struct(
    "RegisterDeploymentRequest",
    {
        "uri": "string",
        "additional_headers": "map",
        "use_http_11": "boolean",
        "force": "boolean",
        "breaking": "boolean",
        "dry_run": "boolean",
    },
    frozenset({"uri"}),
)
REGISTER_BY_ARN = Struct(
    "RegisterDeploymentRequest",
    {
        "arn": "string",
        "assume_role_arn": "string",
        "additional_headers": "map",
        "force": "boolean",
        "breaking": "boolean",
        "dry_run": "boolean",
    },
    frozenset({"arn"}),
)
UPDATE_BY_URI = Struct(
    "UpdateDeploymentRequest",
    {
        "uri": "string",
        "additional_headers": "map",
        "use_http_11": "boolean",
        "overwrite": "boolean",
        "dry_run": "boolean",
    },
    present=frozenset({"uri"}),
    sequence_defaults=False,
)
UPDATE_BY_ARN = Struct(
    "UpdateDeploymentRequest",
    {
        "arn": "string",
        "assume_role_arn": "string",
        "additional_headers": "map",
        "overwrite": "boolean",
        "dry_run": "boolean",
    },
    sequence_defaults=False,
)
MODIFY_SERVICE = Struct(
    "ModifyServiceRequest",
    {
        "public": "boolean",
        "idempotency_retention": "duration",
        "workflow_completion_retention": "duration",
        "journal_retention": "duration",
        "inactivity_timeout": "duration",
        "abort_timeout": "duration",
    },
)
QUERY = Struct("QueryRequest", {"query": "string"}, frozenset({"query"}))
#: The modes of the deprecated ``DELETE /invocations/{id}?mode=``, as the server spells them.
_DELETE_MODE_NAMES = ("Cancel", "cancel", "Kill", "kill", "Purge", "purge")


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
                body = listings[name] = json_bytes(view(queries))
        return Response(body, media_type="application/json")

    def deployment_in(request: Request) -> str:
        """The deployment id of the path, or the server's 400 for one it cannot read."""
        deployment_id: str = request.path_params["deployment"]
        reason = id_reason(deployment_id, "dp")
        if reason is not None:
            raise HttpProblem(
                400,
                f"Invalid URL: Cannot parse `deployment` with value `{deployment_id}`: {reason}",
                text=True,
            )
        return deployment_id

    def service_in(request: Request, *, modify: bool = False) -> str:
        """The service of the path, or the admin API's 404 for one it does not know (in the
        words of a read, or of a change)."""
        name: str = request.path_params["service"]
        with served.lock:
            if name not in {s.name for s in served.queries().services()}:
                if modify:
                    raise HttpProblem(
                        404, f"not found in the schema registry: service with name '{name}'"
                    )
                raise HttpProblem(404, f"The requested service '{name}' does not exist")
        return name

    def invocation_in(request: Request) -> Any:
        """The invocation of the path, or the admin API's 400 or 404."""
        invocation_id: str = request.path_params["invocation"]
        reason = id_reason(invocation_id, "inv")
        if reason is not None:
            raise HttpProblem(
                400, f"The request field 'invocation_id' is invalid. Reason: {reason}"
            )
        with served.lock:
            try:
                return served.queries().invocation(invocation_id)
            except InvocationNotFound:
                raise HttpProblem(
                    404, f"The requested invocation '{invocation_id}' does not exist"
                ) from None

    async def health(_: Request) -> Response:
        return Response(status_code=200)

    async def get_version(_: Request) -> Response:
        return json_response(version)

    def list_deployments(_: Request) -> Response:
        def view(queries: Any) -> Any:
            answer = admin_deployments(queries)
            for deployment in answer["deployments"]:
                _with_http_version(deployment)
            return answer

        return listing("deployments", view)

    def get_deployment(request: Request) -> Response:
        deployment_id = deployment_in(request)
        return json_response(_with_http_version(read(lambda q: admin_deployment(q, deployment_id))))

    async def register(request: Request) -> Response:
        body = await json_body(request, (REGISTER_BY_URI, REGISTER_BY_ARN))
        endpoint = body["uri"] if "uri" in body else body["arn"]
        registration = await run_in_threadpool(
            _register,
            served,
            endpoint,
            body.get("force", False),
            body.get("breaking", False),
            body.get("dry_run", False),
            body.get("use_http_11", False),
            body.get("additional_headers", {}),
        )
        deployment = registration.deployment
        # 201 for a new deployment (a dry run's too), 200 for one registered already
        created = registration.outcome is Outcome.CREATED
        response = json_response(admin_registration(registration), 201 if created else 200)
        response.headers["location"] = f"deployments/{deployment.id}"
        return response

    def delete_deployment(request: Request) -> Response:
        deployment_id = deployment_in(request)
        force = flag(request, "force")
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

    async def update_deployment(request: Request) -> Response:
        """``PATCH /deployments/{id}``: move a deployment to another address (the model takes
        the same code served there only; see ``Registry.update_deployment``)."""
        deployment_id = deployment_in(request)
        body = await json_body(request, (UPDATE_BY_URI, UPDATE_BY_ARN))
        with served.lock:
            try:
                deployment = served.queries().deployment(deployment_id)
            except DeploymentNotFound:
                raise HttpProblem(
                    404, f"The requested deployment '{deployment_id}' does not exist"
                ) from None
        fields = ("uri", "arn", "additional_headers", "use_http_11")
        changes = {k: body[k] for k in fields if k in body}
        if "assume_role_arn" in body and "arn" not in body:
            changes["assume_role_arn"] = body["assume_role_arn"]
        if not changes:  # nothing to change: the deployment as it is, no discovery
            return json_response(_with_http_version(admin_deployment_of(deployment)))
        if "assume_role_arn" in changes and deployment.kind is EndpointKind.HTTP:
            raise HttpProblem(
                400,
                "cannot update the deployment, as the deployment type is http while the "
                "update options are for type lambda",
            )
        endpoint = body.get("uri", body.get("arn", deployment.endpoint))
        if "uri" in body and not urlsplit(endpoint).scheme:
            raise HttpProblem(
                400,
                f"The request field 'uri' is invalid. Reason: The provided uri {endpoint} is "
                "not absolute, only absolute URIs can be used.",
            )
        moved = await run_in_threadpool(
            _update,
            served,
            deployment_id,
            endpoint,
            body.get("use_http_11", False),
            body.get("additional_headers", {}),
            body.get("dry_run", False),
        )
        return json_response(_with_http_version(admin_deployment_of(moved)))

    def put_deployment(_: Request) -> Response:
        raise HttpProblem(405, "PUT deployment is deprecated, use PATCH instead")

    def list_services(_: Request) -> Response:
        return listing("services", admin_services)

    def get_service(request: Request) -> Response:
        name = service_in(request)
        return json_response(read(lambda q: admin_service(q, name)))

    async def patch_service(request: Request) -> Response:
        body = await json_body(request, MODIFY_SERVICE)  # read before the service is looked up
        name = service_in(request, modify=True)
        with served.lock:
            # a workflow completion retention on what is not a Workflow: refused by the model
            options = {k: v for k, v in body.items() if k != "public"}
            if options:
                served.execute(SetOptions(name, **{f"{k}_ms": v for k, v in options.items()}))
            if "public" in body:
                served.execute(SetPublic(name, body["public"]))
            return json_response(admin_service(served.queries(), name))

    def list_handlers(request: Request) -> Response:
        name = service_in(request)
        return json_response({"handlers": read(lambda q: admin_service(q, name))["handlers"]})

    def get_handler(request: Request) -> Response:
        name = service_in(request)
        handler = request.path_params["handler"]
        handlers = read(lambda q: admin_service(q, name))["handlers"]
        for entry in handlers:
            if entry["name"] == handler:
                return json_response(entry)
        raise HttpProblem(
            404, f"The requested handler '{handler}' on service '{name}' does not exist"
        )

    def invocation_action(request: Request) -> Response:
        action = request.path_params["action"]
        if action not in _INVOCATION_ACTIONS:
            raise HttpProblem(404, body=False)
        with served.lock:
            invocation = invocation_in(request)
            return _act_on(served, invocation, action, request.query_params.get("deployment"))

    def delete_invocation(request: Request) -> Response:
        """The deprecated ``DELETE /invocations/{id}?mode=``: 202 whatever it finds."""
        mode = request.query_params.get("mode", "cancel")
        if mode not in _DELETE_MODE_NAMES:
            names = ", ".join(f"`{name}`" for name in _DELETE_MODE_NAMES)
            raise HttpProblem(
                400,
                f"Failed to deserialize query string: mode: unknown variant `{mode}`, "
                f"expected one of {names}",
                text=True,
            )
        with served.lock:
            try:
                invocation = invocation_in(request)
            except HttpProblem as problem:
                if problem.status != 404:
                    raise
                return Response(status_code=202)
            with contextlib.suppress(HttpProblem, VersioningError):
                _act_on(served, invocation, mode.lower(), None)  # 202, whatever it does
        return Response(status_code=202)

    async def query(request: Request) -> Response:
        sql = (await json_body(request, QUERY))["query"]
        # JSON only for exactly this Accept, as the server: anything else gets Arrow
        wants_json = request.headers.get("accept") == "application/json"
        return await run_in_threadpool(engine.answer, sql, wants_json)

    api: list[BaseRoute] = [
        _route("/deployments", GET=list_deployments, POST=register),
        _route(
            "/deployments/{deployment}",
            GET=get_deployment,
            PATCH=update_deployment,
            PUT=put_deployment,
            DELETE=delete_deployment,
        ),
        _route("/services", GET=list_services),
        _route("/services/{service}", GET=get_service, PATCH=patch_service),
        _route("/services/{service}/handlers", GET=list_handlers),
        _route("/services/{service}/handlers/{handler}", GET=get_handler),
        _route("/invocations/{invocation}", DELETE=delete_invocation),
        _route("/invocations/{invocation}/{action}", PATCH=invocation_action),
        _route("/query", POST=query),
    ]
    # The API answers at its root and under each version it speaks (the CLI asks /v4/...).
    versions = range(VERSION["min_admin_api_version"], VERSION["max_admin_api_version"] + 1)
    routes = [
        _route("/health", GET=health),
        _route("/version", GET=get_version),
        *api,
        *(Mount(f"/v{number}", routes=api) for number in versions),
        *_control_routes(served),
    ]
    return Starlette(routes=routes, exception_handlers=dict(EXCEPTION_HANDLERS))


Endpoint = Callable[[Request], Awaitable[Response] | Response]


def _route(path: str, **by_method: Endpoint) -> Route:
    """One route for every method a path takes, so that a method it does not take is
    answered 405 with all of them in ``allow`` (``HEAD`` with ``GET``), as the server."""

    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        answer = by_method[method](request)
        if isinstance(answer, Response):
            return answer
        return await answer

    return Route(path, endpoint, methods=list(by_method))


#: The actions of ``PATCH /invocations/{id}/{action}``.
_INVOCATION_ACTIONS = ("kill", "cancel", "pause", "resume", "purge", "restart-as-new")


def _state_of(invocation: Invocation) -> str:
    """What an invocation is, as the admin API's refusals tell them apart."""
    if invocation.status is InvocationStatus.COMPLETED:
        return "completed"
    return "queued" if invocation.status.is_queued else "running"


def _act_on(
    served: ServedRegistry, invocation: Invocation, action: str, deployment: str | None
) -> Response:
    """``PATCH /invocations/{id}/{action}`` on a known invocation, under the lock: the answer
    the server gives, or its refusal (:data:`~.problems.INVOCATION_REFUSALS`)."""
    invocation_id = invocation.id
    state = _state_of(invocation)
    refusal = invocation_refusal(action, state, invocation_id)
    if refusal is not None:
        raise refusal
    status = 200
    if action in ("kill", "cancel"):
        # No handler runs here to catch a cancellation: a cancelled call ends as a killed one
        # does, failed with "[409] cancelled"; the server answers 202 for a started call (its
        # handler decides when), 200 for a queued one (it vanishes)
        ended = served.execute(Kill(invocation_id))
        if ended.status is InvocationStatus.COMPLETED:
            word = "killed" if action == "kill" else "cancelled"
            served.failures.setdefault(invocation_id, f"[409] {word}")
        if action == "cancel" and state == "running":
            status = 202
    elif action == "pause":
        served.execute(Pause(invocation_id))
        if invocation.status in (InvocationStatus.RUNNING, InvocationStatus.BACKING_OFF):
            status = 202  # paused at its next step; 200 when it was paused already
    elif action == "resume":
        where: Any = ResumeOn.KEEP
        if deployment is not None and deployment not in ("keep", "latest"):
            reason = id_reason(deployment, "dp")
            if reason is not None:
                raise HttpProblem(
                    400, f"The query parameter 'deployment' is invalid. Reason: {reason}"
                )
            where = deployment
        elif deployment == "latest":
            where = ResumeOn.LATEST
        stopped = (InvocationStatus.PAUSED, InvocationStatus.SUSPENDED)
        if where is not ResumeOn.KEEP and invocation.status not in stopped:
            move = invocation_refusal("move", "running", invocation_id)  # it runs, or backs off
            assert move is not None
            raise move
        try:
            served.execute(Resume(invocation_id, where))
        except DeploymentNotFound:
            raise HttpProblem(
                400,
                "The given deployment was not found when trying to resume the invocation "
                f"'{invocation_id}'.",
            ) from None
    elif action == "purge":
        served.execute(Purge(invocation_id))
        served.outputs.pop(invocation_id, None)
        served.failures.pop(invocation_id, None)
    else:  # restart-as-new: the same target again (the model keeps no input)
        again = served.execute(Invoke(invocation.service, invocation.handler, key=invocation.key))
        return json_response({"new_invocation_id": again.id})
    return Response(status_code=status)


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
    discovery = served.discover(endpoint, use_http_11=use_http_11, headers=headers)
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


def _update(
    served: ServedRegistry,
    deployment_id: str,
    endpoint: str,
    use_http_11: bool,
    headers: Mapping[str, str],
    dry_run: bool,
) -> Any:
    """``PATCH /deployments/{id}``: discover ``endpoint`` (outside the lock), then move the
    deployment there."""
    discovery = served.discover(endpoint, use_http_11=use_http_11, headers=headers)
    return served.execute(UpdateDeployment(deployment_id, endpoint, discovery, dry_run=dry_run))


# --- the control API -------------------------------------------------------------------------

#: Where the control API lives: a prefix no Restate route and no service can have (a service
#: name starting with ``restate`` is reserved).
CONTROL_PREFIX = "/restate-versioning"


#: What each control action reads from its body.
_CONTROL_BODIES: Mapping[str, Struct] = {
    "complete": Struct("Complete", {"output": "any"}),
    "suspend": Struct("Suspend", {}),
    "pin": Struct("Pin", {}),
    "fail": Struct("Fail", {"code": "string", "message": "string"}),
}
_CLOCK = Struct("Clock", {"advance": "string", "advance_ms": "integer"})


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
        shape = _CONTROL_BODIES.get(action)
        if shape is None:
            raise HttpProblem(404, f"no such control action {quote(action)}")
        body = await json_body(request, shape, strict=False)
        with served.lock:
            if action == "complete":
                invocation = served.execute(Complete(invocation_id))
                served.outputs[invocation_id] = json_bytes(body.get("output"))
            elif action == "suspend":
                invocation = served.execute(Suspend(invocation_id))
            elif action == "pin":
                invocation = served.execute(Pin(invocation_id))
            else:
                code = body.get("code", "RT0007")
                message = body.get("message")
                invocation = served.execute(Fail(invocation_id, code=code, message=message))
        return json_response(_invocation_answer(invocation))

    async def clock(request: Request) -> Response:
        body = await json_body(request, _CLOCK, strict=False)
        with served.lock:
            if served.clock is None:
                raise HttpProblem(
                    409, "the server's clock is not a ManualClock: it cannot be moved"
                )
            advance = body.get("advance")
            if advance is not None:
                try:
                    millis = parse_duration(advance)
                except DurationError as exc:
                    raise HttpProblem(400, f"not a duration: {quote(advance)}: {exc}") from None
            else:
                millis = body.get("advance_ms", 0)
            if millis < 0:
                raise HttpProblem(400, f"the clock only moves forward, not by {millis} ms")
            now = served.clock.advance(timedelta(milliseconds=millis))
            served.queries()  # start what fell due
        return json_response({"now": now.isoformat()})

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
