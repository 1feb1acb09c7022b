"""The load test's accounting of duplicates: every extra delivery is put down to one cause."""

from __future__ import annotations

from loadtest.duplicates import by_cause, confirmations_read


def test_an_unexplained_duplicate_counts_as_a_confirmed_event_sent_again():
    counts = by_cause({"a": 3}, {}, {})
    assert counts["confirmed"] == 2
    assert sum(counts.values()) == 2


def test_a_late_answer_explains_one_later_delivery_each():
    # Received 4 times, twice in answers after the read timeout: two resends were unavoidable,
    # the third followed a confirmed delivery.
    assert by_cause({"a": 4}, {"a": 2}, {}) == {
        "client_retry": 0,
        "answered_late": 2,
        "answer_unread": 0,
        "record_in_flight": 0,
        "forwarder_killed": 0,
        "sqs_redelivered": 0,
        "confirmed": 1,
    }
    # The last delivery was the late one: it explains nothing after it.
    assert by_cause({"b": 2}, {"b": 2}, {})["answered_late"] == 1


def test_other_duplicates_go_to_the_first_cause_that_explains_them():
    duplicates = {"retried": 2, "killed": 3, "both": 2, "overlap": 2, "overlap-killed": 2, "plain": 2}
    explained = {
        "client_retry": {"retried", "both"},
        "forwarder_killed": {"killed", "both", "overlap-killed"},
        "sqs_redelivered": {"overlap", "overlap-killed"},
    }
    assert by_cause(duplicates, {}, explained) == {
        "client_retry": 2,
        "answered_late": 0,
        "answer_unread": 0,
        "record_in_flight": 0,
        "forwarder_killed": 2,
        "sqs_redelivered": 2,
        "confirmed": 1,
    }


def test_events_received_once_are_no_duplicates():
    assert sum(by_cause({}, {"x": 1}, {"client_retry": {"x"}}).values()) == 0


def test_a_delivery_whose_confirmation_no_forwarder_read_explains_the_next_one():
    # Received 3 times, confirmations read twice: one request's answer was never read (killed in
    # flight). The third delivery followed a confirmation read: the kill's, after the fact.
    counts = by_cause({"a": 3}, {}, {"forwarder_killed": {"a"}}, read={"a": 2})
    assert (counts["answer_unread"], counts["forwarder_killed"]) == (1, 1)
    # Every confirmation read: nothing is put down to an unread answer.
    assert by_cause({"b": 2}, {}, {}, read={"b": 2})["answer_unread"] == 0
    # Late answers are never read in time either: counted once, as late.
    assert by_cause({"c": 2}, {"c": 1}, {}, read={"c": 1}) == by_cause({"c": 2}, {"c": 1}, {})
    # Not traced: no attribution to unread answers at all.
    assert by_cause({"d": 2}, {}, {})["answer_unread"] == 0


def test_confirmations_read_are_counted_from_the_forwarder_s_debug_lines(tmp_path):
    log = tmp_path / "forward.log"
    log.write_text(
        '{"message": "upstream confirmed", "messageIds": ["a", "b"]}\n'
        '{"message": "messages forwarded", "messageIds": ["x"]}\n'
        '{"message": "upstream confirmed", "messageIds": ["a"]}\n'
        '{"message": "upstream confirmed", "messageIds": ["cut by a kill'
    )
    assert confirmations_read(log) == {"a": 2, "b": 1}
    assert confirmations_read(tmp_path / "missing.log") == {}


def test_a_kill_between_a_confirmation_and_its_record_is_told_apart_with_the_log_on():
    explained = {"forwarder_killed": {"a", "b"}}
    # a: confirmation read once, its record never written; b: read and recorded, sent again anyway.
    counts = by_cause({"a": 2, "b": 2}, {}, explained, read={"a": 2, "b": 2}, recorded={"a": 1, "b": 2})
    assert (counts["record_in_flight"], counts["forwarder_killed"]) == (1, 1)
    # Without the log there are no records to miss: the kill's.
    assert by_cause({"a": 2}, {}, explained, read={"a": 2})["forwarder_killed"] == 1
