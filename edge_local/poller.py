"""Drives the forward function the way Lambda's SQS event source mapping does.

Long polling; batches of up to ``batch_size`` records gathered for at most the batching window;
up to ``max_concurrency`` invocations in flight; records whose ids come back in
``batchItemFailures`` (or all of them, if the invocation fails) are left to the visibility
timeout, so the queue's redrive policy moves repeated failures to the dead-letter queue.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from edge_local.clients import REGION
from edge_local.functions import LocalFunction
from edge_local.live import LiveFeed
from edge_local.live_entries import batch_entry

_RECEIVE_MAX = 10  # SQS ReceiveMessage's limit per call


class Poller:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        function: LocalFunction,
        *,
        batch_size: int,
        batching_window: float,
        max_concurrency: int,
        report: Callable[[str], None] = print,
        live: LiveFeed | None = None,
        name: str = "forwarder",
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._function = function
        self._batch_size = batch_size
        self._window = batching_window
        self._slots = threading.Semaphore(max_concurrency)
        self._report = report
        self._live = live
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: Counter[str] = Counter()  # SQS messageId -> invocations working on it
        self._acknowledged: set[str] = set()  # SQS messageIds an invocation finished with
        self._overlaps: set[str] = set()  # events of messages handed out again (see _track)
        self._name = name
        self._threads = [
            threading.Thread(target=self._run, name=f"{name}-poller-{i}", daemon=True) for i in range(2)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._slots.acquire()
            try:
                messages = self._gather()
            except Exception as exc:  # noqa: BLE001 - the endpoint may be down for a while
                self._slots.release()
                self._report(f"poller: receive failed ({type(exc).__name__}); retrying")
                time.sleep(1)
                continue
            if not messages:
                self._slots.release()
                continue
            self._track(messages)
            future = self._function.submit(_sqs_event(messages, self._queue_arn))
            future.add_done_callback(functools.partial(self._settle, messages))

    def _gather(self) -> list[dict[str, Any]]:
        """Receive until the batch is full or the batching window, opened by the first message, ends."""
        messages: list[dict[str, Any]] = []
        deadline: float | None = None
        while len(messages) < self._batch_size and not self._stopping.is_set():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            wait = 2 if deadline is None else int(min(2, deadline - now))
            received = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=min(_RECEIVE_MAX, self._batch_size - len(messages)),
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                if deadline is None:
                    return messages  # idle: let the caller check for shutdown
                if wait == 0:
                    time.sleep(0.05)
                continue
            deadline = deadline or time.monotonic() + self._window
            messages.extend(received)
        return messages

    def _track(self, messages: list[dict[str, Any]]) -> None:
        """Count the messages in flight; note the events of one SQS hands out while still in flight
        or after an invocation finished with it (its visibility timeout ran out before the
        invocation was settled, or two receives raced)."""
        with self._lock:
            for message in messages:
                message_id = message["MessageId"]
                if self._in_flight[message_id] or message_id in self._acknowledged:
                    self._overlaps.update(_body_message_ids(message.get("Body", "")))
                self._in_flight[message_id] += 1

    def overlapping_events(self) -> set[str]:
        """``messageId``s of the events of messages handed out again while an invocation had them."""
        with self._lock:
            return set(self._overlaps)

    def _settle(self, messages: list[dict[str, Any]], future: Future[Any]) -> None:
        failed = _failed_ids(future, messages)
        done = [m for m in messages if m["MessageId"] not in failed]
        with self._lock:
            self._acknowledged.update(m["MessageId"] for m in done)
            for message in messages:
                self._in_flight[message["MessageId"]] -= 1
                if not self._in_flight[message["MessageId"]]:
                    del self._in_flight[message["MessageId"]]
        try:
            for start in range(0, len(done), 10):
                chunk = done[start : start + 10]
                self._sqs.delete_message_batch(
                    QueueUrl=self._queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
                    ],
                )
            events = sum(_event_count(m) for m in messages)
            line = f"{self._name}: {len(messages)} messages ({events} events)"
            self._report(line + (f", {len(failed)} left for redelivery" if failed else ", all delivered"))
            if self._live is not None and self._live.watching:
                bodies, ids = [m["Body"] for m in messages], [m["MessageId"] for m in messages]
                self._live.publish(batch_entry(bodies, ids, failed & set(ids)))
        except Exception as exc:  # noqa: BLE001 - keep polling whatever happened
            self._report(f"{self._name}: could not settle a batch ({type(exc).__name__})")
        finally:
            self._slots.release()


def _failed_ids(future: Future[Any], messages: list[dict[str, Any]]) -> set[str]:
    try:
        response = future.result()
    except Exception:  # noqa: BLE001 - a failed invocation retries the whole batch
        return {m["MessageId"] for m in messages}
    return {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}


def event_message_ids(event: dict[str, Any]) -> list[str]:
    """The events' ``messageId``s in an SQS event for the forwarder."""
    return [m for record in event.get("Records", []) for m in _body_message_ids(record.get("body", ""))]


def _body_message_ids(body: str) -> list[str]:
    try:
        events = json.loads(body).get("events", [])
    except (ValueError, AttributeError):
        return []
    if not isinstance(events, list):  # an archive message: its events are compressed
        return []
    return [str(e.get("messageId")) for e in events if isinstance(e, dict)]


def _event_count(message: dict[str, Any]) -> int:
    """The events of an events message, or the count an archive message states."""
    try:
        events = json.loads(message["Body"]).get("events", [])
    except (ValueError, AttributeError):
        return 0
    return events if isinstance(events, int) else len(events) if isinstance(events, list) else 0


def lambda_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """SQS ``MessageAttributes`` as the event source mapping spells them in a record."""
    return {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        for name, value in attributes.items()
    }


def _sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping would deliver for these messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": lambda_attributes(m.get("MessageAttributes", {})),
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }
