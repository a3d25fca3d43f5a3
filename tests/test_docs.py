"""The documentation keeps up with the command line and stays free of one machine's paths.

Every command of `accord` must be named in README.md or docs/guide.md, so a new command cannot
ship undocumented; the README stays a short front page (the manual is docs/guide.md); and no
page shows a path of the machine it was written on (a reader's machine has no such folders).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

import cli

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
GUIDE = ROOT / "docs" / "guide.md"
README_MAX_LINES = 250
# A path rooted in a scratch or home folder; a URL's path ("https://host/home/") is preceded by
# a word character and does not count.
MACHINE_PATH = re.compile(r"(?<![\w.-])/(?:tmp|root|work|home)/")


def command_names(group: Any, prefix: str = "accord") -> list[str]:
    """`accord NAME` for every command and subcommand of `group`, depth first.

    A group is anything with `commands` (typer's click command classes, vendored or not).
    """
    names = []
    for name, command in sorted(group.commands.items()):
        if command.hidden:
            continue
        full = f"{prefix} {name}"
        names.append(full)
        if getattr(command, "commands", None):
            names.extend(command_names(command, full))
    return names


def doc_pages() -> list[Path]:
    """The pages a user reads: the README, docs/*.md and the benchmarks' README."""
    return [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]


def test_every_command_is_documented() -> None:
    names = command_names(typer.main.get_command(cli.app))
    assert "accord search" in names and "accord watchlist add" in names  # the walk reaches subcommands
    text = README.read_text(encoding="utf-8") + GUIDE.read_text(encoding="utf-8")
    missing = [name for name in names if name not in text]
    assert not missing, f"commands named neither in README.md nor in docs/guide.md: {missing}"


def test_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines < README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/guide.md"


def test_pattern_finds_machine_paths() -> None:
    assert MACHINE_PATH.search("--index /tmp/accord-views/index")
    assert MACHINE_PATH.search("`/work/scratch/x`")
    assert MACHINE_PATH.search("(/home/me/data)")
    assert not MACHINE_PATH.search("https://download.pytorch.org/home/whl")
    assert not MACHINE_PATH.search("--work WORK/pg --index INDEX")


def test_no_machine_paths_in_docs() -> None:
    found = []
    for page in doc_pages():
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
            if MACHINE_PATH.search(line):
                found.append(f"{page.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not found, "machine paths in the docs (use INDEX, DATA, WORK):\n" + "\n".join(found)
