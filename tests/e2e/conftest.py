"""Fixtures: the local stack as a subprocess on free ports, for tests with real client libraries."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.first_party import PATH_PREFIX
from support.js import JS_DIR, UMD_DIR
from support.local_stack import LocalStack, start_stack, stop_stack


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    """The local stack in open mode, shared by the session's e2e tests."""
    running = start_stack({"METAROUTER_WRITE_KEY": "LOCAL_SOURCE_ID"})
    yield running
    stop_stack(running)
    assert running.process.returncode == 0, "\n".join(running.output[-20:])


@pytest.fixture(scope="session")
def closed_stack() -> Iterator[LocalStack]:
    """The local stack in closed mode with two sources."""
    running = start_stack({"EDGE_SOURCES": json.dumps({"pk_web_7f3a": "SRC_WEB", "pk_ios_91bc": "SRC_IOS"})})
    yield running
    stop_stack(running)


@pytest.fixture(scope="session")
def first_party_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the first-party stack's handlers log."""
    return tmp_path_factory.mktemp("first-party-logs")


@pytest.fixture(scope="session")
def first_party_stack(
    tmp_path_factory: pytest.TempPathFactory, first_party_logs: Path
) -> Iterator[LocalStack]:
    """The local stack in open mode with the API under PATH_PREFIX too, the ajs_anonymous_id cookie
    set for pages of localhost, OneTrust's consent cookie read (C0002 required, C0004 opted out by
    GPC; events without consent are forwarded as before), and the test page (with analytics-next's
    UMD build) served by the gateway itself at / on the API's own origin."""
    site = tmp_path_factory.mktemp("site")
    for name in ("index.html", "page.js"):
        shutil.copy(JS_DIR / "page" / name, site / name)
    if UMD_DIR.exists():
        shutil.copytree(UMD_DIR, site / "analytics-next" / "bundles")
    running = start_stack(
        {
            "METAROUTER_WRITE_KEY": "LOCAL_SOURCE_ID",
            "PATH_PREFIX": PATH_PREFIX,
            "COOKIE_DOMAIN": "localhost",
            "CONSENT_COOKIE": "onetrust",
            "REQUIRED_CONSENT": "C0002",
            "GPC_OPT_OUT": "C0004",
            "LOCAL_STATIC_DIR": str(site),
            "LOCAL_LOG_DIR": str(first_party_logs),
        }
    )
    yield running
    stop_stack(running)
    assert running.process.returncode == 0, "\n".join(running.output[-20:])
