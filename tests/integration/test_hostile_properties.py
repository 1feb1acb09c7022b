"""Property: whatever a client sends to any route — bodies, numbers, nesting, encodings, headers,
query strings — the answer is a client's (never a 5xx; a pixel always an image), and nothing on
a queue breaks a promise: strict JSON, events of at most 32 KB as forwarded, nesting within the
limit, and no more queued than a small multiple of what the request carried.

Compressed bodies (gzip in one member or thousands, zlib, raw deflate, compressed twice under
any claim) keep the promises of what they send over the wire: they inflate to at most
``MAX_INFLATION_RATIO`` times their size, each event counting ``INFLATION_PER_EVENT`` more (or
``INFLATION_FLOOR``), so what they queue and
quarantine is bounded by their size on the wire too, and no answer lists more than
``MAX_REJECTIONS_SHOWN`` rejected events."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from typing import Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.ingest.decoding import json_problem
from edge.ingest.limits import (
    ENRICHMENT_ALLOWANCE,
    INFLATION_FLOOR,
    INFLATION_PER_EVENT,
    MAX_BODY_BYTES,
    MAX_DEPTH,
    MAX_EVENT_BYTES,
    MAX_INFLATION_RATIO,
    MAX_REJECTIONS_SHOWN,
    QUEUED_PER_BODY_BYTE,
)
from edge.ingest.routes import ROUTES, RouteKind
from edge_local.upstream import strict_loads
from support.apigw import api_event, basic_auth

CLIENT_STATUSES = {200, 400, 401, 404, 413}
CLOSED_SOURCES = {"pk_web_7f3a": "ILoveData123", "pk_ios_91bc": "OtherSource"}
ENVELOPE_BYTES = 200  # a message's own {"v":1,"source":…,"events":[…]} around its events
#: What the quarantine keeps of a rejected item beyond the item itself: its index, reason, field
#: errors (their paths at most the item's own keys again), route and time.
QUARANTINE_PER_ITEM = 1024
#: An answer's size: the first MAX_REJECTIONS_SHOWN rejections, each with a few short field errors.
MAX_ANSWER_BYTES = 64 * 1024

#: Numbers a strict upstream refuses, and some it must still accept.
HOSTILE_NUMBERS = [
    "1e400",
    "-1e309",
    "9" * 400,
    "-" + "9" * 320,
    "1e-400",
    "1.7976931348623157e308",
    "0",
    "-0.0",
]
NUMBER = "\u0000num\u0000"  # placeholder, replaced in the JSON text by one of HOSTILE_NUMBERS

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.just(NUMBER)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=12,
)
ids = st.one_of(st.text(max_size=8), st.integers(), st.floats(), st.booleans(), st.none(), st.just(NUMBER))
times = st.one_of(
    st.just("2023-11-14T22:13:20.000Z"),
    st.integers(-(10**15), 10**15),
    st.floats(),
    st.text(max_size=10),
    st.just("1700000000123"),
    st.just(NUMBER),
)
types = (
    st.sampled_from(["track", "Track", " PAGE ", "identify", "screen", "group", "alias", "bogus", ""]) | ids
)


@st.composite
def nested(draw: st.DrawFn) -> Any:
    """A value nested as deep as the limit, a little past it, or far past it."""
    depth = draw(st.sampled_from([0, 1, MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 150, 190]))
    value: Any = draw(values)
    for _ in range(depth):
        value = draw(st.sampled_from([lambda v: {"n": v}, lambda v: [v]]))(value)
    return value


events = st.fixed_dictionaries(
    {},
    optional={
        "type": types,
        "userId": ids,
        "anonymousId": ids,
        "messageId": ids | st.text(min_size=90, max_size=120),
        "event": st.text(max_size=8) | ids,
        "groupId": ids,
        "previousId": ids,
        "timestamp": times,
        "sentAt": times,
        "originalTimestamp": times,
        "properties": st.dictionaries(st.text(max_size=5), values | nested(), max_size=3)
        | st.just([])
        | values,
        "traits": st.dictionaries(st.text(max_size=5), values, max_size=3) | st.just([]),
        "context": st.dictionaries(st.text(max_size=5), values, max_size=3) | st.just([]) | values,
        "integrations": st.dictionaries(st.text(max_size=5), st.booleans(), max_size=2) | st.just([]),
        "writeKey": st.sampled_from(["pk_web_7f3a", "pk_ios_91bc", "pk_unknown", ""]) | ids,
        "pad": st.integers(0, 40_000).map(lambda n: "x" * n),
    },
)
batches = st.fixed_dictionaries(
    {"batch": st.lists(events, max_size=6) | values},
    optional={
        "context": st.dictionaries(st.text(max_size=5), values, max_size=3)
        | st.integers(0, 40_000).map(lambda n: {"pad": "y" * n})
        | st.just([])
        | values,
        "integrations": st.dictionaries(st.text(max_size=5), st.booleans(), max_size=2) | values,
        "sentAt": times,
        "writeKey": st.sampled_from(["pk_web_7f3a", "pk_ios_91bc", "pk_unknown"]),
    },
)
#: Events that pass validation, so what they carry is what gets queued.
valid_events = st.builds(
    lambda kind, properties, context, extra: {
        "type": kind,
        "userId": "u",
        "event": "E",
        "groupId": "g",
        "previousId": "p",
        "properties": properties,
        "context": context,
        **extra,
    },
    kind=st.sampled_from(["track", "page", "identify", "group", "alias", "Screen"]),
    properties=st.fixed_dictionaries({"n": st.just(NUMBER) | values, "d": nested()}),
    context=st.dictionaries(st.text(max_size=5), values | nested(), max_size=2),
    extra=st.fixed_dictionaries(
        {},
        optional={"timestamp": times, "messageId": ids, "pad": st.integers(0, 33_000).map(lambda n: "x" * n)},
    ),
)
valid_batches = st.fixed_dictionaries(
    {"batch": st.lists(valid_events, max_size=5)},
    optional={
        "context": st.dictionaries(st.text(max_size=5), values | nested(), max_size=2),
        "sentAt": times,
    },
)
many_items = st.integers(0, 2500).map(
    lambda n: {"batch": [{"type": "track", "userId": "u", "event": "E"}] * n, "context": {"pad": "z" * 600}}
)
#: What compresses best: many near-identical items, valid or not, and padding.
repetitive = st.builds(
    lambda n, item, pad: {"batch": [item] * n, **({"context": {"pad": "p" * pad}} if pad else {})},
    n=st.integers(1, 2500),
    item=st.sampled_from(
        [
            {"type": "track", "userId": "u", "event": "E"},
            {"type": "identify", "anonymousId": "a"},
            {"type": "track"},
            {},
            {"type": "track", "userId": "u", "event": "E", "writeKey": "pk_unknown"},
        ]
    ),
    pad=st.sampled_from([0, 1000, 20_000]),
)


def _text(value: Any, number: str) -> str:
    return json.dumps(value).replace(json.dumps(NUMBER), number)


def _raw_deflate(text: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(text) + compressor.flush()


def _members(text: bytes, size: int) -> bytes:
    """``text`` as one gzip member per ``size`` bytes."""
    return b"".join(gzip.compress(text[i : i + size], mtime=0) for i in range(0, len(text), size))


EMPTY_MEMBER = gzip.compress(b"", mtime=0)

#: How a body may travel: (bytes → what is sent, Content-Encoding claimed). Bytes travel base64-
#: encoded, as API Gateway sends binary bodies; text as text.
ENCODINGS = {
    "plain": (lambda t: t.decode("utf-8", "surrogatepass"), None),
    "base64-plain": (lambda t: t, None),
    "bom": (lambda t: b"\xef\xbb\xbf" + t, None),
    "gzip": (gzip.compress, "gzip"),
    "gzip-members": (lambda t: gzip.compress(t[: len(t) // 2]) + gzip.compress(t[len(t) // 2 :]), "gzip"),
    # Thousands of members: empty ones before the body, or the body cut into small ones.
    "gzip-empty-members": (lambda t: EMPTY_MEMBER * 5000 + gzip.compress(t), "gzip"),
    "gzip-small-members": (lambda t: _members(t, 16), "gzip"),
    "gzip-claimed-deflate": (gzip.compress, "deflate"),
    "zlib": (zlib.compress, "deflate"),
    "raw-deflate": (_raw_deflate, "deflate"),
    # Compressed twice (one layer is read: a 400), under an honest claim or a short one.
    "gzip-gzip": (lambda t: gzip.compress(gzip.compress(t)), "gzip, gzip"),
    "gzip-gzip-claimed-once": (lambda t: gzip.compress(gzip.compress(t)), "gzip"),
    "zlib-in-gzip": (lambda t: gzip.compress(zlib.compress(t)), "deflate, gzip"),
    "gzip-in-raw-deflate": (lambda t: _raw_deflate(gzip.compress(t)), "deflate"),
}
COMPRESSED = {name for name, (_, claimed) in ENCODINGS.items() if claimed}
NESTED = {"gzip-gzip", "gzip-gzip-claimed-once", "zlib-in-gzip", "gzip-in-raw-deflate"}


def _encode(text: bytes, encoding: str) -> tuple[bytes | str, dict[str, str]]:
    encode, claimed = ENCODINGS[encoding]
    return encode(text), ({"content-encoding": claimed} if claimed else {})


headers_strategy = st.fixed_dictionaries(
    {},
    optional={
        "user-agent": st.integers(0, 12_000).map(lambda n: "Mozilla/5.0 " + "é" * (n % 3) + "A" * n),
        "authorization": st.sampled_from(
            [
                basic_auth("pk_web_7f3a"),
                basic_auth("pk_ios_91bc"),
                basic_auth("pk_unknown"),
                "Basic",
                "Bearer x",
            ]
        ),
        "content-type": st.sampled_from(
            ["application/json", "text/plain", "", "application/x-www-form-urlencoded"]
        ),
    },
)

SINGLE_PATHS = [route.path for route in ROUTES if not isinstance(route.target, RouteKind)]
BATCH_PATHS = [route.path for route in ROUTES if route.target is RouteKind.BATCH]


@st.composite
def posts(draw: st.DrawFn) -> tuple[str, Any]:
    """A route and a body: mostly the kind of body the route takes, so most reach the queue."""
    kind = draw(st.sampled_from(["single", "single", "batch", "batch", "other"]))
    if kind == "single":
        path = draw(st.sampled_from(sorted(SINGLE_PATHS)))
        body = draw(valid_events | events)
        if draw(st.booleans()):
            body.pop("type", None)  # the route gives the type
        return path, body
    if kind == "batch":
        return draw(st.sampled_from(BATCH_PATHS)), draw(
            st.one_of(valid_batches, batches, many_items, repetitive)
        )
    return draw(st.sampled_from([*SINGLE_PATHS, *BATCH_PATHS, "/v1/m", "/v1/nope"])), draw(values)


def _sizes_bytes(body: str) -> int:
    """The bytes of a message's ``sizes`` list, as it is written (compact JSON)."""
    sizes = strict_loads(body).get("sizes")
    return len(json.dumps(sizes, separators=(",", ":"))) if sizes is not None else 0


class _Left:
    """What one request left on the queues (each read once: reading hides them from the next)."""

    def __init__(self, aws: Any) -> None:
        self.messages: list[str] = aws.raw_bodies(aws.events_url)
        self.quarantined: list[str] = aws.raw_bodies(aws.quarantine_url)
        self.rejected = sum(len(strict_loads(body)["rejected"]) for body in self.quarantined)


def _check_queues(left: _Left, carried: int, events_in_request: int) -> None:
    """Every promise about what a request left on the queues."""
    messages, quarantined = left.messages, left.quarantined
    for body in messages:
        for event in strict_loads(body)["events"]:
            assert json_problem(event) is None
            size = len(
                json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")
            )
            assert size <= MAX_EVENT_BYTES + 64  # the re-encoding here may differ by a few bytes
            assert "writeKey" not in event
    # The budget is for the events as forwarded: a message's ``sizes`` list (a few bytes per event,
    # framing the forwarder reads) is left out, as the envelope is allowed for per message.
    queued = sum(len(body.encode()) - _sizes_bytes(body) for body in messages)
    assert queued <= QUEUED_PER_BODY_BYTE * carried + (ENRICHMENT_ALLOWANCE * events_in_request) + (
        ENVELOPE_BYTES * len(messages)
    )
    assert sum(len(body.encode()) for body in quarantined) <= (
        2 * carried + QUARANTINE_PER_ITEM * left.rejected + ENVELOPE_BYTES * len(quarantined)
    )


def _check_compressed(left: _Left, response: dict[str, Any], text: bytes, wire: int, events: int) -> None:
    """A compressed body is read only within the ratio: when anything of it was queued,
    quarantined or accepted, it inflated to at most MAX_INFLATION_RATIO times its wire size, each
    event counting INFLATION_PER_EVENT more, so what it queued and quarantined (a few hundred
    bytes an event at most, beyond the events themselves) is bounded by its size on the wire."""
    if response["statusCode"] == 200 or left.messages or left.quarantined:
        assert len(text) + INFLATION_PER_EVENT * events <= max(INFLATION_FLOOR, MAX_INFLATION_RATIO * wire)
    if wire > MAX_BODY_BYTES:  # refused unread, however few bytes it would inflate to
        assert response["statusCode"] in (404, 413), response["body"]


def _check_answer(left: _Left, response: dict[str, Any]) -> None:
    """An answer lists at most MAX_REJECTIONS_SHOWN rejected events and counts them all."""
    assert len(response["body"]) <= MAX_ANSWER_BYTES
    answer = json.loads(response["body"])
    error = answer.get("error") or {}
    listed = answer.get("rejected") or error.get("details") or []
    assert len(listed) <= MAX_REJECTIONS_SHOWN
    counted = answer.get("rejectedCount", error.get("rejectedCount"))
    if counted is not None:
        assert counted == left.rejected >= len(listed)


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    request=posts(),
    number=st.sampled_from(HOSTILE_NUMBERS),
    encoding=st.sampled_from(sorted(ENCODINGS)),
    headers=headers_strategy,
    query=st.dictionaries(st.sampled_from(["writeKey", "data", "userId"]), st.text(max_size=20), max_size=2),
    closed=st.booleans(),
)
def test_hostile_posts_on_every_route_keep_every_promise(
    ingest: Any,
    aws_stack: Any,
    request: tuple[str, Any],
    number: str,
    encoding: str,
    headers: dict[str, str],
    query: dict[str, str],
    closed: bool,
) -> None:
    aws_stack.set_secret({"sources": CLOSED_SOURCES} if closed else {"writeKey": "ILoveData123"})
    path, body = request
    text = _text(body, number).encode()
    payload, encoding_headers = _encode(text, encoding)
    response = ingest(
        api_event("POST", path, raw_body=payload, headers={**headers, **encoding_headers}, query=query)
    )
    assert response["statusCode"] in CLIENT_STATUSES, response["body"]
    assert json.loads(response["body"])["success"] is (response["statusCode"] == 200)
    batch = body.get("batch") if isinstance(body, dict) else None
    events = len(batch) if isinstance(batch, list) and path in BATCH_PATHS else 1
    left = _Left(aws_stack)
    _check_queues(left, len(text), len(batch) if isinstance(batch, list) else 1)
    _check_answer(left, response)
    if path == "/v1/m":
        return  # telemetry: answered without reading the body
    if encoding in COMPRESSED:
        wire = len(payload) if isinstance(payload, bytes) else len(payload.encode("utf-8", "surrogatepass"))
        _check_compressed(left, response, text, wire, events)
    if encoding in NESTED:
        assert response["statusCode"] in (400, 404, 413), response["body"]  # one layer is read


@st.composite
def pixel_queries(draw: st.DrawFn) -> dict[str, str]:
    """A pixel's query: base64 ``data`` of a hostile event, or its fields as dotted parameters."""
    number = draw(st.sampled_from(HOSTILE_NUMBERS))
    if draw(st.booleans()):
        text = _text(draw(events), number).encode()
        encode = draw(st.sampled_from([base64.b64encode, base64.urlsafe_b64encode]))
        data = encode(text).decode()
        return {"data": data.rstrip("=") if draw(st.booleans()) else data}
    names = st.lists(
        st.sampled_from(["properties", "p", "context", "userId", "event", "x", ""]), min_size=1, max_size=4
    )
    query = draw(st.dictionaries(names.map(".".join), st.text(max_size=20), max_size=5))
    depth = draw(st.sampled_from([0, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 300, 1000]))
    if depth:
        query[".".join(["d"] * depth)] = "deep"
    return {
        **query,
        **draw(
            st.fixed_dictionaries({}, optional={"userId": st.text(max_size=5), "event": st.text(max_size=5)})
        ),
    }


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    event_type=st.sampled_from(
        ["track", "page", "identify", "screen", "group", "alias", "t", "batch", "nope"]
    ),
    query=pixel_queries(),
    headers=headers_strategy,
)
def test_hostile_pixels_always_get_an_image_and_keep_every_promise(
    ingest: Any, aws_stack: Any, event_type: str, query: dict[str, str], headers: dict[str, str]
) -> None:
    response = ingest(api_event("GET", f"/v1/pixel/{event_type}", query=query, headers=headers))
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "image/gif"
    assert base64.b64decode(response["body"]).startswith(b"GIF89a")
    _check_queues(_Left(aws_stack), len(urlencode(query)), 1)
