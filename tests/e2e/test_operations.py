"""Operator tools against the local stack: redrive the dead-letter queue, inspect the quarantine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import uuid

import pytest
from segment.analytics import Client

from support.local_stack import ROOT, LocalStack


def _tool(stack: LocalStack, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": stack.aws,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    queues = [stack.events_queue, stack.dead_letter_queue, stack.quarantine_queue]
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", module, "--queues", *queues, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_redrive_moves_dead_letters_back_and_they_are_delivered(stack):
    client = Client("pk_web_7f3a", host=stack.api, sync_mode=True, max_retries=1)
    message_id = f"redrive-{uuid.uuid4()}"
    stack.faults({"poison": [message_id]})
    try:
        client.track("u-1", "Refused At First", message_id=message_id)
        assert stack.dead_letter(message_id) is not None
    finally:
        stack.faults(None)  # the upstream's problem is fixed
    result = _tool(stack, "edge_ops.redrive")
    assert result.stdout.startswith("moved ")
    assert int(result.stdout.split()[1]) >= 1
    [event] = stack.wait_for({message_id})
    assert event["event"] == "Refused At First"


def test_quarantine_tool_lists_rejected_events_with_reasons(stack):
    message_id = f"quarantined-{uuid.uuid4()}"
    body = {"batch": [{"type": "track", "event": "No Identity", "messageId": message_id}]}
    request = urllib.request.Request(  # noqa: S310
        f"{stack.api}/v1/batch", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310
    assert refused.value.code == 400  # its only item is invalid
    refused.value.close()
    result = _tool(stack, "edge_ops.quarantine", "--json")
    items = [json.loads(line) for line in result.stdout.splitlines()]
    mine = [i for i in items if i["event"].get("messageId") == message_id]
    assert mine
    assert mine[0]["reason"] == "invalid_event"
    assert mine[0]["errors"][0]["field"] == "userId"
