"""The parts a registry is made of keep their own state and check themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from restate_versioning import InvocationStatus, Registry
from restate_versioning.endpoints import parse_endpoint
from restate_versioning.parts import CallGraph, Catalogue, InvocationIndex, KeyQueues
from restate_versioning.rules.catalogue import CatalogueView

from .helpers import manifest, service


def test_a_call_graph_keeps_recorded_and_declared_callers_and_forgets_either() -> None:
    graph = CallGraph()
    graph.record("Greeter", "Ticket/reserve")
    graph.record("Greeter", "Ticket/reserve")
    graph.declare("Greeter", "Signup/run")
    assert graph.callers_of("Greeter") == ("Signup/run", "Ticket/reserve")
    assert graph.recorded() == (("Greeter", "Ticket/reserve", 2),)
    assert graph.declared() == (("Greeter", "Signup/run"),)
    assert graph.knows("Greeter", "Signup/run")
    assert not graph.knows("Greeter", "Nope/x")
    graph.forget("Greeter", "Ticket/reserve")
    graph.forget("Greeter", "Signup/run")
    assert graph.callers_of("Greeter") == ()
    assert graph.recorded() == ()
    assert graph.declared() == ()
    assert graph.problems() == ()


def test_a_call_graph_built_from_a_snapshot_says_what_is_wrong_with_it() -> None:
    graph = CallGraph.build([("Greeter", "Ticket/reserve", 0)], [])
    assert graph.problems() == ("callers: 'Ticket/reserve' of 'Greeter' is recorded 0 times",)
    rebuilt = CallGraph.build(graph.recorded(), graph.declared())
    assert rebuilt.recorded() == graph.recorded()


def test_a_catalogue_keeps_the_highest_revision_latest_and_falls_back_when_it_goes(
    registry: Registry,
) -> None:
    v1 = registry.register("http://v1", manifest(service("Greeter"))).deployment
    v2 = registry.register("http://v2", manifest(service("Greeter"))).deployment
    catalogue = Catalogue.build([v1, v2], [])
    assert catalogue.latest["Greeter"].deployment_id == v2.id
    assert [r.revision for r in catalogue.history("Greeter")] == [2, 1]
    assert catalogue.fallback("Greeter", v2.id) == v1.services["Greeter"]
    assert catalogue.latest_held(v1.id) == 0
    catalogue.drop(v2)
    assert catalogue.latest["Greeter"] == v1.services["Greeter"]
    assert catalogue.latest_held(v1.id) == 1
    assert catalogue.was_removed(v2.id)
    assert catalogue.knows(v2.id)
    assert catalogue.at(parse_endpoint("http://v2").key) is None
    assert catalogue.problems() == ()


def test_a_catalogue_is_a_read_only_view_for_the_planners(registry: Registry) -> None:
    v1 = registry.register("http://v1", manifest(service("Greeter"))).deployment
    catalogue: CatalogueView = Catalogue.build([v1], [])
    with pytest.raises(TypeError):
        catalogue.latest["Greeter"] = v1.services["Greeter"]  # type: ignore[index]


def test_a_catalogue_says_where_its_indexes_differ_from_its_deployments(
    registry: Registry,
) -> None:
    v1 = registry.register("http://v1", manifest(service("Greeter"))).deployment
    catalogue = Catalogue.build([v1], [])
    catalogue._held[v1.id] = 0  # corrupted on purpose
    (problem,) = catalogue.problems()
    assert problem.startswith("latest revisions held: recounted")


def test_an_invocation_index_moves_a_call_between_its_entries(registry: Registry) -> None:
    registry.register("http://v1", manifest(service("Greeter")))
    started = registry.invoke("Greeter", "greet")
    index = InvocationIndex.build([started], [(started.pinned_deployment_id or "", [started.id])])
    assert index.counts() == {("Greeter", "greet", InvocationStatus.RUNNING): 1}
    assert list(index.active_of("Greeter", "greet")) == [started.id]
    completed = registry.complete(started.id)
    index.move(started, completed)
    assert index.counts() == {}
    assert list(index.pinned_to(started.pinned_deployment_id or "")) == []
    assert index.get(started.id) == completed
    assert index.problems() == ()
    assert index.pinned() == ()


def test_key_queues_give_a_freed_key_to_the_first_call_waiting() -> None:
    queues = KeyQueues()
    lock = ("Cart", "k")
    queues.take(lock, "inv_a")
    queues.wait(lock, "inv_b")
    queues.wait(lock, "inv_c")
    assert queues.next_turn(lock) is None  # held: nobody's turn
    assert not queues.free(lock, "inv_b")  # only the holder frees it
    assert queues.free(lock, "inv_a")
    assert queues.next_turn(lock) == "inv_b"
    queues.leave(lock, "inv_c")
    assert queues.inboxes() == ()
    assert queues.problems() == ()


def test_key_queues_let_delayed_calls_fall_due_in_due_order_then_sent_order() -> None:
    queues = KeyQueues()
    at = datetime(2026, 1, 1, tzinfo=UTC)
    queues.schedule(at + timedelta(seconds=2), "inv_late")
    queues.schedule(at + timedelta(seconds=1), "inv_first")
    queues.schedule(at + timedelta(seconds=1), "inv_second")
    assert list(queues.fall_due(at + timedelta(seconds=1))) == ["inv_first", "inv_second"]
    assert list(queues.fall_due(at + timedelta(seconds=5))) == ["inv_late"]
    assert queues.problems() == ()
