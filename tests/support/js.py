"""Node.js, the npm packages and Debian's Chromium that the end-to-end tests with real JavaScript
clients need (``scripts/e2e-deps.sh`` installs them); a test without them is skipped, saying why."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest

__all__ = ["CHROMIUM", "JS_DIR", "PLAYWRIGHT", "UMD_DIR", "LivePageWatcher", "node_with", "run_script"]

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


class LivePageWatcher:
    """``tests/e2e/js/live-page.mjs`` watching the local stack's live events page in headless
    Chromium: connected once the ``with`` block starts, so what the test then sends is seen;
    ``seen`` hands it what to look for and returns what it saw."""

    def __init__(self, node: str, live_url: str) -> None:
        self._command = [node, str(JS_DIR / "live-page.mjs"), live_url]
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Self:
        process = self._process = subprocess.Popen(  # noqa: S603 - our own script
            self._command,
            cwd=JS_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        assert json.loads(process.stdout.readline() or "{}") == {"connected": True}, process.stderr
        return self

    def seen(self, request: dict[str, Any], timeout: float = 90) -> dict[str, Any]:
        """Tell the page what to look for (``expect``, ``open``, ``filter``); what it saw, once it
        exited 0."""
        assert self._process is not None
        out, err = self._process.communicate(json.dumps(request), timeout=timeout)
        assert self._process.returncode == 0, err
        result: dict[str, Any] = json.loads(out)
        return result

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._process is not None:
            self._process.kill()
