"""The shipped ``VersioningMachine``, extended as a user would: a subclass that adds rules
(callers) and invariants (one exclusive call per key, views render, plans survive a reload).
Together with the machine's own invariants, thousands of random steps in every run."""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from restate_versioning import HandlerType, views
from restate_versioning.serialization import dumps, loads
from restate_versioning.testing.machine import SERVICES, VersioningMachine

CALLERS = ["Greeter/greet", "Ticket/reserve", "Other/x"]


class RegistryMachine(VersioningMachine):
    @rule(service=st.sampled_from(SERVICES), caller=st.sampled_from(CALLERS), forget=st.booleans())
    def callers(self, service: str, caller: str, forget: bool) -> None:
        if forget:
            self.attempt(
                f"forget_caller({service}, {caller})",
                lambda: self.registry.forget_caller(service, caller),
            )
        else:
            self.attempt(
                f"declare_caller({service}, {caller})",
                lambda: self.registry.declare_caller(service, caller),
            )

    @invariant()
    def one_exclusive_call_per_key_is_in_flight(self) -> None:
        in_flight: Counter[tuple[str, str]] = Counter()
        for invocation in self.registry.invocations():
            if invocation.key is None or not invocation.status.is_in_flight:
                continue
            deployment = next(
                (d for d in self.registry.deployments() if d.id == invocation.pinned_deployment_id),
                None,
            )
            revision = deployment.services.get(invocation.service) if deployment else None
            found = revision.handlers.get(invocation.handler) if revision else None
            if found is not None and found.type is HandlerType.EXCLUSIVE:
                in_flight[(invocation.service, invocation.key)] += 1
        assert all(n == 1 for n in in_flight.values()), in_flight

    @invariant()
    def plans_read_the_same_after_a_reload(self) -> None:
        reloaded = loads(dumps(self.registry))
        for deployment in self.registry.deployments():
            assert reloaded.removal_plan(deployment.id) == self.registry.removal_plan(deployment.id)

    @invariant()
    def views_render(self) -> None:
        views.render_services_list(views.services_list(self.registry))
        views.render_deployments_list(views.deployments_list(self.registry))
        views.render_services_status(views.services_status(self.registry))
        views.render_active_keys(views.active_keys(self.registry))
        for deployment in self.registry.deployments():
            views.render_deployment_description(
                views.describe_deployment(self.registry, deployment.id)
            )
            views.render_removal_plan(self.registry.removal_plan(deployment.id))


RegistryMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestRegistryMachine = RegistryMachine.TestCase
