"""Forward Lambda: SQS events queue → MetaRouter HTTP API, with partial batch responses.

The events of every record are forwarded together first (grouped by Source, packed into few
requests); Powertools' ``BatchProcessor`` then reports the records none of whose events got
through (or whose remainder could not be sent back to the queue), for SQS to redeliver.
"""

from __future__ import annotations

import gc

# Init allocates a few hundred thousand objects (boto3's service models above all) and leaves
# almost none of them in garbage cycles: the collector would only scan a growing heap, over and
# over (~15% of a cold start, docs/performance.md). It is paused until init is done, and what
# init built is then frozen out of its reach for the life of the execution environment.
gc.disable()

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes import SQSEvent
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from edge.config import ForwardSettings
from edge.forwarding import QueuedMessage
from edge.observability import logger, metrics
from edge.requeue import delivery_attempts
from edge.wiring import build_forwarder

# Every record is answered in batchItemFailures, even when all fail: the function did not error.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
forwarder = build_forwarder(ForwardSettings.from_env())
gc.freeze()
gc.enable()


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    messages = [
        QueuedMessage(record.message_id, record.body, delivery_attempts(record.raw_event))
        for record in SQSEvent(event).records
    ]
    result = forwarder.forward(messages, context.get_remaining_time_in_millis())

    def report(record: SQSRecord) -> None:
        result.check(record.message_id)

    return process_partial_response(event, report, processor, context)
