"""Every ``LogLevel`` as Lambda runs it: its filter, the functions' own level, and the metrics.

With the JSON log format Lambda filters application logs itself (``ApplicationLogLevel``, handed
to the function as ``AWS_LAMBDA_LOG_LEVEL``), and gives a line without a ``level`` field the level
INFO. The metric lines (EMF) have none. Each test runs the observability module in a fresh
interpreter with the environment the template gives the functions for that level, writes a line
at every level and a metric, and passes the output through Lambda's filter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]
# Lambda's level names in order; Powertools writes WARNING where Lambda says WARN.
LAMBDA_ORDER = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]

_PROGRAM = """
from edge.core.observability import MetricName, MetricUnit, logger, metrics
logger.debug("line at DEBUG")
logger.info("line at INFO")
logger.warning("line at WARNING")
logger.error("line at ERROR")
metrics.add_metric(MetricName.EVENTS_FORWARDED, MetricUnit.Count, 1)
metrics.flush_metrics()
"""


def _lambda_keeps(line: str, application_level: str) -> bool:
    """Lambda's filter: a JSON line's ``level`` (INFO when it has none) at or above the setting."""
    level = str(json.loads(line).get("level", "INFO")).upper().replace("WARNING", "WARN")
    return LAMBDA_ORDER.index(level) >= LAMBDA_ORDER.index(application_level)


def _run_as_lambda(cfn: dict[str, Any], log_level: str) -> list[dict[str, Any]]:
    """What CloudWatch Logs receives from a function deployed with ``LogLevel=log_level``."""
    lambda_level = cfn["Mappings"]["LogLevels"][log_level]["Lambda"]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT / "layers" / "edge"),
        "AWS_LAMBDA_LOG_LEVEL": lambda_level,
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "POWERTOOLS_LOG_LEVEL": log_level,
        "POWERTOOLS_SERVICE_NAME": "edge-forward",
        "POWERTOOLS_METRICS_NAMESPACE": "MetaRouterEdge/stack-a",
    }
    run = subprocess.run(  # noqa: S603 - this interpreter, a fixed program
        [sys.executable, "-W", "error", "-c", _PROGRAM], env=env, capture_output=True, text=True, check=True
    )
    lines = [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("{")]
    return [json.loads(line) for line in lines if _lambda_keeps(line, lambda_level)]


@pytest.mark.parametrize("log_level", LEVELS)
def test_no_log_level_silences_the_metrics(cfn: dict[str, Any], log_level: str) -> None:
    kept = _run_as_lambda(cfn, log_level)
    emf = [record for record in kept if "_aws" in record]
    assert [record["EventsForwarded"] for record in emf] == [[1.0]]
    [directive] = emf[0]["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "MetaRouterEdge/stack-a"


@pytest.mark.parametrize("log_level", LEVELS)
def test_the_functions_own_lines_start_at_the_chosen_level(cfn: dict[str, Any], log_level: str) -> None:
    kept = [record["message"] for record in _run_as_lambda(cfn, log_level) if "message" in record]
    expected = [f"line at {level}" for level in LEVELS[LEVELS.index(log_level) :]]
    assert kept == expected
