"""The live events page's entries: pure functions of what each hook of the local stack saw.

An entry holds chosen fields only (type, names, ids, statuses, field errors, reasons, the
consent an event carries) and, for a request the upstream stand-in answered, the events as
forwarded: never a write key, an Authorization header or a Source ID.

Ingest answers an event a privacy control dropped exactly as one it queued (200), so the gateway
asks ingest's own code (``edge.ingest.privacy``, with ingest's settings) what it decided for each
event of a request it answered: dropped and why, or with which consent it goes on. It asks
ingest's tracking plan (``edge.ingest.plan``) the same way what each event breaks, and, in
``block`` mode, which events were held in the quarantine rather than forwarded (also answered 200).
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl

from edge.core.errors import RequestError
from edge.ingest.consent import ConsentCount
from edge.ingest.decoding import inflate
from edge.ingest.repairs import repair_event
from edge.ingest.routes import event_type_of

if TYPE_CHECKING:
    from edge.ingest.plan import PlanPolicy
    from edge.ingest.privacy import RequestPrivacy

__all__ = [
    "MAX_SHOWN_EVENT_BYTES",
    "batch_entry",
    "consent_summary",
    "dead_letter_entry",
    "request_entry",
    "upstream_entry",
]

#: Event fields an entry may show; nothing else of a request is ever copied.
_SHOWN: Final = ("type", "event", "name", "userId", "anonymousId", "messageId", "groupId", "previousId")
_TEXT_CHARS: Final = 200
_CUSTOM: Final = "custom"
_CUSTOM_ROUTE: Final = "custom/event"
_CUSTOM_METADATA: Final = ("_metarouter", "_mrSchema")
#: A custom event's metadata field → the name an entry shows it under.
_CUSTOM_SHOWN: Final = {
    "eventName": "event",
    "userID": "userId",
    "anonymousID": "anonymousId",
    "eventID": "messageId",
}
#: A forwarded event larger than this (as JSON) is shown as its size only.
MAX_SHOWN_EVENT_BYTES: Final = 16 * 1024
#: Request bodies are read for their event names only up to this size, decompressed.
_MAX_READ_BYTES: Final = 2 * 1024 * 1024
_PERMANENT: Final = frozenset({400, 413, 422})
#: Violations shown per event (the plan keeps at most as many per event it forwards).
_MAX_VIOLATIONS: Final = 10
#: Outcomes of events a 2xx answered but ingest did not forward, the first found names the request's.
_HELD: Final = ("blocked", "dropped")


def request_entry(
    method: str,
    path: str,
    *,
    query: str,
    body: bytes,
    encoding: str | None,
    status: int,
    answer: bytes,
    privacy: RequestPrivacy | None = None,
    plan: PlanPolicy | None = None,
    shown_path: str | None = None,
) -> dict[str, Any]:
    """A request the gateway answered: its events, and for each what ingest did with it
    (``privacy``: ingest's controls for this request, which say what was dropped and why;
    ``plan``: ingest's tracking plan, which says what each event breaks and what was blocked).
    ``path`` is the API's route; ``shown_path`` the path as sent, under a front door's prefix."""
    route = path.removeprefix("/v1/")
    pixel = route.startswith("pixel/")
    route_type = _CUSTOM if route == _CUSTOM_ROUTE else event_type_of(route.removeprefix("pixel/"))
    if pixel:
        items, batch_context = [_pixel_event(dict(parse_qsl(query)))], None
    else:
        items, batch_context = _items(_read(body, encoding), route_type)
    events = [_summary(item, route_type) for item in items]
    if route_type == _CUSTOM and events:  # its metadata may be in the query instead
        events[0] = {**_custom_summary(dict(parse_qsl(query))), **events[0]}
    error = _error(answer) if status >= 400 else None
    rejected, count = _rejected(answer, status)
    outcome = _mark(events, status, rejected, count, every=bool(route_type), error=error)
    if status < 300 and privacy is not None:
        outcome = _decide(events, items, batch_context, privacy, outcome)
    if status < 300 and plan is not None and route_type != _CUSTOM:  # ingest judges no custom event
        outcome = _judge(events, items, plan, outcome, route_type=route_type, batch_context=batch_context)
    if status == 503:
        outcome = "unavailable"
    entry: dict[str, Any] = {
        "kind": "request",
        "method": method,
        "route": (shown_path or path)[:_TEXT_CHARS],
        "status": status,
        "outcome": outcome,
        "events": events,
    }
    if error:
        entry["error"] = error
    if plan is not None and any("violations" in event for event in events):
        entry["plan"] = plan.mode
    if pixel:
        entry["note"] = "pixel: always answered 200; invalid input is quarantined"
    elif count > len(rejected):
        entry["note"] = f"{count} events rejected: the answer lists the first {len(rejected)}"
    return entry


def _mark(
    events: list[dict[str, Any]],
    status: int,
    rejected: dict[int, list[dict[str, str]]],
    count: int,
    *,
    every: bool,
    error: dict[str, str] | None,
) -> str:
    """Set each event's outcome (and errors) from the answer; the request's outcome.

    ``every``: a single event's route, whose event is the request. Past the answer's cap on
    listed rejections, an event of a 200 may have been rejected or accepted: it is ``unlisted``.
    """
    if status < 300:
        last_listed = max(rejected, default=-1) if count > len(rejected) else len(events)
        for index, event in enumerate(events):
            if index in rejected:
                event.update(outcome="rejected", errors=rejected[index])
            else:
                event["outcome"] = "unlisted" if index > last_listed else "accepted"
        return "rejected" if rejected and count == len(events) else "accepted"
    every = every or (error is not None and error["code"] == "invalid_batch")
    for index, event in enumerate(events):
        event["outcome"] = "rejected" if index in rejected or every else "refused"
        if index in rejected:
            event["errors"] = rejected[index]
    return "rejected" if rejected or (status == 400 and every) else "refused"


def upstream_entry(path: str, status: int, events: list[Any], failed: Mapping[int, int]) -> dict[str, Any]:
    """A request the upstream stand-in answered, with the events as forwarded.

    ``failed`` maps an index of ``events`` to its status in a 207 answer.
    """
    shown = []
    route_type = _CUSTOM if path.endswith("/" + _CUSTOM_ROUTE) else None
    for index, event in enumerate(events):
        summary = _summary(event, route_type)
        item_status = failed.get(index, status)
        summary["status"] = item_status
        summary["outcome"] = _upstream_outcome(item_status)
        context = event.get("context") if isinstance(event, dict) else None
        consent = consent_summary(context.get("consent")) if isinstance(context, dict) else None
        if consent:
            summary["consent"] = consent
        violations = _shown_violations(context.get("violations")) if isinstance(context, dict) else []
        if violations:  # flagged by the tracking plan (flag, omit)
            summary["violations"] = violations
        summary["body"] = _forwarded(event)
        shown.append(summary)
    outcomes = {e["outcome"] for e in shown} or {_upstream_outcome(status)}
    return {
        "kind": "upstream",
        "route": path[:_TEXT_CHARS],
        "status": status,
        "outcome": "forwarded" if outcomes == {"forwarded"} else sorted(outcomes - {"forwarded"})[0],
        "events": shown,
    }


def batch_entry(bodies: list[str], ids: list[str], redelivered: set[str]) -> dict[str, Any]:
    """One forwarder invocation: its messages' events, and which were left for SQS to redeliver."""
    events = []
    for body, message_id in zip(bodies, ids, strict=True):
        outcome = "retried" if message_id in redelivered else "settled"
        for event in _message_events(body):
            summary = _summary(event, None)
            summary["outcome"] = outcome
            events.append(summary)
    return {
        "kind": "batch",
        "messages": len(ids),
        "redelivered": len(redelivered),
        "outcome": "retried" if redelivered else "settled",
        "events": events,
    }


def dead_letter_entry(body: str, attributes: Mapping[str, str]) -> dict[str, Any]:
    """A message parked in the dead-letter queue: its events and why."""
    reason = attributes.get("reason") or "max_receive_count"
    detail = attributes.get("detail") or (
        "" if attributes.get("reason") else "Delivery failed too many times; SQS moved the message."
    )
    events = [
        {**_summary(event, None), "outcome": "dead-lettered", "reason": reason}
        for event in _message_events(body)
    ]
    entry: dict[str, Any] = {
        "kind": "dead-letter",
        "outcome": "dead-lettered",
        "reason": reason,
        "detail": detail[: _TEXT_CHARS * 2],
        "events": events,
    }
    if attributes.get("upstreamStatus"):
        entry["status"] = int(attributes["upstreamStatus"])
    return entry


def _decide(
    events: list[dict[str, Any]],
    items: list[Any],
    batch_context: dict[str, Any] | None,
    privacy: RequestPrivacy,
    outcome: str,
) -> str:
    """What ingest's privacy controls decided for each event a 2xx accepted (dropped and why, or
    the consent it goes on with); the request's outcome, ``dropped`` if none went on."""
    for index, event in enumerate(events):
        if event["outcome"] == "accepted" and isinstance(items[index], dict):
            event.update(_decided(items[index], batch_context, privacy))
    return _held(events, outcome)


def _judge(
    events: list[dict[str, Any]],
    items: list[Any],
    plan: PlanPolicy,
    outcome: str,
    *,
    route_type: str | None,
    batch_context: dict[str, Any] | None,
) -> str:
    """What ingest's tracking plan says of each event a 2xx accepted and no control dropped: its
    violations and, in ``block`` mode, that it was ``blocked`` (answered 200, held in the
    quarantine, never forwarded); the request's outcome, ``blocked`` if none went on.

    A re-judgement of the event as sent, with what ingest does to it that needs no request: the
    route's ``type``, the batch's ``context`` merged in, the key removed, the repairs. What
    enrichment adds is absent (receivedAt, timestamp, a messageId the client left out, context.ip
    and userAgent, consent from a cookie): a plan that requires those shows violations here that
    ingest did not find. The upstream's entries show what was forwarded, ``context.violations``
    included."""
    if plan.plan is None:
        return outcome
    for index, event in enumerate(events):
        item = items[index]
        if event["outcome"] != "accepted" or not isinstance(item, dict):
            continue
        verdict = plan.plan.judge(_as_judged(item, route_type, batch_context))
        if verdict is not None:
            event["violations"] = verdict.violations
            if plan.mode == "block":
                event["outcome"] = "blocked"
    return _held(events, outcome)


def _as_judged(item: dict[str, Any], route_type: str | None, batch_context: Any) -> dict[str, Any]:
    """The event as ingest judges it, as far as the request's body says (``_judge``)."""
    event = {name: value for name, value in item.items() if name != "writeKey"}
    own = item.get("context")
    event["context"] = dict(own) if isinstance(own, dict) else {}  # a copy: repairs change it in place
    repair_event(event)
    if route_type is not None:
        event["type"] = route_type
    if isinstance(batch_context, dict):
        event["context"] = {**batch_context, **event["context"]}
    return event


def _held(events: list[dict[str, Any]], outcome: str) -> str:
    """The request's outcome once ingest's controls and plan decided: ``blocked`` or ``dropped``
    when a 2xx forwarded none of its events and held some back."""
    outcomes = {event["outcome"] for event in events}
    if outcome != "accepted" or outcomes & {"accepted", "unlisted"}:
        return outcome
    return next((held for held in _HELD if held in outcomes), outcome)


def _shown_violations(value: Any) -> list[dict[str, str]]:
    """A forwarded event's ``context.violations`` as the page shows them: kind, path, message."""
    if not isinstance(value, list):
        return []
    return [
        {name: str(violation.get(name, ""))[:_TEXT_CHARS] for name in ("kind", "path", "message")}
        for violation in value[:_MAX_VIOLATIONS]
        if isinstance(violation, dict)
    ]


def consent_summary(consent: Any) -> str | None:
    """An event's ``context.consent`` in a few words: the categories it opts out of (MetaRouter's
    ``optOut``) or denies (Segment's ``categoryPreferences``), and whether the visitor chose."""
    if not isinstance(consent, dict):
        return None
    opt_out, preferences = consent.get("optOut"), consent.get("categoryPreferences")
    names = {str(k) for k, v in opt_out.items() if v is True} if isinstance(opt_out, dict) else set()
    if isinstance(preferences, dict):
        names |= {str(k) for k, v in preferences.items() if v is False}
    text = f"opts out of {', '.join(sorted(names))}" if names else "opts out of nothing"
    explicit = consent.get("explicit")
    if isinstance(explicit, bool):
        text += " (explicit)" if explicit else " (not explicit)"
    return text[:_TEXT_CHARS]


def _decided(item: dict[str, Any], batch_context: Any, privacy: RequestPrivacy) -> dict[str, Any]:
    """What ingest's privacy controls decided for one event: dropped and why, or the consent it
    is forwarded with and where that came from (its own, its batch's, the cookie, GPC)."""
    context = item.get("context")
    own = isinstance(context, dict) and "consent" in context
    source = (
        "event" if own else "batch" if isinstance(batch_context, dict) and "consent" in batch_context else ""
    )
    merged = {**(batch_context or {}), **(context if isinstance(context, dict) else {})}
    probe = {"context": merged}
    counts: Counter[str] = Counter()
    privacy.consent.stamp(probe, counts, counts)  # on a copy: the request's own context stays as sent
    if counts[ConsentCount.FROM_COOKIE]:
        source = f"{privacy.consent.policy.platform} cookie"
    summary = consent_summary(probe["context"].get("consent"))
    shown: dict[str, Any] = {}
    if summary:
        gpc = " · GPC" if counts[ConsentCount.GPC] else ""
        shown["consent"] = f"{source + ': ' if source else ''}{summary}{gpc}"
    reason = privacy.filtered(item, batch_context)
    if reason is not None:
        shown.update(outcome="dropped", reason=reason)
    return shown


def _upstream_outcome(status: int) -> str:
    if 200 <= status < 300:
        return "forwarded"
    return "refused" if status in _PERMANENT else "retried"


def _read(body: bytes, encoding: str | None) -> Any:
    """The body's JSON, inflated as ingest inflates it and within ``_MAX_READ_BYTES``; else None."""
    claimed = (encoding or "").strip().lower()
    if claimed not in ("", "gzip", "x-gzip", "deflate"):
        return None
    try:
        if claimed:
            body = inflate(body, limit=_MAX_READ_BYTES, raw_deflate=claimed == "deflate", max_ratio=None)
        return json.loads(body) if len(body) <= _MAX_READ_BYTES else None
    except (ValueError, RequestError):
        return None


def _pixel_event(query: dict[str, str]) -> Any:
    """The pixel API's event: ``?data=<base64 JSON>``, else the query's own fields."""
    data = query.get("data")
    if not data:
        return query
    text = data.strip().replace(" ", "+").replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return json.loads(base64.b64decode(text + "=" * (-len(text) % 4)))
    except ValueError:
        return None


def _items(body: Any, route_type: str | None) -> tuple[list[Any], dict[str, Any] | None]:
    """A request's events, and the batch's ``context`` they inherit."""
    if route_type is not None:
        return ([body] if body is not None else []), None
    if isinstance(body, dict) and isinstance(body.get("batch"), list):
        context = body.get("context")
        return list(body["batch"]), context if isinstance(context, dict) else None
    return [], None


def _summary(item: Any, route_type: str | None) -> dict[str, Any]:
    """The fields an entry shows of one event, as short strings; never its key."""
    if not isinstance(item, dict):
        return {"type": route_type or "?"}
    if route_type == _CUSTOM or (item.get("type") == _CUSTOM and isinstance(item.get("body"), dict)):
        return _custom_event_summary(item)
    shown: dict[str, Any] = {}
    for name in _SHOWN:
        value = item.get(name)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and value != "":
            shown[name] = str(value)[:_TEXT_CHARS]
    if route_type:
        shown["type"] = route_type
    shown.setdefault("type", "?")
    return shown


def _custom_event_summary(item: dict[str, Any]) -> dict[str, Any]:
    """A custom event's metadata as an entry shows it: the event as sent or forwarded, or queued
    (its wrapper's ``body``)."""
    queued = item.get("type") == _CUSTOM and isinstance(item.get("body"), dict)
    event = item["body"] if queued else item
    shown: dict[str, Any] = {}
    for key in _CUSTOM_METADATA:  # _metarouter first: it wins
        metadata = event.get(key)
        if isinstance(metadata, dict):
            shown = {**_custom_summary(metadata), **shown}
    if queued and isinstance(item.get("messageId"), str):
        shown.setdefault("messageId", item["messageId"][:_TEXT_CHARS])
    shown["type"] = _CUSTOM
    return shown


def _custom_summary(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata fields under the names the page shows (never ``writeKey``)."""
    return {
        shown: value[:_TEXT_CHARS]
        for name, shown in _CUSTOM_SHOWN.items()
        if isinstance(value := metadata.get(name), str) and value
    }


def _forwarded(event: Any) -> Any:
    if not isinstance(event, dict):
        return None
    event = {k: v for k, v in event.items() if k != "writeKey"}
    for key in _CUSTOM_METADATA:  # a custom event's metadata carries the Source ID as its writeKey
        if isinstance(event.get(key), dict):
            event[key] = {k: v for k, v in event[key].items() if k != "writeKey"}
    size = len(json.dumps(event))
    return event if size <= MAX_SHOWN_EVENT_BYTES else {"truncated": True, "bytes": size}


def _message_events(body: str) -> list[Any]:
    try:
        message = json.loads(body)
    except ValueError:
        return []
    events = message.get("events") if isinstance(message, dict) else None
    return events if isinstance(events, list) else []


def _answer(answer: bytes) -> Any:
    try:
        return json.loads(answer)
    except ValueError:
        return None


def _error(answer: bytes) -> dict[str, str] | None:
    body = _answer(answer)
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        return {"code": str(error.get("code", "")), "message": str(error.get("message", ""))[:_TEXT_CHARS]}
    if isinstance(body.get("message"), str):  # the platform's own answer (404, 413)
        return {"code": "", "message": body["message"][:_TEXT_CHARS]}
    return None


def _rejected(answer: bytes, status: int) -> tuple[dict[int, list[dict[str, str]]], int]:
    """Index → field errors, from a 200's ``rejected`` list or a 4xx's ``details``, and how many
    were rejected in all (``rejectedCount``: the answer lists the first ones only)."""
    body = _answer(answer)
    if not isinstance(body, dict):
        return {}, 0
    holder: Any = body if status < 300 else body.get("error")
    if not isinstance(holder, dict):
        return {}, 0
    listed = holder.get("rejected" if status < 300 else "details")
    if 300 <= status < 500 and isinstance(listed, list) and listed and "index" not in listed[0]:
        listed = [{"index": 0, "errors": listed}]  # one event's field errors
    found: dict[int, list[dict[str, str]]] = {}
    if not isinstance(listed, list):
        return found, 0
    for item in listed:
        if isinstance(item, dict) and isinstance(item.get("index"), int):
            errors = item["errors"] if isinstance(item.get("errors"), list) else []
            found[item["index"]] = [
                {"field": str(e.get("field", "")), "message": str(e.get("message", ""))[:_TEXT_CHARS]}
                for e in errors
                if isinstance(e, dict)
            ]
    count = holder.get("rejectedCount")
    return found, count if isinstance(count, int) and count > len(found) else len(found)
