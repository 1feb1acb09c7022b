"""Each function's environment (IngestSettings, ForwardSettings): defaults, each variable, refusals."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, asdict

import pytest
from pydantic import ValidationError

from edge.core.config import DEFAULT_MAX_MESSAGE_BYTES, ForwardSettings, IngestSettings

REQUIRED = {
    "EVENTS_QUEUE_URL": "https://sqs.example/events",
    "QUARANTINE_QUEUE_URL": "https://sqs.example/quarantine",
    "EDGE_SECRET_ID": "edge/secret",
}


def _refused(env: dict[str, str]) -> list[tuple[object, ...]]:
    """The variables ``IngestSettings`` names in its refusal of ``env``."""
    with pytest.raises(ValidationError) as refusal:
        IngestSettings.from_env(env)
    return [error["loc"] for error in refusal.value.errors()]


def test_defaults_keep_ips_flag_bots_and_turn_the_rest_off():
    settings = IngestSettings.from_env(REQUIRED)
    assert asdict(settings) == {
        "events_queue_url": "https://sqs.example/events",
        "quarantine_queue_url": "https://sqs.example/quarantine",
        "edge_secret_id": "edge/secret",
        "ip_policy": "keep",
        "secret_max_age": 300,
        "max_message_bytes": DEFAULT_MAX_MESSAGE_BYTES,
        "bot_policy": "flag",
        "gpc_policy": "ignore",
        "required_consent": "",
        "consent_when_missing": "forward",
        "consent_cookie": "none",
        "gpc_opt_out": "",
        "hash_fields": "",
        "tracking_plan": "",
        "tracking_plan_mode": "off",
        "outcome_log_sample_rate": 0.01,
        "origin_verify_secret_id": None,
        "require_origin_verify": False,
        "cookie_domain": "",
        "cookie_max_age": 365 * 86400,
    }
    assert DEFAULT_MAX_MESSAGE_BYTES == 256 * 1024


def test_every_variable_is_read_and_parsed_to_its_type():
    settings = IngestSettings.from_env(
        {
            **REQUIRED,
            "IP_POLICY": "anonymize",
            "SECRET_MAX_AGE_SECONDS": "60",
            "SQS_MAX_MESSAGE_BYTES": "1048576",
            "BOT_POLICY": "drop",
            "GPC_POLICY": "anonymize",
            "REQUIRED_CONSENT": "analytics,marketing",
            "CONSENT_WHEN_MISSING": "drop",
            "CONSENT_COOKIE": "cookiebot",
            "GPC_OPT_OUT": "marketing",
            "HASH_FIELDS": "traits.email,properties.phone",
            "TRACKING_PLAN": "plans/example.json",
            "TRACKING_PLAN_MODE": "block",
            "OUTCOME_LOG_SAMPLE_RATE": "0.25",
            "ORIGIN_VERIFY_SECRET_ID": "edge/origin-verify",
            "REQUIRE_ORIGIN_VERIFY": "true",
            "COOKIE_DOMAIN": "shop.example.com",
            "COOKIE_MAX_AGE_SECONDS": "86400",
        }
    )
    assert asdict(settings) == {
        "events_queue_url": "https://sqs.example/events",
        "quarantine_queue_url": "https://sqs.example/quarantine",
        "edge_secret_id": "edge/secret",
        "ip_policy": "anonymize",
        "secret_max_age": 60,
        "max_message_bytes": 1024 * 1024,
        "bot_policy": "drop",
        "gpc_policy": "anonymize",
        "required_consent": "analytics,marketing",
        "consent_when_missing": "drop",
        "consent_cookie": "cookiebot",
        "gpc_opt_out": "marketing",
        "hash_fields": "traits.email,properties.phone",
        "tracking_plan": "plans/example.json",
        "tracking_plan_mode": "block",
        "outcome_log_sample_rate": 0.25,
        "origin_verify_secret_id": "edge/origin-verify",
        "require_origin_verify": True,
        "cookie_domain": "shop.example.com",
        "cookie_max_age": 86400,
    }


def test_an_empty_variable_counts_as_unset():
    settings = IngestSettings.from_env(
        {**REQUIRED, "IP_POLICY": "", "ORIGIN_VERIFY_SECRET_ID": "", "COOKIE_MAX_AGE_SECONDS": ""}
    )
    assert (settings.ip_policy, settings.origin_verify_secret_id, settings.cookie_max_age) == (
        "keep",
        None,
        365 * 86400,
    )


def test_without_a_mapping_the_process_environment_is_read(monkeypatch: pytest.MonkeyPatch):
    for name, value in {**REQUIRED, "IP_POLICY": "drop"}.items():
        monkeypatch.setenv(name, value)
    settings = IngestSettings.from_env()
    assert (settings.events_queue_url, settings.ip_policy) == ("https://sqs.example/events", "drop")


def test_settings_are_frozen():
    settings = IngestSettings.from_env(REQUIRED)
    with pytest.raises(FrozenInstanceError):
        settings.ip_policy = "drop"  # type: ignore[misc]


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_each_required_variable_missing_is_named(name: str):
    assert _refused({k: v for k, v in REQUIRED.items() if k != name}) == [(name,)]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IP_POLICY", "hash"),
        ("SECRET_MAX_AGE_SECONDS", "-1"),
        ("SECRET_MAX_AGE_SECONDS", "five"),
        ("SQS_MAX_MESSAGE_BYTES", "1023"),
        ("SQS_MAX_MESSAGE_BYTES", str(1024 * 1024 + 1)),
        ("BOT_POLICY", "block"),
        ("GPC_POLICY", "keep"),
        ("CONSENT_WHEN_MISSING", "quarantine"),
        ("CONSENT_COOKIE", "OneTrust"),
        ("CONSENT_COOKIE", "didomi"),
        ("OUTCOME_LOG_SAMPLE_RATE", "1.5"),
        ("OUTCOME_LOG_SAMPLE_RATE", "-0.1"),
        ("REQUIRE_ORIGIN_VERIFY", "sometimes"),
        ("COOKIE_DOMAIN", ".example.com"),
        ("COOKIE_DOMAIN", "Example.com"),
        ("COOKIE_DOMAIN", "example"),
        ("COOKIE_MAX_AGE_SECONDS", "0"),
        ("COOKIE_MAX_AGE_SECONDS", str(400 * 86400 + 1)),
    ],
)
def test_an_invalid_value_is_refused_naming_its_variable(name: str, value: str):
    assert _refused({**REQUIRED, name: value}) == [(name,)]


@pytest.mark.parametrize("value", ["localhost", "example.com", "a.b-c.example.co"])
def test_cookie_domains_that_a_browser_takes_are_accepted(value: str):
    assert IngestSettings.from_env({**REQUIRED, "COOKIE_DOMAIN": value}).cookie_domain == value


def test_variables_the_function_does_not_read_are_ignored():
    settings = IngestSettings.from_env({**REQUIRED, "AWS_REGION": "eu-west-1", "FORWARD_MODE": "x"})
    assert settings == IngestSettings.from_env(REQUIRED)


def test_a_refusal_says_which_values_would_do():
    with pytest.raises(ValidationError) as refusal:
        IngestSettings.from_env({**REQUIRED, "IP_POLICY": "hash"})
    assert refusal.value.errors()[0]["msg"] == "Input should be 'keep', 'anonymize' or 'drop'"
    assert "IP_POLICY\n  Input should be 'keep', 'anonymize' or 'drop'" in str(refusal.value)


FORWARD_REQUIRED = {"EDGE_SECRET_ID": "edge/secret", "DEAD_LETTER_QUEUE_URL": "https://sqs.example/dlq"}


def test_forward_defaults():
    settings = ForwardSettings.from_env(FORWARD_REQUIRED)
    assert settings.endpoint == "https://e.metarouter.io"
    assert settings.mode == "batch"
    assert settings.max_batch_bytes == 500 * 1024
    assert settings.max_batch_events == 100
    assert settings.secret_max_age == 300
    assert (settings.connect_timeout, settings.read_timeout) == (2.0, 10.0)
    assert settings.gzip is False


def test_every_forward_tunable_is_read_from_its_variable():
    settings = ForwardSettings.from_env(
        {
            **FORWARD_REQUIRED,
            "METAROUTER_ENDPOINT": "https://acme.metarouter.example/",
            "FORWARD_MODE": "per-call",
            "SECRET_MAX_AGE_SECONDS": "60",
            "UPSTREAM_MAX_BATCH_EVENTS": "50",
            "UPSTREAM_MAX_BATCH_BYTES": "102400",
            "UPSTREAM_CONNECT_TIMEOUT_SECONDS": "1.5",
            "UPSTREAM_READ_TIMEOUT_SECONDS": "4",
            "UPSTREAM_MAX_ATTEMPTS": "3",
            "UPSTREAM_BACKOFF_BASE_SECONDS": "0.1",
            "UPSTREAM_BACKOFF_MAX_SECONDS": "1",
            "UPSTREAM_CONCURRENCY": "4",
            "FORWARD_TIME_MARGIN_SECONDS": "3",
            "UPSTREAM_GZIP": "true",
        }
    )
    assert settings.endpoint == "https://acme.metarouter.example"
    assert settings.mode == "per-call"
    assert (settings.secret_max_age, settings.max_batch_events, settings.max_batch_bytes) == (60, 50, 102400)
    assert (settings.connect_timeout, settings.read_timeout, settings.max_attempts) == (1.5, 4.0, 3)
    assert (settings.backoff_base, settings.backoff_max, settings.concurrency) == (0.1, 1.0, 4)
    assert settings.time_margin == 3.0
    assert settings.gzip is True


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("METAROUTER_ENDPOINT", "e.metarouter.io"),
        ("METAROUTER_ENDPOINT", "ftp://e.metarouter.io"),
        ("METAROUTER_ENDPOINT", "http://e.metarouter.io"),  # plain http only to loopback
        ("METAROUTER_ENDPOINT", "https://e.metarouter.io?debug=1"),
        ("UPSTREAM_GZIP", "maybe"),
        ("FORWARD_MODE", "bulk"),
        ("UPSTREAM_MAX_BATCH_BYTES", str(500 * 1024 + 1)),
        ("UPSTREAM_MAX_BATCH_EVENTS", "0"),
        ("UPSTREAM_READ_TIMEOUT_SECONDS", "0"),
    ],
)
def test_invalid_forward_settings_fail_at_start_up(name, value):
    with pytest.raises(ValidationError):
        ForwardSettings.from_env({**FORWARD_REQUIRED, name: value})


def test_forward_required_variables_are_required():
    with pytest.raises(ValidationError):
        ForwardSettings.from_env({"EDGE_SECRET_ID": "edge/secret"})
