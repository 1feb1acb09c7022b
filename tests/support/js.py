"""Node.js, the npm packages and Debian's Chromium that the end-to-end tests with real JavaScript
clients need (``scripts/e2e-deps.sh`` installs them); a test without them is skipped, saying why."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

__all__ = ["CHROMIUM", "JS_DIR", "PLAYWRIGHT", "UMD_DIR", "node_with"]

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
