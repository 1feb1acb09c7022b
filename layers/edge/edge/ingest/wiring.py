"""The ingest function's composition root: its clients, stores and services, built once per
execution environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from edge.core.config import IngestSettings
from edge.core.queueing import QueueWriter
from edge.core.runtime import after_snapstart_restore, aws_client_config, before_snapshot
from edge.core.secret import SecretStore
from edge.ingest.firstparty import AnonymousIdCookie, FirstParty, OriginVerifier
from edge.ingest.ingestion import Ingestor
from edge.ingest.models import build_models
from edge.ingest.plan import PlanPolicy
from edge.ingest.privacy import PrivacyPolicy

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

__all__ = ["build_first_party", "build_ingestor", "build_plan", "build_privacy"]


# The API Gateway integration times out at 30 s; two attempts of (1 s + 3 s) stay well inside it.
_INGEST_AWS = aws_client_config(connect_timeout=1, read_timeout=3, attempts=2)


def build_ingestor(
    settings: IngestSettings,
    *,
    sqs: SQSClient | None = None,
    secretsmanager: SecretsManagerClient | None = None,
    code_dir: Path | None = None,
) -> Ingestor:
    """The ingest service with real clients, unless given others. The tracking plan is read and
    compiled here, at init (``PlanError`` stops the function): ``TRACKING_PLAN`` is relative to
    ``code_dir``, the ingest function's code (default: Lambda's task root)."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

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
        privacy=build_privacy(settings),
        plan=build_plan(settings, code_dir or Path(os.environ.get("LAMBDA_TASK_ROOT", "."))),
    )


def build_plan(settings: IngestSettings, code_dir: Path) -> PlanPolicy:
    """The tracking plan as configured, compiled (none, unless its mode is on)."""
    return PlanPolicy.configure(settings.tracking_plan_mode, settings.tracking_plan, code_dir)


def build_privacy(settings: IngestSettings) -> PrivacyPolicy:
    """The privacy and data-quality controls as configured (the crawler list only if bots matter)."""
    return PrivacyPolicy.configure(
        bot_policy=settings.bot_policy,
        gpc_policy=settings.gpc_policy,
        required_consent=settings.required_consent,
        consent_when_missing=settings.consent_when_missing,
        hash_fields=settings.hash_fields,
        consent_cookie=settings.consent_cookie,
        gpc_opt_out=settings.gpc_opt_out,
    )


def build_first_party(
    settings: IngestSettings, *, secretsmanager: SecretsManagerClient | None = None
) -> FirstParty:
    """The ingest function's first-party settings; a Secrets Manager client only if CloudFront is verified."""
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
