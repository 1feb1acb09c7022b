"""The layer's package shows the pipeline: ``edge.core`` shared, ``edge.ingest``, ``edge.forward``
and ``edge.archive`` each one function's side, imports flowing one way only."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "edge" / "edge"
#: What each part of the package may import of the package.
ALLOWED = {
    "core": {"core"},
    "ingest": {"core", "ingest"},
    "forward": {"core", "forward"},
    "archive": {"core", "archive"},
}


def _edge_imports(path: Path) -> set[str]:
    """The ``edge.*`` modules a file imports, at the top or inside functions, typing included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("edge.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "edge":
                found |= {f"edge.{alias.name}" for alias in node.names}
            elif node.module.startswith("edge."):
                found.add(node.module)
    return found


def test_every_module_sits_in_one_of_the_parts():
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert loose == []
    assert sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__") == sorted(
        ALLOWED
    )


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_imports_flow_downward_only(part: str):
    crossing = {
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in sorted((PACKAGE / part).glob("*.py"))
        for name in _edge_imports(path)
        if name.split(".")[1] not in ALLOWED[part]
    }
    assert crossing == set()


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_each_part_says_what_it_owns(part: str):
    docstring = ast.get_docstring(ast.parse((PACKAGE / part / "__init__.py").read_text()))
    assert docstring
    # A package's __init__ imports nothing: a function loads only its own side.
    tree = ast.parse((PACKAGE / part / "__init__.py").read_text())
    assert not [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]


@pytest.mark.parametrize(
    ("function", "other"),
    [("forward", "ingest"), ("ingest", "forward"), ("archive", "ingest"), ("archive", "forward")],
)
def test_a_function_loads_nothing_of_the_other_side(function: str, other: str):
    """Each handler, loaded as Lambda loads it, imports no module of the other function's side."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "layers" / "edge"),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "EDGE_SECRET_ID": "edge/secret",
        "EVENTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/events",
        "QUARANTINE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/quarantine",
        "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/dlq",
        "BOT_POLICY": "keep",
        "ARCHIVE_BUCKET_NAME": "archive",
    }
    program = (
        "import json, sys, app; print(json.dumps(sorted(m for m in sys.modules if m.startswith('edge'))))"
    )
    loaded = subprocess.run(  # noqa: S603 - this interpreter, a fixed program
        [sys.executable, "-c", program],
        cwd=ROOT / "functions" / function,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    modules = json.loads(loaded.stdout)
    assert f"edge.{function}.wiring" in modules
    assert [name for name in modules if name.startswith(f"edge.{other}")] == []
