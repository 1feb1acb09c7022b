"""Typed configuration of each function, read from the environment once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edge.enrichment import IpPolicy
from edge.privacy import BotPolicy, ConsentWhenMissing, GpcPolicy

__all__ = [
    "COOKIE_DOMAIN_PATTERN",
    "DEFAULT_ENDPOINT",
    "ENDPOINT_PATTERN",
    "ForwardMode",
    "ForwardSettings",
    "IngestSettings",
]

#: SQS's classic message size limit; raise it only if your queues allow more (up to 1 MiB).
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024
#: The seed's MetaRouter endpoint; customers with their own cluster set theirs.
DEFAULT_ENDPOINT = "https://e.metarouter.io"
#: The upstream base URLs the forwarder accepts, and ``template.yaml``'s ``MetaRouterEndpoint``
#: ``AllowedPattern`` (a template test holds them equal): https to any host, plain http only to a
#: loopback address (the local stand-in), an optional port and path; no query, fragment or
#: credentials. ASCII classes only, so Python, pydantic's Rust engine and CloudFormation's Java
#: engine read it alike.
ENDPOINT_PATTERN = (
    r"^(https://[A-Za-z0-9.-]+|http://(127\.0\.0\.1|localhost))(:[0-9]{1,5})?(/[A-Za-z0-9._~%/-]*)?$"
)

#: ``CookieDomain``: a registrable domain or subdomain (``example.com``), or ``localhost``; the
#: template's ``AllowedPattern`` is the same.
COOKIE_DOMAIN_PATTERN = r"^(|localhost|([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9])$"

ForwardMode = Literal["batch", "per-call"]


class _Settings(BaseModel):
    # Built on first use: a function builds only its own settings model.
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        source = os.environ if env is None else env
        return cls.model_validate({k: v for k, v in source.items() if v != ""})


class IngestSettings(_Settings):
    """Environment of the ingest function."""

    events_queue_url: str = Field(alias="EVENTS_QUEUE_URL")
    quarantine_queue_url: str = Field(alias="QUARANTINE_QUEUE_URL")
    edge_secret_id: str = Field(alias="EDGE_SECRET_ID")
    ip_policy: IpPolicy = Field(default="keep", alias="IP_POLICY")
    secret_max_age: Annotated[int, Field(ge=0)] = Field(default=300, alias="SECRET_MAX_AGE_SECONDS")
    max_message_bytes: Annotated[int, Field(ge=1024, le=1024 * 1024)] = Field(
        default=DEFAULT_MAX_MESSAGE_BYTES, alias="SQS_MAX_MESSAGE_BYTES"
    )
    # Privacy and data-quality controls (edge.privacy): off or harmless by default.
    bot_policy: BotPolicy = Field(default="flag", alias="BOT_POLICY")
    gpc_policy: GpcPolicy = Field(default="ignore", alias="GPC_POLICY")
    required_consent: str = Field(default="", alias="REQUIRED_CONSENT")
    consent_when_missing: ConsentWhenMissing = Field(default="forward", alias="CONSENT_WHEN_MISSING")
    hash_fields: str = Field(default="", alias="HASH_FIELDS")
    # Share of clean successes given an outcome log line; rejections and errors always get one.
    # 1% by default: a line for every beacon would be ~$0.24 of a ~$2 bill per million beacons
    # (docs/performance.md), and ~30 µs of a warm beacon's CPU.
    outcome_log_sample_rate: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.01, alias="OUTCOME_LOG_SAMPLE_RATE"
    )
    # First-party collection (edge.firstparty): off unless set.
    origin_verify_secret_id: str | None = Field(default=None, alias="ORIGIN_VERIFY_SECRET_ID")
    require_origin_verify: bool = Field(default=False, alias="REQUIRE_ORIGIN_VERIFY")
    cookie_domain: Annotated[str, Field(pattern=COOKIE_DOMAIN_PATTERN)] = Field(
        default="", alias="COOKIE_DOMAIN"
    )
    # A year: the cookie outlives any visitor's gap between visits; the browser caps it at 400 days.
    cookie_max_age: Annotated[int, Field(ge=1, le=400 * 86400)] = Field(
        default=365 * 86400, alias="COOKIE_MAX_AGE_SECONDS"
    )


class ForwardSettings(_Settings):
    """Environment of the forward function; every tunable has a default."""

    edge_secret_id: str = Field(alias="EDGE_SECRET_ID")
    dead_letter_queue_url: str = Field(alias="DEAD_LETTER_QUEUE_URL")
    endpoint: Annotated[str, Field(pattern=ENDPOINT_PATTERN)] = Field(
        default=DEFAULT_ENDPOINT, alias="METAROUTER_ENDPOINT"
    )
    mode: ForwardMode = Field(default="batch", alias="FORWARD_MODE")
    secret_max_age: Annotated[int, Field(ge=0)] = Field(default=300, alias="SECRET_MAX_AGE_SECONDS")
    # SDKs flush at 100 events (segment-analytics-python's upload_size): requests the upstream knows.
    max_batch_events: Annotated[int, Field(ge=1, le=2500)] = Field(
        default=100, alias="UPSTREAM_MAX_BATCH_EVENTS"
    )
    max_batch_bytes: Annotated[int, Field(ge=1024, le=500 * 1024)] = Field(
        default=500 * 1024, alias="UPSTREAM_MAX_BATCH_BYTES"
    )
    connect_timeout: Annotated[float, Field(gt=0)] = Field(
        default=2.0, alias="UPSTREAM_CONNECT_TIMEOUT_SECONDS"
    )
    read_timeout: Annotated[float, Field(gt=0)] = Field(default=10.0, alias="UPSTREAM_READ_TIMEOUT_SECONDS")
    max_attempts: Annotated[int, Field(ge=1, le=20)] = Field(default=5, alias="UPSTREAM_MAX_ATTEMPTS")
    backoff_base: Annotated[float, Field(ge=0)] = Field(default=0.2, alias="UPSTREAM_BACKOFF_BASE_SECONDS")
    backoff_max: Annotated[float, Field(ge=0)] = Field(default=5.0, alias="UPSTREAM_BACKOFF_MAX_SECONDS")
    concurrency: Annotated[int, Field(ge=1, le=64)] = Field(default=8, alias="UPSTREAM_CONCURRENCY")
    # Gzip request bodies (Content-Encoding: gzip): fewer bytes out of AWS, some CPU.
    gzip: bool = Field(default=False, alias="UPSTREAM_GZIP")
    # Kept back from the invocation's remaining time to park dead letters and answer.
    time_margin: Annotated[float, Field(ge=0)] = Field(default=2.0, alias="FORWARD_TIME_MARGIN_SECONDS")
    # Where the events of a message not all delivered go back to (unset: the whole message is
    # redelivered by SQS, as before).
    events_queue_url: str | None = Field(default=None, alias="EVENTS_QUEUE_URL")
    # The events queue's redrive policy's maxReceiveCount: events still failing after that many
    # deliveries, counted across the messages they were sent back in, are parked.
    max_receive_count: Annotated[int, Field(ge=1, le=1000)] = Field(default=5, alias="MAX_RECEIVE_COUNT")
    # The events queue's visibility timeout: events sent back wait as long as a redelivery would
    # (SQS allows at most 900 s of delay).
    requeue_delay: Annotated[int, Field(ge=0, le=900)] = Field(default=360, alias="REQUEUE_DELAY_SECONDS")
    # Effectively-once delivery: skip events delivered to their Source within this many hours,
    # as recorded in DEDUPE_TABLE_NAME (0, or no table: off).
    dedupe_window_hours: Annotated[int, Field(ge=0, le=8760)] = Field(default=0, alias="DEDUPE_WINDOW_HOURS")
    dedupe_table: str | None = Field(default=None, alias="DEDUPE_TABLE_NAME")

    @field_validator("endpoint")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")
