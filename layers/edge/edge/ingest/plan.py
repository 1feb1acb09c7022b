"""A tracking plan enforced at the edge: what each event must carry, judged as it is forwarded.

The plan is Segment's tracking-plan JSON, as its Config API exports it::

    {"display_name": "…", "rules": {
        "events": [{"name": "Order Completed", "version": 1, "rules": <JSON Schema over the event>}, …],
        "identify": <JSON Schema>, "group": <JSON Schema>, "global": <JSON Schema>}}

or as its Public API lists a plan's rules (``{"rules": [{"type": "TRACK", "key": "Order
Completed", "jsonSchema": {…}}, {"type": "IDENTIFY" | "GROUP" | "PAGE" | "SCREEN" | "COMMON",
…}]}``). Each schema is draft-07 over the whole event, so a track call's properties are under
``properties.properties`` and identify's and group's traits under ``properties.traits``.

A track event is judged by its name's rules (the highest ``version`` when several are listed)
and is *unplanned* when the plan has none; identify, group, page and screen by theirs, if the
plan has any; every call, alias included, by ``global``. A property (traits, for identify and
group) is *unplanned* when its rules list the properties they know and not this one.

The schemas are compiled once per execution environment, at init (a SnapStart snapshot holds
them), by jsonschema-rs: it validates an event in ~2 µs (~10 µs inside a request) where the
pure-Python ``jsonschema`` takes ~180 µs, and compiles a 50-event plan in ~3-4 ms where
``fastjsonschema`` takes ~200 ms and stops at the first error (docs/performance.md). Its
regular expressions run in linear time, so no event can make a plan's ``pattern`` backtrack
without end. A plan that cannot be read or compiled raises ``PlanError`` naming the file and the
problem: the function fails its init.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pydantic_core import to_json

from edge.core.config import PlanMode
from edge.core.queueing import serialize
from edge.ingest.limits import MAX_EVENT_BYTES

if TYPE_CHECKING:
    from jsonschema_rs import ValidationError, Validator

__all__ = [
    "MAX_VIOLATIONS",
    "NO_PLAN",
    "PLAN_ALLOWANCE",
    "UNPLANNED",
    "PlanError",
    "PlanMode",
    "PlanPolicy",
    "TrackingPlan",
    "Verdict",
    "Violation",
    "ViolationKind",
    "metric_name",
    "resolve",
]


class ViolationKind:
    """The ``kind`` of a violation (and the ``kind`` dimension of ``PlanViolations``)."""

    UNPLANNED_EVENT: Final = "unplanned_event"
    UNPLANNED_PROPERTY: Final = "unplanned_property"
    REQUIRED_MISSING: Final = "required_missing"
    WRONG_TYPE: Final = "wrong_type"
    NOT_ALLOWED_VALUE: Final = "not_allowed_value"


#: A violation as forwarded (``context.violations``) and quarantined: kind, path, message.
Violation = dict[str, str]

#: Violations kept per event: the first ones found, as many as fit ``PLAN_ALLOWANCE`` bytes.
MAX_VIOLATIONS: Final = 10
#: What an event's violations may add to it as JSON (``context.violations``): the most a flagged
#: event grows, so a plan never makes a request queue more than its events' allowance.
PLAN_ALLOWANCE: Final = 2048
#: The ``event`` dimension of violations of track events the plan does not know: their names
#: would each be a metric of their own.
UNPLANNED: Final = "(unplanned)"
_PATH_CHARS: Final = 100
_NAME_CHARS: Final = 200
_VIOLATIONS_KEY: Final = b',"violations":'
# The calls with rules of their own, and where their properties are.
_CONTAINERS: Final = {
    "track": "properties",
    "identify": "traits",
    "group": "traits",
    "page": "properties",
    "screen": "properties",
}
_CALLS: Final = ("identify", "group", "page", "screen")
# Public API rule types → sections.
_PUBLIC_TYPES: Final = {
    "IDENTIFY": "identify",
    "GROUP": "group",
    "PAGE": "page",
    "SCREEN": "screen",
    "COMMON": "global",
}


class PlanError(ValueError):
    """A plan that cannot be read or compiled: the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class _Rules:
    """One schema compiled, and the properties (or traits) it lists, if it lists them."""

    validator: Validator
    listed: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the plan says of one event: its first violations (within ``PLAN_ALLOWANCE``)."""

    violations: list[Violation]
    #: The event's unplanned properties (traits, for identify and group), for ``omit``.
    unplanned: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TrackingPlan:
    """A compiled plan and the file it came from."""

    path: str
    events: Mapping[str, _Rules]
    calls: Mapping[str, _Rules] = field(default_factory=dict)  # identify, group, page, screen
    everything: _Rules | None = None  # global

    @classmethod
    def load(cls, path: str | Path) -> TrackingPlan:
        """Read and compile the plan at ``path``; ``PlanError`` names the file and the problem."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PlanError(f"tracking plan {path}: cannot be read: {exc}") from exc
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise PlanError(f"tracking plan {path}: not JSON: {exc}") from exc
        try:
            return cls.compile(document, str(path))
        except PlanError as exc:
            raise PlanError(f"tracking plan {path}: {exc}") from None

    @classmethod
    def compile(cls, document: Any, path: str = "<plan>") -> TrackingPlan:
        """A plan from its JSON (either of Segment's shapes); ``PlanError`` says what is wrong."""
        sections = _sections(document)
        events: dict[str, _Rules] = {}
        versions: dict[str, float] = {}
        for index, entry in enumerate(sections["events"]):
            where = f"rules.events[{index}]"
            if not isinstance(entry, dict):
                raise PlanError(f"{where} is not an object")
            name = entry.get("name")
            if not isinstance(name, str) or not name:
                raise PlanError(f"{where} has no name")
            version = entry.get("version", 0)
            version = version if isinstance(version, (int, float)) and not isinstance(version, bool) else 0
            if name in versions and versions[name] >= version:
                continue
            versions[name] = version
            events[name] = _compile(entry.get("rules", {}), "properties", f"{where} ({name!r})")
        calls = {
            call: _compile(sections[call], _CONTAINERS[call], f"rules.{call}")
            for call in _CALLS
            if sections.get(call) is not None
        }
        everything = sections.get("global")
        return cls(
            path,
            events,
            calls,
            _compile(everything, "properties", "rules.global") if everything is not None else None,
        )

    def judge(self, event: Mapping[str, Any]) -> Verdict | None:
        """The event's violations, or None when it has none (the common case: one ``is_valid``
        per schema, in Rust). ``event`` must be strict JSON (it has been serialized)."""
        event_type = event.get("type")
        event_type = event_type if isinstance(event_type, str) else ""
        own: _Rules | None
        unplanned_event = False
        if event_type == "track":
            name = event.get("event")
            own = self.events.get(name) if isinstance(name, str) else None
            unplanned_event = own is None
        else:
            own = self.calls.get(event_type)
        container = _CONTAINERS.get(event_type)
        unplanned = _unplanned(event, container, own, self.everything) if own is not None else ()
        invalid = [r for r in (own, self.everything) if r is not None and not r.validator.is_valid(event)]
        if not (unplanned_event or unplanned or invalid):
            return None
        found: list[Violation] = []
        if unplanned_event:
            found.append(_violation(ViolationKind.UNPLANNED_EVENT, "event", "is not in the tracking plan"))
        found.extend(
            _violation(ViolationKind.UNPLANNED_PROPERTY, f"{container}.{name}", "is not in the tracking plan")
            for name in unplanned[:MAX_VIOLATIONS]
        )
        seen = {(v["kind"], v["path"]) for v in found}
        for rules in invalid:
            for violation in _violations(rules.validator.iter_errors(event)):
                if len(found) >= MAX_VIOLATIONS:
                    break
                key = (violation["kind"], violation["path"])
                if key not in seen:
                    seen.add(key)
                    found.append(violation)
        return Verdict(_within_allowance(found), unplanned)


def metric_name(event: Mapping[str, Any], planned: Mapping[str, Any]) -> str:
    """The ``event`` dimension of an event's violations: a planned track event's name, the
    call's type in parentheses for the others, ``UNPLANNED`` for unplanned track events."""
    event_type = event.get("type")
    if event_type == "track":
        name = event.get("event")
        return name[:_NAME_CHARS] if isinstance(name, str) and name in planned else UNPLANNED
    return f"({event_type})"


@dataclass(frozen=True, slots=True)
class PlanPolicy:
    """A plan and what the edge does with the events it judges (``NO_PLAN``: off)."""

    mode: PlanMode = "off"
    plan: TrackingPlan | None = None

    @classmethod
    def configure(cls, mode: PlanMode, path: str | None, base: Path) -> PlanPolicy:
        """The policy from its settings: the plan at ``path`` (relative to ``base``, the ingest
        function's code) read and compiled, unless the mode is ``off``."""
        if mode == "off":
            return NO_PLAN
        if not path:
            raise PlanError(f"TRACKING_PLAN_MODE is {mode} but TRACKING_PLAN names no plan file")
        return cls(mode, TrackingPlan.load(resolve(path, base)))

    @property
    def allowance(self) -> int:
        """What the policy may add to each forwarded event (its ``context.violations``)."""
        return PLAN_ALLOWANCE if self.mode in ("flag", "omit") else 0

    def apply(self, event: dict[str, Any], data: bytes) -> tuple[bytes, Verdict | None]:
        """Judge an enriched event serialized as ``data``: the event as it goes on (``flag``
        and ``omit`` add ``context.violations``, ``omit`` removes the unplanned properties or
        traits), and the verdict (None: no violation). ``block`` is the caller's.

        In ``flag`` and ``omit`` the edge owns ``context.violations``: one the client sent is
        removed first, so downstream no event carries violations the edge did not find."""
        if self.plan is None:
            return data, None
        marks = self.mode in ("flag", "omit")
        if marks and "violations" in event["context"]:
            del event["context"]["violations"]
            data = serialize(event)
        try:
            verdict = self.plan.judge(event)
        except Exception as exc:  # noqa: BLE001 - never a reason to answer 5xx or lose the event
            _unjudged(exc)
            return data, None
        except BaseException as exc:  # a Rust panic (pyo3's PanicException is a BaseException)
            if type(exc).__name__ != "PanicException":
                raise
            _unjudged(exc)
            return data, None
        if verdict is None or not marks:
            return data, verdict
        if self.mode == "omit" and verdict.unplanned:
            container = _CONTAINERS[event["type"]]
            event[container] = {k: v for k, v in event[container].items() if k not in verdict.unplanned}
        event["context"]["violations"] = verdict.violations
        marked = serialize(event)
        if len(marked) > MAX_EVENT_BYTES:  # the violations would make it too large: forwarded without
            del event["context"]["violations"]
            marked = serialize(event)
        return marked, verdict

    def metric_event(self, event: Mapping[str, Any]) -> str:
        return metric_name(event, self.plan.events if self.plan is not None else {})


def _unjudged(exc: BaseException) -> None:
    """An event the engine failed on goes on unjudged; the failure is logged, never its content."""
    from edge.core.observability import logger

    logger.error("tracking plan could not judge an event", extra={"error": type(exc).__name__})


#: No plan: what an ``Ingestor`` applies unless given one.
NO_PLAN: Final = PlanPolicy()


def resolve(path: str, base: Path) -> Path:
    """A plan's file: ``path`` if absolute, else relative to ``base``."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else base / candidate


def _sections(document: Any) -> dict[str, Any]:
    """The plan's sections in the Config API's shape, whichever shape it came in."""
    if not isinstance(document, dict):
        raise PlanError("is not a JSON object")
    rules = document.get("rules")
    if isinstance(rules, list):  # the Public API's list of rules
        sections: dict[str, Any] = {"events": []}
        for index, rule in enumerate(rules):
            if not isinstance(rule, dict):
                raise PlanError(f"rules[{index}] is not an object")
            kind = str(rule.get("type", "")).upper()
            if kind == "TRACK":
                sections["events"].append(
                    {
                        "name": rule.get("key"),
                        "version": rule.get("version", 0),
                        "rules": rule.get("jsonSchema"),
                    }
                )
            elif kind in _PUBLIC_TYPES:
                sections[_PUBLIC_TYPES[kind]] = rule.get("jsonSchema")
        return sections
    if not isinstance(rules, dict):
        raise PlanError('has no "rules" object (Segment\'s tracking-plan JSON: {"rules": {"events": [...]}})')
    events = rules.get("events", [])
    if not isinstance(events, list):
        raise PlanError("rules.events is not a list")
    return {"events": events, **{k: rules.get(k) for k in (*_CALLS, "global")}}


def _refuse_remote(uri: str) -> Any:
    raise ValueError(f"remote references are not fetched: {uri} (put the schema in the plan)")


def _compile(schema: Any, container: str, where: str) -> _Rules:
    """One schema compiled as draft-07 (whatever its ``$schema`` says), remote ``$ref``s refused."""
    import jsonschema_rs

    if not isinstance(schema, (dict, bool)):
        raise PlanError(f"{where}: the rules are not a JSON Schema (an object)")
    try:
        validator = jsonschema_rs.Draft7Validator(
            schema, retriever=_refuse_remote, pattern_options=jsonschema_rs.RegexOptions()
        )
    except (ValueError, jsonschema_rs.ReferencingError) as exc:
        problem = str(exc).split("\n", 1)[0]
        raise PlanError(f"{where}: not a valid draft-07 JSON Schema: {problem}") from None
    return _Rules(validator, _listed(schema, container))


def _listed(schema: Any, container: str) -> frozenset[str] | None:
    """The names a schema lists under ``properties.<container>.properties``, or None."""
    node: Any = schema
    for key in ("properties", container, "properties"):
        node = node.get(key) if isinstance(node, dict) else None
    return frozenset(node) if isinstance(node, dict) else None


def _unplanned(
    event: Mapping[str, Any], container: str | None, own: _Rules, everything: _Rules | None
) -> tuple[str, ...]:
    """The event's properties (traits) that rules listing theirs do not list."""
    values = event.get(container) if container else None
    if not isinstance(values, dict) or not values:
        return ()
    lists = [r.listed for r in (own, everything) if r is not None and r.listed is not None]
    if not lists:
        return ()
    known = lists[0] if len(lists) == 1 else lists[0] | lists[1]
    if values.keys() <= known:  # the common case, in C: no generator, no tuple
        return ()
    return tuple(name for name in values if name not in known)


def _violations(errors: Iterable[ValidationError]) -> Iterator[Violation]:
    for error in errors:
        kind = type(error.kind).__name__.removeprefix("ValidationErrorKind_")
        path = list(error.instance_path)
        if kind == "Required":
            missing = getattr(error.kind, "property", "")
            yield _violation(ViolationKind.REQUIRED_MISSING, _dotted([*path, missing]), "is required")
        elif kind in ("AdditionalProperties", "UnevaluatedProperties"):
            for name in getattr(error.kind, "unexpected", ()):
                yield _violation(
                    ViolationKind.UNPLANNED_PROPERTY, _dotted([*path, name]), "is not in the tracking plan"
                )
        elif kind == "FalseSchema":
            yield _violation(ViolationKind.UNPLANNED_PROPERTY, _dotted(path), "is not in the tracking plan")
        elif kind == "Type":
            expected = " or ".join(str(t) for t in getattr(error.kind, "types", ()))[:60]
            yield _violation(ViolationKind.WRONG_TYPE, _dotted(path), f"must be {expected or 'another type'}")
        else:
            keyword = error.schema_path[-1] if error.schema_path else kind
            yield _violation(
                ViolationKind.NOT_ALLOWED_VALUE, _dotted(path), f"fails the plan's {str(keyword)[:40]}"
            )


def _violation(kind: str, path: str, message: str) -> Violation:
    return {"kind": kind, "path": path[:_PATH_CHARS], "message": message}


def _dotted(path: list[Any]) -> str:
    return ".".join(str(part) for part in path) or "(event)"


def _within_allowance(found: list[Violation]) -> list[Violation]:
    """The first violations, at most ``MAX_VIOLATIONS``, that fit ``PLAN_ALLOWANCE`` bytes as JSON."""
    kept = found[:MAX_VIOLATIONS]
    while kept and len(_VIOLATIONS_KEY) + len(to_json(kept)) > PLAN_ALLOWANCE:
        kept.pop()
    return kept
