"""The served model refuses bad input as a real restate-server 1.7.12 does, and neither changes.

A real server with two real SDK endpoints is put in a small state (a completed call, a call
running on its deployment, a private service and a private handler); the cluster is read into a
:class:`Registry` (:class:`AdminSource`) and served (:class:`AdminServer`). Each case of
:data:`CASES` (malformed JSON, the wrong body, unknown routes and methods, bad and unknown ids,
SQL that DataFusion refuses, an oversized body, calls the ingress refuses) goes to both; their
answers must be equal: the status, the kind of body (JSON, text or none), the body itself and the
``allow`` header of a 405. A few cases whose message comes from a library, not from Restate (a
connection error's wording), are compared by their status, kind and the message up to its
first colon. After the table, both list the same deployments, services and calls as before.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import httpx
import pytest

from restate_versioning.admin import AdminSource
from restate_versioning.server import AdminServer

from .helpers import own_restate_server, start_sdk_endpoint
from .restate_server import RestateServer
from .test_server_cli import _wait_for

pytestmark = pytest.mark.integration  # a real restate-server and SDK endpoints

JSON = {"content-type": "application/json"}


@attrs.frozen
class Case:
    """One request: ``path`` may name the scene's ids (``{DONE}``...), ``body`` is sent as is
    (bytes) or as JSON; ``exact=False`` compares a message only up to its first colon."""

    name: str
    method: str
    path: str
    body: Any = None
    headers: Mapping[str, str] = attrs.field(factory=lambda: dict(JSON))
    ingress: bool = False
    exact: bool = True


def _admin(name: str, method: str, path: str, body: Any = None, **kw: Any) -> Case:
    return Case(name, method, path, body, **kw)


def _ingress(name: str, method: str, path: str, body: Any = None, **kw: Any) -> Case:
    return Case(name, method, path, body, ingress=True, **kw)


CASES = (
    # routes and methods
    _admin("unknown route", "GET", "/nope"),
    _admin("wrong method on /deployments", "PUT", "/deployments", {}),
    _admin("wrong method on /services", "DELETE", "/services"),
    _admin("wrong method on /query", "GET", "/query"),
    # registering: the body
    _admin("register without content type", "POST", "/deployments", b"{}", headers={}),
    _admin("register broken JSON", "POST", "/deployments", b"{uri"),
    _admin("register empty body", "POST", "/deployments", b""),
    _admin("register a list", "POST", "/deployments", []),
    _admin("register an empty object", "POST", "/deployments", {}),
    _admin("register a number uri", "POST", "/deployments", {"uri": 5}),
    _admin(  # the server reads it by its uri, and ignores the arn
        "register both uri and arn",
        "POST",
        "/deployments",
        {"uri": "http://127.0.0.1:9/", "arn": "b"},
        exact=False,
    ),
    _admin("register a bad force", "POST", "/deployments", {"uri": "http://a", "force": "yes"}),
    _admin("register over 2 MiB", "POST", "/deployments", b" " * (2 * 1024 * 1024 + 10)),
    _admin(
        "register an endpoint that is not there",
        "POST",
        "/deployments",
        {"uri": "http://127.0.0.1:9/"},
        exact=False,
    ),
    # deployments by id
    _admin("deployment id unreadable", "GET", "/deployments/garbage"),
    _admin("deployment id unknown", "GET", "/deployments/{UNKNOWN_DP}"),
    _admin("delete without force", "DELETE", "/deployments/{DP}"),
    _admin("delete unknown with force", "DELETE", "/deployments/{UNKNOWN_DP}?force=true"),
    _admin("delete with a bad force", "DELETE", "/deployments/{DP}?force=notabool"),
    _admin("delete an unreadable id", "DELETE", "/deployments/garbage?force=true"),
    _admin("update an unreadable id", "PATCH", "/deployments/garbage", {"uri": "http://a/"}),
    _admin("update an unknown deployment", "PATCH", "/deployments/{UNKNOWN_DP}", {}),
    _admin("update without content type", "PATCH", "/deployments/{DP}", b"{}", headers={}),
    _admin("update broken JSON", "PATCH", "/deployments/{DP}", b"{"),
    _admin("update a list", "PATCH", "/deployments/{DP}", []),
    _admin("update a bad dry run", "PATCH", "/deployments/{DP}", {"dry_run": "yes"}),
    _admin("update with nothing to change", "PATCH", "/deployments/{DP}", {"overwrite": True}),
    _admin("update with a number uri", "PATCH", "/deployments/{DP}", {"uri": 5}),
    _admin("update to a relative uri", "PATCH", "/deployments/{DP}", {"uri": "/relative/path"}),
    _admin("update a role of an http one", "PATCH", "/deployments/{DP}", {"assume_role_arn": "x"}),
    _admin(
        "update to an endpoint that is not there",
        "PATCH",
        "/deployments/{DP}",
        {"uri": "http://127.0.0.1:9/"},
        exact=False,
    ),
    _admin("update with PUT", "PUT", "/deployments/{DP}", {"uri": "http://127.0.0.1:9/"}),
    # services and handlers
    _admin("service unknown", "GET", "/services/Unknown"),
    _admin("handlers of an unknown service", "GET", "/services/Unknown/handlers"),
    _admin("handler unknown", "GET", "/services/Greeter/handlers/nope"),
    _admin("patch an unknown service", "PATCH", "/services/Unknown", {"public": True}),
    _admin("patch without content type", "PATCH", "/services/Greeter", b"{}", headers={}),
    _admin("patch broken JSON", "PATCH", "/services/Greeter", b"{public"),
    _admin("patch a bad public", "PATCH", "/services/Greeter", {"public": "yes"}),
    _admin("patch a number", "PATCH", "/services/Greeter", 5),
    _admin("patch a null public", "PATCH", "/services/Greeter", {"public": None, "x": []}),
    _admin("patch an unknown field only", "PATCH", "/services/Greeter", {"nope": 1}),
    _admin(
        "patch a retention of a service",
        "PATCH",
        "/services/Greeter",
        {"workflow_completion_retention": "1h"},
    ),
    _admin(
        "patch a bad idempotency retention",
        "PATCH",
        "/services/Greeter",
        {"idempotency_retention": "soon"},
    ),
    _admin("patch a numeric retention", "PATCH", "/services/Greeter", {"idempotency_retention": 5}),
    _admin(
        "patch an unknown service with a bad body", "PATCH", "/services/Unknown", {"public": "yes"}
    ),
    # invocations
    _admin("kill an unreadable id", "PATCH", "/invocations/garbage/kill"),
    _admin("kill an id of a bad codec", "PATCH", "/invocations/inv_9abc/kill"),
    _admin("kill a short id", "PATCH", "/invocations/inv_1abc/kill"),
    _admin(
        "kill an id with a bad character",
        "PATCH",
        "/invocations/inv_1eBc3PADuk8N6dWZSHpSeIm6aA0U0AId-a/kill",
    ),
    _admin("kill a deployment id", "PATCH", "/invocations/{DP}/kill"),
    _admin("kill an id of an unknown kind", "PATCH", "/invocations/xyz_1abc/kill"),
    _admin("kill an id too long", "PATCH", "/invocations/{DONE}a/kill"),
    _admin("a deployment id with nothing after its prefix", "GET", "/deployments/dp_"),
    _admin("purge a running call", "PATCH", "/invocations/{HELD}/purge"),
    _admin("purge an unknown call", "PATCH", "/invocations/{UNKNOWN_INV}/purge"),
    _admin("restart a running call", "PATCH", "/invocations/{HELD}/restart-as-new"),
    _admin(
        "resume a running call on an unknown deployment",
        "PATCH",
        "/invocations/{HELD}/resume?deployment={UNKNOWN_DP}",
    ),
    _admin("kill with GET", "GET", "/invocations/{HELD}/kill"),
    _admin("delete a call with a bad mode", "DELETE", "/invocations/{HELD}?mode=nope"),
    _admin("delete an unknown call", "DELETE", "/invocations/{UNKNOWN_INV}"),
    _admin("kill an unknown call", "PATCH", "/invocations/{UNKNOWN_INV}/kill"),
    _admin("kill a completed call", "PATCH", "/invocations/{DONE}/kill"),
    _admin("cancel a completed call", "PATCH", "/invocations/{DONE}/cancel"),
    _admin("pause a completed call", "PATCH", "/invocations/{DONE}/pause"),
    _admin("resume a completed call", "PATCH", "/invocations/{DONE}/resume"),
    _admin(
        "resume on an unreadable deployment", "PATCH", "/invocations/{HELD}/resume?deployment=x"
    ),
    _admin("an unknown action", "PATCH", "/invocations/{DONE}/nope"),
    # queries
    _admin("query without content type", "POST", "/query", b'{"query": "SELECT 1"}', headers={}),
    _admin("query broken JSON", "POST", "/query", b"{query"),
    _admin("query without a query", "POST", "/query", {}),
    _admin("query a number", "POST", "/query", {"query": 5}),
    _admin("query a list", "POST", "/query", []),
    _admin("query a null", "POST", "/query", {"query": None}),
    _admin("query a nested list", "POST", "/query", b"[[[]]]"),
    _admin("query NaN", "POST", "/query", b'{"query": "SELECT 1", "x": NaN}'),
    _admin("query twice", "POST", "/query", b'{"query": "SELECT 1", "query": "SELECT 2"}'),
    _admin("query an unclosed object", "POST", "/query", b'{"query": "SELECT 1"'),
    _admin("query a trailing comma", "POST", "/query", b'{"query": "SELECT 1",}'),
    _admin("query trailing characters", "POST", "/query", b'{"query": "SELECT 1"} x'),
    _admin("query on two lines", "POST", "/query", b'{\n  "query": 5\n}'),
    _admin("query an unterminated string", "POST", "/query", b'{"query": "SELECT'),
    _admin("query a bad escape", "POST", "/query", b'{"query": "\\q"}'),
    _admin("query a missing colon", "POST", "/query", b'{"query" 1}'),
    _admin("query not UTF-8", "POST", "/query", b'{"query": "\xff"}'),
    _admin("query an empty body", "POST", "/query", b""),
    _admin("query bad SQL", "POST", "/query", {"query": "SELEC 1"}),
    _admin("query an unknown table", "POST", "/query", {"query": "SELECT * FROM nope"}),
    _admin("query an unknown column", "POST", "/query", {"query": "SELECT nope FROM sys_service"}),
    _admin("query an insert", "POST", "/query", {"query": "INSERT INTO sys_service VALUES (1)"}),
    _admin("query a drop", "POST", "/query", {"query": "DROP TABLE sys_service"}),
    # the ingress
    _ingress("call an unknown service", "POST", "/Unknown/greet", "x"),
    _ingress("call an unknown handler", "POST", "/Greeter/nope", "x"),
    _ingress("call a bad path", "POST", "/Greeter", "x"),
    _ingress("call a too long path", "POST", "/a/b/c/d/e", "x"),
    _ingress("call a service with a key", "POST", "/Greeter/k/greet", "x"),
    _ingress("call a service with extra parts", "POST", "/Greeter/a/b/c", "x"),
    _ingress("call a service handler with extra parts", "POST", "/Greeter/greet/extra/send", "x"),
    _ingress("call an object without a key", "POST", "/TicketObject/reserve", "x"),
    _ingress("call the root", "POST", "/", "x"),
    _ingress("call with an empty body", "POST", "/Greeter/greet", b""),
    _ingress(
        "call with text", "POST", "/Greeter/greet", b"x", headers={"content-type": "text/plain"}
    ),
    _ingress("call with no content type", "POST", "/Holder/hold/send", b"x", headers={}),
    _ingress("call a private handler", "POST", "/Greeter/secret", "x"),
    _ingress("call a private service", "POST", "/TicketObject/k/reserve/send", "x"),
    _ingress("call with a sync delay", "POST", "/Greeter/greet?delay=1s", "x"),
    _ingress("send with a bad delay", "POST", "/Greeter/greet/send?delay=soon", "x"),
    _ingress("call with GET", "GET", "/Greeter/greet"),
    _ingress("output of a running call", "GET", "/restate/invocation/{HELD}/output"),
    _ingress("output of an unreadable id", "GET", "/restate/invocation/garbage/output"),
    _ingress("attach to an unknown call", "GET", "/restate/invocation/{UNKNOWN_INV}/attach"),
    _ingress("output of an unknown call", "GET", "/restate/invocation/{UNKNOWN_INV}/output"),
)


@attrs.frozen
class Scene:
    real: RestateServer
    served: AdminServer
    ids: Mapping[str, str]
    spare: str  # another endpoint serving what SHOP serves, registered nowhere


def _unknown(known: str) -> str:
    """An id of the same kind and codec as ``known`` that names nothing."""
    last = known[-1]
    return known[:-1] + ("a" if last != "a" else "b")


@pytest.fixture(scope="module")
def scene() -> Iterator[Scene]:
    real_servers = own_restate_server()
    real = next(real_servers)
    holder = start_sdk_endpoint("app_lifecycle")
    shop = start_sdk_endpoint("conformance_private")
    spare = start_sdk_endpoint("conformance_private")
    try:
        ids: dict[str, str] = {}
        for name, url in (("DP", holder.url), ("SHOP", shop.url)):
            answer = httpx.post(f"{real.admin_url}/deployments", json={"uri": url}, timeout=30)
            assert answer.status_code == 201, answer.text
            ids[name] = answer.json()["id"]
        done = httpx.post(f"{real.ingress_url}/Greeter/greet", json="done", timeout=30)
        assert done.status_code == 200, done.text
        ids["DONE"] = done.headers["x-restate-id"]
        held = httpx.post(f"{real.ingress_url}/Holder/hold/send", json="held", timeout=30)
        ids["HELD"] = held.json()["invocationId"]
        _wait_for(real, "SELECT id FROM sys_invocation WHERE pinned_deployment_id IS NOT NULL", 2)
        ids["UNKNOWN_DP"] = _unknown(ids["DP"])
        ids["UNKNOWN_INV"] = _unknown(ids["DONE"])
        registry = AdminSource(real.admin_url).load()
        with AdminServer(registry) as served:
            yield Scene(real, served, ids, spare.url)
    finally:
        holder.stop()
        shop.stop()
        spare.stop()
        next(real_servers, None)


def _answer(base: str, case: Case, ids: Mapping[str, str]) -> dict[str, Any]:
    """What ``base`` answers to ``case``, as the parts that are compared."""
    path = case.path.format(**ids)
    body = case.body
    content = body if isinstance(body, bytes) else None if body is None else json.dumps(body)
    response = httpx.request(
        case.method, base + path, content=content, headers=dict(case.headers), timeout=5
    )
    kind = response.headers.get("content-type", "").split(";")[0] or "none"
    answer: dict[str, Any] = {"status": response.status_code, "kind": kind}
    if kind == "application/json":
        answer["body"] = _in_order(response.json())
    elif response.content:
        answer["body"] = response.text
    if "allow" in response.headers:
        answer["allow"] = sorted(m.strip() for m in response.headers["allow"].split(","))
    if "x-restate-error-source" in response.headers:
        answer["source"] = response.headers["x-restate-error-source"]
    if not case.exact:
        answer = _shape(answer)
    return answer


def _in_order(value: Any) -> Any:
    """``value`` with its lists of services and handlers sorted by name: the server lists
    them in a hash map's order, which changes between answers."""
    if isinstance(value, dict):
        return {key: _in_order(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [_in_order(item) for item in value]
        if all(isinstance(item, str) for item in items):
            return sorted(items) if items else items
        if all(isinstance(item, dict) and "name" in item for item in items):
            return sorted(items, key=lambda item: str(item["name"]))
        return items
    return value


def _shape(answer: dict[str, Any]) -> dict[str, Any]:
    body = answer.get("body")
    if isinstance(body, dict):
        body = {k: (str(v).split(":")[0] if k == "message" else v) for k, v in body.items()}
    elif isinstance(body, str):
        body = body.split(":")[0]
    return {**answer, "body": body}


def _listings(admin_url: str) -> dict[str, Any]:
    deployments = httpx.get(f"{admin_url}/deployments").json()["deployments"]
    services = httpx.get(f"{admin_url}/services").json()["services"]
    calls = httpx.post(
        f"{admin_url}/query",
        json={"query": "SELECT id, status FROM sys_invocation ORDER BY id"},
        headers={"accept": "application/json"},
    ).json()["rows"]
    return {
        "deployments": sorted(d["id"] for d in deployments),
        "services": sorted((s["name"], s["revision"], s["public"]) for s in services),
        "calls": calls,
    }


@pytest.fixture(scope="module")
def before(scene: Scene) -> dict[str, Any]:
    real = _listings(scene.real.admin_url)
    assert _listings(scene.served.admin_url) == real
    return real


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_the_served_model_refuses_bad_input_as_the_real_server(
    scene: Scene, before: dict[str, Any], case: Case
) -> None:
    real_base = scene.real.ingress_url if case.ingress else scene.real.admin_url
    served_base = scene.served.ingress_url if case.ingress else scene.served.admin_url
    real = _answer(real_base, case, scene.ids)
    served = _answer(served_base, case, scene.ids)
    assert served == real


def test_neither_side_changed_after_the_bad_input(scene: Scene, before: dict[str, Any]) -> None:
    assert _listings(scene.real.admin_url) == before
    assert _listings(scene.served.admin_url) == before


def test_the_writes_a_tool_makes_answer_as_on_the_real_server(scene: Scene) -> None:
    """After the table (it changes both): options of a service, an idempotent send twice, a
    purge, a deployment moved to another address, and what each side shows afterwards."""
    minted: list[dict[str, str]] = [{}, {}]  # each side's new ids, by order of appearance

    def both(case: Case) -> None:
        answers = []
        for side, (admin, ingress) in enumerate(
            (
                (scene.real.admin_url, scene.real.ingress_url),
                (scene.served.admin_url, scene.served.ingress_url),
            )
        ):
            answer = _answer(ingress if case.ingress else admin, case, scene.ids)
            text = json.dumps(answer)
            for found in re.findall(r"inv_[0-9a-zA-Z]{34}", text):
                if found not in scene.ids.values():
                    name = minted[side].setdefault(found, f"<new {len(minted[side])}>")
                    text = text.replace(found, name)
            answers.append(json.loads(text))
        real, served = (json.dumps(a, indent=1, sort_keys=True).splitlines() for a in answers)
        diff = "\n".join(difflib.unified_diff(real, served, "real", "served", lineterm=""))
        assert answers[1] == answers[0], f"{case.name}:\n{diff}"

    both(_ingress("the services that can be called", "GET", "/restate/health"))
    options = {
        "idempotency_retention": "1h",
        "journal_retention": "90 minutes",
        "inactivity_timeout": "PT3M",
        "abort_timeout": "1.5h",
    }
    both(_admin("set the options of a service", "PATCH", "/services/Greeter", options))
    both(_admin("read them back", "GET", "/services/Greeter"))
    keyed = {**JSON, "idempotency-key": "order-1"}
    send = _ingress("an idempotent send", "POST", "/Greeter/greet/send", "x", headers=keyed)
    both(send)
    both(attrs.evolve(send, name="the same send again"))
    both(_admin("purge a completed call", "PATCH", "/invocations/{DONE}/purge"))
    both(_admin("purge it again", "PATCH", "/invocations/{DONE}/purge"))
    both(_ingress("its output", "GET", "/restate/invocation/{DONE}/output"))
    move = {"uri": scene.spare, "dry_run": True}
    both(_admin("a dry run of a move", "PATCH", "/deployments/{SHOP}", move))
    both(_admin("nothing moved", "GET", "/deployments/{SHOP}"))
    move = {"uri": scene.spare}
    both(_admin("a move of the same code", "PATCH", "/deployments/{SHOP}", move))
    both(_admin("moved", "GET", "/deployments/{SHOP}"))
