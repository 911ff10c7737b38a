"""docs/rules.md is the one home of the rules: everything in the repository cites its sections,
and every section cited is there.

A citation names a section by its title, as ``(docs/rules.md, "Registering")`` (the title may
be broken over lines in a docstring), or links to it, as ``docs/rules.md#registering`` (the
anchor GitHub makes of the title: lower case, punctuation dropped, spaces made hyphens).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
RULES = ROOT / "docs" / "rules.md"

#: Where code, tests and documentation live.
SCANNED = ("src", "tests", "examples", "benchmarks", "docs", "README.md")

#: Files that are read as text.
TEXT_SUFFIXES = frozenset({".py", ".md", ".json", ".txt", ".toml", ".cfg", ".sql", ".yaml", ".yml"})

#: What a citation of a document outside the repository looks like (spelled so that this file
#: does not match it itself).
OUTSIDE = re.compile("RESTATE" + "_RULES|\u00a7")

TITLED = re.compile(r'\(docs/rules\.md,\s+"([^"]+)"\)')
ANCHORED = re.compile(r"docs/rules\.md#([\w-]+)")
HEADING = re.compile(r"^#{2,6} (.+?)\s*$", re.MULTILINE)
LOCAL_LINK = re.compile(r"\]\(#([\w-]+)\)")


def scanned_files() -> Iterator[Path]:
    """Every text file of the repository's code, tests and documentation (build output aside)."""
    for name in SCANNED:
        top = ROOT / name
        paths = [top] if top.is_file() else sorted(top.rglob("*"))
        for path in paths:
            parts = path.relative_to(ROOT).parts
            if any(p == "__pycache__" or p.endswith(".egg-info") for p in parts):
                continue
            if path.is_file() and path.suffix in TEXT_SUFFIXES:
                yield path


def anchor(title: str) -> str:
    """The anchor GitHub makes of a heading."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def titles() -> set[str]:
    return {m.group(1).replace("`", "") for m in HEADING.finditer(RULES.read_text("utf-8"))}


def cited_titles() -> list[tuple[str, str]]:
    found = []
    for path in scanned_files():
        for m in TITLED.finditer(path.read_text("utf-8")):
            title = " ".join(m.group(1).split())
            found.append((str(path.relative_to(ROOT)), title))
    return found


def cited_anchors() -> list[tuple[str, str]]:
    found = []
    for path in scanned_files():
        text = path.read_text("utf-8")
        found += [(str(path.relative_to(ROOT)), a) for a in ANCHORED.findall(text)]
    return found


def test_nothing_cites_a_rules_document_outside_the_repository() -> None:
    offending = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in scanned_files()
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert offending == []


def test_the_source_and_the_tests_cite_docs_rules_by_section() -> None:
    citing = {path.split("/")[0] for path, _ in cited_titles()}
    assert {"src", "tests"} <= citing


@pytest.mark.parametrize(("path", "title"), cited_titles())
def test_every_section_cited_by_title_exists(path: str, title: str) -> None:
    assert title in titles(), f"{path} cites a section docs/rules.md does not have: {title!r}"


@pytest.mark.parametrize(("path", "target"), cited_anchors())
def test_every_section_linked_by_anchor_exists(path: str, target: str) -> None:
    anchors = {anchor(t) for t in titles()}
    assert target in anchors, f"{path} links to #{target}, which docs/rules.md does not have"


def test_the_table_of_contents_lists_every_section_and_only_those() -> None:
    text = RULES.read_text("utf-8")
    sections = [m.group(1) for m in re.finditer(r"^## (.+?)\s*$", text, re.MULTILINE)]
    assert LOCAL_LINK.findall(text) == [anchor(t) for t in sections]


def test_every_section_names_its_module_and_its_tests() -> None:
    text = RULES.read_text("utf-8")
    bodies = re.split(r"^## ", text, flags=re.MULTILINE)[1:]
    lacking = [b.split("\n", 1)[0] for b in bodies if "Module:" not in b or "Tests:" not in b]
    assert lacking == []
