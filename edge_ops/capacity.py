"""``make capacity RPS=… EVENTS_PER_REQUEST=…``: what a traffic level needs, which quota binds first,
and the monthly bill, from measured handler durations and stated assumptions (docs/scaling.md).

Little's law throughout: the concurrent executions a function needs are its arrival rate times
its duration. Ingest is invoked once per request; the forwarder once per batch of SQS messages.

    python -m edge_ops.capacity --rps 5000 --events-per-request 1
    python -m edge_ops.capacity --rps 35 --events-per-request 48.7 --local    # this machine's local stack
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, replace
from typing import Final

__all__ = ["Costs", "Figures", "Plan", "Quotas", "Settings", "monthly_bill", "plan", "render"]

SECONDS_PER_MONTH: Final = 30 * 24 * 3600
KIB: Final = 1024


@dataclass(frozen=True)
class Figures:
    """Per-request and per-event times and sizes. Defaults: measured on the development machine
    (docs/performance.md, docs/operations.md; make bench, make bench-gzip) and assumed network
    latencies, both as docs/scaling.md states them."""

    ingest_fixed_ms: float = 0.11
    """Ingest CPU per request, measured: 0.16 ms for one event, 5.2 ms for 100 (a line through both)."""
    ingest_per_event_ms: float = 0.051
    forward_per_event_ms: float = 0.014
    """Forwarder CPU per event, measured: 1.4 ms for 100 one-event messages."""
    queued_event_bytes: int = 1_339
    """An enriched event as queued and as sent upstream (the sample track event), measured."""
    lambda_slowdown: float = 2.0
    """Assumed: Lambda at 1 GB runs this CPU work 2x slower than this machine (0.58 of a vCPU);
    CPU is proportional to memory, so at 512 MB 4x (``slowdown``)."""
    sqs_send_ms: float = 15.0
    """Assumed: one SendMessageBatch round trip within the Region."""
    upstream_ms: float = 100.0
    """Assumed: one MetaRouter request, from the Region to the cluster and back."""
    archive_message_bytes: int = 184
    """The forwarder's archive copy of an event on the archive queue (gzip level 1, base64), measured
    (``python -m bench.archive``)."""
    archive_forward_per_event_ms: float = 0.0044
    """Forwarder CPU to compress an event's archive copy, measured."""
    archive_function_per_event_ms: float = 0.022
    """Archive function CPU per event (decompress, partition, compress again), measured."""
    archive_object_bytes: int = 109
    """An event in the bucket (gzip level 6 JSON Lines, 12.2x), measured."""
    s3_put_ms: float = 50.0
    """Assumed: one PutObject of a few MB within the Region."""


@dataclass(frozen=True)
class Settings:
    """The template's values that decide capacity (its defaults)."""

    forward_max_concurrency: int = 5
    forward_batch_size: int = 100
    upstream_max_batch_events: int = 100
    upstream_concurrency: int = 8
    throttling_rate_limit: int = 1_000
    ingest_memory_gb: float = 0.5
    forward_memory_gb: float = 0.5
    gzip: bool = False
    archive_retention_days: int = 90
    """``ArchiveRetentionDays``: 0 is no archive."""
    archive_memory_gb: float = 0.5


@dataclass(frozen=True)
class Quotas:
    """AWS's default quotas per account and Region (all but the SQS ones can be raised)."""

    api_rps: int = 10_000
    """API Gateway: requests per second across all HTTP APIs of the account in the Region."""
    lambda_concurrency: int = 1_000
    """Lambda: concurrent executions of all functions of the account in the Region."""
    lambda_scaling_per_10s: int = 1_000
    """Lambda: each function may add this many executions every 10 seconds."""
    sqs_esm_max_concurrency: int = 1_000
    """The SQS event source's MaximumConcurrency ceiling (and the template parameter's)."""


@dataclass(frozen=True)
class Costs:
    """us-east-1 list prices (docs/operations.md)."""

    api_per_million: float = 1.00
    lambda_per_million: float = 0.20
    lambda_gb_second: float = 0.0000133334
    sqs_per_million: float = 0.40
    logs_per_gb: float = 0.50
    egress_per_gb: float = 0.09
    ingest_log_bytes: float = 217 + 480 * 0.01 + 370
    """The EMF line, the ``request outcome`` line (480 B, at the default ``OutcomeLogSampleRate``
    of 0.01) and the API access log line per request."""
    forward_log_bytes: int = 1_500
    response_bytes: int = 266
    upstream_request_overhead: int = 600
    fixed_per_month: float = 14.0
    """SnapStart cache of one version, custom metrics, alarms, dashboard, secret, idle polling."""
    archive_fixed_per_month: float = 1.8
    """The archive's alarm (3 metrics) and metric series, and the idle polling of its queue."""
    s3_put_per_thousand: float = 0.005
    s3_gb_month: float = 0.023


@dataclass(frozen=True)
class Limit:
    name: str
    need: float
    limit: float
    raise_it: str

    @property
    def use(self) -> float:
        return self.need / self.limit if self.limit else math.inf


@dataclass(frozen=True)
class Plan:
    rps: float
    events_per_request: float
    events_per_second: float
    ingest_ms: float
    ingest_concurrency: float
    forward_invocation_ms: float
    events_per_invocation: float
    forward_concurrency: float
    forward_ceiling_events_per_second: float
    upstream_requests_per_second: float
    limits: tuple[Limit, ...]
    monthly: float
    per_million_events: float
    archive_per_million_events: float = 0.0
    """What the archive adds (its storage for the retention included), fixed costs aside."""


def _messages_per_request(events: float, figures: Figures) -> int:
    """Ingest packs a request's events into 256 KiB messages."""
    return max(1, math.ceil(events * figures.queued_event_bytes / (256 * KIB)))


def slowdown(figures: Figures, memory_gb: float) -> float:
    """How much slower than this machine Lambda runs CPU work at ``memory_gb``: CPU is
    proportional to memory up to one vCPU at 1,769 MB."""
    return figures.lambda_slowdown / min(memory_gb, 1.769)


def ingest_ms(events: float, figures: Figures, memory_gb: float = 1.0) -> float:
    """One ingest invocation: its CPU, then one SendMessageBatch per 10 messages, billed by the ms."""
    cpu = (figures.ingest_fixed_ms + figures.ingest_per_event_ms * events) * slowdown(figures, memory_gb)
    calls = math.ceil(_messages_per_request(events, figures) / 10)
    return math.ceil(cpu + calls * figures.sqs_send_ms)


#: The gzip bytes one archive-queue message carries (edge.core.archive.MAX_MEMBER_BYTES), as base64.
_ARCHIVE_MESSAGE_BYTES: Final = 190_000 * 4 / 3


def _archive_calls(events: float, figures: Figures) -> int:
    """SendMessageBatch calls for an invocation's archive copies: one per 256 KiB of messages."""
    return max(1, math.ceil(events * figures.archive_message_bytes / (256 * KIB)))


def forward_invocation(
    events_per_message: float, settings: Settings, figures: Figures
) -> tuple[float, float]:
    """(events per full invocation, its duration in ms): batches up to ForwardBatchSize messages or
    Lambda's 6 MB, upstream requests of UpstreamMaxBatchEvents events (or 500 KB), 8 at a time;
    with the archive, its copies compressed and sent before the invocation answers."""
    message_bytes = events_per_message * figures.queued_event_bytes
    messages = min(settings.forward_batch_size, max(1, int(6 * KIB * KIB // message_bytes)))
    events = messages * events_per_message
    per_request = min(
        settings.upstream_max_batch_events, max(1, int(500 * KIB // figures.queued_event_bytes))
    )
    requests = math.ceil(events / per_request)
    rounds = math.ceil(requests / settings.upstream_concurrency)
    per_event = figures.forward_per_event_ms
    archive_ms = 0.0
    if settings.archive_retention_days:
        per_event += figures.archive_forward_per_event_ms
        archive_ms = _archive_calls(events, figures) * figures.sqs_send_ms
    cpu = per_event * events * slowdown(figures, settings.forward_memory_gb)
    return events, cpu + rounds * figures.upstream_ms + archive_ms


def archive_bill(
    events: float, events_per_message: float, settings: Settings, figures: Figures, costs: Costs
) -> float:
    """Dollars the archive adds for ``events`` (a month's), its variable costs: the archive queue's
    requests, the archive function, its PUTs, and the objects' storage for the whole retention.
    The forwarder's share (compressing, sending) is in its duration (``forward_invocation``)."""
    if not settings.archive_retention_days:
        return 0.0
    per_invocation, _ = forward_invocation(events_per_message, settings, figures)
    copies = events * figures.archive_message_bytes
    sends = events / per_invocation * _archive_calls(per_invocation, figures)
    send_chunks = max(sends, copies / (64 * KIB))
    messages = max(sends, copies / _ARCHIVE_MESSAGE_BYTES)
    # The archive function's event source receives 10 a call (billed by the 64 KiB chunks of what
    # they return) and deletes 10 a call.
    sqs = (
        (send_chunks + max(messages / 10, copies / (64 * KIB)) + messages / 10) * costs.sqs_per_million / 1e6
    )
    batch_events = 6 * KIB * KIB / figures.archive_message_bytes  # Lambda's 6 MB per SQS batch
    invocations = events / batch_events
    duration = (
        figures.archive_function_per_event_ms * batch_events * slowdown(figures, settings.archive_memory_gb)
        + figures.s3_put_ms
    )
    function = invocations * (
        costs.lambda_per_million / 1e6 + duration / 1000 * settings.archive_memory_gb * costs.lambda_gb_second
    )
    puts = invocations * costs.s3_put_per_thousand / 1e3  # one object per Source and hour a batch
    storage = (
        events * figures.archive_object_bytes / 1e9 * costs.s3_gb_month * settings.archive_retention_days / 30
    )
    return sqs + function + puts + storage


def monthly_bill(
    rps: float, events_per_request: float, settings: Settings, figures: Figures, costs: Costs
) -> float:
    """Dollars a month (30 days) at this steady rate, fixed costs included."""
    requests = rps * SECONDS_PER_MONTH
    events = requests * events_per_request
    body = events_per_request * 1_150
    api = requests * math.ceil(max(body, 1) / (512 * KIB)) * costs.api_per_million / 1e6
    ingest = requests * (
        costs.lambda_per_million / 1e6
        + ingest_ms(events_per_request, figures, settings.ingest_memory_gb)
        / 1000
        * settings.ingest_memory_gb
        * costs.lambda_gb_second
    )
    messages = requests * _messages_per_request(events_per_request, figures)
    message_bytes = (
        events_per_request * figures.queued_event_bytes / _messages_per_request(events_per_request, figures)
    )
    chunks = math.ceil(message_bytes / (64 * KIB))
    # Sends bill each 64 KiB chunk; receives return 10 messages a call, billed by the chunks of
    # what they return; deletes go 10 a call.
    receives = max(messages / 10, messages * message_bytes / (64 * KIB))
    sqs = (messages * chunks + receives + messages / 10) * costs.sqs_per_million / 1e6
    per_invocation, duration = forward_invocation(
        events_per_request / _messages_per_request(events_per_request, figures), settings, figures
    )
    invocations = events / per_invocation
    forward = invocations * (
        costs.lambda_per_million / 1e6 + duration / 1000 * settings.forward_memory_gb * costs.lambda_gb_second
    )
    logs = (
        (requests * costs.ingest_log_bytes + invocations * costs.forward_log_bytes) / 1e9 * costs.logs_per_gb
    )
    wire = figures.queued_event_bytes / (9.7 if settings.gzip else 1.0)
    upstream_requests = events / settings.upstream_max_batch_events
    egress = (
        events * wire + upstream_requests * costs.upstream_request_overhead + requests * costs.response_bytes
    )
    egress_cost = egress / 1e9 * costs.egress_per_gb
    per_message = events_per_request / _messages_per_request(events_per_request, figures)
    archive = archive_bill(events, per_message, settings, figures, costs)
    fixed = costs.fixed_per_month + (costs.archive_fixed_per_month if settings.archive_retention_days else 0)
    return api + ingest + sqs + forward + logs + egress_cost + archive + fixed


def plan(
    rps: float,
    events_per_request: float,
    *,
    settings: Settings | None = None,
    figures: Figures | None = None,
    quotas: Quotas | None = None,
    costs: Costs | None = None,
) -> Plan:
    """Everything ``rps`` requests a second of ``events_per_request`` events each needs."""
    settings, figures = settings or Settings(), figures or Figures()
    quotas, costs = quotas or Quotas(), costs or Costs()
    ingest = ingest_ms(events_per_request, figures, settings.ingest_memory_gb)
    ingest_concurrency = rps * ingest / 1000
    per_request_messages = _messages_per_request(events_per_request, figures)
    per_invocation, invocation_ms = forward_invocation(
        events_per_request / per_request_messages, settings, figures
    )
    events = rps * events_per_request
    forward_concurrency = events / per_invocation * invocation_ms / 1000
    ceiling = settings.forward_max_concurrency * per_invocation / (invocation_ms / 1000)
    upstream_rps = events / min(settings.upstream_max_batch_events, 500 * KIB // figures.queued_event_bytes)
    limits = (
        Limit(
            "API throttling (ThrottlingRateLimit)",
            rps,
            settings.throttling_rate_limit,
            "raise ThrottlingRateLimit/BurstLimit (template parameters)",
        ),
        Limit(
            "API Gateway account quota (requests/s)",
            rps,
            quotas.api_rps,
            "ask for a higher API Gateway throttle quota (Service Quotas)",
        ),
        Limit(
            "Lambda concurrency, ingest + forwarder (account)",
            ingest_concurrency + min(forward_concurrency, settings.forward_max_concurrency),
            quotas.lambda_concurrency,
            "ask for a higher Lambda concurrent-executions quota (Service Quotas)",
        ),
        Limit(
            "Lambda scaling, ingest (executions added per 10 s)",
            ingest_concurrency,
            quotas.lambda_scaling_per_10s,
            "nothing to raise: ramp traffic up over tens of seconds, or keep executions warm"
            " (provisioned concurrency)",
        ),
        Limit(
            "forwarder ceiling (ForwardMaxConcurrency)",
            forward_concurrency,
            settings.forward_max_concurrency,
            "raise ForwardMaxConcurrency (if MetaRouter takes the request rate), then ForwardBatchSize",
        ),
        Limit(
            "SQS event source MaximumConcurrency (≤ 1,000)",
            forward_concurrency,
            quotas.sqs_esm_max_concurrency,
            "larger upstream batches (UpstreamMaxBatchEvents) or a second Region",
        ),
    )
    monthly = monthly_bill(rps, events_per_request, settings, figures, costs)
    month_events = events * SECONDS_PER_MONTH
    without = replace(settings, archive_retention_days=0)
    archive = monthly - costs.archive_fixed_per_month * bool(settings.archive_retention_days)
    archive -= monthly_bill(rps, events_per_request, without, figures, costs)
    return Plan(
        rps=rps,
        events_per_request=events_per_request,
        events_per_second=events,
        ingest_ms=ingest,
        ingest_concurrency=ingest_concurrency,
        forward_invocation_ms=invocation_ms,
        events_per_invocation=per_invocation,
        forward_concurrency=forward_concurrency,
        forward_ceiling_events_per_second=ceiling,
        upstream_requests_per_second=upstream_rps,
        limits=tuple(sorted(limits, key=lambda limit: limit.use, reverse=True)),
        monthly=monthly,
        per_million_events=monthly / (month_events / 1e6),
        archive_per_million_events=archive / (month_events / 1e6),
    )


def render(result: Plan, figures: Figures) -> str:
    lines = [
        f"traffic: {result.rps:,.0f} requests/s x {result.events_per_request:g} events = "
        f"{result.events_per_second:,.0f} events/s",
        f"assumed: Lambda {figures.lambda_slowdown:g}x this machine's CPU time at 1 GB, SQS send "
        f"{figures.sqs_send_ms:g} ms, MetaRouter request {figures.upstream_ms:g} ms",
        f"ingest: {result.ingest_ms:.0f} ms per request -> {result.ingest_concurrency:,.1f} concurrent "
        "executions (Little's law: rate x duration)",
        f"forwarder: {result.events_per_invocation:,.0f} events per full invocation of "
        f"{result.forward_invocation_ms:,.0f} ms -> {result.forward_concurrency:,.2f} concurrent executions; "
        f"ceiling at ForwardMaxConcurrency: {result.forward_ceiling_events_per_second:,.0f} events/s",
        f"upstream: {result.upstream_requests_per_second:,.1f} requests/s to MetaRouter",
        "limits, the most used first:",
    ]
    for limit in result.limits:
        flag = "BINDS" if limit.use >= 1 else ("near" if limit.use >= 0.8 else "ok")
        lines.append(f"  {flag:5} {limit.use:7.1%}  {limit.name}: {limit.need:,.1f} of {limit.limit:,.0f}")
    binding = [limit for limit in result.limits if limit.use >= 0.8]
    if binding:
        lines.append("raise, in this order:")
        lines += [f"  {i}. {limit.raise_it}" for i, limit in enumerate(binding, 1)]
    lines.append(
        f"bill: ${result.monthly:,.0f} a month (30 days, fixed costs included): "
        f"${result.per_million_events:,.2f} per million events"
    )
    if result.archive_per_million_events:
        lines.append(
            f"  of which the archive: ${result.archive_per_million_events:,.3f} per million events "
            "(its queue, function, PUTs, the forwarder's share, storage for the whole retention)"
        )
    return "\n".join(lines)


def _local_figures(events_per_request: float) -> tuple[Figures, Settings, float]:
    """This machine's local stack: handler durations measured against moto, loopback upstream."""
    from edge_ops.local_probe import measure_ingest_ms

    small, large = measure_ingest_ms(1), measure_ingest_ms(100)
    per_event = (large - small) / 99
    figures = Figures(
        ingest_fixed_ms=small - per_event,
        ingest_per_event_ms=per_event,
        lambda_slowdown=1.0,
        sqs_send_ms=0.0,  # inside the measured durations (moto)
        upstream_ms=1.0,
    )
    # Measured durations already are this machine's: no memory scaling (1 GB: the 1.0 slowdown).
    settings = Settings(
        forward_max_concurrency=5,
        throttling_rate_limit=10**9,
        forward_batch_size=100,
        ingest_memory_gb=1.0,
        forward_memory_gb=1.0,
    )
    return figures, settings, (figures.ingest_fixed_ms + per_event * events_per_request)


def _local_prediction(args: argparse.Namespace, figures: Figures, service_ms: float) -> str:
    """make load on this machine: Little's law for 2 ingest workers, and the utilization law for the
    cores everything shares; the acknowledgement time of a closed loop of clients follows."""
    workers = 2  # the local stack's ingest processes (INGEST_CONCURRENCY)
    by_workers = workers / (service_ms / 1000)
    lines = [
        f"local stack: ingest measured against moto: {figures.ingest_fixed_ms:.2f} ms + "
        f"{figures.ingest_per_event_ms:.3f} ms per event = {service_ms:.1f} ms for "
        f"{args.events_per_request:g} events",
        f"  {workers} ingest workers (Little's law): at most {by_workers:,.0f} requests/s",
    ]
    bound = by_workers
    if args.cpu_ms_per_request:
        by_cpu = args.cores / (args.cpu_ms_per_request / 1000)
        lines.append(
            f"  {args.cores:g} cores shared by everything, {args.cpu_ms_per_request:g} ms CPU per request "
            f"(utilization law): at most {by_cpu:,.0f} requests/s"
        )
        bound = min(bound, by_cpu)
    lines.append(
        f"  predicted: {bound:,.0f} requests/s = {bound * args.events_per_request:,.0f} events/s; with "
        f"{args.clients} clients always waiting, acknowledgement {args.clients / bound * 1000:,.0f} ms "
        "on average (Little's law: clients / throughput)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rps", type=float, required=True, help="API requests per second")
    parser.add_argument("--events-per-request", type=float, default=1.0)
    parser.add_argument("--upstream-ms", type=float, help="MetaRouter's latency (default 100)")
    parser.add_argument("--forward-max-concurrency", type=int, help="the template parameter (default 5)")
    parser.add_argument("--throttling-rate-limit", type=int, help="the template parameter (default 1000)")
    parser.add_argument("--gzip", action="store_true", help="UpstreamGzip=true")
    parser.add_argument(
        "--archive-retention-days", type=int, help="ArchiveRetentionDays (default 90; 0: no archive)"
    )
    parser.add_argument(
        "--local",
        action="store_true",
        help="predict make load on this machine: measure ingest against moto; 2 ingest worker processes",
    )
    parser.add_argument(
        "--clients", type=int, default=50, help="with --local: concurrent clients (make load: 50)"
    )
    parser.add_argument("--cores", type=float, default=2.0, help="with --local: CPU cores the run gets")
    parser.add_argument(
        "--cpu-ms-per-request",
        type=float,
        help="with --local: CPU the whole local pipeline spends per request (clients, gateway, moto, "
        "handlers, stand-in), e.g. a make load run's user + system time over its requests",
    )
    args = parser.parse_args(argv)
    figures, settings = Figures(), Settings()
    if args.local:
        figures, settings, service_ms = _local_figures(args.events_per_request)
        print(_local_prediction(args, figures, service_ms))
    overrides = {
        name: value
        for name, value in (
            ("forward_max_concurrency", args.forward_max_concurrency),
            ("throttling_rate_limit", args.throttling_rate_limit),
            ("archive_retention_days", args.archive_retention_days),
        )
        if value is not None
    }
    settings = replace(settings, gzip=args.gzip, **overrides)
    if args.upstream_ms is not None:
        figures = replace(figures, upstream_ms=args.upstream_ms)
    print(render(plan(args.rps, args.events_per_request, settings=settings, figures=figures), figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
