"""The versioning story in one run: Greeter v1, a long invocation, v2, routing, and status.

Run it with ``python examples/walkthrough.py`` (``make demo`` tells the same story through the
command line, ``examples/cli_walkthrough.py``). Everything happens in an
embedded registry with a manual clock and sequential ids, so every run prints the same.
"""

from __future__ import annotations

from datetime import timedelta

from restate_versioning import (
    EndpointManifest,
    ManualClock,
    Registry,
    SequentialIds,
    ServiceTypeChanged,
)

GREETER_V1 = {
    "protocolMode": "REQUEST_RESPONSE",
    "minProtocolVersion": 5,
    "maxProtocolVersion": 7,
    "services": [
        {"name": "Greeter", "ty": "SERVICE", "handlers": [{"name": "greet"}]},
        {
            "name": "TicketObject",
            "ty": "VIRTUAL_OBJECT",
            "handlers": [
                {"name": "reserve", "ty": "EXCLUSIVE"},
                {"name": "status", "ty": "SHARED"},
            ],
        },
    ],
}
# v2 adds a handler: new handlers are no breaking change for Restate.
GREETER_V2 = {
    **GREETER_V1,
    "services": [
        {"name": "Greeter", "ty": "SERVICE", "handlers": [{"name": "greet"}, {"name": "wave"}]},
        GREETER_V1["services"][1],  # type: ignore[index]
    ],
}


def main() -> None:
    clock = ManualClock()
    registry = Registry(clock=clock, ids=SequentialIds())

    def show(line: str) -> None:
        print(f"[{clock():%H:%M:%S}] {line}")

    v1 = registry.register("http://greeter-v1:9080", GREETER_V1).deployment
    show(f"registered greeter-v1 as {v1.id}: Greeter revision 1")

    long_call = registry.invoke("Greeter", "greet")
    pinned = long_call.pinned_deployment_id
    show(f"a long Greeter/greet call {long_call.id} starts, pinned to {pinned}")
    registry.suspend(long_call.id)
    show("it suspends (waiting on a timer)")

    first = registry.invoke("TicketObject", "reserve", key="seat-1")
    queued = registry.invoke("TicketObject", "reserve", key="seat-1")
    show(f"two reserve calls on seat-1: {first.status.value} and {queued.status.value} (unpinned)")

    clock.advance(timedelta(minutes=5))
    v2 = registry.register("http://greeter-v2:9080", EndpointManifest.from_json(GREETER_V2))
    bumps = ", ".join(f"{c.name} {c.old_revision} -> {c.new_revision}" for c in v2.changes)
    show(f"registered greeter-v2 as {v2.deployment.id}: {bumps}")

    fresh = registry.invoke("Greeter", "wave")
    show(f"a new call goes to the latest revision: {fresh.pinned_deployment_id} (v2)")
    resumed = registry.resume(long_call.id)
    show(f"the long call resumes where it is pinned: {resumed.pinned_deployment_id} (v1)")

    registry.complete(first.id)
    started = registry.invocation(queued.id)
    show(f"seat-1 frees up: the queued call starts now, on {started.pinned_deployment_id} (v2)")

    for deployment in registry.deployments():
        status = registry.deployment_status(deployment.id)
        count = registry.in_flight_count(deployment.id)
        show(f"{deployment.endpoint}: {status.value}, {count} in flight")

    registry.complete(long_call.id)
    show(f"the long call completes: greeter-v1 is {registry.deployment_status(v1.id).value}")

    try:
        registry.register(
            "http://greeter-v3:9080",
            {
                **GREETER_V1,
                "services": [{"name": "Greeter", "ty": "VIRTUAL_OBJECT", "handlers": []}],
            },
        )
    except ServiceTypeChanged as refused:
        show(f"refused: {refused}")

    registry.remove(v1.id)
    revision = registry.service("Greeter").revision
    show(f"removed the drained {v1.id}; Greeter is at revision {revision}")


if __name__ == "__main__":
    main()
