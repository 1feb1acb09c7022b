"""The MetaRouter HTTP API client.

One ``urllib3.PoolManager`` per execution environment keeps connections open across
invocations. Each request gets timeouts that fit the time left; urllib3 retries only a failed
connect (nothing was sent yet) and parses ``Retry-After``; the backoff between tries is the
forwarder's, because only it knows the invocation's deadline.

A 207 answer names its failed items in a list under ``errors`` (or ``failed``, ``failures``,
``rejected``; a bare top-level list works too). An entry is an index into the request's
``batch``, a ``messageId``, or an object with ``index`` and/or ``messageId`` and optionally the
item's own ``status``. A 207 body that names nothing recognisable means "retry everything".

What an answer means for the events of a request is one pure function, ``decide``: the
forwarding policy of the README in one place, as a table of cases.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Protocol

import urllib3
from pydantic_core import from_json, to_json
from urllib3.exceptions import HTTPError, InvalidHeader, MaxRetryError, NewConnectionError
from urllib3.exceptions import TimeoutError as UrllibTimeoutError
from urllib3.util import make_headers

__all__ = [
    "BATCH_PATH",
    "CALL_TYPES",
    "CUSTOM_PATH",
    "CUSTOM_TYPE",
    "PERMANENT_STATUSES",
    "Accept",
    "Answer",
    "Decision",
    "FailedItem",
    "Park",
    "Partial",
    "RefreshSecret",
    "Retry",
    "Sent",
    "Split",
    "UpstreamClient",
    "UsePerCall",
    "Verdict",
    "authorization",
    "batch_body",
    "batch_overhead",
    "build_pool",
    "classify",
    "custom_body",
    "decide",
    "failed_items",
]

BATCH_PATH: Final = "/v1/batch"
CALL_TYPES: Final = frozenset({"identify", "track", "page", "screen", "group", "alias"})
"""Event types with a per-call path ``/v1/{type}`` (the seed's five, plus Segment's screen)."""
#: MetaRouter's custom events: one per call, never in a batch (``edge.ingest.custom``).
CUSTOM_PATH: Final = "/v1/custom/event"
CUSTOM_TYPE: Final = "custom"
#: Item statuses in a 207 answer that mean "refused for good": the item is parked, not retried.
PERMANENT_STATUSES: Final = frozenset({400, 413, 422})

_FAILURE_KEYS: Final = ("errors", "failed", "failures", "rejected")
_USER_AGENT: Final = "metarouter-edge/0.1"
# Level 1: measured on varied event JSON, 9.8x smaller where level 6 makes 11.2x, for a third of
# its CPU (docs/operations.md, "Egress and gzip"); the bytes left differ by pennies a month.
_GZIP_LEVEL: Final = 1
# One immediate reconnect when a connect fails (nothing was sent); no redirects, no status retries.
_RETRY: Final = urllib3.Retry(
    total=1, connect=1, read=0, status=0, other=0, redirect=False, backoff_factor=0, raise_on_status=False
)


class Verdict(StrEnum):
    """What an upstream answer means for the events of the request."""

    ACCEPTED = "accepted"
    PARTIAL = "partial"
    TOO_LARGE = "too_large"
    REJECTED = "rejected"
    UNAUTHORIZED = "unauthorized"
    UNSUPPORTED = "unsupported"
    RETRYABLE = "retryable"


_VERDICTS: Final = {
    207: Verdict.PARTIAL,
    400: Verdict.REJECTED,
    401: Verdict.UNAUTHORIZED,
    403: Verdict.UNAUTHORIZED,
    404: Verdict.UNSUPPORTED,
    405: Verdict.UNSUPPORTED,
    413: Verdict.TOO_LARGE,
    422: Verdict.REJECTED,
}


def classify(status: int | None) -> Verdict:
    """The verdict of a status; no status (timeout, connection error) and anything unexpected retry."""
    if status is None:
        return Verdict.RETRYABLE
    verdict = _VERDICTS.get(status)
    if verdict is not None:
        return verdict
    return Verdict.ACCEPTED if 200 <= status < 300 else Verdict.RETRYABLE


@dataclass(frozen=True, slots=True)
class Answer:
    """The upstream's answer to one request, or why there was none."""

    status: int | None
    body: bytes = b""
    retry_after: float | None = None
    error: str | None = None
    """``timeout`` or ``connection_error`` when there is no status."""
    elapsed_ms: float = 0.0

    @property
    def verdict(self) -> Verdict:
        return classify(self.status)

    @property
    def status_class(self) -> str:
        """``2xx`` … ``5xx``, or ``error`` when no answer came: the metric dimension."""
        return f"{self.status // 100}xx" if self.status is not None else "error"


@dataclass(frozen=True, slots=True)
class FailedItem:
    """One item a 207 answer reports as failed."""

    index: int | None = None
    message_id: str | None = None
    status: int | None = None


def failed_items(body: bytes) -> list[FailedItem] | None:
    """The items a 207 body names as failed, or None when it does not say which."""
    try:
        parsed = from_json(body)
    except ValueError:
        return None
    entries: Any = parsed
    if isinstance(parsed, dict):
        entries = next((parsed[key] for key in _FAILURE_KEYS if isinstance(parsed.get(key), list)), None)
    if not isinstance(entries, list):
        return None
    items: list[FailedItem] = []
    for entry in entries:
        item = _failed_item(entry)
        if item is None:
            return None
        items.append(item)
    return items


def _failed_item(entry: Any) -> FailedItem | None:
    if isinstance(entry, int) and not isinstance(entry, bool):
        return FailedItem(index=entry)
    if isinstance(entry, str) and entry:
        return FailedItem(message_id=entry)
    if not isinstance(entry, dict):
        return None
    index = entry.get("index")
    message_id = entry.get("messageId")
    status = entry.get("status")
    item = FailedItem(
        index=index if isinstance(index, int) and not isinstance(index, bool) else None,
        message_id=message_id if isinstance(message_id, str) and message_id else None,
        status=status if isinstance(status, int) and not isinstance(status, bool) else None,
    )
    return item if item.index is not None or item.message_id is not None else None


class Sent(Protocol):
    """What ``decide`` needs to know of the request an answer is to."""

    @property
    def source_id(self) -> str: ...

    @property
    def per_call(self) -> bool:
        """Sent to ``/v1/{type}``, one event, rather than to ``/v1/batch``."""
        ...

    @property
    def after_refresh(self) -> bool:
        """Sent again with a secret read anew after a 401/403."""
        ...

    @property
    def message_ids(self) -> Sequence[str | None]:
        """The events' ``messageId``s, in the request's order."""
        ...


@dataclass(frozen=True, slots=True)
class Accept:
    """Every event of the request was accepted."""


@dataclass(frozen=True, slots=True)
class Partial:
    """A 207: the events at ``parked`` (position, status) were refused for good, those at
    ``retry`` may be sent again; every other one was accepted."""

    parked: tuple[tuple[int, int], ...]
    retry: tuple[int, ...]
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Split:
    """Too large, or refused with more than one event in it: send each half at once."""


@dataclass(frozen=True, slots=True)
class Park:
    """The lone event was refused for good: park it, with ``detail``."""

    status: int
    detail: str


@dataclass(frozen=True, slots=True)
class Retry:
    """Send the request again later (after ``retry_after`` if the upstream asked)."""

    retry_after: float | None = None
    refused: bool = False
    """A 401/403 even with the secret read anew: the Source ID is refused."""
    unreadable: bool = False
    """A 207 that does not say which events failed."""


@dataclass(frozen=True, slots=True)
class UsePerCall:
    """The upstream has no ``/v1/batch``: switch to one event per call and send again at once."""


@dataclass(frozen=True, slots=True)
class RefreshSecret:
    """A 401/403: read the secret anew (it may have been rotated) and send again at once."""


type Decision = Accept | Partial | Split | Park | Retry | UsePerCall | RefreshSecret


def decide(request: Sent, answer: Answer) -> Decision:  # noqa: PLR0911 - a return per case
    """What ``answer`` means for the events of ``request`` (the README's forwarding policy)."""
    match answer.verdict:
        case Verdict.ACCEPTED:
            return Accept()
        case Verdict.PARTIAL:
            return _partial(request, answer)
        case Verdict.TOO_LARGE | Verdict.REJECTED if len(request.message_ids) > 1:
            return Split()
        case Verdict.TOO_LARGE | Verdict.REJECTED:
            return Park(answer.status or 0, _detail(answer, request.source_id))
        case Verdict.UNAUTHORIZED if not request.after_refresh:
            return RefreshSecret()
        case Verdict.UNAUTHORIZED:
            return Retry(answer.retry_after, refused=True)
        case Verdict.UNSUPPORTED if not request.per_call:
            return UsePerCall()
        case _:
            return Retry(answer.retry_after)


def _partial(request: Sent, answer: Answer) -> Partial | Retry:
    failures = failed_items(answer.body)
    matched = _match(request.message_ids, failures) if failures is not None else None
    if matched is None:
        return Retry(answer.retry_after, unreadable=True)
    parked: list[tuple[int, int]] = []
    retry: list[int] = []
    for index in sorted(matched):
        status = matched[index].status
        if status in PERMANENT_STATUSES:
            parked.append((index, status))
        else:
            retry.append(index)
    return Partial(tuple(parked), tuple(retry), answer.retry_after)


def _match(message_ids: Sequence[str | None], failures: Iterable[FailedItem]) -> dict[int, FailedItem] | None:
    """Positions in the request of the failures a 207 names (by ``messageId``, else index).

    None when any failure names no event of the request: then nobody knows what failed.
    """
    positions: dict[str, list[int]] = {}
    for index, message_id in enumerate(message_ids):
        if message_id is not None:
            positions.setdefault(message_id, []).append(index)
    matched: dict[int, FailedItem] = {}
    for failure in failures:
        if failure.message_id is not None and failure.message_id in positions:
            found = positions[failure.message_id]
        elif failure.index is not None and 0 <= failure.index < len(message_ids):
            found = [failure.index]
        else:
            return None
        matched.update(dict.fromkeys(found, failure))
    return matched


def _detail(answer: Answer, source_id: str) -> str:
    """The upstream's answer for the dead-letter ``detail`` attribute, without the Source ID."""
    text = answer.body[:512].decode("utf-8", "replace").replace(source_id, "[source]").strip()
    return (
        f"The upstream answered {answer.status}: {text}"
        if text
        else f"The upstream answered {answer.status}."
    )


def authorization(source_id: str) -> str:
    """``Basic base64(sourceId:)``: the Source ID as user name, an empty password."""
    return make_headers(basic_auth=f"{source_id}:", basic_auth_encoding="utf-8")["authorization"]


def custom_body(queued: bytes, source_id: str) -> bytes:
    """What MetaRouter receives for a queued custom event: its ``body``, the Source ID as the
    metadata's ``writeKey`` (which MetaRouter reads as the Source), put there only now."""
    wrapper = from_json(queued)
    event = wrapper.get("body") if isinstance(wrapper, dict) else None
    if not isinstance(event, dict):  # a hand-made message: sent as it is, the upstream's 400 parks it
        return queued
    metadata = event.get("_metarouter")
    metadata = metadata if isinstance(metadata, dict) else {}
    event["_metarouter"] = {"writeKey": source_id, **{k: v for k, v in metadata.items() if k != "writeKey"}}
    return to_json(event)


def batch_body(events: Sequence[bytes], sent_at: str) -> bytes:
    """``{"batch": [...], "sentAt": ...}`` from events serialized once."""
    return b'{"batch":[' + b",".join(events) + b'],"sentAt":' + to_json(sent_at) + b"}"


def batch_overhead() -> int:
    """Bytes of a batch body besides its events (the envelope and a ``sentAt`` of fixed width)."""
    return len(batch_body([], "2000-01-01T00:00:00.000Z"))


def build_pool(*, max_connections: int) -> urllib3.PoolManager:
    """The execution environment's connection pool: TLS verified, enough connections per host."""
    return urllib3.PoolManager(
        num_pools=4,
        maxsize=max_connections,
        block=False,
        cert_reqs="CERT_REQUIRED",
        retries=_RETRY,
    )


class UpstreamClient:
    """POSTs JSON to the MetaRouter endpoint with a Source's Basic Auth, within a time budget."""

    def __init__(
        self,
        pool: urllib3.PoolManager,
        endpoint: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        gzip: bool = False,
    ) -> None:
        self._pool = pool
        self.endpoint = endpoint.rstrip("/")
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._gzip = gzip

    def post(self, path: str, body: bytes, source_id: str, *, budget: float) -> Answer:
        """Send one request; never raises for what the network or the upstream does."""
        headers = {
            "Authorization": authorization(source_id),
            "Content-Type": "application/json",
            "User-Agent": _USER_AGENT,
        }
        if self._gzip:
            body = gzip.compress(body, compresslevel=_GZIP_LEVEL, mtime=0)
            headers["Content-Encoding"] = "gzip"
        started = time.monotonic()
        try:
            response = self._pool.request(
                "POST",
                self.endpoint + path,
                body=body,
                headers=headers,
                timeout=self.timeout(budget),
                retries=_RETRY,
                redirect=False,
            )
        except HTTPError as exc:
            return Answer(None, error=_error_kind(exc), elapsed_ms=_since(started))
        return Answer(
            response.status,
            response.data,
            retry_after=_retry_after(response.headers.get("Retry-After")),
            elapsed_ms=_since(started),
        )

    def timeout(self, budget: float) -> urllib3.Timeout:
        """Connect/read timeouts shortened so two connects and a read fit in ``budget`` seconds."""
        connect = min(self._connect_timeout, budget / 4)
        return urllib3.Timeout(
            connect=connect, read=min(self._read_timeout, max(budget - 2 * connect, 0.001))
        )

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.clear()


def _retry_after(value: str | None) -> float | None:
    """Seconds from ``Retry-After`` (delay-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    try:
        return _RETRY.parse_retry_after(value)
    except InvalidHeader:
        return None


def _error_kind(exc: HTTPError) -> str:
    reason = exc.reason if isinstance(exc, MaxRetryError) else exc
    # NewConnectionError subclasses ConnectTimeoutError for history's sake: a refusal is no timeout.
    timed_out = isinstance(reason, UrllibTimeoutError) and not isinstance(reason, NewConnectionError)
    return "timeout" if timed_out else "connection_error"


def _since(started: float) -> float:
    return (time.monotonic() - started) * 1000
