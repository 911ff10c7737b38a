"""``Registry.execute`` of a command value and the command's method agree: the same result,
or the same refusal, and the same state after, over random sequences of commands."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
from hypothesis import given, settings

from restate_versioning import ManualClock, Registry, SequentialIds, VersioningError
from restate_versioning.commands import COMMANDS
from restate_versioning.testing.strategies import Step, command_of, steps


def _outcome(run: Any) -> tuple[str, Any]:
    try:
        return "result", run()
    except VersioningError as exc:
        return type(exc).__name__, str(exc)


def _registry() -> Registry:
    return Registry(clock=ManualClock(datetime(2026, 1, 1, tzinfo=UTC)), ids=SequentialIds())


@settings(max_examples=150, deadline=None)
@given(steps(max_size=25))
def test_execute_and_the_methods_agree_on_every_command(history: list[Step]) -> None:
    by_method, by_value = _registry(), _registry()
    for step in history:
        command = command_of(by_method, step)
        if command is None:
            continue
        assert command == command_of(by_value, step)
        fields = {f.name: getattr(command, f.name) for f in attrs.fields(type(command))}
        method = getattr(by_method, type(command).method)
        assert _outcome(lambda: method(**fields)) == _outcome(  # noqa: B023
            lambda: by_value.execute(command)  # noqa: B023
        ), step
        assert by_method.snapshot() == by_value.snapshot(), step


def test_every_command_is_named_after_its_method_and_takes_its_parameters() -> None:
    import inspect

    for name, command in COMMANDS.items():
        assert command.method == name
        assert command.__name__ == "".join(part.title() for part in name.split("_"))
        parameters = list(inspect.signature(getattr(Registry, name)).parameters)[1:]
        assert [f.name for f in attrs.fields(command)] == parameters, name


def test_anything_but_a_command_is_refused_and_changes_nothing() -> None:
    import pytest

    from restate_versioning import InvalidCommand
    from restate_versioning.storage import MemoryStorage, StoredRegistry

    registry = _registry()
    before = registry.snapshot()
    with pytest.raises(InvalidCommand, match="not 'invoke'"):
        registry.execute("invoke")  # type: ignore[arg-type]
    assert registry.snapshot() == before
    stored = StoredRegistry(MemoryStorage())
    with pytest.raises(InvalidCommand, match="not 'invoke'"):
        stored.execute("invoke")  # type: ignore[arg-type]
    assert stored.registry.snapshot() == before
    assert stored.history() == ()
