"""Forward Lambda: SQS events queue → MetaRouter HTTP API, with partial batch responses.

The events of every record are forwarded together (grouped by Source, packed into few
requests); the records SQS must redeliver — none of whose events got through, or whose
remainder could not be sent back to the queue — are answered in ``batchItemFailures``.
"""

from __future__ import annotations

import gc

# Init allocates a few hundred thousand objects (boto3's service models above all) and leaves
# almost none of them in garbage cycles: the collector would only scan a growing heap, over and
# over (~15% of a cold start, docs/performance.md). It is paused until init is done, and what
# init built is then frozen out of its reach for the life of the execution environment.
gc.disable()

from typing import TYPE_CHECKING, Any

from edge.core.config import ForwardSettings
from edge.core.observability import logger, metrics
from edge.forward.forwarding import QueuedMessage
from edge.forward.requeue import delivery_attempts
from edge.forward.wiring import build_forwarder

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext

forwarder = build_forwarder(ForwardSettings.from_env())
gc.freeze()
gc.enable()


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    records = event.get("Records") or []
    messages = [
        QueuedMessage(
            record["messageId"], record["body"], delivery_attempts(record), record.get("receiptHandle")
        )
        for record in records
    ]
    result = forwarder.forward(messages, context.get_remaining_time_in_millis())
    # Every record is answered, even when all fail: the function itself did not fail.
    return {
        "batchItemFailures": [
            {"itemIdentifier": message.message_id}
            for message in messages
            if message.message_id in result.failed
        ]
    }
