"""Ingest Lambda: API Gateway HTTP API → validate, enrich → SQS. Domain code lives in ``edge.ingest``."""

from __future__ import annotations

import gc
from pathlib import Path

# Init allocates a few hundred thousand objects (boto3's service models above all) and leaves
# almost none of them in garbage cycles: the collector would only scan a growing heap, over and
# over (~15% of a cold start, docs/performance.md). It is paused until init is done, and what
# init built is then frozen out of its reach for the life of the execution environment.
gc.disable()

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from edge.core.config import IngestSettings
from edge.core.observability import Invocations, metrics
from edge.ingest.http import Answer, IngestApi
from edge.ingest.outcomes import OutcomeLog
from edge.ingest.wiring import build_first_party, build_ingestor

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

settings = IngestSettings.from_env()
api = IngestApi(
    build_ingestor(settings, code_dir=Path(__file__).parent),
    build_first_party(settings),
    OutcomeLog(settings.outcome_log_sample_rate),
)
invocations = Invocations()
gc.freeze()
gc.enable()


@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Answer:
    invocations.begin(context, (event.get("requestContext") or {}).get("requestId"))  # the API's
    return api.handle(APIGatewayProxyEventV2(event))
