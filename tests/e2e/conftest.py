"""Fixtures: the local stack as a subprocess on free ports, for tests with real client libraries."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

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
