"""``Ingestor.accept`` on fakes: what each request queues, quarantines and answers, without AWS."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from edge.core.config import IpPolicy
from edge.core.errors import RequestError, TransientError
from edge.core.observability import metrics
from edge.core.queueing import MAX_MESSAGE_BYTES, PARKING_ROOM, read_events, serialize
from edge.core.secret import EdgeSecret, fingerprint
from edge.ingest.enrichment import UNKNOWN_IP, RequestFacts
from edge.ingest.ingestion import (
    QUARANTINE_EVENT_BYTES,
    QUARANTINE_HEAD_BYTES,
    Ingestor,
    Outcome,
    Rejection,
    quarantinable,
)
from edge.ingest.limits import ENRICHMENT_ALLOWANCE, MAX_BATCH_EVENTS, MAX_EVENT_BYTES, QUEUED_PER_BODY_BYTE
from edge.ingest.privacy import NO_PRIVACY, PrivacyPolicy
from edge.ingest.routes import RouteKind

OPEN = EdgeSecret(writeKey="ILoveData123")
CLOSED = EdgeSecret(sources={"pk_web_7f3a": "ILoveData123", "pk_ios_91bc": "OtherSource"})
WEB, IOS = fingerprint("pk_web_7f3a"), fingerprint("pk_ios_91bc")
AS_WEB = {"authorization": "Basic cGtfd2ViXzdmM2E6"}  # pk_web_7f3a:
RECEIVED = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
RECEIVED_TEXT = "2023-11-14T22:13:20.000Z"
EVENT_TYPES_MESSAGE = "must be one of alias, group, identify, page, screen, track"


def track(message_id: str, **fields: Any) -> dict[str, Any]:
    """A valid track event as a batch item (with its type)."""
    return {"type": "track", "userId": "u-1", "event": "Clicked", "messageId": message_id, **fields}


class Writer:
    """A queue writer that keeps what it was given, or fails as an unreachable queue does."""

    def __init__(self, max_bytes: int = MAX_MESSAGE_BYTES, *, fail: bool = False) -> None:
        self.max_bytes = max_bytes
        self.fail = fail
        self.sent: list[bytes] = []

    def send(self, messages: Iterable[bytes]) -> None:
        if self.fail:
            raise TransientError("The queue could not be reached.")
        self.sent.extend(messages)


@dataclass
class Secrets:
    secret: EdgeSecret

    def get(self) -> EdgeSecret:
        return self.secret


@dataclass
class Rig:
    ingestor: Ingestor
    events: Writer
    quarantine: Writer

    def accept(
        self,
        route: str | RouteKind,
        body: Any,
        *,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        body_bytes: int | None = None,
        user_agent: str | None = None,
    ) -> Outcome:
        """``accept`` as the handler calls it; the body's size is its JSON's unless given."""
        facts = RequestFacts(
            received_at=RECEIVED,
            source_ip="198.51.100.23",
            user_agent=user_agent,
            body_bytes=len(serialize(body)) if body_bytes is None else body_bytes,
        )
        if route is RouteKind.CUSTOM:
            return self.ingestor.accept_custom(body, headers=headers or {}, query=query or {}, facts=facts)
        return self.ingestor.accept(route, body, headers=headers or {}, query=query or {}, facts=facts)

    def queued(self) -> list[tuple[str | None, list[dict[str, Any]]]]:
        """Each events message's source and events, read back as the forwarder reads them."""
        read = (read_events(message.decode()) for message in self.events.sent)
        return [(source, [json.loads(event) for event in events]) for source, events in read]

    def queued_ids(self) -> list[tuple[str | None, list[str]]]:
        return [(source, [event["messageId"] for event in events]) for source, events in self.queued()]

    def quarantined(self) -> list[dict[str, Any]]:
        """Each quarantine message, decoded."""
        return [json.loads(message) for message in self.quarantine.sent]

    def written(self) -> tuple[list[bytes], list[bytes]]:
        return self.events.sent, self.quarantine.sent


#: Every control off, built as the ingest function builds its policy from the settings.
EVERY_CONTROL_OFF = PrivacyPolicy.configure(
    bot_policy="keep",
    gpc_policy="ignore",
    required_consent="",
    consent_when_missing="forward",
    hash_fields="",
)


def rig(
    secret: EdgeSecret = OPEN,
    *,
    privacy: PrivacyPolicy = EVERY_CONTROL_OFF,
    events: Writer | None = None,
    quarantine: Writer | None = None,
    ip_policy: IpPolicy = "keep",
) -> Rig:
    events, quarantine = events or Writer(), quarantine or Writer()
    ingestor = Ingestor(
        events=events,  # type: ignore[arg-type]
        quarantine=quarantine,  # type: ignore[arg-type]
        secrets=Secrets(secret),  # type: ignore[arg-type]
        ip_policy=ip_policy,
        privacy=privacy,
    )
    return Rig(ingestor, events, quarantine)


@pytest.fixture(autouse=True)
def _no_metrics_left_over() -> Iterator[None]:
    """``accept`` adds to the shared Metrics; what it added must not reach a later test's output."""
    yield
    metrics.clear_metrics()


def _refused(call: Any) -> RequestError:
    with pytest.raises(RequestError) as raised:
        call()
    return raised.value


def test_the_policy_with_every_control_off_is_the_default_one():
    assert EVERY_CONTROL_OFF == NO_PRIVACY


# -- single events -----------------------------------------------------------------------------


def test_a_single_event_is_queued_enriched_as_one_version_1_message_with_its_size():
    setup = rig()
    outcome = setup.accept(
        "track",
        {"userId": "u-1", "event": "Clicked", "messageId": "m-1", "writeKey": "pk_any"},
        user_agent="Mozilla/5.0",
    )
    assert (outcome.accepted, outcome.rejected, outcome.filtered) == (1, [], Counter())
    assert outcome.body() == {"success": True}
    expected = {
        "userId": "u-1",
        "event": "Clicked",
        "messageId": "m-1",
        "type": "track",
        "receivedAt": RECEIVED_TEXT,
        "timestamp": RECEIVED_TEXT,
        "context": {"userAgent": "Mozilla/5.0", "ip": "198.51.100.23"},
    }
    [message] = setup.events.sent
    assert json.loads(message) == {
        "v": 1,
        "source": None,
        "events": [expected],
        "sizes": [len(serialize(expected))],
    }
    assert setup.queued() == [(None, [expected])]
    assert setup.quarantine.sent == []


@pytest.mark.parametrize(
    ("body", "status", "code", "errors"),
    [
        (
            {"userId": "u-1", "messageId": "m-1"},
            400,
            "invalid_event",
            [{"field": "event", "message": "is required"}],
        ),
        (
            {"type": "identify", "userId": "u-1", "event": "Clicked", "messageId": "m-1"},
            400,
            "type_mismatch",
            [{"field": "type", "message": "is 'identify' but this route takes 'track' events"}],
        ),
        (
            {"userId": "u-1", "event": "Clicked", "messageId": "m-1", "properties": {"n": float("inf")}},
            400,
            "invalid_json",
            [{"field": "properties.n", "message": "is a number outside the range of a double"}],
        ),
        (
            {
                "userId": "u-1",
                "event": "Clicked",
                "messageId": "m-1",
                "properties": {"p": "x" * MAX_EVENT_BYTES},
            },
            413,
            "event_too_large",
            [{"field": "", "message": "exceeds 32 KB"}],
        ),
    ],
    ids=["invalid", "type_mismatch", "not_strict_json", "too_large"],
)
def test_a_refused_single_event_is_quarantined_then_answered_with_its_status(body, status, code, errors):
    setup = rig()
    error = _refused(lambda: setup.accept("track", body))
    assert (error.status, error.code, error.details) == (status, code, errors)
    assert setup.events.sent == []
    [message] = setup.quarantined()
    assert [(item["index"], item["reason"], item["errors"]) for item in message["rejected"]] == [
        (0, code, errors)
    ]


def test_a_single_event_nested_past_the_limit_is_a_400_too_deep():
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(70):
        node["a"] = {}
        node = node["a"]
    setup = rig()
    error = _refused(lambda: setup.accept("track", {"userId": "u-1", "event": "E", "properties": deep}))
    assert (error.status, error.code) == (400, "too_deep")
    assert [item["reason"] for item in setup.quarantined()[0]["rejected"]] == ["too_deep"]


@pytest.mark.parametrize("body", [[{"userId": "u-1"}], "an event", None])
def test_a_single_event_body_that_is_not_an_object_is_a_400_and_quarantines_nothing(body):
    setup = rig()
    error = _refused(lambda: setup.accept("track", body))
    assert (error.status, error.code) == (400, "invalid_json")
    assert setup.written() == ([], [])


# -- batches -----------------------------------------------------------------------------------


def test_a_batch_queues_its_valid_items_in_order_and_answers_the_rejected_by_index():
    setup = rig()
    body = {
        "batch": [
            track("m-0"),
            {"type": "track", "userId": "u-1", "messageId": "m-1"},
            "not an object",
            {**track("m-3"), "type": "launch"},
            track("m-4"),
        ]
    }
    outcome = setup.accept(RouteKind.BATCH, body)
    assert outcome.accepted == 2
    assert outcome.body() == {
        "success": True,
        "rejected": [
            {"index": 1, "messageId": "m-1", "errors": [{"field": "event", "message": "is required"}]},
            {"index": 2, "messageId": None, "errors": [{"field": "", "message": "must be an object"}]},
            {"index": 3, "messageId": "m-3", "errors": [{"field": "type", "message": EVENT_TYPES_MESSAGE}]},
        ],
        "rejectedCount": 3,
    }
    assert setup.queued_ids() == [(None, ["m-0", "m-4"])]


def test_the_quarantine_receives_each_rejected_item_as_sent_with_its_reason_and_route():
    setup = rig()
    invalid = {"type": "track", "userId": "u-1", "messageId": "m-1", "writeKey": "pk_any"}
    setup.accept(RouteKind.BATCH, {"batch": [track("m-0"), invalid, 42, {**track("m-3"), "type": None}]})
    assert setup.quarantined() == [
        {
            "v": 1,
            "source": None,
            "kind": "quarantine",
            "rejected": [
                {
                    "index": 1,
                    "reason": "invalid_event",
                    "errors": [{"field": "event", "message": "is required"}],
                    "route": "batch",
                    "receivedAt": RECEIVED_TEXT,
                    "event": {"type": "track", "userId": "u-1", "messageId": "m-1"},
                },
                {
                    "index": 2,
                    "reason": "not_an_object",
                    "errors": [{"field": "", "message": "must be an object"}],
                    "route": "batch",
                    "receivedAt": RECEIVED_TEXT,
                    "event": 42,
                },
                {
                    "index": 3,
                    "reason": "invalid_type",
                    "errors": [{"field": "type", "message": "is required"}],
                    "route": "batch",
                    "receivedAt": RECEIVED_TEXT,
                    "event": {**track("m-3"), "type": None},
                },
            ],
        }
    ]


def test_a_batch_item_too_large_even_for_the_quarantine_is_stored_as_its_head():
    setup = rig()
    huge = track("m-huge", properties={"p": "x" * (3 * MAX_EVENT_BYTES)})
    setup.accept(RouteKind.BATCH, {"batch": [huge, track("m-1")]})
    [item] = setup.quarantined()[0]["rejected"]
    data = serialize(huge)
    assert (item["reason"], item["event"]) == (
        "event_too_large",
        {"truncated": True, "bytes": len(data), "messageId": "m-huge", "head": data[:4096].decode()},
    )
    assert setup.queued_ids() == [(None, ["m-1"])]


def test_nothing_is_queued_when_the_quarantine_cannot_be_written():
    setup = rig(quarantine=Writer(fail=True))
    body = {"batch": [track("m-0"), {"type": "track", "userId": "u-1"}]}
    with pytest.raises(TransientError):
        setup.accept(RouteKind.BATCH, body)
    assert setup.events.sent == []


def test_a_batch_whose_every_item_is_invalid_is_a_400_detailing_each_and_quarantining_all():
    setup = rig()
    body = {
        "batch": [{"type": "track", "userId": "u-1", "messageId": "m-0"}, {"type": "alias", "userId": "u"}]
    }
    error = _refused(lambda: setup.accept(RouteKind.BATCH, body))
    assert (error.status, error.code, error.message) == (
        400,
        "invalid_batch",
        "Every event in the batch is invalid.",
    )
    assert error.details == [
        {"index": 0, "messageId": "m-0", "errors": [{"field": "event", "message": "is required"}]},
        {"index": 1, "messageId": None, "errors": [{"field": "previousId", "message": "is required"}]},
    ]
    assert [item["index"] for item in setup.quarantined()[0]["rejected"]] == [0, 1]
    assert setup.events.sent == []


def test_an_empty_batch_is_answered_as_accepted_and_writes_nothing():
    setup = rig()
    outcome = setup.accept(RouteKind.BATCH, {"batch": []})
    assert (outcome.accepted, outcome.body()) == (0, {"success": True})
    assert setup.written() == ([], [])


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ([track("m-0")], 400, "invalid_json"),
        ({"batch": {"0": track("m-0")}}, 400, "invalid_batch"),
        ({"batch": [track("m-0")], "context": "web"}, 400, "invalid_batch"),
        ({"batch": [track("m-0")], "integrations": [1]}, 400, "invalid_batch"),
        ({"batch": [track(f"m-{i}") for i in range(MAX_BATCH_EVENTS + 1)]}, 413, "batch_too_large"),
    ],
    ids=[
        "not_an_object",
        "batch_not_a_list",
        "context_not_an_object",
        "integrations_not_an_object",
        "too_many",
    ],
)
def test_a_batch_envelope_that_cannot_be_read_is_refused_whole(body, status, code):
    setup = rig()
    error = _refused(lambda: setup.accept(RouteKind.BATCH, body))
    assert (error.status, error.code) == (status, code)
    assert setup.written() == ([], [])


def test_an_item_s_own_context_and_integrations_win_over_the_batch_s():
    setup = rig()
    body = {
        "batch": [track("m-0", context={"locale": "de"}, integrations={"Mixpanel": True}), track("m-1")],
        "context": {"locale": "en", "library": {"name": "analytics-python", "version": "2.3.0"}},
        "integrations": {"All": True, "Mixpanel": False},
    }
    setup.accept(RouteKind.BATCH, body)
    [(_, [first, second])] = setup.queued()
    library = {"name": "analytics-python", "version": "2.3.0"}
    assert first["context"] == {"locale": "de", "library": library, "ip": "198.51.100.23"}
    assert second["context"] == {"locale": "en", "library": library, "ip": "198.51.100.23"}
    assert first["integrations"] == {"All": True, "Mixpanel": True}
    assert second["integrations"] == {"All": True, "Mixpanel": False}


def test_the_events_writer_packs_messages_within_its_size_less_the_parking_room():
    events = Writer(max_bytes=PARKING_ROOM + 1200)
    setup = rig(events=events)
    setup.accept(RouteKind.BATCH, {"batch": [track(f"m-{i}") for i in range(12)]})
    assert len(events.sent) > 1
    assert max(len(message) for message in events.sent) <= 1200
    assert [i for _, ids in setup.queued_ids() for i in ids] == [f"m-{i}" for i in range(12)]
    for message in events.sent:
        decoded = json.loads(message)
        assert decoded["sizes"] == [len(serialize(event)) for event in decoded["events"]]


# -- clocks: the batch's sentAt never replaces an item's own ------------------------------------


@pytest.mark.parametrize(
    ("own_sent_at", "sent_at", "timestamp"),
    [
        # Sent 2 s after it happened by its own clock: it happened 2 s before it was received.
        ("2023-11-14T22:13:12.000Z", "2023-11-14T22:13:12.000Z", "2023-11-14T22:13:18.000Z"),
        (1_699_999_992_000, "2023-11-14T22:13:12.000Z", "2023-11-14T22:13:18.000Z"),  # epoch ms, repaired
        # Without a usable one of its own, the item is corrected with the batch's (sent 5 s after).
        (None, "2023-11-14T22:13:15.000Z", "2023-11-14T22:13:15.000Z"),
        ("n/a", "2023-11-14T22:13:15.000Z", "2023-11-14T22:13:15.000Z"),
    ],
    ids=["own", "own_epoch", "none", "unusable"],
)
def test_an_item_s_clock_is_corrected_with_its_own_sent_at_before_the_batch_s(
    own_sent_at, sent_at, timestamp
):
    setup = rig()
    item = track("m-0", timestamp="2023-11-14T22:13:10.000Z")
    if own_sent_at is not None:
        item["sentAt"] = own_sent_at
    setup.accept(RouteKind.BATCH, {"batch": [item], "sentAt": "2023-11-14T22:13:15.000Z"})
    [(_, [event])] = setup.queued()
    assert (event["originalTimestamp"], event["sentAt"], event["timestamp"], event["receivedAt"]) == (
        "2023-11-14T22:13:10.000Z",
        sent_at,
        timestamp,
        RECEIVED_TEXT,
    )


def test_the_batch_s_sent_at_corrects_each_item_by_its_own_timestamp():
    setup = rig()
    body = {
        "batch": [
            track("m-0", timestamp="2023-11-14T22:13:10.000Z"),
            track("m-1", timestamp="2023-11-14T22:13:14.000Z", sentAt="2023-11-14T22:13:14.500Z"),
            track("m-2"),
        ],
        "sentAt": 1_699_999_995,  # epoch seconds: 22:13:15
    }
    setup.accept(RouteKind.BATCH, body)
    [(_, events)] = setup.queued()
    assert [(e["timestamp"], e.get("sentAt")) for e in events] == [
        ("2023-11-14T22:13:15.000Z", "2023-11-14T22:13:15.000Z"),
        ("2023-11-14T22:13:19.500Z", "2023-11-14T22:13:14.500Z"),
        (RECEIVED_TEXT, "2023-11-14T22:13:15.000Z"),
    ]


# -- keys and sources --------------------------------------------------------------------------


def test_open_mode_queues_every_event_without_a_source_whatever_keys_it_presents():
    setup = rig(OPEN)
    body = {"batch": [track("m-0", writeKey="pk_a"), track("m-1", writeKey="pk_b"), track("m-2")]}
    outcome = setup.accept(RouteKind.BATCH, body, headers=AS_WEB)
    assert outcome.body() == {"success": True}
    assert setup.queued_ids() == [(None, ["m-0", "m-1", "m-2"])]
    assert setup.quarantine.sent == []


def test_open_mode_accepts_a_single_event_whose_key_differs_from_basic_auth_s():
    setup = rig(OPEN)
    outcome = setup.accept("track", track("m-0", writeKey="pk_other"), headers=AS_WEB)
    assert outcome.accepted == 1
    assert setup.queued_ids() == [(None, ["m-0"])]


@pytest.mark.parametrize(
    ("headers", "query", "body_key"),
    [(AS_WEB, {}, None), ({}, {"writeKey": "pk_web_7f3a"}, None), ({}, {}, "pk_web_7f3a")],
    ids=["basic", "query", "body"],
)
def test_closed_mode_queues_under_the_fingerprint_of_the_request_s_key(headers, query, body_key):
    setup = rig(CLOSED)
    body = track("m-0") if body_key is None else track("m-0", writeKey=body_key)
    setup.accept("track", body, headers=headers, query=query)
    assert setup.queued_ids() == [(WEB, ["m-0"])]
    assert b"pk_web_7f3a" not in b"".join(setup.events.sent)


@pytest.mark.parametrize(
    "headers", [{}, {"authorization": "Basic cGtfc3RvbGVuOg=="}], ids=["none", "unknown"]
)
def test_closed_mode_refuses_a_request_without_a_listed_key_before_writing_anything(headers):
    setup = rig(CLOSED)
    error = _refused(lambda: setup.accept(RouteKind.BATCH, {"batch": [track("m-0"), 1]}, headers=headers))
    assert (error.status, error.code) == (401, "invalid_write_key")
    assert setup.written() == ([], [])


def test_a_batch_item_with_another_listed_key_goes_to_that_key_s_source_in_its_own_message():
    setup = rig(CLOSED)
    body = {
        "batch": [
            track("web-0"),
            track("ios-1", writeKey="pk_ios_91bc"),
            track("web-2", writeKey="pk_web_7f3a"),
            track("web-3", writeKey=""),
        ]
    }
    setup.accept(RouteKind.BATCH, body, headers=AS_WEB)
    assert setup.queued_ids() == [(WEB, ["web-0", "web-2", "web-3"]), (IOS, ["ios-1"])]


def test_without_a_request_key_the_first_item_s_key_is_the_batch_s():
    setup = rig(CLOSED)
    setup.accept(RouteKind.BATCH, {"batch": [track("m-0"), track("m-1", writeKey="pk_ios_91bc")]})
    assert setup.queued_ids() == [(IOS, ["m-0", "m-1"])]


def test_a_batch_item_with_an_unlisted_key_is_rejected_and_quarantined_under_the_request_s_source():
    setup = rig(CLOSED)
    outcome = setup.accept(
        RouteKind.BATCH, {"batch": [track("m-0"), track("m-1", writeKey="pk_stolen")]}, headers=AS_WEB
    )
    assert outcome.body() == {
        "success": True,
        "rejected": [
            {
                "index": 1,
                "messageId": "m-1",
                "errors": [{"field": "writeKey", "message": "is not a valid write key"}],
            }
        ],
        "rejectedCount": 1,
    }
    assert setup.queued_ids() == [(WEB, ["m-0"])]
    [message] = setup.quarantined()
    assert (message["source"], message["rejected"][0]["reason"]) == (WEB, "invalid_write_key")
    assert message["rejected"][0]["event"] == track("m-1")
    assert b"pk_stolen" not in b"".join(setup.quarantine.sent)


def test_a_single_event_with_an_unlisted_key_of_its_own_is_a_401():
    setup = rig(CLOSED)
    error = _refused(lambda: setup.accept("track", track("m-0", writeKey="pk_stolen"), headers=AS_WEB))
    assert (error.status, error.code, error.details) == (
        401,
        "invalid_write_key",
        [{"field": "writeKey", "message": "is not a valid write key"}],
    )
    assert setup.events.sent == []


# -- limits as forwarded -----------------------------------------------------------------------


def _padded(size: int, message_id: str = "m-pad") -> dict[str, Any]:
    """A track item whose forwarded form (enriched by ``Rig.accept``, no batch) is ``size`` bytes."""
    item = track(message_id, properties={"p": ""})
    probe = rig()
    probe.accept(RouteKind.BATCH, {"batch": [item]})
    [(_, [forwarded])] = probe.queued()
    item["properties"]["p"] = "x" * (size - len(serialize(forwarded)))
    return item


def test_an_event_of_exactly_32_kb_as_forwarded_is_queued_and_one_byte_more_is_rejected():
    setup = rig()
    fits, too_large = _padded(MAX_EVENT_BYTES, "m-fits"), _padded(MAX_EVENT_BYTES + 1, "m-over")
    outcome = setup.accept(RouteKind.BATCH, {"batch": [fits, too_large]})
    assert [json.loads(message)["sizes"] for message in setup.events.sent] == [[MAX_EVENT_BYTES]]
    assert outcome.body()["rejected"] == [
        {"index": 1, "messageId": "m-over", "errors": [{"field": "", "message": "exceeds 32 KB"}]}
    ]


@pytest.mark.parametrize(
    "envelope",
    [{"context": {"pad": "y" * 100}}, {"integrations": {"pad": "y" * 100}}],
    ids=["context", "integrations"],
)
def test_an_item_the_batch_s_fields_push_over_32_kb_is_rejected_naming_the_merge(envelope):
    setup = rig()
    item = _padded(MAX_EVENT_BYTES - 50, "m-big")
    outcome = setup.accept(RouteKind.BATCH, {"batch": [item, track("m-small")], **envelope})
    assert outcome.body()["rejected"] == [
        {
            "index": 0,
            "messageId": "m-big",
            "errors": [
                {
                    "field": "context",
                    "message": "exceeds 32 KB once the batch's context and integrations are merged in",
                }
            ],
        }
    ]
    assert setup.queued_ids() == [(None, ["m-small"])]
    assert setup.quarantined()[0]["rejected"][0]["event"] == item  # without what was merged in


def test_a_request_queuing_exactly_its_budget_is_accepted_and_one_byte_over_is_a_413():
    # The budget is QUEUED_PER_BODY_BYTE per body byte plus ENRICHMENT_ALLOWANCE per event.
    size = QUEUED_PER_BODY_BYTE * 1000 + ENRICHMENT_ALLOWANCE
    body = {"batch": [_padded(size)]}
    assert rig().accept(RouteKind.BATCH, body, body_bytes=1000).accepted == 1
    setup = rig()
    error = _refused(lambda: setup.accept(RouteKind.BATCH, {"batch": [_padded(size + 1)]}, body_bytes=1000))
    assert (error.status, error.code) == (413, "payload_too_large")


def test_a_batch_context_multiplied_past_the_budget_is_a_413_with_nothing_queued_or_quarantined():
    setup = rig()
    body = {
        "batch": [{"type": "track"}, *(track(f"m-{i}") for i in range(10))],
        "context": {"pad": "x" * 20_000},
    }
    error = _refused(lambda: setup.accept(RouteKind.BATCH, body))
    assert (error.status, error.code) == (413, "payload_too_large")
    assert error.message == (
        "With the batch's context and integrations merged into each event, the events would total "
        "more than 4 times the request body plus 1024 bytes per event."
    )
    assert setup.written() == ([], [])


def test_events_too_large_to_queue_still_count_against_the_budget():
    setup = rig()
    body = {"batch": [track(f"m-{i}") for i in range(5)], "context": {"pad": "x" * MAX_EVENT_BYTES}}
    # Each item alone would be rejected for its size; the five together cost more than the body may.
    error = _refused(lambda: setup.accept(RouteKind.BATCH, body))
    assert (error.status, error.code) == (413, "payload_too_large")
    assert setup.written() == ([], [])


# -- privacy -----------------------------------------------------------------------------------


def test_filtered_items_are_answered_as_accepted_even_when_invalid_and_never_quarantined():
    setup = rig(privacy=PrivacyPolicy(gpc_policy="drop"))
    body = {"batch": [track("m-0"), {"type": "track"}]}
    outcome = setup.accept(RouteKind.BATCH, body, headers={"sec-gpc": "1"})
    assert (outcome.accepted, outcome.filtered, outcome.body()) == (0, Counter(gpc=2), {"success": True})
    assert setup.written() == ([], [])


# -- the answer --------------------------------------------------------------------------------


def test_a_rejection_answers_its_index_message_id_and_errors_never_its_event_or_reason():
    rejection = Rejection(
        3, "invalid_event", [{"field": "event", "message": "is required"}], {"userId": "u"}, "m-3"
    )
    assert rejection.public() == {
        "index": 3,
        "messageId": "m-3",
        "errors": [{"field": "event", "message": "is required"}],
    }


def test_an_outcome_without_rejections_answers_success_alone():
    assert Outcome(accepted=5, filtered=Counter(bot=2)).body() == {"success": True}


def test_a_message_id_too_long_to_echo_is_answered_as_none():
    setup = rig()
    body = {"batch": [track("m-0"), {"type": "track", "userId": "u", "messageId": "m" * 101}]}
    outcome = setup.accept(RouteKind.BATCH, body)
    assert [r.public()["messageId"] for r in outcome.rejected] == [None]


def test_a_rejected_event_of_exactly_the_quarantine_size_is_stored_whole():
    event = {"p": "x" * (QUARANTINE_EVENT_BYTES - len(b'{"p":""}'))}
    assert len(serialize(event)) == QUARANTINE_EVENT_BYTES
    assert quarantinable(event, "m-1") == event


def test_a_larger_one_is_stored_as_its_head_cut_between_characters():
    # Two-byte characters after a 7-byte prefix: the head's last byte would split one of them.
    event = {"pp": "é" * QUARANTINE_EVENT_BYTES}
    stored = quarantinable(event, "m-1")
    assert stored == {
        "truncated": True,
        "bytes": len(serialize(event)),
        "messageId": "m-1",
        "head": '{"pp":"' + "é" * ((QUARANTINE_HEAD_BYTES - 7) // 2),
    }


# ---------------------------------------------------------------- custom events


def custom(**metadata: Any) -> dict[str, Any]:
    """A webhook-like body with its metadata in ``_metarouter``."""
    return {"order": {"id": "o-1", "total": 12.5}, "_metarouter": {"eventName": "order_paid", **metadata}}


def test_a_custom_event_is_queued_wrapped_with_its_metadata_filled_in_and_no_write_key() -> None:
    setup = rig(CLOSED)
    body = {**custom(writeKey="pk_web_7f3a", userID="u-1"), "writeKey": "pk_web_7f3a"}
    outcome = setup.accept(RouteKind.CUSTOM, body, user_agent="curl/8")
    assert outcome.accepted == 1
    [(source, [event])] = setup.queued()
    assert source == WEB
    event_id = event["body"]["_metarouter"]["eventID"]
    assert event == {
        "type": "custom",
        "messageId": event_id,
        "receivedAt": RECEIVED_TEXT,
        "body": {
            "order": {"id": "o-1", "total": 12.5},
            "_metarouter": {
                "eventName": "order_paid",
                "userID": "u-1",
                "eventID": event_id,
                "timestamp": RECEIVED_TEXT,
                "ip": "198.51.100.23",
            },
        },
    }
    assert str(uuid.UUID(event_id, version=4)) == event_id
    assert b"pk_web_7f3a" not in b"".join(setup.events.sent)
    assert b"ILoveData123" not in b"".join(setup.events.sent)


def test_a_custom_event_s_key_comes_from_basic_auth_first_and_is_checked_in_closed_mode() -> None:
    setup = rig(CLOSED)
    setup.accept(
        RouteKind.CUSTOM, custom(writeKey="unknown"), headers={"authorization": "Basic cGtfaW9zXzkxYmM6"}
    )
    assert setup.queued()[0][0] == IOS
    refused = _refused(lambda: setup.accept(RouteKind.CUSTOM, custom(writeKey="unknown")))
    assert (refused.status, refused.code) == (401, "invalid_write_key")
    refused = _refused(lambda: setup.accept(RouteKind.CUSTOM, custom()))
    assert refused.status == 401
    assert len(setup.events.sent) == 1


def test_a_custom_event_s_key_may_come_in_the_query_or_the_header() -> None:
    setup = rig(CLOSED)
    setup.accept(RouteKind.CUSTOM, {"id": 1}, query={"writeKey": "pk_web_7f3a", "eventName": "hook"})
    setup.accept(
        RouteKind.CUSTOM,
        {"id": 2},
        headers={"x-event-metadata": '{"writeKey":"pk_ios_91bc","eventName":"x"}'},
    )
    assert [source for source, _ in setup.queued()] == [WEB, IOS]


def test_given_event_id_timestamp_and_ip_are_kept_and_the_event_id_is_the_message_id() -> None:
    setup = rig()
    setup.accept(RouteKind.CUSTOM, custom(eventID="e-1", timestamp="2020-01-01T00:00:00Z", ip="203.0.113.9"))
    [(_, [event])] = setup.queued()
    assert event["messageId"] == "e-1"
    assert event["body"]["_metarouter"] == {
        "eventName": "order_paid",
        "eventID": "e-1",
        "timestamp": "2020-01-01T00:00:00Z",
        "ip": "203.0.113.9",
    }


def test_a_jsonpath_event_id_is_forwarded_but_the_delivery_key_is_the_edge_s_own() -> None:
    setup = rig()
    setup.accept(RouteKind.CUSTOM, custom(eventID="$.order.id"))
    setup.accept(RouteKind.CUSTOM, custom(eventID="$.order.id"))
    events = [event for _, batch in setup.queued() for event in batch]
    assert [e["body"]["_metarouter"]["eventID"] for e in events] == ["$.order.id", "$.order.id"]
    assert len({e["messageId"] for e in events}) == 2


@pytest.mark.parametrize(
    ("policy", "given", "expected"),
    [
        ("keep", None, "198.51.100.23"),
        ("anonymize", None, "198.51.100.0"),
        ("drop", None, UNKNOWN_IP),
        ("drop", "203.0.113.9", UNKNOWN_IP),
        ("anonymize", "203.0.113.9", "203.0.113.0"),
        ("keep", "$.client.ip", "$.client.ip"),
        ("anonymize", "$.client.ip", UNKNOWN_IP),
    ],
)
def test_a_custom_event_s_ip_follows_the_ip_policy_and_is_never_left_absent(
    policy: IpPolicy, given: str | None, expected: str
) -> None:
    setup = rig(ip_policy=policy)
    setup.accept(RouteKind.CUSTOM, custom(**({"ip": given} if given else {})))
    assert setup.queued()[0][1][0]["body"]["_metarouter"]["ip"] == expected


def test_a_custom_event_from_a_gpc_request_gets_an_anonymized_ip_or_is_dropped() -> None:
    setup = rig(privacy=PrivacyPolicy(gpc_policy="anonymize"))
    setup.accept(RouteKind.CUSTOM, custom(), headers={"sec-gpc": "1"})
    assert setup.queued()[0][1][0]["body"]["_metarouter"]["ip"] == "198.51.100.0"
    setup = rig(privacy=PrivacyPolicy(gpc_policy="drop"))
    outcome = setup.accept(RouteKind.CUSTOM, custom(), headers={"sec-gpc": "1"})
    assert (outcome.accepted, outcome.filtered) == (0, Counter({"gpc": 1}))
    assert setup.written() == ([], [])


def test_a_bot_s_custom_event_is_flagged_in_its_metadata_and_its_own_fields_stay_unchanged() -> None:
    crawler = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    setup = rig(
        privacy=PrivacyPolicy.configure(
            bot_policy="flag",
            gpc_policy="ignore",
            required_consent="",
            consent_when_missing="forward",
            hash_fields="",
        )
    )
    setup.accept(RouteKind.CUSTOM, custom(), user_agent=crawler, headers={"user-agent": crawler})
    event = setup.queued()[0][1][0]["body"]
    assert event["_metarouter"]["isBot"] is True
    assert "context" not in event


def test_a_custom_event_denying_a_required_consent_category_is_not_forwarded() -> None:
    setup = rig(
        privacy=PrivacyPolicy.configure(
            bot_policy="keep",
            gpc_policy="ignore",
            required_consent="ads",
            consent_when_missing="forward",
            hash_fields="",
        )
    )
    body = {**custom(), "context": {"consent": {"categoryPreferences": {"ads": False}}}}
    outcome = setup.accept(RouteKind.CUSTOM, body)
    assert outcome.filtered == Counter({"consent": 1})
    assert setup.written() == ([], [])


def test_a_custom_event_too_large_once_filled_in_is_refused_413_and_quarantined_without_its_key() -> None:
    setup = rig()
    body = custom(writeKey="pk_web_7f3a")
    body["blob"] = "x" * (MAX_EVENT_BYTES - len(serialize(body)) - 20)
    refused = _refused(lambda: setup.accept(RouteKind.CUSTOM, body))
    assert (refused.status, refused.code) == (413, "event_too_large")
    [message] = setup.quarantined()
    assert message["rejected"][0]["route"] == "custom"
    assert "pk_web_7f3a" not in json.dumps(message)
    assert setup.events.sent == []


def test_a_custom_event_nested_too_deep_or_with_an_infinite_number_is_refused_400() -> None:
    setup = rig()
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(70):
        node["a"] = {}
        node = node["a"]
    refused = _refused(lambda: setup.accept(RouteKind.CUSTOM, {**custom(), "deep": deep}))
    assert (refused.status, refused.code) == (400, "too_deep")
    assert refused.details[0]["field"].startswith("deep.a")
    refused = _refused(lambda: setup.accept(RouteKind.CUSTOM, {**custom(), "n": float("inf")}))
    assert (refused.status, refused.code, refused.details[0]["field"]) == (400, "invalid_json", "n")


def test_a_custom_event_s_header_and_query_count_toward_what_it_may_queue() -> None:
    setup = rig()
    header = serialize({"eventName": "x", "note": "y" * 4000}).decode()
    outcome = setup.accept(RouteKind.CUSTOM, {}, headers={"x-event-metadata": header}, body_bytes=2)
    assert outcome.accepted == 1
