"""In-process stand-ins for SQS and Secrets Manager: no network, and they count what is sent."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["FakeSecretsManager", "FakeSqs"]


class FakeSqs:
    """Accepts every message; counts ``SendMessageBatch`` calls, entries and bytes, and keeps the
    bodies when asked to (``keep``)."""

    def __init__(self, *, keep: bool = False) -> None:
        self.calls = 0
        self.entries = 0
        self.bytes = 0
        self.bodies: list[str] | None = [] if keep else None

    def reset(self) -> None:
        self.calls = self.entries = self.bytes = 0
        if self.bodies is not None:
            self.bodies = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        self.entries += len(Entries)
        self.bytes += sum(len(entry["MessageBody"]) for entry in Entries)
        if self.bodies is not None:
            self.bodies += [entry["MessageBody"] for entry in Entries]
        return {"Successful": [{"Id": entry["Id"], "MessageId": entry["Id"]} for entry in Entries]}

    def send_message(self, *, QueueUrl: str, MessageBody: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        self.entries += 1
        self.bytes += len(MessageBody)
        return {"MessageId": "m"}


class FakeSecretsManager:
    """Answers ``GetSecretValue`` with one secret (Powertools caches it, as in Lambda)."""

    def __init__(self, secret: dict[str, Any]) -> None:
        self._value = json.dumps(secret)
        self.calls = 0

    def get_secret_value(self, *, SecretId: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        return {"ARN": SecretId, "Name": SecretId, "SecretString": self._value}
