"""Prints, when the session finishes, what each fuzzed surface tried and what came of it."""

from __future__ import annotations

import pytest

from . import _tally


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = _tally.report()
    if lines:
        terminalreporter.write_sep("=", "fuzzed surfaces")
        for line in lines:
            terminalreporter.write_line(line)
