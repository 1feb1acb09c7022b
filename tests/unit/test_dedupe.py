"""The delivery log's DynamoDB calls on a fake client: batching, unprocessed keys/items, the window."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from edge.dedupe import DynamoDeliveryLog, source_hash
from edge.errors import TransientError
from support.forwarding import InlineExecutor

NOW = 1_700_000_000.0
TABLE = "delivered"


@dataclass
class FakeDynamoDB:
    """Items by key; the first ``hold_back`` calls leave their last key or item unprocessed."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    gets: list[list[str]] = field(default_factory=list)
    writes: list[list[str]] = field(default_factory=list)
    hold_back: int = 0
    fail: bool = False

    def batch_get_item(self, RequestItems):  # noqa: N803 - boto3's spelling
        if self.fail:
            raise ClientError({"Error": {"Code": "InternalServerError"}}, "BatchGetItem")
        request = RequestItems[TABLE]
        keys = [k["pk"]["S"] for k in request["Keys"]]
        assert len(keys) <= 100
        assert request["ExpressionAttributeNames"] == {"#k": "pk", "#t": "expiresAt"}
        self.gets.append(keys)
        served, left = (keys[:-1], keys[-1:]) if self.hold_back else (keys, [])
        self.hold_back = max(0, self.hold_back - 1)
        answer: dict[str, Any] = {"Responses": {TABLE: [self.items[k] for k in served if k in self.items]}}
        if left:
            answer["UnprocessedKeys"] = {TABLE: {**request, "Keys": [{"pk": {"S": k}} for k in left]}}
        return answer

    def batch_write_item(self, RequestItems):  # noqa: N803 - boto3's spelling
        if self.fail:
            raise ClientError({"Error": {"Code": "InternalServerError"}}, "BatchWriteItem")
        puts = RequestItems[TABLE]
        assert len(puts) <= 25
        keys = [p["PutRequest"]["Item"]["pk"]["S"] for p in puts]
        assert len(set(keys)) == len(keys)
        self.writes.append(keys)
        served, left = (puts[:-1], puts[-1:]) if self.hold_back else (puts, [])
        self.hold_back = max(0, self.hold_back - 1)
        for put in served:
            item = put["PutRequest"]["Item"]
            self.items[item["pk"]["S"]] = item
        return {"UnprocessedItems": {TABLE: left}} if left else {"UnprocessedItems": {}}


def delivery_log(dynamodb: FakeDynamoDB, now: float = NOW) -> DynamoDeliveryLog:
    return DynamoDeliveryLog(
        dynamodb,  # type: ignore[arg-type]
        TABLE,
        window_hours=24,
        executor=InlineExecutor(),
        clock=lambda: now,
        sleep=lambda _: None,
    )


def test_keys_name_the_source_by_a_hash_never_by_its_id():
    log = delivery_log(FakeDynamoDB())
    key = log.key("ILoveData123", "m-1")
    assert key == f"{source_hash('ILoveData123')}#m-1"
    assert "ILoveData123" not in key
    assert len(source_hash("ILoveData123")) == 32
    assert source_hash("ILoveData123") != source_hash("OtherSource")


def test_recorded_keys_are_found_until_the_window_ends():
    dynamodb = FakeDynamoDB()
    delivery_log(dynamodb).record(["a", "b"])
    assert {item["expiresAt"]["N"] for item in dynamodb.items.values()} == {str(int(NOW) + 24 * 3600)}
    assert delivery_log(dynamodb, NOW + 3600).delivered(["a", "b", "c"]) == {"a", "b"}
    # Past the window: DynamoDB's TTL may not have deleted the items yet; they count as absent.
    assert delivery_log(dynamodb, NOW + 24 * 3600 + 1).delivered(["a", "b"]) == set()


def test_reads_go_100_keys_a_call_and_writes_25_items_a_call():
    dynamodb = FakeDynamoDB()
    log = delivery_log(dynamodb)
    keys = [f"k{i}" for i in range(250)]
    log.record(keys + keys[:10])  # a key twice is written once
    assert [len(w) for w in dynamodb.writes] == [25] * 10
    assert log.delivered(keys) == set(keys)
    assert [len(g) for g in dynamodb.gets] == [100, 100, 50]


def test_unprocessed_keys_and_items_are_asked_for_again():
    dynamodb = FakeDynamoDB(hold_back=1)
    log = delivery_log(dynamodb)
    log.record(["a", "b", "c"])
    assert sorted(dynamodb.items) == ["a", "b", "c"]
    assert dynamodb.writes == [["a", "b", "c"], ["c"]]
    dynamodb.hold_back = 1
    assert log.delivered(["a", "b", "c"]) == {"a", "b", "c"}
    assert dynamodb.gets[-2:] == [["a", "b", "c"], ["c"]]


def test_items_dynamodb_keeps_leaving_unprocessed_are_reported():
    dynamodb = FakeDynamoDB(hold_back=100)
    log = delivery_log(dynamodb)
    with pytest.raises(TransientError, match="1 deliveries could not be recorded"):
        log.record(["a", "b"])
    with pytest.raises(TransientError, match="left keys unread"):
        log.delivered(["a", "b"])


def test_an_unreachable_table_is_a_transient_error():
    log = delivery_log(FakeDynamoDB(fail=True))
    with pytest.raises(TransientError):
        log.delivered(["a"])
    with pytest.raises(TransientError):
        log.record(["a"])


def test_nothing_to_read_or_write_makes_no_call():
    dynamodb = FakeDynamoDB()
    log = delivery_log(dynamodb)
    assert log.delivered([]) == set()
    log.record([])
    assert dynamodb.gets == dynamodb.writes == []
