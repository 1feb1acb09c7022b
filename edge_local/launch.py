"""Start ``python -m edge_local`` as a subprocess on free ports, and learn where it listens.

The end-to-end tests, ``make bench`` and ``make load`` all start the stack this way. The stack
writes its endpoints to ``LOCAL_STATE_FILE`` once it is ready, so nothing parses its console.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from edge_local.template import FIRST_PARTY_VARIABLES, PLAN_VARIABLES, PRIVACY_VARIABLES, ROOT

#: Variables (by prefix) that in-process tests, benchmarks or a developer's shell may carry and
#: that would change what the stack does: a launched stack gets only what ``env`` says.
NOT_INHERITED = (
    "AWS_",
    "METAROUTER_",
    "EDGE_",
    "POWERTOOLS_",
    "EVENTS_QUEUE_URL",
    "QUARANTINE_QUEUE_URL",
    "DEAD_LETTER_QUEUE_URL",
    "IP_POLICY",
    "ALLOWED_ORIGINS",
    *PRIVACY_VARIABLES,
    *FIRST_PARTY_VARIABLES,
    *PLAN_VARIABLES,
    "PATH_PREFIX",
    "LOCAL_STATIC_DIR",
)


@dataclass(frozen=True)
class Endpoints:
    """Where a running stack's parts listen."""

    api: str
    aws: str
    upstream: str
    events_queue_url: str
    dead_letter_queue_url: str
    quarantine_queue_url: str
    live: str | None = None
    faults: str | None = None
    archive_bucket: str = ""
    """Empty without an archive (ARCHIVE_RETENTION_DAYS=0)."""
    archive_queue_url: str = ""
    dedupe_window_hours: str = "0"
    logs: str = ""
    """The directory of the functions' JSON logs (``LOCAL_LOG_DIR``)."""


def launch(
    env: Mapping[str, str],
    *,
    stdout: IO[Any] | int = subprocess.DEVNULL,
    timeout: float = 120,
) -> tuple[subprocess.Popen[str], Endpoints]:
    """The stack started with ``env`` over this process's environment (free ports by default).

    With ``stdout=subprocess.PIPE`` the caller must keep reading the output: the stand-in
    prints a line per event.
    """
    state = Path(tempfile.mkdtemp(prefix="edge-local-")) / "stack.json"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(NOT_INHERITED)}
    full_env.update({"PORT": "0", "UPSTREAM_PORT": "0", "LIVE_PORT": "0", "PYTHONUNBUFFERED": "1", **env})
    full_env["LOCAL_STATE_FILE"] = str(state)
    process = subprocess.Popen(
        [sys.executable, "-m", "edge_local"],
        cwd=ROOT,
        env=full_env,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if state.exists():
            values = json.loads(state.read_text())
            return process, Endpoints(**values)
        time.sleep(0.1)
    process.kill()
    process.wait(timeout=10)
    raise RuntimeError(f"the local stack did not become ready (exit code {process.returncode})")


def stop(process: subprocess.Popen[str], timeout: float = 30) -> int:
    """SIGTERM, as Ctrl-C would; the exit code (0 when it stopped cleanly)."""
    process.terminate()
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        raise
