"""What the ingress checks of a request before a call exists (docs/rules.md, "What the ingress
refuses"), as restate-server 1.7.12 checks it.

* :func:`parse_path`: ``/{service}/{handler}`` for a Service, ``/{service}/{key}/{handler}`` for
  a Virtual Object or a Workflow, each with an optional ``/send``; anything else is a bad path.
  The service is looked up first (an unknown one is "not found" whatever the rest of the path),
  so the shape is checked against its type.
* :func:`input_rules` and :func:`check_input`: each handler's input payload of the manifest
  makes a list of rules (:class:`InputRule`); a request body passes if any rule passes, and is
  refused with the last rule's reason otherwise. A payload that is not ``required`` takes an
  empty body with no content type; one with a ``contentType`` takes a body of that type
  (wildcards as in ``Accept``: ``*/*``, ``text/*``), and, with a ``jsonSchema``, not an empty
  one. A handler with no input payload takes anything. The JSON itself is not checked (a body
  that is not JSON reaches the handler, whose SDK fails the call).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote

import attrs

from ..model import Deployment, Handler, ServiceType
from .invocations import KEYED

__all__ = [
    "BAD_PATH",
    "DEFAULT_INPUT_RULES",
    "InputRule",
    "Target",
    "check_input",
    "handler_input_rules",
    "input_rules",
    "input_rules_of",
    "parse_path",
]

#: The ingress's words for a path whose shape does not fit the service's type.
BAD_PATH = "bad path, expected either /:service-name/:handler or /:object-name/:object-key/:handler"


@attrs.frozen
class Target:
    """What an ingress path names: the handler of a service (with the key of a keyed one),
    and whether it is a one-way send."""

    service: str
    handler: str
    key: str | None
    send: bool


def parse_path(parts: Sequence[str], service_type: ServiceType) -> Target | None:
    """The target of the path's ``parts`` (the service name first, each as it is in the
    path), for a service of ``service_type``; ``None`` if the path does not fit it
    (:data:`BAD_PATH`). The key is percent-decoded, the other parts are taken as they are."""
    service, rest = parts[0], list(parts[1:])
    keyed = KEYED[service_type]
    size = 2 if keyed else 1
    send = len(rest) == size + 1 and rest[-1] == "send"
    if send:
        rest = rest[:-1]
    if len(rest) != size:
        return None
    key = unquote(rest[0]) if keyed else None
    return Target(service, rest[-1], key, send)


@attrs.frozen
class InputRule:
    """One way a request body may pass: ``kind`` ``"none"`` (no body and no content type),
    ``"type"`` (a body of ``content_type``) or ``"json"`` (the same, and not empty)."""

    kind: str
    content_type: str = "*/*"

    def problem(self, content_type: str | None, body: bytes) -> str | None:
        """Why a body of ``content_type`` fails this rule, in the server's words."""
        if self.kind == "none":
            if body or content_type is not None:
                shown = "None" if content_type is None else f'Some("{content_type}")'
                return (
                    "Expected body and content-type to be empty, but wasn't with "
                    f"content-type '{shown}'"
                )
            return None
        if content_type is None:
            return "Empty content-type"
        mismatch = self._mismatch(content_type)
        if mismatch is not None:
            return mismatch
        if self.kind == "json" and not body:
            return "Empty body not allowed"
        return None

    def _mismatch(self, content_type: str) -> str | None:
        wanted_type, _, wanted_sub = self.content_type.partition("/")
        if (wanted_type, wanted_sub) == ("*", "*"):
            return None
        given = content_type.split(";", 1)[0].strip()
        given_type, slash, given_sub = given.partition("/")
        if (
            not slash
            or given_type != wanted_type
            or (wanted_sub != "*" and given_sub != wanted_sub)
        ):
            return f"Content-type '{content_type}' does not match '{self.content_type}'"
        return None


#: The rules of a handler whose manifest has no input payload: it takes anything.
DEFAULT_INPUT_RULES = (InputRule("none"), InputRule("type", "*/*"))


def input_rules(payload: Mapping[str, Any] | None) -> tuple[InputRule, ...]:
    """The rules of a handler's ``input`` payload of the manifest (``None``: it has none)."""
    if payload is None:
        return DEFAULT_INPUT_RULES
    rules: list[InputRule] = []
    if payload.get("required") is not True:
        rules.append(InputRule("none"))
    content_type = payload.get("contentType")
    if isinstance(content_type, str):
        kind = "json" if payload.get("jsonSchema") is not None else "type"
        rules.append(InputRule(kind, content_type.strip()))
    return tuple(rules)


def input_rules_of(handler: Handler) -> tuple[InputRule, ...]:
    """The rules of a handler known only by what the admin API shows of it (its
    ``input_description`` and schema, as a registry read from a cluster knows it): the
    description names the content type, or ``JSON ...`` for JSON with a schema; whether a body
    is ``required`` is not shown, and is taken as not."""
    description = handler.input_description
    if description == "*/*":
        return DEFAULT_INPUT_RULES
    if description == "none":
        return (InputRule("none"),)
    if description == "<invalid rules>":
        return ()
    if description.startswith("JSON "):
        return (InputRule("none"), InputRule("json", "application/json"))
    kind = "json" if handler.input_json_schema is not None else "type"
    return (InputRule("none"), InputRule(kind, description))


def handler_input_rules(
    deployment: Deployment, service: str, handler: str
) -> tuple[InputRule, ...]:
    """The input rules of ``handler`` of ``service`` in ``deployment``: from the manifest
    discovery answered, else (a deployment read from a cluster) from what the admin API
    shows of the handler."""
    if deployment.manifest is not None:
        for found in deployment.manifest.service(service).handlers:
            if found.name == handler:
                return input_rules(found.input)
    return input_rules_of(deployment.services[service].handlers[handler])


def check_input(rules: Sequence[InputRule], content_type: str | None, body: bytes) -> str | None:
    """Why the ingress refuses a body of ``content_type`` under ``rules`` (the last rule's
    reason), or ``None`` if one rule takes it."""
    problem: str | None = "Bad configuration of the input validation rules"
    for rule in rules:
        problem = rule.problem(content_type, body)
        if problem is None:
            return None
    return problem
