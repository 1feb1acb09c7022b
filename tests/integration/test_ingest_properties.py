"""Property: no body, header or encoding a client can send makes the ingest handler fail or 5xx."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.apigw import api_event

CLIENT_STATUSES = {200, 400, 401, 404, 413}
CLOSED_SOURCES = {"pk_web_7f3a": "ILoveData123", "pk_ios_91bc": "OtherSource"}

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


# --- Headers: what clients and proxies put in them, honest or not ------------------------------

VALID_TRACK = {"userId": "u-1", "event": "Order Completed", "properties": {"total": 42}}
encoding_claims = st.sampled_from(
    [None, "gzip", "GZIP", " gzip ", "x-gzip", "deflate", "identity", "br", "gzip, br", "compress", "*"]
) | st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actual=st.sampled_from(["plain", "gzip", "zlib"]), claimed=encoding_claims)
def test_a_lying_content_encoding_never_loses_a_valid_event(
    ingest: Any, actual: str, claimed: str | None
) -> None:
    """The body is read by what it is: gzip and zlib by their magic, anything else as it is."""
    raw = json.dumps(VALID_TRACK).encode()
    body = {"plain": raw, "gzip": gzip.compress(raw), "zlib": zlib.compress(raw)}[actual]
    headers = {"content-encoding": claimed} if claimed is not None else {}
    if actual == "zlib" and not _claims_compression(claimed):
        # zlib data has no magic of its own that could not also start plain text: only a claim
        # of compression makes it read as such; unclaimed it is not JSON (400), never a 5xx.
        assert ingest(api_event("POST", "/v1/track", raw_body=body, headers=headers))["statusCode"] == 400
        return
    response = ingest(api_event("POST", "/v1/track", raw_body=body, headers=headers))
    assert response["statusCode"] == 200, response["body"]


def _claims_compression(claimed: str | None) -> bool:
    return (claimed or "").strip().lower() in ("gzip", "x-gzip", "deflate")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=300), claimed=encoding_claims)
def test_corrupt_compressed_bodies_are_a_400(ingest: Any, data: bytes, claimed: str | None) -> None:
    """A gzip stream cut short or garbage behind the magic: refused as the client's fault."""
    compressed = gzip.compress(json.dumps(VALID_TRACK).encode())
    body = compressed[: max(10, len(compressed) // 2)] if data[0] % 2 else b"\x1f\x8b" + data
    headers = {"content-encoding": claimed} if claimed is not None else {}
    response = ingest(api_event("POST", "/v1/track", raw_body=body, headers=headers))
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] in ("invalid_body", "invalid_json")


base64_garbage = st.text(
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ %*!\n\t."),
    min_size=1,
    max_size=200,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=base64_garbage, path=st.sampled_from(["/v1/track", "/v1/batch", "/v1/t", "/v1/b"]))
def test_a_body_flagged_base64_that_is_not_is_a_400(ingest: Any, body: str, path: str) -> None:
    """``isBase64Encoded`` with a body that is not valid base64: the client's fault, never a 5xx."""
    event = api_event("POST", path, raw_body="{}")
    event["isBase64Encoded"] = True
    event["body"] = body
    response = ingest(event)
    assert response["statusCode"] == 400, response["body"]
    if not _is_base64(body):
        assert json.loads(response["body"])["error"]["code"] == "invalid_body"


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except ValueError:
        return False
    return True


huge = st.integers(min_value=8 * 1024, max_value=64 * 1024)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.sampled_from(
        ["authorization", "user-agent", "content-type", "x-retry-count", "origin", "cookie"]
    ),
    size=huge,
    fill=st.sampled_from(["A", "é", "%", ","]),
    path=st.sampled_from(["/v1/track", "/v1/batch"]),
)
def test_huge_header_values_never_5xx(ingest: Any, header: str, size: int, fill: str, path: str) -> None:
    """API Gateway passes headers up to its own limit; whatever arrives, the answer is a client's."""
    body: dict[str, Any] = (
        VALID_TRACK if path == "/v1/track" else {"batch": [{**VALID_TRACK, "type": "track"}]}
    )
    value = ("Basic " if header == "authorization" else "") + fill * size
    response = ingest(api_event("POST", path, body, headers={header: value}))
    assert response["statusCode"] in (200, 413), response["body"]
    assert json.loads(response["body"])["success"] is (response["statusCode"] == 200)


def _basic(credentials: bytes, *, urlsafe: bool = False, pad: bool = True) -> str:
    encoded = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(credentials).decode()
    return encoded if pad else encoded.rstrip("=")


odd_authorizations = st.one_of(
    st.sampled_from(["", "Basic", "Basic ", "Basic =", "Basic ====", "Bearer pk_web_7f3a", "pk_web_7f3a"]),
    st.builds(
        lambda scheme, creds, urlsafe, pad, space: (
            f"{scheme}{space}{_basic(creds, urlsafe=urlsafe, pad=pad)}"
        ),
        scheme=st.sampled_from(["Basic", "basic", "BASIC", "Digest", "Bearer", ""]),
        creds=st.sampled_from([b"pk_web_7f3a:", b"pk_web_7f3a", b"pk_web_7f3a:secret", b":", b":pk_web_7f3a"])
        | st.binary(max_size=40),
        urlsafe=st.booleans(),
        pad=st.booleans(),
        space=st.sampled_from([" ", "  ", "\t", ""]),
    ),
    st.text(max_size=80),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(authorization=odd_authorizations)
def test_odd_authorization_forms_in_closed_mode_are_200_or_401(
    ingest: Any, aws_stack: Any, authorization: str
) -> None:
    """Closed mode: only a listed key, read as Basic auth's user name, is let in; never a 5xx."""
    aws_stack.set_secret({"sources": CLOSED_SOURCES})
    response = ingest(api_event("POST", "/v1/track", VALID_TRACK, headers={"authorization": authorization}))
    expected = 200 if _basic_user(authorization) in CLOSED_SOURCES else 401
    assert response["statusCode"] == expected, (authorization, response["body"])


def _basic_user(header: str) -> str | None:
    """RFC 7617 as the edge reads it: ``Basic`` (any case), one space, base64 of ``user[:password]``."""
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(credentials.strip(), validate=True).decode("utf-8").partition(":")[0]
    except ValueError:
        return None
