"""The Makefile as the docs show it: every `make …` in README.md and docs/ runs a target with
variables its recipe reads, every target is documented, `make help` lists each with its variables,
and a target missing a variable it needs stops at once, naming it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from support.makefile import Makefile
from support.markdown import make_commands

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MAKEFILE = Makefile(ROOT / "Makefile")
# What each target cannot run without, and so stops without before anything else happens.
REQUIRED = {
    "invoke": {"FUNCTION", "EVENT"},
    "capacity": {"RPS"},
    "tail": {"STACK"},
    "redrive": {"STACK"},
    "quarantine": {"STACK"},
    "plan-report": {"STACK"},
    "prune-versions": {"STACK"},
    "replay": {"STACK", "FROM", "TO"},
    "replay-local": {"FROM", "TO"},
}


def _make(*args: str) -> subprocess.CompletedProcess[str]:
    """``make`` in the repository, without variables the calling shell or a parent make set."""
    make = shutil.which("make")
    assert make is not None
    passed = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"} | {v for names in REQUIRED.values() for v in names}
    env = {name: value for name, value in os.environ.items() if name not in passed}
    return subprocess.run(  # noqa: S603 - make, with the test's own arguments
        [make, "--no-print-directory", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


def _help() -> dict[str, list[str]]:
    """`make help`'s lines per target: its description first, then its usage lines."""
    entries: dict[str, list[str]] = {}
    target = ""
    for line in _make("help").stdout.splitlines():
        if entry := re.match(r"^  (\S+)\s+(.*)$", line):
            target = entry.group(1)
            entries[target] = [entry.group(2)]
        elif line.startswith("   ") and target:
            entries[target].append(line.strip())
    return entries


def test_every_make_command_in_the_docs_runs_a_target_with_variables_it_reads() -> None:
    wrong = []
    for doc in DOCS:
        for command in make_commands(doc.read_text()):
            for target in command.targets or [MAKEFILE.default_goal]:
                if target not in MAKEFILE.targets:
                    wrong.append(f"{doc.name}: `{command.shown}`: no target {target!r}")
                    continue
                unread = set(command.variables) - MAKEFILE.accepts(target)
                if unread:
                    wrong.append(f"{doc.name}: `{command.shown}`: {target} reads no {sorted(unread)}")
    assert not wrong, "\n".join(wrong)


def test_every_target_is_shown_in_the_readme_or_the_docs() -> None:
    shown = {target for doc in DOCS for c in make_commands(doc.read_text()) for target in c.targets}
    assert set(MAKEFILE.targets) - shown == set()


def test_every_target_is_phony_and_says_what_it_does() -> None:
    assert set(MAKEFILE.targets) == MAKEFILE.phony
    assert [name for name, target in MAKEFILE.targets.items() if not target.description] == []


def test_make_help_lists_every_target_with_its_description_and_variables() -> None:
    entries = _help()
    assert set(entries) == set(MAKEFILE.targets)
    for name, target in MAKEFILE.targets.items():
        description, *usage = entries[name]
        assert description == target.description[0].strip(), name
        assert all(line.startswith(f"make {name}") for line in usage), name
        for variable in MAKEFILE.reads(name):
            assert f"{variable}=" in " ".join(usage), f"`make help` shows no {variable}= for {name}"


def test_make_alone_prints_the_help() -> None:
    assert MAKEFILE.default_goal == "help"
    assert _make().stdout == _make("help").stdout


def test_the_targets_that_need_a_variable_are_those_that_stop_without_it() -> None:
    assert {name: t.required for name, t in MAKEFILE.targets.items() if t.required} == REQUIRED


@pytest.mark.parametrize(
    ("target", "missing"), sorted((target, v) for target, names in REQUIRED.items() for v in names)
)
def test_a_target_without_a_variable_it_needs_stops_at_once_naming_it(target: str, missing: str) -> None:
    given = [f"{v}=x" for v in sorted(REQUIRED[target] - {missing})]
    result = _make("-n", target, *given)
    assert result.returncode != 0
    assert result.stdout == ""  # nothing would have run, nothing installed
    # The variable named, and a complete command to copy.
    assert re.search(rf"\b{missing} is required: make {target} .*\b{missing}=\S", result.stderr)


@pytest.mark.parametrize("target", sorted(REQUIRED))
def test_with_its_variables_a_target_runs_them_into_its_command(target: str) -> None:
    result = _make("-n", target, *(f"{v}=given-{v.lower()}" for v in sorted(REQUIRED[target])))
    assert result.returncode == 0, result.stderr
    for variable in REQUIRED[target]:
        assert f"given-{variable.lower()}" in result.stdout
