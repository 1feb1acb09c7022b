"""AWS on loopback: moto's server in a process of its own, holding the queues and the secret the
functions use, and the variables that point a function, or the bare SDK, at it.

A function loaded with these variables builds its real boto3 clients at init and reads its real
secret on its first invocation, as in Lambda, only over loopback instead of the region's network.
"""

from __future__ import annotations

import json
from typing import Final

from bench.lambda_env import lambda_environment
from bench.report import BenchError
from edge_local.aws import SeparateMoto
from edge_local.clients import client

__all__ = ["SOURCE_ID", "LoopbackAws"]

#: The Source ID the edge's (open-mode) secret maps every event to.
SOURCE_ID: Final = "BENCH_SOURCE"
_QUEUES: Final = {
    "EVENTS_QUEUE_URL": "edge-events",
    "QUARANTINE_QUEUE_URL": "edge-quarantine",
    "DEAD_LETTER_QUEUE_URL": "edge-dead-letters",
    # The archive is on by default (ArchiveRetentionDays): the forwarder hands what was confirmed to
    # this queue before it answers, as in Lambda.
    "ARCHIVE_QUEUE_URL": "edge-archive",
}


class LoopbackAws:
    """moto's server for as long as the ``with`` block lasts."""

    def __init__(self) -> None:
        self._moto: SeparateMoto | None = None
        self.variables: dict[str, str] = {}
        """What points a function at this endpoint: its URL, the queue URLs, the secret's ARN."""

    def __enter__(self) -> LoopbackAws:
        try:
            self._moto = SeparateMoto()
        except RuntimeError as exc:
            raise BenchError(str(exc)) from exc
        endpoint = self._moto.endpoint
        sqs = client("sqs", endpoint)
        self.variables = {"AWS_ENDPOINT_URL": endpoint}
        for variable, name in _QUEUES.items():
            self.variables[variable] = sqs.create_queue(QueueName=name)["QueueUrl"]
        self.variables["EDGE_SECRET_ID"] = client("secretsmanager", endpoint).create_secret(
            Name="edge-bench", SecretString=json.dumps({"writeKey": SOURCE_ID})
        )["ARN"]
        return self

    def __exit__(self, *_: object) -> None:
        if self._moto is not None:
            self._moto.stop()

    def environment(self, function: str, **extra: str) -> dict[str, str]:
        """Lambda's variables for ``function``, its AWS endpoint and resources on loopback."""
        unused = (
            {"QUARANTINE_QUEUE_URL"}
            if function == "forward"
            else {"DEAD_LETTER_QUEUE_URL", "ARCHIVE_QUEUE_URL"}
        )
        mine = {name: value for name, value in self.variables.items() if name not in unused}
        return {**lambda_environment(function), **mine, **extra}
