"""The edge's secret: open or closed mode, and which upstream Source an event goes to (README, "The secret").

Inbound keys travel through SQS only as fingerprints, so neither a write key nor a Source ID
sits in a queue; the forwarder maps the fingerprint back to a Source ID with the same secret.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pydantic_core import SchemaValidator, ValidationError

from edge.core.archive import label_for, source_hash
from edge.core.errors import RequestError, TransientError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

__all__ = ["EdgeSecret", "SecretStore", "fingerprint"]

OPEN_SOURCE = None
"""The source fingerprint of events accepted in open mode."""


def _check_mode(write_key: str | None, sources: dict[str, str] | None) -> dict[str, Any]:
    """The secret's rules beyond its shape (``ValueError`` names the rule, never a value)."""
    if bool(write_key) == bool(sources):
        raise ValueError('the secret needs exactly one of "writeKey" or a non-empty "sources"')
    if sources and not all(sources.values()):
        raise ValueError("every source needs a non-empty Source ID")
    # Basic auth ends the user name at the first ':', so such a key or Source ID could never
    # be presented or sent. Which one is not said: the message must not print a key.
    names = [write_key or "", *(sources or {}), *(sources or {}).values()]
    if any(":" in name for name in names):
        raise ValueError("write keys and Source IDs cannot contain ':' (Basic auth cannot carry them)")
    return {"writeKey": write_key, "sources": sources}


def _checked(shape: dict[str, Any]) -> dict[str, Any]:
    return {**_check_mode(shape["writeKey"], shape["sources"]), "labels": shape["labels"]}


_OPTIONAL_MAP: Final[dict[str, Any]] = {
    "type": "typed-dict-field",
    "required": False,
    "schema": {
        "type": "default",
        "default": None,
        "schema": {
            "type": "nullable",
            "schema": {"type": "dict", "keys_schema": {"type": "str"}, "values_schema": {"type": "str"}},
        },
    },
}

#: The secret's shape (other keys ignored), then its rules; errors hide the input. A
#: pydantic-core schema, not a model: no pydantic import on the forwarder's cold start.
_SHAPE: Final = SchemaValidator(
    {
        "type": "function-after",
        "function": {"type": "no-info", "function": _checked},
        "schema": {
            "type": "typed-dict",
            "extra_behavior": "ignore",
            "fields": {
                "writeKey": {
                    "type": "typed-dict-field",
                    "required": False,
                    "schema": {
                        "type": "default",
                        "default": None,
                        "schema": {"type": "nullable", "schema": {"type": "str", "min_length": 1}},
                    },
                },
                "sources": _OPTIONAL_MAP,
                # The archive's name for each Source ID (edge.core.archive.label_for); optional.
                "labels": _OPTIONAL_MAP,
            },
        },
    },
    {"title": "EdgeSecret", "hide_input_in_errors": True},
)


def fingerprint(write_key: str) -> str:
    """A stable, non-reversible name for an inbound key (first 128 bits of its SHA-256)."""
    return hashlib.sha256(write_key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class EdgeSecret:
    """``{"writeKey": "<SourceID>"}`` (open) or ``{"sources": {"<inbound key>": "<SourceID>"}}`` (closed),
    and optionally ``{"labels": {"<SourceID>": "<label>"}}``: the archive's names for Sources."""

    writeKey: str | None = None
    sources: dict[str, str] | None = None
    labels: dict[str, str] | None = None

    def __post_init__(self) -> None:
        _check_mode(self.writeKey, self.sources)

    @classmethod
    def parse(cls, value: Any) -> EdgeSecret:
        """The secret as stored (its JSON decoded), or pydantic-core's ``ValidationError``, which
        never carries the secret's values."""
        return cls(**_SHAPE.validate_python(value))

    def authorize(self, inbound_key: str | None) -> str | None:
        """The source fingerprint for a request's key; 401 in closed mode if it is not listed."""
        if self.sources is None:
            return OPEN_SOURCE
        source = self.source_for(inbound_key)
        if source is None:
            raise RequestError(401, "invalid_write_key", "A valid write key is required.")
        return source

    def source_for(self, inbound_key: str | None) -> str | None:
        """In closed mode, the fingerprint of a listed key, or None for a missing or unknown one."""
        if self.sources is None or inbound_key is None:
            return None
        candidate = inbound_key.encode("utf-8", "surrogatepass")
        found = False
        for known in self.sources:  # compare with every key, in constant time each
            found |= hmac.compare_digest(candidate, known.encode("utf-8"))
        return fingerprint(inbound_key) if found else None

    def source_id_for(self, source: str | None) -> str | None:
        """The upstream Source ID for a message's source fingerprint, or None if unmapped."""
        if self.writeKey:
            return self.writeKey
        if source is None or self.sources is None:
            return None
        for key, source_id in self.sources.items():
            if hmac.compare_digest(fingerprint(key), source):
                return source_id
        return None

    def source_ids(self) -> list[str]:
        """Every upstream Source ID the secret names, each once."""
        if self.writeKey:
            return [self.writeKey]
        return list(dict.fromkeys((self.sources or {}).values()))

    def label_for(self, source_id: str) -> str:
        """The archive's name for a Source ID: its configured label, else its hash."""
        return label_for(source_id, self.labels)

    def source_id_for_label(self, label: str | None) -> str | None:
        """The Source ID the archive names ``label`` (its label, or its hash), or None."""
        if label is None:
            return None
        for source_id in self.source_ids():
            if label in (self.label_for(source_id), source_hash(source_id)):
                return source_id
        return None


class SecretStore:
    """Reads the secret through Powertools Parameters (cached for ``max_age`` seconds)."""

    def __init__(self, provider: SecretsProvider, secret_id: str, max_age: int) -> None:
        self._provider = provider
        self._secret_id = secret_id
        self._max_age = max_age
        # The provider hands back the same object while its cache holds it: validated once.
        self._parsed: tuple[object, EdgeSecret] | None = None

    def get(self, *, force: bool = False) -> EdgeSecret:
        """The current secret; any failure to read or parse it is transient (503 / retry)."""
        from aws_lambda_powertools.utilities.parameters.exceptions import (
            GetParameterError,
            TransformParameterError,
        )

        try:
            value: Any = self._provider.get(
                self._secret_id, max_age=self._max_age, transform="json", force_fetch=force
            )
            if self._parsed is not None and self._parsed[0] is value:
                return self._parsed[1]
            secret = EdgeSecret.parse(value)
            self._parsed = (value, secret)
            return secret
        except (GetParameterError, TransformParameterError) as exc:
            raise TransientError("The edge's secret could not be read.") from exc
        except ValidationError as exc:
            raise TransientError(f"The edge's secret is malformed: {exc.error_count()} errors.") from exc
