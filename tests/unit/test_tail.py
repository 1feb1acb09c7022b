"""``make tail``: finding the functions' log groups, and the compact lines printed from Live Tail."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from edge.ingest.outcomes import REQUEST_OUTCOME
from edge_ops import tail as tailing
from edge_ops.tail import FILTER_PATTERN, format_line, log_group_arns, tail

T = 1_795_827_878_000  # 2026-11-28T01:04:38Z
ARN = "arn:aws:logs:eu-west-1:111122223333:log-group:"


class FakeCloudFormation:
    def __init__(self, physical: dict[str, str]) -> None:
        self.physical = physical

    def describe_stack_resource(self, *, StackName: str, LogicalResourceId: str) -> dict[str, Any]:  # noqa: N803
        assert StackName == "edge"
        return {"StackResourceDetail": {"PhysicalResourceId": self.physical[LogicalResourceId]}}


class FakeLogs:
    def __init__(self, names: list[str], sessions: list[list[dict[str, Any]]] | None = None) -> None:
        self.names = names
        self.sessions = sessions or []
        self.started: list[dict[str, Any]] = []

    def describe_log_groups(self, *, logGroupNamePrefix: str) -> dict[str, Any]:  # noqa: N803
        found = [n for n in self.names if n.startswith(logGroupNamePrefix)]
        return {
            "logGroups": [
                {"logGroupName": n, "arn": f"{ARN}{n}:*", "logGroupArn": f"{ARN}{n}"} for n in found
            ]
        }

    def start_live_tail(self, **kwargs: Any) -> dict[str, Any]:
        self.started.append(kwargs)
        return {"responseStream": iter(self.sessions.pop(0))}


def _update(*lines: dict[str, Any]) -> dict[str, Any]:
    return {
        "sessionUpdate": {"sessionResults": [{"message": json.dumps(line), "timestamp": T} for line in lines]}
    }


REQUEST = {
    "level": "INFO",
    "message": "request outcome",
    "route": "POST /v1/batch",
    "status": 200,
    "accepted": 98,
    "rejected": 2,
    "reasons": {"invalid_event": 1, "invalid_type": 1},
}
FORWARD = {
    "level": "INFO",
    "message": "messages forwarded",
    "messages": 10,
    "failed_messages": 1,
    "events_forwarded": 97,
    "dead_lettered": 2,
    "dead_letter_reasons": {"upstream_rejected": 2},
    "retries": 1,
    "requests": 4,
    "upstream_statuses": {"2xx": 2, "4xx": 1, "5xx": 1},
}


def test_the_log_groups_are_the_stacks_own_found_by_logical_id() -> None:
    names = ["/aws/lambda/edge-ingest", "/aws/lambda/edge-ingest-old", "/aws/lambda/edge-forward"]
    cloudformation = FakeCloudFormation(
        {"IngestLogGroup": "/aws/lambda/edge-ingest", "ForwardLogGroup": "/aws/lambda/edge-forward"}
    )
    assert log_group_arns(cloudformation, FakeLogs(names), "edge") == [
        f"{ARN}/aws/lambda/edge-ingest",
        f"{ARN}/aws/lambda/edge-forward",
    ]


def test_a_missing_log_group_is_said_plainly() -> None:
    cloudformation = FakeCloudFormation({"IngestLogGroup": "/aws/lambda/x-ingest", "ForwardLogGroup": "/y"})
    with pytest.raises(SystemExit, match="/aws/lambda/x-ingest"):
        log_group_arns(cloudformation, FakeLogs([]), "edge")


def test_a_request_outcome_is_one_compact_line() -> None:
    assert format_line(json.dumps(REQUEST), T) == (
        "01:04:38 ingest  200 POST /v1/batch         accepted 98"
        "  rejected 2 (invalid_event 1, invalid_type 1)"
    )
    clean = {**REQUEST, "accepted": 1, "rejected": 0, "reasons": {}, "route": "POST /v1/t"}
    assert format_line(json.dumps(clean), T) == "01:04:38 ingest  200 POST /v1/t             accepted 1"


def test_a_request_outcome_says_what_was_dropped_and_what_consent_the_events_went_on_with() -> None:
    line = {
        **REQUEST,
        "route": "POST /v1/p",
        "accepted": 1,
        "rejected": 0,
        "reasons": {},
        "filtered": {"consent": 2, "gpc": 1},
        "consent": {"from_cookie": 1, "gpc": 1, "opted_out": 1},
    }
    assert format_line(json.dumps(line), T) == (
        "01:04:38 ingest  200 POST /v1/p             accepted 1  dropped 3 (consent 2, gpc 1)"
        "  consent (from_cookie 1, gpc 1, opted_out 1)"
    )
    unreadable = {**line, "filtered": {}, "consent": {"cookie_unreadable": 1}}
    assert format_line(json.dumps(unreadable), T).endswith("accepted 1  consent (cookie_unreadable 1)")


def test_a_forwarder_outcome_is_one_compact_line() -> None:
    assert format_line(json.dumps(FORWARD), T) == (
        "01:04:38 forward 10 messages  forwarded 97  dead-lettered 2 (upstream_rejected 2)"
        "  left for redelivery 1 messages  retries 1  upstream 2xx:2 4xx:1 5xx:1"
    )


@pytest.mark.parametrize("message", ["not json", "[]", json.dumps({"message": "events quarantined"})])
def test_other_lines_print_nothing(message: str) -> None:
    assert format_line(message, T) is None


def test_tail_prints_outcomes_and_starts_a_new_session_when_one_times_out() -> None:
    logs = FakeLogs(
        [],
        sessions=[
            [{"sessionStart": {}}, _update(REQUEST), {"SessionTimeoutException": {"message": "3 hours"}}],
            [_update(FORWARD, {"message": "other"})],
        ],
    )
    out = io.StringIO()
    tail(logs, ["arn:a", "arn:b"], out)
    assert [line.split()[1] for line in out.getvalue().splitlines()] == ["ingest", "forward"]
    assert (
        logs.started
        == [{"logGroupIdentifiers": ["arn:a", "arn:b"], "logEventFilterPattern": FILTER_PATTERN}] * 2
    )


def test_the_filter_selects_the_lines_the_functions_write() -> None:
    assert tailing.REQUEST_OUTCOME == REQUEST_OUTCOME
    assert f'"{REQUEST_OUTCOME}"' in FILTER_PATTERN
    assert '"messages forwarded"' in FILTER_PATTERN


def test_custom_events_are_counted_on_their_route_and_among_those_forwarded() -> None:
    request = {**REQUEST, "route": "POST /v1/custom/event", "accepted": 1, "rejected": 0, "reasons": {}}
    assert format_line(json.dumps(request), T) == "01:04:38 ingest  200 POST /v1/custom/event  accepted 1"
    forward = {
        "message": "messages forwarded",
        "messages": 1,
        "events_forwarded": 3,
        "custom_events_forwarded": 2,
    }
    assert format_line(json.dumps(forward), T) == "01:04:38 forward 1 messages  forwarded 3 (custom 2)"
