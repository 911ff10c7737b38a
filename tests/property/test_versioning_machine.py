"""The shipped ``VersioningMachine`` on the library's own registry: thousands of random steps,
every invariant checked after each."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

from restate_versioning.testing.machine import VersioningMachine

VersioningMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestVersioningMachine = VersioningMachine.TestCase
