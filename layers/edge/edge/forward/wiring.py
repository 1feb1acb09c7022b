"""The forward function's composition root: its clients, pool, stores and the forwarder, built
once per execution environment."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config

from edge.core.config import ForwardSettings
from edge.core.runtime import after_snapstart_restore, aws_client_config
from edge.core.secret import SecretStore
from edge.forward.archiving import ArchiveQueue
from edge.forward.batching import BatchLimits
from edge.forward.deadletter import DeadLetterQueue
from edge.forward.forwarding import Forwarder, Mode
from edge.forward.requeue import Requeuer
from edge.forward.retrying import RetryPolicy
from edge.forward.upstream import UpstreamClient, build_pool

if TYPE_CHECKING:
    import urllib3
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

    from edge.forward.dedupe import DeliveryLog

__all__ = ["build_forwarder"]


# Dead-lettering happens inside the forwarder's time margin: short timeouts, botocore's retries.
_FORWARD_AWS = aws_client_config(connect_timeout=1, read_timeout=3, attempts=3)


class _OnFirstUse:
    """A boto3 client created when first used: the forwarder writes to SQS only to park or send
    events back, and creating the client would cost every cold start ~10 ms for nothing."""

    def __init__(self, service: str, config: Config) -> None:
        self._service = service
        self._config = config
        self._client: Any = None
        self._lock = threading.Lock()  # the archive's thread and this one may both be first

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = boto3.client(self._service, config=self._config)  # type: ignore[call-overload]
        return getattr(self._client, name)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def build_forwarder(
    settings: ForwardSettings,
    *,
    sqs: SQSClient | None = None,
    secretsmanager: SecretsManagerClient | None = None,
    pool: urllib3.PoolManager | None = None,
    dynamodb: DynamoDBClient | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Forwarder:
    """The forwarder with real clients and one connection pool, unless given others.

    DynamoDB is imported and its client created only with a delivery log (``DEDUPE_WINDOW_HOURS``).
    """
    from concurrent.futures import ThreadPoolExecutor

    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    sqs = sqs or cast("SQSClient", _OnFirstUse("sqs", _FORWARD_AWS))
    secretsmanager = secretsmanager or boto3.client("secretsmanager", config=_FORWARD_AWS)
    pool = pool or build_pool(max_connections=settings.concurrency)
    executor = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="upstream")
    delivery_log: DeliveryLog | None = None
    if settings.dedupe_window_hours and settings.dedupe_table:
        from edge.forward.dedupe import DynamoDeliveryLog

        dynamodb = dynamodb or boto3.client("dynamodb", config=_FORWARD_AWS)
        # Its own threads: it records while the upstream requests still occupy the pool's.
        delivery_log = DynamoDeliveryLog(
            dynamodb,
            settings.dedupe_table,
            window_hours=settings.dedupe_window_hours,
            # A claim outlives the longest request: two connects (one reconnect) and a read.
            hold_seconds=2 * settings.connect_timeout + settings.read_timeout,
            executor=ThreadPoolExecutor(max_workers=4, thread_name_prefix="delivery-log"),
            writer=ThreadPoolExecutor(max_workers=4, thread_name_prefix="delivery-log-writes"),
        )

    def drop_connections() -> None:
        sqs.close()
        secretsmanager.close()
        pool.clear()
        if dynamodb is not None:
            dynamodb.close()

    after_snapstart_restore(drop_connections)
    upstream = UpstreamClient(
        pool,
        settings.endpoint,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        gzip=settings.gzip,
    )
    return Forwarder(
        upstream=upstream,
        secrets=SecretStore(
            SecretsProvider(boto3_client=secretsmanager), settings.edge_secret_id, settings.secret_max_age
        ),
        dead_letters=DeadLetterQueue(sqs, settings.dead_letter_queue_url),
        executor=executor,
        limits=BatchLimits(settings.max_batch_events, settings.max_batch_bytes),
        policy=RetryPolicy(
            max_attempts=settings.max_attempts, base=settings.backoff_base, cap=settings.backoff_max
        ),
        mode=Mode(settings.mode),
        margin=settings.time_margin,
        requeuer=(
            Requeuer(sqs, settings.events_queue_url, delay=settings.requeue_delay)
            if settings.events_queue_url
            else None
        ),
        max_deliveries=settings.max_receive_count,
        delivery_log=delivery_log,
        archive=ArchiveQueue(sqs, settings.archive_queue_url) if settings.archive_queue_url else None,
        sleep=sleep,
    )
