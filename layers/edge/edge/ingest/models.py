"""pydantic v2 models of the Segment event types: the contract of what the edge accepts.

Models validate; they do no I/O and do not rewrite the event (``edge.ingest.repairs`` runs first).
Unknown fields are allowed and left untouched. ``validate_event`` returns the field errors in the API's shape.
Each model's validator is built when it first validates (``defer_build``), so a cold start builds
only the types its first request carries; ``build_models`` builds them all (before a snapshot).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "EVENT_MODELS",
    "EVENT_TYPES",
    "ID_FIELDS",
    "BatchEnvelope",
    "FieldError",
    "build_models",
    "validate_event",
]

FieldError = dict[str, str]
"""One validation failure: ``{"field": "userId", "message": "…"}``."""


def _string_id(value: Any) -> Any:
    """Ids are strings here: ``edge.ingest.repairs`` has already turned numbers into strings."""
    if value is None or isinstance(value, str):
        return value
    raise PydanticCustomError("id_type", "must be a string or a number")


def _check_iso8601(value: str) -> str:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("iso8601", "must be an ISO-8601 date-time") from None
    return value


SegmentId = Annotated[str, BeforeValidator(_string_id)]
RequiredId = Annotated[str, BeforeValidator(_string_id), Field(min_length=1)]
IsoTimestamp = Annotated[str, AfterValidator(_check_iso8601)]
JsonObject = dict[str, Any]

#: Fields that are ids (``edge.ingest.repairs`` turns numbers given here into strings).
ID_FIELDS: Final = ("userId", "anonymousId", "groupId", "previousId")


class _Event(BaseModel):
    """Fields every Segment event may carry."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    userId: SegmentId | None = None
    anonymousId: SegmentId | None = None
    messageId: Annotated[str, Field(max_length=100)] | None = None
    timestamp: IsoTimestamp | None = None
    originalTimestamp: IsoTimestamp | None = None
    sentAt: IsoTimestamp | None = None
    context: JsonObject | None = None
    integrations: JsonObject | None = None

    @model_validator(mode="after")
    def _has_identity(self) -> _Event:
        if not self.userId and not self.anonymousId:
            raise PydanticCustomError(
                "missing_identity",
                "userId or anonymousId is required (a non-empty string)",
                {"field": "userId"},
            )
        return self


class Identify(_Event):
    traits: JsonObject | None = None


class Track(_Event):
    event: Annotated[str, Field(min_length=1)]
    properties: JsonObject | None = None


class Page(_Event):
    properties: JsonObject | None = None
    traits: JsonObject | None = None


class Screen(Page):
    pass


class Group(_Event):
    groupId: RequiredId
    traits: JsonObject | None = None


class Alias(_Event):
    userId: RequiredId
    previousId: RequiredId


EVENT_MODELS: Final[dict[str, type[_Event]]] = {
    "identify": Identify,
    "track": Track,
    "page": Page,
    "screen": Screen,
    "group": Group,
    "alias": Alias,
}
EVENT_TYPES: Final = frozenset(EVENT_MODELS)


class BatchEnvelope(BaseModel):
    """The body of ``/v1/batch``: items are validated one by one, not here; ``sentAt`` is
    repaired (or ignored) rather than refused, so it is not checked here either."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    batch: list[Any]
    context: JsonObject | None = None
    integrations: JsonObject | None = None


def build_models() -> None:
    """Build every model's validator now rather than on its first use."""
    models: tuple[type[BaseModel], ...] = (*EVENT_MODELS.values(), BatchEnvelope)
    for model in models:
        model.model_rebuild(force=True)


def validate_event(event: dict[str, Any], event_type: str) -> list[FieldError]:
    """The field errors of ``event`` as ``event_type`` (empty when it is valid)."""
    try:
        EVENT_MODELS[event_type].model_validate(event)
    except ValidationError as exc:
        return field_errors(exc)
    return []


def field_errors(exc: ValidationError) -> list[FieldError]:
    """pydantic's errors as ``{"field", "message"}`` pairs, field as a dotted path."""
    out: list[FieldError] = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in error["loc"])
        field = loc or str((error.get("ctx") or {}).get("field", ""))
        message = error["msg"]
        if error["type"] == "missing":
            message = "is required"
        out.append({"field": field, "message": message})
    return out
