"""Move messages from the dead-letter queue back into the events queue after an outage, or the
events the tracking plan blocked from the quarantine queue into the events queue.

In AWS this starts an SQS message move task (``StartMessageMoveTask``) with the events queue
as the explicit destination: messages the forwarder parked itself were sent straight to the
dead-letter queue and have no "original source" for SQS to return them to. moto has no move
tasks, so against the local stack (or any ``AWS_ENDPOINT_URL``) the same move is done by hand:
receive, send to the events queue, delete — a message is deleted only once it is re-queued.

``--blocked`` moves the events of the quarantine's ``blocked`` messages (the tracking plan's
``block`` mode), once the plan or the site is fixed, by hand in AWS too: each is sent as an
events message under its Source, exactly as ingest would have queued it, and its quarantine
message is deleted only once they are all queued. ``--event`` moves only the track events of
that name; the message's other events are written back to the quarantine as a new blocked
message first. Other quarantine messages are left where they are, visible again at the end.

    python -m edge_ops.redrive --stack metarouter-edge          # deployed
    python -m edge_ops.redrive --local                          # make run
    python -m edge_ops.redrive --local --blocked --event "Order Completed"
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from edge.core.queueing import (
    MAX_MESSAGE_BYTES,
    PARKING_ROOM,
    Entry,
    Queue,
    message_prefix,
    pack,
    pack_events,
    read_message,
    serialize,
)
from edge.ingest.ingestion import BLOCKED
from edge_ops.queues import Sweep, add_arguments, hidden, max_message_bytes, queue_arn, resolve

__all__ = ["BlockedMessage", "Redriven", "move_by_hand", "read_blocked", "redrive_blocked"]

#: How long a quarantine message stays hidden while it is read and its events are sent.
_VISIBILITY: Final = 60


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


# ---------------------------------------------------------------- events the tracking plan blocked


@dataclass(frozen=True)
class BlockedMessage:
    """A blocked quarantine message split in two: the items to move, and those to leave."""

    source: str | None
    chosen: list[dict[str, Any]]
    kept: list[dict[str, Any]]


def read_blocked(body: str, event: str | None = None) -> BlockedMessage | None:
    """A quarantine message of events the tracking plan blocked, its items split by ``event`` (a
    track event's name; None: all); None for any other message, which is never touched."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("v") != 1 or message.get("kind") != BLOCKED:
        return None
    source, items = message.get("source"), message.get("rejected")
    if (source is not None and not isinstance(source, str)) or not isinstance(items, list):
        return None
    chosen: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    for item in items:
        movable = isinstance(item, dict) and isinstance(item.get("event"), dict)
        wanted = movable and (event is None or item["event"].get("event") == event)
        (chosen if wanted else kept).append(item)
    return BlockedMessage(source, chosen, kept)


@dataclass
class Redriven:
    """What a redrive of blocked events did."""

    moved: int = 0
    """Events put on the events queue."""
    left: int = 0
    """Blocked events left in the quarantine: not of ``--event``, or refused by the events queue."""
    messages: int = 0
    """Blocked messages read."""
    untouched: int = 0
    """Other quarantine messages (ordinary rejections), left as they were."""
    refused: int = 0
    """Events the events queue refused (left in the quarantine)."""
    problems: list[str] = field(default_factory=list)


def redrive_blocked(
    sqs: Any,
    quarantine_url: str,
    events_url: str,
    *,
    event: str | None = None,
    events_max_bytes: int | None = None,
    quarantine_max_bytes: int | None = None,
    limit: int | None = None,
) -> Redriven:
    """Move the blocked events of the quarantine (only the track events named ``event``, if given)
    to the events queue; after a message whose events or rest could not all be written, the others
    are only counted.
    The queues' sizes are their ``MaximumMessageSize`` unless given."""
    events_max = events_max_bytes or max_message_bytes(sqs, events_url, MAX_MESSAGE_BYTES)
    quarantine_max = quarantine_max_bytes or max_message_bytes(sqs, quarantine_url, MAX_MESSAGE_BYTES)
    done = Redriven()
    with Sweep(sqs, quarantine_url, visibility=_VISIBILITY, limit=limit) as sweep:
        events_queue = Queue(sqs, events_url, max_bytes=events_max, attempts=5, backoff=0.2)
        mover = _Mover(sweep, events_queue, events_max - PARKING_ROOM, quarantine_max)
        stopped = False
        for message in sweep:
            blocked = read_blocked(message["Body"], event)
            if blocked is None:
                done.untouched += 1
                continue
            done.messages += 1
            if stopped or not blocked.chosen:  # after a failure, the rest is only counted
                done.left += len(blocked.chosen) + len(blocked.kept)
                continue
            stopped = not mover.move(blocked, message, done)
    return done


@dataclass(frozen=True)
class _Mover:
    sweep: Sweep
    events_queue: Queue
    #: What an events message may hold: the events queue's size less the room ingest leaves (for
    #: the attributes the forwarder adds should it park the message whole).
    room: int
    quarantine_max: int

    def move(self, blocked: BlockedMessage, message: dict[str, Any], done: Redriven) -> bool:
        """One blocked message: its chosen events queued, its other items written back, then it
        is deleted; False when something could not be written (the rest of the message stays)."""
        events = [serialize(item["event"]) for item in blocked.chosen]
        bodies = list(pack_events(blocked.source, events, self.room))
        runs = _runs(blocked.chosen, bodies)
        not_sent = set(self.events_queue.send([Entry(body.decode()) for body in bodies]))
        refused = [item for position, run in enumerate(runs) if position in not_sent for item in run]
        moved = len(blocked.chosen) - len(refused)
        rest = blocked.kept + refused
        done.refused += len(refused)
        done.left += len(rest)
        if refused:
            done.problems.append(f"the events queue refused {len(refused)} events (kept in the quarantine)")
        if moved == 0:  # nothing left the message: it stays as it is
            return False
        done.moved += moved
        if rest:
            prefix = message_prefix(blocked.source, kind=BLOCKED, items="rejected")
            written = pack((serialize(item) for item in rest), prefix, self.quarantine_max)
            if not _write_back(self.sweep, written):
                # The original stays whole: its moved events would be sent again (same messageIds).
                done.left += moved
                done.problems.append(
                    f"{moved} events were queued but the rest of their message could not be written "
                    "back: the message stays in the quarantine, and another redrive sends them again"
                )
                return False
        self.sweep.delete(message)
        return not refused


def _write_back(sweep: Sweep, bodies: Iterable[bytes]) -> bool:
    """Send the rest of a blocked message back to the quarantine, each new message marked as seen
    so the sweep does not read it again; False if one could not be sent. The rest of a message
    fits one message (the message held it and more), so in practice this is one call."""
    from botocore.exceptions import BotoCoreError, ClientError

    for body in bodies:
        try:
            answer = sweep.sqs.send_message(QueueUrl=sweep.queue_url, MessageBody=body.decode())
        except (BotoCoreError, ClientError):
            return False
        sweep.seen.add(answer["MessageId"])
    return True


def _runs(items: list[dict[str, Any]], bodies: Sequence[bytes]) -> list[list[dict[str, Any]]]:
    """The items each events message holds, in order (as the forwarder reads them)."""
    runs, position = [], 0
    for body in bodies:
        _, events, _ = read_message(body.decode())
        runs.append(items[position : position + len(events)])
        position += len(events)
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_ops.redrive", description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--rate", type=int, help="messages per second for the move task (AWS only)")
    parser.add_argument(
        "--blocked",
        action="store_true",
        help="move the events the tracking plan blocked from the quarantine queue instead",
    )
    parser.add_argument("--event", help="with --blocked: only the track events of this name")
    args = parser.parse_args(argv)
    if args.event and not args.blocked:
        parser.error("--event takes --blocked (BLOCKED=1): the dead-letter queue is moved whole")
    target = resolve(args)
    if args.blocked:
        return _blocked(target.sqs, target.quarantine_queue_url, target.events_queue_url, args.event)
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


def _blocked(sqs: Any, quarantine_url: str, events_url: str, event: str | None) -> int:
    others = hidden(sqs, quarantine_url)
    done = redrive_blocked(sqs, quarantine_url, events_url, event=event)
    which = f'blocked "{event}" events' if event else "blocked events"
    print(
        f"moved {done.moved} {which} from the quarantine queue to the events queue; "
        f"{done.left} blocked events left in the quarantine ({done.messages} blocked messages read, "
        f"{done.untouched} other quarantine messages left as they were)"
    )
    if others:
        print(
            f"redrive: about {others} quarantine messages were held by another reader (a redrive or "
            "report running, or one stopped in the last minute) and not read: run it again then",
            file=sys.stderr,
        )
    for problem in done.problems:
        print(f"redrive: {problem}; try again", file=sys.stderr)
    return 1 if done.problems else 0


if __name__ == "__main__":
    sys.exit(main())
