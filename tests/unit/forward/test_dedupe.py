"""The delivery log's DynamoDB calls on a fake client: claims, batching, unprocessed keys/items,
the window, and what each failure becomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from edge.core.errors import TransientError
from edge.forward.dedupe import CLAIM_MARGIN, Claims, DynamoDeliveryLog, source_hash
from support.forwarding import InlineExecutor

NOW = 1_700_000_000.0
TABLE = "delivered"


@dataclass
class FakeDynamoDB:
    """Items by key; the first ``hold_back`` calls leave their last key or item unprocessed."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    gets: list[list[str]] = field(default_factory=list)
    writes: list[list[str]] = field(default_factory=list)
    claims: list[list[str]] = field(default_factory=list)
    hold_back: int = 0
    fail: bool = False
    conflicts: set[str] = field(default_factory=set)
    """Keys another transaction is writing right now (``TransactionConflict``)."""
    throttle: int = 0
    """Transactions cancelled as throttled before one goes through."""
    now: float = NOW

    def transact_write_items(self, TransactItems):  # noqa: N803 - boto3's spelling
        if self.fail:
            raise ClientError({"Error": {"Code": "InternalServerError"}}, "TransactWriteItems")
        assert len(TransactItems) <= 100
        puts = [action["Put"] for action in TransactItems]
        keys = [put["Item"]["pk"]["S"] for put in puts]
        assert len(set(keys)) == len(keys)
        self.claims.append(keys)
        reasons = []
        for put in puts:
            key, values = put["Item"]["pk"]["S"], put["ExpressionAttributeValues"]
            assert put["ConditionExpression"] == "attribute_not_exists(#k) OR #t < :now OR #c = :me"
            assert put["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
            old = self.items.get(key)
            if self.throttle:
                reasons.append({"Code": "ThrottlingError"})
            elif key in self.conflicts:
                reasons.append({"Code": "TransactionConflict"})
            elif (
                old is None
                or ("expiresAt" in old and float(old["expiresAt"]["N"]) < float(values[":now"]["N"]))
                or old.get("claimedBy") == values[":me"]
            ):
                reasons.append({"Code": "None"})
            else:
                reasons.append({"Code": "ConditionalCheckFailed", "Item": old})
        self.throttle = max(0, self.throttle - 1)
        if any(r["Code"] != "None" for r in reasons):
            error = {"Error": {"Code": "TransactionCanceledException"}, "CancellationReasons": reasons}
            raise ClientError(error, "TransactWriteItems")  # type: ignore[arg-type]
        for put in puts:
            self.items[put["Item"]["pk"]["S"]] = put["Item"]
        return {}

    def batch_get_item(self, RequestItems):  # noqa: N803 - boto3's spelling
        if self.fail:
            raise ClientError({"Error": {"Code": "InternalServerError"}}, "BatchGetItem")
        request = RequestItems[TABLE]
        keys = [k["pk"]["S"] for k in request["Keys"]]
        assert len(keys) <= 100
        assert request["ExpressionAttributeNames"] == {"#k": "pk", "#t": "expiresAt", "#c": "claimedBy"}
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
        hold_seconds=14,
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


def record(log: DynamoDeliveryLog, keys: list[str]) -> int:
    """Record ``keys`` and wait: how many stayed unwritten."""
    return sum(future.result() for future in log.record(keys))


def test_recorded_keys_are_found_until_the_window_ends():
    dynamodb = FakeDynamoDB()
    record(delivery_log(dynamodb), ["a", "b"])
    assert {item["expiresAt"]["N"] for item in dynamodb.items.values()} == {str(int(NOW) + 24 * 3600)}
    assert delivery_log(dynamodb, NOW + 3600).delivered(["a", "b", "c"]) == {"a", "b"}
    # Past the window: DynamoDB's TTL may not have deleted the items yet; they count as absent.
    assert delivery_log(dynamodb, NOW + 24 * 3600 + 1).delivered(["a", "b"]) == set()


def test_reads_go_100_keys_a_call_and_writes_25_items_a_call():
    dynamodb = FakeDynamoDB()
    log = delivery_log(dynamodb)
    keys = [f"k{i}" for i in range(250)]
    record(log, keys + keys[:10])  # a key twice is written once
    assert [len(w) for w in dynamodb.writes] == [25] * 10
    assert log.delivered(keys) == set(keys)
    assert [len(g) for g in dynamodb.gets] == [100, 100, 50]


def test_unprocessed_keys_and_items_are_asked_for_again():
    dynamodb = FakeDynamoDB(hold_back=1)
    log = delivery_log(dynamodb)
    record(log, ["a", "b", "c"])
    assert sorted(dynamodb.items) == ["a", "b", "c"]
    assert dynamodb.writes == [["a", "b", "c"], ["c"]]
    dynamodb.hold_back = 1
    assert log.delivered(["a", "b", "c"]) == {"a", "b", "c"}
    assert dynamodb.gets[-2:] == [["a", "b", "c"], ["c"]]


def test_items_dynamodb_keeps_leaving_unprocessed_are_reported():
    dynamodb = FakeDynamoDB(hold_back=100)
    log = delivery_log(dynamodb)
    assert record(log, ["a", "b"]) == 1
    with pytest.raises(TransientError, match="left keys unread"):
        log.delivered(["a", "b"])


def test_an_unreachable_table_is_a_transient_error():
    log = delivery_log(FakeDynamoDB(fail=True))
    with pytest.raises(TransientError):
        log.delivered(["a"])
    assert record(log, ["a"]) == 1
    assert log.claim(["a", "b"], "me").failed == {"a", "b"}


def test_nothing_to_read_or_write_makes_no_call():
    dynamodb = FakeDynamoDB()
    log = delivery_log(dynamodb)
    assert log.delivered([]) == set()
    assert log.record([]) == []
    assert log.claim([], "me") == Claims()
    assert dynamodb.gets == dynamodb.writes == dynamodb.claims == []


# ---------------------------------------------------------------- claims


def test_a_claim_names_its_invocation_and_expires_after_the_longest_request_and_a_margin():
    dynamodb = FakeDynamoDB()
    claims = delivery_log(dynamodb).claim(["a", "b"], "inv-1")
    assert claims == Claims(won={"a", "b"})
    assert dynamodb.items["a"] == {
        "pk": {"S": "a"},
        "expiresAt": {"N": str(int(NOW + 14 + CLAIM_MARGIN))},
        "claimedBy": {"S": "inv-1"},
    }


def test_a_claim_of_another_invocation_holds_the_event_until_it_expires():
    dynamodb = FakeDynamoDB()
    delivery_log(dynamodb).claim(["a"], "inv-1")
    assert delivery_log(dynamodb, NOW + 10).claim(["a", "b"], "inv-2") == Claims(won={"b"}, held={"a"})
    # The transaction was cancelled by "a": "b" was claimed by a second one without it.
    assert dynamodb.claims[-2:] == [["a", "b"], ["b"]]
    # Expired (its claimant crashed, say): anyone may claim it.
    later = NOW + 14 + CLAIM_MARGIN + 1
    assert delivery_log(dynamodb, later).claim(["a"], "inv-2") == Claims(won={"a"})
    assert dynamodb.items["a"]["claimedBy"] == {"S": "inv-2"}


def test_a_claim_held_by_the_same_invocation_is_renewed():
    dynamodb = FakeDynamoDB()
    delivery_log(dynamodb).claim(["a"], "inv-1")
    assert delivery_log(dynamodb, NOW + 10).claim(["a"], "inv-1") == Claims(won={"a"})
    assert dynamodb.items["a"]["expiresAt"] == {"N": str(int(NOW + 10 + 14 + CLAIM_MARGIN))}


def test_a_delivered_event_is_not_claimed_and_a_confirmed_claim_becomes_a_delivery():
    dynamodb = FakeDynamoDB()
    log = delivery_log(dynamodb)
    log.claim(["a"], "inv-1")
    assert log.delivered(["a"]) == set()  # a claim is not a delivery
    record(log, ["a"])
    assert "claimedBy" not in dynamodb.items["a"]
    assert log.delivered(["a"]) == {"a"}
    assert delivery_log(dynamodb, NOW + 3600).claim(["a"], "inv-1") == Claims(delivered={"a"})
    # Past the window the event may be claimed and sent again, as without a log.
    assert delivery_log(dynamodb, NOW + 24 * 3600 + 1).claim(["a"], "inv-2") == Claims(won={"a"})


def test_claims_go_100_keys_a_transaction_each_key_once():
    dynamodb = FakeDynamoDB()
    keys = [f"k{i}" for i in range(250)]
    assert delivery_log(dynamodb).claim(keys + keys[:5], "me").won == set(keys)
    assert [len(c) for c in dynamodb.claims] == [100, 100, 50]


def test_a_transaction_in_progress_on_an_event_holds_it():
    dynamodb = FakeDynamoDB(conflicts={"a"})
    assert delivery_log(dynamodb).claim(["a", "b"], "me") == Claims(won={"b"}, held={"a"})


def test_throttled_claims_are_tried_again_then_reported_as_failed():
    dynamodb = FakeDynamoDB(throttle=2)
    assert delivery_log(dynamodb).claim(["a", "b"], "me") == Claims(won={"a", "b"})
    assert len(dynamodb.claims) == 3
    dynamodb = FakeDynamoDB(throttle=100)
    assert delivery_log(dynamodb).claim(["a", "b"], "me") == Claims(failed={"a", "b"})
    assert len(dynamodb.claims) == 5


def test_a_record_written_without_an_expiry_counts_as_delivered():
    dynamodb = FakeDynamoDB(items={"a": {"pk": {"S": "a"}}})
    log = delivery_log(dynamodb)
    assert log.delivered(["a"]) == {"a"}
    assert log.claim(["a"], "me") == Claims(delivered={"a"})
