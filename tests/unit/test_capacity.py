"""make capacity: Little's law, the order in which limits bind, and a bill that agrees with the docs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from edge_ops.capacity import Figures, Settings, forward_invocation, ingest_ms, plan, render


def _limit(result, prefix):
    [limit] = [limit for limit in result.limits if limit.name.startswith(prefix)]
    return limit


def test_ingest_concurrency_is_rate_times_duration():
    result = plan(2_000, 1)
    assert result.ingest_ms == 16  # 0.16 ms x 4 (512 MB) + one 15 ms SQS call, billed by the ms
    assert result.ingest_concurrency == pytest.approx(2_000 * 0.016)


def test_a_100_event_batch_is_one_sqs_call_and_longer_cpu():
    assert ingest_ms(100, Figures(), 0.5) == 36  # (0.11 + 5.1) ms x 4 (512 MB) + 15 ms: the docs' 36 ms


def test_at_the_template_s_defaults_the_api_throttle_binds_first():
    result = plan(1_500, 1)
    assert result.limits[0].name.startswith("API throttling")
    assert result.limits[0].use == pytest.approx(1.5)
    assert "ThrottlingRateLimit" in render(result, Figures())


def test_with_the_throttle_raised_the_account_quotas_bind_in_order():
    settings = Settings(throttling_rate_limit=100_000, forward_max_concurrency=50)
    result = plan(20_000, 1, settings=settings)
    # 20,000 requests/s: twice API Gateway's 10,000; ingest needs 320 executions of Lambda's 1,000.
    assert [limit.name for limit in result.limits[:2]] == [
        "API Gateway account quota (requests/s)",
        "forwarder ceiling (ForwardMaxConcurrency)",
    ]
    assert _limit(result, "API Gateway").use == pytest.approx(2.0)
    assert _limit(result, "Lambda concurrency").need == pytest.approx(320 + result.forward_concurrency)


def test_the_forwarder_ceiling_follows_upstream_latency_and_max_concurrency():
    events, duration = forward_invocation(1, Settings(archive_retention_days=0), Figures())
    assert (events, duration) == (100, pytest.approx(105.6))  # 1.4 ms x 4 (512 MB) + one request of 100
    # The archive: 0.0044 ms x 4 a copy to compress, and one 15 ms SendMessageBatch.
    assert forward_invocation(1, Settings(), Figures()) == (100, pytest.approx(105.6 + 1.76 + 15))
    bare = Settings(archive_retention_days=0)  # the upstream's share alone
    slow = plan(100, 1, figures=Figures(upstream_ms=1_000), settings=bare)
    fast = plan(100, 1, settings=bare)
    assert slow.forward_ceiling_events_per_second < fast.forward_ceiling_events_per_second / 9
    assert plan(
        100, 1, settings=replace(bare, forward_max_concurrency=50)
    ).forward_ceiling_events_per_second == (pytest.approx(10 * fast.forward_ceiling_events_per_second))


@pytest.mark.parametrize(
    ("events_per_request", "gzip", "docs"),
    [(1, False, 2.26), (1, True, 2.15), (100, False, 0.167), (100, True, 0.059)],
)
def test_the_bill_agrees_with_the_cost_tables_within_ten_per_cent(events_per_request, gzip, docs):
    # At 1,000 events/s the fixed ~$16 a month adds $0.006 per million events.
    result = plan(1_000 / events_per_request, events_per_request, settings=Settings(gzip=gzip))
    assert result.per_million_events == pytest.approx(docs + 0.006, rel=0.1)  # the tables round


@pytest.mark.parametrize("events_per_request", [1, 20, 100])
def test_the_archive_adds_at_most_five_cents_per_million_events_at_the_defaults(events_per_request):
    result = plan(1_000 / events_per_request, events_per_request)
    assert 0 < result.archive_per_million_events <= 0.05
    without = plan(
        1_000 / events_per_request, events_per_request, settings=Settings(archive_retention_days=0)
    )
    assert without.archive_per_million_events == 0
    assert result.monthly - without.monthly == pytest.approx(
        result.archive_per_million_events * 1_000 * 30 * 24 * 3600 / 1e6 + 1.8
    )


def test_the_archive_s_storage_is_paid_for_the_whole_retention():
    month = plan(1_000, 1, settings=Settings(archive_retention_days=30)).archive_per_million_events
    year = plan(1_000, 1, settings=Settings(archive_retention_days=365)).archive_per_million_events
    # 109 B an event, $0.023 per GB-month: 11 more months of storage.
    assert year - month == pytest.approx(109e6 / 1e9 * 0.023 * (365 - 30) / 30)
