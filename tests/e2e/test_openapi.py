"""docs/openapi.yaml against the running local stack: schemathesis generates requests for every
operation (valid and hostile: odd headers, bodies, encodings, methods) and checks that no answer
is a 5xx and every answer matches the description (status, content type, headers, body)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.local_stack import ROOT, LocalStack, start_stack, stop_stack

pytestmark = pytest.mark.e2e

SPEC = ROOT / "docs" / "openapi.yaml"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
MIN_REQUESTS = 1000


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[LocalStack]:
    """A stack of its own: thousands of generated requests fill its queues, not the shared stack's."""
    running = start_stack({"METAROUTER_WRITE_KEY": "LOCAL_SOURCE_ID"})
    yield running
    stop_stack(running)
    assert running.process.returncode == 0, "\n".join(running.output[-20:])


def test_every_operation_answers_as_described_and_never_5xx(fuzzed: LocalStack, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    run = subprocess.run(  # noqa: S603 - our pinned tool, no shell
        [
            str(SCHEMATHESIS),
            "run",
            str(SPEC),
            "--url",
            fuzzed.api,
            "--checks",
            ",".join(CHECKS),
            "--max-examples",
            "12",
            "--seed",
            "20260101",
            "--workers",
            "2",
            "--request-timeout",
            "20",
            "--report",
            "json",
            "--report-json-path",
            str(report),
            "--report-dir",
            str(tmp_path),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    result = json.loads(report.read_text())
    operations = result["operations"]
    assert operations["tested"] == operations["total"] == 34, operations  # every route and its preflight
    assert result["test_cases"]["generated"] >= MIN_REQUESTS, result["test_cases"]
    assert result["test_cases"]["with_failures"] == 0
    assert result["test_cases"]["errored"] == 0
    assert all(phase["status"] == "success" for phase in result["phases"].values()), result["phases"]
