"""Show what ingest rejected or the tracking plan blocked: one line per quarantined event, with
its reasons (its violations, for a blocked one).

Messages are only looked at (each read once, hidden while listed and visible again at the end),
never deleted unless ``--delete`` is given. ``--json`` prints the full items, events included;
``--blocked`` only the events the tracking plan blocked (the other messages are never deleted).

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
from edge_ops.queues import Sweep, add_arguments, resolve


def read(
    sqs: Any, queue_url: str, limit: int, *, delete: bool, blocked: bool = False
) -> list[dict[str, Any]]:
    """Up to ``limit`` quarantined items, oldest messages first as SQS returns them; with
    ``blocked``, only those of the messages of blocked events. Each message is read once; what
    is not deleted is visible again at the end (``make redrive BLOCKED=1`` may follow at once)."""
    items: list[dict[str, Any]] = []
    with Sweep(sqs, queue_url, visibility=60) as sweep:
        for message in sweep:
            if len(items) >= limit:
                break
            try:
                body = json.loads(message["Body"])
                found, kind = body.get("rejected", []), body.get("kind")
            except (ValueError, AttributeError):
                found, kind = [{"reason": "unreadable_message", "event": message["Body"][:200]}], None
            if blocked and kind != BLOCKED:
                continue
            items.extend(found)
            if delete:
                sweep.delete(message)
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
