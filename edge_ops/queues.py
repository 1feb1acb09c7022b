"""Finding a stack's queues: from CloudFormation outputs, the local stack, or explicit URLs."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from typing import Any

import boto3

from edge_local.clients import STATE_FILE, client


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


def resolve(args: argparse.Namespace) -> Target:
    if args.local:
        if not STATE_FILE.exists():
            raise SystemExit(f"no local stack: start one with `make run` ({STATE_FILE} is missing)")
        state = json.loads(STATE_FILE.read_text())
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
