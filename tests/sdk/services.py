"""Real Restate Python SDK services, served by ``tests/sdk/endpoint.py``.

The same three services as ``tests/data/python-sdk-1.3.0-v4.json``: ``Greeter`` (Service),
``TicketObject`` (Virtual Object: exclusive ``reserve``, shared ``status``) and ``Signup``
(Workflow: ``run``, shared ``confirm``). An input starting with ``"slow"`` makes ``greet`` and
``reserve`` sleep 60 s first (a durable sleep: the call stays in flight). ``app_bidi`` and
``app_request_response`` are the ASGI apps for each protocol mode; ``app`` is ``app_bidi``.
"""

from __future__ import annotations

from datetime import timedelta

import restate

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
