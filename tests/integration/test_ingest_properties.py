"""Property: no body, header or encoding a client can send makes the ingest handler fail or 5xx."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.apigw import api_event

CLIENT_STATUSES = {200, 400, 401, 404, 413}

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
field_names = st.sampled_from(
    ["userId", "anonymousId", "event", "type", "messageId", "timestamp", "sentAt", "originalTimestamp",
     "properties", "traits", "context", "integrations", "groupId", "previousId", "writeKey", "batch"]
)  # fmt: skip
event_like = st.dictionaries(field_names, json_values, max_size=8)
bodies = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),
    event_like.map(lambda v: json.dumps(v).encode()),
    st.lists(event_like, max_size=5).map(lambda items: json.dumps({"batch": items}).encode()),
)
header_values = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF), max_size=60)
headers = st.fixed_dictionaries(
    {},
    optional={
        "content-type": st.sampled_from(
            ["application/json", "text/plain", "application/x-www-form-urlencoded"]
        )
        | header_values,
        "content-encoding": st.sampled_from(["gzip", "deflate", "br", "identity"]) | header_values,
        "authorization": st.sampled_from(["Basic", "Basic =", "Bearer x", "Basic " + "A" * 5000])
        | st.binary(max_size=30).map(lambda b: "Basic " + base64.b64encode(b).decode())
        | header_values,
        "user-agent": header_values,
        "x-retry-count": header_values,
    },
)
paths = st.sampled_from(
    [
        "/v1/track",
        "/v1/t",
        "/v1/identify",
        "/v1/page",
        "/v1/group",
        "/v1/alias",
        "/v1/batch",
        "/v1/b",
        "/v1/m",
        "/v1/x",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=paths,
    body=bodies,
    headers=headers,
    as_base64=st.booleans(),
    gzipped=st.booleans(),
    query=st.dictionaries(st.sampled_from(["writeKey", "data", "userId"]), st.text(max_size=20), max_size=2),
)
def test_arbitrary_requests_never_fail_or_5xx(
    ingest: Any,
    path: str,
    body: bytes,
    headers: dict[str, str],
    as_base64: bool,
    gzipped: bool,
    query: dict[str, str],
) -> None:
    payload: bytes | str = gzip.compress(body) if gzipped else body
    if not as_base64 and not gzipped:
        payload = body.decode("utf-8", "replace")
    event = api_event("POST", path, raw_body=payload, headers=headers, query=query)
    response = ingest(event)
    assert response["statusCode"] in CLIENT_STATUSES
    assert json.loads(response["body"])["success"] is (response["statusCode"] == 200)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    event_type=st.sampled_from(["track", "page", "identify", "x", "batch"]),
    query=st.dictionaries(st.text(max_size=15), st.text(max_size=30), max_size=5),
    data=st.none() | st.binary(max_size=100).map(lambda b: base64.urlsafe_b64encode(b).decode()),
)
def test_arbitrary_pixel_requests_always_get_an_image(
    ingest: Any, event_type: str, query: dict[str, str], data: str | None
) -> None:
    if data is not None:
        query = {**query, "data": data}
    response = ingest(api_event("GET", f"/v1/pixel/{event_type}", query=query))
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "image/gif"


def test_invalid_base64_flagged_body_is_a_400(ingest: Any) -> None:
    event = api_event("POST", "/v1/track", raw_body="{}")
    event["isBase64Encoded"] = True
    event["body"] = "%%% not base64 %%%"
    assert ingest(event)["statusCode"] == 400


def test_lone_surrogates_in_headers_and_query_are_not_a_server_error(ingest: Any, aws_stack: Any) -> None:
    event = api_event(
        "GET", "/v1/pixel/track", headers={"user-agent": "agent\ud800", "authorization": "Basic \ud800"}
    )
    event["queryStringParameters"] = {"userId": "u\ud800", "event": "Opened\udfff", "writeKey": "k\ud800"}
    assert ingest(event)["statusCode"] == 200
    [queued] = aws_stack.queued_events()
    assert queued["userId"] == "u\ufffd"
    assert queued["context"]["userAgent"] == "agent\ufffd"
