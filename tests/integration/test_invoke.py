"""`make invoke` (``python -m edge_local.invoke``): each function once on its sample event, against a
fresh embedded AWS endpoint, as `sam local invoke -e` would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from support.apigw import EVENTS_DIR

ROOT = EVENTS_DIR.parent


@pytest.mark.parametrize(
    ("function", "sample"),
    [
        ("ingest", "apigw-track.json"),
        ("forward", "sqs-forward-batch.json"),
        ("archive", "sqs-archive-batch.json"),
    ],
)
def test_each_function_answers_its_sample_event(function: str, sample: str) -> None:
    skip = ("AWS_", "POWERTOOLS_", "EDGE_", "METAROUTER_", "ARCHIVE_")  # the tests' own settings
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    done = subprocess.run(  # noqa: S603 - this interpreter, the local invoke tool
        [sys.executable, "-m", "edge_local.invoke", function, str(EVENTS_DIR / sample)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout[done.stdout.rindex("\n{") :] if "\n{" in done.stdout else done.stdout)
    if function == "ingest":
        assert answer["statusCode"] == 200
    else:
        assert answer == {"batchItemFailures": []}
    if function == "archive":
        assert "wrote s3://metarouter-edge-archive/events/source=" in done.stderr
        assert "/dt=2023-11-14/hour=22/" in done.stderr
