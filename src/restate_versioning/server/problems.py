"""How each refusal of the model is answered over HTTP, as the real restate-server 1.7.12
answers the same request.

* The admin API: the status code and Restate code of each refusal (:data:`ANSWERS`), in one
  shape (``{"message": ..., "restate_code": ...}``, the code ``null`` where the server has
  none; a query's error has no code at all, and what axum refuses is in plain text); the
  server's own words for a refused action on an invocation (:data:`INVOCATION_REFUSALS`).
* The ingress: ``{"code": status, "message": ..., "source": "ingress"}``, with the header
  ``x-restate-error-source``, in the ingress's words (:func:`ingress_answer_for`); a call's
  own failure has the source ``invocation``.
* An id that cannot be read: the reason the server gives (:func:`id_reason`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..errors import (
    DeploymentNotFound,
    HandlerNotFound,
    InvalidEndpoint,
    InvalidId,
    InvalidInvocation,
    InvalidManifest,
    InvalidStateSchema,
    InvalidTime,
    InvalidTransition,
    InvocationNotFound,
    ServiceNotFound,
    ServiceNotPublic,
    ServiceTypeChanged,
    VersioningError,
)
from ..ids import ALPHABET, CODEC_VERSION, ID_WIDTHS, is_deployment_id, is_invocation_id
from ..transport import DiscoveryError

__all__ = [
    "ANSWERS",
    "EXCEPTION_HANDLERS",
    "INVOCATION_REFUSALS",
    "Answer",
    "HttpProblem",
    "answer_for",
    "id_reason",
    "ingress_answer_for",
    "invocation_refusal",
    "json_bytes",
    "json_response",
    "problem_response",
]


@attrs.frozen
class Answer:
    """The status and the Restate code an error is answered with."""

    status: int
    code: str | None = None


#: The answer to each refusal, most specific class first (the first that matches answers).
#: A manifest's own problems carry their code (``META0005``, ``META0012``...); discovery
#: errors carry theirs (``META0003``...).
ANSWERS: tuple[tuple[type[BaseException], Answer], ...] = (
    (ServiceTypeChanged, Answer(409, "META0006")),
    (DiscoveryError, Answer(500)),
    (InvalidManifest, Answer(400)),
    (InvalidStateSchema, Answer(400)),
    (InvalidEndpoint, Answer(400)),
    (InvalidId, Answer(400)),
    (DeploymentNotFound, Answer(404)),
    (ServiceNotFound, Answer(404)),
    (HandlerNotFound, Answer(404)),
    (InvocationNotFound, Answer(404)),
    (ServiceNotPublic, Answer(400)),
    (InvalidTransition, Answer(409)),
    (InvalidInvocation, Answer(400)),
    (InvalidTime, Answer(400)),
    (VersioningError, Answer(400)),
)


class HttpProblem(Exception):
    """An answer other than 2xx, as the server gives it: ``status``, ``message`` and its
    ``restate_code`` (``None``: ``null``); ``coded=False`` leaves the code out (a query's
    error), ``text=True`` answers the message as plain text (what axum refuses), ``source``
    answers in the ingress's shape (``"ingress"`` or ``"invocation"``); ``body=False``
    answers with no body at all; ``headers`` are added to the answer."""

    def __init__(
        self,
        status: int,
        message: str = "",
        code: str | None = None,
        *,
        coded: bool = True,
        text: bool = False,
        source: str | None = None,
        body: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.code = code
        self.coded = coded
        self.text = text
        self.source = source
        self.has_body = body
        self.headers = dict(headers or {})
        super().__init__(message)

    def body(self) -> dict[str, Any]:
        """The JSON body of the answer."""
        if self.source is not None:
            return {"code": self.status, "message": self.message, "source": self.source}
        out: dict[str, Any] = {"message": self.message}
        if self.coded:
            out["restate_code"] = self.code
        return out


def json_bytes(value: Any) -> bytes:
    """``value`` as compact JSON, as the server writes it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(value: Any, status: int = 200) -> Response:
    """``value`` as a JSON answer."""
    return Response(json_bytes(value), status_code=status, media_type="application/json")


def problem_response(problem: HttpProblem) -> Response:
    """The HTTP answer of ``problem``."""
    if not problem.has_body:
        response = Response(status_code=problem.status)
    elif problem.text:
        response = Response(problem.message, problem.status, media_type="text/plain; charset=utf-8")
    else:
        response = json_response(problem.body(), problem.status)
        if problem.source is not None:
            response.headers["x-restate-error-source"] = problem.source
    response.headers.update(problem.headers)
    return response


async def _on_problem(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HttpProblem)
    return problem_response(exc)


async def _on_refusal(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, VersioningError)
    return problem_response(answer_for(exc))


async def _on_http(_: Request, exc: Exception) -> Response:
    """A route or method the app does not have: the status, with no body (a 405 with its
    ``allow`` header), as the server answers."""
    assert isinstance(exc, HTTPException)
    return Response(status_code=exc.status_code, headers=exc.headers)


#: The exception handlers of every served app.
EXCEPTION_HANDLERS: Mapping[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    HttpProblem: _on_problem,
    VersioningError: _on_refusal,
    HTTPException: _on_http,
}


def answer_for(exc: VersioningError) -> HttpProblem:
    """The answer to a refusal of the model (see :data:`ANSWERS`)."""
    if isinstance(exc, DiscoveryError) and exc.code is not None:
        # the server puts the code before a message that starts with it already
        return HttpProblem(500, f"[{exc.code}] [{exc.code}] {exc.reason}", exc.code)
    for kind, answer in ANSWERS:
        if isinstance(exc, kind):
            code = getattr(exc, "code", None) or answer.code
            return HttpProblem(answer.status, str(exc), code if isinstance(code, str) else None)
    raise AssertionError("VersioningError answers everything")  # pragma: no cover


#: The admin API's words for an action on an invocation that its state does not allow, by
#: action and by what the invocation is ("completed", "queued" or "running"; "move" is a
#: resume to another deployment). What is not listed is allowed, or refused by the model in
#: its own words.
INVOCATION_REFUSALS: Mapping[tuple[str, str], str] = {
    ("kill", "completed"): "The invocation '{id}' was already completed.",
    ("cancel", "completed"): "The invocation '{id}' was already completed.",
    ("pause", "completed"): "The invocation '{id}' is not running, cannot be paused.",
    ("pause", "queued"): "The invocation '{id}' is not running, cannot be paused.",
    ("resume", "completed"): "The invocation '{id}' is completed, cannot be resumed.",
    (
        "resume",
        "queued",
    ): "The invocation '{id}' is either inboxed or scheduled, cannot be resumed.",
    ("purge", "queued"): "The invocation '{id}' is not yet completed.",
    ("purge", "running"): "The invocation '{id}' is not yet completed.",
    ("restart-as-new", "running"): "The invocation '{id}' is still running.",
    ("restart-as-new", "queued"): "The invocation '{id}' is still running.",
    ("move", "running"): (
        "The invocation '{id}' is still running or the deployment id is not pinned yet, "
        "deployment id cannot be changed."
    ),
}


def invocation_refusal(action: str, state: str, invocation_id: str) -> HttpProblem | None:
    """The admin API's refusal of ``action`` on an invocation in ``state``, if it has one."""
    words = INVOCATION_REFUSALS.get((action, state))
    if words is None:
        return None
    status = 425 if (action, state) == ("resume", "queued") else 409
    return HttpProblem(status, words.format(id=invocation_id))


def ingress_answer_for(exc: VersioningError) -> HttpProblem:
    """The ingress's answer to a refusal of the model, in the ingress's words."""
    if isinstance(exc, ServiceNotFound):
        message = (
            f"service '{exc.service}' not found, make sure to register the service before "
            "calling it."
        )
        return HttpProblem(404, message, source="ingress")
    if isinstance(exc, HandlerNotFound):
        message = (
            f"the service '{exc.service}' exists, but the handler '{exc.handler}' was not "
            "found, check that the handler exists in the latest registered service version."
        )
        return HttpProblem(404, message, source="ingress")
    if isinstance(exc, ServiceNotPublic):
        return HttpProblem(400, "the invoked service is not public", source="ingress")
    answer = answer_for(exc)
    return HttpProblem(answer.status, answer.message, source="ingress")


#: The kinds of id the server knows, by their prefix (its ``IdResourceType``).
_RESOURCES = frozenset(("inv", "dp", "sub", "prom", "sign", "snap", "mut", "vq"))
_BASE62 = frozenset(ALPHABET)


def id_reason(value: str, resource: str) -> str | None:
    """Why the server cannot read ``value`` as an id of ``resource`` (``"inv"``, ``"dp"``),
    in its words and in the order it checks (its ``IdDecoder``); ``None`` if it can."""
    if not value:
        return "bad length"
    prefix, separator, body = value.partition("_")
    if not separator:
        return "bad format"
    if prefix not in _RESOURCES:
        return f"unrecognized resource type: {prefix}"
    if not body:
        return "bad length"
    if body[0] != CODEC_VERSION:
        return "unrecognized codec version"
    if prefix != resource:
        return "id doesn't match the expected type"
    rest = body[1:]
    for width in ID_WIDTHS[resource]:
        number, rest = rest[:width], rest[width:]
        if len(number) < width:
            return "bad length"
        if not set(number) <= _BASE62:
            return "base62 decode error"
    if rest:
        return "bad length"
    readable = is_invocation_id(value) if resource == "inv" else is_deployment_id(value)
    return None if readable else "base62 decode error"  # a number too large for its width
