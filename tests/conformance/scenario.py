"""Differential conformance: one scenario replayed on a real restate-server and on the model.

A scenario is a list of steps made from a seed (:func:`generate`). :func:`run` applies each
step to a *fresh* real ``restate-server`` 1.7.12 (admin API and ingress, over ``httpx``) and to a
model :class:`~restate_versioning.Registry`, waits for the server to settle, and compares the
two after every step:

* the outcome of the step itself (HTTP status and answer against the model's result or error);
* services: name, revision, type, visibility, deployment, and each handler's type and
  visibility (``GET /services`` against :func:`admin_services` of the model);
* deployments: id, endpoint, protocol, HTTP and SDK versions, protocol range, services and
  revisions (``GET /deployments`` against :func:`admin_deployments`; ``created_at`` aside);
* every invocation the scenario made: status and pinned deployment (``sys_invocation``, read
  by :class:`~restate_versioning.admin.AdminSource`);
* each deployment's status and active invocations as the CLI computes them: from the
  server's data, and every few steps from the real ``restate deployments list --extra``.

A third side is the model served over HTTP (:class:`~restate_versioning.server.AdminServer`):
after every step its ``GET /services`` and ``GET /deployments`` must show what the real
server's show, the same :class:`AdminSource` read of it must find the invocations and
deployment statuses the real server's read finds, and the real CLI must print the same
``deployments list --extra`` against it.

Each step is a command of the model (:mod:`restate_versioning.commands`) and its call to the
server: :data:`SERVER_CALLS` is the one table of what each command is on the server.
Both sides use the same ids: the server acts first, and the model gets the server's
deployment and invocation ids from :class:`ServerIds`. What the model cannot predict, the
server's own progress, is mirrored into the model once it is observed: a quick call that
completed is completed in the model, a slow call that suspended (its hour-long sleep) is
suspended there, a paused call resumed runs again (and a slow one on a request/response
deployment suspends once more). Steps pause and resume calls too (where they are pinned, on
the latest revision, or on a given deployment); a refusal is compared by its kind (the
server's 409 "not running, cannot be paused" or 425 "inboxed or scheduled" is the model's
:class:`~restate_versioning.errors.InvalidTransition`).

The lifecycle of calls that outlive a step is exercised too:

* a call sent ``soon`` (delayed by :data:`SOON`) falls due while the scenario runs. The harness
  never lets it fall due during a step: before each step it waits until every such call that
  could fall due within :data:`GUARD` seconds has, and mirrors that in the model (its clock
  moves to the call's due time, and :meth:`~restate_versioning.Registry.start_due` runs), so
  both sides see the same registrations before it;
* a ``TicketObject/send`` sends one-way calls from its handler (``tests/sdk/services.py``
  says which, :data:`SENDS`); once the server shows them, the model makes the same calls with
  ``caller=`` the sending invocation, so a kill of the sender kills them on both sides;
* ``hold`` and ``send`` wait on an awakeable they publish; a :class:`Resolve` step resolves
  it through the ingress, and the call runs on to completion where it is (a paused call stays
  paused, and completes when resumed). Any disagreement raises
:class:`Disagreement`, which carries the step and what each side said; :func:`shrink` then
looks for a shorter scenario that still disagrees.

The endpoints are real restate-sdk 1.3.0 apps (``tests/sdk/services.py``, ``conformance_*``),
started once and shared by every scenario (:class:`EndpointPool`).
"""

from __future__ import annotations

import collections
import concurrent.futures
import random
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import attrs
import httpx

from restate_versioning import (
    DeploymentStatus,
    InvocationStatus,
    ManualClock,
    ProtocolMode,
    Registry,
    VersioningError,
    commands,
)
from restate_versioning.admin import AdminSource
from restate_versioning.endpoints import parse_endpoint
from restate_versioning.errors import (
    DeploymentNotFound,
    HandlerNotFound,
    InvalidInvocation,
    InvalidTransition,
    InvocationNotFound,
    ServiceNotFound,
    ServiceNotPublic,
    ServiceTypeChanged,
)
from restate_versioning.ids import RandomIds
from restate_versioning.model import Invocation, Outcome
from restate_versioning.serialization import admin_deployments, admin_services
from restate_versioning.server import AdminServer
from restate_versioning.transport import HttpTransport, register_endpoint

from ..restate_server import RestateServer
from ..sdk.endpoint import AWAKEABLES, SdkEndpoint

__all__ = [
    "ENDPOINTS",
    "Disagreement",
    "Elapse",
    "EndpointPool",
    "Invoke",
    "Kill",
    "Pause",
    "Register",
    "Remove",
    "Resolve",
    "Resume",
    "ScenarioResult",
    "Send",
    "ServerIds",
    "SetPublic",
    "Step",
    "describe",
    "generate",
    "run",
    "shrink",
]

#: The endpoints a scenario registers: name -> the SDK app it serves (``tests/sdk/services``).
#: Two replicas of v1 and v2 make the same manifest registrable as two deployments.
ENDPOINTS: Mapping[str, str] = {
    "v1-a": "conformance_v1",
    "v1-b": "conformance_v1",
    "v1-rr": "conformance_v1_request_response",
    "v2-a": "conformance_v2",
    "v2-b": "conformance_v2",
    "retyped": "conformance_retyped",
    "private": "conformance_private",
}

#: How long a step may take to settle on the server before the comparison gives up waiting.
SETTLE_SECONDS = 5.0
# Work that failed to start because its service had no deployment is retried by the server
# with a growing backoff once a deployment is back; the model cannot know when, so the harness
# waits for that retry before the next step (else a later registration could win the race).
RETRY_SECONDS = 90.0


# --- steps -----------------------------------------------------------------------------------


@attrs.frozen
class Register:
    """``POST /deployments`` of a pool endpoint (with a trailing ``/`` when ``slash``)."""

    endpoint: str
    slash: bool = False
    force: bool = False
    breaking: bool = False
    dry_run: bool = False

    def __str__(self) -> str:
        flags = [f for f in ("force", "breaking", "dry_run") if getattr(self, f)]
        url = self.endpoint + ("/" if self.slash else "")
        return f"register {url}" + (f" ({', '.join(flags)})" if flags else "")


@attrs.frozen
class SetPublic:
    """``PATCH /services/{service}`` with ``{"public": ...}``."""

    service: str
    public: bool

    def __str__(self) -> str:
        return f"set_public {self.service} {self.public}"


Mode = Literal["quick", "slow", "delayed", "soon"]

#: How long a ``delayed`` call waits (longer than any scenario: it stays scheduled) and how
#: long a ``soon`` one waits (it falls due while the scenario runs).
DELAYED = timedelta(hours=1)
SOON = timedelta(seconds=3)
#: No step starts while a ``soon`` call could fall due within this many seconds: the harness
#: waits for it to fall due first (see the module's docstring).
GUARD = 1.5


@attrs.frozen
class Invoke:
    """An ingress ``/send``: ``quick`` completes at once, ``slow`` sleeps an hour (stays in
    flight), ``delayed`` is sent with ``?delay=1h`` (stays scheduled), ``soon`` with
    ``?delay=3s`` (falls due, and then runs as a quick call does). A call to a handler of
    :data:`HOLDERS` waits on its awakeable once it runs, whatever the mode."""

    service: str
    handler: str
    key: str | None
    mode: Mode

    def __str__(self) -> str:
        target = "/".join(p for p in (self.service, self.key, self.handler) if p is not None)
        return f"invoke {target} {self.mode}"


_MODES: tuple[Mode, ...] = ("quick", "quick", "slow", "slow", "delayed", "soon")
_FLAGS: tuple[dict[str, bool], ...] = (
    {},
    {},
    {},
    {"force": True},
    {"breaking": True},
    {"dry_run": True},
    {"dry_run": True, "breaking": True},
    {"force": True, "dry_run": True},
)


@attrs.frozen
class Kill:
    """``PATCH /invocations/{id}/kill`` of the ``pick``-th invocation the scenario made
    (modulo how many there are; nothing when there is none). With ``callers``, the
    ``pick``-th of the uncompleted invocations that sent calls."""

    pick: int
    callers: bool = False

    def __str__(self) -> str:
        return f"kill {'caller' if self.callers else 'invocation'} #{self.pick}"


@attrs.frozen
class Remove:
    """``DELETE /deployments/{id}?force=true`` of the ``pick``-th deployment the scenario
    saw registered, removed ones included (modulo; nothing when there is none)."""

    pick: int

    def __str__(self) -> str:
        return f"remove deployment #{self.pick} (force)"


@attrs.frozen
class Pause:
    """``PATCH /invocations/{id}/pause`` of the ``pick``-th invocation the scenario made
    (modulo; nothing when there is none)."""

    pick: int

    def __str__(self) -> str:
        return f"pause invocation #{self.pick}"


#: Where :class:`Resume` runs the call: where it is pinned, the latest revision of its
#: service, or the ``n``-th deployment the scenario saw registered (modulo).
Where = Literal["keep", "latest"] | int


@attrs.frozen
class Resume:
    """``PATCH /invocations/{id}/resume[?deployment=...]`` of the ``pick``-th invocation
    (modulo; nothing when there is none), with ``where`` as :data:`Where` says."""

    pick: int
    where: Where = "keep"

    def __str__(self) -> str:
        where = self.where if isinstance(self.where, str) else f"deployment #{self.where}"
        return f"resume invocation #{self.pick} ({where})"


@attrs.frozen
class Resolve:
    """``POST /restate/awakeables/{id}/resolve`` (ingress) of the awakeable the ``pick``-th
    invocation published (modulo; nothing when it published none, or it was resolved). With
    ``held``, the ``pick``-th of the invocations holding an awakeable nobody resolved yet."""

    pick: int
    held: bool = False

    def __str__(self) -> str:
        among = "held awakeable" if self.held else "invocation"
        return f"resolve the awakeable of {among} #{self.pick}"


@attrs.frozen
class Elapse:
    """Time passes: every call sent ``soon`` falls due (the harness waits for it)."""

    def __str__(self) -> str:
        return "time passes: the calls sent soon fall due"


Step = Register | SetPublic | Invoke | Kill | Remove | Pause | Resume | Resolve | Elapse

#: The harness's method that runs each kind of step.
_STEPS: Mapping[type[Step], str] = {
    Register: "_register",
    SetPublic: "_set_public",
    Invoke: "_invoke",
    Kill: "_kill",
    Remove: "_remove",
    Pause: "_pause",
    Resume: "_resume",
    Resolve: "_resolve",
    Elapse: "_elapse",
}

#: The handlers that sleep for an input starting with "slow" (``status`` never does).
SLEEPERS = frozenset({"greet", "greet_twice", "secret", "reserve"})
#: The handlers (of TicketObject) that publish an awakeable and wait until it is resolved.
HOLDERS = frozenset({"hold", "send"})

#: The key of the sending invocation, in :data:`SENDS`.
OWN_KEY = "<own key>"


@attrs.frozen
class Send:
    """A one-way call a handler makes: its target, how it behaves once it runs (``quick``,
    ``slow`` or ``hold``, as with :class:`Invoke`), and its delay, if any. No two calls of one
    handler have the same target: that is how the harness tells them apart."""

    service: str
    handler: str
    key: str
    behaviour: Literal["quick", "slow", "hold"]
    delay: timedelta | None = None


#: The calls each sending handler makes after its first command, in order (as
#: ``tests/sdk/services.py`` has them).
SENDS: Mapping[tuple[str, str], tuple[Send, ...]] = {
    ("TicketObject", "send"): (
        Send("TicketObject", "hold", OWN_KEY, "hold"),  # waits behind its sender
        Send("TicketObject", "peek", OWN_KEY, "quick"),  # and behind that (where exclusive)
        Send("TicketObject", "reserve", "k2", "slow"),
        Send("TicketObject", "status", "k1", "quick", DELAYED),
    ),
}

_TARGETS: tuple[tuple[str, str, bool, int], ...] = (
    # service, handler, keyed, weight: a key is sent for keyed targets only
    ("Greeter", "greet", False, 6),
    ("Greeter", "greet", True, 1),  # a valid call once Greeter is a Virtual Object (retyped)
    ("Greeter", "greet_twice", False, 2),  # only in v2
    ("Greeter", "secret", False, 1),  # private in the "private" variant, absent elsewhere
    ("TicketObject", "reserve", True, 8),  # exclusive: calls on one key queue
    ("TicketObject", "status", True, 2),  # shared: never queues
    ("TicketObject", "hold", True, 3),  # exclusive, waits on an awakeable
    ("TicketObject", "send", True, 3),  # exclusive, sends calls, waits on an awakeable
    ("TicketObject", "peek", True, 2),  # exclusive, but shared in v2
)


def generate(seed: int, count: int) -> list[Step]:
    """``count`` steps made from ``seed``: the same seed always gives the same steps. The
    first registers v1, so that most scenarios have something to call."""
    rng = random.Random(seed)
    steps: list[Step] = [Register("v1-a")]
    endpoints = list(ENDPOINTS)
    weights = [t[3] for t in _TARGETS]
    while len(steps) < count:
        roll = rng.random()
        step: Step
        if roll < 0.22:
            flags = rng.choice(_FLAGS)
            step = Register(rng.choice(endpoints), slash=rng.random() < 0.2, **flags)
        elif roll < 0.64:
            service, handler, keyed, _ = rng.choices(_TARGETS, weights)[0]
            key = rng.choice(["k1", "k1", "k1", "k2"]) if keyed else None
            mode: Mode = rng.choice(_MODES)
            if mode == "slow" and handler not in SLEEPERS:
                mode = "quick"
            step = Invoke(service, handler, key, mode)
        elif roll < 0.70:
            step = SetPublic(rng.choice(["Greeter", "TicketObject"]), rng.random() < 0.6)
        elif roll < 0.78:
            step = Kill(rng.randrange(1000), callers=rng.random() < 0.4)
        elif roll < 0.83:
            step = Remove(rng.randrange(1000))
        elif roll < 0.88:
            step = Pause(rng.randrange(1000))
        elif roll < 0.93:
            where: Where = rng.choice(["keep", "keep", "latest", rng.randrange(1000)])
            step = Resume(rng.randrange(1000), where)
        elif roll < 0.98:
            step = Resolve(rng.randrange(1000), held=True)
        else:
            step = Elapse()
        steps.append(step)
    return steps


def describe(steps: Sequence[Step]) -> str:
    """The steps, one per line, numbered."""
    return "\n".join(f"  {i:2d}. {step}" for i, step in enumerate(steps))


# --- the shared endpoints ------------------------------------------------------------------


class EndpointPool:
    """The SDK endpoints of :data:`ENDPOINTS`, started at once, shared by every scenario, and
    the folder where their held calls publish their awakeables (one file per invocation id)."""

    def __init__(
        self, endpoints: Mapping[str, SdkEndpoint], awakeables: tempfile.TemporaryDirectory[str]
    ) -> None:
        self.endpoints = dict(endpoints)
        self._awakeables = awakeables
        self.awakeables = Path(awakeables.name)

    @classmethod
    def start(cls) -> EndpointPool:
        """Start every endpoint (in parallel); raises ``SdkUnavailable`` if one cannot."""
        started: dict[str, SdkEndpoint] = {}
        awakeables = tempfile.TemporaryDirectory(prefix="conformance-awakeables-")
        env = {AWAKEABLES: awakeables.name}
        with concurrent.futures.ThreadPoolExecutor(len(ENDPOINTS)) as pool:
            futures = {
                name: pool.submit(SdkEndpoint.start, f"tests.sdk.services:{app}", env=env)
                for name, app in ENDPOINTS.items()
            }
            failure: BaseException | None = None
            for name, future in futures.items():
                try:
                    started[name] = future.result()
                except BaseException as exc:
                    failure = failure or exc
        if failure is not None:
            for endpoint in started.values():
                endpoint.stop()
            awakeables.cleanup()
            raise failure
        return cls(started, awakeables)

    def url(self, name: str, slash: bool = False) -> str:
        return self.endpoints[name].url + ("/" if slash else "")

    def stop(self) -> None:
        for endpoint in self.endpoints.values():
            endpoint.stop()
        self._awakeables.cleanup()


# --- each command of the model, as the server's call ------------------------------------------


@attrs.frozen
class ServerCall:
    """How the server is asked what a model command does: the HTTP method, the API
    (``admin`` or ``ingress``), and the path, query and JSON body made from the command."""

    method: str
    api: Literal["admin", "ingress"]
    path: Callable[[Any], str]
    params: Callable[[Any], dict[str, str]] = lambda _: {}
    body: Callable[[Any], Any] | None = None


def _invoke_path(call: commands.Invoke) -> str:
    return "/" + "/".join(p for p in (call.service, call.key, call.handler) if p is not None)


#: The one table of what each model command is on the server (restate-server 1.7.12).
SERVER_CALLS: Mapping[type[commands.Command[Any]], ServerCall] = {
    commands.Register: ServerCall(
        "POST",
        "admin",
        lambda _: "/deployments",
        body=lambda c: {
            "uri": c.endpoint,
            "force": c.force,
            "breaking": c.breaking,
            "dry_run": c.dry_run,
        },
    ),
    commands.SetPublic: ServerCall(
        "PATCH", "admin", lambda c: f"/services/{c.name}", body=lambda c: {"public": c.public}
    ),
    commands.Remove: ServerCall(
        "DELETE",
        "admin",
        lambda c: f"/deployments/{c.deployment_id}",
        params=lambda c: {"force": "true"} if c.force else {},
    ),
    commands.Invoke: ServerCall(
        "POST",
        "ingress",
        lambda c: _invoke_path(c) + "/send",
        params=lambda c: {"delay": f"{int(c.delay.total_seconds())}s"} if c.delay else {},
    ),
    commands.Kill: ServerCall("PATCH", "admin", lambda c: f"/invocations/{c.invocation_id}/kill"),
    commands.Pause: ServerCall("PATCH", "admin", lambda c: f"/invocations/{c.invocation_id}/pause"),
    commands.Resume: ServerCall(
        "PATCH",
        "admin",
        lambda c: f"/invocations/{c.invocation_id}/resume",
        params=lambda c: {} if c.deployment == "keep" else {"deployment": c.deployment},
    ),
}


def ask_server(
    client: httpx.Client,
    server: RestateServer,
    command: commands.Command[Any],
    body: Any = None,
) -> httpx.Response:
    """Ask ``server`` what ``command`` does (:data:`SERVER_CALLS`); ``body`` for a call the
    command does not say the input of (an :class:`~restate_versioning.commands.Invoke`)."""
    call = SERVER_CALLS[type(command)]
    base = server.admin_url if call.api == "admin" else server.ingress_url
    payload = call.body(command) if call.body is not None else body
    return client.request(
        call.method,
        base + call.path(command),
        params=call.params(command),
        json=payload,
    )


# --- ids: the model takes the server's --------------------------------------------------------


class ServerIds:
    """An :class:`~restate_versioning.ids.IdGenerator` that hands the model the id the server
    just gave (set with :meth:`expect`); a random one when none is expected (the server
    refused, and the model should refuse too)."""

    def __init__(self) -> None:
        self._deployment: str | None = None
        self._invocation: str | None = None
        self._random = RandomIds(seed=0)

    @contextmanager
    def expect(
        self, *, deployment: str | None = None, invocation: str | None = None
    ) -> Iterator[None]:
        self._deployment, self._invocation = deployment, invocation
        try:
            yield
        finally:
            self._deployment = self._invocation = None

    def deployment_id(self, now: datetime) -> str:
        found, self._deployment = self._deployment, None
        return found if found is not None else self._random.deployment_id(now)

    def invocation_id(self, now: datetime) -> str:
        found, self._invocation = self._invocation, None
        return found if found is not None else self._random.invocation_id(now)


# --- disagreements -------------------------------------------------------------------------


class Disagreement(AssertionError):
    """The server and the model disagree: at ``step`` (its index), about ``what``."""

    def __init__(self, step: int, what: str, server: object, model: object) -> None:
        self.step = step
        self.what = what
        self.server = server
        self.model = model
        self.log: tuple[str, ...] = ()
        super().__init__(
            f"after step {step}: {what}\n  server: {_show(server)}\n  model:  {_show(model)}"
        )


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 4000 else text[:4000] + "..."


@attrs.frozen
class ScenarioResult:
    """A scenario that agreed throughout: how many steps, how many CLI checks, the log."""

    steps: int
    cli_checks: int
    log: tuple[str, ...]
    statuses: frozenset[InvocationStatus]  # every status an invocation was seen in
    #: How often the lifecycle events the harness mirrors happened: "fell due", "sent from a
    #: handler", "awakeable resolved", "caller killed" (a kill of a call that sent calls).
    events: Mapping[str, int] = attrs.field(factory=dict)


# --- running -------------------------------------------------------------------------------

_ERROR_KINDS: Mapping[type[VersioningError], str] = {
    ServiceNotFound: "service not found",
    HandlerNotFound: "handler not found",
    ServiceNotPublic: "not public",
    InvalidInvocation: "bad call",
    ServiceTypeChanged: "META0006",
    InvalidTransition: "wrong status",
    DeploymentNotFound: "deployment not found",
    InvocationNotFound: "invocation gone",
}


def _model_error(exc: VersioningError) -> str:
    for kind, name in _ERROR_KINDS.items():
        if isinstance(exc, kind):
            return name
    return f"{type(exc).__name__}"


def _server_error(response: httpx.Response) -> str:
    """The kind of a refusal, in :data:`_ERROR_KINDS`'s words."""
    text = response.text
    if "META0006" in text:
        return "META0006"
    if "is not public" in text:
        return "not public"
    if "bad path" in text:
        return "bad call"
    if response.status_code == 409 and any(
        words in text
        for words in (
            "already completed",  # kill
            "is not running, cannot be paused",  # pause: completed, pending or scheduled
            "cannot be resumed",  # resume: completed
            "deployment id cannot be changed",  # resume elsewhere: running or backing-off
        )
    ):
        return "wrong status"
    if response.status_code == 425 and "inboxed or scheduled, cannot be resumed" in text:
        return "wrong status"  # resume: pending or scheduled
    if response.status_code == 404 and "invocation" in text and "does not exist" in text:
        return "invocation gone"
    if "deployment with id" in text and response.status_code == 404:
        return "deployment not found"
    if response.status_code == 400 and "given deployment was not found" in text:
        return "deployment not found"  # resume on a removed deployment
    if "handler" in text and "was not found" in text:
        return "handler not found"
    if response.status_code == 404 and "service" in text:
        return "service not found"
    return f"HTTP {response.status_code}: {text[:200]}"


# A server refusal the model expresses with a neighbouring error: calling ``/Greeter/greet``
# when Greeter is a Virtual Object reads as key ``greet`` and handler ``send`` on the server.
# Moving a call not pinned yet is one 409 on the server ("still running or the deployment id is
# not pinned yet"), and the model's InvalidInvocation ("not pinned yet").
_SAME_REFUSAL = {("handler not found", "bad call"), ("wrong status", "bad call")}


_STARTED = frozenset(
    {InvocationStatus.RUNNING, InvocationStatus.SUSPENDED, InvocationStatus.COMPLETED}
)


class _Run:
    def __init__(
        self,
        server: RestateServer,
        pool: EndpointPool,
        client: httpx.Client,
        cli_every: int,
    ) -> None:
        self.server = server
        self.pool = pool
        self.client = client
        self.cli_every = cli_every
        self.clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
        self.ids = ServerIds()
        self.model = Registry(clock=self.clock, ids=self.ids)
        self.transport = HttpTransport(timeout=10, retries=1)
        self.source = AdminSource(server.admin_url, client=client, timeout=10)
        self.invocations: list[str] = []
        self.modes: dict[str, str] = {}
        self.deployments: list[str] = []  # every id seen registered, in order
        self.log: list[str] = []
        self.cli_checks = 0
        self.index = 0
        self.statuses: set[InvocationStatus] = set()
        self.awaiting_retry = False
        # soon calls still scheduled: id -> (earliest, latest) time.monotonic() they fall due
        self.soon: dict[str, tuple[float, float]] = {}
        self.resolved: set[str] = set()  # invocations whose awakeable was resolved
        self.sent_by: dict[str, list[str]] = {}  # caller id -> the calls it made, adopted
        self.events: collections.Counter[str] = collections.Counter()
        self.served: AdminServer | None = None  # the third side: the model, over HTTP

    # -- the steps --

    def apply(self, step: Step) -> None:
        self._await_due()
        self.clock.advance(timedelta(milliseconds=1))
        getattr(self, _STEPS[type(step)])(step)

    def _elapse(self, step: Elapse) -> None:
        self._await_due(every=True)
        self.log.append(f"{self.index}: {step}")

    def _pick(
        self, step: Kill | Pause | Resume | Resolve | Remove, among: Sequence[str], what: str
    ) -> str | None:
        """The ``step.pick``-th of ``among`` (modulo), or ``None`` (logged) if there is none."""
        if not among:
            self.log.append(f"{self.index}: {step}: no {what}")
            return None
        return among[step.pick % len(among)]

    def _await_due(self, *, every: bool = False) -> None:
        """Let every ``soon`` call that could fall due during the next step (``every`` one,
        after the last step) fall due first, and mirror it (see the module's docstring)."""
        while True:
            now = time.monotonic()
            near = {
                i: latest
                for i, (first, latest) in self.soon.items()
                if every or first - GUARD <= now
            }
            if not near:
                return
            late = [i for i, latest in near.items() if now > latest + RETRY_SECONDS]
            if late:
                raise Disagreement(
                    self.index,
                    f"calls due {RETRY_SECONDS} s ago",
                    "still scheduled",
                    [self.model.invocation(i) for i in late],
                )
            time.sleep(max(0.0, max(near.values()) - now) + 0.05)
            self.compare(self.settle())

    def _refusals_agree(self, what: str, response: httpx.Response, exc: VersioningError) -> None:
        server, model = _server_error(response), _model_error(exc)
        if server != model and (server, model) not in _SAME_REFUSAL:
            raise Disagreement(
                self.index,
                f"{what}: both refuse, for different reasons",
                f"{response.status_code} {response.text[:300]}",
                f"{type(exc).__name__}: {exc}",
            )
        self.log.append(f"{self.index}: {what}: both refuse ({server})")

    def _register(self, step: Register) -> None:
        url = self.pool.url(step.endpoint, step.slash)
        # The server discovers the manifest itself; the model's side discovers it below.
        asked = commands.Register(
            url, {}, force=step.force, breaking=step.breaking, dry_run=step.dry_run
        )
        response = ask_server(self.client, self.server, asked)
        answer: dict[str, Any] = response.json() if response.status_code < 300 else {}
        try:
            with self.ids.expect(deployment=answer.get("id")):
                registration = register_endpoint(
                    self.model,
                    url,
                    self.transport,
                    force=step.force,
                    breaking=step.breaking,
                    dry_run=step.dry_run,
                )
        except VersioningError as exc:
            if response.status_code < 300:
                raise Disagreement(
                    self.index, str(step), f"{response.status_code} {answer}", repr(exc)
                ) from None
            self._refusals_agree(str(step), response, exc)
            return
        if response.status_code >= 300:
            raise Disagreement(
                self.index,
                f"{step}: the server refuses, the model registers",
                f"{response.status_code} {response.text[:300]}",
                registration,
            )
        expected_status = 201 if registration.outcome is Outcome.CREATED else 200
        server_side = (
            response.status_code,
            answer["id"],
            sorted((s["name"], s["revision"]) for s in answer["services"]),
        )
        model_side = (
            expected_status,
            registration.deployment.id,
            sorted((n, s.revision) for n, s in registration.deployment.services.items()),
        )
        if server_side != model_side:
            raise Disagreement(
                self.index,
                f"{step}: answer (status, id, revisions)",
                server_side,
                (*model_side, registration.outcome),
            )
        if not step.dry_run and answer["id"] not in self.deployments:
            self.deployments.append(answer["id"])
        self.log.append(f"{self.index}: {step}: {registration.outcome.name} {answer['id']}")

    def _both(self, label: str, command: commands.Command[Any], verb: str) -> httpx.Response | None:
        """Ask the server (:data:`SERVER_CALLS`), then run the command on the model: the
        server's answer if both did it, ``None`` if both refused it for the same reason."""
        response = ask_server(self.client, self.server, command)
        done = self._agree(label, response, lambda: self.model.execute(command), verb)
        return response if done else None

    def _set_public(self, step: SetPublic) -> None:
        if self._both(str(step), commands.SetPublic(step.service, step.public), "updates"):
            self.log.append(f"{self.index}: {step}: ok")

    def _invoke(self, step: Invoke) -> None:
        delay = {"delayed": DELAYED, "soon": SOON}.get(step.mode)
        call = commands.Invoke(step.service, step.handler, key=step.key, delay=delay)
        body = f"slow-{self.index}" if step.mode == "slow" else f"quick-{self.index}"
        sent = time.monotonic()
        response = ask_server(self.client, self.server, call, body)
        answered = time.monotonic()
        invocation_id = response.json().get("invocationId") if response.status_code < 300 else None
        try:
            with self.ids.expect(invocation=invocation_id):
                invocation = self.model.execute(call)
        except VersioningError as exc:
            if invocation_id is not None:
                raise Disagreement(
                    self.index, f"{step}: the server accepts", invocation_id, repr(exc)
                ) from None
            self._refusals_agree(str(step), response, exc)
            return
        if invocation_id is None:
            raise Disagreement(
                self.index,
                f"{step}: the server refuses, the model accepts",
                f"{response.status_code} {response.text[:300]}",
                invocation,
            )
        self.invocations.append(invocation_id)
        self.modes[invocation_id] = _behaviour(step.handler, step.mode)
        if step.mode == "soon":
            due = SOON.total_seconds()
            self.soon[invocation_id] = (sent + due, answered + due)
        self.log.append(f"{self.index}: {step}: {invocation_id} {invocation.status.value}")

    def _agree(
        self, label: str, response: httpx.Response, act: Callable[[], object], verb: str
    ) -> bool:
        """Run the model's side of a step the server already answered; whether both did it
        (both refusing, for the same reason, is agreement too)."""
        try:
            done = act()
        except VersioningError as exc:
            if response.status_code < 300:
                raise Disagreement(self.index, label, response.status_code, repr(exc)) from None
            self._refusals_agree(label, response, exc)
            return False
        if response.status_code >= 300:
            raise Disagreement(
                self.index,
                f"{label}: the server refuses, the model {verb}",
                f"{response.status_code} {response.text[:300]}",
                done,
            )
        return True

    def _kill(self, step: Kill) -> None:
        among = self.invocations
        if step.callers:
            among = [i for i in self.sent_by if self._uncompleted(i)]
        invocation_id = self._pick(step, among, "invocation")
        if invocation_id is None:
            return
        label = f"{step} ({invocation_id})"
        if self._both(label, commands.Kill(invocation_id), "kills"):
            self.log.append(f"{self.index}: {step}: killed {invocation_id}")
            if self.sent_by.get(invocation_id):
                self.events["caller killed"] += 1

    def _pause(self, step: Pause) -> None:
        invocation_id = self._pick(step, self.invocations, "invocation")
        if invocation_id is None:
            return
        label = f"{step} ({invocation_id})"
        response = self._both(label, commands.Pause(invocation_id), "pauses")
        if response is not None:
            self.log.append(f"{self.index}: {step}: {response.status_code} {invocation_id}")

    def _resume(self, step: Resume) -> None:
        invocation_id = self._pick(step, self.invocations, "invocation")
        if invocation_id is None:
            return
        where: str
        if isinstance(step.where, str):
            where = step.where
        elif self.deployments:
            where = self.deployments[step.where % len(self.deployments)]
        else:
            self.log.append(f"{self.index}: {step}: no deployment")
            return
        label = f"{step} ({invocation_id} to {where})"
        response = self._both(label, commands.Resume(invocation_id, where), "resumes")
        if response is not None:
            self.log.append(f"{self.index}: {step}: {response.status_code} {invocation_id}")

    def _resolve(self, step: Resolve) -> None:
        among = self.invocations
        if step.held:
            among = [i for i in self.invocations if self._holds_awakeable(i)]
        invocation_id = self._pick(step, among, "invocation")
        if invocation_id is None:
            return
        published = self.pool.awakeables / invocation_id
        if invocation_id in self.resolved or not published.exists():
            said = "resolved already" if invocation_id in self.resolved else "no awakeable"
            self.log.append(f"{self.index}: {step}: {said} ({invocation_id})")
            return
        awakeable_id = published.read_text()
        response = self.client.post(
            f"{self.server.ingress_url}/restate/awakeables/{awakeable_id}/resolve",
            json="resolved",
        )
        if response.status_code >= 300:
            raise Disagreement(
                self.index,
                f"{step} ({invocation_id}): the server refuses to resolve an awakeable",
                f"{response.status_code} {response.text[:300]}",
                "the model has no awakeables: its handler goes on",
            )
        # The handler goes on from its awakeable and returns: from now on the call behaves as
        # a quick one (the settling mirrors what the server does with it).
        self.resolved.add(invocation_id)
        self.events["awakeable resolved"] += 1
        self.modes[invocation_id] = "quick"
        self.log.append(f"{self.index}: {step}: {response.status_code} {invocation_id}")

    def _holds_awakeable(self, invocation_id: str) -> bool:
        """Whether a call published an awakeable nobody resolved, and is not completed."""
        published = (self.pool.awakeables / invocation_id).exists()
        return published and invocation_id not in self.resolved and self._uncompleted(invocation_id)

    def _uncompleted(self, invocation_id: str) -> bool:
        try:
            status = self.model.invocation(invocation_id).status
        except VersioningError:
            return False  # killed before it started
        return status is not InvocationStatus.COMPLETED

    def _remove(self, step: Remove) -> None:
        deployment_id = self._pick(step, self.deployments, "deployment")
        if deployment_id is None:
            return
        label = f"{step} ({deployment_id})"
        if self._both(label, commands.Remove(deployment_id, force=True), "removes"):
            self.log.append(f"{self.index}: {step}: removed {deployment_id}")

    # -- settling and mirroring the server's own progress --

    def settle(self) -> Registry:
        """Wait until every invocation has a status the model can be compared with, mirroring
        what the model cannot predict; the server's state, loaded."""
        started = time.monotonic()
        while True:
            loaded = self.source.load()
            self.awaiting_retry = False
            unsettled = self._mirror(loaded)
            if not unsettled:
                return loaded
            waited = time.monotonic() - started
            if waited > (RETRY_SECONDS if self.awaiting_retry else SETTLE_SECONDS):
                return loaded  # compare anyway: the comparison reports what differs
            time.sleep(0.05)

    def _mirror(self, loaded: Registry) -> list[str]:
        adopting = self._adopt_sent(loaded)
        unsettled: list[str] = []
        fallen: list[str] = []  # soon calls the server started, in due order
        for invocation_id in list(self.invocations):
            try:
                modelled = self.model.invocation(invocation_id).status
            except VersioningError:
                self.soon.pop(invocation_id, None)
                continue  # killed before it started: neither side keeps it
            try:
                seen = loaded.invocation(invocation_id)
            except VersioningError:
                unsettled.append(invocation_id)
                continue
            shown = seen.status
            mode = self.modes[invocation_id]
            if invocation_id in self.soon and modelled is not InvocationStatus.SCHEDULED:
                del self.soon[invocation_id]  # fell due, or moved on
            if invocation_id in self.soon and shown is InvocationStatus.SCHEDULED:
                if time.monotonic() >= self.soon[invocation_id][1]:
                    unsettled.append(invocation_id)  # due: the server starts it in a moment
                continue
            if invocation_id in self.soon:
                fallen.append(invocation_id)  # the server started it: see below
                continue
            if self._sends_pending(self.model.invocation(invocation_id)):
                unsettled.append(invocation_id)  # its one-way calls are on their way
                continue
            if shown is InvocationStatus.READY or (
                seen.pins_at_first_command and seen.pinned_deployment_id is None
            ):
                # About to run, or started before its handler's first command (every handler
                # here makes one at once): it is pinned in a moment.
                unsettled.append(invocation_id)
            elif (
                shown is InvocationStatus.RUNNING
                and mode not in _LINGERING
                and modelled is not (InvocationStatus.BACKING_OFF)
            ):
                unsettled.append(invocation_id)  # a quick call about to complete
            elif shown is InvocationStatus.RUNNING and modelled is InvocationStatus.BACKING_OFF:
                if mode in _LINGERING and seen.pinned_deployment_id is not None:
                    # A retry made its first command, and lingers: it runs (or, where it cannot
                    # run, the model's attempt fails again, as the server's does in a moment).
                    self.model.resume(invocation_id)
                    self.log.append(f"{self.index}: (server) {invocation_id} retried")
                unsettled.append(invocation_id)  # a retry being attempted
            elif (
                shown is modelled is InvocationStatus.BACKING_OFF
                and self.model.invocation(invocation_id).pinned_deployment_id is None
                and self._runnable(self.model.invocation(invocation_id))
            ):
                # Its service (or handler) is back: the server will retry it.
                self.awaiting_retry = True
                unsettled.append(invocation_id)
            elif shown is modelled is InvocationStatus.RUNNING and self._suspends(invocation_id):
                unsettled.append(invocation_id)  # about to suspend: give the SDK its moment
            elif shown is modelled:
                continue
            elif shown is InvocationStatus.COMPLETED and modelled is InvocationStatus.RUNNING:
                if mode in _LINGERING:
                    continue  # a slow call does not complete by itself: the comparison says so
                self.model.complete(invocation_id)
                self.log.append(f"{self.index}: (server) {invocation_id} completed")
                unsettled.append(invocation_id)  # its key's next call may start now
            elif shown is InvocationStatus.SUSPENDED and modelled is InvocationStatus.RUNNING:
                self.model.suspend(invocation_id)
                self.log.append(f"{self.index}: (server) {invocation_id} suspended")
            elif modelled is InvocationStatus.BACKING_OFF and shown in _STARTED:
                self.model.resume(invocation_id)  # the server retried it, and it started
                self.log.append(f"{self.index}: (server) {invocation_id} retried")
                unsettled.append(invocation_id)
            elif shown is InvocationStatus.RUNNING and modelled is InvocationStatus.SUSPENDED:
                self.model.resume(invocation_id)
                self.log.append(f"{self.index}: (server) {invocation_id} resumed")
            elif (
                shown is InvocationStatus.COMPLETED
                and modelled is InvocationStatus.SUSPENDED
                and mode not in _LINGERING
            ):
                self.model.resume(invocation_id)  # woken (a resolved awakeable), ran, returned
                self.log.append(f"{self.index}: (server) {invocation_id} resumed")
                unsettled.append(invocation_id)
            else:
                unsettled.append(invocation_id)
        if fallen and not unsettled:
            # One at a time, once everything else has settled: what the call did when it
            # started (the calls it sent, the key it took) comes before the next one's turn.
            self._fall_due(self.model.invocation(fallen[0]))
        return adopting + unsettled + fallen

    def _fall_due(self, invocation: Invocation) -> None:
        """The server started a ``soon`` call: the model's clock reaches its due time, and
        the model starts what is due."""
        assert invocation.execute_at is not None
        self.clock.advance(max(timedelta(0), invocation.execute_at - self.clock()))
        started = self.model.start_due()
        del self.soon[invocation.id]
        self.events["fell due"] += 1
        moved = ", ".join(f"{i.id} {i.status.value}" for i in started)
        self.log.append(f"{self.index}: (server) {invocation.id} fell due: {moved}")

    def _adopt_sent(self, loaded: Registry) -> list[str]:
        """The calls the server shows a known invocation sent (:data:`SENDS`) that the model
        does not know yet: the model makes them too, with that invocation as the caller, in
        the order the handler makes them (a call is adopted once those before it are)."""
        unsettled: list[str] = []
        shown: dict[str, list[Invocation]] = {}
        for invocation in loaded.invocations():
            if invocation.caller_id in self.modes:
                shown.setdefault(invocation.caller_id, []).append(invocation)
        for caller_id, calls in shown.items():
            try:
                caller = self.model.invocation(caller_id)
            except VersioningError:
                continue  # the comparison says what the server made that the model did not
            if caller.status is InvocationStatus.COMPLETED:
                continue  # likewise
            if caller.pinned_deployment_id is None:
                # Queued, or its attempt failed, in the model: it starts once the model mirrors
                # what let it start (a key freed, a retry).
                unsettled.append(caller_id)
                continue
            adopted = self.sent_by.setdefault(caller_id, [])
            expected = SENDS.get((caller.service, caller.handler), ())
            for send in expected[len(adopted) :]:
                key = caller.key if send.key == OWN_KEY else send.key
                target = (send.service, send.handler, key)
                called = f"{send.service}/{key}/{send.handler}"
                match = [c for c in calls if (c.service, c.handler, c.key) == target]
                if not match:
                    break  # not shown yet: wait for it, so that the order is kept
                child = match[0]
                try:
                    with self.ids.expect(invocation=child.id):
                        made = self.model.invoke(
                            send.service,
                            send.handler,
                            key=key,
                            caller=caller_id,
                            delay=send.delay,
                        )
                except VersioningError as exc:
                    raise Disagreement(
                        self.index,
                        f"{caller_id} sent {called}: the model cannot make the call",
                        child,
                        repr(exc),
                    ) from None
                adopted.append(child.id)
                self.events["sent from a handler"] += 1
                self.invocations.append(child.id)
                self.modes[child.id] = send.behaviour
                unsettled.append(child.id)
                self.log.append(
                    f"{self.index}: (server) {caller_id} sent {called}: "
                    f"{child.id} {made.status.value}"
                )
        return unsettled

    def _sends_pending(self, invocation: Invocation) -> bool:
        """Whether an invocation that makes one-way calls has made its first command (it
        publishes its awakeable first), is started and not completed in the model, and the
        model does not have all its calls yet (the server does not show them yet)."""
        expected = SENDS.get((invocation.service, invocation.handler), ())
        return (
            bool(expected)
            and invocation.status is not InvocationStatus.COMPLETED
            and invocation.pinned_deployment_id is not None  # else, its start is mirrored first
            and (self.pool.awakeables / invocation.id).exists()
            and len(self.sent_by.get(invocation.id, ())) < len(expected)
        )

    def _runnable(self, invocation: Invocation) -> bool:
        """Whether the latest revision of an invocation's service has its handler."""
        for service in self.model.services():
            if service.name == invocation.service:
                return invocation.handler in service.handlers
        return False

    def _suspends(self, invocation_id: str) -> bool:
        """A slow or holding call on a request/response deployment suspends as soon as it
        waits."""
        pinned = self.model.invocation(invocation_id).pinned_deployment_id
        if self.modes[invocation_id] not in _LINGERING or pinned is None:
            return False
        try:
            mode = self.model.deployment(pinned).protocol_mode
        except VersioningError:
            return False  # removed: the call does not run any more
        return mode is ProtocolMode.REQUEST_RESPONSE

    # -- comparing --

    def compare(self, loaded: Registry) -> None:
        admin = self.server.admin_url
        services = self.client.get(f"{admin}/services").json()["services"]
        server_services = {s["name"]: _service_fields(s) for s in services}
        model_services = {
            s["name"]: _service_fields(s) for s in admin_services(self.model)["services"]
        }
        self._same("services", server_services, model_services)
        deployments = self.client.get(f"{admin}/deployments").json()["deployments"]
        self._same(
            "deployments",
            {d["id"]: _deployment_fields(d) for d in deployments},
            {d["id"]: _deployment_fields(d) for d in admin_deployments(self.model)["deployments"]},
        )
        server_invocations = {}
        for i in loaded.invocations():
            server_invocations[i.id] = (i.status.value, i.pinned_deployment_id)
        model_invocations = {}
        for i in self.model.invocations():
            model_invocations[i.id] = (i.status.value, i.pinned_deployment_id)
            self.statuses.add(i.status)
        self._same("invocations (status, pinned deployment)", server_invocations, model_invocations)
        self._same(
            "deployment status and active invocations (computed from the server's data)",
            _statuses(loaded),
            _statuses(self.model),
        )
        if self.served is not None:
            self._compare_served(services, deployments, loaded)
        if self.cli_every and (self.index % self.cli_every == 0):
            self.compare_cli()

    def _compare_served(
        self, services: list[dict[str, Any]], deployments: list[dict[str, Any]], loaded: Registry
    ) -> None:
        """The third side: the model served over HTTP shows what the real server shows."""
        assert self.served is not None
        admin = self.served.admin_url
        self._same(
            "served: services",
            {s["name"]: _service_fields(s) for s in services},
            {
                s["name"]: _service_fields(s)
                for s in self.client.get(f"{admin}/services").json()["services"]
            },
        )
        self._same(
            "served: deployments",
            {d["id"]: _deployment_fields(d) for d in deployments},
            {
                d["id"]: _deployment_fields(d)
                for d in self.client.get(f"{admin}/deployments").json()["deployments"]
            },
        )
        read = AdminSource(admin, client=self.client, timeout=10).load()
        self._same(
            "served: invocations (status, pinned deployment), read as the server's are",
            {i.id: (i.status.value, i.pinned_deployment_id) for i in loaded.invocations()},
            {i.id: (i.status.value, i.pinned_deployment_id) for i in read.invocations()},
        )
        self._same("served: deployment statuses", _statuses(loaded), _statuses(read))

    def compare_cli(self) -> None:
        done = self.server.cli("deployments", "list", "--extra")
        if done.returncode != 0:
            raise Disagreement(self.index, "the CLI fails", done.stderr, "")
        self._same(
            "restate deployments list --extra (status, active invocations)",
            _cli_statuses(done.stdout),
            _statuses(self.model),
        )
        if self.served is not None:
            served = self.server.cli(
                "deployments", "list", "--extra", admin_url=self.served.admin_url
            )
            self._same(
                "served: restate deployments list --extra",
                (done.returncode, _masked_times(done.stdout)),
                (served.returncode, _masked_times(served.stdout)),
            )
        self.cli_checks += 1

    def _same(self, what: str, server: Any, model: Any) -> None:
        if server != model:
            raise Disagreement(self.index, what, server, model)


#: How a call behaves once it runs: those that stay in flight until something else happens.
_LINGERING = frozenset({"slow", "hold"})


_TIMES = re.compile(r"\w{3} \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d\d:\d\d")


def _masked_times(printed: str) -> tuple[dict[str, tuple[str, int]], list[str]]:
    """What the CLI printed, its times masked (the model keeps its own clock): each
    deployment's status and active invocations, and every word printed, sorted, since the
    server lists a deployment's services in its own order, which changes."""
    return _cli_statuses(printed), sorted(_TIMES.sub("<time>", printed).split())


def _behaviour(handler: str, mode: Mode) -> str:
    """How a call sent in ``mode`` behaves once it runs: ``hold`` (waits on its awakeable),
    ``slow`` (sleeps an hour) or ``quick`` (completes at once)."""
    if handler in HOLDERS:
        return "hold"
    return "slow" if mode == "slow" and handler in SLEEPERS else "quick"


def _service_fields(service: Mapping[str, Any]) -> tuple[Any, ...]:
    handlers = sorted(
        (h["name"], h.get("ty"), h.get("public", service["public"])) for h in service["handlers"]
    )
    return (
        service["revision"],
        service["ty"],
        service["public"],
        service["deployment_id"],
        tuple(handlers),
    )


def _deployment_fields(deployment: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        parse_endpoint(deployment["uri"]).key,
        deployment["uri"],
        deployment.get("protocol_type"),
        deployment.get("http_version"),
        deployment["min_protocol_version"],
        deployment["max_protocol_version"],
        deployment.get("sdk_version"),
        tuple(sorted((s["name"], s["revision"]) for s in deployment["services"])),
    )


def _statuses(registry: Registry) -> dict[str, tuple[str, int]]:
    return {
        d.id: (registry.deployment_status(d.id).value, registry.active_invocations(d.id))
        for d in registry.deployments()
    }


_STATUS_WORDS = {s.value for s in DeploymentStatus}


def _cli_statuses(printed: str) -> dict[str, tuple[str, int]]:
    """``ID -> (STATUS, ACTIVE-INVOCATIONS)`` from ``restate deployments list --extra``."""
    found = {}
    for line in printed.splitlines():
        words = line.split()
        for index, word in enumerate(words):
            if word.startswith("dp_") and index >= 2 and words[index - 2] in _STATUS_WORDS:
                found[word] = (words[index - 2], int(words[index - 1]))
    return found


def _wait_for_partitions(server: RestateServer, client: httpx.Client, timeout: float = 30) -> None:
    """A fresh server answers ``/health`` before its partitions can be queried ("expecting a
    partition store"): wait until ``sys_invocation`` can be read."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.post(
            f"{server.admin_url}/query",
            json={"query": "SELECT id FROM sys_invocation LIMIT 1"},
            headers={"accept": "application/json"},
        )
        if response.status_code == 200:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"sys_invocation cannot be read: {response.text[:300]}")
        time.sleep(0.05)


def run(
    steps: Sequence[Step],
    pool: EndpointPool,
    *,
    cli_every: int = 5,
    start_server: Callable[[], RestateServer] = RestateServer.start,
) -> ScenarioResult:
    """Replay ``steps`` on a fresh server and on a model, comparing after every step; raises
    :class:`Disagreement` at the first difference. The server is stopped in any case."""
    server = start_server()
    try:
        with httpx.Client(timeout=30) as client:
            _wait_for_partitions(server, client)
            state = _Run(server, pool, client, cli_every)
            served = state.served = AdminServer(state.model).start()
            try:
                for index, step in enumerate(steps):
                    state.index = index
                    state.apply(step)
                    state.compare(state.settle())
                state._await_due(every=True)  # the calls sent soon fall due before the end
                if cli_every and state.index % cli_every != 0:
                    state.compare_cli()  # the final state, through the real CLI
            except Disagreement as exc:
                exc.log = tuple(state.log)
                raise
            finally:
                served.stop()
            return ScenarioResult(
                len(steps),
                state.cli_checks,
                tuple(state.log),
                frozenset(state.statuses),
                dict(state.events),
            )
    finally:
        server.stop()


def shrink(
    steps: Sequence[Step],
    failure: Disagreement,
    replay: Callable[[Sequence[Step]], Disagreement | None],
    *,
    budget: int,
) -> tuple[list[Step], Disagreement]:
    """A shorter scenario that still disagrees: cut after the failing step, then drop steps
    one at a time (last first) while it still fails, within ``budget`` replays."""
    current = list(steps[: failure.step + 1])
    latest = failure
    index = len(current) - 2  # the failing step itself stays
    while index >= 0 and budget > 0:
        candidate = current[:index] + current[index + 1 :]
        budget -= 1
        found = replay(candidate)
        if found is not None:
            current, latest = candidate[: found.step + 1], found
            index = min(index, len(current) - 1) - 1
        else:
            index -= 1
    return current, latest
