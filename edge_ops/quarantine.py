"""Show what ingest rejected: one line per quarantined event, with its reasons.

Messages are only looked at (made invisible for a minute while listed, so each shows once),
never deleted unless ``--delete`` is given. ``--json`` prints the full items, events included.

    python -m edge_ops.quarantine --stack metarouter-edge
    python -m edge_ops.quarantine --local --json
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from edge_ops.queues import add_arguments, resolve


def read(sqs: Any, queue_url: str, limit: int, *, delete: bool) -> list[dict[str, Any]]:
    """Up to ``limit`` quarantined items, oldest messages first as SQS returns them."""
    items: list[dict[str, Any]] = []
    while len(items) < limit:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=60
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            try:
                items.extend(json.loads(message["Body"]).get("rejected", []))
            except (ValueError, AttributeError):
                items.append({"reason": "unreadable_message", "event": message["Body"][:200]})
        if delete:
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
    return items[:limit]


def describe(item: dict[str, Any]) -> str:
    event = item["event"] if isinstance(item.get("event"), dict) else {}
    errors = "; ".join(f"{e.get('field') or '(event)'}: {e.get('message')}" for e in item.get("errors", []))
    return (
        f"{item.get('receivedAt', '?')}  {item.get('route', '?'):9} {item.get('reason', '?'):16} "
        f"messageId={event.get('messageId')}  {errors}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edge_ops.quarantine", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    parser.add_argument("--max", type=int, default=100, help="most items to show (default 100)")
    parser.add_argument("--json", action="store_true", help="print whole items as JSON lines")
    parser.add_argument("--delete", action="store_true", help="delete the messages shown")
    args = parser.parse_args(argv)
    target = resolve(args)
    items = read(target.sqs, target.quarantine_queue_url, args.max, delete=args.delete)
    for item in items:
        print(json.dumps(item) if args.json else describe(item))
    print(f"{len(items)} quarantined events", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
