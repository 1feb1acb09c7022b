"""Privacy and data-quality controls applied at the edge, once, for every destination behind it.

- **Bots**: a request whose ``User-Agent`` matches the maintained crawler list of the
  ``crawler-user-agents`` package has its events flagged (``context.isBot: true``) or dropped.
  Events from SDKs that are not browsers (``context.library.name``: server and mobile SDKs) are
  never flagged or dropped, whatever their HTTP client calls itself.
- **Global Privacy Control** (``Sec-GPC: 1``): the request's IP is anonymized, or the request is
  answered and nothing is queued.
- **Consent** (``edge.ingest.consent``): an event denying or opting out of a required category,
  in Segment's or MetaRouter's format, its own or its batch's, else as the consent platform's
  cookie says, is answered as accepted and not forwarded (so is one without any consent, if
  configured so); events without a consent object get the cookie's, and ``Sec-GPC: 1`` marks the
  configured categories as opted out.
- **PII hashing**: string values at configured dotted paths become the lower-case hex SHA-256 of
  the trimmed, lower-cased value (what ad platforms' conversion APIs expect); a value that already
  is 64 lower-case hex characters is left alone, so nothing is hashed twice.

Everything here is pure: the handler passes the policy in, the ingest service applies it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

from edge.core.config import BotPolicy, ConsentPlatform, ConsentWhenMissing, GpcPolicy, IpPolicy
from edge.ingest.consent import NO_CONSENT, ConsentPolicy, RequestConsent

__all__ = [
    "NON_BROWSER_LIBRARIES",
    "NO_PRIVACY",
    "BotPolicy",
    "ConsentWhenMissing",
    "Filtered",
    "GpcPolicy",
    "PrivacyPolicy",
    "RequestPrivacy",
    "crawler_detector",
    "hash_fields",
    "hash_value",
]


#: ``context.library.name`` of SDKs that do not run in a browser: their HTTP client's
#: User-Agent (python-requests, okhttp, node-fetch, Dart…) says nothing about a human.
NON_BROWSER_LIBRARIES: Final = frozenset(
    {
        # server-side
        "analytics-python",
        "analytics-node",
        "@segment/analytics-node",
        "analytics-ruby",
        "analytics-go",
        "analytics-java",
        "analytics-php",
        "analytics.NET",
        "analytics-dotnet",
        "analytics-csharp",
        "rudder-sdk-python",
        "rudder-sdk-node",
        "@rudderstack/rudder-sdk-node",
        "rudder-sdk-go",
        "rudder-sdk-java",
        "rudder-sdk-ruby",
        "rudder-sdk-php",
        # mobile
        "analytics-ios",
        "analytics-swift",
        "analytics-android",
        "analytics-kotlin",
        "analytics-react-native",
        "@segment/analytics-react-native",
        "analytics_flutter",
        "analytics-flutter",
        "metarouter-ios",
        "metarouter-android",
    }
)

_HEX64: Final = re.compile(r"[0-9a-f]{64}")
#: Distinct User-Agents whose verdict is remembered per execution environment: browsers repeat
#: a few hundred strings, and a first look costs ~0.2 to 2 ms of regular expressions.
_VERDICTS_KEPT: Final = 8192
#: A backslash before punctuation (``\/``, ``\.``) only escapes it: the character itself.
_ESCAPED_PUNCTUATION: Final = re.compile(r"\\([^\w\s])")
#: What makes a pattern a regular expression once those escapes are undone.
_REGEX_SYNTAX: Final = re.compile(r"[.^$*+?{}\[\]\\|()]")
_PATTERNS_PER_CHUNK: Final = 25


class Filtered:
    """Why an accepted event was not forwarded (the ``reason`` dimension of ``EventsFiltered``)."""

    BOT: Final = "bot"
    GPC: Final = "gpc"
    CONSENT: Final = "consent"


def crawler_detector() -> Callable[[str], bool]:
    """``crawler-user-agents``' list as one test of a User-Agent (its ``is_crawler``: any pattern
    found, case-sensitive), with a verdict cache in front; built at init, so a SnapStart snapshot
    holds it.

    Most of its ~1,500 patterns are plain text, some with escaped punctuation (``Googlebot\\/``):
    those are looked for as substrings, and only the ~200 real regular expressions are compiled.
    Compiling all of them, as the package does, costs every cold start ~30 ms.
    """
    import crawleruseragents  # type: ignore[import-untyped]

    literals: list[str] = []
    expressions: list[str] = []
    for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA:
        pattern: str = entry["pattern"]
        text = _ESCAPED_PUNCTUATION.sub(r"\1", pattern)
        if _REGEX_SYNTAX.search(text) is None:
            literals.append(text)
        else:
            expressions.append(pattern)
    chunks = [
        re.compile("|".join(expressions[i : i + _PATTERNS_PER_CHUNK]))
        for i in range(0, len(expressions), _PATTERNS_PER_CHUNK)
    ]

    def is_crawler(user_agent: str) -> bool:
        return any(text in user_agent for text in literals) or any(c.search(user_agent) for c in chunks)

    return lru_cache(maxsize=_VERDICTS_KEPT)(is_crawler)


def hash_value(value: str) -> str:
    """SHA-256 hex of the trimmed, lower-cased value; a 64-hex lower-case value as it is."""
    if len(value) == 64 and _HEX64.fullmatch(value):
        return value
    return hashlib.sha256(value.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class PrivacyPolicy:
    """The four controls, as configured for one deployment (all off or harmless by default)."""

    bot_policy: BotPolicy = "keep"
    gpc_policy: GpcPolicy = "ignore"
    consent: ConsentPolicy = NO_CONSENT
    hash_paths: tuple[tuple[str, ...], ...] = ()
    is_crawler: Callable[[str], bool] | None = field(default=None, compare=False)

    @classmethod
    def configure(
        cls,
        *,
        bot_policy: BotPolicy,
        gpc_policy: GpcPolicy,
        required_consent: str,
        consent_when_missing: ConsentWhenMissing,
        hash_fields: str,
        consent_cookie: ConsentPlatform = "none",
        gpc_opt_out: str = "",
    ) -> PrivacyPolicy:
        """The policy from its settings; the crawler list is loaded only when bots matter."""
        return cls(
            bot_policy=bot_policy,
            gpc_policy=gpc_policy,
            consent=ConsentPolicy.configure(
                required=required_consent,
                when_missing=consent_when_missing,
                platform=consent_cookie,
                gpc_opt_out=gpc_opt_out,
            ),
            hash_paths=tuple(tuple(path.split(".")) for path in _names(hash_fields)),
            is_crawler=crawler_detector() if bot_policy != "keep" else None,
        )

    def for_request(
        self, headers: Mapping[str, str], ip_policy: IpPolicy, cookies: Iterable[str] = ()
    ) -> RequestPrivacy:
        """What the controls decide from a request's headers and cookies, once for all its events."""
        gpc = (headers.get("sec-gpc") or "").strip() == "1"
        if gpc and self.gpc_policy == "anonymize" and ip_policy == "keep":
            ip_policy = "anonymize"
        user_agent = headers.get("user-agent") or ""
        bot = self.is_crawler is not None and bool(user_agent) and self.is_crawler(user_agent[:512])
        consent = self.consent.for_request(cookies, gpc=gpc)
        return RequestPrivacy(
            self, ip_policy, drop_all=gpc and self.gpc_policy == "drop", bot=bot, consent=consent
        )


@dataclass(frozen=True, slots=True)
class RequestPrivacy:
    """The controls as they apply to one request's events."""

    policy: PrivacyPolicy
    ip_policy: IpPolicy
    drop_all: bool
    bot: bool
    consent: RequestConsent

    def filtered(self, item: Mapping[str, Any], batch_context: Mapping[str, Any] | None) -> str | None:
        """Why an item is answered as accepted but not forwarded, or None. Decided before the
        item is validated, so a filtered event is never quarantined either."""
        if self.drop_all:
            return Filtered.GPC
        if self.consent.denies(item, batch_context):
            return Filtered.CONSENT
        if self.policy.bot_policy == "drop" and self.is_bot(item, batch_context):
            return Filtered.BOT
        return None

    def flag(self, event: dict[str, Any]) -> bool:
        """Mark an enriched event (its own ``context`` object) as a bot's when it is one."""
        if self.policy.bot_policy != "flag" or not self.is_bot(event, None):
            return False
        event["context"]["isBot"] = True
        return True

    def is_bot(self, item: Mapping[str, Any], batch_context: Mapping[str, Any] | None) -> bool:
        """Whether the request's User-Agent is a crawler's and the item no server or mobile SDK's."""
        return (
            self.bot and _context_value(item, batch_context, "library", "name") not in NON_BROWSER_LIBRARIES
        )


def hash_fields(value: dict[str, Any], paths: tuple[tuple[str, ...], ...]) -> int:
    """Hash, in place, the strings at ``paths`` in an event (or a batch's envelope); how many."""
    hashed = 0
    for path in paths:
        node: Any = value
        for name in path[:-1]:
            node = node.get(name) if isinstance(node, dict) else None
        current = node.get(path[-1]) if isinstance(node, dict) else None
        if isinstance(current, str) and (digest := hash_value(current)) != current:
            node[path[-1]] = digest
            hashed += 1
    return hashed


#: Every control off: what an ``Ingestor`` applies unless given a policy.
NO_PRIVACY: Final = PrivacyPolicy()


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _context_value(
    item: Mapping[str, Any], batch_context: Mapping[str, Any] | None, key: str, inner: str
) -> Any:
    """``context[key][inner]`` of an item, its own context first, then its batch's."""
    for context in (item.get("context"), batch_context):
        outer = context.get(key) if isinstance(context, dict) else None
        if isinstance(outer, dict):
            return outer.get(inner)
    return None
