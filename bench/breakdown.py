"""``python -m bench.breakdown``: where init goes, step by step, on top of the AWS SDK's imports and client.

Each step runs in the same fresh process after the previous ones, so it is charged only what it
adds (a module another step already imported is free). Medians of fresh processes, in the
cold-start benchmark's Lambda-like environment; used for docs/performance.md. Init only: the
first invocation, which the cold-start figure includes, is not broken down here.

``--legacy`` adds the steps the handlers took before the cold-start work (pydantic models, Powertools' event
handler and batch utility), to break down an older checkout (``--root``). ``--gc-paused`` pauses
the garbage collector from the first line, as the handlers now do. ``--plan`` adds, after
ingest's init, what a 50-event tracking plan (``bench.tracking_plan``) adds to it: jsonschema-rs
imported, the plan's JSON read, its schemas compiled.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

from bench.lambda_env import ROOT, Tree, lambda_environment
from bench.tracking_plan import write_plan

#: The SDK's share of init: its imports and the clients (the cold-start floor before its calls).
_SDK: Final = {
    "ingest": "import boto3\nboto3.client('sqs')",
    "forward": "import urllib3\nimport boto3\nboto3.client('secretsmanager')",
}

_SHARED: Final = [
    ("pydantic_core (from_json, to_json, validators)", "import pydantic_core"),
    ("Powertools Logger, Metrics", "from aws_lambda_powertools import Logger, Metrics"),
    ("Powertools Parameters", "from aws_lambda_powertools.utilities.parameters import SecretsProvider"),
]
_LEGACY: Final = {
    "ingest": [
        ("pydantic (BaseModel)", "from pydantic import BaseModel"),
        (
            "Powertools event handler",
            "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver",
        ),
    ],
    "forward": [
        ("pydantic (BaseModel)", "from pydantic import BaseModel"),
        (
            "Powertools batch, data classes",
            "from aws_lambda_powertools.utilities.batch import BatchProcessor",
        ),
    ],
}
STEPS: Final = {
    "ingest": [
        ("AWS SDK: imports, client", _SDK["ingest"]),
        *_SHARED,
        ("edge modules", ""),
        ("app: settings, clients, ingestor", "import app"),
    ],
    "forward": [
        ("AWS SDK: imports, client", _SDK["forward"]),
        *_SHARED,
        ("edge modules", ""),
        ("app: settings, clients, pool, forwarder", "import app"),
    ],
}
#: What a tracking plan adds to ingest's init (``--plan``), the plan's path formatted in.
_PLAN: Final = [
    ("tracking plan: jsonschema_rs imported", "import jsonschema_rs"),
    (
        "tracking plan: its JSON read",
        "import json, pathlib\n_plan = json.loads(pathlib.Path({path!r}).read_text(encoding='utf-8'))",
    ),
    (
        "tracking plan: 53 schemas compiled",
        "from edge.ingest.plan import TrackingPlan\nTrackingPlan.compile(_plan)",
    ),
]
_PROGRAM: Final = """\
import time
_marks = [time.perf_counter()]
{pause}
{steps}
import json, sys
sys.__stdout__.write(json.dumps([b - a for a, b in zip(_marks, _marks[1:])]))
"""


def breakdown(
    tree: Tree,
    function: str,
    runs: int,
    cache: Path,
    *,
    legacy: bool = False,
    gc_paused: bool = False,
    plan: Path | None = None,
) -> list[tuple[str, float]]:
    app = (tree.task_root(function) / "app.py").read_text()
    modules = ", ".join(sorted(set(re.findall(r"^from (edge(?:\.\w+)+) import", app, re.MULTILINE))))
    steps = [(label, code or f"import {modules}") for label, code in STEPS[function]]
    if legacy:
        steps = [*steps[:4], *_LEGACY[function], *steps[4:]]
    if plan is not None and function == "ingest":
        steps += [(label, code.format(path=str(plan))) for label, code in _PLAN]
    program = _PROGRAM.format(
        pause="import gc; gc.disable()" if gc_paused else "",
        steps="\n".join(f"{code}\n_marks.append(time.perf_counter())" for _, code in steps),
    )
    env = {
        **lambda_environment(function),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(tree.layer),
        "PYTHONPYCACHEPREFIX": str(cache),
        "PYTHONNOUSERSITE": "1",
    }
    samples: list[list[float]] = []
    for run in range(runs + 1):
        done = subprocess.run(  # noqa: S603 - our own interpreter on our own program
            [sys.executable, "-c", program],
            cwd=tree.task_root(function),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        if run:  # the first run fills the bytecode cache
            samples.append(json.loads(done.stdout))
    return [(label, statistics.median(s[i] for s in samples)) for i, (label, _) in enumerate(steps)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.breakdown", description=__doc__)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument(
        "--legacy",
        action="store_true",
        help="also the steps of the older handlers (before the cold-start work)",
    )
    parser.add_argument("--gc-paused", action="store_true", help="pause the collector from the first line")
    parser.add_argument(
        "--plan", action="store_true", help="and what a 50-event tracking plan adds to ingest"
    )
    arguments = parser.parse_args(argv)
    tree = Tree(arguments.root)
    with tempfile.TemporaryDirectory(prefix="edge-bench-pycache-") as cache:
        for function in STEPS:
            rows = breakdown(
                tree,
                function,
                arguments.runs,
                Path(cache),
                legacy=arguments.legacy,
                gc_paused=arguments.gc_paused,
                plan=write_plan(Path(cache)) if arguments.plan else None,
            )
            floor = rows[0][1]
            total = sum(seconds for _, seconds in rows)
            sys.stdout.write(
                f"\n{function}: {total * 1000:.0f} ms = {total / floor:.2f}x the SDK's imports and client\n"
            )
            sys.stdout.write("| step | ms | share of the SDK's |\n|---|---:|---:|\n")
            for label, seconds in rows:
                sys.stdout.write(f"| {label} | {seconds * 1000:.1f} | {seconds / floor:.1%} |\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
