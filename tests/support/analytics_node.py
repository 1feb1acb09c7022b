"""@segment/analytics-node driven from the e2e tests: the calls it is given and the script that
sends them (tests/e2e/js/node-client.mjs), shared by the tests that run it against a stack."""

from __future__ import annotations

import uuid
from typing import Any

from support.js import JS_DIR, run_script

__all__ = ["LIBRARY", "SCRIPT", "every_type_calls", "run_node_client"]

SCRIPT = "node-client.mjs"
LIBRARY = JS_DIR / "node_modules" / "@segment" / "analytics-node"


def every_type_calls(tag: str) -> list[dict[str, Any]]:
    """One call of every type with an explicit messageId, and one the library numbers itself."""
    user, anon = f"{tag}-user", f"{tag}-anon"
    calls: list[dict[str, Any]] = [
        {"type": "identify", "userId": user, "traits": {"plan": "pro", "email": "n@example.com"}},
        {"type": "track", "userId": user, "event": "Order Completed", "properties": {"total": 42}},
        {"type": "page", "anonymousId": anon, "name": "Home", "properties": {"url": "https://x.test/"}},
        {"type": "screen", "userId": user, "name": "Settings", "properties": {"tab": 2}},
        {"type": "group", "userId": user, "groupId": f"{tag}-group", "traits": {"name": "Acme"}},
        {"type": "alias", "userId": user, "previousId": anon},
    ]
    for call in calls:
        call["messageId"] = f"{tag}-{call['type']}-{uuid.uuid4()}"
    calls.append({"type": "track", "userId": user, "event": "No Explicit Id"})
    return calls


def run_node_client(node: str, api: str, write_key: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    """Send ``calls`` through the library to ``api``, flush and close it; what it reports it did."""
    return run_script(node, SCRIPT, api, write_key, calls=calls)
