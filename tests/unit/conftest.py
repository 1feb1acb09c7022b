"""Unit tests are pure: a test that opens a socket fails (tests/integration has the servers)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_network(socket_disabled: None) -> None:
    """pytest-socket's ``socket_disabled`` for every test here: a socket raises SocketBlockedError."""
