"""events/sam-local-env.json points `sam local invoke` at what `AWS_PORT=3002 make run` creates."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

from edge_local.aws import EmbeddedAws
from edge_local.template import load

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED_PORT = 3002


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_the_env_file_names_the_queues_and_secret_the_local_stack_creates():
    port = _free_port()
    aws = EmbeddedAws(port)
    resources = aws.start(load(), {"writeKey": "LOCAL_SOURCE_ID"}, visibility_timeout=360)
    try:
        here = f"127.0.0.1:{port}"
        text = (
            (ROOT / "events" / "sam-local-env.json").read_text().replace(f"127.0.0.1:{DOCUMENTED_PORT}", here)
        )
        overrides = json.loads(text)
        ingest, forward = overrides["IngestFunction"], overrides["ForwardFunction"]
        assert ingest["AWS_ENDPOINT_URL"] == forward["AWS_ENDPOINT_URL"] == resources.endpoint
        assert ingest["EVENTS_QUEUE_URL"] == resources.events_queue_url
        assert ingest["QUARANTINE_QUEUE_URL"] == resources.quarantine_queue_url
        assert forward["DEAD_LETTER_QUEUE_URL"] == resources.dead_letter_queue_url
        # The secret by name: its ARN ends in random characters.
        assert resources.secret_id.split(":")[-1].startswith(ingest["EDGE_SECRET_ID"] + "-")
        assert forward["EDGE_SECRET_ID"] == ingest["EDGE_SECRET_ID"]
        assert forward["METAROUTER_ENDPOINT"] == "http://127.0.0.1:3001"  # make run's stand-in
    finally:
        # moto's state belongs to the process: leave none for the next test that starts one.
        reset = urllib.request.Request(f"{resources.endpoint}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(reset, timeout=10).close()  # noqa: S310 - loopback
        aws.stop()
