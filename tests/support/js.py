"""Node.js, the npm packages and Debian's Chromium that the end-to-end tests with real JavaScript
clients need (``scripts/e2e-deps.sh`` installs them); a test without them is skipped, saying why."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CHROMIUM", "JS_DIR", "PLAYWRIGHT", "UMD_DIR", "node_with", "run_script"]

JS_DIR = Path(__file__).resolve().parents[1] / "e2e" / "js"
UMD_DIR = JS_DIR / "node_modules" / "@segment" / "analytics-next" / "dist" / "umd"
PLAYWRIGHT = JS_DIR / "node_modules" / "playwright-core"
CHROMIUM = Path("/usr/bin/chromium")


def node_with(*needed: Path) -> str:
    """The ``node`` executable, once every path in ``needed`` exists; else the test is skipped."""
    path = shutil.which("node")
    if path is None:
        pytest.skip("node is not installed (scripts/e2e-deps.sh needs Node.js >= 20)")
    for each in needed:
        if not each.exists():
            hint = " (apt-get install chromium)" if each == CHROMIUM else ""
            pytest.skip(f"{each} is missing: run scripts/e2e-deps.sh{hint}")
    return path


def run_script(node: str, script: str, *args: str, calls: Any = None, timeout: float = 60) -> dict[str, Any]:
    """Run ``tests/e2e/js/<script>`` with ``args`` (and ``calls`` as JSON on its input); the JSON
    object it prints, once it exited 0."""
    done = subprocess.run(  # noqa: S603 - our own script
        [node, str(JS_DIR / script), *args],
        input=None if calls is None else json.dumps(calls),
        capture_output=True,
        text=True,
        cwd=JS_DIR,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{script} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result
