"""Cold start: a fresh interpreter imports the handler module and runs its module-level init,
in a Lambda-like environment, against the AWS SDK floor in the same run.

Each run is a new process; the clock starts at the first line of the program and stops when
the import (and with it the init) returns, so interpreter start-up, identical on both sides,
is left out. Bytecode is cached (``PYTHONPYCACHEPREFIX``, filled by a first, untimed run of
each program), as it is in a deployment package built with compiled files.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bench.lambda_env import Tree, lambda_environment
from bench.report import BenchError, Figure
from bench.timing import median

__all__ = ["FLOORS", "ColdStart", "cold_start_figures", "measure"]

BUDGET: Final = 1.2
HANDLER: Final = "import app"
FLOORS: Final = {
    "ingest": "import boto3\nboto3.client('sqs')",
    "forward": "import urllib3\nimport boto3\nboto3.client('secretsmanager')",
}
_PROGRAM: Final = """\
import time
_started = time.perf_counter()
{code}
_took = time.perf_counter() - _started
import json, sys
# The peak resident set of this program (ru_maxrss would include the parent's, forked from).
_peak = [int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")]
sys.__stdout__.write(json.dumps({{"seconds": _took, "rss_kb": _peak[0] if _peak else 0}}))
"""


@dataclass(frozen=True, slots=True)
class ColdStart:
    """Medians of one function's alternating runs."""

    function: str
    handler: float
    floor: float
    ratio: float
    """The median of each round's handler / floor: a round's two runs share the machine's load."""
    handler_rss_mb: float
    floor_rss_mb: float
    runs: int


def _run(code: str, *, cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    done = subprocess.run(  # noqa: S603 - our own interpreter on our own program
        [sys.executable, "-c", _PROGRAM.format(code=code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"cold start of {code!r} failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return float(result["seconds"]), float(result["rss_kb"]) / 1024


def measure(tree: Tree, function: str, *, runs: int, cache: Path) -> ColdStart:
    """``runs`` alternating cold starts of the handler and of its SDK floor (order shuffled)."""
    env = {
        **lambda_environment(function),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(tree.layer),  # the layer, as /opt/python is in Lambda
        "PYTHONPYCACHEPREFIX": str(cache),
        "PYTHONNOUSERSITE": "1",
    }
    cwd = tree.task_root(function)
    programs = {"handler": HANDLER, "floor": FLOORS[function]}
    for code in programs.values():  # untimed: fills the bytecode cache
        _run(code, cwd=cwd, env=env)
    seconds: dict[str, list[float]] = {name: [] for name in programs}
    rss: dict[str, list[float]] = {name: [] for name in programs}
    order = list(programs)
    shuffle = random.Random(1).shuffle  # noqa: S311 - an order, not a secret
    for _ in range(runs):
        shuffle(order)
        for name in order:
            took, peak = _run(programs[name], cwd=cwd, env=env)
            seconds[name].append(took)
            rss[name].append(peak)
    return ColdStart(
        function,
        median(seconds["handler"]),
        median(seconds["floor"]),
        median([h / f for h, f in zip(seconds["handler"], seconds["floor"], strict=True)]),
        median(rss["handler"]),
        median(rss["floor"]),
        runs,
    )


def cold_start_figures(tree: Tree, *, runs: int) -> tuple[list[Figure], list[ColdStart]]:
    figures, results = [], []
    with tempfile.TemporaryDirectory(prefix="edge-bench-pycache-") as cache:
        for function in ("ingest", "forward"):
            result = measure(tree, function, runs=runs, cache=Path(cache))
            results.append(result)
            floor = FLOORS[function].replace("\n", "; ")
            figures.append(
                Figure(
                    f"cold start, {function}",
                    f"{result.ratio:.2f}x ({result.handler * 1000:.0f} ms vs {result.floor * 1000:.0f} ms)",
                    f"≤ {BUDGET:g}x SDK floor",
                    result.ratio <= BUDGET,
                    f"floor `{floor}`; median of {runs} paired fresh processes; "
                    f"peak RSS {result.handler_rss_mb:.0f} MB vs {result.floor_rss_mb:.0f} MB",
                )
            )
    return figures, results
