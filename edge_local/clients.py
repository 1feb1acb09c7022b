"""Reaching the local stack's AWS endpoint (moto) from any process: its fake credentials, its one
Region, and the file where a running stack says where it listens (``make run`` writes it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3

__all__ = ["CREDENTIALS", "REGION", "STATE_FILE", "client"]

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": REGION}
STATE_FILE = Path(__file__).resolve().parents[1] / ".local" / "stack.json"


def client(service: str, endpoint: str) -> Any:
    """A boto3 client of ``service`` at a moto endpoint, with moto's fake credentials."""
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
