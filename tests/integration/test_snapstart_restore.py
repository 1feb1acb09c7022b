"""SnapStart restore hooks: what one snapshot must not share between the environments it seeds."""

from __future__ import annotations

import json
import random
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge.core.config import ForwardSettings, IngestSettings
from edge.forward.upstream import build_pool
from edge.forward.wiring import build_forwarder
from edge.ingest.wiring import build_ingestor
from edge_local.context import LocalContext

EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.fixture
def restore_hooks(monkeypatch: pytest.MonkeyPatch) -> list[Callable[[], object]]:
    """Lambda's ``snapshot_restore_py``, recording the hooks it is given (``_restore`` runs them)."""
    hooks: list[Callable[[], object]] = []
    module = types.ModuleType("snapshot_restore_py")
    module.register_after_restore = hooks.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    return hooks


def _restore(hooks: list[Callable[[], object]]) -> None:
    for hook in hooks:
        hook()


def test_ingest_after_restore_reseeds_random_and_still_queues(
    restore_hooks: list[Callable[[], object]],
    ingest_settings: IngestSettings,
    aws_stack: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ingest import app

    monkeypatch.setattr(app.api, "ingestor", build_ingestor(ingest_settings))
    event = json.loads((EVENTS / "apigw-track.json").read_text())
    assert app.lambda_handler(event, LocalContext("edge-test", 60))["statusCode"] == 200

    random.seed(7)
    snapshot_state = random.getstate()
    _restore(restore_hooks)

    assert random.getstate() != snapshot_state
    assert app.lambda_handler(event, LocalContext("edge-test", 60))["statusCode"] == 200
    assert len(aws_stack.queued_events()) == 2


def test_forwarder_after_restore_has_no_pooled_connection_and_still_forwards(
    restore_hooks: list[Callable[[], object]],
    aws_stack: Any,
    httpserver: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from forward import app

    httpserver.expect_request("/v1/batch", method="POST").respond_with_json({}, status=200)
    settings = ForwardSettings.from_env(
        {
            "EDGE_SECRET_ID": aws_stack.secret_id,
            "DEAD_LETTER_QUEUE_URL": aws_stack.dead_letter_url,
            "METAROUTER_ENDPOINT": httpserver.url_for("").rstrip("/"),
        }
    )
    pool = build_pool(max_connections=2)
    forwarder = build_forwarder(settings, pool=pool)
    monkeypatch.setattr(app, "forwarder", forwarder)
    event = json.loads((EVENTS / "sqs-forward-batch.json").read_text())
    try:
        assert app.lambda_handler(event, LocalContext("edge-test", 60)) == {"batchItemFailures": []}
        assert len(pool.pools) == 1

        _restore(restore_hooks)

        assert len(pool.pools) == 0
        assert app.lambda_handler(event, LocalContext("edge-test", 60)) == {"batchItemFailures": []}
        assert len(httpserver.log) == 2
    finally:
        forwarder.close()


def test_outside_lambda_the_snapshot_module_is_not_needed(ingest_settings: IngestSettings) -> None:
    assert "snapshot_restore_py" not in sys.modules
    build_ingestor(ingest_settings)  # no ImportError: the hook module is optional
