"""The local stack (``python -m edge_local``) as a subprocess for one run, and its control endpoints."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_local.clients import client
from edge_local.launch import launch, stop


@dataclass
class Stack:
    """A running local stack: where its parts listen, and ways to steer and inspect them."""

    process: subprocess.Popen[str]
    output: Path
    api: str
    aws: str
    upstream: str
    events_queue: str
    dead_letter_queue: str
    quarantine_queue: str
    faults: str | None
    archive_bucket: str = ""
    archive_queue: str = ""

    def upstream_faults(self, body: dict[str, Any]) -> None:
        """POST the stand-in's ``/_faults`` (edge_local/upstream.py)."""
        _call(f"{self.upstream}/_faults", body)

    def control(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST the fault-control endpoint (edge_local/faults.py)."""
        if self.faults is None:
            raise RuntimeError("the stack runs without LOCAL_FAULTS")
        return _call(f"{self.faults}{path}", body, timeout=30)

    def received(self, *, ids: bool = False) -> dict[str, Any]:
        """The stand-in's summary of what it received (counts; unique messageIds with ``ids``)."""
        query = "summary=1&ids=1" if ids else "summary=1"
        return _call(f"{self.upstream}/_received?{query}", None, timeout=30)

    def overlaps(self) -> list[str]:
        """Events of messages SQS handed out again while still in flight (fault-control endpoint)."""
        if self.faults is None:
            return []
        return list(_call(f"{self.faults}/forward/overlaps", None, timeout=30)["messageIds"])

    def sqs(self) -> Any:
        return client("sqs", self.aws)

    def archived(self) -> tuple[int, Counter[str]]:
        """The archive's objects: how many, and the times each ``messageId`` is in them."""
        from edge.core.archive import read_lines

        s3 = client("s3", self.aws)
        objects, found = 0, Counter[str]()
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.archive_bucket, Prefix="events/"
        ):
            for item in page.get("Contents", []):
                objects += 1
                data = s3.get_object(Bucket=self.archive_bucket, Key=item["Key"])["Body"].read()
                found.update(str(json.loads(line).get("messageId")) for line in read_lines(data))
        return objects, found

    def stop(self) -> int:
        return stop(self.process)


def start(env: dict[str, str], workdir: Path, timeout: float = 120) -> Stack:
    """Start the stack with ``env`` over this process's environment; its output goes to a file."""
    workdir.mkdir(parents=True, exist_ok=True)
    output = workdir / "stack.out"
    with output.open("w") as sink:
        try:
            process, where = launch(env, stdout=sink, timeout=timeout)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}:\n" + output.read_text(errors="replace")[-3000:]) from exc
    return Stack(
        process,
        output,
        where.api,
        where.aws,
        where.upstream,
        where.events_queue_url,
        where.dead_letter_queue_url,
        where.quarantine_queue_url,
        where.faults,
        where.archive_bucket,
        where.archive_queue_url,
    )


def _call(url: str, body: dict[str, Any] | None, timeout: float = 10) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310
        url,
        data=data,
        method="POST" if data is not None else "GET",
        headers={"Content-Type": "application/json"},  # the stack's controls take JSON only
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback only
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def received_when_up(stack: Stack, *, ids: bool = False, timeout: float = 30) -> dict[str, Any]:
    """``Stack.received``, waiting out a stand-in that is refusing connections (a fault)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return stack.received(ids=ids)
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
