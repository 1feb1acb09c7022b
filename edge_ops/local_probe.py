"""Times the ingest handler in this process against the embedded AWS endpoint (moto), as the
local stack runs it: the figures ``make capacity ... LOCAL=1`` predicts ``make load`` from."""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import time
from functools import cache
from typing import Any

__all__ = ["measure_ingest_ms"]

CALLS = 40
# The handlers' JSON logs and EMF lines go here, not to the report: the Logger binds the stream
# it is created with, so the import happens inside the redirection too.
_LOGS = io.StringIO()


@cache
def _handler() -> Any:
    from bench.lambda_env import Tree, lambda_environment
    from edge_local.aws import EmbeddedAws
    from edge_local.clients import CREDENTIALS
    from edge_local.context import LocalContext
    from edge_local.template import load

    aws = EmbeddedAws()
    resources = aws.start(load(), {"writeKey": "LOCAL_SOURCE_ID"}, visibility_timeout=360)
    os.environ.update(
        {
            **lambda_environment("ingest"),
            **CREDENTIALS,
            "AWS_ENDPOINT_URL": resources.endpoint,
            "EVENTS_QUEUE_URL": resources.events_queue_url,
            "QUARANTINE_QUEUE_URL": resources.quarantine_queue_url,
            "EDGE_SECRET_ID": resources.secret_id,
        }
    )
    Tree().importable()
    with contextlib.redirect_stdout(_LOGS):
        from ingest import app

    def call(event: dict[str, Any]) -> None:
        response = app.lambda_handler(event, LocalContext("ingest", 10))
        if response.get("statusCode") != 200:
            raise RuntimeError(f"ingest answered {response.get('statusCode')}: {response.get('body')}")

    return call


def measure_ingest_ms(events: int) -> float:
    """Median milliseconds of one warm ingest invocation of ``events`` events (one SQS call)."""
    from bench.events import api_batch_event, api_track_event

    with contextlib.redirect_stdout(_LOGS):
        call = _handler()
        event = api_track_event() if events == 1 else api_batch_event(events)
        for _ in range(5):
            call(event)
        samples = []
        for _ in range(CALLS):
            started = time.perf_counter()
            call(event)
            samples.append((time.perf_counter() - started) * 1000)
        _LOGS.seek(0)
        _LOGS.truncate()
    return statistics.median(samples)
