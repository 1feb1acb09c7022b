"""The Makefile as the docs tests read it: its targets, their ``##`` descriptions, and the variables
each recipe reads.

A variable a recipe reads (``$(STACK)``, ``$(or $(KEEP),0)``) that the Makefile never assigns
at its top level is one the user passes: ``make tail STACK=…``. Variables the Makefile assigns
itself (``BIN``, ``SAM``…) and make's own (``CURDIR``, ``MAKEFILE_LIST``…) are not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Makefile", "Target"]

_RULE = re.compile(r"^([A-Za-z0-9_.-]+)\s*:(?!=)\s*(.*)$")
_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(?::|::|\?|\+)?=")
_TARGET_VARIABLE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(?::|::|\?|\+)?=(.*)$")
_READ = re.compile(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
_DEFAULT_GOAL = re.compile(r"^\.DEFAULT_GOAL\s*:?=\s*(\S+)")
_REQUIRE = re.compile(r"^\$\(call require,([^,]+),([^,]+),")
_MAKE_OWN = frozenset({"CURDIR", "MAKE", "MAKEFILE_LIST", "MAKECMDGOALS", "MAKEFLAGS"})


@dataclass
class Target:
    name: str
    description: list[str] = field(default_factory=list)
    """The ``##`` lines above the rule, without the ``## ``."""
    prerequisites: list[str] = field(default_factory=list)
    recipe: list[str] = field(default_factory=list)
    own_variables: dict[str, str] = field(default_factory=dict)
    """Target-specific variables (``test: AUDIT_FLAGS := …``)."""
    required: set[str] = field(default_factory=set)
    """Variables the Makefile stops without when this target is asked for (``$(call require,…)``)."""


class Makefile:
    def __init__(self, path: Path) -> None:
        self.targets: dict[str, Target] = {}
        self.assigned: set[str] = set()
        self.phony: set[str] = set()
        self.default_goal = ""
        self._comment: list[str] = []
        current: Target | None = None
        for line in path.read_text().replace("\\\n", " ").splitlines():
            if line.startswith("\t"):
                if current is not None:
                    current.recipe.append(line.strip())
            elif line.startswith("##"):
                self._comment.append(line[3:])
            elif _REQUIRE.match(line):
                self._require(line)
            else:
                current = self._rule(line)

    def _require(self, line: str) -> None:
        """``$(call require,TARGETS,VARIABLE,…)``; a description above it belongs to the rule below."""
        required = _REQUIRE.match(line)
        assert required is not None
        targets, variable = required.groups()
        for name in targets.split():
            self._target(name).required.add(variable.strip())

    def _rule(self, line: str) -> Target | None:
        """Read a rule, a target-specific variable or a top-level assignment; the rule whose
        recipe follows, if any."""
        comment, self._comment = self._comment, []
        if goal := _DEFAULT_GOAL.match(line):
            self.default_goal = goal.group(1)
        if assignment := _ASSIGNMENT.match(line):
            self.assigned.add(assignment.group(1))
        rule = _RULE.match(line)
        if rule is None:
            return None
        name, rest = rule.groups()
        if name == ".PHONY":
            self.phony |= set(rest.split())
            return None
        target = self._target(name)
        target.description = comment or target.description
        if variable := _TARGET_VARIABLE.match(rest):
            target.own_variables[variable.group(1)] = variable.group(2).strip()
            return None
        target.prerequisites += rest.split()
        return target

    def _target(self, name: str) -> Target:
        return self.targets.setdefault(name, Target(name))

    def reads(self, name: str) -> set[str]:
        """The variables a user may pass to this target: those its recipe reads (and its own
        variables' values), less those the Makefile assigns."""
        target = self.targets[name]
        text = " ".join([*target.recipe, *target.own_variables.values()])
        return set(_READ.findall(text)) - self.assigned - _MAKE_OWN - set(target.own_variables)

    def accepts(self, name: str) -> set[str]:
        """The variables that change what ``make <name>`` does: its own and its prerequisites'
        (a prerequisite's own settings for this target excepted)."""
        accepted = self.reads(name)
        for prerequisite in self.targets[name].prerequisites:
            if prerequisite in self.targets:
                accepted |= self.accepts(prerequisite)
        return accepted - set(self.targets[name].own_variables)
