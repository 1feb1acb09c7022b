"""Show what ingest rejected or the tracking plan blocked: one line per quarantined event, with
its reasons (its violations, for a blocked one).

Messages are only looked at (made invisible for a minute while listed, so each shows once),
never deleted unless ``--delete`` is given. ``--json`` prints the full items, events included;
``--blocked`` only the events the tracking plan blocked (the other messages are made visible
again at once, and never deleted).

    python -m edge_ops.quarantine --stack metarouter-edge
    python -m edge_ops.quarantine --local --json
    python -m edge_ops.quarantine --local --blocked
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from edge.ingest.ingestion import BLOCKED, PLAN_VIOLATION
from edge_ops.queues import add_arguments, resolve, show_again


def read(
    sqs: Any, queue_url: str, limit: int, *, delete: bool, blocked: bool = False
) -> list[dict[str, Any]]:
    """Up to ``limit`` quarantined items, oldest messages first as SQS returns them; with
    ``blocked``, only those of the messages of blocked events."""
    items: list[dict[str, Any]] = []
    passed: list[str] = []  # receipt handles of the messages not shown: visible again at the end
    while len(items) < limit:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=60
        ).get("Messages", [])
        if not messages:
            break
        shown = []
        for message in messages:
            try:
                body = json.loads(message["Body"])
                found = body.get("rejected", [])
                kind = body.get("kind")
            except (ValueError, AttributeError):
                found, kind = [{"reason": "unreadable_message", "event": message["Body"][:200]}], None
            if blocked and kind != BLOCKED:
                passed.append(message["ReceiptHandle"])
                continue
            items.extend(found)
            shown.append(message)
        if delete and shown:
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(shown)],
            )
    show_again(sqs, queue_url, passed)
    return items[:limit]


def describe(item: dict[str, Any]) -> str:
    event = item["event"] if isinstance(item.get("event"), dict) else {}
    if item.get("reason") == PLAN_VIOLATION:
        violations = "; ".join(f"{v.get('kind')} {v.get('path')}" for v in item.get("violations", []))
        return (
            f"{item.get('receivedAt', '?')}  {item.get('route', '?'):9} {PLAN_VIOLATION:16} "
            f"{json.dumps(event_name(event))}  messageId={event.get('messageId')}  {violations}"
        )
    errors = "; ".join(f"{e.get('field') or '(event)'}: {e.get('message')}" for e in item.get("errors", []))
    return (
        f"{item.get('receivedAt', '?')}  {item.get('route', '?'):9} {item.get('reason', '?'):16} "
        f"messageId={event.get('messageId')}  {errors}"
    )


def event_name(event: dict[str, Any]) -> str:
    """A blocked event's name: a track event's own, the call's type in parentheses for the others."""
    if event.get("type") == "track":
        return str(event.get("event"))
    return f"({event.get('type')})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edge_ops.quarantine", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    parser.add_argument("--max", type=int, default=100, help="most items to show (default 100)")
    parser.add_argument("--json", action="store_true", help="print whole items as JSON lines")
    parser.add_argument("--delete", action="store_true", help="delete the messages shown")
    parser.add_argument("--blocked", action="store_true", help="only the events the tracking plan blocked")
    args = parser.parse_args(argv)
    target = resolve(args)
    items = read(target.sqs, target.quarantine_queue_url, args.max, delete=args.delete, blocked=args.blocked)
    for item in items:
        print(json.dumps(item) if args.json else describe(item))
    print(f"{len(items)} {'blocked' if args.blocked else 'quarantined'} events", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
