"""template.yaml's delivery settings: events sent back to the queue, and the optional delivery log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from support.cfn import resolve

Render = Callable[..., dict[str, Any]]


def _forward_env(cfn: dict[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = cfn["Resources"]["ForwardFunction"]["Properties"]["Environment"]["Variables"]
    return variables


def _forward_statements(cfn: dict[str, Any]) -> list[dict[str, Any]]:
    policies = cfn["Resources"]["ForwardFunctionRole"]["Properties"]["Policies"]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def _tables(cfn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in cfn["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"}


@pytest.fixture(scope="module")
def on(render: Render) -> dict[str, Any]:
    return resolve(render(DedupeWindowHours="24"), DedupeWindowHours="24")


@pytest.fixture(scope="module")
def off(render: Render) -> dict[str, Any]:
    return resolve(render())


def test_events_sent_back_wait_as_long_as_a_redelivery_and_park_at_the_redrive_count(
    off: dict[str, Any],
) -> None:
    queue = off["Resources"]["EventsQueue"]["Properties"]
    env = _forward_env(off)
    assert env["EVENTS_QUEUE_URL"] == {"Ref": "EventsQueue"}
    assert env["MAX_RECEIVE_COUNT"] == queue["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    assert env["REQUEUE_DELAY_SECONDS"] == queue["VisibilityTimeout"]
    assert env["REQUEUE_DELAY_SECONDS"] <= 900  # SQS's most DelaySeconds


def test_off_by_default_no_table_and_no_dynamodb_permission(off: dict[str, Any]) -> None:
    assert off["Parameters"]["DedupeWindowHours"]["Default"] == 0
    assert _tables(off) == {}
    assert "DEDUPE_TABLE_NAME" not in _forward_env(off)
    assert _forward_env(off)["DEDUPE_WINDOW_HOURS"] == {"Ref": "DedupeWindowHours"}
    actions = [
        a
        for s in _forward_statements(off)
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert not [a for a in actions if a.startswith("dynamodb:")]


def test_on_an_encrypted_on_demand_table_with_ttl_that_only_the_forwarder_may_claim_read_and_write(
    on: dict[str, Any],
) -> None:
    [(name, table)] = _tables(on).items()
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert _forward_env(on)["DEDUPE_TABLE_NAME"] == {"Ref": name}
    grants = [s for s in _forward_statements(on) if any(str(a).startswith("dynamodb:") for a in s["Action"])]
    assert grants == [
        {
            "Sid": "DeliveryLog",
            "Effect": "Allow",
            "Action": ["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:PutItem"],
            "Resource": {"Fn::GetAtt": [name, "Arn"]},
        }
    ]
    # The ingest function never touches it.
    ingest = on["Resources"]["IngestFunctionRole"]["Properties"]["Policies"]
    assert name not in str(ingest)


def test_the_table_key_names_what_the_code_writes() -> None:
    from edge.forward.dedupe import KEY_ATTRIBUTE, TTL_ATTRIBUTE

    assert (KEY_ATTRIBUTE, TTL_ATTRIBUTE) == ("pk", "expiresAt")
