"""Inbound write keys are compared in constant time, with every configured key, every time.

A comparison that stops at the first differing byte, or a dict lookup, lets a client measure how
much of a key it guessed; a loop that stops at the first match tells which key it hit. The check
spies on ``hmac.compare_digest`` as ``edge.core.secret`` calls it.
"""

from __future__ import annotations

import hmac

import pytest

from edge.core import secret as secret_module
from edge.core.errors import RequestError
from edge.core.secret import EdgeSecret

SOURCES = {"pk_web_7f3a": "SRC_WEB", "pk_ios_91bc": "SRC_IOS", "pk_srv_0000": "SRC_SRV"}


@pytest.fixture
def comparisons(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    seen: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(secret_module.hmac, "compare_digest", spy)
    return seen


@pytest.mark.parametrize(
    "inbound", ["pk_web_7f3a", "pk_srv_0000", "pk_web_7f3b", "x", "pk_web_7f3a_longer", "é"]
)
def test_every_configured_key_is_compared_with_compare_digest(comparisons, inbound):
    secret = EdgeSecret(sources=SOURCES)
    try:
        secret.authorize(inbound)
        accepted = True
    except RequestError:
        accepted = False
    assert accepted is (inbound in SOURCES)
    # One comparison per configured key, whether the first one matched or none did.
    assert sorted(b for _, b in comparisons) == sorted(key.encode() for key in SOURCES)
    assert {a for a, _ in comparisons} == {inbound.encode()}


def test_a_missing_key_is_refused_without_comparing(comparisons):
    with pytest.raises(RequestError):
        EdgeSecret(sources=SOURCES).authorize(None)
    assert comparisons == []


def test_open_mode_compares_nothing(comparisons):
    assert EdgeSecret(writeKey="SRC").authorize("anything") is None
    assert comparisons == []
