"""How each refusal of the model is answered over HTTP: the status code and Restate code the
real restate-server 1.7.12 gives for the same request, one table (:data:`ANSWERS`) and one
shape (``{"message": ..., "restate_code": ...}``, the code ``null`` where the server has none;
a query's error has no code at all, and a path that cannot be read is answered in plain text).
"""

from __future__ import annotations

from typing import Any

import attrs

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
from ..transport import DiscoveryError

__all__ = ["ANSWERS", "Answer", "HttpProblem", "answer_for"]


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
    error), ``text=True`` answers the message as plain text (a path that cannot be read)."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        *,
        coded: bool = True,
        text: bool = False,
    ) -> None:
        self.status = status
        self.message = message
        self.code = code
        self.coded = coded
        self.text = text
        super().__init__(message)

    def body(self) -> dict[str, Any]:
        """The JSON body of the answer."""
        out: dict[str, Any] = {"message": self.message}
        if self.coded:
            out["restate_code"] = self.code
        return out


def answer_for(exc: VersioningError) -> HttpProblem:
    """The answer to a refusal of the model (see :data:`ANSWERS`)."""
    for kind, answer in ANSWERS:
        if isinstance(exc, kind):
            code = getattr(exc, "code", None) or answer.code
            return HttpProblem(answer.status, str(exc), code if isinstance(code, str) else None)
    raise AssertionError("VersioningError answers everything")  # pragma: no cover
