"""The privacy controls through the local stack, configured as `make run` takes them (the same
variables as the template's parameters), with a real client library beside hand-made requests."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
from collections.abc import Iterator

import pytest
from segment.analytics import Client

from support.local_stack import LocalStack, start_stack, stop_stack

pytestmark = pytest.mark.e2e

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


@pytest.fixture(scope="module")
def controlled() -> Iterator[LocalStack]:
    running = start_stack(
        {
            "METAROUTER_WRITE_KEY": "LOCAL_SOURCE_ID",
            "BOT_POLICY": "flag",
            "GPC_POLICY": "anonymize",
            "REQUIRED_CONSENT": "analytics",
            "HASH_FIELDS": "traits.email",
        }
    )
    yield running
    stop_stack(running)
    assert running.process.returncode == 0, "\n".join(running.output[-20:])


def _post(stack: LocalStack, path: str, body: dict, headers: dict[str, str]) -> int:
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{stack.api}{path}", data=json.dumps(body).encode(), method="POST", headers=headers
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return int(response.status)


def test_each_control_applies_end_to_end(controlled: LocalStack):
    browser = {"User-Agent": BROWSER, "Content-Type": "text/plain"}
    track = {"type": "track", "userId": "u-1", "event": "Clicked"}
    sent = {
        "bot": (GOOGLEBOT, {**track, "messageId": "e2e-bot"}, {}),
        "gpc": (BROWSER, {**track, "messageId": "e2e-gpc"}, {"Sec-GPC": "1"}),
        "denied": (
            BROWSER,
            {
                **track,
                "messageId": "e2e-denied",
                "context": {"consent": {"categoryPreferences": {"analytics": False}}},
            },
            {},
        ),
        "hashed": (
            BROWSER,
            {
                "type": "identify",
                "userId": "u-1",
                "messageId": "e2e-hashed",
                "traits": {"email": " Ada@Example.com"},
            },
            {},
        ),
    }
    for agent, body, extra in sent.values():
        assert (
            _post(
                controlled,
                "/v1/t" if body["type"] == "track" else "/v1/i",
                body,
                {**browser, "User-Agent": agent, **extra},
            )
            == 200
        )

    client = Client("pk", host=controlled.api, sync_mode=True, max_retries=1)  # python-requests' User-Agent
    assert client.track("u-2", "Server Side", message_id="e2e-server")[0]

    arrived = {
        e["messageId"]: e for e in controlled.wait_for({"e2e-bot", "e2e-gpc", "e2e-hashed", "e2e-server"})
    }
    assert arrived["e2e-bot"]["context"]["isBot"] is True
    assert "isBot" not in arrived["e2e-gpc"]["context"]
    assert arrived["e2e-gpc"]["context"]["ip"] == "127.0.0.0"  # anonymized for this request only
    assert arrived["e2e-hashed"]["traits"]["email"] == hashlib.sha256(b"ada@example.com").hexdigest()
    assert arrived["e2e-hashed"]["context"]["ip"] == "127.0.0.1"
    assert "isBot" not in arrived["e2e-server"]["context"]  # a server SDK is never a bot

    time.sleep(2)  # past the batching window: the denied event would have arrived by now
    received = controlled.received()
    assert "e2e-denied" not in {e.get("messageId") for e in received["events"]}
    assert "Ada@Example.com" not in json.dumps(received)
