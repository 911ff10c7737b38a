"""Names keep their old import paths when they move to the layer that owns them (see the
import-linter contracts in ``pyproject.toml``): each old path gives the very same object."""

from __future__ import annotations

import importlib

import pytest

import restate_versioning

MOVED = [
    # (old module, name, home)
    ("restate_versioning.errors", "IncompatibleState", "restate_versioning.rules.state"),
    ("restate_versioning.errors", "RemovalBlocked", "restate_versioning.rules.removal"),
    ("restate_versioning.model", "Registration", "restate_versioning.rules.registration"),
    ("restate_versioning.model", "RevisionChange", "restate_versioning.rules.registration"),
    ("restate_versioning.model", "StateCheck", "restate_versioning.rules.state"),
    ("restate_versioning.model", "StateKeyCheck", "restate_versioning.rules.state"),
    ("restate_versioning.manifest", "ServiceType", "restate_versioning.enums"),
    ("restate_versioning.manifest", "HandlerType", "restate_versioning.enums"),
    ("restate_versioning.manifest", "ProtocolMode", "restate_versioning.enums"),
    ("restate_versioning.model", "InvocationStatus", "restate_versioning.enums"),
    ("restate_versioning.model", "DeploymentStatus", "restate_versioning.enums"),
    ("restate_versioning.model", "Outcome", "restate_versioning.enums"),
    ("restate_versioning.model", "OnMaxAttempts", "restate_versioning.enums"),
    ("restate_versioning.schemas", "Verdict", "restate_versioning.enums"),
    ("restate_versioning.rules.removal", "BlockerKind", "restate_versioning.enums"),
    ("restate_versioning.rules.removal", "EffectKind", "restate_versioning.enums"),
    ("restate_versioning.endpoints", "EndpointKind", "restate_versioning.enums"),
]


@pytest.mark.parametrize(("old", "name", "home"), MOVED)
def test_a_moved_name_is_the_same_object_from_its_old_path(old: str, name: str, home: str) -> None:
    moved = getattr(importlib.import_module(home), name)
    assert getattr(importlib.import_module(old), name) is moved
    if name in restate_versioning.__all__:
        assert getattr(restate_versioning, name) is moved


def test_an_unknown_name_of_a_module_that_forwards_names_is_an_attribute_error() -> None:
    for module in ("restate_versioning.errors", "restate_versioning.model"):
        with pytest.raises(AttributeError, match="no attribute 'Nope'"):
            getattr(importlib.import_module(module), "Nope")  # noqa: B009
