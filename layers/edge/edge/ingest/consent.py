"""Consent: what an event says about it, what the consent platform's cookie says, what GPC says.

Two formats of ``context.consent`` travel in Segment events:

- Segment's: ``categoryPreferences``, category → consented (``false`` is a denial);
- MetaRouter's, which its Advanced Consent Enforcement and playbooks read: ``explicit`` (whether
  the visitor made a choice) and ``optOut``, category → opted out. MetaRouter documents the
  values as ``"true"/"false"``, but its playbooks test them in Lua, where the string ``"false"``
  is true: the edge repairs such strings into the JSON booleans they name.

The event's consent object is its own context's, else its batch's (as enrichment merges them).
An event without one takes the consent platform's cookie, when the deployment reads one
(``CONSENT_COOKIE``): OneTrust's ``OptanonConsent`` or Cookiebot's ``CookieConsent``, turned
into MetaRouter's object. A request with ``Sec-GPC: 1`` then marks the ``GPC_OPT_OUT``
categories as opted out, whatever the event or the cookie says. ``REQUIRED_CONSENT`` drops an
event that denies or opts out of a required category, in either format.

The cookie is read once per request, never raises, and a cookie that cannot be read (cut short,
oversized, another platform's, garbage) is ignored and counted. Everything here is pure.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import unquote, unquote_plus

from pydantic_core import to_json

from edge.core.config import ConsentPlatform, ConsentWhenMissing
from edge.ingest.limits import CONSENT_ALLOWANCE
from edge.ingest.repairs import Repair

__all__ = [
    "CONSENT_COOKIES",
    "MAX_CONSENT_COOKIE_CHARS",
    "NO_CONSENT",
    "ConsentCount",
    "ConsentPolicy",
    "PlatformConsent",
    "RequestConsent",
    "opted_out",
    "read_cookiebot",
    "read_onetrust",
]

#: Browsers keep a cookie of at most 4,096 bytes (name and value): a longer value is not one.
MAX_CONSENT_COOKIE_CHARS: Final = 4096
#: The consent a cookie stamps on each event, at most (50 to 70 categories; real ones have a
#: few): it and GPC's opt-outs fit the request's per-event ``CONSENT_ALLOWANCE``.
_MAX_STAMPED_BYTES: Final = CONSENT_ALLOWANCE - 128
#: Categories one cookie may name; OneTrust's groups, IAB stacks included, are a few dozen.
_MAX_CATEGORIES: Final = 128
#: OneTrust's ``groups``, decoded: ``<category>:<0 or 1>`` separated by commas.
_ONETRUST_GROUPS: Final = re.compile(r"[A-Za-z0-9_-]{1,64}:[01](?:,[A-Za-z0-9_-]{1,64}:[01]){0,127}")
#: One ``name:value`` of Cookiebot's object: a quoted string, or a bare word or number.
_COOKIEBOT_PAIR: Final = re.compile(
    r"([A-Za-z_][A-Za-z0-9_]{0,63}):('[^']{0,2048}'|[A-Za-z0-9_.+-]{0,64})(,|$)"
)
_COOKIEBOT_CATEGORIES: Final = ("necessary", "preferences", "statistics", "marketing")


class ConsentCount:
    """What the consent control counts per forwarded event, for the outcome line (``make tail``);
    the metric ``EventsConsentFromCookie`` counts the first. An event dropped as opted out is
    ``EventsFiltered``'s ``consent``; a string repaired, ``EventsRepaired``'s ``consent_string``."""

    FROM_COOKIE: Final = "from_cookie"
    GPC: Final = "gpc"
    OPTED_OUT: Final = "opted_out"


@dataclass(frozen=True, slots=True)
class PlatformConsent:
    """A consent platform's cookie read as MetaRouter's consent object. Never changed once read
    (its mappings are plain dicts for speed, not to be written): the reading is shared with the
    next request carrying the same cookie."""

    explicit: bool
    opt_out: Mapping[str, bool]
    #: Whether any category is opted out.
    opts_out: bool = field(init=False, compare=False, repr=False)
    #: MetaRouter's ``context.consent`` made of it, shared by every event it is stamped on: never
    #: changed (events are serialized as soon as they are stamped).
    stamped: Mapping[str, Any] = field(init=False, compare=False, repr=False)
    #: Bytes of that object (within ``_MAX_STAMPED_BYTES`` for a cookie that is read).
    size: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "opts_out", True in self.opt_out.values())
        object.__setattr__(self, "stamped", self.as_object())
        object.__setattr__(self, "size", len(to_json(self.stamped)))

    def as_object(self) -> dict[str, Any]:
        """MetaRouter's ``context.consent``, a fresh object with JSON booleans."""
        return {"explicit": self.explicit, "optOut": dict(self.opt_out)}


def read_onetrust(value: str) -> PlatformConsent | None:
    """OneTrust's ``OptanonConsent``, or None when it cannot be read.

    The cookie is a query string (``isGpcEnabled=0&datestamp=…&interactionCount=1&
    landingPath=NotLandingPage&groups=C0001%3A1%2CC0002%3A0&…``): ``groups`` lists each category
    with 1 (consented) or 0 (opted out); the visitor made a choice once ``interactionCount`` is
    above 0 or ``landingPath`` is ``NotLandingPage``. Only those three fields are looked for.
    """
    text = _cookie_text(value)
    if text is None:
        return None
    if "&" not in text and "%26" in text:  # the whole value encoded once more
        text = unquote(text)
    groups = _decoded(_query_field(text, "groups")).strip().strip(",")
    if _ONETRUST_GROUPS.fullmatch(groups) is None:
        return None
    opt_out: dict[str, bool] = {}
    for group in groups.split(","):
        category, _, flag = group.partition(":")
        opt_out.setdefault(category, flag == "0")
    interactions = _decoded(_query_field(text, "interactionCount")).strip()
    explicit = (interactions.isdecimal() and int(interactions[:9]) > 0) or _decoded(
        _query_field(text, "landingPath")
    ).strip() == "NotLandingPage"
    return _within_allowance(PlatformConsent(explicit, opt_out))


def _within_allowance(consent: PlatformConsent) -> PlatformConsent | None:
    return consent if consent.size <= _MAX_STAMPED_BYTES else None


def _query_field(text: str, name: str) -> str:
    """The raw value of a query string's first ``name`` field (empty when it has none)."""
    key = name + "="
    if text.startswith(key):
        start = len(key)
    else:
        found = text.find("&" + key)
        if found < 0:
            return ""
        start = found + 1 + len(key)
    end = text.find("&", start)
    return text[start:] if end < 0 else text[start:end]


def _decoded(raw: str) -> str:
    """A query-string value decoded; the ``%3A`` and ``%2C`` of OneTrust's groups without
    ``unquote_plus`` (a third of the cookie's reading time), which gives the same text."""
    text = raw.replace("%3A", ":").replace("%2C", ",")
    return unquote_plus(text) if "%" in text or "+" in text else text


#: Cookiebot's value when consent is not required in the visitor's region: nothing opted out.
_COOKIEBOT_NOT_REQUIRED: Final = PlatformConsent(False, dict.fromkeys(_COOKIEBOT_CATEGORIES, False))


def read_cookiebot(value: str) -> PlatformConsent | None:
    """Cookiebot's ``CookieConsent``, or None when it cannot be read.

    The cookie is a URL-encoded JavaScript object (``{stamp:'…',necessary:true,preferences:false,
    statistics:true,marketing:false,method:'explicit',ver:1,utc:…,region:'us-06'}``): each of
    the four categories false is an opt-out; ``method`` says whether the visitor chose
    (``explicit``) or consent was implied. ``-1``: consent is not required in the visitor's region.
    """
    text = _cookie_text(value)
    if text is None:
        return None
    text = unquote(text).strip()
    if text == "-1":
        return _COOKIEBOT_NOT_REQUIRED
    if len(text) < 2 or text[0] != "{" or text[-1] != "}":
        return None
    fields: dict[str, str] = {}
    inner, position = text[1:-1].strip(), 0
    while position < len(inner):
        found = _COOKIEBOT_PAIR.match(inner, position)
        if found is None or len(fields) >= _MAX_CATEGORIES:
            return None
        fields.setdefault(found[1], found[2])
        position = found.end()
    opt_out: dict[str, bool] = {}
    for category in _COOKIEBOT_CATEGORIES:
        answer = fields.get(category)
        if answer not in ("true", "false"):
            return None
        opt_out[category] = answer == "false"
    return _within_allowance(PlatformConsent(fields.get("method") == "'explicit'", opt_out))


def _cookie_text(value: str) -> str | None:
    """A cookie's value without the quotes a server may have put around it; None when oversized."""
    if len(value) > MAX_CONSENT_COOKIE_CHARS:
        return None
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return text


#: Each platform's cookie and its reader.
CONSENT_COOKIES: Final[Mapping[str, tuple[str, Callable[[str], PlatformConsent | None]]]] = MappingProxyType(
    {"onetrust": ("OptanonConsent", read_onetrust), "cookiebot": ("CookieConsent", read_cookiebot)}
)
#: Distinct cookie values whose reading is remembered per execution environment: a visitor's
#: page sends several beacons with the same cookie (at most 4 MB of them).
_READINGS_KEPT: Final = 1024


def opted_out(value: Any) -> bool:
    """Whether an ``optOut`` value opts out: ``true``, or the string naming it; nothing else does."""
    return value is True or _boolean(value) is True


def _formats(consent: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """A consent object's MetaRouter ``optOut`` and Segment ``categoryPreferences``, where objects."""
    if not isinstance(consent, dict):
        return None, None
    opt_out, preferences = consent.get("optOut"), consent.get("categoryPreferences")
    return (
        opt_out if isinstance(opt_out, dict) else None,
        preferences if isinstance(preferences, dict) else None,
    )


def _boolean(value: Any) -> bool | None:
    """The boolean a ``"true"``/``"false"`` string names (case and spaces aside), else None."""
    if not isinstance(value, str):
        return None
    named = value.strip().lower()
    return named == "true" if named in ("true", "false") else None


def _booleans(opt_out: dict[str, Any]) -> dict[str, Any]:
    """``opt_out`` with ``"true"``/``"false"`` strings as booleans: the same object if it has none."""
    if not any(isinstance(value, str) for value in opt_out.values()):
        return opt_out
    fixed = {category: _boolean(value) for category, value in opt_out.items()}
    if all(named is None for named in fixed.values()):
        return opt_out
    return {
        category: value if fixed[category] is None else fixed[category] for category, value in opt_out.items()
    }


@dataclass(frozen=True, slots=True)
class ConsentPolicy:
    """The consent control as configured for one deployment (off by default)."""

    required: frozenset[str] = frozenset()
    when_missing: ConsentWhenMissing = "forward"
    platform: ConsentPlatform = "none"
    gpc_opt_out: tuple[str, ...] = ()
    #: ``optOut`` and ``categoryPreferences`` entries a GPC request forces.
    gpc_marks: Mapping[str, bool] = field(init=False, repr=False, compare=False)
    gpc_denials: Mapping[str, bool] = field(init=False, repr=False, compare=False)
    # What a request can be, made once (shared by the requests alike: never changed): without a
    # cookie (or GPC), with GPC alone, with an unreadable cookie (without and with GPC).
    _idle: RequestConsent = field(init=False, repr=False, compare=False)
    _gpc_only: RequestConsent = field(init=False, repr=False, compare=False)
    _unreadable: tuple[RequestConsent, RequestConsent] = field(init=False, repr=False, compare=False)
    #: The platform's cookie name and ``=``, and the request's control for a cookie value (without
    #: and with GPC; None when it cannot be read), remembered for recent values.
    _cookie: tuple[str, Callable[[str], tuple[RequestConsent, RequestConsent] | None]] | None = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "gpc_marks", dict.fromkeys(self.gpc_opt_out, True))
        set_(self, "gpc_denials", dict.fromkeys(self.gpc_opt_out, False))
        set_(self, "_idle", RequestConsent(self))
        set_(self, "_gpc_only", self._request(None, gpc=True))
        set_(
            self,
            "_unreadable",
            (self._request(None, unreadable=True), self._request(None, True, unreadable=True)),
        )
        set_(self, "_cookie", None)
        if self.platform != "none":
            name, read = CONSENT_COOKIES[self.platform]

            def requests(value: str) -> tuple[RequestConsent, RequestConsent] | None:
                consent = read(value)
                return None if consent is None else (self._request(consent), self._request(consent, True))

            set_(self, "_cookie", (name + "=", lru_cache(maxsize=_READINGS_KEPT)(requests)))

    @classmethod
    def configure(
        cls,
        *,
        required: str,
        when_missing: ConsentWhenMissing = "forward",
        platform: ConsentPlatform = "none",
        gpc_opt_out: str = "",
    ) -> ConsentPolicy:
        """The policy from its settings (comma lists of category codes)."""
        return cls(
            frozenset(_codes(required)), when_missing, platform, tuple(dict.fromkeys(_codes(gpc_opt_out)))
        )

    def for_request(self, cookies: Iterable[str], *, gpc: bool) -> RequestConsent:
        """The control as it applies to one request: its cookie read once, its GPC signal."""
        gpc = gpc and bool(self.gpc_opt_out)
        if self._cookie is not None:
            prefix, requests = self._cookie
            found = False
            for cookie in cookies:
                text = cookie.lstrip()
                if not text.startswith(prefix):
                    continue
                found = True
                value = text[len(prefix) :]
                pair = requests(value) if len(value) <= MAX_CONSENT_COOKIE_CHARS else None
                if pair is not None:
                    return pair[gpc]
            if found:
                return self._unreadable[gpc]
        return self._gpc_only if gpc else self._idle

    def _request(
        self, cookie: PlatformConsent | None, gpc: bool = False, *, unreadable: bool = False
    ) -> RequestConsent:
        """A request's control, with what it stamps on events without consent made once."""
        stamped: Mapping[str, Any] | None
        if cookie is None:
            stamped = {"explicit": False, "optOut": dict(self.gpc_marks)} if gpc else None
        elif gpc:
            stamped = {"explicit": cookie.explicit, "optOut": {**cookie.opt_out, **self.gpc_marks}}
        else:
            stamped = cookie.stamped
        opts_out = gpc or (cookie is not None and cookie.opts_out)
        gpc_denies = gpc and not self.required.isdisjoint(self.gpc_opt_out)
        denied = gpc_denies or (
            cookie is not None and any(cookie.opt_out.get(category) is True for category in self.required)
        )
        return RequestConsent(self, cookie, gpc, unreadable, stamped, opts_out, gpc_denies, denied)


def _codes(text: str) -> list[str]:
    return [code.strip() for code in text.split(",") if code.strip()]


@dataclass(frozen=True, slots=True)
class RequestConsent:
    """The consent control for one request's events: made once per cookie value (and GPC or
    not), and shared by the requests alike."""

    policy: ConsentPolicy
    #: The consent platform's cookie, when the request carried one that could be read.
    cookie: PlatformConsent | None = None
    #: Whether the request sent ``Sec-GPC: 1`` and categories are configured for it.
    gpc: bool = False
    #: Whether the request carried the platform's cookie and none of it could be read.
    unreadable: bool = False
    #: What an event without consent gets (the cookie's and GPC's), shared: never changed.
    stamped: Mapping[str, Any] | None = None
    #: Whether ``stamped`` opts out of anything.
    opts_out: bool = False
    #: Whether GPC opts out of a required category: every event of the request is dropped.
    gpc_denies: bool = False
    #: Whether ``stamped`` opts out of a required category: events without consent are dropped.
    denied: bool = False

    @property
    def allowance(self) -> int:
        """Bytes the control may add to each event of the request (``CONSENT_ALLOWANCE`` when it
        stamps a cookie's consent or GPC's opt-outs)."""
        return CONSENT_ALLOWANCE if self.cookie is not None or self.gpc else 0

    def denies(self, item: Mapping[str, Any], batch_context: Mapping[str, Any] | None) -> bool:
        """Whether an item is dropped: a required category denied or opted out in its consent
        object (its own, its batch's, else the cookie's, then GPC's), or no consent at all when
        those are dropped. Decided before validation, so such an item is never quarantined."""
        required = self.policy.required
        if not required:
            return False
        context = item.get("context")
        if isinstance(context, dict) and "consent" in context:
            consent = context["consent"]
        else:
            consent = batch_context.get("consent") if isinstance(batch_context, dict) else None
        opt_out, preferences = _formats(consent)
        if opt_out is None and preferences is None:  # no consent object: the request's, if any
            if self.cookie is None and self.policy.when_missing == "drop":
                return True  # GPC's opt-outs are no consent to anything
            return self.denied
        if self.gpc_denies:
            return True
        if opt_out is not None:
            for category in required:
                value = opt_out.get(category)
                if value is True or (value is not None and value is not False and opted_out(value)):
                    return True
        return preferences is not None and any(preferences.get(category) is False for category in required)

    def stamp(self, event: dict[str, Any], repairs: Counter[str], counts: Counter[str]) -> None:
        """Complete an enriched event's consent in its own ``context`` (never changing an object
        it shares): ``optOut`` strings as booleans (counted in ``repairs``), the cookie's consent
        when it has none, GPC's opt-outs (counted in ``counts``, by ``ConsentCount``)."""
        context = event["context"]
        consent = context.get("consent")
        opt_out, preferences = _formats(consent)
        if opt_out is None and preferences is None:  # no consent of its own, nor its batch's
            if self.stamped is not None:
                self._stamp_missing(context, consent, self.stamped, counts)
            return
        opts_out = False
        if opt_out is not None:  # MetaRouter's format
            fixed, explicit = _booleans(opt_out), _boolean(consent.get("explicit"))
            if fixed is not opt_out or explicit is not None:
                consent = context["consent"] = {**consent, "optOut": fixed}
                if explicit is not None:
                    consent["explicit"] = explicit
                opt_out = fixed
                repairs[Repair.CONSENT_STRING] += 1
            opts_out = any(value is True for value in opt_out.values())
        if self.gpc:
            consent = context["consent"] = {**consent, "optOut": {**(opt_out or {}), **self.policy.gpc_marks}}
            if preferences is not None:
                consent["categoryPreferences"] = {**preferences, **self.policy.gpc_denials}
            _bump(counts, ConsentCount.GPC)
            opts_out = True
        elif not opts_out and preferences is not None:
            opts_out = any(value is False for value in preferences.values())
        if opts_out:
            _bump(counts, ConsentCount.OPTED_OUT)

    def _stamp_missing(
        self, context: dict[str, Any], consent: Any, stamped: Mapping[str, Any], counts: Counter[str]
    ) -> None:
        """The request's consent (the cookie's, GPC's) on an event that has none."""
        if isinstance(consent, dict):  # an object in neither format keeps its other keys
            opt_out = dict(stamped["optOut"])
            context["consent"] = {"explicit": stamped["explicit"], **consent, "optOut": opt_out}
        else:
            context["consent"] = stamped
        if self.cookie is not None:
            _bump(counts, ConsentCount.FROM_COOKIE)
        if self.gpc:
            _bump(counts, ConsentCount.GPC)
        if self.opts_out:
            _bump(counts, ConsentCount.OPTED_OUT)


def _bump(counts: Counter[str], key: str) -> None:
    """``counts[key] += 1`` without ``Counter.__missing__``'s Python call on a new key."""
    counts[key] = counts.get(key, 0) + 1


#: The control off: no required category, no cookie read, GPC marks nothing.
NO_CONSENT: Final = ConsentPolicy()
