"""The local stack (``python -m edge_local``) as a subprocess on free ports."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(
    r"^ready: api (?P<api>\S+) \| aws (?P<aws>\S+) \| upstream (?P<upstream>\S+) \| (?P<mode>\w+) mode"
)
QUEUES = re.compile(r"events (?P<events>\S+) \| dead-letter (?P<dlq>\S+) \| quarantine (?P<quarantine>\S+)")


@dataclass
class LocalStack:
    """A running ``python -m edge_local`` and ways to look inside it."""

    process: subprocess.Popen[str]
    api: str
    aws: str
    upstream: str
    events_queue: str
    dead_letter_queue: str
    quarantine_queue: str
    output: list[str] = field(default_factory=list)

    def received(self) -> dict[str, Any]:
        """What the upstream stand-in has recorded."""
        with urllib.request.urlopen(f"{self.upstream}/_received", timeout=5) as response:  # noqa: S310
            received: dict[str, Any] = json.loads(response.read())
        return received

    def wait_for(self, message_ids: set[str], timeout: float = 60) -> list[dict[str, Any]]:
        """The upstream's events once every one of ``message_ids`` has arrived."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.received()["events"]
            if message_ids <= {e.get("messageId") for e in events}:
                return [e for e in events if e.get("messageId") in message_ids]
            if time.monotonic() > deadline:
                missing = message_ids - {e.get("messageId") for e in events}
                raise AssertionError(
                    f"{len(missing)} events never reached the upstream: {sorted(missing)[:5]}"
                )
            time.sleep(0.2)

    def faults(self, body: dict[str, Any] | None) -> None:
        """Tell the stand-in to fail (``body``) or to stop failing (None)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310
            f"{self.upstream}/_faults", data=data, method="POST" if body is not None else "DELETE"
        )
        urllib.request.urlopen(request, timeout=5).close()  # noqa: S310

    def sqs(self) -> Any:
        return boto3.client(
            "sqs",
            endpoint_url=self.aws,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )


_TEST_ONLY_ENV = (
    "AWS_ENDPOINT_URL",
    "METAROUTER_ENDPOINT",
    "EDGE_SECRET_ID",
    "EVENTS_QUEUE_URL",
    "QUARANTINE_QUEUE_URL",
    "DEAD_LETTER_QUEUE_URL",
    "POWERTOOLS_SERVICE_NAME",
)


def start_stack(extra_env: dict[str, str] | None = None, timeout: float = 90) -> LocalStack:
    env = {
        **os.environ,
        "PORT": "0",
        "UPSTREAM_PORT": "0",
        "FORWARD_BATCHING_WINDOW": "0.5",
        "VISIBILITY_TIMEOUT": "3",
        "MAX_RECEIVE_COUNT": "3",
        "INGEST_CONCURRENCY": "2",
        "FORWARD_CONCURRENCY": "2",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    for name in _TEST_ONLY_ENV:  # set by tests/conftest.py for in-process tests, not for the stack
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "edge_local"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        ready, queues = READY.match(line), QUEUES.search(line)
        if ready and queues:
            stack = LocalStack(
                process,
                ready["api"],
                ready["aws"],
                ready["upstream"],
                queues["events"],
                queues["dlq"],
                queues["quarantine"],
                lines,
            )
            threading.Thread(target=_drain, args=(process, lines), daemon=True).start()
            return stack
    process.kill()
    raise RuntimeError("the local stack did not become ready:\n" + "\n".join(lines[-30:]))


def stop_stack(stack: LocalStack) -> None:
    stack.process.terminate()
    try:
        stack.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        stack.process.kill()
        raise
    finally:
        if stack.process.stdout:
            stack.process.stdout.close()


def _drain(process: subprocess.Popen[str], lines: list[str]) -> None:
    assert process.stdout is not None
    lines.extend(line.rstrip() for line in process.stdout)
