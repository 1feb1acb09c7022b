"""Finding a stack's queues (from CloudFormation outputs, the local stack, or explicit URLs), and
reading a whole queue once."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from edge_local.clients import STATE_FILE, client

#: Receives in a row that bring no message not seen before, after which a sweep ends: what it sees
#: then are only messages it hid itself, come back, or wrote itself.
_IDLE_RECEIVES: Final = 3


@dataclass(frozen=True)
class Target:
    """Where the queues are and how to reach them."""

    sqs: Any
    events_queue_url: str
    dead_letter_queue_url: str
    quarantine_queue_url: str
    local: bool


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="a deployed stack's name (reads its CloudFormation outputs)")
    where.add_argument("--local", action="store_true", help="the running local stack (make run)")
    where.add_argument("--queues", nargs=3, metavar=("EVENTS_URL", "DEAD_LETTER_URL", "QUARANTINE_URL"))


def local_state_file() -> Path:
    """Where the running local stack says where it listens (``make run`` writes it)."""
    return Path(os.environ.get("LOCAL_STATE_FILE") or STATE_FILE)


def resolve(args: argparse.Namespace) -> Target:
    if args.local:
        path = local_state_file()
        if not path.exists():
            raise SystemExit(f"no local stack: start one with `make run` ({path} is missing)")
        state = json.loads(path.read_text())
        sqs = client("sqs", state["aws"])
        return Target(
            sqs,
            state["events_queue_url"],
            state["dead_letter_queue_url"],
            state["quarantine_queue_url"],
            True,
        )
    sqs = boto3.client("sqs")
    if args.queues:
        events, dead, quarantine = args.queues
        return Target(sqs, events, dead, quarantine, bool(os.environ.get("AWS_ENDPOINT_URL")))
    outputs = boto3.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]["Outputs"]
    values = {o["OutputKey"]: o["OutputValue"] for o in outputs}
    return Target(
        sqs, values["EventsQueueUrl"], values["DeadLetterQueueUrl"], values["QuarantineQueueUrl"], False
    )


def queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def max_message_bytes(sqs: Any, url: str, default: int) -> int:
    """The queue's ``MaximumMessageSize`` (what ingest packs its messages up to), else ``default``."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MaximumMessageSize"])
    return int(attributes.get("Attributes", {}).get("MaximumMessageSize", default))


class Sweep:
    """Each message of a queue once, for a tool that reads the whole queue and must not loop.

    Messages are received hidden for ``visibility`` seconds and remembered by id: one that comes
    back (hidden longer than the sweep's pace, or written by the tool itself: ``seen``) is not
    handed out again. Whatever was received and not ``deleted`` is made visible again when the
    sweep is ``released`` (or its ``with`` block ends), so the queue's other readers are not kept
    waiting for the visibility timeout.
    """

    def __init__(self, sqs: Any, queue_url: str, *, visibility: int, limit: int | None = None) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.visibility = visibility
        self.limit = limit
        self.seen: set[str] = set()
        self.received = 0
        """Messages handed out."""
        self.exhausted = False
        """Whether the sweep ended because it found no more messages, not at its ``limit``."""
        self._held: dict[str, str] = {}  # message id -> its latest receipt handle

    def __iter__(self) -> Iterator[dict[str, Any]]:
        idle = 0
        while self.limit is None or self.received < self.limit:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                VisibilityTimeout=self.visibility,
            ).get("Messages", [])
            if not messages:
                self.exhausted = True
                return
            fresh = [m for m in messages if m["MessageId"] not in self.seen]
            self._held.update((m["MessageId"], m["ReceiptHandle"]) for m in messages)
            idle = 0 if fresh else idle + 1
            if idle >= _IDLE_RECEIVES:
                self.exhausted = True
                return
            for message in fresh:
                if self.limit is not None and self.received >= self.limit:
                    return
                self.seen.add(message["MessageId"])
                self.received += 1
                yield message

    def delete(self, message: dict[str, Any]) -> None:
        """Delete a message handed out (it is not made visible again)."""
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        self._held.pop(message["MessageId"], None)

    def release(self) -> int:
        """Make every message received and not deleted visible again; how many could not be (they
        come back by themselves when their visibility timeout ends)."""
        held, self._held = list(self._held.values()), {}
        return show_again(self.sqs, self.queue_url, held)

    def __enter__(self) -> Sweep:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()


def show_again(sqs: Any, queue_url: str, receipt_handles: list[str]) -> int:
    """Make received messages visible again at once; how many could not be (they come back by
    themselves when their visibility timeout ends)."""
    failed = 0
    for start in range(0, len(receipt_handles), 10):
        entries = [
            {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
            for i, handle in enumerate(receipt_handles[start : start + 10])
        ]
        try:
            answer = sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
        except (BotoCoreError, ClientError):
            failed += len(entries)
            continue
        failed += len(answer.get("Failed", []))
    return failed


def hidden(sqs: Any, queue_url: str) -> int:
    """About how many messages are hidden right now (received by another reader: a forwarder, a
    ``make quarantine`` running): a sweep started now does not see them."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )
    return int(attributes.get("Attributes", {}).get("ApproximateNumberOfMessagesNotVisible", 0))
