"""Evolve the state of a Virtual Object, and let the registry say which revisions can read it.

A ``Cart`` keeps its lines under the state key ``cart``. Each revision declares that state's JSON
Schema in its service metadata (``state_metadata``), as a Python service would with the schema
of its pydantic model. Restate itself registers every one of these revisions without a word;
the registry checks each against the latest:

1. v2 allows more (a quantity may be any number): it can read what v1 wrote, so it registers;
2. v3 renames ``sku`` to ``product``: v2's carts lack it, so it is refused with a counterexample;
3. the removal plan of v2 warns that the rollback to v1 would read carts v1 cannot read;
4. promoting v1 again is the same rollback: refused unless ``breaking``.
"""

from __future__ import annotations

from typing import Any

from restate_versioning import (
    IncompatibleState,
    ManualClock,
    Registry,
    SequentialIds,
    state_metadata,
)
from restate_versioning.views import render_removal_plan


def cart_schema(quantity: dict[str, Any], name: str = "sku") -> dict[str, Any]:
    line = {
        "type": "object",
        "properties": {name: {"type": "string"}, "quantity": quantity},
        "required": [name, "quantity"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"lines": {"type": "array", "items": line}},
        "required": ["lines"],
        "additionalProperties": False,
    }


def manifest(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "protocolMode": "BIDI_STREAM",
        "minProtocolVersion": 5,
        "maxProtocolVersion": 7,
        "services": [
            {
                "name": "Cart",
                "ty": "VIRTUAL_OBJECT",
                "handlers": [{"name": "add", "ty": "EXCLUSIVE"}],
                "metadata": state_metadata({"cart": schema}),
            }
        ],
    }


def main() -> None:
    registry = Registry(clock=ManualClock(), ids=SequentialIds())
    v1 = registry.register("http://cart-v1:9080", manifest(cart_schema({"type": "integer"})))
    print(f"v1 registered: {v1.deployment.id}")

    print("\n== v2: quantities may be any number")
    v2 = registry.register("http://cart-v2:9080", manifest(cart_schema({"type": "number"})))
    for check in v2.state_checks:
        print(check)

    print("\n== v3: sku renamed to product")
    renamed = manifest(cart_schema({"type": "number"}, name="product"))
    try:
        registry.register("http://cart-v3:9080", renamed)
    except IncompatibleState as refused:
        for check in refused.checks:
            print(check)
    print(f"Cart is still at revision {registry.service('Cart').revision}")

    print("\n== removing v2 would roll Cart back to v1")
    print(render_removal_plan(registry.removal_plan(v2.deployment.id)))

    print("\n== promoting v1 is the same rollback")
    try:
        registry.promote(v1.deployment.id)
    except IncompatibleState as refused:
        print(f"refused: {refused.checks[0]}")
    promoted = registry.promote(v1.deployment.id, breaking=True)
    print(f"with breaking=True: Cart revision {promoted.changes[0].new_revision} is v1's code")


if __name__ == "__main__":
    main()
