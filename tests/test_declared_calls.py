"""Calls a manifest declares (docs/rules.md, "Calls a manifest declares"): a service's metadata
says which services its handlers call, and while that revision is the latest, its service is a
caller of each of them, which the removal plan counts. The model goes further than the server."""

from __future__ import annotations

import pytest

from restate_versioning import (
    CALLS_METADATA_KEY,
    BlockerKind,
    InvalidInvocation,
    InvalidManifest,
    Registry,
    calls_metadata,
)
from restate_versioning.serialization import dumps, loads

from .helpers import V1, V2, V3, manifest, service


def _payments_and_checkout(registry: Registry, *targets: str) -> str:
    """Checkout (declaring calls to ``targets``) on V1, a private Payments on V2: the id of
    Payments' deployment."""
    registry.register(V1, manifest(service("Checkout", metadata=calls_metadata(targets))))
    payments = registry.register(V2, manifest(service("Payments"))).deployment.id
    registry.set_public("Payments", False)
    return payments


def test_calls_metadata_is_one_entry_of_the_targets_once_each_sorted() -> None:
    assert calls_metadata(["Payments/pay", "Audit", "Payments/pay"]) == {
        CALLS_METADATA_KEY: '["Audit", "Payments/pay"]'
    }


@pytest.mark.parametrize("bad", ["", "Pay ments", "Payments/", 7])
def test_calls_metadata_refuses_a_target_that_is_not_service_or_service_slash_handler(
    bad: object,
) -> None:
    with pytest.raises(InvalidManifest, match=r"\$\[1\]") as caught:
        calls_metadata(["Audit", bad])  # type: ignore[list-item]
    assert repr(bad) in str(caught.value)


def test_calls_metadata_refuses_a_bare_string_of_targets() -> None:
    with pytest.raises(InvalidManifest, match="'Payments'"):
        calls_metadata("Payments")


def test_a_declared_call_blocks_removing_the_last_revision_of_its_target(
    registry: Registry,
) -> None:
    payments = _payments_and_checkout(registry, "Payments/pay")
    assert registry.callers_of("Payments") == ("Checkout/*",)
    (blocker,) = registry.removal_plan(payments).blockers
    assert blocker.kind is BlockerKind.CALLERS
    assert blocker.callers == ("Checkout/*",)
    assert blocker.services == ("Payments",)
    assert registry.verify() == ()


def test_a_declaration_counts_only_while_its_revision_is_the_latest(registry: Registry) -> None:
    payments = _payments_and_checkout(registry, "Payments")
    registry.register(V3, manifest(service("Checkout")))  # the new revision declares nothing
    assert registry.callers_of("Payments") == ()
    assert registry.removal_plan(payments).safe
    assert registry.verify() == ()


def test_a_declaration_counts_again_when_its_revision_is_the_latest_again(
    registry: Registry,
) -> None:
    payments = _payments_and_checkout(registry, "Payments")
    newer = registry.register(V3, manifest(service("Checkout"))).deployment.id
    registry.remove(newer, force=True)  # Checkout rolls back to the revision that declares
    assert registry.callers_of("Payments") == ("Checkout/*",)
    assert [b.kind for b in registry.removal_plan(payments).blockers] == [BlockerKind.CALLERS]


def test_a_declaration_beside_recorded_and_declared_callers_is_counted_once_each(
    registry: Registry,
) -> None:
    payments = _payments_and_checkout(registry, "Payments")
    registry.declare_caller("Payments", "Checkout/pay")
    assert registry.callers_of("Payments") == ("Checkout/*", "Checkout/pay")
    (blocker,) = registry.removal_plan(payments).blockers
    assert blocker.callers == ("Checkout/*", "Checkout/pay")


def test_a_service_that_declares_calls_to_itself_does_not_block_its_own_removal(
    registry: Registry,
) -> None:
    alone = registry.register(
        V1, manifest(service("Loop", metadata=calls_metadata(["Loop/again"])))
    ).deployment.id
    registry.set_public("Loop", False)
    assert registry.removal_plan(alone).safe


def test_a_declared_caller_is_not_forgotten_by_forget_caller_and_it_says_why(
    registry: Registry,
) -> None:
    _payments_and_checkout(registry, "Payments")
    changes = registry.changes
    with pytest.raises(InvalidInvocation, match="in its metadata"):
        registry.forget_caller("Payments", "Checkout/*")
    assert registry.changes == changes


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Payments", "JSON text"),
        ('{"Payments": true}', "a JSON array of targets"),
        ('["Payments", 3]', r"\[1\]"),
        ('["Pay ments"]', "'Pay ments'"),
    ],
)
def test_a_malformed_declaration_refuses_the_registration_and_changes_nothing(
    registry: Registry, text: str, why: str
) -> None:
    registry.register(V2, manifest(service("Payments")))
    before = dumps(registry)
    with pytest.raises(InvalidManifest, match=why) as caught:
        registry.register(V1, manifest(service("Checkout", metadata={CALLS_METADATA_KEY: text})))
    assert caught.value.problems[0].path.startswith("$.services[0].metadata")
    assert dumps(registry) == before


def test_a_snapshot_keeps_what_the_latest_revisions_declare(registry: Registry) -> None:
    payments = _payments_and_checkout(registry, "Payments")
    loaded = loads(dumps(registry))
    assert loaded.callers_of("Payments") == ("Checkout/*",)
    assert loaded.removal_plan(payments).blockers == registry.removal_plan(payments).blockers
    assert loaded.verify() == ()
