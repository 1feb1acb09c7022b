"""The docs as the docs tests read them: sections, tables, code spans and the `make` commands shown.

Just enough of GitHub's Markdown for README.md and docs/*.md: ATX headings, pipe tables, fenced
code blocks and inline code. Fenced blocks are set aside first, so a ``# comment`` in a shell
example is never taken for a heading.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "MakeCommand",
    "code_blocks",
    "code_spans",
    "headings",
    "make_commands",
    "section",
    "table",
    "tables",
]

_FENCE = re.compile(r"^\s*```")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*$")
_SPAN = re.compile(r"`([^`]+)`")
_SEPARATORS = frozenset({"&&", "||", ";", "|", "(", ")"})


def _lines(text: str) -> Iterator[tuple[str, bool]]:
    """Each line with whether it is inside a fenced code block (the fences count as inside)."""
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            yield line, True
        else:
            yield line, fenced


def _prose(text: str) -> str:
    """The text with its fenced code blocks blanked out."""
    return "\n".join("" if fenced else line for line, fenced in _lines(text))


def section(text: str, title: str) -> str:
    """The text under the one heading titled ``title`` (or ``title`` followed by more, as in
    ``Template parameters (`template.yaml`)``), up to the next heading of its level or above."""
    found: list[str] = []
    level = 0
    matches = 0
    for line, fenced in _lines(text):
        heading = None if fenced else _HEADING.match(line)
        if heading and level and len(heading.group(1)) <= level:
            level = 0
        if heading and (heading.group(2) == title or heading.group(2).startswith(f"{title} ")):
            level, matches = len(heading.group(1)), matches + 1
            continue
        if level:
            found.append(line)
    if matches != 1:
        raise LookupError(f"{matches} headings titled {title!r}")
    return "\n".join(found)


def headings(text: str) -> list[str]:
    """Every heading's title, in order."""
    return [m.group(2) for line, fenced in _lines(text) if not fenced and (m := _HEADING.match(line))]


def _cells(row: str) -> list[str]:
    """A table row's cells; a ``|`` inside inline code does not split."""
    cells, cell, in_code = [], "", False
    for char in row.strip().strip("|"):
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append(cell.strip())
            cell = ""
        else:
            cell += char
    return [*cells, cell.strip()]


def tables(text: str) -> list[list[dict[str, str]]]:
    """Every pipe table outside code blocks, each a list of rows keyed by the header's cells."""
    found: list[list[dict[str, str]]] = []
    lines = _prose(text).splitlines()
    for i in range(len(lines) - 1):
        starts = lines[i].startswith("|") and (i == 0 or not lines[i - 1].startswith("|"))
        if starts and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[i + 1].strip()):
            header = _cells(lines[i])
            rows = []
            for line in lines[i + 2 :]:
                if not line.startswith("|"):
                    break
                rows.append(dict(zip(header, _cells(line), strict=True)))
            found.append(rows)
    return found


def table(text: str, title: str) -> list[dict[str, str]]:
    """The first table of the section ``title``."""
    found = tables(section(text, title))
    if not found:
        raise LookupError(f"no table under {title!r}")
    return found[0]


def code_spans(text: str) -> list[str]:
    """Every inline code span outside fenced blocks (a span may run over a line break)."""
    return [" ".join(span.split()) for span in _SPAN.findall(_prose(text))]


def code_blocks(text: str) -> list[str]:
    """Every fenced code block's content, backslash-continued lines joined."""
    blocks: list[str] = []
    current: list[str] | None = None
    for line, fenced in _lines(text):
        if _FENCE.match(line):
            if current is None:
                current = []
            else:
                blocks.append("\n".join(current).replace("\\\n", " "))
                current = None
        elif fenced and current is not None:
            current.append(line)
    return blocks


@dataclass(frozen=True)
class MakeCommand:
    """One ``make`` invocation shown in the docs: its goals and the variables it sets."""

    shown: str
    targets: tuple[str, ...]
    variables: tuple[str, ...]


def _words(shell: str) -> list[str]:
    shell = re.sub(r"(^|\s)#.*", "", shell)  # a shell comment, not a `#` inside a word
    lexer = shlex.shlex(shell, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError:  # an unbalanced quote in a cut-off example: words are enough
        return shell.split()


def _commands(shell: str) -> Iterator[MakeCommand]:
    words = _words(shell)
    for start, word in enumerate(words):
        if word != "make":
            continue
        targets: list[str] = []
        variables: list[str] = []
        for shown in words[start + 1 :]:
            if shown in _SEPARATORS:
                break
            arg = shown.strip("[]")  # an optional one, as in `make load [FAULTS=1]`
            if "=" in arg:
                variables.append(arg.split("=", 1)[0])
            elif arg and not arg.startswith("-"):
                targets.append(arg)
        yield MakeCommand(shell.strip(), tuple(targets), tuple(variables))


def make_commands(text: str) -> list[MakeCommand]:
    """Every ``make …`` in the text's code: each line of a fenced block and each inline span."""
    commands = [c for block in code_blocks(text) for line in block.splitlines() for c in _commands(line)]
    return commands + [c for span in code_spans(text) for c in _commands(span)]
