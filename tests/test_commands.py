"""The values commands take at the boundary: a caller is a :class:`Caller`, where a call resumes
a :class:`ResumeOn` (or a deployment id), and each is what its text always was."""

from __future__ import annotations

import pytest

from restate_versioning import (
    Caller,
    InvalidInvocation,
    InvocationStatus,
    Registry,
    ResumeOn,
    SequentialIds,
)
from restate_versioning.commands import DeclareCaller, Invoke, Resume
from restate_versioning.serialization import command_arguments, command_from_arguments
from restate_versioning.storage import MemoryStorage, StoredRegistry

from .helpers import manifest, service


def test_a_caller_is_written_service_slash_handler_and_parsed_back() -> None:
    caller = Caller.parse("Checkout/pay")
    assert caller == Caller("Checkout", "pay")
    assert str(caller) == "Checkout/pay"
    assert Caller.parse(caller) == caller


@pytest.mark.parametrize("bad", ["Checkout", "/pay", "Check out/pay", "Checkout/", 7, None])
def test_a_caller_that_is_not_service_slash_handler_is_refused_quoting_it(bad: object) -> None:
    with pytest.raises(InvalidInvocation, match="Service/handler") as caught:
        Caller.parse(bad)
    assert repr(bad) in str(caught.value) or str(bad) in str(caught.value)


def test_a_call_from_a_caller_value_records_the_same_caller_as_its_text(
    registry: Registry,
) -> None:
    registry.register("http://v1", manifest(service("Greeter"), service("Checkout")))
    by_value = registry.invoke("Greeter", "greet", caller=Caller("Checkout", "greet"))
    by_text = registry.invoke("Greeter", "greet", caller="Checkout/greet")
    assert by_value.caller == by_text.caller == "Checkout/greet"
    assert registry.callers_of("Greeter") == ("Checkout/greet",)
    registry.declare_caller("Checkout", Caller("Greeter", "greet"))
    assert registry.callers_of("Checkout") == ("Greeter/greet",)
    registry.forget_caller("Checkout", Caller("Greeter", "greet"))
    assert registry.callers_of("Checkout") == ()


def test_a_caller_value_built_badly_is_refused_and_changes_nothing(registry: Registry) -> None:
    registry.register("http://v1", manifest(service("Greeter")))
    changes = registry.changes
    with pytest.raises(InvalidInvocation, match="service='Check out'"):
        registry.invoke("Greeter", "greet", caller=Caller("Check out", "greet"))
    assert registry.changes == changes
    assert registry.callers_of("Greeter") == ()


def test_resume_on_keep_and_latest_are_the_words_resume_always_took(registry: Registry) -> None:
    registry.register("http://v1", manifest(service("Greeter")))
    call = registry.invoke("Greeter", "greet")
    registry.register("http://v2", manifest(service("Greeter")))
    registry.suspend(call.id)
    assert ResumeOn("keep") is ResumeOn.KEEP
    assert ResumeOn("latest") is ResumeOn.LATEST
    assert Resume(call.id) == Resume(call.id, "keep")
    moved = registry.execute(Resume(call.id, ResumeOn.LATEST))
    assert moved.status is InvocationStatus.RUNNING
    assert moved.pinned_deployment_id == registry.service("Greeter").deployment_id


def test_a_journal_keeps_caller_values_and_resume_targets_as_their_text() -> None:
    invoke = Invoke("Greeter", "greet", caller=Caller("Checkout", "pay"))
    assert command_arguments(invoke)["caller"] == "Checkout/pay"
    assert command_arguments(DeclareCaller("Greeter", Caller("A", "b")))["caller"] == "A/b"
    resume = command_arguments(Resume("inv_1", ResumeOn.LATEST))
    assert resume["deployment"] == "latest"
    assert type(resume["deployment"]) is str
    read = command_from_arguments("invoke", command_arguments(invoke), 2)
    assert read == Invoke("Greeter", "greet", caller="Checkout/pay")


def test_a_stored_registry_journals_a_call_from_a_caller_value() -> None:
    stored = StoredRegistry(MemoryStorage(), ids=SequentialIds())
    stored.register("http://v1", manifest(service("Greeter"), service("Checkout")))
    stored.invoke("Greeter", "greet", caller=Caller("Checkout", "greet"))
    assert stored.history()[-1].arguments["caller"] == "Checkout/greet"
    assert stored.registry.callers_of("Greeter") == ("Checkout/greet",)
