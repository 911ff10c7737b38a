"""Calls a manifest declares (docs/rules.md, "Calls a manifest declares").

The first prerequisite of removing a service for good is that no other handler calls it, and
calls that have not happened yet cannot be seen from the calls in flight. The model goes further
than the server here: a service may say, in its metadata, which services (and handlers) its
handlers call. The entry is :data:`CALLS_METADATA_KEY`; its value is the JSON text of an array
of targets, each ``"Service"`` (any of its handlers) or ``"Service/handler"``;
:func:`calls_metadata` builds it, for an SDK's ``metadata=``. The server keeps service metadata
verbatim and relates nothing across services.

While a revision that declares calls is the latest of its service, its service counts as a
caller of each target service, named ``"Service/*"`` (any of its handlers), beside the callers
recorded from calls and those given to ``Registry.declare_caller``: removing the last revision
of a target is then blocked (``CALLERS``) while the caller's service stays. A declaration that is
not such an array is refused when the revision is registered (:class:`InvalidManifest`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from .. import _json
from ..errors import InvalidManifest, Problem, quote
from .manifest import SERVICE_NAME

__all__ = [
    "ANY_HANDLER",
    "CALLS_METADATA_KEY",
    "calls_from_metadata",
    "calls_metadata",
    "calls_problems",
    "declaring_caller",
]

#: The service ``metadata`` entry that declares the calls a service's handlers make.
CALLS_METADATA_KEY = "restate-versioning.calls"
#: The handler part of a caller a manifest declares: any handler of the declaring service.
ANY_HANDLER = "*"


def declaring_caller(service: str) -> str:
    """The caller a service's declaration stands for: ``"Service/*"``."""
    return f"{service}/{ANY_HANDLER}"


def _target_problem(target: object) -> str | None:
    if not isinstance(target, str):
        return f"a call target is a str ('Service' or 'Service/handler'), got {quote(target)}"
    service, slash, handler = target.partition("/")
    if not SERVICE_NAME.fullmatch(service) or (slash and not handler):
        return f"a call target is 'Service' or 'Service/handler', got {quote(target)}"
    return None


def calls_metadata(targets: Iterable[str]) -> dict[str, str]:
    """The service metadata entry that declares these call targets (``"Service"`` or
    ``"Service/handler"``), once each, sorted. :class:`InvalidManifest`, listing every bad
    target, for anything else."""
    if isinstance(targets, str) or not isinstance(targets, Iterable):
        raise InvalidManifest(
            [
                Problem(
                    "$",
                    f"expected call targets ('Service' or 'Service/handler'), got {quote(targets)}",
                )
            ]
        )
    listed = list(targets)
    problems = [
        Problem(f"$[{index}]", problem)
        for index, target in enumerate(listed)
        if (problem := _target_problem(target)) is not None
    ]
    if problems:
        raise InvalidManifest(problems)
    return {CALLS_METADATA_KEY: json.dumps(sorted(set(listed)))}


def _read(metadata: Mapping[str, str] | None, path: str) -> tuple[list[str], list[Problem]]:
    """The targets a service's metadata declares, read once, and what is wrong with the
    declaration (``path`` is its metadata's): no targets when it has problems or none."""
    text = (metadata or {}).get(CALLS_METADATA_KEY)
    if text is None:
        return [], []
    where = f"{path}[{CALLS_METADATA_KEY!r}]"
    try:
        value = _json.loads(text)
    except _json.JsonError as exc:
        return [], [Problem(where, f"the calls a service makes are JSON text: {exc}")]
    if not isinstance(value, list):
        return [], [
            Problem(where, f"the calls a service makes are a JSON array of targets, got {text!r}")
        ]
    problems = [
        Problem(f"{where}[{index}]", problem)
        for index, target in enumerate(value)
        if (problem := _target_problem(target)) is not None
    ]
    return ([] if problems else value), problems


def calls_problems(metadata: Mapping[str, str] | None, path: str) -> list[Problem]:
    """What is wrong with a service's declaration of calls (``path`` is its metadata's):
    nothing when it declares none."""
    return _read(metadata, path)[1]


def calls_from_metadata(metadata: Mapping[str, str]) -> frozenset[str]:
    """The services a service's metadata declares it calls (the service part of each target);
    empty when it declares none, or its declaration is not one (:func:`calls_problems` says
    why, and registration refuses it)."""
    return frozenset(target.partition("/")[0] for target in _read(metadata, "$")[0])
