"""Archive Lambda: SQS archive queue → gzip JSON Lines objects in the archive bucket.

The events of every record are written together, one object per Source and hour of
``receivedAt``; the records whose objects could not be written are answered in
``batchItemFailures``, so SQS hands them out again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edge.archive.wiring import build_archiver
from edge.archive.writing import Record
from edge.core.config import ArchiveSettings
from edge.core.observability import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext

archiver = build_archiver(ArchiveSettings.from_env())


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    records = [Record(record["messageId"], record["body"]) for record in event.get("Records") or []]
    written = archiver.write(records, context.aws_request_id)
    return {
        "batchItemFailures": [
            {"itemIdentifier": record.message_id} for record in records if record.message_id in written.failed
        ]
    }
