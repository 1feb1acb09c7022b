"""moto's DynamoDB with transactions fit for the delivery log: ``python -m edge_local.moto_dynamodb``.

moto rolls a failed ``TransactWriteItems`` back by deep-copying the whole table once per action
of every transaction: a claim of 100 events copies a table of 100,000 items 100 times, and two
concurrent transactions race on the copy ("dictionary changed size during iteration"). For
transactions of conditional ``Put``s only — all the delivery log sends — ``patch_transactions``
checks every condition first, under one lock, and writes only if all hold: the same answers
(``TransactionCanceledException`` with a reason per action, ``ALL_OLD`` items), no copies.
Anything else goes to moto's own code. Run as a module, it is ``python -m moto.server`` patched.
"""

from __future__ import annotations

import threading
from typing import Any

_LOCK = threading.Lock()
_patched = False


def patch_transactions() -> None:
    """Replace moto's ``transact_write_items`` for Put-only transactions (idempotent)."""
    global _patched  # noqa: PLW0603 - once per process
    if _patched:
        return
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import MultipleTransactionsException, TransactionCanceledException
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100 or not all(list(item) == ["Put"] for item in transact_items):
            with _LOCK:
                return original(self, transact_items)
        with _LOCK:
            seen: set[tuple[str, str]] = set()
            errors: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
            for item in transact_items:
                put = item["Put"]
                table = self.get_table(put["TableName"])
                key = {table.hash_key_attr: put["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = put["Item"][table.range_key_attr]
                name = (put["TableName"], str(sorted(key.items())))
                if name in seen:
                    raise MultipleTransactionsException
                seen.add(name)
                current = self.get_item(put["TableName"], key)
                condition = put.get("ConditionExpression")
                if condition is not None and not get_filter_expression(
                    condition, put.get("ExpressionAttributeNames"), put.get("ExpressionAttributeValues")
                ).expr(current):
                    old = None
                    if put.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        old = current.to_json()["Attributes"]
                    errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
                else:
                    errors.append((None, None, None))
            if any(code is not None for code, _, _ in errors):
                raise TransactionCanceledException(errors)
            for item in transact_items:
                self.put_item(item["Put"]["TableName"], item["Put"]["Item"])
        return None

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _patched = True


if __name__ == "__main__":
    from moto.server import main

    patch_transactions()
    main()
