"""Request decoding: base64 from API Gateway, gzip/deflate, strict JSON within the size, depth
and number limits, and where the inbound write key is found (README, "The ingestion API")."""

from __future__ import annotations

import base64
import binascii
import sys
import zlib
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from pydantic_core import from_json

from edge.core.errors import RequestError
from edge.ingest.limits import (
    INFLATION_FLOOR,
    INFLATION_PER_EVENT,
    MAX_BODY_BYTES,
    MAX_DEPTH,
    MAX_INFLATION_RATIO,
)
from edge.ingest.models import FieldError

__all__ = [
    "Body",
    "basic_auth_user",
    "body_bytes",
    "check_inflation",
    "clean_text",
    "inflate",
    "inflation_allowed",
    "is_double",
    "json_problem",
    "parse_json",
    "read_body",
    "write_key_from",
]

_GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = b"\xef\xbb\xbf"


class Body(NamedTuple):
    """A request body as read: its plain bytes, and its size as sent when it was compressed."""

    data: bytes
    #: The compressed body's size (what ``check_inflation`` holds the events to); None if plain.
    wire: int | None = None


def read_body(
    body: str | None,
    *,
    is_base64: bool,
    content_encoding: str | None,
    limit: int = MAX_BODY_BYTES,
) -> Body:
    """The request body as plain bytes: base64 undone, gzip or deflate inflated, within ``limit``.

    What costs CPU is bounded by the body's size before any of it is decoded: a body no limit
    could let through is refused unread.
    """
    if body and len(body) > (limit * 4 // 3 + 4 if is_base64 else limit):  # more than ``limit`` bytes
        raise _body_too_large(limit) if is_base64 else _too_large(limit)
    raw = _raw_bytes(body, is_base64=is_base64)
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate") or raw.startswith(_GZIP_MAGIC):
        data = inflate(raw, limit=limit, raw_deflate=encoding == "deflate")
        return Body(data, None if data is raw else len(raw))
    if len(raw) > limit:
        raise _too_large(limit)
    return Body(raw)


def body_bytes(
    body: str | None,
    *,
    is_base64: bool,
    content_encoding: str | None,
    limit: int = MAX_BODY_BYTES,
) -> bytes:
    """``read_body``'s plain bytes."""
    return read_body(body, is_base64=is_base64, content_encoding=content_encoding, limit=limit).data


def inflation_allowed(wire: int, max_ratio: int = MAX_INFLATION_RATIO) -> int:
    """What a compressed body of ``wire`` bytes may inflate to, its events counted in."""
    return max(INFLATION_FLOOR, max_ratio * wire)


def check_inflation(inflated: int, events: int, wire: int) -> None:
    """413 when a compressed body's inflated size, each of its ``events`` counting
    ``INFLATION_PER_EVENT`` more, is past what its size on the wire allows."""
    if inflated + INFLATION_PER_EVENT * events > inflation_allowed(wire):
        raise _inflates_too_much(MAX_INFLATION_RATIO)


def _raw_bytes(body: str | None, *, is_base64: bool) -> bytes:
    if not body:
        return b""
    if not is_base64:
        return body.encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RequestError(400, "invalid_body", "The request body is not valid base64.") from exc


def inflate(
    data: bytes,
    *,
    limit: int = MAX_BODY_BYTES,
    raw_deflate: bool = False,
    max_ratio: int | None = MAX_INFLATION_RATIO,
) -> bytes:
    """Decompress gzip (every member), zlib or raw deflate data into at most ``limit`` bytes, and
    at most ``max_ratio`` times its own size (``INFLATION_FLOOR`` is always allowed).

    ``raw_deflate`` (the client said ``Content-Encoding: deflate``) also tries a headerless
    deflate stream, which ``CompressionStream('deflate-raw')`` and some clients send. A body that
    is not compressed at all (a client lying in ``Content-Encoding``) is passed through
    unchanged: the very object given. Compressed data larger than ``limit`` is refused unread;
    the output never grows past its cap by more than a byte, so a bomb costs at most that much
    memory; the CPU is linear in the data's size however many gzip members it holds. One layer
    is inflated: a body compressed twice is refused.
    """
    wbits = _stream_of(data) or (
        -zlib.MAX_WBITS if raw_deflate and data.lstrip()[:1] not in (b"{", b"[") else 0
    )
    if not wbits:
        if len(data) > limit:
            raise _too_large(limit)
        return data
    if len(data) > limit:
        raise _body_too_large(limit)
    cap = limit if max_ratio is None else min(limit, inflation_allowed(len(data), max_ratio))
    try:
        out = _inflate_members(data, wbits, cap)
    except RequestError:
        if wbits != -zlib.MAX_WBITS:
            raise
        return data  # not raw deflate after all: read as it is
    if len(out) > cap:
        raise _too_large(limit) if cap == limit else _inflates_too_much(max_ratio or 0)
    if _stream_of(out):
        raise RequestError(
            400, "invalid_body", "The request body is compressed more than once: one encoding is read."
        )
    return out


def _stream_of(data: bytes) -> int:
    """zlib's ``wbits`` for data that starts as a gzip or zlib stream, else 0. No JSON event does:
    of the characters JSON text starts with, only ``8`` has deflate's method in its low bits."""
    if data.startswith(_GZIP_MAGIC):
        return zlib.MAX_WBITS | 16
    if len(data) >= 2 and data[0] & 0x0F == 8 and int.from_bytes(data[:2], "big") % 31 == 0:
        return zlib.MAX_WBITS
    return 0


#: Input offered to zlib at a time: small at first, so the copy zlib makes of the input left after
#: a gzip member (``unused_data``) is never more than twice that member's size.
_FIRST_OFFER: Final = 64
_MAX_OFFER: Final = 64 * 1024


def _inflate_members(data: bytes, wbits: int, cap: int) -> bytes:
    """Inflate one stream after another (gzip allows several members) into at most ``cap + 1`` bytes.

    Each member is fed a growing window of the input rather than all that is left, so walking
    many small members costs time in proportion to the data, not to its square.
    """
    view = memoryview(data)
    out = bytearray()
    position = 0
    while True:
        inflater = zlib.decompressobj(wbits)
        offer = _FIRST_OFFER
        while True:
            chunk = view[position : position + offer]
            try:
                out += inflater.decompress(chunk, cap + 1 - len(out))
            except zlib.error as exc:
                raise RequestError(
                    400, "invalid_body", "The request body is not valid gzip or deflate."
                ) from exc
            if len(out) > cap:  # stopped at the cap: the caller refuses it
                return bytes(out)
            if inflater.eof:
                position += len(chunk) - len(inflater.unused_data)
                break
            position += len(chunk)
            if position >= len(view):
                raise RequestError(400, "invalid_body", "The compressed request body is truncated.")
            offer = min(2 * offer, _MAX_OFFER)
        if wbits != zlib.MAX_WBITS | 16 or view[position : position + 2] != _GZIP_MAGIC:
            return bytes(out)  # trailing bytes after the stream are ignored, as gzip(1) does


def _too_large(limit: int) -> RequestError:
    return RequestError(
        413,
        "payload_too_large",
        f"The request body exceeds {limit // 1024} KB after decompression.",
    )


def _body_too_large(limit: int) -> RequestError:
    return RequestError(413, "payload_too_large", f"The request body exceeds {limit // 1024} KB.")


def _inflates_too_much(max_ratio: int) -> RequestError:
    return RequestError(
        413,
        "payload_too_large",
        f"The compressed request body inflates to more than {max_ratio} times its size, each event "
        f"in it counting {INFLATION_PER_EVENT} bytes more ({INFLATION_FLOOR // 1024} KB is always allowed).",
    )


def parse_json(raw: bytes) -> Any:
    """Parse strict JSON (a UTF-8 byte-order mark is tolerated); containers deeper than the parser
    allows are ``too_deep``. Per-event depth and number ranges are checked by ``json_problem``."""
    if raw.startswith(_UTF8_BOM):
        raw = raw[len(_UTF8_BOM) :]
    if not raw.strip():
        raise RequestError(400, "invalid_json", "The request body is empty.")
    try:
        return from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        if "recursion limit" in str(exc):
            raise _too_deep() from exc
        if "surrogate" in str(exc) or "hex escape" in str(exc):
            return _with_lone_surrogates_replaced(raw, exc)
        raise RequestError(400, "invalid_json", f"The request body is not valid JSON: {exc}") from exc


def _with_lone_surrogates_replaced(raw: bytes, error: ValueError) -> Any:
    """JSON whose strings escape half a surrogate pair (``"\\ud83d"``, a string cut inside an
    emoji by a JavaScript client): read anyway, each lone half as U+FFFD, as browsers encode it."""
    import json

    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
        return _replace_lone_surrogates(value)
    except RecursionError as exc:
        raise _too_deep() from exc
    except ValueError as exc:
        raise RequestError(400, "invalid_json", f"The request body is not valid JSON: {error}") from exc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _replace_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k): _replace_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_lone_surrogates(v) for v in value]
    return value


def _too_deep() -> RequestError:
    return RequestError(400, "too_deep", f"The JSON is nested deeper than {MAX_DEPTH} levels.")


#: The largest finite IEEE-754 double: JSON numbers beyond it become Infinity in most parsers.
_MAX_DOUBLE: Final = sys.float_info.max


def json_problem(value: Any, max_depth: int = MAX_DEPTH) -> tuple[str, FieldError] | None:
    """Why ``value`` cannot travel as strict JSON within the depth limit, or None if it can.

    One iterative walk checks both: containers nested deeper than ``max_depth`` (the value
    itself is level 1) are ``too_deep``; numbers outside the double range (``1e400`` parses as
    infinity, a 400-digit literal as a huge int), which a strict upstream refuses, are
    ``invalid_json``. The answer names the reason and the field (a dotted path): the walk keeps
    no paths, so a value with a problem is walked again, in the same order, to name it.
    """
    if not isinstance(value, (dict, list)):
        return None if is_double(value) else ("invalid_json", {"field": "", "message": _OUT_OF_RANGE})
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        for child in node.values() if isinstance(node, dict) else node:
            kind = type(child)
            if kind is dict or kind is list:
                if depth >= max_depth:
                    return _named_problem(value, max_depth)
                stack.append((child, depth + 1))
            elif kind is float:
                if child - child != 0.0:  # infinite or NaN
                    return _named_problem(value, max_depth)
            elif kind is int and not -_MAX_DOUBLE <= child <= _MAX_DOUBLE:
                return _named_problem(value, max_depth)
    return None


def _named_problem(value: dict[str, Any] | list[Any], max_depth: int) -> tuple[str, FieldError] | None:
    """``json_problem``'s walk again, keeping the path to each node: the first problem, named."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            kind = type(child)
            if kind is dict or kind is list:
                if depth >= max_depth:
                    return "too_deep", {
                        "field": _join(path, key),
                        "message": f"nests deeper than {max_depth} levels",
                    }
                stack.append((child, depth + 1, _join(path, key)))
            elif (kind is float or kind is int) and not is_double(child):
                return "invalid_json", {"field": _join(path, key), "message": _OUT_OF_RANGE}
    return None


_OUT_OF_RANGE: Final = "is a number outside the range of a double"


def is_double(value: Any) -> bool:
    """False for a number no IEEE-754 double holds (infinite, NaN, or an integer past the range)."""
    if type(value) is float:
        return bool(value - value == 0.0)
    if type(value) is int:
        return -_MAX_DOUBLE <= value <= _MAX_DOUBLE
    return True


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def write_key_from(
    headers: Mapping[str, str],
    body: Any,
    query: Mapping[str, str],
) -> str | None:
    """The inbound write key: Basic auth username, else the body's ``writeKey``, else ``?writeKey=``."""
    key = basic_auth_user(headers.get("authorization"))
    if key:
        return key
    if isinstance(body, dict):
        key = _non_empty_str(body.get("writeKey"))
        if key:
            return key
        batch = body.get("batch")
        if isinstance(batch, list):
            for item in batch:
                if isinstance(item, dict) and (key := _non_empty_str(item.get("writeKey"))):
                    return key
    return _non_empty_str(query.get("writeKey"))


def basic_auth_user(header: str | None) -> str | None:
    """The user name of ``Authorization: Basic …`` (the password is ignored), or None."""
    if not header:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "basic" or not credentials:
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return _non_empty_str(decoded.partition(":")[0])


def _non_empty_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def clean_text(value: str) -> str:
    """A header or query value that JSON can carry: lone surrogates become U+FFFD."""
    if value.isascii():
        return value
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
