"""The ingress, served from the model (Starlette): calls and sends, and their outputs.

Every request is read as the server reads its path (a path of 2 to 7 slashes; ``/restate/...``
is the ingress's own, anything else names a service):

* ``/{service}/{handler}`` and ``/{service}/{key}/{handler}`` (the key percent-decoded), with
  ``/send`` and ``?delay=``: the handler and its visibility, the ``idempotency-key`` header,
  the method (``GET`` or ``POST``), the body (:mod:`restate_versioning.rules.ingress`) and the
  delay are checked in the server's order, then the call is made. A send answers 202 with the
  invocation id (``executionTime`` when delayed); a call waits for its output.
* ``idempotency-key``: a second request with the same key to the same target is the same
  invocation (a send answers ``PreviouslyAccepted``, a call waits for its output), as is a
  second run of a workflow key; the key is refused on a workflow's run.
* ``/restate/health``: the services that can be called. ``/restate/invocation/{id}/output``
  (470 while the call runs) and ``/attach`` (waits for it), and the same by
  ``/restate/invocation/{service}[/{key}]/{handler}/{idempotency key}/...``;
  ``/restate/workflow/{name}/{key}/output|attach`` for a workflow's run.

Refusals are answered in the ingress's shape (``{"code", "message", "source"}`` and the
``x-restate-error-source`` header), in its words; a call that failed is answered with the source
``invocation``. No handler code runs: a call completes when the control API says so, with the
output it gave. Awakeables and the ``/restate/call|send|...`` API are not served (404).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._durations import DurationError, parse_duration
from ..commands import Invoke
from ..errors import HandlerNotFound, ServiceNotPublic, VersioningError
from ..model import HandlerType, Invocation, InvocationStatus
from ..rules.ingress import BAD_PATH, Target, check_input, handler_input_rules, parse_path
from ..rules.invocations import KEYED, is_public
from ..serialization import admin_time
from .bodies import body_bytes
from .problems import (
    EXCEPTION_HANDLERS,
    HttpProblem,
    id_reason,
    ingress_answer_for,
    json_response,
)
from .state import ServedRegistry

__all__ = ["IDEMPOTENCY_HEADER", "ingress_app"]

#: The header that makes a request idempotent.
IDEMPOTENCY_HEADER = "idempotency-key"

_ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _refused(status: int, message: str, **extra: Any) -> HttpProblem:
    return HttpProblem(status, message, source="ingress", **extra)


_NOT_FOUND = "not found"
_BAD_INVOCATION_PATH = (
    "bad path, expected either /restate/invocation/:invocation_id/output or "
    "/restate/invocation/:invocation_id/attach or "
    "/restate/invocation/:invocation_target/:idempotency_key/output or "
    "/restate/invocation/:invocation_target/:idempotency_key/attach"
)
_BAD_WORKFLOW_PATH = (
    "bad path, expected either /restate/workflow/:workflow_name/:workflow_key/output or "
    "/restate/workflow/:workflow_name/:workflow_key/attach"
)


def ingress_app(served: ServedRegistry) -> Starlette:
    """The ingress over ``served`` (see the module docstring)."""

    async def dispatch(request: Request) -> Response:
        raw = request.scope.get("raw_path") or request.url.path.encode()
        path = raw.decode("latin-1").partition("?")[0]
        if not 2 <= path.count("/") <= 7:
            raise _refused(400, f"bad path: {path}")
        segments = path.split("/")[1:]
        if segments[0] == "restate":
            verb, rest = segments[1], segments[2:]
            if verb == "health":
                return health()
            if verb == "invocation":
                return await invocation_request(rest)
            if verb == "workflow":
                return await workflow_request(rest)
            raise _refused(404, _NOT_FOUND)
        return await call(request, segments)

    def health() -> Response:
        with served.lock:
            names = [service.name for service in served.queries().services()]
        return json_response({"services": names})

    async def call(request: Request, segments: Sequence[str]) -> Response:
        with served.lock:
            queries = served.queries()
            try:
                revision = queries.service(segments[0])
            except VersioningError as exc:
                raise ingress_answer_for(exc) from None
            target = parse_path(segments, revision.type)
            if target is None:
                raise _refused(400, BAD_PATH)
            handler = revision.handlers.get(target.handler)
            if handler is None:
                raise ingress_answer_for(
                    HandlerNotFound(target.service, target.handler, revision.revision)
                )
            if not is_public(revision, handler):
                raise ingress_answer_for(ServiceNotPublic(target.service, target.handler))
            deployment = queries.deployment(revision.deployment_id)
            rules = handler_input_rules(deployment, revision.name, target.handler)
        idempotency_key = request.headers.get(IDEMPOTENCY_HEADER)
        if idempotency_key is not None and handler.type is HandlerType.WORKFLOW:
            raise _refused(
                400,
                "cannot use the idempotency key with workflow handlers. The handler "
                "invocation will already be idempotent by the workflow key itself.",
            )
        if request.method not in ("GET", "POST"):
            raise _refused(405, "method not allowed")
        body = await body_bytes(request)
        problem = check_input(rules, request.headers.get("content-type"), body)
        if problem is not None:
            raise _refused(400, f"input validation error: {problem}")
        delay = _delay(request.query_params.get("delay"))
        if delay is not None and not target.send:
            raise _refused(
                400,
                "cannot use the delay query parameter with calls. The delay is supported "
                "only with sends",
            )
        invocation, again = _invoke(served, target, delay, idempotency_key)
        if not target.send:
            return await _output(served, invocation.id, wait=True)
        answer: dict[str, Any] = {"invocationId": invocation.id}
        if not again and delay and invocation.execute_at is not None:
            answer["executionTime"] = admin_time(invocation.execute_at)
        answer["status"] = "PreviouslyAccepted" if again else "Accepted"
        response = json_response(answer, 202)
        response.headers["x-restate-id"] = invocation.id
        return response

    async def invocation_request(rest: Sequence[str]) -> Response:
        if len(rest) < 2:
            raise _refused(400, _BAD_INVOCATION_PATH)
        invocation_id: str | None
        if len(rest) == 2:
            invocation_id, action = rest
            reason = id_reason(invocation_id, "inv")
            if reason is not None:
                raise _refused(400, f"bad invocation id '{invocation_id}': {reason}")
        else:
            invocation_id, action = _by_idempotency_key(served, rest), rest[-1]
        return await _output_request(served, invocation_id, action)

    async def workflow_request(rest: Sequence[str]) -> Response:
        if len(rest) < 3:
            raise _refused(400, _BAD_WORKFLOW_PATH)
        name, key, action = rest[0], unquote(rest[1]), rest[2]
        with served.lock:
            runs = [
                i.id
                for i in served.queries().invocations()
                if i.service == name and i.key == key and i.handler_type is HandlerType.WORKFLOW
            ]
        return await _output_request(served, runs[0] if runs else None, action)

    routes = [Route("/{path:path}", dispatch, methods=_ANY_METHOD)]
    return Starlette(routes=routes, exception_handlers=dict(EXCEPTION_HANDLERS))


def _invoke(
    served: ServedRegistry, target: Target, delay: timedelta | None, idempotency_key: str | None
) -> tuple[Invocation, bool]:
    """The invocation a request makes, and whether it was made before (the same idempotency
    key, or a workflow key's run once more)."""
    idempotent = (target.service, target.key, target.handler, idempotency_key or "")
    with served.lock:
        earlier = served.idempotency.get(idempotent) if idempotency_key else None
        if earlier is not None:
            try:
                return served.queries().invocation(earlier), True
            except VersioningError:
                pass  # purged: the key is free again
        before = served.state_key()
        try:
            invocation = served.execute(
                Invoke(target.service, target.handler, key=target.key, delay=delay or None)
            )
        except VersioningError as exc:
            raise ingress_answer_for(exc) from None
        if idempotency_key:
            served.idempotency[idempotent] = invocation.id
            served.idempotency_keys[invocation.id] = idempotency_key
        return invocation, served.state_key() == before


def _by_idempotency_key(served: ServedRegistry, rest: Sequence[str]) -> str | None:
    """The invocation of ``{service}[/{key}]/{handler}/{idempotency key}/{action}``."""
    with served.lock:
        try:
            revision = served.queries().service(rest[0])
        except VersioningError as exc:
            raise ingress_answer_for(exc) from None
        keyed = KEYED[revision.type]
        if (keyed and len(rest) < 5) or (not keyed and len(rest) != 4):
            raise _refused(400, _BAD_INVOCATION_PATH)
        key = unquote(rest[1]) if keyed else None
        handler, idempotency_key = (rest[2], rest[3]) if keyed else (rest[1], rest[2])
        return served.idempotency.get((rest[0], key, handler, idempotency_key))


async def _output_request(
    served: ServedRegistry, invocation_id: str | None, action: str
) -> Response:
    if action not in ("output", "attach"):
        raise _refused(404, _NOT_FOUND)
    invocation = _find(served, invocation_id)
    if invocation is None:
        if action == "attach":
            raise HttpProblem(404, _NOT_FOUND, source="invocation")
        raise _refused(404, "invocation not found")
    if invocation.caller is not None and invocation.handler_type is not HandlerType.WORKFLOW:
        raise _refused(
            400,
            "cannot get output for the given invocation. You can get output only for "
            "invocations created with an idempotency key, or for workflow methods.",
        )
    return await _output(served, invocation.id, wait=action == "attach")


def _find(served: ServedRegistry, invocation_id: str | None) -> Invocation | None:
    if invocation_id is None:
        return None
    with served.lock:
        try:
            return served.queries().invocation(invocation_id)
        except VersioningError:
            return None


def _delay(text: str | None) -> timedelta | None:
    """The ``?delay=`` of a request, read as the server reads it."""
    if text is None:
        return None
    try:
        millis = parse_duration(text)
    except DurationError as exc:
        raise _refused(
            400, f"bad delay query parameter, must be a ISO8601 duration: {exc}"
        ) from None
    return timedelta(milliseconds=millis)


async def _output(served: ServedRegistry, invocation_id: str, *, wait: bool) -> Response:
    """The output of a completed call (what the control API completed it with, ``null`` if
    it gave none), or how it failed; while it runs, 470, or (``wait``) until it completes, as
    a caller of the ingress waits."""
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()
    stop = served.listen(lambda: loop.call_soon_threadsafe(changed.set))
    try:
        while True:
            with served.lock:
                invocation = served.queries().invocation(invocation_id)
                if invocation.status is InvocationStatus.COMPLETED:
                    return _completed(served, invocation_id)
            if not wait:
                raise _refused(470, "the invocation exists but has not completed yet")
            await changed.wait()
            changed.clear()
    finally:
        stop()


def _completed(served: ServedRegistry, invocation_id: str) -> Response:
    headers = {"x-restate-id": invocation_id}
    failure = served.failures.get(invocation_id)
    if failure is not None:
        code, _, message = failure.partition("] ")
        status = int(code.strip("["))
        raise HttpProblem(status, message, source="invocation", headers=headers)
    body = served.outputs.get(invocation_id, b"null")
    return Response(body, media_type="application/json", headers=headers)
