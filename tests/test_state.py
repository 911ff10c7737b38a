"""State compatibility of Virtual Objects and Workflows: declarations, the check at
registration, on promote and in removal plans (docs/rules.md, "State"; the server checks
nothing)."""

from __future__ import annotations

import json
import time
from typing import Any

import attrs
import pytest

from restate_versioning import (
    STATE_METADATA_PREFIX,
    IncompatibleState,
    InvalidStateSchema,
    ManualClock,
    RandomIds,
    Registry,
    SequentialIds,
    Verdict,
    schemas,
    state_metadata,
)
from restate_versioning.rules import state as state_rules
from restate_versioning.rules.registration import UNASSIGNED
from restate_versioning.serialization import dumps, loads
from restate_versioning.storage import MemoryStorage, StoredRegistry
from restate_versioning.views import render_removal_plan

from .helpers import V1, V2, V3, manifest, service

COUNT_V1 = {
    "type": "object",
    "properties": {"n": {"type": "integer"}},
    "required": ["n"],
    "additionalProperties": False,
}
COUNT_WIDER = {"type": "object", "properties": {"n": {"type": "number"}}, "required": ["n"]}
COUNT_TEXT = {"type": "object", "properties": {"n": {"type": "string"}}, "required": ["n"]}


def cart(state: dict[str, Any] | None = None, ty: str = "VIRTUAL_OBJECT") -> dict[str, Any]:
    extra: dict[str, Any] = {"metadata": state_metadata(state)} if state is not None else {}
    return manifest(service("Cart", ty, **extra))


def test_state_is_declared_in_service_metadata_one_entry_per_key(registry: Registry) -> None:
    metadata = state_metadata({"count": COUNT_V1})
    assert list(metadata) == [f"{STATE_METADATA_PREFIX}count"]
    revision = registry.register(V1, cart({"count": COUNT_V1})).deployment.services["Cart"]
    assert revision.state_schema("count") == COUNT_V1
    assert revision.metadata == metadata  # the metadata itself stays as the server keeps it


def test_state_can_be_declared_through_the_api_and_is_kept_with_the_revision(
    registry: Registry,
) -> None:
    registry.register(V1, cart(), state={"Cart": {"count": COUNT_V1}})
    assert registry.service("Cart").state_schema("count") == COUNT_V1
    assert registry.service("Cart").metadata == {}


def test_a_compatible_revision_registers_and_reports_its_check(registry: Registry) -> None:
    registry.register(V1, cart({"count": COUNT_V1}))
    result = registry.register(V2, cart({"count": COUNT_WIDER}))
    (check,) = result.state_checks
    assert (check.service, check.writer_revision, check.reader_revision) == ("Cart", 1, 2)
    assert check.verdict is Verdict.COMPATIBLE


def test_an_incompatible_revision_is_refused_listing_each_key_and_reason(
    registry: Registry,
) -> None:
    registry.register(V1, cart({"count": COUNT_V1, "other": {"type": "string"}}))
    before = dumps(registry)
    with pytest.raises(IncompatibleState) as raised:
        registry.register(V2, cart({"count": COUNT_TEXT, "other": {"type": "integer"}}))
    (check,) = raised.value.checks
    assert [(k.key, k.verdict) for k in check.keys] == [
        ("count", Verdict.INCOMPATIBLE),
        ("other", Verdict.INCOMPATIBLE),
    ]
    message = str(raised.value)
    for quoted in ("'count'", "'other'", "$.n"):
        assert quoted in message
    assert dumps(registry) == before  # nothing changed


def test_breaking_or_force_registers_an_incompatible_revision_anyway(registry: Registry) -> None:
    registry.register(V1, cart({"count": COUNT_V1}))
    result = registry.register(V2, cart({"count": COUNT_TEXT}), breaking=True)
    assert result.state_checks[0].verdict is Verdict.INCOMPATIBLE
    assert registry.service("Cart").revision == 2
    forced = registry.register(V2, cart({"count": COUNT_V1}), force=True)
    assert forced.state_checks[0].verdict is Verdict.INCOMPATIBLE
    assert registry.service("Cart").revision == 3


def test_a_dry_run_is_refused_like_the_real_registration(registry: Registry) -> None:
    registry.register(V1, cart({"count": COUNT_V1}))
    with pytest.raises(IncompatibleState):
        registry.register(V2, cart({"count": COUNT_TEXT}), dry_run=True)


def test_unknown_does_not_refuse_but_is_reported(registry: Registry) -> None:
    registry.register(V1, cart({"count": {"not": {"type": "null"}}}))
    result = registry.register(V2, cart({"count": {"type": "integer"}}))
    assert result.state_checks[0].verdict is Verdict.UNKNOWN


def test_a_key_no_revision_declared_before_is_new_state(registry: Registry) -> None:
    registry.register(V1, cart({"count": COUNT_V1}))
    assert registry.register(V2, cart({"total": COUNT_TEXT})).state_checks == ()
    assert registry.register(V3, cart()).state_checks == ()


def test_a_key_is_checked_against_the_newest_revision_that_declares_it(
    registry: Registry,
) -> None:
    registry.register(V1, cart({"count": COUNT_V1}))
    registry.register(V2, cart())  # declares nothing: the state written under v1 is still there
    with pytest.raises(IncompatibleState) as raised:
        registry.register(V3, cart({"count": COUNT_TEXT}))
    (check,) = raised.value.checks
    assert (check.writer_revision, check.reader_revision) == (2, 3)
    assert (check.keys[0].key, check.keys[0].writer_revision) == ("count", 1)
    assert "as revision 1 declared it" in str(raised.value)


def test_bad_declarations_are_refused_with_every_problem_and_change_nothing(
    registry: Registry,
) -> None:
    before = dumps(registry)
    bad_metadata = manifest(
        service("Cart", "VIRTUAL_OBJECT", metadata={f"{STATE_METADATA_PREFIX}count": "{nope"})
    )
    with pytest.raises(InvalidStateSchema) as raised:
        registry.register(
            V1,
            bad_metadata,
            state={"Cart": {"items": {"type": "nonsense"}, "": {}}, "Nope": {}},
        )
    problems = {p.path: p.message for p in raised.value.problems}
    assert "the manifest has no service named 'Nope'" in problems["state['Nope']"]
    assert "is not JSON" in problems["$.services[0].metadata['restate-versioning.state.count']"]
    assert "'nonsense'" in problems["state['Cart']['items']"]
    assert "non-empty string" in problems["state['Cart']['']"]
    assert dumps(registry) == before


def test_a_plain_service_keeps_no_state(registry: Registry) -> None:
    with pytest.raises(InvalidStateSchema, match="'Cart' is a Service, which keeps no state"):
        registry.register(V1, cart({"count": COUNT_V1}, ty="SERVICE"))


def test_a_key_declared_in_metadata_and_the_api_needs_the_same_schema(
    registry: Registry,
) -> None:
    with pytest.raises(InvalidStateSchema, match="declared twice"):
        registry.register(V1, cart({"count": COUNT_V1}), state={"Cart": {"count": COUNT_TEXT}})
    registry.register(V1, cart({"count": COUNT_V1}), state={"Cart": {"count": COUNT_V1}})


def test_workflows_keep_state_too(registry: Registry) -> None:
    wf = manifest(service("Signup", "WORKFLOW", metadata=state_metadata({"step": COUNT_V1})))
    registry.register(V1, wf)
    wf2 = manifest(service("Signup", "WORKFLOW", metadata=state_metadata({"step": COUNT_TEXT})))
    with pytest.raises(IncompatibleState):
        registry.register(V2, wf2)


def test_removal_plan_warns_when_a_rollback_would_read_newer_incompatible_state(
    registry: Registry,
) -> None:
    v1 = registry.register(V1, cart({"count": COUNT_V1})).deployment.id
    v2 = registry.register(V2, cart({"count": COUNT_WIDER})).deployment.id  # compatible forward
    plan = registry.removal_plan(v2)
    (warning,) = plan.warnings
    assert warning.service == "Cart"
    assert (warning.check.writer_revision, warning.check.reader_revision) == (2, 1)
    assert warning.check.verdict is Verdict.INCOMPATIBLE
    assert "rolling 'Cart' back to revision 1" in warning.message
    assert "Warnings:" in render_removal_plan(plan)
    assert registry.removal_plan(v1).warnings == ()  # removing the old one rolls nothing back


def test_removal_plan_has_no_warning_when_the_rollback_can_read_the_state(
    registry: Registry,
) -> None:
    registry.register(V1, cart({"count": COUNT_WIDER}))
    v2 = registry.register(V2, cart({"count": COUNT_V1}), breaking=True).deployment.id
    assert registry.removal_plan(v2).warnings == ()


def test_promote_is_a_rollback_and_is_checked_the_same_way(registry: Registry) -> None:
    v1 = registry.register(V1, cart({"count": COUNT_V1})).deployment.id
    registry.register(V2, cart({"count": COUNT_WIDER}))
    with pytest.raises(IncompatibleState):
        registry.promote(v1)
    assert registry.service("Cart").revision == 2
    result = registry.promote(v1, breaking=True)
    assert registry.service("Cart").revision == 3
    assert registry.service("Cart").state_schema("count") == COUNT_V1
    assert result.state_checks[0].verdict is Verdict.INCOMPATIBLE


def test_promote_keeps_state_declared_through_the_api(registry: Registry) -> None:
    v1 = registry.register(V1, cart(), state={"Cart": {"count": COUNT_WIDER}}).deployment.id
    registry.register(V2, cart(), state={"Cart": {"count": COUNT_V1}}, breaking=True)
    registry.promote(v1)
    assert registry.service("Cart").state_schema("count") == COUNT_WIDER


def test_declared_state_survives_snapshots_and_the_journal() -> None:
    clock, ids = ManualClock(), SequentialIds()
    storage = MemoryStorage()
    stored = StoredRegistry(storage, clock=clock, ids=ids)
    stored.register(V1, cart(), state={"Cart": {"count": COUNT_V1}})
    with pytest.raises(IncompatibleState):
        stored.register(V2, cart(), state={"Cart": {"count": COUNT_TEXT}})
    stored.register(V2, cart(), state={"Cart": {"count": COUNT_TEXT}}, breaking=True)
    assert len(stored.history()) == 2
    replayed = StoredRegistry(storage, clock=clock)
    assert dumps(replayed.registry) == dumps(stored.registry)
    assert loads(dumps(stored.registry)).service("Cart").state_schema("count") == COUNT_TEXT


@pytest.mark.parametrize(
    ("state", "quoted"),
    [
        ({"Cart": {"count": {1, 2}}}, "{1, 2}"),
        ({"Cart": {1: COUNT_V1}}, "a key 1 is not a str"),
        ({"Cart": {"count": {"maximum": float("nan")}}}, "nan"),
    ],
)
def test_state_given_to_a_stored_registry_must_be_json(state: Any, quoted: str) -> None:
    stored = StoredRegistry(MemoryStorage())
    with pytest.raises(InvalidStateSchema, match="must be JSON") as raised:
        stored.register(V1, cart(), state=state)
    assert quoted in str(raised.value)
    assert stored.history() == ()


def test_replay_applies_a_committed_registration_without_checking_it_again() -> None:
    """A registration the journal holds was accepted when it was made: reopening the store
    must not refuse it because the check has become stricter since."""
    storage = MemoryStorage()
    stored = StoredRegistry(storage, clock=ManualClock(), ids=SequentialIds())
    stored.register(V1, cart(), state={"Cart": {"count": COUNT_V1}})
    stored.register(V2, cart(), state={"Cart": {"count": COUNT_TEXT}}, breaking=True)
    (first, second) = storage.history()
    # the same records, as an older version that accepted the second one would have written it
    unchecked = attrs.evolve(second, arguments={**second.arguments, "breaking": False})
    older = MemoryStorage()
    older.append([first, unchecked], 0)
    reopened = StoredRegistry(older)
    assert reopened.registry.service("Cart").state_schema("count") == COUNT_TEXT


def test_state_check_text_names_revisions_and_keys(registry: Registry) -> None:
    registry.register(V1, cart({"count": COUNT_V1}))
    check = registry.register(V2, cart({"count": COUNT_TEXT}), breaking=True).state_checks[0]
    text = str(check)
    assert text.startswith("Cart revision 2 reading the state of revision 1: incompatible")
    assert json.loads(check.keys[0].compatibility.findings[0].counterexample or "") == {"n": 0}


def test_older_revisions_with_calls_in_flight_may_still_write_so_they_are_checked_too(
    registry: Registry,
) -> None:
    either = {"type": ["integer", "string"]}
    number = {"type": "integer"}
    registry.register(V1, cart({"count": either}))
    call = registry.invoke("Cart", "reserve", key="k")  # in flight on v1: it may still write
    registry.register(V2, cart({"count": number}), breaking=True)
    with pytest.raises(IncompatibleState) as raised:
        registry.register(V3, cart({"count": number}))
    (check,) = raised.value.checks
    assert [(k.writer_revision, k.verdict) for k in check.keys] == [
        (2, Verdict.COMPATIBLE),
        (1, Verdict.INCOMPATIBLE),
    ]
    registry.complete(call.id)  # v1 is drained: only v2's writes remain
    assert registry.register(V3, cart({"count": number})).state_checks[0].compatible


#: A schema the check does not reason about (``not``): compared with anything else, UNKNOWN.
UNREASONED = {"not": {"type": "null"}}


def test_an_unknown_answer_never_hides_an_incompatible_one_against_older_state(
    registry: Registry,
) -> None:
    """v2 was never shown to read v1's integers (UNKNOWN does not refuse), so they may still be
    stored, with no call in flight: v3, which reads only strings, cannot read them."""
    registry.register(V1, cart({"count": {"type": "integer"}}))
    assert registry.register(V2, cart({"count": UNREASONED})).state_checks[0].verdict is (
        Verdict.UNKNOWN
    )
    before = dumps(registry)
    with pytest.raises(IncompatibleState) as raised:
        registry.register(V3, cart({"count": {"type": "string"}}))
    (check,) = raised.value.checks
    assert [(k.writer_revision, k.verdict) for k in check.keys] == [
        (2, Verdict.UNKNOWN),
        (1, Verdict.INCOMPATIBLE),
    ]
    assert "'count' as revision 1 declared it: incompatible" in str(raised.value)
    assert dumps(registry) == before


def test_older_state_is_checked_only_while_the_answer_is_unknown(registry: Registry) -> None:
    registry.register(V1, cart({"count": {"type": "integer"}}))
    registry.register(V2, cart({"count": UNREASONED}))
    result = registry.register(V3, cart({"count": {"type": "number"}}))  # reads v1's integers
    (check,) = result.state_checks
    assert [(k.writer_revision, k.verdict) for k in check.keys] == [
        (2, Verdict.UNKNOWN),
        (1, Verdict.COMPATIBLE),
    ]
    assert check.verdict is Verdict.UNKNOWN
    proven = registry.register(V1, cart({"count": {"type": "number"}}), force=True)
    assert [k.writer_revision for k in proven.state_checks[0].keys] == [3]  # compatible: done


def test_a_declaration_registered_with_breaking_ends_the_older_state_that_is_checked(
    registry: Registry,
) -> None:
    """v2 cannot read v1's integers at all: it was registered with breaking, so v1's state is
    taken as gone (as when v1 drains, above), not checked against v3."""
    registry.register(V1, cart({"count": {"type": "integer"}}))
    unreasoned_object = {"type": "object", "properties": {"a": UNREASONED}}
    registry.register(V2, cart({"count": unreasoned_object}), breaking=True)
    typed = {"type": "object", "properties": {"a": {"type": "string"}}}
    (check,) = registry.register(V3, cart({"count": typed})).state_checks
    assert [(k.writer_revision, k.verdict) for k in check.keys] == [(2, Verdict.UNKNOWN)]


def test_an_unknown_answer_never_hides_an_incompatible_one_against_a_revision_still_writing(
    registry: Registry,
) -> None:
    """v2 broke with v1 on purpose, but a call of v1 is still in flight and may still write
    v1's integers: v3 is checked against them too, whatever v3's answer against v2."""
    registry.register(V1, cart({"count": {"type": "integer"}}))
    call = registry.invoke("Cart", "reserve", key="k")
    unreasoned_object = {"type": "object", "properties": {"a": UNREASONED}}
    registry.register(V2, cart({"count": unreasoned_object}), breaking=True)
    typed = {"type": "object", "properties": {"a": {"type": "string"}}}
    with pytest.raises(IncompatibleState) as raised:
        registry.register(V3, cart({"count": typed}))
    assert [(k.writer_revision, k.verdict) for k in raised.value.checks[0].keys] == [
        (2, Verdict.UNKNOWN),
        (1, Verdict.INCOMPATIBLE),
    ]
    registry.complete(call.id)
    assert registry.register(V3, cart({"count": typed})).state_checks[0].verdict is (
        Verdict.UNKNOWN
    )


def test_check_state_reads_the_writers_objects_as_closed_unless_open_objects(
    registry: Registry,
) -> None:
    named = {"type": "object", "properties": {"name": {"type": "string"}}}
    typed = {"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer"}}}
    writer = registry.register(V1, cart({"cart": named})).deployment.services["Cart"]
    result = registry.register(V2, cart({"cart": typed}))  # an optional property added
    assert result.state_checks[0].verdict is Verdict.COMPATIBLE
    reader = result.deployment.services["Cart"]
    strict = state_rules.check_state(writer, reader, open_objects=True)
    assert strict.verdict is Verdict.INCOMPATIBLE
    assert strict.keys[0].compatibility.findings[0].path == "$.n"
    assert state_rules.check_state(writer, reader).verdict is Verdict.COMPATIBLE


def test_a_state_schema_whose_ref_points_at_nothing_is_refused_where_it_is_declared(
    registry: Registry,
) -> None:
    dangling = {"type": "object", "properties": {"line": {"$ref": "#/$defs/Line"}}}
    with pytest.raises(InvalidStateSchema, match="'#/\\$defs/Line' points at nothing"):
        state_metadata({"cart": dangling})
    metadata = {f"{STATE_METADATA_PREFIX}cart": json.dumps(dangling)}
    before = dumps(registry)
    with pytest.raises(InvalidStateSchema) as raised:
        registry.register(V1, manifest(service("Cart", "VIRTUAL_OBJECT", metadata=metadata)))
    (problem,) = raised.value.problems
    assert problem.path == f"$.services[0].metadata['{STATE_METADATA_PREFIX}cart']"
    assert "'#/$defs/Line' points at nothing in the schema" in problem.message
    with pytest.raises(InvalidStateSchema, match="points at nothing") as raised:
        registry.register(V1, cart(), state={"Cart": {"cart": dangling}})
    assert [p.path for p in raised.value.problems] == ["state['Cart']['cart']"]
    assert dumps(registry) == before


# --- bounded checks, and no check on replay -------------------------------------------------

#: Big enough that the check says UNKNOWN at a bound rather than searching: an enum past
#: MAX_ENUM_VALUES and an array too long to build.
HUGE_ENUM = {"enum": [f"v{i}" for i in range(5_000)]}
HUGE_ARRAY = {"type": "array", "minItems": 10**9}


class CountedChecks:
    """Counts the comparisons of declared schemas that state checks make."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        compare = state_rules._compatibility

        def counted(written: str, read: str, open_objects: bool = False) -> Any:
            self.calls += 1
            return compare(written, read, open_objects)

        monkeypatch.setattr(state_rules, "_compatibility", counted)


def test_check_state_false_runs_no_state_check_and_reports_none(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted = CountedChecks(monkeypatch)
    v1 = registry.register(V1, cart({"count": COUNT_V1})).deployment.id
    result = registry.register(V2, cart({"count": COUNT_TEXT}), check_state=False)
    assert result.state_checks == ()
    assert registry.service("Cart").state_schema("count") == COUNT_TEXT  # still declared
    promoted = registry.promote(v1, check_state=False)
    assert promoted.state_checks == ()
    assert registry.service("Cart").state_schema("count") == COUNT_V1
    assert counted.calls == 0


def test_check_state_false_still_refuses_a_bad_declaration(registry: Registry) -> None:
    with pytest.raises(InvalidStateSchema, match="'nonsense'"):
        registry.register(V1, cart({"count": {"type": "nonsense"}}), check_state=False)
    assert registry.deployments() == ()


def test_replaying_a_store_runs_no_state_check_however_expensive_the_schemas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reopening a store applies what was committed; it checked its state when it was made."""
    storage = MemoryStorage()
    stored = StoredRegistry(storage, clock=ManualClock(), ids=SequentialIds())
    v1 = stored.register(V1, cart({"count": HUGE_ENUM, "lines": HUGE_ARRAY})).deployment.id
    for endpoint, count in ((V2, {"enum": ["v0"]}), (V3, COUNT_TEXT)):
        checked = stored.register(
            endpoint, cart({"count": count, "lines": HUGE_ARRAY}), breaking=True
        )
        assert checked.state_checks  # the live command was checked
    assert stored.promote(v1, breaking=True).state_checks
    counted = CountedChecks(monkeypatch)
    reopened = StoredRegistry(storage, clock=ManualClock())
    assert counted.calls == 0
    assert dumps(reopened.registry) == dumps(stored.registry)
    assert reopened.registry.service("Cart").state_schema("count") == HUGE_ENUM


def test_with_breaking_the_check_still_runs_bounded_and_reports_its_bound(
    registry: Registry,
) -> None:
    registry.register(V1, cart({"lines": HUGE_ARRAY, "count": HUGE_ENUM}))
    started = time.monotonic()
    result = registry.register(
        V2,
        cart({"lines": {"type": "array", "maxItems": 1}, "count": {"enum": ["v0"]}}),
        breaking=True,
    )
    assert time.monotonic() - started < schemas.CHECK_SECONDS * 2 + 3.0  # a hang, not a target
    (check,) = result.state_checks
    assert [(k.key, k.verdict) for k in check.keys] == [
        ("count", Verdict.UNKNOWN),
        ("lines", Verdict.UNKNOWN),
    ]
    text = str(check)
    assert "more than the 1,000 this check compares" in text
    assert "arrays of at least 1,000,000,000 items" in text


def _ids_of(registry: Registry) -> list[str]:
    return [d.id for d in registry.deployments()]


def test_a_refused_registration_takes_no_id_from_the_generator() -> None:
    """A registration refused for its state draws no id: the registrations after it get the
    ids they would have had without it, so a harness's ids do not shift."""
    refused = Registry(clock=ManualClock(), ids=SequentialIds())
    refused.register(V1, cart({"count": COUNT_V1}))
    with pytest.raises(IncompatibleState) as raised:
        refused.register(V2, cart({"count": COUNT_TEXT}))
    assert raised.value.checks[0].reader_deployment_id == UNASSIGNED
    refused.register(V3, cart({"count": COUNT_WIDER}))
    plain = Registry(clock=ManualClock(), ids=SequentialIds())
    plain.register(V1, cart({"count": COUNT_V1}))
    plain.register(V3, cart({"count": COUNT_WIDER}))
    assert _ids_of(refused) == _ids_of(plain)


def test_a_dry_run_shows_the_id_the_registration_would_get_and_takes_none() -> None:
    """A dry run shows the id the registration would get (what ``SequentialIds`` and a seeded
    ``RandomIds`` give next), and the registration made afterwards gets exactly that id."""
    for ids in (SequentialIds(), RandomIds(seed=7)):
        registry = Registry(clock=ManualClock(), ids=ids)
        registry.register(V1, cart({"count": COUNT_V1}))
        shown = registry.register(V2, cart({"count": COUNT_WIDER}), dry_run=True)
        made = registry.register(V2, cart({"count": COUNT_WIDER}))
        assert shown.deployment.id == made.deployment.id
        assert shown.state_checks[0].reader_deployment_id == made.deployment.id
