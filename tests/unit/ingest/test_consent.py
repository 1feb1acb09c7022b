"""The consent control without AWS: the consent platforms' cookies as they write them, MetaRouter's
consent object and its string repair, and which consent wins (event, batch, cookie, GPC)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.ingest.consent import (
    MAX_CONSENT_COOKIE_CHARS,
    ConsentCount,
    ConsentPolicy,
    PlatformConsent,
    read_cookiebot,
    read_onetrust,
)
from edge.ingest.repairs import Repair

# -- the cookies, as the platforms write them ---------------------------------------------------

#: OneTrust's OptanonConsent after the visitor saved their choices in the banner (the value as the
#: browser sends it: a query string whose values are URL-encoded).
ONETRUST_CHOSEN = (
    "isGpcEnabled=0&datestamp=Tue+Nov+14+2023+23%3A13%3A20+GMT%2B0100+(Central+European+Standard+Time)"
    "&version=202310.2.0&browserGpcFlag=0&isIABGlobal=false&hosts=&consentId=0b7c4a12-5d1e-4c8e-9f3a-"
    "2e6d8b1c4f70&interactionCount=1&isAnonUser=1&landingPath=NotLandingPage"
    "&groups=C0001%3A1%2CC0002%3A0%2CC0003%3A1%2CC0004%3A0%2CC0005%3A1&AwaitingReconsent=false"
    "&geolocation=US%3BCA"
)
#: On the landing page, before any choice: OneTrust's defaults, every group on.
ONETRUST_LANDING = (
    "isGpcEnabled=0&datestamp=Tue+Nov+14+2023+23%3A10%3A02+GMT%2B0100+(Central+European+Standard+Time)"
    "&version=202310.2.0&browserGpcFlag=0&isIABGlobal=false&hosts=&landingPath=https%3A%2F%2F"
    "www.example.com%2Fshop%2F&groups=C0001%3A1%2CC0002%3A1%2CC0003%3A1%2CC0004%3A1"
)
#: A site with IAB TCF stacks among its groups, a visitor who came back on another page.
ONETRUST_IAB = (
    "isGpcEnabled=1&datestamp=Wed+Nov+15+2023+09%3A01%3A44+GMT-0500+(Eastern+Standard+Time)"
    "&version=202309.1.0&browserGpcFlag=1&isIABGlobal=false&hosts=&consentId=f1e2d3c4&interactionCount=0"
    "&isAnonUser=1&landingPath=NotLandingPage&groups=C0001%3A1%2CC0003%3A1%2CSTACK42%3A0%2CV2STACK42%3A0"
    "%2CSPD_BG%3A1&AwaitingReconsent=false&geolocation=US%3BNY"
)
#: Cookiebot's CookieConsent: a URL-encoded JavaScript object.
COOKIEBOT_EXPLICIT = (
    "{stamp:%27Zx8r/3q+Vb6T0pWmLkE1cA9sH0dE2aF3cB1kN4mJ5lP6oI7==%27%2Cnecessary:true%2Cpreferences:false"
    "%2Cstatistics:true%2Cmarketing:false%2Cmethod:%27explicit%27%2Cver:1%2Cutc:1700000000000"
    "%2Cregion:%27us-06%27}"
)
COOKIEBOT_IMPLIED = (
    "{stamp:%27-3aRLDhS0wD4aqW1Jq5u9VxqgFf2jBdR3k0Yd3d7Z1Q0q6pXwZrT2Q==%27%2Cnecessary:true"
    "%2Cpreferences:true%2Cstatistics:true%2Cmarketing:true%2Cmethod:%27implied%27%2Cver:3"
    "%2Cutc:1700000001234%2Ciab2:%27CP1xYzAP1xYzAAGABCENAeEgAAAAAAAAAAAAAAAAAAAA%27"
    "%2Cgacm:%272~~dv.2072.70.89~%27%2Cregion:%27de%27}"
)


def test_onetrust_s_groups_become_opt_outs_and_a_saved_choice_is_explicit() -> None:
    assert read_onetrust(ONETRUST_CHOSEN) == PlatformConsent(
        True, {"C0001": False, "C0002": True, "C0003": False, "C0004": True, "C0005": False}
    )


def test_onetrust_s_defaults_on_the_landing_page_are_not_explicit() -> None:
    consent = read_onetrust(ONETRUST_LANDING)
    assert consent is not None
    assert consent.explicit is False
    assert consent.as_object() == {
        "explicit": False,
        "optOut": {"C0001": False, "C0002": False, "C0003": False, "C0004": False},
    }


def test_onetrust_s_iab_groups_are_categories_too_and_leaving_the_landing_page_is_a_choice() -> None:
    consent = read_onetrust(ONETRUST_IAB)
    assert consent is not None
    assert consent.explicit is True
    assert dict(consent.opt_out) == {
        "C0001": False,
        "C0003": False,
        "STACK42": True,
        "V2STACK42": True,
        "SPD_BG": False,
    }


@pytest.mark.parametrize(
    "value",
    [
        f'"{ONETRUST_CHOSEN}"',  # quoted by a server that set it
        quote(ONETRUST_CHOSEN, safe=""),  # the whole value encoded once more
    ],
)
def test_onetrust_s_cookie_is_read_however_it_was_wrapped(value: str) -> None:
    assert read_onetrust(value) == read_onetrust(ONETRUST_CHOSEN)


def test_cookiebot_s_categories_become_opt_outs_and_its_method_says_explicit() -> None:
    assert read_cookiebot(COOKIEBOT_EXPLICIT) == PlatformConsent(
        True, {"necessary": False, "preferences": True, "statistics": False, "marketing": True}
    )
    assert read_cookiebot(COOKIEBOT_IMPLIED) == PlatformConsent(
        False, {"necessary": False, "preferences": False, "statistics": False, "marketing": False}
    )


def test_cookiebot_outside_a_consent_region_opts_nothing_out() -> None:
    assert read_cookiebot("-1") == PlatformConsent(
        False, {"necessary": False, "preferences": False, "statistics": False, "marketing": False}
    )


@pytest.mark.parametrize(
    "value",
    [
        quote(
            "{stamp:'abc==',necessary:true,preferences:true,statistics:false,marketing:false,method:'explicit',ver:1}",
            safe="",
        ),
        "{stamp:'abc==',necessary:true,preferences:true,statistics:false,marketing:false,method:'explicit',ver:1}",
    ],
)
def test_cookiebot_s_cookie_is_read_encoded_or_not(value: str) -> None:
    assert read_cookiebot(value) == PlatformConsent(
        True, {"necessary": False, "preferences": False, "statistics": True, "marketing": True}
    )


UNREADABLE_ONETRUST = [
    ONETRUST_CHOSEN[: ONETRUST_CHOSEN.index("C0004") + 7],  # cut inside a group: C0004%3
    ONETRUST_CHOSEN.replace("groups=", "grps="),  # no groups
    ONETRUST_CHOSEN.replace("C0002%3A0", "C0002%3Ayes"),
    ONETRUST_CHOSEN.replace("C0002%3A0", "C0002%3A0%3A1"),
    "groups=",
    COOKIEBOT_EXPLICIT,  # another platform's
    "",
    "&&&===",
    "groups=" + "%2C".join(f"C{n:04}%3A1" for n in range(200)),  # more groups than any site has
    "groups=" + "%2C".join(f"C{n:04}%3A0" for n in range(80)),  # more than an event may carry
    ONETRUST_CHOSEN + "&x=" + "y" * MAX_CONSENT_COOKIE_CHARS,  # larger than a browser keeps
]
UNREADABLE_COOKIEBOT = [
    COOKIEBOT_EXPLICIT[:-1],  # no closing brace: cut short
    COOKIEBOT_EXPLICIT[: COOKIEBOT_EXPLICIT.index("marketing")],
    COOKIEBOT_EXPLICIT.replace("marketing:false", "marketing:0"),
    COOKIEBOT_EXPLICIT.replace("%2Cstatistics:true", ""),
    COOKIEBOT_EXPLICIT.replace("%27us-06%27", "%27us-06"),  # an unterminated string
    ONETRUST_CHOSEN,
    "0",
    "{}",
    "{" + "a:1," * 2000 + "}",
    "",
]


def test_a_cookie_s_consent_is_read_up_to_what_an_event_may_carry() -> None:
    most = read_onetrust("groups=" + "%2C".join(f"C{n:04}%3A0" for n in range(50)))
    assert most is not None
    assert len(most.opt_out) == 50
    assert most.size <= 896


@pytest.mark.parametrize("value", UNREADABLE_ONETRUST)
def test_a_onetrust_cookie_that_cannot_be_read_is_none(value: str) -> None:
    assert read_onetrust(value) is None


@pytest.mark.parametrize("value", UNREADABLE_COOKIEBOT)
def test_a_cookiebot_cookie_that_cannot_be_read_is_none(value: str) -> None:
    assert read_cookiebot(value) is None


@settings(max_examples=400, deadline=None)
@given(
    value=st.one_of(
        st.text(max_size=300),
        st.text(alphabet="{}:,'%23CAtruefalsgp=&-1 ", max_size=200),
        st.builds(
            lambda n, s: ONETRUST_CHOSEN[:n] + s, st.integers(0, len(ONETRUST_CHOSEN)), st.text(max_size=20)
        ),
        st.builds(
            lambda n, s: COOKIEBOT_EXPLICIT[:n] + s,
            st.integers(0, len(COOKIEBOT_EXPLICIT)),
            st.text(max_size=20),
        ),
    )
)
def test_no_cookie_value_makes_a_reader_raise(value: str) -> None:
    for read in (read_onetrust, read_cookiebot):
        consent = read(value)
        assert consent is None or all(isinstance(v, bool) for v in consent.opt_out.values())


# -- the control on one request --------------------------------------------------------------


def _policy(required: str = "", **options: Any) -> ConsentPolicy:
    return ConsentPolicy.configure(required=required, **options)


def _event(consent: Any = None, **context: Any) -> dict[str, Any]:
    if consent is not None:
        context["consent"] = consent
    return {"type": "track", "event": "Viewed", "context": context}


def _stamped(request: Any, event: dict[str, Any]) -> tuple[Any, Counter[str]]:
    """``event`` as enriched (its context a copy) and stamped; its consent and the counts."""
    counts: Counter[str] = Counter()
    enriched = {**event, "context": dict(event.get("context") or {})}
    request.stamp(enriched, counts, counts)
    return enriched["context"].get("consent"), counts


ONETRUST_POLICY = {"platform": "onetrust"}


def test_an_event_without_consent_gets_the_cookie_s_in_metarouter_s_format() -> None:
    request = _policy(**ONETRUST_POLICY).for_request([f"OptanonConsent={ONETRUST_CHOSEN}"], gpc=False)
    consent, counts = _stamped(request, _event())
    assert consent == {
        "explicit": True,
        "optOut": {"C0001": False, "C0002": True, "C0003": False, "C0004": True, "C0005": False},
    }
    assert counts == {ConsentCount.FROM_COOKIE: 1, ConsentCount.OPTED_OUT: 1}


def test_the_cookie_is_found_among_the_request_s_others_and_a_lookalike_is_not_it() -> None:
    cookies = [
        "ajs_anonymous_id=a-1",
        "OptanonAlertBoxClosed=2023-11-14T22:13:20.000Z",
        f"XOptanonConsent={ONETRUST_LANDING}",
        f" OptanonConsent={ONETRUST_CHOSEN}",
    ]
    request = _policy(**ONETRUST_POLICY).for_request(cookies, gpc=False)
    assert request.cookie == read_onetrust(ONETRUST_CHOSEN)
    assert not request.unreadable


def test_an_event_s_own_consent_object_is_never_overwritten_by_the_cookie() -> None:
    request = _policy(**ONETRUST_POLICY).for_request([f"OptanonConsent={ONETRUST_CHOSEN}"], gpc=False)
    for own in (
        {"explicit": False, "optOut": {"C0004": False}},
        {"categoryPreferences": {"C0004": True}},
    ):
        consent, counts = _stamped(request, _event(own))
        assert consent == own
        assert ConsentCount.FROM_COOKIE not in counts


def test_a_consent_object_in_neither_format_keeps_its_keys_and_gets_the_cookie_s_opt_outs() -> None:
    request = _policy(**ONETRUST_POLICY).for_request([f"OptanonConsent={ONETRUST_LANDING}"], gpc=False)
    consent, _ = _stamped(request, _event({"explicit": True, "gdprApplies": True}))
    assert consent == {
        "explicit": True,
        "gdprApplies": True,
        "optOut": {"C0001": False, "C0002": False, "C0003": False, "C0004": False},
    }


def test_the_batch_s_consent_object_stands_for_items_without_their_own() -> None:
    request = _policy("C0004", **ONETRUST_POLICY).for_request(
        [f"OptanonConsent={ONETRUST_LANDING}"], gpc=False
    )
    batch_context = {"consent": {"optOut": {"C0004": True}}}
    assert request.denies(_event(), batch_context) is True  # the batch's, not the cookie's
    assert request.denies(_event({"optOut": {"C0004": False}}), batch_context) is False
    assert request.denies(_event(), None) is False  # the cookie's: C0004 on


def test_without_a_readable_cookie_nothing_is_stamped_and_an_unreadable_one_is_flagged() -> None:
    policy = _policy(**ONETRUST_POLICY)
    absent = policy.for_request(["ajs_anonymous_id=a-1"], gpc=False)
    assert (absent.cookie, absent.unreadable) == (None, False)
    broken = policy.for_request([f"OptanonConsent={ONETRUST_CHOSEN[:300]}"], gpc=False)
    assert (broken.cookie, broken.unreadable) == (None, True)
    assert _stamped(broken, _event()) == (None, Counter())


def test_a_readable_copy_of_the_cookie_wins_over_an_unreadable_one() -> None:
    cookies = ["OptanonConsent=garbage", f"OptanonConsent={ONETRUST_CHOSEN}"]
    request = _policy(**ONETRUST_POLICY).for_request(cookies, gpc=False)
    assert (request.cookie, request.unreadable) == (read_onetrust(ONETRUST_CHOSEN), False)


def test_with_no_platform_configured_the_cookie_is_not_read() -> None:
    request = _policy("C0004").for_request([f"OptanonConsent={ONETRUST_CHOSEN}"], gpc=False)
    assert request.cookie is None
    assert request.denies(_event(), None) is False
    assert _stamped(request, _event()) == (None, Counter())


def test_cookiebot_s_cookie_is_stamped_under_its_own_category_names() -> None:
    request = _policy("marketing", platform="cookiebot").for_request(
        [f"CookieConsent={COOKIEBOT_EXPLICIT}"], gpc=False
    )
    assert request.denies(_event(), None) is True
    consent, _ = _stamped(request, _event())
    assert consent == {
        "explicit": True,
        "optOut": {"necessary": False, "preferences": True, "statistics": False, "marketing": True},
    }


# -- MetaRouter's format enforced, its strings repaired -----------------------------------------


@pytest.mark.parametrize(
    ("consent", "denied"),
    [
        ({"optOut": {"C0004": True}}, True),
        ({"optOut": {"C0004": "true"}}, True),
        ({"optOut": {"C0004": " TRUE "}}, True),
        ({"optOut": {"C0004": False}}, False),
        ({"optOut": {"C0004": "false"}}, False),  # Lua's truthy string: read as the boolean it names
        ({"optOut": {"C0004": 1}}, False),  # anything else is no opt-out
        ({"optOut": {"C0004": "yes"}}, False),
        ({"optOut": {"C0004": None}}, False),
        ({"optOut": {"C0002": True}}, False),  # not a required category
        ({"optOut": "C0004"}, False),
        ({"categoryPreferences": {"C0004": False}}, True),  # Segment's format as before
        ({"categoryPreferences": {"C0004": True}, "optOut": {"C0004": True}}, True),
        ({"categoryPreferences": {"C0004": False}, "optOut": {"C0004": False}}, True),
    ],
)
def test_a_required_category_denied_or_opted_out_in_either_format_drops_the_event(
    consent: dict[str, Any], denied: bool
) -> None:
    request = _policy("C0004").for_request([], gpc=False)
    assert request.denies(_event(consent), None) is denied
    assert request.denies({"type": "track"}, {"consent": consent}) is denied


def test_opt_out_strings_are_forwarded_as_booleans_and_counted_once_per_event() -> None:
    request = _policy().for_request([], gpc=False)
    own = {
        "explicit": "true",
        "optOut": {"C0001": "false", "C0002": "true", "C0003": " False", "C0004": "yes", "C0005": 1},
    }
    consent, counts = _stamped(request, _event(own))
    assert consent == {
        "explicit": True,
        "optOut": {"C0001": False, "C0002": True, "C0003": False, "C0004": "yes", "C0005": 1},
    }
    assert counts == {Repair.CONSENT_STRING: 1, ConsentCount.OPTED_OUT: 1}
    assert own["optOut"]["C0002"] == "true"  # the event as sent is not changed (nor a batch's object)


def test_an_opt_out_without_strings_is_forwarded_as_it_came() -> None:
    own = {"optOut": {"C0001": False, "C0004": "yes"}}
    consent, counts = _stamped(_policy().for_request([], gpc=False), _event(own))
    assert consent is own
    assert counts == Counter()


def test_without_any_consent_events_are_forwarded_unless_configured_otherwise() -> None:
    assert _policy("C0004").for_request([], gpc=False).denies(_event(), None) is False
    dropping = _policy("C0004", when_missing="drop", platform="onetrust")
    assert dropping.for_request([], gpc=False).denies(_event(), None) is True
    assert dropping.for_request(["OptanonConsent=junk"], gpc=False).denies(_event(), None) is True
    with_cookie = dropping.for_request([f"OptanonConsent={ONETRUST_LANDING}"], gpc=False)
    assert with_cookie.denies(_event(), None) is False


# -- GPC per category ---------------------------------------------------------------------------

GPC = {"gpc_opt_out": "C0004, C0005"}


def test_gpc_marks_its_categories_opted_out_whatever_the_event_says() -> None:
    request = _policy(**GPC).for_request([], gpc=True)
    own = {"explicit": True, "optOut": {"C0002": False, "C0004": False}}
    consent, counts = _stamped(request, _event(own))
    assert consent == {"explicit": True, "optOut": {"C0002": False, "C0004": True, "C0005": True}}
    assert counts == {ConsentCount.GPC: 1, ConsentCount.OPTED_OUT: 1}
    assert own["optOut"]["C0004"] is False


def test_gpc_creates_metarouter_s_object_when_the_event_has_none() -> None:
    consent, _ = _stamped(_policy(**GPC).for_request([], gpc=True), _event())
    assert consent == {"explicit": False, "optOut": {"C0004": True, "C0005": True}}


def test_gpc_wins_over_the_cookie_and_denies_in_segment_s_format_too() -> None:
    request = _policy(platform="onetrust", **GPC).for_request(
        [f"OptanonConsent={ONETRUST_LANDING}"], gpc=True
    )
    consent, counts = _stamped(request, _event())
    assert consent == {
        "explicit": False,
        "optOut": {"C0001": False, "C0002": False, "C0003": False, "C0004": True, "C0005": True},
    }
    assert counts == {ConsentCount.FROM_COOKIE: 1, ConsentCount.GPC: 1, ConsentCount.OPTED_OUT: 1}
    segment, _ = _stamped(request, _event({"categoryPreferences": {"C0002": True, "C0004": True}}))
    assert segment == {
        "categoryPreferences": {"C0002": True, "C0004": False, "C0005": False},
        "optOut": {"C0004": True, "C0005": True},
    }


def test_gpc_drops_an_event_when_it_opts_out_of_a_required_category() -> None:
    for required, denied in (("C0004", True), ("C0002", False)):
        request = _policy(required, **GPC).for_request([], gpc=True)
        assert request.denies(_event({"optOut": {"C0004": False}}), None) is denied


def test_gpc_is_no_consent_when_events_without_consent_are_dropped() -> None:
    request = _policy("C0002", when_missing="drop", **GPC).for_request([], gpc=True)
    assert request.denies(_event(), None) is True


def test_without_the_header_or_without_categories_gpc_marks_nothing() -> None:
    assert _stamped(_policy(**GPC).for_request([], gpc=False), _event()) == (None, Counter())
    assert _stamped(_policy().for_request([], gpc=True), _event()) == (None, Counter())


def test_a_cookie_is_read_once_for_the_requests_carrying_it_and_what_it_stamps_is_never_changed() -> None:
    policy = _policy("C0002", platform="onetrust", gpc_opt_out="C0005")
    cookies = [f"OptanonConsent={ONETRUST_CHOSEN}"]
    first, again, with_gpc = (
        policy.for_request(cookies, gpc=False),
        policy.for_request(list(cookies), gpc=False),
        policy.for_request(cookies, gpc=True),
    )
    assert first is again
    assert first.stamped == {
        "explicit": True,
        "optOut": {"C0001": False, "C0002": True, "C0003": False, "C0004": True, "C0005": False},
    }
    before = json.dumps([first.stamped, with_gpc.stamped])
    for request in (first, with_gpc):
        for own in (None, {"gdprApplies": True}, {"optOut": {"C0001": "true"}}, {"categoryPreferences": {}}):
            _stamped(request, _event(own))
    assert json.dumps([first.stamped, with_gpc.stamped]) == before
