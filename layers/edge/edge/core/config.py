"""Typed configuration of each function, read from the environment once at start-up.

Each setting is a field of a frozen dataclass that names its variable and its constraint.
pydantic-core — the engine under pydantic, which both functions load anyway for their JSON —
checks the environment against those constraints, with pydantic's coercions (``"60"`` is 60,
``"true"`` is True) and its ``ValidationError``, which names each variable it refuses. The
settings are not pydantic models: importing pydantic's model machinery costs ~30 ms of a cold
start, and the forwarder needs it for nothing else (docs/performance.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Final, Literal, Self, get_args

from pydantic_core import SchemaValidator

if TYPE_CHECKING:
    from pydantic_core import CoreSchema

__all__ = [
    "COOKIE_DOMAIN_PATTERN",
    "DEFAULT_ENDPOINT",
    "ENDPOINT_PATTERN",
    "ArchiveSettings",
    "BotPolicy",
    "ConsentPlatform",
    "ConsentWhenMissing",
    "ForwardMode",
    "ForwardSettings",
    "GpcPolicy",
    "IngestSettings",
    "IpPolicy",
    "PlanMode",
    "variable_schema",
]

#: SQS's classic message size limit; raise it only if your queues allow more (up to 1 MiB).
DEFAULT_MAX_MESSAGE_BYTES: Final = 256 * 1024
#: The seed's MetaRouter endpoint; customers with their own cluster set theirs.
DEFAULT_ENDPOINT: Final = "https://e.metarouter.io"
#: The upstream base URLs the forwarder accepts, and ``template.yaml``'s ``MetaRouterEndpoint``
#: ``AllowedPattern`` (a template test holds them equal): https to any host, plain http only to a
#: loopback address (the local stand-in), an optional port and path; no query, fragment or
#: credentials. ASCII classes only, so Python, pydantic-core's Rust engine and CloudFormation's
#: Java engine read it alike.
ENDPOINT_PATTERN: Final = (
    r"^(https://[A-Za-z0-9.-]+|http://(127\.0\.0\.1|localhost))(:[0-9]{1,5})?(/[A-Za-z0-9._~%/-]*)?$"
)

#: ``CookieDomain``: a registrable domain or subdomain (``example.com``), or ``localhost``; the
#: template's ``AllowedPattern`` is the same.
COOKIE_DOMAIN_PATTERN: Final = (
    r"^(|localhost|([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9])$"
)

ForwardMode = Literal["batch", "per-call"]
#: What ingest does with a client's IP: keep it, zero its host part, or drop it (``edge.ingest.enrichment``).
IpPolicy = Literal["keep", "anonymize", "drop"]
#: The privacy controls' choices (``edge.ingest.privacy``).
BotPolicy = Literal["keep", "flag", "drop"]
GpcPolicy = Literal["ignore", "anonymize", "drop"]
ConsentWhenMissing = Literal["forward", "drop"]
#: The consent platform whose cookie ingest reads (``edge.ingest.consent``), or none.
ConsentPlatform = Literal["none", "onetrust", "cookiebot"]
#: What ingest does with the tracking plan's verdicts (``edge.ingest.plan``).
PlanMode = Literal["off", "observe", "flag", "omit", "block"]


def _setting(variable: str, schema: CoreSchema, default: Any = MISSING) -> Any:
    """A settings field read from ``variable`` and checked against ``schema`` (required without a default)."""
    return field(default=default, metadata={"variable": variable, "schema": schema})


def _text(pattern: str | None = None) -> CoreSchema:
    return {"type": "str", "pattern": pattern} if pattern else {"type": "str"}


def _whole(*, ge: int, le: int | None = None) -> CoreSchema:
    return {"type": "int", "ge": ge, "le": le} if le is not None else {"type": "int", "ge": ge}


def _seconds(*, ge: float | None = None, gt: float | None = None) -> CoreSchema:
    return {"type": "float", "ge": ge} if ge is not None else {"type": "float", "gt": gt}


def _choice(choices: Any) -> CoreSchema:
    return {"type": "literal", "expected": list(get_args(choices))}


def _optional(schema: CoreSchema) -> CoreSchema:
    return {"type": "nullable", "schema": schema}


def _then(schema: CoreSchema, function: Callable[[Any], Any]) -> CoreSchema:
    return {"type": "function-after", "function": {"type": "no-info", "function": function}, "schema": schema}


_FLAG: Final[CoreSchema] = {"type": "bool"}


def variable_schema(settings: type, name: str) -> CoreSchema:
    """The constraint of a settings class's field (the template tests compare patterns with it)."""
    schema: CoreSchema = next(f for f in fields(settings) if f.name == name).metadata["schema"]
    return schema


_VALIDATORS: Final[dict[type, SchemaValidator]] = {}


def _validator(settings: type) -> SchemaValidator:
    """The checker of a settings class's variables, built on first use (one per function)."""
    if settings in _VALIDATORS:
        return _VALIDATORS[settings]
    entries: dict[str, Any] = {}
    for f in fields(settings):
        schema = f.metadata["schema"]
        if f.default is not MISSING:
            schema = {"type": "default", "schema": schema, "default": f.default}
        entries[f.name] = {
            "type": "typed-dict-field",
            "schema": schema,
            "validation_alias": f.metadata["variable"],
            "required": f.default is MISSING,
        }
    schema = {"type": "typed-dict", "fields": entries, "extra_behavior": "ignore"}
    validator = _VALIDATORS[settings] = SchemaValidator(schema, {"title": settings.__name__})
    return validator


class _Settings:
    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        """The settings from ``env`` (default: the process environment); an empty value is unset."""
        source = os.environ if env is None else env
        values = _validator(cls).validate_python({k: v for k, v in source.items() if v != ""})
        return cls(**values)


@dataclass(frozen=True, slots=True)
class IngestSettings(_Settings):
    """Environment of the ingest function."""

    events_queue_url: str = _setting("EVENTS_QUEUE_URL", _text())
    quarantine_queue_url: str = _setting("QUARANTINE_QUEUE_URL", _text())
    edge_secret_id: str = _setting("EDGE_SECRET_ID", _text())
    ip_policy: IpPolicy = _setting("IP_POLICY", _choice(IpPolicy), "keep")
    secret_max_age: int = _setting("SECRET_MAX_AGE_SECONDS", _whole(ge=0), 300)
    max_message_bytes: int = _setting(
        "SQS_MAX_MESSAGE_BYTES", _whole(ge=1024, le=1024 * 1024), DEFAULT_MAX_MESSAGE_BYTES
    )
    # Privacy and data-quality controls (edge.ingest.privacy): off or harmless by default.
    bot_policy: BotPolicy = _setting("BOT_POLICY", _choice(BotPolicy), "flag")
    gpc_policy: GpcPolicy = _setting("GPC_POLICY", _choice(GpcPolicy), "ignore")
    required_consent: str = _setting("REQUIRED_CONSENT", _text(), "")
    consent_when_missing: ConsentWhenMissing = _setting(
        "CONSENT_WHEN_MISSING", _choice(ConsentWhenMissing), "forward"
    )
    consent_cookie: ConsentPlatform = _setting("CONSENT_COOKIE", _choice(ConsentPlatform), "none")
    gpc_opt_out: str = _setting("GPC_OPT_OUT", _text(), "")
    hash_fields: str = _setting("HASH_FIELDS", _text(), "")
    # The tracking plan (edge.ingest.plan): a file in Segment's tracking-plan JSON, relative to
    # the ingest function's code (functions/ingest/), and what is done with its verdicts.
    tracking_plan: str = _setting("TRACKING_PLAN", _text(), "")
    tracking_plan_mode: PlanMode = _setting("TRACKING_PLAN_MODE", _choice(PlanMode), "off")
    # Share of clean successes given an outcome log line; rejections and errors always get one.
    # 1% by default: a line for every beacon would be ~$0.24 of a ~$2 bill per million beacons
    # (docs/performance.md), and ~30 µs of a warm beacon's CPU.
    outcome_log_sample_rate: float = _setting(
        "OUTCOME_LOG_SAMPLE_RATE", {"type": "float", "ge": 0, "le": 1}, 0.01
    )
    # First-party collection (edge.ingest.firstparty): off unless set.
    origin_verify_secret_id: str | None = _setting("ORIGIN_VERIFY_SECRET_ID", _optional(_text()), None)
    require_origin_verify: bool = _setting("REQUIRE_ORIGIN_VERIFY", _FLAG, False)
    cookie_domain: str = _setting("COOKIE_DOMAIN", _text(COOKIE_DOMAIN_PATTERN), "")
    # A year: the cookie outlives any visitor's gap between visits; the browser caps it at 400 days.
    cookie_max_age: int = _setting("COOKIE_MAX_AGE_SECONDS", _whole(ge=1, le=400 * 86400), 365 * 86400)


def _no_trailing_slash(value: str) -> str:
    return value.rstrip("/")


@dataclass(frozen=True, slots=True)
class ForwardSettings(_Settings):
    """Environment of the forward function; every tunable has a default."""

    edge_secret_id: str = _setting("EDGE_SECRET_ID", _text())
    dead_letter_queue_url: str = _setting("DEAD_LETTER_QUEUE_URL", _text())
    endpoint: str = _setting(
        "METAROUTER_ENDPOINT", _then(_text(ENDPOINT_PATTERN), _no_trailing_slash), DEFAULT_ENDPOINT
    )
    mode: ForwardMode = _setting("FORWARD_MODE", _choice(ForwardMode), "batch")
    secret_max_age: int = _setting("SECRET_MAX_AGE_SECONDS", _whole(ge=0), 300)
    # SDKs flush at 100 events (segment-analytics-python's upload_size): requests the upstream knows.
    max_batch_events: int = _setting("UPSTREAM_MAX_BATCH_EVENTS", _whole(ge=1, le=2500), 100)
    max_batch_bytes: int = _setting("UPSTREAM_MAX_BATCH_BYTES", _whole(ge=1024, le=500 * 1024), 500 * 1024)
    connect_timeout: float = _setting("UPSTREAM_CONNECT_TIMEOUT_SECONDS", _seconds(gt=0), 2.0)
    read_timeout: float = _setting("UPSTREAM_READ_TIMEOUT_SECONDS", _seconds(gt=0), 10.0)
    max_attempts: int = _setting("UPSTREAM_MAX_ATTEMPTS", _whole(ge=1, le=20), 5)
    backoff_base: float = _setting("UPSTREAM_BACKOFF_BASE_SECONDS", _seconds(ge=0), 0.2)
    backoff_max: float = _setting("UPSTREAM_BACKOFF_MAX_SECONDS", _seconds(ge=0), 5.0)
    concurrency: int = _setting("UPSTREAM_CONCURRENCY", _whole(ge=1, le=64), 8)
    # Gzip request bodies (Content-Encoding: gzip): fewer bytes out of AWS, some CPU.
    gzip: bool = _setting("UPSTREAM_GZIP", _FLAG, False)
    # Kept back from the invocation's remaining time to park dead letters and answer.
    time_margin: float = _setting("FORWARD_TIME_MARGIN_SECONDS", _seconds(ge=0), 2.0)
    # Where the events of a message not all delivered go back to (unset: the whole message is
    # redelivered by SQS, as before).
    events_queue_url: str | None = _setting("EVENTS_QUEUE_URL", _optional(_text()), None)
    # The events queue's redrive policy's maxReceiveCount: events still failing after that many
    # deliveries, counted across the messages they were sent back in, are parked.
    max_receive_count: int = _setting("MAX_RECEIVE_COUNT", _whole(ge=1, le=1000), 5)
    # The events queue's visibility timeout: events sent back wait as long as a redelivery would
    # (SQS allows at most 900 s of delay).
    requeue_delay: int = _setting("REQUEUE_DELAY_SECONDS", _whole(ge=0, le=900), 420)
    # Effectively-once delivery: skip events delivered to their Source within this many hours,
    # as recorded in DEDUPE_TABLE_NAME (0, or no table: off).
    dedupe_window_hours: int = _setting("DEDUPE_WINDOW_HOURS", _whole(ge=0, le=8760), 0)
    dedupe_table: str | None = _setting("DEDUPE_TABLE_NAME", _optional(_text()), None)
    # The archive: what MetaRouter confirmed goes to this queue, for the archive function to
    # write to the bucket (unset: no archive).
    archive_queue_url: str | None = _setting("ARCHIVE_QUEUE_URL", _optional(_text()), None)


@dataclass(frozen=True, slots=True)
class ArchiveSettings(_Settings):
    """Environment of the archive function."""

    bucket: str = _setting("ARCHIVE_BUCKET_NAME", _text())
