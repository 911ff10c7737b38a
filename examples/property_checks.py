"""Check the versioning rules with property-based tests, and add a rule of your own.

``VersioningMachine`` drives a registry through random commands and checks its invariants
after every step. This subclass adds an invariant of its own (a service has one latest
revision, whatever happens) and a command of its own (declaring a dependency up front). Run it
with pytest, or as a script as here.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from restate_versioning.testing.machine import SERVICES, VersioningMachine


class TeamMachine(VersioningMachine):
    @rule(service=st.sampled_from(SERVICES), caller=st.sampled_from(["Greeter/greet", "X/y"]))
    def declare_a_dependency(self, service: str, caller: str) -> None:
        self.attempt(
            f"declare_caller({service}, {caller})",
            lambda: self.registry.declare_caller(service, caller),
        )

    @invariant()
    def a_service_has_one_latest_revision(self) -> None:
        names = [s.name for s in self.registry.services()]
        assert len(names) == len(set(names))


TeamMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=20, deadline=None)
TestTeamMachine = TeamMachine.TestCase


if __name__ == "__main__":
    TestTeamMachine().runTest()
    print("25 random runs of up to 20 steps: every invariant held")
