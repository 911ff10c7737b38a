"""Real Restate Python SDK services, served by ``tests/sdk/endpoint.py``.

The same three services as ``tests/data/python-sdk-1.3.0-v4.json``: ``Greeter`` (Service),
``TicketObject`` (Virtual Object: exclusive ``reserve``, shared ``status``) and ``Signup``
(Workflow: ``run``, shared ``confirm``). An input starting with ``"slow"`` makes ``greet`` and
``reserve`` sleep 60 s first (a durable sleep: the call stays in flight). ``app_bidi`` and
``app_request_response`` are the ASGI apps for each protocol mode; ``app`` is ``app_bidi``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import restate
from pydantic import BaseModel, Field

from restate_versioning import calls_metadata, state_metadata

from .endpoint import AWAKEABLES

__all__ = ["Greeter", "Signup", "TicketObject", "app", "app_bidi", "app_request_response"]

SLOW = timedelta(seconds=60)

Greeter = restate.Service("Greeter")


@Greeter.handler()
async def greet(ctx: restate.Context, name: str) -> str:
    if name.startswith("slow"):
        await ctx.sleep(SLOW)
    return f"Hello {name}!"


TicketObject = restate.VirtualObject("TicketObject")


@TicketObject.handler()
async def reserve(ctx: restate.ObjectContext, seat: str) -> str:
    if seat.startswith("slow"):
        await ctx.sleep(SLOW)
    ctx.set("status", f"reserved {seat}")
    return f"reserved {seat}"


@TicketObject.handler(kind="shared")
async def status(ctx: restate.ObjectSharedContext, _request: str) -> str:
    return await ctx.get("status", type_hint=str) or "available"


Signup = restate.Workflow("Signup")


@Signup.main()
async def run(ctx: restate.WorkflowContext, email: str) -> str:
    confirmation = await ctx.promise("confirmation", type_hint=str).value()
    return f"{email} confirmed with {confirmation}"


@Signup.handler()
async def confirm(ctx: restate.WorkflowSharedContext, code: str) -> str:
    await ctx.promise("confirmation", type_hint=str).resolve(code)
    return "ok"


SERVICES: list[restate.Service | restate.VirtualObject | restate.Workflow] = [
    Greeter,
    TicketObject,
    Signup,
]

app_bidi = restate.app(services=SERVICES, protocol="bidi")
app_request_response = restate.app(services=SERVICES, protocol="request_response")
app = app_bidi


# --- the differential conformance suite (tests/conformance) ---------------------------------
#
# Variants of a ``Greeter`` and a ``TicketObject`` that the conformance scenarios register in
# turn: ``v1``; ``v2`` (Greeter gains a handler ``greet_twice``); ``retyped`` (Greeter becomes
# a Virtual Object: registering it needs ``breaking``); ``private`` (Greeter gains a handler
# ``secret`` that the ingress cannot call, and TicketObject is private). An input starting with
# ``"slow"`` makes a handler sleep an hour (durably: the call stays in flight, pinned).
#
# Every variant's TicketObject also has: ``hold`` (exclusive), which takes its key and waits on
# an awakeable; ``send`` (exclusive), which sends four one-way calls (``hold`` and ``peek`` on
# its own key, where they wait behind the sender; a slow ``reserve`` on ``k2``; a ``status``
# of ``k1`` delayed by an hour) and then waits on an awakeable; and ``peek``, exclusive
# everywhere but in ``v2``, where it is shared. Each awakeable is published before anything
# else: its id is written to ``$CONFORMANCE_AWAKEABLES/<invocation id>`` inside a ``ctx.run``
# (the call's first command, so it is pinned at once), for the scenario to resolve.

CONFORMANCE_SLOW = timedelta(hours=1)


async def _conformance_greet(ctx: restate.Context | restate.ObjectContext, name: str) -> str:
    if name.startswith("slow"):
        await ctx.sleep(CONFORMANCE_SLOW)
    return f"Hello {name}!"


async def _conformance_reserve(ctx: restate.ObjectContext, seat: str) -> str:
    if seat.startswith("slow"):
        await ctx.sleep(CONFORMANCE_SLOW)
    ctx.set("status", f"reserved {seat}")
    return f"reserved {seat}"


async def _conformance_status(ctx: restate.ObjectSharedContext, _request: str) -> str:
    return await ctx.get("status", type_hint=str) or "available"


def _conformance_greeter(
    *, retyped: bool = False, extra: bool = False, secret: bool = False
) -> restate.Service | restate.VirtualObject:
    greeter: restate.Service | restate.VirtualObject = (
        restate.VirtualObject("Greeter") if retyped else restate.Service("Greeter")
    )

    @greeter.handler("greet")
    async def greet(ctx: Any, name: str) -> str:
        return await _conformance_greet(ctx, name)

    if extra:

        @greeter.handler("greet_twice")
        async def greet_twice(ctx: Any, name: str) -> str:
            return await _conformance_greet(ctx, name + name)

    if secret:

        @greeter.handler("secret", ingress_private=True)
        async def secret_handler(ctx: Any, name: str) -> str:
            return await _conformance_greet(ctx, name)

    return greeter


async def _conformance_hold(
    ctx: restate.ObjectContext, then: Callable[[], None] = lambda: None
) -> str:
    """Publish an awakeable (the first command), do ``then``, and wait until the scenario
    resolves the awakeable."""
    awakeable_id, promise = ctx.awakeable(type_hint=str)
    invocation_id = ctx.request().id

    def publish() -> str:
        if AWAKEABLES in os.environ:  # else, nobody resolves it
            (Path(os.environ[AWAKEABLES]) / invocation_id).write_text(awakeable_id)
        return awakeable_id

    await ctx.run("publish", publish)
    then()
    result: str = await promise
    return result


def _conformance_tickets(
    *, private: bool = False, shared_peek: bool = False
) -> restate.VirtualObject:
    tickets = restate.VirtualObject("TicketObject", ingress_private=True if private else None)

    @tickets.handler("reserve")
    async def reserve(ctx: restate.ObjectContext, seat: str) -> str:
        return await _conformance_reserve(ctx, seat)

    @tickets.handler("status", kind="shared")
    async def ticket_status(ctx: restate.ObjectSharedContext, request: str) -> str:
        return await _conformance_status(ctx, request)

    @tickets.handler("hold")
    async def hold(ctx: restate.ObjectContext, _request: str) -> str:
        return await _conformance_hold(ctx)

    @tickets.handler("peek", kind="shared" if shared_peek else "exclusive")
    async def peek(ctx: Any, request: str) -> str:
        return f"peeked {request}"

    @tickets.handler("send")
    async def send(ctx: restate.ObjectContext, _request: str) -> str:
        def sends() -> None:
            ctx.object_send(hold, key=ctx.key(), arg="own key")
            ctx.object_send(peek, key=ctx.key(), arg="own key")
            ctx.object_send(reserve, key="k2", arg="slow-child")
            ctx.object_send(ticket_status, key="k1", arg="later", send_delay=timedelta(hours=1))

        return await _conformance_hold(ctx, sends)

    return tickets


def _conformance_app(
    *, protocol: Literal["bidi", "request_response"] = "bidi", **variant: bool
) -> Any:
    private = variant.pop("private", False)
    return restate.app(
        services=[
            _conformance_greeter(secret=private, **variant),
            _conformance_tickets(private=private, shared_peek=variant.get("extra", False)),
        ],
        protocol=protocol,
    )


conformance_v1 = _conformance_app()
conformance_v1_request_response = _conformance_app(protocol="request_response")
conformance_v2 = _conformance_app(extra=True)
conformance_retyped = _conformance_app(retyped=True)
conformance_private = _conformance_app(private=True)


# --- state declared by a real service (tests/test_state_server.py) ---------------------------
#
# ``Cart`` keeps its lines under the state key ``cart``, declared in its service metadata with
# the JSON Schema of a pydantic model, the way a Python service describes its state. ``cart_v2``
# narrows a field (a quantity must now be at least 1): it cannot read every cart v1 wrote.
# ``cart_with_note`` adds an optional field: it reads every cart v1 wrote.


class _LineV1(BaseModel):
    sku: str
    quantity: int


class CartStateV1(BaseModel):
    lines: list[_LineV1]


class _LineV2(BaseModel):
    sku: str
    quantity: int = Field(ge=1)


class CartStateV2(BaseModel):
    lines: list[_LineV2]


class CartStateWithNote(BaseModel):
    lines: list[_LineV1]
    note: str | None = None


def _cart(state: type[BaseModel]) -> Any:
    cart = restate.VirtualObject(
        "Cart", metadata=state_metadata({"cart": state.model_json_schema()})
    )

    @cart.handler("add")
    async def add(ctx: restate.ObjectContext, sku: str) -> int:
        lines = await ctx.get("cart", type_hint=dict) or {"lines": []}
        lines["lines"].append({"sku": sku, "quantity": 1})
        ctx.set("cart", lines)
        return len(lines["lines"])

    return restate.app(services=[cart], protocol="bidi")


cart_v1 = _cart(CartStateV1)
cart_v2 = _cart(CartStateV2)
cart_with_note = _cart(CartStateWithNote)


# --- calls made from invocations (tests/test_callers_server.py) -------------------------------
#
# ``Forwarder/{key}/forward`` sends a one-way call to ``Greeter/greet`` (which sleeps, so the
# called invocation stays in flight) and then sleeps itself, so the calling invocation is
# started and not completed while a test looks at both.

Forwarder = restate.VirtualObject("Forwarder")


@Forwarder.handler()
async def forward(ctx: restate.ObjectContext, name: str) -> str:
    ctx.service_send(greet, f"slow-{name}")
    await ctx.sleep(SLOW)
    return f"forwarded {name}"


app_callers = restate.app(services=[Greeter, Forwarder], protocol="bidi")


# --- the invocation lifecycle (tests/test_lifecycle_server.py) --------------------------------
#
# ``Holder/hold`` runs a first step (so it is pinned) and then waits on an awakeable that
# nobody resolves: the call stays running, pinned, until a test pauses or kills it.


async def _first_step(ctx: Any, name: str) -> None:
    """A first command, so the call is pinned at once."""
    await ctx.run("first step", lambda: name)


async def _wait(ctx: Any) -> str:
    """Wait on an awakeable nobody resolves: the call stays in flight until it is paused,
    moved or killed."""
    _, promise = ctx.awakeable(type_hint=str)
    result: str = await promise
    return result


Holder = restate.Service("Holder")


@Holder.handler()
async def hold(ctx: restate.Context, name: str) -> str:
    await _first_step(ctx, name)
    return await _wait(ctx)


app_lifecycle = restate.app(services=[Holder], protocol="bidi")
#: In REQUEST_RESPONSE mode the SDK suspends as soon as the handler waits on the awakeable.
app_lifecycle_request_response = restate.app(services=[Holder], protocol="request_response")


def _lifecycle_object(h1_kind: Literal["exclusive", "shared"], *, h2: bool = True) -> Any:
    """``B``: an exclusive ``hold`` that takes its key and waits on an awakeable nobody
    resolves, ``h1`` exclusive or shared, and (unless ``h2=False``) an exclusive ``h2``."""
    b = restate.VirtualObject("B")

    @b.handler("hold")
    async def hold_key(ctx: restate.ObjectContext, name: str) -> str:
        await _first_step(ctx, name)
        return await _wait(ctx)

    @b.handler("h1", kind=h1_kind)
    async def h1(ctx: Any, name: str) -> str:
        return f"h1 {name}"

    if h2:

        @b.handler("h2")
        async def h2_handler(ctx: restate.ObjectContext, name: str) -> str:
            return f"h2 {name}"

    return restate.app(services=[b], protocol="bidi")


lifecycle_exclusive = _lifecycle_object("exclusive")
lifecycle_shared = _lifecycle_object("shared")
lifecycle_without_h2 = _lifecycle_object("exclusive", h2=False)


# ``Parent/{key}/spawn`` runs a first step, then sends: ``Child/relay`` (which sends a
# ``Child/hold`` of its own), a ``Child/hold`` delayed by an hour, ``Parent/{key}/wait`` (it
# queues behind the parent, on its own key) and ``Parent/other/wait``; then it waits.
# ``Parent/{key}/call_nope`` calls a service that does not exist after its first step.
# ``Parent/{key}/spawn_pair`` sends ``Parent/{key}-shared/wait`` (it takes that key) and
# ``Child/forward``, which sends ``Parent/{key}-shared/wait`` too (it waits behind the first).

Child = restate.Service("Child")


@Child.handler("hold")
async def child_hold(ctx: restate.Context, name: str) -> str:
    await _first_step(ctx, name)
    return await _wait(ctx)


@Child.handler("relay")
async def child_relay(ctx: restate.Context, name: str) -> str:
    await _first_step(ctx, name)
    ctx.service_send(child_hold, f"{name}'s child")
    return await _wait(ctx)


Parent = restate.VirtualObject("Parent")


@Parent.handler("wait")
async def parent_wait(ctx: restate.ObjectContext, name: str) -> str:
    await _first_step(ctx, name)
    return await _wait(ctx)


@Parent.handler("spawn")
async def spawn(ctx: restate.ObjectContext, name: str) -> str:
    await _first_step(ctx, name)
    ctx.service_send(child_relay, "relay")
    ctx.service_send(child_hold, "scheduled", send_delay=timedelta(hours=1))
    ctx.object_send(parent_wait, key=ctx.key(), arg="own key")
    ctx.object_send(parent_wait, key="other", arg="other key")
    return await _wait(ctx)


@Parent.handler("spawn_pair")
async def spawn_pair(ctx: restate.ObjectContext, name: str) -> str:
    await _first_step(ctx, name)
    ctx.object_send(parent_wait, key=f"{ctx.key()}-shared", arg="holder")
    ctx.service_send(child_forward, f"{ctx.key()}-shared")
    return await _wait(ctx)


@Child.handler("forward")
async def child_forward(ctx: restate.Context, key: str) -> str:
    await _first_step(ctx, key)
    ctx.object_send(parent_wait, key=key, arg="grandchild")
    return await _wait(ctx)


@Parent.handler("call_nope")
async def call_nope(ctx: restate.ObjectContext, name: str) -> str:
    await _first_step(ctx, name)
    ctx.generic_send("Nope", "x", b'"x"')
    return await _wait(ctx)


app_family = restate.app(services=[Parent, Child], protocol="bidi")

#: ``Holder`` again, but with another handler instead of ``hold``; and a service of its own.
_HolderWithoutHold = restate.Service("Holder")


@_HolderWithoutHold.handler("other")
async def holder_other(ctx: restate.Context, name: str) -> str:
    return name


app_holder_without_hold = restate.app(services=[_HolderWithoutHold], protocol="bidi")
app_other = restate.app(services=[Child], protocol="bidi")

#: ``Waiter/wait_first``: its first step waits on an awakeable, so it is pinned nowhere until
#: that resolves (in REQUEST_RESPONSE mode it suspends at once, unpinned).
_FirstWaits = restate.Service("Waiter")


@_FirstWaits.handler("wait_first")
async def wait_first(ctx: restate.Context, name: str) -> str:
    return await _wait(ctx)


app_waiter = restate.app(services=[_FirstWaits], protocol="request_response")


# --- calls a manifest declares (tests/test_declared_calls_server.py) --------------------------
#
# ``Notifier`` declares in its metadata that its handlers call ``Child`` (served by
# ``app_other``): nothing in the SDK or the server relates the two.

Notifier = restate.Service("Notifier", metadata=calls_metadata(["Child/forward"]))


@Notifier.handler()
async def notify(ctx: restate.Context, name: str) -> str:
    return name


app_notifier = restate.app(services=[Notifier], protocol="bidi")
