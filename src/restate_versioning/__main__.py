"""``python -m restate_versioning``: the ``restate-versioning`` command line (the ``cli``
extra: click)."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    """Run the command line, or say in one line how to install it."""
    try:
        from .cli import main as run
    except ImportError as exc:  # click is in the cli extra, not in the core
        sys.exit(
            f"error: the command line needs click ({exc}): pip install 'restate-versioning[cli]'"
        )
    run()


if __name__ == "__main__":
    main()
