"""Effectively-once delivery against moto's DynamoDB: what was delivered is skipped, in batched calls."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from werkzeug import Response

from edge.core.secret import fingerprint
from edge.forward.dedupe import CLAIM_MARGIN, Claims, DynamoDeliveryLog, source_hash
from edge.forward.forwarding import ForwardResult, QueuedMessage
from edge_local.aws import create_delivered_table
from support.sqs import message_body, sqs_event, sqs_record
from support.upstream import received

ROOT = Path(__file__).resolve().parents[2]
CLOSED_SOURCES = {"pk_web_7f3a": "ILoveData123", "pk_ios_91bc": "OtherSource"}


def track(n: int) -> dict[str, str]:
    return {"type": "track", "event": "Clicked", "userId": "u-1", "messageId": f"m-{n}"}


@pytest.fixture
def dynamodb(aws_stack):
    client = boto3.client("dynamodb")
    calls: Counter[str] = Counter()
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.update([model.name]))
    client.calls = calls  # type: ignore[attr-defined]
    return client


@pytest.fixture
def dedupe(forward, dynamodb):
    table = create_delivered_table(dynamodb)
    dynamodb.calls.clear()

    def configure(**env):
        from edge.core.config import ForwardSettings
        from edge.forward.wiring import build_forwarder
        from forward import app

        forward.close()
        settings = ForwardSettings.from_env(
            {
                "EDGE_SECRET_ID": forward.aws.secret_id,
                "DEAD_LETTER_QUEUE_URL": forward.aws.dead_letter_url,
                "METAROUTER_ENDPOINT": forward.endpoint,
                "DEDUPE_WINDOW_HOURS": "24",
                "DEDUPE_TABLE_NAME": table,
                **env,
            }
        )
        forward.forwarder = build_forwarder(settings, dynamodb=dynamodb, sleep=forward.sleeps.append)
        forward.monkeypatch.setattr(app, "forwarder", forward.forwarder)

    configure()
    forward.configure_dedupe = configure  # type: ignore[attr-defined]
    return table


def accept_all(httpserver):
    httpserver.expect_request(re.compile(r"^/v1/\w+$"), method="POST").respond_with_json({"success": True})


def sent(httpserver) -> Counter[str]:
    return Counter(m for got in received(httpserver) for m in got.ids)


def test_a_message_redelivered_after_its_events_were_delivered_sends_nothing_again(
    forward, dedupe, httpserver
):
    accept_all(httpserver)
    record = sqs_record(message_body([track(1), track(2)]), message_id="q1")
    assert forward(sqs_event(record)) == {"batchItemFailures": []}
    # SQS hands the same message out again (the invocation died after the upstream's 2xx).
    assert forward(sqs_event(record)) == {"batchItemFailures": []}
    assert sent(httpserver) == Counter({"m-1": 1, "m-2": 1})


def test_the_table_holds_hashed_keys_with_an_expiry_never_a_source_id(forward, dedupe, dynamodb, httpserver):
    accept_all(httpserver)
    forward(sqs_event(sqs_record(message_body([track(1)]), message_id="q1")))
    [item] = dynamodb.scan(TableName=dedupe)["Items"]
    assert item["pk"] == {"S": f"{source_hash('ILoveData123')}#m-1"}
    assert "ILoveData123" not in str(item)
    assert int(item["expiresAt"]["N"]) > 0


def test_claims_and_writes_are_batched_never_one_call_per_event(forward, dedupe, dynamodb, httpserver):
    accept_all(httpserver)
    events = [track(i) for i in range(250)]
    assert forward(sqs_event(sqs_record(message_body(events), message_id="q1"))) == {"batchItemFailures": []}
    # One claim per request of 100 events; each request's confirmations in writes of 25.
    assert dynamodb.calls == Counter({"TransactWriteItems": 3, "BatchWriteItem": 10})
    dynamodb.calls.clear()
    assert forward(sqs_event(sqs_record(message_body(events), message_id="q1"))) == {"batchItemFailures": []}
    # Every claim is refused (delivered): nothing sent, nothing written.
    assert dynamodb.calls == Counter({"TransactWriteItems": 3})
    assert sum(sent(httpserver).values()) == 250


def test_the_same_message_id_from_two_sources_is_delivered_to_each(forward, dedupe, aws_stack, httpserver):
    accept_all(httpserver)
    aws_stack.set_secret({"sources": CLOSED_SOURCES})
    web = sqs_record(message_body([track(1)], fingerprint("pk_web_7f3a")), message_id="q1")
    ios = sqs_record(message_body([track(1)], fingerprint("pk_ios_91bc")), message_id="q2")
    forward(sqs_event(web))
    forward(sqs_event(ios, web))
    assert [(r.authorization, r.ids) for r in received(httpserver)] == [
        ("Basic SUxvdmVEYXRhMTIzOg==", ["m-1"]),
        ("Basic T3RoZXJTb3VyY2U6", ["m-1"]),
    ]


def test_only_what_the_upstream_confirmed_is_recorded(forward, dedupe, dynamodb, httpserver):
    httpserver.expect_request("/v1/batch").respond_with_json(
        {"errors": [{"messageId": "m-2", "status": 503}]}, status=207
    )
    forward.configure_dedupe(UPSTREAM_MAX_ATTEMPTS="1")
    forward(sqs_event(sqs_record(message_body([track(1), track(2)]), message_id="q1")))
    items = {item["pk"]["S"].split("#")[1]: item for item in dynamodb.scan(TableName=dedupe)["Items"]}
    # m-2 is still only claimed (it expires soon after the request); m-1 is a delivery record.
    assert {key for key, item in items.items() if "claimedBy" not in item} == {"m-1"}
    assert "claimedBy" in items["m-2"]
    assert int(items["m-2"]["expiresAt"]["N"]) < int(items["m-1"]["expiresAt"]["N"])


@pytest.mark.parametrize(("hours", "loaded"), [("0", False), ("24", True)])
def test_dynamodb_is_imported_and_its_client_created_only_with_a_window(hours, loaded):
    """The forwarder's cold start stays as lean as before unless the delivery log is on."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT", "DEDUPE_"))},
        "DEDUPE_WINDOW_HOURS": hours,
        "DEDUPE_TABLE_NAME": "delivered",
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("functions", "layers/edge")),
    }
    probe = (
        "import sys, boto3; made = []; real = boto3.client\n"
        "boto3.client = lambda name, **kw: (made.append(name), real(name, **kw))[1]\n"
        "import forward.app\n"
        "print('edge.forward.dedupe' in sys.modules, 'dynamodb' in made)"
    )
    out = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert out == [str(loaded), str(loaded)]


# ---------------------------------------------------------------- claims, against moto's DynamoDB


def table_log(dynamodb, table, now: float) -> DynamoDeliveryLog:
    return DynamoDeliveryLog(
        dynamodb, table, window_hours=24, hold_seconds=14, executor=ThreadPoolExecutor(4), clock=lambda: now
    )


def test_claims_hold_expire_and_become_deliveries_in_dynamodb(dedupe, dynamodb):
    now = 1_800_000_000.0
    first, second = table_log(dynamodb, dedupe, now), table_log(dynamodb, dedupe, now + 1)
    assert first.claim(["a", "b"], "one") == Claims(won={"a", "b"})
    assert second.claim(["b", "c"], "two") == Claims(won={"c"}, held={"b"})
    assert first.claim(["a"], "one") == Claims(won={"a"})  # renewed by its holder
    [future] = first.record(["a"])
    assert future.result() == 0
    assert second.claim(["a"], "two") == Claims(delivered={"a"})
    assert second.delivered(["a", "b", "c"]) == {"a"}  # claims are not deliveries
    expired = table_log(dynamodb, dedupe, now + 14 + CLAIM_MARGIN + 1)
    assert expired.claim(["b"], "two") == Claims(won={"b"})  # its claimant never confirmed


def test_two_forwarders_racing_on_copies_of_a_message_send_each_event_once(aws_stack, dedupe, httpserver):
    """Two execution environments get copies of one message at once (a client's retry queued
    twice): one claims and sends, the other holds back; redelivered, it finds them delivered."""
    from edge.core.config import ForwardSettings
    from edge.forward.wiring import build_forwarder

    def slow_accept(request):
        time.sleep(0.3)  # the first forwarder's request is in flight while the second claims
        return Response(json.dumps({"success": True}), content_type="application/json")

    httpserver.expect_request(re.compile(r"^/v1/batch$"), method="POST").respond_with_handler(slow_accept)
    settings = ForwardSettings.from_env(
        {
            "EDGE_SECRET_ID": aws_stack.secret_id,
            "DEAD_LETTER_QUEUE_URL": aws_stack.dead_letter_url,
            "METAROUTER_ENDPOINT": httpserver.url_for("").rstrip("/"),
            "DEDUPE_WINDOW_HOURS": "24",
            "DEDUPE_TABLE_NAME": dedupe,
        }
    )
    forwarders = [build_forwarder(settings), build_forwarder(settings)]
    body = message_body([track(i) for i in range(150)])
    copies = [QueuedMessage("copy-1", body), QueuedMessage("copy-2", body)]
    start = threading.Barrier(2)

    def run(index: int) -> ForwardResult:
        start.wait()
        return forwarders[index].forward([copies[index]], 60_000)

    try:
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(run, [0, 1]))
        assert sent(httpserver) == Counter({f"m-{i}": 1 for i in range(150)})
        # Each request of 100 and of 50 went out from whichever claimed it first; what a forwarder
        # found held went back (to SQS, or to the queue): its next delivery finds it delivered.
        assert sum(r.forwarded for r in results) == 150
        for forwarder, copy, result in zip(forwarders, copies, results, strict=True):
            if result.failed or result.requeued:
                again = forwarder.forward([copy], 60_000)  # the redelivery
                assert (again.forwarded, again.skipped, again.failed) == (0, 150, frozenset())
        assert sent(httpserver) == Counter({f"m-{i}": 1 for i in range(150)})
    finally:
        for forwarder in forwarders:
            forwarder.close()
