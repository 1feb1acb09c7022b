"""Builds each function's boundaries once per execution environment (clients, pools, stores)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config

from edge.config import ForwardSettings, IngestSettings
from edge.queueing import QueueWriter
from edge.secret import SecretStore

if TYPE_CHECKING:
    import urllib3
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

    from edge.dedupe import DeliveryLog
    from edge.firstparty import FirstParty
    from edge.forwarding import Forwarder
    from edge.ingestion import Ingestor

__all__ = [
    "after_snapstart_restore",
    "aws_client_config",
    "before_snapshot",
    "build_first_party",
    "build_forwarder",
    "build_ingestor",
]


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


# The API Gateway integration times out at 30 s; two attempts of (1 s + 3 s) stay well inside it.
_INGEST_AWS = aws_client_config(connect_timeout=1, read_timeout=3, attempts=2)


def build_ingestor(
    settings: IngestSettings,
    *,
    sqs: SQSClient | None = None,
    secretsmanager: SecretsManagerClient | None = None,
) -> Ingestor:
    """The ingest service with real clients, unless given others."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from edge.ingestion import Ingestor  # not on the forwarder's cold-start path
    from edge.models import build_models
    from edge.privacy import PrivacyPolicy

    sqs = sqs or _client("sqs")
    secretsmanager = secretsmanager or _client("secretsmanager")

    def drop_connections() -> None:
        sqs.close()
        secretsmanager.close()

    after_snapstart_restore(drop_connections)
    before_snapshot(build_models)
    return Ingestor(
        events=QueueWriter(sqs, settings.events_queue_url, settings.max_message_bytes),
        quarantine=QueueWriter(sqs, settings.quarantine_queue_url, settings.max_message_bytes),
        secrets=SecretStore(
            SecretsProvider(boto3_client=secretsmanager), settings.edge_secret_id, settings.secret_max_age
        ),
        ip_policy=settings.ip_policy,
        privacy=PrivacyPolicy.configure(
            bot_policy=settings.bot_policy,
            gpc_policy=settings.gpc_policy,
            required_consent=settings.required_consent,
            consent_when_missing=settings.consent_when_missing,
            hash_fields=settings.hash_fields,
        ),
    )


def build_first_party(
    settings: IngestSettings, *, secretsmanager: SecretsManagerClient | None = None
) -> FirstParty:
    """The ingest function's first-party settings; a Secrets Manager client only if CloudFront is verified."""
    from edge.firstparty import AnonymousIdCookie, FirstParty, OriginVerifier

    cookie = (
        AnonymousIdCookie(settings.cookie_domain, settings.cookie_max_age) if settings.cookie_domain else None
    )
    if not settings.origin_verify_secret_id:
        return FirstParty(cookie=cookie)
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    client = secretsmanager or _client("secretsmanager")
    after_snapstart_restore(client.close)
    verifier = OriginVerifier(
        SecretsProvider(boto3_client=client),
        settings.origin_verify_secret_id,
        settings.secret_max_age,
        required=settings.require_origin_verify,
    )
    return FirstParty(verifier=verifier, cookie=cookie)


def _client(service: str) -> Any:
    return boto3.client(service, config=_INGEST_AWS)  # type: ignore[call-overload]


# Dead-lettering happens inside the forwarder's time margin: short timeouts, botocore's retries.
_FORWARD_AWS = aws_client_config(connect_timeout=1, read_timeout=3, attempts=3)


class _OnFirstUse:
    """A boto3 client created when first used: the forwarder writes to SQS only to park or send
    events back, and creating the client would cost every cold start ~10 ms for nothing."""

    def __init__(self, service: str, config: Config) -> None:
        self._service = service
        self._config = config
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
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

    from edge.batching import BatchLimits
    from edge.deadletter import DeadLetterQueue
    from edge.forwarding import Forwarder, Mode
    from edge.requeue import Requeuer
    from edge.retrying import RetryPolicy
    from edge.upstream import UpstreamClient, build_pool

    sqs = sqs or cast("SQSClient", _OnFirstUse("sqs", _FORWARD_AWS))
    secretsmanager = secretsmanager or boto3.client("secretsmanager", config=_FORWARD_AWS)
    pool = pool or build_pool(max_connections=settings.concurrency)
    executor = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="upstream")
    delivery_log: DeliveryLog | None = None
    if settings.dedupe_window_hours and settings.dedupe_table:
        from edge.dedupe import DynamoDeliveryLog

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
        sleep=sleep,
    )
