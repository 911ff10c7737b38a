"""A call's caller is an invocation: ``invoke(..., caller=...)`` takes the calling invocation
(or its id) as well as the calling handler's name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from restate_versioning import (
    InvalidCaller,
    InvalidId,
    InvalidInvocation,
    InvocationNotFound,
    InvocationStatus,
    ManualClock,
    Registry,
    SequentialIds,
)
from restate_versioning.admin import _row
from restate_versioning.rules.removal import BlockerKind
from restate_versioning.serialization import dumps, loads
from restate_versioning.storage import SQLiteStorage, StoredRegistry
from restate_versioning.views import render_invocations

from .helpers import handler, manifest, service

CART = service("Cart", "VIRTUAL_OBJECT", [handler("add", "EXCLUSIVE")])
PRICING = service("Pricing", handlers=[handler("quote")])


def _registry(registry: Registry) -> Registry:
    registry.register("http://callers:9080", manifest(CART, PRICING))
    return registry


def test_a_call_from_an_invocation_records_its_id_handler_and_key(registry: Registry) -> None:
    _registry(registry)
    cart = registry.invoke("Cart", "add", key="c1")
    called = registry.invoke("Pricing", "quote", caller=cart)
    assert (called.caller, called.caller_key, called.caller_id) == ("Cart/add", "c1", cart.id)
    assert called.invoked_by_target == "Cart/c1/add"
    assert registry.callers_of("Pricing") == ("Cart/add",)


def test_a_caller_given_by_id_is_the_same_as_the_invocation(registry: Registry) -> None:
    _registry(registry)
    cart = registry.invoke("Cart", "add", key="c1")
    called = registry.invoke("Pricing", "quote", caller=cart.id)
    assert (called.caller, called.caller_key, called.caller_id) == ("Cart/add", "c1", cart.id)


def test_a_call_from_an_unkeyed_invocation_has_no_caller_key(registry: Registry) -> None:
    _registry(registry)
    pricing = registry.invoke("Pricing", "quote")
    called = registry.invoke("Cart", "add", key="c1", caller=pricing)
    assert (called.invoked_by_target, called.caller_key) == ("Pricing/quote", None)


def test_a_call_from_a_handler_name_has_no_caller_id(registry: Registry) -> None:
    _registry(registry)
    called = registry.invoke("Pricing", "quote", caller="Cart/add")
    assert (called.caller, called.caller_id, called.caller_key) == ("Cart/add", None, None)


@pytest.mark.parametrize("status", ["completed", "pending", "scheduled"])
def test_an_invocation_that_is_not_running_makes_no_calls_and_nothing_changes(
    registry: Registry, status: str
) -> None:
    _registry(registry)
    holder = registry.invoke("Cart", "add", key="c1")
    if status == "completed":
        caller = registry.complete(holder.id)
    elif status == "pending":
        caller = registry.invoke("Cart", "add", key="c1")
    else:
        caller = registry.invoke("Pricing", "quote", delay=timedelta(minutes=5))
    assert caller.status.value == status
    before = registry.snapshot()
    with pytest.raises(InvalidCaller, match=caller.id) as refused:
        registry.invoke("Pricing", "quote", caller=caller)
    assert (refused.value.caller_id, refused.value.status) == (caller.id, caller.status)
    assert registry.snapshot() == before


def test_a_finished_invocation_says_it_makes_no_calls(registry: Registry) -> None:
    _registry(registry)
    done = registry.complete(registry.invoke("Pricing", "quote").id)
    with pytest.raises(InvalidCaller, match="a finished invocation makes no calls"):
        registry.invoke("Pricing", "quote", caller=done.id)


def test_an_unknown_calling_invocation_is_not_found_and_nothing_changes(
    registry: Registry,
) -> None:
    _registry(registry)
    known = registry.invoke("Pricing", "quote")
    registry.complete(known.id)
    before = registry.snapshot()
    unknown = "inv_1" + "a" * 26
    with pytest.raises((InvocationNotFound, InvalidId)):
        registry.invoke("Pricing", "quote", caller=unknown)
    assert registry.snapshot() == before


def test_a_caller_that_is_neither_an_invocation_nor_a_handler_says_what_it_takes(
    registry: Registry,
) -> None:
    _registry(registry)
    before = registry.snapshot()
    for bad in ("Cart", 42, ["Cart/add"]):
        with pytest.raises(InvalidInvocation, match="calling invocation") as refused:
            registry.invoke("Pricing", "quote", caller=bad)  # type: ignore[arg-type]
        assert repr(bad)[:5] in str(refused.value)
    assert registry.snapshot() == before


def test_the_removal_plan_names_the_invocations_calling_a_vanishing_service(
    registry: Registry,
) -> None:
    registry.register("http://cart:9080", manifest(CART))
    pricing = registry.register("http://pricing:9080", manifest(PRICING))
    registry.set_public("Pricing", False)
    cart = registry.invoke("Cart", "add", key="c1")
    registry.invoke("Pricing", "quote", caller=cart, delay=timedelta(minutes=5))
    plan = registry.removal_plan(pricing.deployment.id)
    (callers,) = [b for b in plan.blockers if b.kind is BlockerKind.CALLERS]
    assert callers.callers == ("Cart/add",)
    assert callers.caller_ids == (cart.id,)
    assert cart.id in callers.message


def test_snapshots_keep_the_calling_invocation_and_its_key(registry: Registry) -> None:
    _registry(registry)
    cart = registry.invoke("Cart", "add", key="c1")
    called = registry.invoke("Pricing", "quote", caller=cart)
    restored = loads(dumps(registry))
    assert restored.invocation(called.id) == called


def test_the_journal_keeps_a_caller_given_as_an_invocation(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    clock = ManualClock()
    stored = StoredRegistry(SQLiteStorage(path), clock=clock)
    stored.register("http://callers:9080", manifest(CART, PRICING))
    cart = stored.invoke("Cart", "add", key="c1")
    called = stored.invoke("Pricing", "quote", caller=cart)
    assert stored.history()[-1].arguments["caller"] == cart.id
    stored.close()
    reopened = StoredRegistry(SQLiteStorage(path), clock=clock)
    assert reopened.registry.invocation(called.id) == called


def test_the_invocations_view_shows_who_called(registry: Registry) -> None:
    _registry(registry)
    cart = registry.invoke("Cart", "add", key="c1")
    registry.invoke("Pricing", "quote", caller=cart)
    assert f"{cart.id} Cart/c1/add" in render_invocations(tuple(registry.invocations()))


_NOW = datetime(2026, 1, 1, tzinfo=UTC)
_IDS = SequentialIds()
CALLED_ID, CALLER_ID = _IDS.invocation_id(_NOW), _IDS.invocation_id(_NOW)


def _sys_invocation(**fields: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": CALLED_ID,
        "target_service_name": "Pricing",
        "target_handler_name": "quote",
        "target_service_key": None,
        "target_service_ty": "service",
        "status": "running",
        "pinned_deployment_id": _IDS.deployment_id(_NOW),
        "pinned_service_protocol_version": 5,
        "created_at": "2026-01-01T00:00:00.000Z",
    }
    row.update(fields)
    return row


@pytest.mark.parametrize(
    ("target", "key"),
    [("Cart/c1/add", "c1"), ("Cart/a/b/add", "a/b"), ("Cart//add", ""), ("Cart/add", None)],
)
def test_admin_source_keeps_the_key_of_a_keyed_caller(target: str, key: str | None) -> None:
    caller_id = CALLER_ID
    row = _row(
        _sys_invocation(
            invoked_by_target=target, invoked_by_service_name="Cart", invoked_by_id=caller_id
        ),
        "$.rows[0]",
    )
    called = row.invocation
    assert (called.caller, called.caller_key, called.caller_id) == ("Cart/add", key, caller_id)
    assert called.invoked_by_target == target
    assert called.status is InvocationStatus.RUNNING
