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
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import unquote, unquote_plus

from edge.core.config import ConsentPlatform, ConsentWhenMissing
from edge.ingest.repairs import Repair

__all__ = [
    "CONSENT_COOKIES",
    "MAX_CONSENT_COOKIE_CHARS",
    "NO_CONSENT",
    "ConsentCount",
    "ConsentPolicy",
    "PlatformConsent",
    "RequestConsent",
    "consent_of",
    "opted_out",
    "read_cookiebot",
    "read_onetrust",
]

#: Browsers keep a cookie of at most 4,096 bytes (name and value): a longer value is not one.
MAX_CONSENT_COOKIE_CHARS: Final = 4096
#: Categories one cookie may name; OneTrust's groups, IAB stacks included, are a few dozen.
_MAX_CATEGORIES: Final = 128
_CATEGORY: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ONETRUST_GROUP: Final = re.compile(r"([A-Za-z0-9_-]{1,64}):([01])")
#: One ``name:value`` of Cookiebot's object: a quoted string, or a bare word or number.
_COOKIEBOT_PAIR: Final = re.compile(
    r"([A-Za-z_][A-Za-z0-9_]{0,63}):('[^']{0,2048}'|[A-Za-z0-9_.+-]{0,64})(,|$)"
)
_COOKIEBOT_CATEGORIES: Final = ("necessary", "preferences", "statistics", "marketing")


class ConsentCount:
    """What the consent control counts per forwarded event (metrics ``EventsConsentFromCookie``,
    ``EventsGpcOptedOut``, ``EventsOptedOut``; a string repaired is ``EventsRepaired``'s
    ``consent_string``)."""

    FROM_COOKIE: Final = "from_cookie"
    GPC: Final = "gpc"
    OPTED_OUT: Final = "opted_out"


@dataclass(frozen=True, slots=True)
class PlatformConsent:
    """A consent platform's cookie read as MetaRouter's consent object."""

    explicit: bool
    opt_out: Mapping[str, bool]

    def as_object(self) -> dict[str, Any]:
        """MetaRouter's ``context.consent``, a fresh object with JSON booleans."""
        return {"explicit": self.explicit, "optOut": dict(self.opt_out)}


def read_onetrust(value: str) -> PlatformConsent | None:
    """OneTrust's ``OptanonConsent``, or None when it cannot be read.

    The cookie is a query string (``isGpcEnabled=0&datestamp=…&interactionCount=1&
    landingPath=NotLandingPage&groups=C0001%3A1%2CC0002%3A0&…``): ``groups`` lists each category
    with 1 (consented) or 0 (opted out); the visitor made a choice once ``interactionCount`` is
    above 0 or ``landingPath`` is ``NotLandingPage``.
    """
    text = _cookie_text(value)
    if text is None:
        return None
    if "&" not in text and "%26" in text:  # the whole value encoded once more
        text = unquote(text)
    fields: dict[str, str] = {}
    for part in text.split("&", _MAX_CATEGORIES):
        name, _, raw = part.partition("=")
        fields.setdefault(name.strip(), raw)
    groups = unquote_plus(fields.get("groups", "")).strip().strip(",")
    opt_out: dict[str, bool] = {}
    for group in groups.split(",") if groups else ():
        found = _ONETRUST_GROUP.fullmatch(group.strip())
        if found is None or len(opt_out) >= _MAX_CATEGORIES:
            return None
        opt_out[found[1]] = found[2] == "0"
    if not opt_out:
        return None
    interactions = unquote_plus(fields.get("interactionCount", "")).strip()
    explicit = (interactions.isdecimal() and int(interactions[:9]) > 0) or unquote_plus(
        fields.get("landingPath", "")
    ).strip() == "NotLandingPage"
    return PlatformConsent(explicit, MappingProxyType(opt_out))


#: Cookiebot's value when consent is not required in the visitor's region: nothing opted out.
_COOKIEBOT_NOT_REQUIRED: Final = PlatformConsent(
    False, MappingProxyType(dict.fromkeys(_COOKIEBOT_CATEGORIES, False))
)


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
    return PlatformConsent(fields.get("method") == "'explicit'", MappingProxyType(opt_out))


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


def opted_out(value: Any) -> bool:
    """Whether an ``optOut`` value opts out: ``true``, or the string naming it; nothing else does."""
    return value is True or _boolean(value) is True


def consent_of(item: Mapping[str, Any], batch_context: Mapping[str, Any] | None) -> Any:
    """``context.consent`` as it will be forwarded: the item's own context's, else its batch's."""
    context = item.get("context")
    if isinstance(context, dict) and "consent" in context:
        return context["consent"]
    return batch_context.get("consent") if isinstance(batch_context, dict) else None


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
    _idle: RequestConsent = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "gpc_marks", MappingProxyType(dict.fromkeys(self.gpc_opt_out, True)))
        object.__setattr__(self, "gpc_denials", MappingProxyType(dict.fromkeys(self.gpc_opt_out, False)))
        object.__setattr__(self, "_idle", RequestConsent(self))

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
        if self.platform == "none":
            return RequestConsent(self, gpc=True) if gpc else self._idle
        name, read = CONSENT_COOKIES[self.platform]
        prefix = name + "="
        found = unreadable = False
        for cookie in cookies:
            text = cookie.lstrip()
            if not text.startswith(prefix):
                continue
            found = True
            consent = read(text[len(prefix) :])
            if consent is not None:
                return RequestConsent(self, consent, gpc=gpc)
            unreadable = True
        if found or gpc:
            return RequestConsent(self, gpc=gpc, unreadable=unreadable)
        return self._idle


def _codes(text: str) -> list[str]:
    return [code.strip() for code in text.split(",") if code.strip()]


@dataclass(frozen=True, slots=True)
class RequestConsent:
    """The consent control for one request's events."""

    policy: ConsentPolicy
    #: The consent platform's cookie, when the request carried one that could be read.
    cookie: PlatformConsent | None = None
    #: Whether the request sent ``Sec-GPC: 1`` and categories are configured for it.
    gpc: bool = False
    #: Whether the request carried the platform's cookie and none of it could be read.
    unreadable: bool = False

    def denies(self, item: Mapping[str, Any], batch_context: Mapping[str, Any] | None) -> bool:
        """Whether an item is dropped: a required category denied or opted out in its consent
        object (its own, its batch's, else the cookie's, then GPC's), or no consent at all when
        those are dropped. Decided before validation, so such an item is never quarantined."""
        required = self.policy.required
        if not required:
            return False
        own, preferences = _formats(consent_of(item, batch_context))
        opt_out: Mapping[str, Any] | None = own
        if opt_out is None and preferences is None:
            if self.cookie is not None:
                opt_out = self.cookie.opt_out
            elif self.policy.when_missing == "drop":
                return True  # GPC's opt-outs are no consent to anything
        if self.gpc and not required.isdisjoint(self.policy.gpc_opt_out):
            return True
        if opt_out is not None and any(opted_out(opt_out.get(category)) for category in required):
            return True
        return preferences is not None and any(preferences.get(category) is False for category in required)

    def stamp(self, event: dict[str, Any], counts: Counter[str]) -> None:
        """Complete an enriched event's consent in its own ``context`` (never a shared object):
        ``optOut`` strings as booleans, the cookie's consent when it has none, GPC's opt-outs."""
        context = event["context"]
        consent = context.get("consent")
        opt_out, preferences = _formats(consent)
        if opt_out is not None:
            fixed, explicit = _booleans(opt_out), _boolean(consent.get("explicit"))
            if fixed is not opt_out or explicit is not None:
                consent = context["consent"] = {**consent, "optOut": fixed}
                if explicit is not None:
                    consent["explicit"] = explicit
                opt_out = fixed
                counts[Repair.CONSENT_STRING] += 1
        elif preferences is None and self.cookie is not None:
            opt_out = dict(self.cookie.opt_out)
            kept = consent if isinstance(consent, dict) else {}
            consent = context["consent"] = {"explicit": self.cookie.explicit, **kept, "optOut": opt_out}
            counts[ConsentCount.FROM_COOKIE] += 1
        if self.gpc:
            opt_out = {**(opt_out or {}), **self.policy.gpc_marks}
            consent = (
                {**consent, "optOut": opt_out}
                if isinstance(consent, dict)
                else {"explicit": False, "optOut": opt_out}
            )
            if preferences is not None:
                preferences = consent["categoryPreferences"] = {**preferences, **self.policy.gpc_denials}
            context["consent"] = consent
            counts[ConsentCount.GPC] += 1
        if (opt_out and any(value is True for value in opt_out.values())) or (
            preferences and any(value is False for value in preferences.values())
        ):
            counts[ConsentCount.OPTED_OUT] += 1


#: The control off: no required category, no cookie read, GPC marks nothing.
NO_CONSENT: Final = ConsentPolicy()
