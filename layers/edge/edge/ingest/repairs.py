"""Repairs: what real clients send that can be fixed without guessing, fixed before validation.

A 4xx makes every SDK drop the event for good, so the edge repairs what has one meaning and
refuses only what cannot be forwarded meaningfully. Each repair is counted (metric
``EventsRepaired``, dimension ``repair``); the README has the table.

- ``id_number``: a number in an id field or ``messageId`` → its decimal string (42 → "42");
- ``type_case``: ``"Track"``, ``" TRACK "`` → ``"track"``;
- ``epoch_time``: an epoch number (or a string of 9+ digits) in a timestamp → ISO-8601 UTC,
  read as milliseconds from 10^11 up, else as seconds;
- ``time_dropped``: a timestamp that is neither → removed (``receivedAt`` stands in, and an
  unusable ``sentAt`` is left out of the clock-skew correction); the original value is kept
  in ``context.edgeRepairs``;
- ``empty_array``: ``[]`` where an object belongs (PHP's empty array) → ``{}``;
- ``ip_replaced``: a ``context.ip`` that is not an IP address (markup, a SQL fragment, a long
  string) → removed, so the address the edge observed stands in (under the IP policy). Server
  SDKs set their end users' addresses there: those are kept.
- ``consent_string``: ``"true"``/``"false"`` strings in MetaRouter's ``context.consent.optOut`` →
  the booleans they name (``edge.ingest.consent``; one per event).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from edge.ingest.decoding import is_double
from edge.ingest.enrichment import is_ip_address
from edge.ingest.models import EVENT_TYPES, ID_FIELDS

__all__ = ["TIME_FIELDS", "Repair", "repair_event", "repair_ip", "repair_timestamp"]

#: Timestamp fields a client may send.
TIME_FIELDS: Final = ("timestamp", "originalTimestamp", "sentAt")
#: Fields that must be objects when present.
OBJECT_FIELDS: Final = ("properties", "traits", "context", "integrations")
#: Where the original value of a removed field is kept, inside ``context``.
REPAIRS_KEY: Final = "edgeRepairs"
#: Epoch numbers at or above this are milliseconds (10^11 seconds is the year 5138).
_MILLISECONDS_FROM: Final = 10**11
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class Repair:
    """Names of the repairs (the ``repair`` dimension of ``EventsRepaired``)."""

    ID_NUMBER: Final = "id_number"
    TYPE_CASE: Final = "type_case"
    EPOCH_TIME: Final = "epoch_time"
    TIME_DROPPED: Final = "time_dropped"
    EMPTY_ARRAY: Final = "empty_array"
    IP_REPLACED: Final = "ip_replaced"
    CONSENT_STRING: Final = "consent_string"


def repair_event(event: dict[str, Any]) -> list[str]:
    """Repair ``event`` in place; returns the repairs made (empty for a clean event)."""
    done: list[str] = []
    kind = event.get("type")
    if isinstance(kind, str) and kind not in EVENT_TYPES:
        folded = kind.strip().lower()
        if folded in EVENT_TYPES:
            event["type"] = folded
            done.append(Repair.TYPE_CASE)
    for name in (*ID_FIELDS, "messageId"):
        value = event.get(name)
        if (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and math.isfinite(value)
        ):
            event[name] = _id_text(value)
            done.append(Repair.ID_NUMBER)
    for name in OBJECT_FIELDS:
        if event.get(name) == []:
            event[name] = {}
            done.append(Repair.EMPTY_ARRAY)
    if repair_ip(event.get("context")):
        done.append(Repair.IP_REPLACED)
    for name in TIME_FIELDS:
        if name not in event or event[name] is None:
            continue
        value = event[name]
        fixed = repair_timestamp(value)
        if fixed == value:
            continue
        if fixed is None:
            del event[name]
            _keep_original(event, name, value)
            done.append(Repair.TIME_DROPPED)
        else:
            event[name] = fixed
            done.append(Repair.EPOCH_TIME)
    return done


def repair_ip(context: Any) -> bool:
    """Remove a ``context.ip`` that is not an IP address, in place; whether one was removed."""
    if not isinstance(context, dict) or context.get("ip") is None or is_ip_address(context["ip"]):
        return False
    del context["ip"]
    return True


def repair_timestamp(value: Any) -> str | None:
    """An ISO-8601 string as it is, an epoch number (or digit string) as ISO-8601, else None."""
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
        text = value.strip()
        digits = text.partition(".")[0].lstrip("-")
        if len(digits) < 9 or not digits.isdigit() or not text.replace(".", "", 1).lstrip("-").isdigit():
            return None
        try:
            value = float(text)
        except ValueError:
            return None
    if not _is_number(value):
        return None
    try:
        seconds = value / 1000 if abs(value) >= _MILLISECONDS_FROM else value
        moment = _EPOCH + timedelta(seconds=seconds)
    except (OverflowError, ValueError):  # beyond the calendar, infinite or NaN
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _id_text(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _keep_original(event: dict[str, Any], name: str, value: Any) -> None:
    """Keep a removed field's value in ``context.edgeRepairs`` (when ``context`` is an object)."""
    context = event.get("context")
    if context is None:
        context = event["context"] = {}
    if isinstance(context, dict):
        kept = context.get(REPAIRS_KEY)
        value = value if is_double(value) else str(value)  # 1e400 is kept, but as JSON can carry it
        context[REPAIRS_KEY] = {**(kept if isinstance(kept, dict) else {}), name: value}
