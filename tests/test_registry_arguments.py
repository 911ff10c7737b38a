"""Every public query and command of :class:`Registry` refuses an argument of the wrong type
with the library's own error, and changes nothing.

An id, a service or handler name, an endpoint, a caller, a key or a delay that is a list, a
dict, ``None``, an int... raises a :class:`VersioningError` (``InvalidId``,
``ServiceNotFound``, ``InvalidEndpoint``, ``InvalidInvocation``...), never ``TypeError``
(unhashable) or ``AttributeError``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from restate_versioning import (
    InvalidId,
    InvalidSnapshot,
    ManualClock,
    Registry,
    SequentialIds,
    VersioningError,
)

from .helpers import SDK_MANIFEST, V1, V2

WRONG: list[object] = [[], {}, None, 9081, 1.5, b"dp_1", ["Greeter"], {"id": 1}, object()]


def _registry() -> tuple[Registry, str, str]:
    """A registry with a deployment, its successor, a suspended and a pending call."""
    clock = ManualClock()
    registry = Registry(clock=clock, ids=SequentialIds())
    old = registry.register(V1, SDK_MANIFEST).deployment.id
    call = registry.suspend(registry.invoke("Greeter", "greet", caller="Other/greet").id).id
    registry.invoke("TicketObject", "reserve", key="k")
    registry.invoke("TicketObject", "reserve", key="k")
    registry.register(V2, SDK_MANIFEST)
    clock.advance(timedelta(seconds=1))
    return registry, old, call


Call = Callable[[Registry, str, str, Any], object]

#: Every public method that takes an id, a name, an endpoint or a call's arguments, with the
#: wrong-typed value in each of those places.
CALLS: dict[str, Call] = {
    "service": lambda r, d, i, v: r.service(v),
    "service_revisions": lambda r, d, i, v: r.service_revisions(v),
    "deployment": lambda r, d, i, v: r.deployment(v),
    "find_deployment": lambda r, d, i, v: r.find_deployment(v),
    "deployment_status": lambda r, d, i, v: r.deployment_status(v),
    "was_removed": lambda r, d, i, v: r.was_removed(v),
    "register(endpoint)": lambda r, d, i, v: r.register(v, SDK_MANIFEST),
    "promote": lambda r, d, i, v: r.promote(v),
    "set_public(name)": lambda r, d, i, v: r.set_public(v, True),
    "set_public(public)": lambda r, d, i, v: r.set_public("Greeter", v),
    "removal_plan": lambda r, d, i, v: r.removal_plan(v),
    "remove": lambda r, d, i, v: r.remove(v),
    "remove(force)": lambda r, d, i, v: r.remove(d, force=v),
    "declare_caller(service)": lambda r, d, i, v: r.declare_caller(v, "Other/greet"),
    "declare_caller(caller)": lambda r, d, i, v: r.declare_caller("Greeter", v),
    "forget_caller(service)": lambda r, d, i, v: r.forget_caller(v, "Other/greet"),
    "forget_caller(caller)": lambda r, d, i, v: r.forget_caller("Greeter", v),
    "callers_of": lambda r, d, i, v: r.callers_of(v),
    "invocation": lambda r, d, i, v: r.invocation(v),
    "in_flight_count": lambda r, d, i, v: r.in_flight_count(v),
    "active_invocations": lambda r, d, i, v: r.active_invocations(v),
    "pinned_invocations": lambda r, d, i, v: r.pinned_invocations(v),
    "waiting_invocations": lambda r, d, i, v: r.waiting_invocations(v),
    "oldest_invocation(service)": lambda r, d, i, v: r.oldest_invocation(v, "greet"),
    "oldest_invocation(handler)": lambda r, d, i, v: r.oldest_invocation("Greeter", v),
    "invoke(service)": lambda r, d, i, v: r.invoke(v, "greet"),
    "invoke(handler)": lambda r, d, i, v: r.invoke("Greeter", v),
    "invoke(key)": lambda r, d, i, v: r.invoke("TicketObject", "reserve", key=v),
    "invoke(caller)": lambda r, d, i, v: r.invoke("Greeter", "greet", caller=v),
    "invoke(delay)": lambda r, d, i, v: r.invoke("Greeter", "greet", delay=v),
    "suspend": lambda r, d, i, v: r.suspend(v),
    "pause": lambda r, d, i, v: r.pause(v),
    "resume": lambda r, d, i, v: r.resume(v),
    "resume(deployment)": lambda r, d, i, v: r.resume(i, v),
    "complete": lambda r, d, i, v: r.complete(v),
    "kill": lambda r, d, i, v: r.kill(v),
    "from_snapshot": lambda r, d, i, v: Registry.from_snapshot(v),
}
#: Where ``None`` is a valid argument (no caller, no delay).
NONE_IS_VALID = {CALLS["invoke(caller)"], CALLS["invoke(delay)"]}


@pytest.mark.parametrize("value", WRONG, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("call", list(CALLS.values()), ids=list(CALLS))
def test_an_argument_of_the_wrong_type_is_the_librarys_error_and_changes_nothing(
    call: Call, value: object
) -> None:
    """A list, a dict, ``None``, a number, bytes or any object where an id, a name, an
    endpoint or a call's argument belongs raises a :class:`VersioningError` (never
    ``TypeError`` or ``AttributeError``), and the registry's snapshot is what it was."""
    if value is None and call in NONE_IS_VALID:
        value = [None]
    registry, old, call_id = _registry()
    before = registry.snapshot()
    with pytest.raises(VersioningError):
        call(registry, old, call_id, value)
    assert registry.snapshot() == before


@pytest.mark.parametrize("value", WRONG, ids=lambda v: type(v).__name__)
def test_an_id_of_the_wrong_type_is_an_invalid_id_quoting_it(value: object) -> None:
    """Deployment and invocation ids of the wrong type raise :class:`InvalidId` carrying the
    value, from every query that takes one."""
    registry, _, _ = _registry()
    for query in (
        registry.deployment,
        registry.was_removed,
        registry.pinned_invocations,
        registry.removal_plan,
        registry.invocation,
    ):
        with pytest.raises(InvalidId) as caught:
            query(value)  # type: ignore[arg-type]
        assert caught.value.value is value


def test_a_snapshot_that_is_not_a_registry_snapshot_is_refused() -> None:
    """:meth:`Registry.from_snapshot` of anything but a ``RegistrySnapshot`` is an
    :class:`InvalidSnapshot` saying what it got."""
    with pytest.raises(InvalidSnapshot, match="expected a RegistrySnapshot, got dict"):
        Registry.from_snapshot({})  # type: ignore[arg-type]
