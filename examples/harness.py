"""Embed a registry in a test harness instead of starting a Restate server.

A deployment pipeline is tested against a faithful, deterministic registry: a manual clock,
sequential ids, and a StaticTransport standing in for the endpoints' discovery answers. The
pipeline under test refuses to retire a deployment the removal plan calls unsafe.
"""

from __future__ import annotations

from datetime import timedelta

from restate_versioning import ManualClock, Registry, SequentialIds
from restate_versioning.transport import StaticTransport, register_endpoint


def manifest(*handlers: str) -> dict[str, object]:
    return {
        "protocolMode": "REQUEST_RESPONSE",
        "minProtocolVersion": 5,
        "maxProtocolVersion": 7,
        "services": [
            {"name": "Greeter", "ty": "SERVICE", "handlers": [{"name": h} for h in handlers]}
        ],
    }


def rollout(registry: Registry, transport: StaticTransport, new: str, old: str) -> str:
    """The pipeline under test: register the new endpoint, then retire the old deployment
    only when it is safe; returns what it did."""
    register_endpoint(registry, new, transport)
    previous = registry.find_deployment(old)
    if previous is None:
        return "nothing to retire"
    plan = registry.removal_plan(previous.id)
    if not plan.safe:
        return "kept " + previous.id + ": " + ", ".join(b.kind.value for b in plan.blockers)
    registry.remove(previous.id)
    return "retired " + previous.id


def main() -> None:
    clock = ManualClock()
    registry = Registry(clock=clock, ids=SequentialIds())
    transport = StaticTransport(
        {
            "http://greeter-v1:9080": manifest("greet"),
            "http://greeter-v2:9080": manifest("greet", "wave"),
        }
    )
    register_endpoint(registry, "http://greeter-v1:9080", transport)
    call = registry.invoke("Greeter", "greet")  # a long call on v1

    print(rollout(registry, transport, "http://greeter-v2:9080", "http://greeter-v1:9080"))
    clock.advance(timedelta(minutes=5))
    registry.complete(call.id)
    print(rollout(registry, transport, "http://greeter-v2:9080", "http://greeter-v1:9080"))
    print("discovered:", ", ".join(transport.discovered))


if __name__ == "__main__":
    main()
