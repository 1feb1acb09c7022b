"""make replay on fakes: the window and the filters, the messages it writes, pacing, resuming an
interrupted run, dry runs, and the command line's answers to a bad or empty window."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edge.core.archive import MAX_MEMBER_BYTES, Partition, gzip_lines, object_key
from edge.core.queueing import MAX_MESSAGE_BYTES, REPLAY, read_message
from edge_ops import replay
from edge_ops.replay import Filters, Pacer, Replayer, StateFile, Target, parse_time, plan

T9 = datetime(2026, 12, 7, 9, tzinfo=UTC)


def event(n: int, at: str, kind: str = "track", name: str = "Clicked", **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event": name, "messageId": f"m-{n}", "receivedAt": at, **fields}


class FakeS3:
    """Objects in memory, listed as S3 lists them (sorted, by prefix, common prefixes by delimiter)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.gets = 0

    def put(self, source: str, hour: datetime, events: list[dict[str, Any]], writer: str = "w") -> str:
        partition = Partition(source, f"{hour:%Y-%m-%d}", f"{hour:%H}")
        key = object_key(partition, hour, writer, len(self.objects))
        self.objects[key] = gzip_lines([json.dumps(e).encode() for e in events])
        return key

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        self.gets += 1
        return {"Body": io.BytesIO(self.objects[Key])}

    def get_paginator(self, name: str) -> FakeS3:
        assert name == "list_objects_v2"
        return self

    def paginate(self, *, Bucket: str, Prefix: str, Delimiter: str | None = None) -> list[dict[str, Any]]:  # noqa: N803
        keys = sorted(k for k in self.objects if k.startswith(Prefix))
        if Delimiter is None:
            return [{"Contents": [{"Key": k} for k in keys]}]
        prefixes = sorted({Prefix + k[len(Prefix) :].split(Delimiter)[0] + Delimiter for k in keys})
        return [{"CommonPrefixes": [{"Prefix": p} for p in prefixes]}]


class FakeSqs:
    def __init__(self, fail_after: int | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail_after = fail_after

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url="https://sqs.example")
        self.calls.append([entry["MessageBody"] for entry in Entries])
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries]}

    def ids(self) -> list[str]:
        return [
            json.loads(e)["messageId"] for call in self.calls for body in call for e in read_message(body)[1]
        ]


def _target(s3: FakeS3, sqs: FakeSqs) -> Target:
    return Target("test", s3, "bucket", sqs, "https://sqs.example/events", None, False)


def _replay(
    s3: FakeS3, sqs: FakeSqs, filters: Filters, tmp_path: Path | None = None, **kw: Any
) -> replay.Progress:
    state = StateFile.of(tmp_path, "test", filters, REPLAY) if tmp_path else None
    pacer = kw.pop("pacer", Pacer(10**9))
    replayer = Replayer(_target(s3, sqs), filters, kind=REPLAY, pacer=pacer, state=state)
    return replayer.run(plan(s3, "bucket", filters), dry_run=kw.pop("dry_run", False))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-07", T9.replace(hour=0)),
        ("2026-12-07T09:00", T9),
        ("2026-12-07T09:00:00Z", T9),
        ("2026-12-07T09:00:00.000Z", T9),
        ("2026-12-07T10:00:00+01:00", T9),
        ("2026-12-07 09:00", T9),
    ],
)
def test_a_window_s_bounds_are_iso_8601_dates_or_times_in_utc(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "07/12/2026", "", "2026-12-07T25:00"])
def test_a_malformed_bound_is_refused_naming_it(text):
    with pytest.raises(ValueError, match=r"FROM is not an ISO-8601 date or time"):
        parse_time(text, "FROM")


def test_the_window_selects_by_received_at_half_open_and_by_type_and_event():
    window = Filters(T9, T9.replace(hour=10))
    assert window.selects(event(1, "2026-12-07T09:00:00.000Z"))
    assert window.selects(event(1, "2026-12-07T09:59:59.999Z"))
    assert not window.selects(event(1, "2026-12-07T10:00:00.000Z"))
    assert not window.selects(event(1, "2026-12-07T08:59:59.999Z"))
    assert not window.selects({"type": "track"})  # no receivedAt
    only = Filters(T9, T9.replace(hour=10), type="track", event="Order Completed")
    assert only.selects(event(1, "2026-12-07T09:30:00.000Z", name="Order Completed"))
    assert not only.selects(event(1, "2026-12-07T09:30:00.000Z", name="Clicked"))
    assert not only.selects(event(1, "2026-12-07T09:30:00.000Z", kind="page", name="Order Completed"))


def test_the_plan_reads_only_the_hours_and_sources_the_window_covers():
    s3 = FakeS3()
    s3.put("web", T9.replace(hour=8), [event(0, "2026-12-07T08:59:00.000Z")])
    web = s3.put("web", T9, [event(1, "2026-12-07T09:10:00.000Z")])
    ios = s3.put("ios", T9, [event(2, "2026-12-07T09:20:00.000Z")])
    s3.put("web", T9.replace(hour=10), [event(3, "2026-12-07T10:00:00.000Z")])
    window = Filters(T9.replace(minute=30), T9.replace(hour=10))
    assert [o.key for o in plan(s3, "bucket", window)] == [ios, web]
    assert [o.key for o in plan(s3, "bucket", Filters(T9, T9.replace(hour=10), source="web"))] == [web]


def test_events_go_out_as_replay_messages_of_their_source_exactly_as_archived():
    s3, sqs = FakeS3(), FakeSqs()
    archived = [event(n, f"2026-12-07T09:{n:02d}:00.000Z", properties={"price": 1.50}) for n in range(5)]
    s3.put("web", T9, archived)
    progress = _replay(s3, sqs, Filters(T9.replace(minute=1), T9.replace(minute=4)))
    [[body]] = sqs.calls
    source, events, kind = read_message(body)
    assert (source, kind) == ("web", REPLAY)
    assert [json.loads(e) for e in events] == archived[1:4]
    assert events[0] == json.dumps(archived[1]).encode()  # the very bytes
    assert progress.sent == {("2026-12-07", "track"): 3}


def test_a_large_object_is_sent_in_calls_sqs_takes():
    s3, sqs = FakeS3(), FakeSqs()
    padding = "x" * 20_000
    s3.put("web", T9, [event(n, "2026-12-07T09:00:00.000Z", pad=padding) for n in range(200)])
    _replay(s3, sqs, Filters(T9, T9.replace(hour=10)))
    assert sqs.ids() == [f"m-{n}" for n in range(200)]
    for call in sqs.calls:
        assert len(call) <= 10
        assert sum(len(body.encode()) for body in call) <= MAX_MESSAGE_BYTES
    assert len(sqs.calls) > 1
    assert MAX_MEMBER_BYTES < MAX_MESSAGE_BYTES


def test_an_interrupted_replay_run_again_sends_only_what_it_had_not(tmp_path):
    s3 = FakeS3()
    padding = "x" * 20_000
    for hour in (9, 10):
        s3.put(
            "web",
            T9.replace(hour=hour),
            [event(hour * 1000 + n, f"2026-12-07T{hour:02d}:00:00.000Z", pad=padding) for n in range(40)],
        )
    window = Filters(T9, T9.replace(hour=11))
    first = FakeSqs(fail_after=3)
    with pytest.raises(SystemExit, match="run the same command again"):
        _replay(s3, first, window, tmp_path)
    second = FakeSqs()
    progress = _replay(s3, second, window, tmp_path)
    sent = first.ids() + second.ids()
    assert (
        sorted(sent) == sorted({*sent}) == sorted([f"m-{h * 1000 + n}" for h in (9, 10) for n in range(40)])
    )
    assert progress.skipped == len(first.ids())
    third = FakeSqs()  # done: a third run sends nothing, reads nothing
    gets = s3.gets
    assert _replay(s3, third, window, tmp_path).sent == {}
    assert (third.calls, s3.gets) == ([], gets)


def test_a_dry_run_counts_per_day_and_type_and_sends_nothing():
    s3, sqs = FakeS3(), FakeSqs()
    s3.put(
        "web", T9, [event(1, "2026-12-07T09:00:00.000Z"), event(2, "2026-12-07T09:01:00.000Z", kind="page")]
    )
    s3.put("web", T9.replace(day=8), [event(3, "2026-12-08T09:00:00.000Z")])
    progress = _replay(s3, sqs, Filters(T9, T9.replace(day=9)), dry_run=True)
    assert sqs.calls == []
    assert progress.sent == {
        ("2026-12-07", "track"): 1,
        ("2026-12-07", "page"): 1,
        ("2026-12-08", "track"): 1,
    }


def test_the_pacer_keeps_the_rate():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(100, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        pacer.wait_for(50)
    assert now[0] == pytest.approx(2.0)  # 200 events before the fifth call: 2 s at 100 a second
    assert slept == pytest.approx([0.5, 0.5, 0.5, 0.5])


def _main(monkeypatch: pytest.MonkeyPatch, s3: FakeS3, sqs: FakeSqs, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr(replay, "_local", lambda: _target(s3, sqs))
    out, err = io.StringIO(), io.StringIO()
    code = replay.main(["--local", *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--from", "soon", "--to", "2026-12-07"], "FROM is not an ISO-8601"),
        (["--from", "2026-12-07", "--to", "12/08/2026"], "TO is not an ISO-8601"),
        (["--from", "2026-12-08", "--to", "2026-12-07"], "must be before TO"),
        (["--from", "2026-12-07", "--to", "2026-12-08", "--only-undelivered"], "needs the delivery log"),
    ],
)
def test_a_bad_window_or_option_is_an_error_that_says_why(monkeypatch, argv, said):
    code, _, err = _main(monkeypatch, FakeS3(), FakeSqs(), *argv)
    assert code == 2
    assert said in err


def test_an_empty_window_says_so_and_succeeds(monkeypatch):
    code, out, _ = _main(monkeypatch, FakeS3(), FakeSqs(), "--from", "2026-12-07", "--to", "2026-12-08")
    assert code == 0
    assert "nothing archived in 2026-12-07T00:00:00Z to 2026-12-08T00:00:00Z" in out


def test_a_source_the_archive_does_not_know_is_named_with_the_labels_it_does(monkeypatch):
    s3 = FakeS3()
    s3.put("web", T9, [event(1, "2026-12-07T09:00:00.000Z")])
    argv = ("--from", "2026-12-07", "--to", "2026-12-08", "--source", "9e0fa8e2-source-id-in-clear")
    code, out, _ = _main(monkeypatch, s3, FakeSqs(), *argv)
    assert code == 0
    assert "nothing archived in" in out
    assert "SOURCE takes an archive label: web" in out


def test_the_command_prints_a_summary_per_day_and_type(monkeypatch, tmp_path):
    s3, sqs = FakeS3(), FakeSqs()
    s3.put(
        "web", T9, [event(1, "2026-12-07T09:00:00.000Z"), event(2, "2026-12-07T09:01:00.000Z", kind="page")]
    )
    code, out, err = _main(
        monkeypatch,
        s3,
        sqs,
        "--from",
        "2026-12-07",
        "--to",
        "2026-12-08",
        "--dry-run",
        "--state-dir",
        str(tmp_path),
    )
    assert code == 0
    assert "would send 2 events of 2026-12-07T00:00:00Z to 2026-12-08T00:00:00Z" in out
    assert "2026-12-07   page                1" in out
    assert "1/1 objects" in err
    assert sqs.calls == []
