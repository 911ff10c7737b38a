"""The parts a registry is made of keep their own state and check themselves."""

from __future__ import annotations

from restate_versioning.parts import CallGraph


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
