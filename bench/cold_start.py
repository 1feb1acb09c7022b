"""Cold start: a fresh interpreter loads the handler module (init) and runs its first invocation,
in a Lambda-like environment whose AWS endpoint is moto's server on loopback, against the bare
SDK doing the same calls in a fresh process, in the same run.

- ingest: one ~1 KB track event through ``lambda_handler``: the secret read from Secrets Manager,
  the event queued with ``SendMessageBatch``. Floor: ``boto3`` reads the secret, ``send_message``
  queues the same body.
- forward: one SQS record (the message ingest queues for that event) through ``lambda_handler``:
  the secret read, one POST to a keep-alive server on loopback in its own process, the event's
  archive copy sent to the archive queue. Floor: ``boto3`` reads the secret, one ``urllib3`` POST
  of the same event, ``send_message`` of the event gzip-compressed (base64) to the archive queue.

Each run is a new process; the clock starts after the program has read the event from a file
and stops when the invocation (or the floor's last call) returns, so interpreter start-up,
identical on both sides, is left out. Bytecode is cached (``PYTHONPYCACHEPREFIX``, filled by a
first, untimed run of each program), as it is in a layer built with compiled files.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bench.aws import LoopbackAws
from bench.events import api_track_event, sqs_records
from bench.ingest import queued_messages
from bench.lambda_env import Tree
from bench.loopback import LoopbackServer
from bench.report import BenchError, Figure
from bench.timing import median
from bench.tracking_plan import plan_environment, write_plan

__all__ = ["FLOORS", "HANDLER", "ColdStart", "cold_start_figures", "measure", "plan_cold_start_figures"]

BUDGET: Final = 1.2
#: What a 50-event tracking plan (read and compiled at init) may add to ingest's cold start.
PLAN_BUDGET_MS: Final = 10.0
HANDLER: Final = """\
import app
_answer = app.lambda_handler(_event, _Context())
"""
FLOORS: Final = {
    "ingest": """\
import boto3
_secret = boto3.client("secretsmanager").get_secret_value(SecretId=_os.environ["EDGE_SECRET_ID"])
_queue = _os.environ["EVENTS_QUEUE_URL"]
_answer = boto3.client("sqs").send_message(QueueUrl=_queue, MessageBody=_event["body"])
""",
    "forward": """\
import boto3
import urllib3
_secret = boto3.client("secretsmanager").get_secret_value(SecretId=_os.environ["EDGE_SECRET_ID"])
_key = _json.loads(_secret["SecretString"])["writeKey"]
_answer = urllib3.PoolManager().request(
    "POST",
    _os.environ["METAROUTER_ENDPOINT"] + "/v1/batch",
    body=_json.dumps({"batch": _json.loads(_event["Records"][0]["body"])["events"]}),
    headers={**urllib3.util.make_headers(basic_auth=_key + ":"), "Content-Type": "application/json"},
)
import base64, gzip
_copy = base64.b64encode(gzip.compress(_event["Records"][0]["body"].encode(), 1)).decode()
_archived = boto3.client("sqs").send_message(QueueUrl=_os.environ["ARCHIVE_QUEUE_URL"], MessageBody=_copy)
""",
}
#: What a successful run's ``_answer`` is, per function and program.
_CHECKS: Final = {
    ("ingest", "handler"): '_answer["statusCode"] == 200',
    ("forward", "handler"): '_answer == {"batchItemFailures": []}',
    ("ingest", "floor"): '"MessageId" in _answer',
    ("forward", "floor"): "_answer.status == 200",
}
_PROGRAM: Final = """\
import json as _json, os as _os, sys as _sys
with open(_sys.argv[1]) as _file:
    _event = _json.load(_file)


class _Context:
    function_name = _os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{{function_name}}"
    memory_limit_in_mb = int(_os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = _os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
    log_stream_name = _os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]

    def get_remaining_time_in_millis(self):
        return 60_000


import time
_started = time.perf_counter()
{code}
_took = time.perf_counter() - _started
if not ({check}):
    raise SystemExit(f"unexpected answer: {{_answer!r}}"[:2000])
# The peak resident set of this program (ru_maxrss would include the parent's, forked from).
_peak = [int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")]
_timed = globals().get("_timed", {{}})
_sys.__stdout__.write("\\n" + _json.dumps({{"seconds": _took, "rss_kb": _peak[0] if _peak else 0, **_timed}}))
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


def _run(function: str, program: str, *, cwd: Path, env: dict[str, str], event: Path) -> tuple[float, float]:
    """One fresh process: seconds and peak RSS (MB)."""
    code = HANDLER if program == "handler" else FLOORS[function]
    result = _execute(function, code, _CHECKS[function, program], cwd=cwd, env=env, event=event)
    return float(result["seconds"]), float(result["rss_kb"]) / 1024


def _execute(
    function: str, code: str, check: str, *, cwd: Path, env: dict[str, str], event: Path
) -> dict[str, Any]:
    """One fresh process running ``code``: what it reports (seconds, rss_kb, what it timed)."""
    done = subprocess.run(  # noqa: S603 - our own interpreter on our own program
        [sys.executable, "-c", _PROGRAM.format(code=code, check=check), str(event)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"cold start of the {function} {code!r} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _first_events(work: Path) -> dict[str, Path]:
    """Each function's first invocation: a one-event track request, and the message ingest queues for it."""
    request = api_track_event()
    events: dict[str, dict[str, Any]] = {
        "ingest": request,
        "forward": sqs_records(queued_messages([request])),
    }
    paths = {}
    for function, event in events.items():
        paths[function] = work / f"{function}-event.json"
        paths[function].write_text(json.dumps(event))
    return paths


def measure(
    tree: Tree, function: str, *, runs: int, work: Path, env: dict[str, str], event: Path
) -> ColdStart:
    """``runs`` alternating cold starts of the handler and of its SDK floor (order shuffled)."""
    env = _process_environment(tree, work, env)
    cwd = tree.task_root(function)
    programs = ["handler", "floor"]
    for program in programs:  # untimed: fills the bytecode cache
        _run(function, program, cwd=cwd, env=env, event=event)
    seconds: dict[str, list[float]] = {name: [] for name in programs}
    rss: dict[str, list[float]] = {name: [] for name in programs}
    shuffle = random.Random(1).shuffle  # noqa: S311 - an order, not a secret
    for _ in range(runs):
        shuffle(programs)
        for program in programs:
            took, peak = _run(function, program, cwd=cwd, env=env, event=event)
            seconds[program].append(took)
            rss[program].append(peak)
    return ColdStart(
        function,
        median(seconds["handler"]),
        median(seconds["floor"]),
        median([h / f for h, f in zip(seconds["handler"], seconds["floor"], strict=True)]),
        median(rss["handler"]),
        median(rss["floor"]),
        runs,
    )


def _process_environment(tree: Tree, work: Path, env: dict[str, str]) -> dict[str, str]:
    return {
        **env,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(tree.layer),  # the layer, as /opt/python is in Lambda
        "PYTHONPYCACHEPREFIX": str(work / "pycache"),
        "PYTHONNOUSERSITE": "1",
    }


_FLOOR_TEXT: Final = {
    "ingest": "boto3: GetSecretValue, send_message",
    "forward": "boto3: GetSecretValue; urllib3: one POST",
}
_FIRST: Final = {
    "ingest": "init + one 1 KB track event (secret read, SendMessageBatch)",
    "forward": "init + one SQS record (secret read, one POST)",
}


def cold_start_figures(tree: Tree, *, runs: int) -> tuple[list[Figure], list[ColdStart]]:
    figures, results = [], []
    with (
        tempfile.TemporaryDirectory(prefix="edge-bench-cold-") as work,
        LoopbackAws() as aws,
        LoopbackServer() as server,
    ):
        events = _first_events(Path(work))
        for function in ("ingest", "forward"):
            env = aws.environment(function, METAROUTER_ENDPOINT=server.url)
            if function == "ingest":
                del env["METAROUTER_ENDPOINT"]
            result = measure(tree, function, runs=runs, work=Path(work), env=env, event=events[function])
            results.append(result)
            figures.append(
                Figure(
                    f"cold start, {function}",
                    f"{result.ratio:.2f}x ({result.handler * 1000:.0f} ms vs {result.floor * 1000:.0f} ms)",
                    f"≤ {BUDGET:g}x SDK floor",
                    result.ratio <= BUDGET,
                    f"{_FIRST[function]}; floor {_FLOOR_TEXT[function]}; AWS on loopback (moto); "
                    f"median of {runs} paired fresh processes; "
                    f"peak RSS {result.handler_rss_mb:.0f} MB vs {result.floor_rss_mb:.0f} MB",
                )
            )
    return figures, results


#: The handler with the plan's own work timed where it happens: ``TrackingPlan.load`` at init
#: (the file read, jsonschema-rs imported, the schemas compiled) and ``judge`` on the first event.
#: The collector is paused first, as ``app`` pauses it, since ``edge.ingest.plan`` is imported
#: before ``app`` to wrap them.
_PLAN_TIMED: Final = (
    """\
import gc
gc.disable()
from edge.ingest import plan as _plan
_timed = {"load": 0.0, "judge": 0.0}


def _timing(name, fn):
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _timed[name] += time.perf_counter() - started

    return timed


_plan.TrackingPlan.load = classmethod(_timing("load", _plan.TrackingPlan.load.__func__))
_plan.TrackingPlan.judge = _timing("judge", _plan.TrackingPlan.judge)
"""
    + HANDLER
)
#: Whether the handler's init compiled a plan (jsonschema-rs is imported only to compile one).
_PLAN_CHECKS: Final = {
    "with": '_answer["statusCode"] == 200 and "jsonschema_rs" in _sys.modules and _timed["judge"] > 0',
    "without": '_answer["statusCode"] == 200 and "jsonschema_rs" not in _sys.modules',
}


def plan_cold_start_figures(tree: Tree, *, runs: int) -> list[Figure]:
    """What a 50-event tracking plan in ``flag`` mode adds to ingest's cold start (init and the
    first invocation, the sample event: planned and valid): the plan's own work timed in fresh
    processes (``TrackingPlan.load`` at init, ``judge`` on the first event), and, as a
    cross-check, the whole cold start with the plan against without it, paired in shuffled order.

    The pairs' difference is too noisy on a shared 2-core machine to hold a 10 ms budget (their
    interquartile range is tens of ms, the cold start's own noise): the verdict is the timed work's."""
    with (
        tempfile.TemporaryDirectory(prefix="edge-bench-cold-plan-") as work,
        LoopbackAws() as aws,
    ):
        root = Path(work)
        event = _first_events(root)["ingest"]
        base = aws.environment("ingest")
        plan = write_plan(root)
        plan_kb = plan.stat().st_size // 1024
        envs = {
            "without": _process_environment(tree, root, base),
            "with": _process_environment(tree, root, {**base, **plan_environment(plan, "flag")}),
        }
        cwd = tree.task_root("ingest")
        sides = ["with", "without"]

        def run(side: str) -> dict[str, Any]:
            code = _PLAN_TIMED if side == "with" else HANDLER
            return _execute("ingest", code, _PLAN_CHECKS[side], cwd=cwd, env=envs[side], event=event)

        for side in sides:  # untimed: fills the bytecode cache
            run(side)
        results: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
        shuffle = random.Random(2).shuffle  # noqa: S311 - an order, not a secret
        for _ in range(runs):
            shuffle(sides)
            for side in sides:
                results[side].append(run(side))
    with_plan, without = results["with"], results["without"]
    load = median([r["load"] for r in with_plan]) * 1000
    judge = median([r["judge"] for r in with_plan]) * 1000
    added = median([r["load"] + r["judge"] for r in with_plan]) * 1000
    differences = [(w["seconds"] - o["seconds"]) * 1000 for w, o in zip(with_plan, without, strict=True)]
    low, middle, high = statistics.quantiles(differences, n=4)
    rss = (median([r["rss_kb"] for r in with_plan]) - median([r["rss_kb"] for r in without])) / 1024
    return [
        Figure(
            "cold start, ingest, 50-event tracking plan on",
            f"+{added:.1f} ms (read and compiled at init {load:.1f} ms, the first event judged "
            f"{judge:.2f} ms; of {median([r['seconds'] for r in with_plan]) * 1000:.0f} ms)",
            f"≤ +{PLAN_BUDGET_MS:g} ms",
            added <= PLAN_BUDGET_MS,
            f"TRACKING_PLAN ({plan_kb} KB), TRACKING_PLAN_MODE=flag: the plan's work timed in each of "
            f"{runs} fresh processes, medians; {_FIRST['ingest']}; the whole cold start with the plan "
            f"against without, {runs} shuffled pairs: {middle:+.0f} ms (quartiles {low:+.0f}, {high:+.0f}: "
            f"this machine's noise); peak RSS {rss:+.1f} MB",
        )
    ]
