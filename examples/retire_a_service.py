"""Retire a service safely: the four documented prerequisites, checked by the removal plan.

Deployment "billing-v1" bundles two services, Payments (to retire) and Invoices (to keep), and a
handler of Checkout calls Payments. Restate's admin API would remove billing-v1 at once, with
force, and break all of that. The removal plan says what blocks it; each step below clears one
prerequisite, until the plan is safe:

1. no other handler calls the service any more;
2. what should stay (Invoices) is deployed elsewhere first;
3. the service is made private, so no new requests arrive;
4. it is drained: no work in flight, nothing queued.
"""

from __future__ import annotations

from datetime import timedelta

from restate_versioning import ManualClock, Registry, RemovalBlocked, SequentialIds
from restate_versioning.views import render_removal_plan


def manifest(*services: str) -> dict[str, object]:
    return {
        "protocolMode": "REQUEST_RESPONSE",
        "minProtocolVersion": 5,
        "maxProtocolVersion": 7,
        "services": [
            {"name": name, "ty": "SERVICE", "handlers": [{"name": "run"}]} for name in services
        ],
    }


def main() -> None:
    clock = ManualClock()
    registry = Registry(clock=clock, ids=SequentialIds())
    billing = registry.register("http://billing-v1:9080", manifest("Payments", "Invoices"))
    registry.register("http://checkout-v1:9080", manifest("Checkout"))
    target = billing.deployment.id

    running = registry.invoke("Payments", "run", caller="Checkout/run")
    later = registry.invoke("Payments", "run", delay=timedelta(minutes=10))

    def show(step: str) -> None:
        print(f"== {step}")
        print(render_removal_plan(registry.removal_plan(target)))
        print()

    show("billing-v1 today")
    try:
        registry.remove(target)
    except RemovalBlocked as blocked:
        print(f"remove() refused, changing nothing: {len(blocked.plan.blockers)} blockers\n")

    # 1. Checkout v2 no longer calls Payments; the dependency is forgotten.
    registry.register("http://checkout-v2:9080", manifest("Checkout"))
    registry.forget_caller("Payments", "Checkout/run")
    show("1. no handler calls Payments any more")

    # 2. Invoices moves to its own deployment.
    registry.register("http://invoices-v1:9080", manifest("Invoices"))
    show("2. Invoices is deployed elsewhere")

    # 3. Payments takes no new requests from outside.
    registry.set_public("Payments", False)
    show("3. Payments is private")

    # 4. Drain: the running call finishes, the delayed one runs and finishes.
    registry.complete(running.id)
    clock.advance(timedelta(minutes=10))
    registry.start_due()
    registry.complete(later.id)
    show("4. Payments is drained")

    removal = registry.remove(target)
    print(f"removed {removal.deployment.endpoint}; forced: {removal.forced}")
    print("services left:", ", ".join(s.name for s in registry.services()))


if __name__ == "__main__":
    main()
