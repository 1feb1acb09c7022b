"""Move messages from the dead-letter queue back into the events queue after an outage.

In AWS this starts an SQS message move task (``StartMessageMoveTask``) with the events queue
as the explicit destination: messages the forwarder parked itself were sent straight to the
dead-letter queue and have no "original source" for SQS to return them to. moto has no move
tasks, so against the local stack (or any ``AWS_ENDPOINT_URL``) the same move is done by hand:
receive, send to the events queue, delete — a message is deleted only once it is re-queued.

    python -m edge_ops.redrive --stack metarouter-edge          # deployed
    python -m edge_ops.redrive --local                          # make run
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from edge_ops.queues import add_arguments, queue_arn, resolve


def move_by_hand(sqs: Any, source_url: str, destination_url: str, limit: int | None = None) -> int:
    """Move up to ``limit`` messages (all, if None); returns how many were moved."""
    moved = 0
    while limit is None or moved < limit:
        want = 10 if limit is None else min(10, limit - moved)
        messages = sqs.receive_message(
            QueueUrl=source_url, MaxNumberOfMessages=want, WaitTimeSeconds=1, VisibilityTimeout=60
        ).get("Messages", [])
        if not messages:
            return moved
        answer = sqs.send_message_batch(
            QueueUrl=destination_url,
            Entries=[{"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(messages)],
        )
        sent = {int(entry["Id"]) for entry in answer.get("Successful", [])}
        done = [m for i, m in enumerate(messages) if i in sent]
        if done:
            sqs.delete_message_batch(
                QueueUrl=source_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        moved += len(done)
        if len(done) < len(messages):
            raise SystemExit(f"moved {moved}; {len(messages) - len(done)} could not be re-queued, try again")
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_ops.redrive", description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--rate", type=int, help="messages per second for the move task (AWS only)")
    args = parser.parse_args(argv)
    target = resolve(args)
    if target.local:
        moved = move_by_hand(target.sqs, target.dead_letter_queue_url, target.events_queue_url)
        print(f"moved {moved} messages from the dead-letter queue to the events queue")
        return 0
    request: dict[str, Any] = {
        "SourceArn": queue_arn(target.sqs, target.dead_letter_queue_url),
        "DestinationArn": queue_arn(target.sqs, target.events_queue_url),
    }
    if args.rate:
        request["MaxNumberOfMessagesPerSecond"] = args.rate
    handle = target.sqs.start_message_move_task(**request)["TaskHandle"]
    print(f"started message move task {handle}; follow it with:")
    print(f"  aws sqs list-message-move-tasks --source-arn {request['SourceArn']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
