"""Effectively-once delivery against moto's DynamoDB: what was delivered is skipped, in batched calls."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import boto3
import pytest

from edge.dedupe import source_hash
from edge.secret import fingerprint
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
        from edge.config import ForwardSettings
        from edge.wiring import build_forwarder
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


def test_reads_and_writes_are_batched_never_one_call_per_event(forward, dedupe, dynamodb, httpserver):
    accept_all(httpserver)
    events = [track(i) for i in range(250)]
    assert forward(sqs_event(sqs_record(message_body(events), message_id="q1"))) == {"batchItemFailures": []}
    assert dynamodb.calls == Counter({"BatchGetItem": 3, "BatchWriteItem": 10})
    dynamodb.calls.clear()
    assert forward(sqs_event(sqs_record(message_body(events), message_id="q1"))) == {"batchItemFailures": []}
    assert dynamodb.calls == Counter({"BatchGetItem": 3})  # all skipped: nothing sent, nothing written
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
    keys = {item["pk"]["S"].split("#")[1] for item in dynamodb.scan(TableName=dedupe)["Items"]}
    assert keys == {"m-1"}


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
        "print('edge.dedupe' in sys.modules, 'dynamodb' in made)"
    )
    out = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert out == [str(loaded), str(loaded)]
