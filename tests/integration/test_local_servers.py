"""The local stack's own servers against a page that reaches them: a loopback Host only, controls
that take JSON from no other origin, no Source ID in what they show, and bounded gunzip."""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import threading
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from edge.core.secret import fingerprint
from edge_local.aws import EmbeddedAws, Resources
from edge_local.clients import client
from edge_local.faults import FaultControl
from edge_local.live import LiveFeed, LiveServer
from edge_local.template import load
from edge_local.upstream import Recorder, Upstream

SOURCE_ID = "SRC_7f3a"
AUTH = "Basic " + base64.b64encode(f"{SOURCE_ID}:".encode()).decode()
BATCH = json.dumps({"batch": [{"type": "track", "userId": "u", "event": "E", "messageId": "m-1"}]}).encode()
REBOUND = "evil.example"  # a name the page's site controls, rebound to 127.0.0.1


def _serve(server: Any) -> Iterator[Any]:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def stand_in() -> Iterator[Upstream]:
    yield from _serve(Upstream(0, Recorder({SOURCE_ID}, report=None)))


@pytest.fixture
def live_server() -> Iterator[LiveServer]:
    yield from _serve(LiveServer(0, LiveFeed()))


class _Idle:
    """What the fault control drives, for requests that must never reach it."""

    def stop(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the control acted: {name}")


@pytest.fixture
def fault_control() -> Iterator[FaultControl]:
    idle: Any = _Idle()
    yield from _serve(FaultControl(0, idle, idle, idle))


def _call(
    server: Any, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, bytes]:
    port = server.server_address[1]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        names = {"Host": f"127.0.0.1:{port}", **{k.replace("_", "-"): v for k, v in headers.items()}}
        connection.request(method, path, body=body, headers=names)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _host(server: Any, name: str) -> str:
    return f"{name}:{server.server_address[1]}"


# -- a loopback Host only --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/_received", "/_received?summary=1&ids=1"])
def test_the_stand_in_answers_no_rebound_name(stand_in, path):
    assert _call(stand_in, "GET", path, Host=_host(stand_in, REBOUND))[0] == 403
    assert _call(stand_in, "GET", path, Host=_host(stand_in, "localhost"))[0] == 200


def test_the_stand_in_takes_no_events_under_a_rebound_name(stand_in):
    status, _ = _call(stand_in, "POST", "/v1/batch", BATCH, Host=REBOUND, Authorization=AUTH)
    assert status == 403
    assert stand_in.recorder.events == []


@pytest.mark.parametrize("path", ["/", "/live.js", "/events"])
def test_the_live_page_answers_no_rebound_name(live_server, path):
    assert _call(live_server, "GET", path, Host=_host(live_server, REBOUND))[0] == 403
    assert _call(live_server, "GET", "/", Host=_host(live_server, "localhost"))[0] == 200


def test_the_fault_control_answers_no_rebound_name(fault_control):
    status, _ = _call(
        fault_control, "POST", "/forward/kill", b"{}", Host=REBOUND, Content_Type="application/json"
    )
    assert status == 403


# -- controls: JSON only, from no other origin ------------------------------------------------


def test_a_cross_site_text_plain_post_sets_no_fault(stand_in):
    body = json.dumps({"status": 503, "seconds": 60}).encode()
    status, _ = _call(stand_in, "POST", "/_faults", body, Content_Type="text/plain")
    assert status == 415
    assert stand_in.recorder.fault_status == 0
    status, _ = _call(
        stand_in, "POST", "/_faults", body, Content_Type="application/json", Origin="https://evil.example"
    )
    assert status == 403
    assert stand_in.recorder.fault_status == 0
    assert _call(stand_in, "POST", "/_faults", body, Content_Type="application/json")[0] == 200
    assert stand_in.recorder.fault_status == 503


def test_faults_are_cleared_only_at_their_own_path_and_origin(stand_in):
    stand_in.recorder.fault_status = 503
    assert _call(stand_in, "DELETE", "/v1/batch")[0] == 404
    assert _call(stand_in, "DELETE", "/_faults", Origin="null")[0] == 403
    assert stand_in.recorder.fault_status == 503
    assert _call(stand_in, "DELETE", "/_faults")[0] == 200
    assert stand_in.recorder.fault_status == 0


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"status": "x"}'])
def test_a_fault_that_is_not_a_json_object_is_a_400(stand_in, body):
    assert _call(stand_in, "POST", "/_faults", body, Content_Type="application/json")[0] == 400


@pytest.mark.parametrize(
    ("headers", "status"),
    [({"Content_Type": "text/plain"}, 415), ({"Content_Type": "application/json", "Origin": "null"}, 403)],
)
def test_the_fault_control_takes_json_from_no_other_origin(fault_control, headers, status):
    assert _call(fault_control, "POST", "/sqs/pause", b'{"seconds": 5}', **headers)[0] == status


# -- what /_received shows ---------------------------------------------------------------------


def test_received_requests_name_their_source_without_its_source_id(stand_in):
    assert _call(stand_in, "POST", "/v1/batch", BATCH, Authorization=AUTH)[0] == 200
    status, body = _call(stand_in, "GET", "/_received")
    assert status == 200
    [request] = json.loads(body)["requests"]
    assert request == {"path": "/v1/batch", "source": fingerprint(SOURCE_ID), "events": 1, "status": 200}
    assert SOURCE_ID.encode() not in body


# -- gunzip, bounded like the edge's ------------------------------------------------------------


def test_a_gzip_bomb_is_a_413_and_inflates_no_further_than_the_upstream_s_limit(stand_in):
    bomb = gzip.compress(b"[" + b" " * (64 * 1024 * 1024) + b"]")
    tracemalloc.start()
    try:
        status, _ = _call(stand_in, "POST", "/v1/batch", bomb, Authorization=AUTH, Content_Encoding="gzip")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 413
    assert peak < 16 * 1024 * 1024  # was the whole 64 MB, in a process shared with the stack
    assert stand_in.recorder.events == []


def test_a_gzip_batch_is_still_read(stand_in):
    status, _ = _call(
        stand_in, "POST", "/v1/batch", gzip.compress(BATCH), Authorization=AUTH, Content_Encoding="gzip"
    )
    assert status == 200
    assert [e["messageId"] for e in stand_in.recorder.events] == ["m-1"]


# -- the embedded AWS endpoint: the SDKs on this machine, no browser ------------------------------


@pytest.fixture(scope="module")
def embedded_aws() -> Iterator[tuple[Resources, int]]:
    aws = EmbeddedAws()
    resources = aws.start(load(), {"writeKey": SOURCE_ID}, visibility_timeout=30)
    port = int(resources.endpoint.rsplit(":", 1)[1])
    yield resources, port
    assert _aws_call(port, "POST", path="/moto-api/reset") == 200  # moto's state is the process's
    aws.stop()


def _aws_call(port: int, method: str, body: bytes = b"", path: str = "/", **headers: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        names = {"Host": f"127.0.0.1:{port}", **{k.replace("_", "-"): v for k, v in headers.items()}}
        connection.request(method, path, body=body, headers=names)
        return connection.getresponse().status
    finally:
        connection.close()


def test_the_embedded_aws_endpoint_serves_the_sdks(embedded_aws):
    resources, _ = embedded_aws
    secret = client("secretsmanager", resources.endpoint).get_secret_value(SecretId=resources.secret_id)
    assert json.loads(secret["SecretString"]) == {"writeKey": SOURCE_ID}


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": REBOUND},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
    ids=["rebound-host", "foreign-origin", "null-origin", "cross-site-navigation"],
)
def test_the_embedded_aws_endpoint_serves_no_web_page(embedded_aws, headers):
    resources, port = embedded_aws
    # What a page can send without a preflight: a form POST in SQS's query protocol.
    form = f"Action=SendMessage&QueueUrl={resources.events_queue_url}&MessageBody=injected".encode()
    status = _aws_call(
        port,
        "POST",
        form,
        Content_Type="application/x-www-form-urlencoded",
        **{k.replace("-", "_"): v for k, v in headers.items()},
    )
    assert status == 403
    assert (
        _aws_call(port, "OPTIONS", Origin="https://evil.example", Access_Control_Request_Method="POST") == 403
    )
    sqs = client("sqs", resources.endpoint)
    assert "Messages" not in sqs.receive_message(QueueUrl=resources.events_queue_url, VisibilityTimeout=0)
