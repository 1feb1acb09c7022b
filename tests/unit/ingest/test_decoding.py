import base64
import gzip
import json
import random
import sys
import tracemalloc
import uuid
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.core.errors import RequestError
from edge.ingest.decoding import (
    _named_problem,
    body_bytes,
    check_inflation,
    inflate,
    is_double,
    json_problem,
    parse_json,
    read_body,
    write_key_from,
)
from edge.ingest.limits import (
    INFLATION_FLOOR,
    INFLATION_PER_EVENT,
    MAX_BODY_BYTES,
    MAX_DEPTH,
    MAX_INFLATION_RATIO,
)


def decode_body(
    body: str | None, *, is_base64: bool, content_encoding: str | None, limit: int = MAX_BODY_BYTES
) -> Any:
    """The body as the ingest handler reads it: its bytes, then their JSON."""
    return parse_json(body_bytes(body, is_base64=is_base64, content_encoding=content_encoding, limit=limit))


def _status(exc_info: pytest.ExceptionInfo[RequestError]) -> tuple[int, str]:
    return exc_info.value.status, exc_info.value.code


def test_plain_json_body_is_parsed_whatever_the_content_type():
    assert decode_body('{"a": 1}', is_base64=False, content_encoding=None) == {"a": 1}


def test_base64_body_from_api_gateway_is_decoded():
    body = base64.b64encode(b'{"a": "\xc3\xa9"}').decode()
    assert decode_body(body, is_base64=True, content_encoding=None) == {"a": "é"}


def test_gzip_body_is_inflated():
    body = base64.b64encode(gzip.compress(b'{"batch": []}')).decode()
    assert decode_body(body, is_base64=True, content_encoding="gzip") == {"batch": []}


def test_gzip_body_is_recognised_by_its_magic_even_without_the_header():
    body = base64.b64encode(gzip.compress(b'{"x": 1}')).decode()
    assert decode_body(body, is_base64=True, content_encoding=None) == {"x": 1}


def test_deflate_body_is_inflated():
    body = base64.b64encode(zlib.compress(b'{"x": 2}')).decode()
    assert decode_body(body, is_base64=True, content_encoding="deflate") == {"x": 2}


def test_raw_deflate_body_is_inflated():
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw = compressor.compress(b'{"x": 4}') + compressor.flush()
    body = base64.b64encode(raw).decode()
    assert decode_body(body, is_base64=True, content_encoding="deflate") == {"x": 4}


def test_raw_deflate_bomb_stops_at_the_limit_with_a_413():
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    bomb = compressor.compress(b"\0" * (20 * 1024 * 1024)) + compressor.flush()
    with pytest.raises(RequestError) as exc_info:
        inflate(bomb, raw_deflate=True)
    assert _status(exc_info) == (413, "payload_too_large")


def test_every_member_of_a_multi_member_gzip_is_inflated():
    data = gzip.compress(b'{"batch": [1,') + gzip.compress(b" 2, 3]}")
    assert inflate(data) == b'{"batch": [1, 2, 3]}'


def test_multi_member_gzip_bomb_stops_at_the_limit():
    member = gzip.compress(b" " * 300_000)
    with pytest.raises(RequestError) as exc_info:
        inflate(member * 3, limit=MAX_BODY_BYTES)
    assert _status(exc_info) == (413, "payload_too_large")


def test_truncated_gzip_is_a_400():
    with pytest.raises(RequestError) as exc_info:
        inflate(gzip.compress(b'{"x": 1}' * 50)[:-12])
    assert _status(exc_info) == (400, "invalid_body")
    assert exc_info.value.message == "The compressed request body is truncated."


def test_a_zlib_header_with_nothing_after_it_is_truncated():
    with pytest.raises(RequestError) as exc_info:
        inflate(b"\x78\x9c")
    assert exc_info.value.message == "The compressed request body is truncated."


def test_bytes_after_the_last_gzip_member_are_ignored_as_gzip_1_does():
    assert inflate(gzip.compress(b'{"x": 1}') + b"\n\0 trailing") == b'{"x": 1}'


def test_a_compressed_body_that_inflates_to_exactly_the_limit_is_accepted():
    assert inflate(gzip.compress(b"x" * 1024), limit=1024) == b"x" * 1024
    assert inflate(zlib.compress(b"x" * 1024), limit=1024) == b"x" * 1024


def test_a_bomb_costs_no_more_memory_than_the_limit():
    bomb = gzip.compress(b"\0" * (16 * 1024 * 1024))
    tracemalloc.start()
    try:
        with pytest.raises(RequestError):
            inflate(bomb, limit=1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024


def test_without_raw_deflate_a_headerless_stream_is_passed_through():
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw = compressor.compress(b'{"x": 4}') + compressor.flush()
    assert inflate(raw) == raw


def test_a_plain_body_that_happens_to_pass_the_zlib_header_checksum_is_passed_through():
    assert int.from_bytes(b'"d', "big") % 31 == 0
    assert inflate(b'"done"') == b'"done"'


def test_an_uncompressed_body_is_held_to_the_limit_too():
    assert inflate(b"x" * 1024, limit=1024) == b"x" * 1024
    with pytest.raises(RequestError) as exc_info:
        inflate(b"x" * 1025, limit=1024)
    assert _status(exc_info) == (413, "payload_too_large")
    assert exc_info.value.message == "The request body exceeds 1 KB after decompression."


@pytest.mark.parametrize("encoding", ["deflate", "gzip"])
def test_lying_deflate_or_gzip_encoding_on_plain_json_is_tolerated(encoding):
    assert decode_body(' {"x": 3}', is_base64=False, content_encoding=encoding) == {"x": 3}


def test_lying_content_encoding_on_plain_json_is_tolerated():
    assert decode_body('{"x": 3}', is_base64=False, content_encoding="gzip") == {"x": 3}


def test_invalid_base64_is_a_400():
    with pytest.raises(RequestError) as exc_info:
        decode_body("!!!not base64!!!", is_base64=True, content_encoding=None)
    assert _status(exc_info) == (400, "invalid_body")


def test_corrupt_gzip_is_a_400():
    data = gzip.compress(b'{"x": 1}' * 100)
    corrupt = data[:10] + bytes(b ^ 0xFF for b in data[10:30]) + data[30:]
    with pytest.raises(RequestError) as exc_info:
        inflate(corrupt)
    assert _status(exc_info) == (400, "invalid_body")
    assert exc_info.value.message == "The request body is not valid gzip or deflate."


def test_gzip_bomb_stops_at_the_limit_with_a_413():
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))  # 50 MB of zeros, ~50 KB compressed
    with pytest.raises(RequestError) as exc_info:
        inflate(bomb, limit=MAX_BODY_BYTES)
    assert _status(exc_info) == (413, "payload_too_large")
    assert "500 KB" in exc_info.value.message


def test_plain_body_over_the_limit_is_a_413():
    body = '{"a": "' + "x" * MAX_BODY_BYTES + '"}'
    with pytest.raises(RequestError) as exc_info:
        decode_body(body, is_base64=False, content_encoding=None)
    assert _status(exc_info) == (413, "payload_too_large")


def test_a_lower_limit_is_kept_by_plain_bodies_too():
    with pytest.raises(RequestError) as exc_info:
        decode_body('{"a": "' + "x" * 2048 + '"}', is_base64=False, content_encoding=None, limit=1024)
    assert _status(exc_info) == (413, "payload_too_large")
    assert exc_info.value.message == "The request body exceeds 1 KB after decompression."


def test_body_exactly_at_the_limit_is_accepted():
    padding = MAX_BODY_BYTES - len('{"a": ""}')
    body = '{"a": "' + "x" * padding + '"}'
    assert len(body) == MAX_BODY_BYTES
    assert decode_body(body, is_base64=False, content_encoding=None)["a"] == "x" * padding


@pytest.mark.parametrize("raw", [b"", b"   ", b"{", b"{'a': 1}", b"NaN", b'{"a": NaN}'])
def test_malformed_json_is_a_400(raw):
    with pytest.raises(RequestError) as exc_info:
        parse_json(raw)
    assert _status(exc_info) == (400, "invalid_json")


def test_nesting_at_the_depth_limit_has_no_problem():
    assert json_problem(parse_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)) is None


def test_nesting_past_the_depth_limit_is_named_with_its_path():
    value = parse_json(b'{"a":' * MAX_DEPTH + b"{}" + b"}" * MAX_DEPTH)
    problem = json_problem(value)
    assert problem == (
        "too_deep",
        {
            "field": ".".join(["a"] * MAX_DEPTH),
            "message": f"nests deeper than {MAX_DEPTH} levels",
        },
    )


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"a": 1e400}', "a"),
        (b'{"a": [1, -1e309]}', "a.1"),
        (b'{"p": {"n": ' + b"9" * 400 + b"}}", "p.n"),
        (b'{"p": {"n": -' + b"9" * 309 + b"}}", "p.n"),
    ],
)
def test_numbers_outside_the_double_range_are_named(raw, field):
    assert json_problem(parse_json(raw)) == (
        "invalid_json",
        {"field": field, "message": "is a number outside the range of a double"},
    )


@pytest.mark.parametrize("raw", [b"1e400", b"-" + b"9" * 400])
def test_a_bare_number_outside_the_double_range_is_named_too(raw):
    assert json_problem(parse_json(raw)) == (
        "invalid_json",
        {"field": "", "message": "is a number outside the range of a double"},
    )


@pytest.mark.parametrize(
    "raw", [b'{"a": 1.7976931348623157e308}', b'{"a": 1e-400}', b'{"a": ' + b"9" * 308 + b"}", b'"x"']
)
def test_numbers_inside_the_double_range_have_no_problem(raw):
    assert json_problem(parse_json(raw)) is None


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b'{"a": "cut \\ud83d"}', {"a": "cut \ufffd"}),
        (b'{"a": "\\udc00x", "b": [1e400]}', {"a": "\ufffdx", "b": [float("inf")]}),
        (b'{"k\\ud800": {"n": "\\ud83d\\ude00 ok"}}', {"k\ufffd": {"n": "\U0001f600 ok"}}),
    ],
)
def test_lone_surrogate_escapes_are_read_as_replacement_characters(raw, value):
    assert parse_json(raw) == value


@pytest.mark.parametrize("raw", [b'{"a": "\\ud83d", "b": NaN}', b'{"a": "\\ud83d"'])
def test_lone_surrogates_do_not_excuse_invalid_json(raw):
    with pytest.raises(RequestError) as exc_info:
        parse_json(raw)
    assert _status(exc_info) == (400, "invalid_json")
    assert exc_info.value.message.startswith("The request body is not valid JSON: ")


TOO_DEEP = f"The JSON is nested deeper than {MAX_DEPTH} levels."


def test_deep_json_with_a_lone_surrogate_is_too_deep_not_a_crash():
    with pytest.raises(RequestError) as exc_info:
        parse_json(b"[" * 5000 + b'"\\ud83d"' + b"]" * 5000)
    assert (*_status(exc_info), exc_info.value.message) == (400, "too_deep", TOO_DEEP)


def test_a_utf8_byte_order_mark_is_tolerated():
    assert parse_json(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


def test_nesting_past_the_parsers_own_recursion_limit_is_a_400_not_a_crash():
    with pytest.raises(RequestError) as exc_info:
        parse_json(b"[" * 100_000 + b"]" * 100_000)
    assert (*_status(exc_info), exc_info.value.message) == (400, "too_deep", TOO_DEEP)


def test_integers_up_to_the_largest_double_are_doubles_and_one_more_is_not():
    largest = int(sys.float_info.max)
    assert is_double(largest)
    assert is_double(-largest)
    assert not is_double(largest + 1)
    assert not is_double(-largest - 1)


def _basic(user: str, password: str = "") -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_write_key_comes_from_basic_auth_first():
    assert write_key_from(_basic("hdr", "ignored"), {"writeKey": "body"}, {"writeKey": "q"}) == "hdr"


def test_write_key_comes_from_the_body_second():
    assert write_key_from({}, {"writeKey": "body"}, {"writeKey": "q"}) == "body"


def test_write_key_comes_from_a_batch_item_when_the_envelope_has_none():
    body = {"batch": [{"type": "track"}, {"writeKey": "item-key"}]}
    assert write_key_from({}, body, {}) == "item-key"


def test_write_key_comes_from_the_query_last():
    assert write_key_from({}, {"userId": "u"}, {"writeKey": "q"}) == "q"


@pytest.mark.parametrize(
    "header",
    ["Bearer abc", "Basic", "Basic !!!", "Basic " + base64.b64encode(b":pw").decode(), "basic"],
)
def test_unusable_authorization_headers_are_ignored(header):
    assert write_key_from({"authorization": header}, {"writeKey": "body"}, {}) == "body"


def test_no_write_key_anywhere_is_none():
    assert write_key_from({}, [1, 2], {}) is None


_JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**320), max_value=10**320),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
)
_JSON_VALUES = st.recursive(
    _JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=2), children, max_size=3)
    ),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(value=_JSON_VALUES, max_depth=st.integers(min_value=1, max_value=6))
def test_the_walk_without_paths_finds_the_problem_the_named_walk_names(value: Any, max_depth: int):
    """``json_problem`` walks without paths and names a problem by walking again: both walks must
    agree on whether there is one and, when there is, on the first one."""
    if not isinstance(value, dict | list):
        value = [value]
    assert json_problem(value, max_depth) == _named_problem(value, max_depth)


# -- compressed bodies cost in proportion to their size ------------------------------------------

EMPTY_MEMBER = gzip.compress(b"", mtime=0)  # 20 bytes: the smallest gzip member


class _CountingInflater:
    """zlib's decompressor, counting the input offered to it and the copies of input it hands back."""

    def __init__(self, real: Any, work: list[int]) -> None:
        self._real = real
        self._work = work

    def decompress(self, data: Any, max_length: int = 0) -> bytes:
        self._work.append(len(data))
        return bytes(self._real.decompress(data, max_length))

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._real, name)
        if name in ("unused_data", "unconsumed_tail"):
            self._work.append(len(value))
        return value


@pytest.fixture
def inflater_work(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The bytes zlib is given, and gives back as left-over input, while a test inflates."""
    work: list[int] = []
    real = zlib.decompressobj
    monkeypatch.setattr(zlib, "decompressobj", lambda wbits: _CountingInflater(real(wbits), work))
    return work


def test_walking_many_gzip_members_handles_input_in_proportion_to_the_body(inflater_work):
    data = EMPTY_MEMBER * 20_000 + gzip.compress(b'{"userId": "u", "event": "E"}')  # 400 KB
    assert inflate(data) == b'{"userId": "u", "event": "E"}'
    # Before: each member was offered all the input left, and copied it back (quadratic: ~8 GB here).
    assert sum(inflater_work) <= 8 * len(data)


def test_a_large_single_member_is_inflated_in_few_calls(inflater_work):
    text = b'{"batch": [' + b", ".join(b'{"userId": "u%d", "event": "E"}' % i for i in range(10_000)) + b"]}"
    assert inflate(gzip.compress(text)) == text
    assert len(inflater_work) < 60
    assert sum(inflater_work) <= 3 * len(gzip.compress(text))


def test_a_compressed_body_larger_than_the_body_limit_is_refused_unread(inflater_work):
    data = EMPTY_MEMBER * (MAX_BODY_BYTES // len(EMPTY_MEMBER) + 1)
    with pytest.raises(RequestError) as exc_info:
        inflate(data)
    assert _status(exc_info) == (413, "payload_too_large")
    assert exc_info.value.message == "The request body exceeds 500 KB."
    assert inflater_work == []


def test_a_base64_body_too_long_for_the_limit_is_refused_before_it_is_decoded(monkeypatch):
    body = base64.b64encode(EMPTY_MEMBER * 40_000).decode()  # 800 KB once decoded
    monkeypatch.setattr(base64, "b64decode", lambda *_, **__: pytest.fail("decoded"))
    with pytest.raises(RequestError) as exc_info:
        body_bytes(body, is_base64=True, content_encoding="gzip")
    assert _status(exc_info) == (413, "payload_too_large")


def test_base64_of_a_body_exactly_at_the_limit_is_decoded():
    raw = b'{"a": "' + b"x" * (MAX_BODY_BYTES - 9) + b'"}'
    assert len(raw) == MAX_BODY_BYTES
    assert body_bytes(base64.b64encode(raw).decode(), is_base64=True, content_encoding=None) == raw


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


COMPRESSIONS = {
    "gzip": (gzip.compress, "gzip"),
    "gzip-members": (lambda data: gzip.compress(data[:10]) + gzip.compress(data[10:]), "gzip"),
    "zlib": (zlib.compress, "deflate"),
    "raw-deflate": (_raw_deflate, "deflate"),
}


@pytest.mark.parametrize("compression", sorted(COMPRESSIONS))
def test_a_body_inflating_past_the_ratio_is_a_413_naming_it(compression):
    compress, claimed = COMPRESSIONS[compression]
    data = compress(b'{"userId": "u", "event": "E", "properties": {"p": "' + b"x" * 100_000 + b'"}}')
    assert 100_000 / len(data) > MAX_INFLATION_RATIO
    with pytest.raises(RequestError) as exc_info:
        body_bytes(base64.b64encode(data).decode(), is_base64=True, content_encoding=claimed)
    assert _status(exc_info) == (413, "payload_too_large")
    assert exc_info.value.message == (
        f"The compressed request body inflates to more than {MAX_INFLATION_RATIO} times its size, each "
        f"event in it counting {INFLATION_PER_EVENT} bytes more "
        f"({INFLATION_FLOOR // 1024} KB is always allowed)."
    )


@pytest.mark.parametrize("compression", sorted(COMPRESSIONS))
def test_a_body_inflating_to_the_floor_is_never_refused_for_its_ratio(compression):
    compress, claimed = COMPRESSIONS[compression]
    text = b'{"p": "' + b"x" * (INFLATION_FLOOR - 9) + b'"}'
    assert len(text) == INFLATION_FLOOR
    data = compress(text)
    assert len(text) / len(data) > MAX_INFLATION_RATIO
    assert body_bytes(base64.b64encode(data).decode(), is_base64=True, content_encoding=claimed) == text


def test_a_plain_body_has_no_size_on_the_wire_to_be_held_to():
    text = b'{"userId": "u", "event": "E"}'
    assert read_body(text.decode(), is_base64=False, content_encoding=None) == (text, None)
    assert read_body(text.decode(), is_base64=False, content_encoding="gzip") == (text, None)  # a lying claim
    assert read_body(base64.b64encode(text).decode(), is_base64=True, content_encoding=None) == (text, None)


@pytest.mark.parametrize(
    ("inflated", "events", "wire", "refused"),
    [
        (64_000, 0, 1000, False),
        (64_001, 0, 1000, True),
        (64_000 - INFLATION_PER_EVENT, 1, 1000, False),
        (64_000 - INFLATION_PER_EVENT, 2, 1000, True),
        (6_000, 2500, 157, True),  # 2,500 x {} in 157 bytes: 394 KB of quarantine, before
        (INFLATION_FLOOR - 10 * INFLATION_PER_EVENT, 10, 20, False),  # the floor counts events too
        (INFLATION_FLOOR - 10 * INFLATION_PER_EVENT, 11, 20, True),
    ],
)
def test_a_compressed_body_s_events_count_toward_its_ratio(inflated, events, wire, refused):
    if refused:
        with pytest.raises(RequestError) as exc_info:
            check_inflation(inflated, events, wire)
        assert _status(exc_info) == (413, "payload_too_large")
    else:
        check_inflation(inflated, events, wire)


def test_the_ratio_is_that_of_the_whole_body_at_its_edge():
    text = b"[" + b" " * (MAX_INFLATION_RATIO * 1000) + b"]"
    data = gzip.compress(text)
    padded = data + b"\0" * (len(text) // MAX_INFLATION_RATIO + 1 - len(data))  # trailing bytes count
    assert inflate(padded) == text
    with pytest.raises(RequestError):
        inflate(data)


def _sdk_batch(events: int, context: dict[str, Any]) -> bytes:
    """A batch as an SDK sends it: near-identical events, each with its own messageId and time."""
    batch = [
        {
            "type": "track",
            "event": "Product Viewed",
            "userId": "user-123",
            "properties": {"product_id": "sku-1", "price": 19.99},
            "context": context,
            "messageId": str(uuid.UUID(int=random.Random(i).getrandbits(128), version=4)),
            "timestamp": f"2024-05-01T12:{i // 600 % 60:02d}:{i // 10 % 60:02d}.{i % 10}00Z",
        }
        for i in range(events)
    ]
    return json.dumps({"batch": batch, "sentAt": "2024-05-01T13:00:00.000Z"}).encode()


SERVER_CONTEXT = {"library": {"name": "analytics-python", "version": "2.4.0"}}
MOBILE_CONTEXT = {
    "app": {"build": "5231", "name": "Shop", "namespace": "com.example.shop", "version": "5.2.0"},
    "device": {"id": "4f9a6b1e2c3d4e5f", "manufacturer": "Google", "model": "Pixel 7", "type": "android"},
    "library": {"name": "analytics-kotlin", "version": "1.15.0"},
    "locale": "en-US",
    "network": {"bluetooth": False, "carrier": "T-Mobile", "cellular": False, "wifi": True},
    "os": {"name": "Android", "version": "14"},
    "screen": {"density": 2.625, "height": 2209, "width": 1080},
    "timezone": "America/New_York",
    "traits": {"anonymousId": "0f5b1c4e-9d8a-4c3b-8e7f-6a5b4c3d2e1f"},
    "userAgent": "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 7 Build/UQ1A.240205.004)",
}


@pytest.mark.parametrize(
    ("events", "context"),
    [
        (10, SERVER_CONTEXT),
        (100, SERVER_CONTEXT),
        (2500, SERVER_CONTEXT),
        (20, MOBILE_CONTEXT),
        (300, MOBILE_CONTEXT),
    ],
)
def test_near_identical_sdk_batches_stay_well_within_the_ratio(events, context):
    text = _sdk_batch(events, context)
    if len(text) > MAX_BODY_BYTES:
        events = events * MAX_BODY_BYTES // len(text) - 1
        text = _sdk_batch(events, context)
    data = gzip.compress(text)
    assert (len(text) + INFLATION_PER_EVENT * events) / len(data) < MAX_INFLATION_RATIO / 1.8  # headroom
    body = read_body(base64.b64encode(data).decode(), is_base64=True, content_encoding="gzip")
    assert body == (text, len(data))
    check_inflation(len(body.data), events, len(data))


@pytest.mark.parametrize(
    "inner", [gzip.compress, zlib.compress, lambda data: gzip.compress(gzip.compress(data))]
)
def test_a_body_compressed_twice_is_a_400_whatever_the_header_says(inner):
    data = gzip.compress(inner(b'{"userId": "u", "event": "E"}'))
    for claimed in ("gzip, gzip", "gzip", None):
        with pytest.raises(RequestError) as exc_info:
            body_bytes(base64.b64encode(data).decode(), is_base64=True, content_encoding=claimed)
        assert _status(exc_info) == (400, "invalid_body")
        assert (
            exc_info.value.message == "The request body is compressed more than once: one encoding is read."
        )
