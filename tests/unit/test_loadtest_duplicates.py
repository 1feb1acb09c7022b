"""The load test's accounting of duplicates: every extra delivery is put down to one cause."""

from __future__ import annotations

from loadtest.duplicates import by_cause


def test_an_unexplained_duplicate_counts_as_a_confirmed_event_sent_again():
    counts = by_cause({"a": 3}, {})
    assert counts["confirmed"] == 2
    assert sum(counts.values()) == 2


def test_each_duplicate_goes_to_the_first_cause_that_explains_it():
    duplicates = {"retried": 2, "late": 2, "killed": 3, "both": 2, "overlap": 2, "plain": 2}
    explained = {
        "client_retry": {"retried", "both"},
        "answered_late": {"late"},
        "forwarder_killed": {"killed", "both"},
        "sqs_redelivered": {"overlap"},
    }
    assert by_cause(duplicates, explained) == {
        "client_retry": 2,
        "answered_late": 1,
        "forwarder_killed": 2,
        "sqs_redelivered": 1,
        "confirmed": 1,
    }


def test_events_received_once_are_no_duplicates():
    assert sum(by_cause({}, {"client_retry": {"x"}}).values()) == 0
