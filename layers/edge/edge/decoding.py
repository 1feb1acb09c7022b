"""Request decoding: base64 from API Gateway, gzip/deflate, JSON with size and depth limits,
and where the inbound write key is found (SPEC §2 "Request decoding")."""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Mapping
from typing import Any

from pydantic_core import from_json

from edge.errors import ClientError
from edge.limits import MAX_BODY_BYTES, MAX_DEPTH

__all__ = ["clean_text", "decode_body", "inflate", "parse_json", "write_key_from"]

_GZIP_MAGIC = b"\x1f\x8b"
_COUNT_BRACKETS_UP_TO = 32 * 1024


def decode_body(
    body: str | None,
    *,
    is_base64: bool,
    content_encoding: str | None,
    limit: int = MAX_BODY_BYTES,
) -> Any:
    """Turn an API Gateway body into parsed JSON, whatever the Content-Type says."""
    raw = _raw_bytes(body, is_base64=is_base64)
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate") or raw.startswith(_GZIP_MAGIC):
        raw = inflate(raw, limit=limit)
    elif len(raw) > limit:
        raise _too_large(limit)
    return parse_json(raw)


def _raw_bytes(body: str | None, *, is_base64: bool) -> bytes:
    if not body:
        return b""
    if not is_base64:
        return body.encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ClientError(400, "invalid_body", "The request body is not valid base64.") from exc


def inflate(data: bytes, *, limit: int = MAX_BODY_BYTES) -> bytes:
    """Decompress gzip or zlib data, stopping as soon as the output passes ``limit``.

    A body that is not compressed at all (a client lying in ``Content-Encoding``) is passed
    through unchanged. The output never grows beyond ``limit + 1`` bytes, so a gzip bomb
    costs at most that much memory.
    """
    if data.startswith(_GZIP_MAGIC):
        wbits = zlib.MAX_WBITS | 16
    elif len(data) >= 2 and data[0] & 0x0F == 8 and int.from_bytes(data[:2], "big") % 31 == 0:
        wbits = zlib.MAX_WBITS
    else:
        if len(data) > limit:
            raise _too_large(limit)
        return data
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise ClientError(400, "invalid_body", "The request body is not valid gzip.") from exc
    if len(out) > limit:
        raise _too_large(limit)
    return out


def _too_large(limit: int) -> ClientError:
    return ClientError(
        413,
        "payload_too_large",
        f"The request body exceeds {limit // 1024} KB after decompression.",
    )


def parse_json(raw: bytes) -> Any:
    """Parse JSON and enforce the nesting-depth limit."""
    if not raw.strip():
        raise ClientError(400, "invalid_json", "The request body is empty.")
    try:
        value = from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        if "recursion limit" in str(exc):
            raise _too_deep() from exc
        raise ClientError(400, "invalid_json", f"The request body is not valid JSON: {exc}") from exc
    if _may_be_too_deep(raw) and _depth_exceeds(value, MAX_DEPTH):
        raise _too_deep()
    return value


def _may_be_too_deep(raw: bytes) -> bool:
    """False when ``raw`` cannot nest deeper than the limit, known without walking the parsed value.

    Nesting N levels deep takes N opening brackets; a small body (one event) has far fewer than
    the limit, and counting them (in C, strings included: an overcount is safe) costs a few
    percent of the walk. Large bodies (batches) have many brackets and are always walked.
    """
    return len(raw) > _COUNT_BRACKETS_UP_TO or raw.count(b"{") + raw.count(b"[") > MAX_DEPTH


def _too_deep() -> ClientError:
    return ClientError(400, "too_deep", f"The JSON is nested deeper than {MAX_DEPTH} levels.")


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether any container in ``value`` sits deeper than ``limit`` levels (iterative)."""
    if not isinstance(value, (dict, list)):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def write_key_from(
    headers: Mapping[str, str],
    body: Any,
    query: Mapping[str, str],
) -> str | None:
    """The inbound write key: Basic auth username, else the body's ``writeKey``, else ``?writeKey=``."""
    key = _basic_auth_user(headers.get("authorization"))
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


def _basic_auth_user(header: str | None) -> str | None:
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
