"""The public surface is deliberate: the contract names exist, every exported name resolves,
and nothing private leaks."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import restate_versioning

#: The names other tools import (the contract of the versioning core).
CONTRACT = [
    "Registry",
    "EndpointManifest",
    "Deployment",
    "ServiceRevision",
    "Invocation",
    "ServiceType",
    "HandlerType",
    "InvocationStatus",
    "DeploymentStatus",
    "Outcome",
    "VersioningError",
    "InvalidManifest",
    "ServiceTypeChanged",
    "DeploymentNotFound",
    "ServiceNotFound",
    "ServiceNotPublic",
]

PUBLIC_MODULES = sorted(
    name
    for _, name, _ in pkgutil.walk_packages(
        restate_versioning.__path__, restate_versioning.__name__ + "."
    )
    if not any(part.startswith("_") for part in name.split("."))
)


@pytest.mark.parametrize("name", CONTRACT)
def test_the_contract_names_are_exported(name: str) -> None:
    assert name in restate_versioning.__all__
    assert getattr(restate_versioning, name) is not None


@pytest.mark.parametrize("module_name", ["restate_versioning", *PUBLIC_MODULES])
def test_every_public_module_declares_all_and_every_name_resolves(module_name: str) -> None:
    module = importlib.import_module(module_name)
    for name in module.__all__:
        assert not name.startswith("_"), name
        assert hasattr(module, name), name


def test_every_error_derives_from_versioning_error() -> None:
    from restate_versioning import errors

    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, restate_versioning.VersioningError), name


@pytest.mark.parametrize(
    ("member", "value"),
    [
        (restate_versioning.ServiceType.VIRTUAL_OBJECT, "VIRTUAL_OBJECT"),
        (restate_versioning.HandlerType.WORKFLOW, "WORKFLOW"),
        (restate_versioning.InvocationStatus.BACKING_OFF, "backing-off"),
        (restate_versioning.DeploymentStatus.DRAINED, "Drained"),
        (restate_versioning.Outcome.OVERWRITTEN, "OVERWRITTEN"),
    ],
)
def test_enum_members_carry_restates_spelling(member: object, value: str) -> None:
    assert getattr(member, "value") == value  # noqa: B009 - any enum


def test_the_core_imports_no_io_module() -> None:
    """The core is pure: no network, file or database module is imported by it."""
    import subprocess
    import sys

    code = (
        "import sys, restate_versioning, restate_versioning.serialization;"
        "bad = {'socket', 'sqlite3', 'http.client', 'urllib.request', 'asyncio', 'ssl'};"
        "print(sorted(bad & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
