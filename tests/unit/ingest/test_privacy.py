"""The privacy and data-quality controls, each on its own, without AWS."""

from __future__ import annotations

import hashlib

import pytest

from edge.ingest.privacy import (
    NO_PRIVACY,
    Filtered,
    PrivacyPolicy,
    crawler_detector,
    hash_fields,
    hash_value,
)

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; "
    "+http://www.google.com/bot.html) Chrome/131.0.6778.69 Safari/537.36"
)
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/131.0.0.0 Safari/537.36"
)
GPTBOT = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
)


def _policy(**settings: str) -> PrivacyPolicy:
    values = {
        "bot_policy": "keep",
        "gpc_policy": "ignore",
        "required_consent": "",
        "consent_when_missing": "forward",
        "hash_fields": "",
        **settings,
    }
    return PrivacyPolicy.configure(**values)  # type: ignore[arg-type]


# -- bots --------------------------------------------------------------------------------------


@pytest.mark.parametrize("agent", [GOOGLEBOT, HEADLESS, GPTBOT, "python-requests/2.32.3", "curl/8.5.0"])
def test_the_crawler_list_recognises_crawlers_and_scripts(agent):
    assert crawler_detector()(agent) is True


@pytest.mark.parametrize("agent", [CHROME, SAFARI_IPHONE, "Mozilla/5.0 " + "A" * 500])
def test_the_crawler_list_lets_browsers_through(agent):
    assert crawler_detector()(agent) is False


def test_a_bot_s_browser_events_are_flagged():
    request = _policy(bot_policy="flag").for_request({"user-agent": GOOGLEBOT}, "keep")
    event = {"type": "page", "context": {"library": {"name": "analytics.js"}}}
    assert request.filtered(event, None) is None
    assert request.flag(event) is True
    assert event["context"] == {"library": {"name": "analytics.js"}, "isBot": True}


@pytest.mark.parametrize(
    "library",
    ["analytics-python", "analytics-node", "rudder-sdk-python", "analytics-kotlin", "analytics-swift"],
)
@pytest.mark.parametrize("bot_policy", ["flag", "drop"])
def test_server_and_mobile_sdk_events_are_never_flagged_or_dropped(library, bot_policy):
    request = _policy(bot_policy=bot_policy).for_request({"user-agent": "python-requests/2.32.3"}, "keep")
    event = {"type": "track", "context": {"library": {"name": library}}}
    assert request.filtered(event, None) is None
    assert request.flag(event) is False
    assert "isBot" not in event["context"]


def test_the_sdk_exemption_also_comes_from_the_batch_s_context():
    request = _policy(bot_policy="drop").for_request({"user-agent": "okhttp/4.12.0"}, "keep")
    assert request.filtered({"type": "track"}, {"library": {"name": "analytics-java"}}) is None
    assert request.filtered({"type": "track"}, None) == Filtered.BOT


def test_a_bot_s_events_are_dropped_when_the_policy_says_so():
    request = _policy(bot_policy="drop").for_request({"user-agent": HEADLESS}, "keep")
    assert request.filtered({"type": "track", "context": {}}, None) == Filtered.BOT


def test_keep_never_looks_at_the_user_agent():
    policy = _policy(bot_policy="keep")
    assert policy.is_crawler is None
    request = policy.for_request({"user-agent": GOOGLEBOT}, "keep")
    event = {"type": "page", "context": {}}
    assert (request.filtered(event, None), request.flag(event)) == (None, False)


def test_a_browser_is_neither_flagged_nor_dropped():
    for bot_policy in ("flag", "drop"):
        request = _policy(bot_policy=bot_policy).for_request({"user-agent": CHROME}, "keep")
        event = {"type": "page", "context": {}}
        assert (request.filtered(event, None), request.flag(event)) == (None, False)


# -- Global Privacy Control --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip_policy", "expected"), [("keep", "anonymize"), ("anonymize", "anonymize"), ("drop", "drop")]
)
def test_gpc_anonymize_makes_the_ip_policy_at_least_anonymize(ip_policy, expected):
    request = _policy(gpc_policy="anonymize").for_request({"sec-gpc": "1"}, ip_policy)
    assert request.ip_policy == expected
    assert request.filtered({"type": "track"}, None) is None


@pytest.mark.parametrize("header", [{}, {"sec-gpc": "0"}, {"sec-gpc": ""}])
def test_without_gpc_the_ip_policy_stands(header):
    request = _policy(gpc_policy="anonymize").for_request(header, "keep")
    assert request.ip_policy == "keep"


def test_gpc_drop_filters_every_event_of_the_request():
    request = _policy(gpc_policy="drop").for_request({"sec-gpc": " 1 "}, "keep")
    assert request.filtered({"type": "track"}, None) == Filtered.GPC
    assert _policy(gpc_policy="ignore").for_request({"sec-gpc": "1"}, "keep").filtered({}, None) is None


# -- consent -----------------------------------------------------------------------------------


def _consent(**preferences: bool) -> dict:
    return {"type": "track", "context": {"consent": {"categoryPreferences": preferences}}}


@pytest.mark.parametrize(
    ("event", "filtered"),
    [
        (_consent(analytics=True, marketing=True), None),
        (_consent(analytics=True, marketing=False), Filtered.CONSENT),
        (_consent(analytics=False), Filtered.CONSENT),
        (_consent(analytics=True), None),  # marketing not stated: not denied
        (_consent(analytics=True, advertising=False), None),  # not a required category
        ({"type": "track", "context": {}}, None),  # no consent object: forwarded by default
        ({"type": "track", "context": {"consent": {"categoryPreferences": "yes"}}}, None),
    ],
)
def test_an_event_denying_a_required_category_is_filtered(event, filtered):
    request = _policy(required_consent="analytics, marketing").for_request({}, "keep")
    assert request.filtered(event, None) == filtered


def test_without_a_consent_object_events_can_be_dropped_instead():
    request = _policy(required_consent="analytics", consent_when_missing="drop").for_request({}, "keep")
    assert request.filtered({"type": "track"}, None) == Filtered.CONSENT
    assert request.filtered(_consent(analytics=True), None) is None


def test_the_batch_s_context_carries_consent_for_items_without_their_own():
    request = _policy(required_consent="analytics").for_request({}, "keep")
    batch_context = {"consent": {"categoryPreferences": {"analytics": False}}}
    assert request.filtered({"type": "track"}, batch_context) == Filtered.CONSENT
    assert request.filtered(_consent(analytics=True), batch_context) is None


def test_no_consent_categories_means_consent_is_not_looked_at():
    request = NO_PRIVACY.for_request({}, "keep")
    assert request.filtered(_consent(analytics=False), None) is None


# -- hashing -----------------------------------------------------------------------------------


def test_a_value_is_hashed_trimmed_and_lower_cased():
    expected = hashlib.sha256(b"ada@example.com").hexdigest()
    assert hash_value("  Ada@Example.COM ") == expected
    assert hash_value(expected) == expected  # never hashed twice
    assert hash_value(expected.upper()) != expected.upper()  # not lower-case hex: a value like any


def test_hash_fields_hashes_strings_at_dotted_paths_in_place():
    paths = (("traits", "email"), ("context", "traits", "email"), ("properties", "phone"), ("userId",))
    event = {
        "userId": "U-1",
        "traits": {"email": "ada@example.com", "name": "Ada"},
        "context": {"traits": {"email": 42}},
        "properties": "not an object",
    }
    assert hash_fields(event, paths) == 2
    assert event["traits"] == {"email": hashlib.sha256(b"ada@example.com").hexdigest(), "name": "Ada"}
    assert event["userId"] == hashlib.sha256(b"u-1").hexdigest()
    assert event["context"] == {"traits": {"email": 42}}  # only strings are hashed
    assert hash_fields(event, paths) == 0  # a second pass changes nothing


def test_configured_paths_are_parsed_from_the_comma_list():
    policy = _policy(hash_fields=" traits.email , ,context.traits.email")
    assert policy.hash_paths == (("traits", "email"), ("context", "traits", "email"))
