"""Typed configuration of each function, read from the environment once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field

from edge.enrichment import IpPolicy

__all__ = ["IngestSettings"]

#: SQS's classic message size limit; raise it only if your queues allow more (up to 1 MiB).
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        source = os.environ if env is None else env
        return cls.model_validate({k: v for k, v in source.items() if v != ""})


class IngestSettings(_Settings):
    """Environment of the ingest function."""

    events_queue_url: str = Field(alias="EVENTS_QUEUE_URL")
    quarantine_queue_url: str = Field(alias="QUARANTINE_QUEUE_URL")
    edge_secret_id: str = Field(alias="EDGE_SECRET_ID")
    ip_policy: IpPolicy = Field(default="keep", alias="IP_POLICY")
    secret_max_age: Annotated[int, Field(ge=0)] = Field(default=300, alias="SECRET_MAX_AGE_SECONDS")
    max_message_bytes: Annotated[int, Field(ge=1024, le=1024 * 1024)] = Field(
        default=DEFAULT_MAX_MESSAGE_BYTES, alias="SQS_MAX_MESSAGE_BYTES"
    )
