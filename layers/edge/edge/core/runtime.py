"""What both functions' composition roots share: botocore's settings, and SnapStart's hooks."""

from __future__ import annotations

import random
from collections.abc import Callable

from botocore.config import Config

__all__ = ["after_snapstart_restore", "aws_client_config", "before_snapshot"]


def after_snapstart_restore(*hooks: Callable[[], object]) -> None:
    """Run ``hooks`` whenever Lambda resumes this environment from a SnapStart snapshot.

    One snapshot seeds many environments: each re-seeds ``random`` (botocore's retry jitter and
    the forwarder's backoff draw from it; ``uuid4`` reads ``os.urandom`` and needs nothing) and
    drops any pooled connection. ``snapshot_restore_py`` ships with Lambda's Python runtimes only;
    elsewhere nothing is registered.
    """
    try:
        from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]
    except ImportError:
        return
    for hook in (random.seed, *hooks):
        register_after_restore(hook)


def before_snapshot(*hooks: Callable[[], object]) -> None:
    """Run ``hooks`` before Lambda takes this environment's SnapStart snapshot: work deferred off
    the cold path (validators built on first use) is done once, into the snapshot, so no restored
    environment's first request pays it. Outside Lambda's runtime nothing is registered."""
    try:
        from snapshot_restore_py import register_before_snapshot
    except ImportError:
        return
    for hook in hooks:
        register_before_snapshot(hook)


def aws_client_config(*, connect_timeout: float, read_timeout: float, attempts: int) -> Config:
    """botocore settings: short timeouts so a stuck dependency becomes a 503, not an API timeout."""
    return Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": attempts},
        tcp_keepalive=True,
    )
