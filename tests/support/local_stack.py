"""The local stack (``python -m edge_local``) as a subprocess on free ports."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from edge_local.clients import client
from edge_local.launch import launch, stop
from edge_local.template import ROOT

__all__ = ["ROOT", "LocalStack", "start_stack", "stop_stack"]


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
    fault_control: str | None = None
    live: str | None = None
    archive_bucket: str = ""
    archive_queue: str = ""
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
            f"{self.upstream}/_faults",
            data=data,
            method="POST" if body is not None else "DELETE",
            headers={"Content-Type": "application/json"},  # the stand-in's controls take JSON only
        )
        urllib.request.urlopen(request, timeout=5).close()  # noqa: S310

    def dead_letter(self, message_id: str, timeout: float = 30) -> dict[str, Any] | None:
        """The dead-letter queue's message holding ``message_id`` once it is there (None if never)."""
        sqs = self.sqs()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = sqs.receive_message(
                QueueUrl=self.dead_letter_queue,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
                VisibilityTimeout=0,
            ).get("Messages", [])
            for message in messages:
                if message_id in message["Body"]:
                    found: dict[str, Any] = message
                    return found
        return None

    def sqs(self) -> Any:
        return client("sqs", self.aws)

    def archived(self) -> dict[str, list[dict[str, Any]]]:
        """Every object in the archive bucket: its key and its events."""
        from edge.core.archive import read_lines

        s3 = client("s3", self.aws)
        found: dict[str, list[dict[str, Any]]] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.archive_bucket):
            for item in page.get("Contents", []):
                data = s3.get_object(Bucket=self.archive_bucket, Key=item["Key"])["Body"].read()
                found[item["Key"]] = [json.loads(line) for line in read_lines(data)]
        return found

    def state(self) -> dict[str, str]:
        """What ``make run`` writes to .local/stack.json, for the operator tools' ``--local``."""
        return {
            "api": self.api,
            "aws": self.aws,
            "upstream": self.upstream,
            "events_queue_url": self.events_queue,
            "dead_letter_queue_url": self.dead_letter_queue,
            "quarantine_queue_url": self.quarantine_queue,
            "archive_bucket": self.archive_bucket,
            "archive_queue_url": self.archive_queue,
            "dedupe_window_hours": "0",
        }


def start_stack(extra_env: dict[str, str] | None = None, timeout: float = 90) -> LocalStack:
    """The stack on free ports with short windows and timeouts, its output kept in ``output``."""
    env = {
        "FORWARD_BATCHING_WINDOW": "0.5",
        "VISIBILITY_TIMEOUT": "3",
        "MAX_RECEIVE_COUNT": "3",
        "INGEST_CONCURRENCY": "2",
        "FORWARD_CONCURRENCY": "2",
        "ARCHIVE_BATCHING_WINDOW": "1",
        "ARCHIVE_VISIBILITY_TIMEOUT": "3",
        **(extra_env or {}),
    }
    process, where = launch(env, stdout=subprocess.PIPE, timeout=timeout)
    stack = LocalStack(
        process,
        where.api,
        where.aws,
        where.upstream,
        where.events_queue_url,
        where.dead_letter_queue_url,
        where.quarantine_queue_url,
        where.faults,
        where.live,
        where.archive_bucket,
        where.archive_queue_url,
    )
    threading.Thread(target=_drain, args=(process, stack.output), daemon=True).start()
    return stack


def stop_stack(stack: LocalStack) -> None:
    try:
        stop(stack.process, timeout=20)
    finally:
        if stack.process.stdout:
            stack.process.stdout.close()


def _drain(process: subprocess.Popen[str], lines: list[str]) -> None:
    if process.stdout is not None:
        lines.extend(line.rstrip() for line in process.stdout)
