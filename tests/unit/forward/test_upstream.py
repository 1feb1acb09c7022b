"""The upstream client without a network: auth header, bodies, answer classification, 207 bodies."""

from __future__ import annotations

import base64
import gzip
import json
import struct
import time
from dataclasses import dataclass
from email.utils import formatdate

import pytest
import urllib3
from urllib3 import HTTPHeaderDict
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from edge.forward.upstream import (
    Accept,
    Answer,
    FailedItem,
    Park,
    Partial,
    RefreshSecret,
    Retry,
    Split,
    UpstreamClient,
    UsePerCall,
    Verdict,
    authorization,
    batch_body,
    batch_overhead,
    build_pool,
    classify,
    decide,
    failed_items,
)


class FakePool:
    """Records ``request`` calls and answers with a prepared response or exception."""

    def __init__(self, outcome):
        self.outcome = outcome
        self.requests = []

    def request(self, method, url, **kwargs):
        self.requests.append((method, url, kwargs))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome

    def clear(self):
        pass


def _client(outcome, endpoint="https://e.metarouter.io/"):
    pool = FakePool(outcome)
    return UpstreamClient(pool, endpoint, connect_timeout=2, read_timeout=10), pool


def test_basic_auth_is_the_source_id_and_an_empty_password():
    # RFC 7617 and the Segment SDKs send "ILoveData123:"; the seed's example shows the bare id's base64.
    assert authorization("ILoveData123") == "Basic SUxvdmVEYXRhMTIzOg=="
    assert authorization("Sourcé") == "Basic " + base64.b64encode("Sourcé:".encode()).decode()


def test_batch_body_is_the_events_and_the_send_time():
    body = batch_body([b'{"a":1}', b'{"b":2}'], "2023-11-14T22:13:20.000Z")
    assert json.loads(body) == {"batch": [{"a": 1}, {"b": 2}], "sentAt": "2023-11-14T22:13:20.000Z"}
    assert len(batch_body([], "2023-11-14T22:13:20.000Z")) == batch_overhead()


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.ACCEPTED),
        (201, Verdict.ACCEPTED),
        (204, Verdict.ACCEPTED),
        (207, Verdict.PARTIAL),
        (400, Verdict.REJECTED),
        (422, Verdict.REJECTED),
        (401, Verdict.UNAUTHORIZED),
        (403, Verdict.UNAUTHORIZED),
        (404, Verdict.UNSUPPORTED),
        (405, Verdict.UNSUPPORTED),
        (413, Verdict.TOO_LARGE),
        (408, Verdict.RETRYABLE),
        (429, Verdict.RETRYABLE),
        (500, Verdict.RETRYABLE),
        (503, Verdict.RETRYABLE),
        (301, Verdict.RETRYABLE),
        (409, Verdict.RETRYABLE),
        (None, Verdict.RETRYABLE),
    ],
)
def test_statuses_are_classified_as_the_forwarding_policy_says(status, verdict):
    assert classify(status) is verdict


@pytest.mark.parametrize(
    ("status", "label"), [(200, "2xx"), (207, "2xx"), (429, "4xx"), (502, "5xx"), (None, "error")]
)
def test_status_class_is_the_metric_dimension(status, label):
    assert Answer(status).status_class == label


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"errors": [{"index": 2}]}', [FailedItem(index=2)]),
        (b'{"errors": [{"messageId": "m-1", "status": 422}]}', [FailedItem(message_id="m-1", status=422)]),
        (b'{"failed": [0, "m-3"]}', [FailedItem(index=0), FailedItem(message_id="m-3")]),
        (b'{"rejected": [{"index": 1, "messageId": "m-1"}]}', [FailedItem(index=1, message_id="m-1")]),
        (b'{"failures": []}', []),
        (b'[{"index": 4, "status": "x"}]', [FailedItem(index=4)]),
        (b'{"errors": [], "failed": [1]}', []),
        # A field of the wrong type is ignored; the entry stands on the other one.
        (b'[{"index": "2", "messageId": "m-2"}]', [FailedItem(message_id="m-2")]),
        (b'[{"index": true, "messageId": "m-2"}]', [FailedItem(message_id="m-2")]),
        (b'[{"index": 1, "messageId": 7}]', [FailedItem(index=1)]),
        (b'[{"index": 1, "messageId": ""}]', [FailedItem(index=1)]),
    ],
)
def test_207_bodies_name_failed_items_by_index_or_message_id(body, expected):
    assert failed_items(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"oops",
        b"{}",
        b'{"errors": "all"}',
        b'{"errors": [{}]}',
        b'{"errors": [true]}',
        b'{"errors": [null]}',
    ],
)
def test_207_bodies_that_name_nothing_recognisable_say_so(body):
    assert failed_items(body) is None


def test_post_sends_json_with_basic_auth_to_the_endpoint_path():
    client, pool = _client(urllib3.HTTPResponse(body=b'{"ok":true}', status=200))
    answer = client.post("/v1/batch", b'{"batch":[]}', "ILoveData123", budget=30)
    [(method, url, kwargs)] = pool.requests
    assert (method, url) == ("POST", "https://e.metarouter.io/v1/batch")
    assert kwargs["body"] == b'{"batch":[]}'
    assert kwargs["headers"]["Authorization"] == "Basic SUxvdmVEYXRhMTIzOg=="
    assert kwargs["headers"]["Content-Type"] == "application/json"
    assert kwargs["redirect"] is False
    assert (kwargs["timeout"].connect_timeout, kwargs["timeout"].read_timeout) == (2, 10)
    assert (answer.status, answer.body, answer.retry_after, answer.error) == (200, b'{"ok":true}', None, None)
    # Header names are case-insensitive on the wire: only the name and the value matter.
    assert HTTPHeaderDict(kwargs["headers"])["user-agent"] == "metarouter-edge/0.1"
    # Whatever pool it is given, a request is tried again only when its connect failed.
    tries = kwargs["retries"]
    assert (tries.total, tries.connect, tries.read, tries.status, tries.redirect) == (1, 1, 0, 0, False)


@pytest.mark.parametrize(
    "outcome", [urllib3.HTTPResponse(body=b"{}", status=200), ProtocolError("Connection aborted.")]
)
def test_an_answer_says_how_long_it_took_answered_or_not(outcome, monkeypatch):
    readings = iter([100.0, 100.25])
    monkeypatch.setattr(time, "monotonic", lambda: next(readings))
    client, _ = _client(outcome)
    assert client.post("/v1/batch", b"{}", "S", budget=30).elapsed_ms == 250.0


def test_an_endpoint_with_a_path_keeps_it():
    client, pool = _client(urllib3.HTTPResponse(body=b"{}", status=200), endpoint="https://edge.example/X/")
    client.post("/v1/batch", b"{}", "S", budget=30)
    assert pool.requests[0][1] == "https://edge.example/X/v1/batch"


@pytest.mark.parametrize(("header", "seconds"), [("3", 3), (" 120 ", 120), ("soon", None), ("", None)])
def test_retry_after_seconds_are_read_and_nonsense_ignored(header, seconds):
    client, _ = _client(urllib3.HTTPResponse(body=b"", status=429, headers={"Retry-After": header}))
    assert client.post("/v1/batch", b"{}", "S", budget=30).retry_after == seconds


def test_retry_after_as_an_http_date_is_read_as_seconds_from_now():
    header = formatdate(time.time() + 3600, usegmt=True)
    client, _ = _client(urllib3.HTTPResponse(body=b"", status=503, headers={"Retry-After": header}))
    assert 3500 < client.post("/v1/batch", b"{}", "S", budget=30).retry_after <= 3600


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ReadTimeoutError(None, "/v1/batch", "read timed out"), "timeout"),
        (MaxRetryError(None, "/v1/batch", ConnectTimeoutError("connect timed out")), "timeout"),
        (MaxRetryError(None, "/v1/batch", NewConnectionError(None, "refused")), "connection_error"),
        (ProtocolError("Connection aborted."), "connection_error"),
    ],
)
def test_network_failures_become_answers_without_status(exc, kind):
    client, _ = _client(exc)
    answer = client.post("/v1/batch", b"{}", "S", budget=30)
    assert (answer.status, answer.error, answer.verdict) == (None, kind, Verdict.RETRYABLE)


def test_timeouts_shrink_so_two_connects_and_a_read_fit_the_time_left():
    client, _ = _client(None)
    roomy = client.timeout(60)
    assert (roomy.connect_timeout, roomy.read_timeout) == (2, 10)
    tight = client.timeout(2)
    assert (tight.connect_timeout, tight.read_timeout) == (0.5, 1)


def test_pool_verifies_tls_and_keeps_enough_connections_per_host():
    pool = build_pool(max_connections=8)
    assert pool.connection_pool_kw["cert_reqs"] == "CERT_REQUIRED"
    assert pool.connection_pool_kw["maxsize"] == 8
    # A burst past maxsize opens extra connections rather than waiting for a free one.
    assert not pool.connection_pool_kw.get("block")
    retries = pool.connection_pool_kw["retries"]
    assert (retries.connect, retries.read, retries.redirect) == (1, 0, False)


def test_gzip_compresses_the_body_and_says_so():
    pool = FakePool(urllib3.HTTPResponse(body=b"{}", status=200))
    client = UpstreamClient(pool, "https://e.metarouter.io", connect_timeout=2, read_timeout=10, gzip=True)
    body = b'{"batch":[' + b",".join([b'{"type":"track","event":"Order Completed"}'] * 50) + b"]}"
    client.post("/v1/batch", body, "ILoveData123", budget=30)
    [(_, _, kwargs)] = pool.requests
    assert kwargs["headers"]["Content-Encoding"] == "gzip"
    assert gzip.decompress(kwargs["body"]) == body
    assert len(kwargs["body"]) < len(body) / 10
    assert kwargs["headers"]["Content-Type"] == "application/json"
    # The fastest level (the gzip header's XFL byte says 4), and no time stamp: the same events
    # make the same bytes, whenever they are sent.
    assert kwargs["body"][8] == 4
    assert struct.unpack("<I", kwargs["body"][4:8]) == (0,)


def test_without_gzip_the_body_goes_as_it_is():
    client, pool = _client(urllib3.HTTPResponse(body=b"{}", status=200))
    client.post("/v1/batch", b'{"batch":[]}', "ILoveData123", budget=30)
    [(_, _, kwargs)] = pool.requests
    assert "Content-Encoding" not in kwargs["headers"]


@dataclass(frozen=True)
class _Sent:
    message_ids: tuple[str | None, ...] = ("m-0",)
    source_id: str = "SRC-123"
    per_call: bool = False
    after_refresh: bool = False


TWO = ("m-0", "m-1")
THREE = ("m-0", "m-1", "m-2")


@pytest.mark.parametrize(
    ("sent", "answer", "decision"),
    [
        (_Sent(TWO), Answer(200), Accept()),
        (_Sent(TWO), Answer(202), Accept()),
        (_Sent(TWO), Answer(413), Split()),
        (_Sent(TWO), Answer(400), Split()),
        (_Sent(TWO), Answer(422), Split()),
        (_Sent(), Answer(400, b"bad event"), Park(400, "The upstream answered 400: bad event")),
        (_Sent(), Answer(413), Park(413, "The upstream answered 413.")),
        (_Sent(), Answer(400, b"bad \xff event"), Park(400, "The upstream answered 400: bad \ufffd event")),
        (_Sent(), Answer(400, b"x" * 600), Park(400, "The upstream answered 400: " + "x" * 512)),
        (_Sent(), Answer(422, b"SRC-123 refused"), Park(422, "The upstream answered 422: [source] refused")),
        (_Sent(TWO), Answer(401), RefreshSecret()),
        (_Sent(TWO), Answer(403), RefreshSecret()),
        (_Sent(TWO, after_refresh=True), Answer(401), Retry(refused=True)),
        (_Sent(TWO, after_refresh=True), Answer(403, retry_after=3), Retry(3, refused=True)),
        (_Sent(TWO), Answer(404), UsePerCall()),
        (_Sent(TWO), Answer(405), UsePerCall()),
        (_Sent(per_call=True), Answer(404), Retry()),
        (_Sent(TWO), Answer(429, retry_after=7.5), Retry(7.5)),
        (_Sent(TWO), Answer(503), Retry()),
        (_Sent(TWO), Answer(None, error="timeout"), Retry()),
        (_Sent(TWO), Answer(302), Retry()),
        (_Sent(THREE), Answer(207, b'{"errors": [{"index": 1, "status": 422}]}'), Partial(((1, 422),), ())),
        (_Sent(THREE), Answer(207, b'{"errors": [{"index": 2}]}', retry_after=2), Partial((), (2,), 2)),
        (_Sent(THREE), Answer(207, b'{"errors": [{"index": 2, "status": 500}, 0]}'), Partial((), (0, 2))),
        (
            _Sent(THREE),
            Answer(207, b'["m-2", {"messageId": "m-0", "status": 400}]'),
            Partial(((0, 400),), (2,)),
        ),
        (_Sent(("a", "b", "a")), Answer(207, b'["a"]'), Partial((), (0, 2))),
        (_Sent(THREE), Answer(207, b'{"errors": []}'), Partial((), ())),
        (_Sent(THREE), Answer(207, b'{"errors": [{"index": 3}]}'), Retry(unreadable=True)),
        (_Sent(THREE), Answer(207, b'{"errors": [{"index": -1}]}'), Retry(unreadable=True)),
        (_Sent(THREE), Answer(207, b'{"errors": ["m-9"]}'), Retry(unreadable=True)),
        (_Sent(THREE), Answer(207, b"not json", retry_after=4), Retry(4, unreadable=True)),
    ],
)
def test_what_each_answer_means_for_the_request(sent, answer, decision):
    assert decide(sent, answer) == decision
