"""The settings the local stack shares with ``template.yaml``, read from the template itself."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
#: The ingest function's first-party cookie settings, passed through from the shell.
FIRST_PARTY_VARIABLES = ("COOKIE_DOMAIN", "COOKIE_MAX_AGE_SECONDS", "REQUIRE_ORIGIN_VERIFY")
#: The ingest function's tracking plan, passed through from the shell: a relative ``TRACKING_PLAN``
#: is relative to the ingest function's code (``functions/ingest/``), as in Lambda.
PLAN_VARIABLES = ("TRACKING_PLAN", "TRACKING_PLAN_MODE")
#: The ingest function's privacy controls: template parameters, and the same variables locally.
PRIVACY_VARIABLES = (
    "BOT_POLICY",
    "GPC_POLICY",
    "REQUIRED_CONSENT",
    "CONSENT_WHEN_MISSING",
    "CONSENT_COOKIE",
    "GPC_OPT_OUT",
    "HASH_FIELDS",
)
TEMPLATE = ROOT / "template.yaml"
#: The ingest function's code directory: what ships to Lambda, and its task root there.
INGEST_CODE = ROOT / "functions" / "ingest"


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that keeps CloudFormation's short-form tags as ``{"Fn::X": value}``."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise TypeError(f"unexpected YAML node {node!r}")
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class TemplateSettings:
    """What the local stack takes from the template (parameter defaults resolved)."""

    routes: tuple[Route, ...]
    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...]
    allow_headers: tuple[str, ...]
    expose_headers: tuple[str, ...]
    cors_max_age: int
    ip_policy: str
    batch_size: int
    batching_window: float
    max_concurrency: int
    max_receive_count: int
    visibility_timeout: int
    events_queue_attributes: dict[str, str]
    dead_letter_queue_attributes: dict[str, str]
    quarantine_queue_attributes: dict[str, str]
    ingest_timeout: int
    forward_timeout: int
    ingest_environment: dict[str, str]
    forward_environment: dict[str, str]
    archive_retention_days: int
    """The template's ``ArchiveRetentionDays`` default (0: no archive)."""
    archive_queue_attributes: dict[str, str]
    archive_timeout: int
    archive_batch_size: int
    archive_batching_window: float
    archive_max_concurrency: int
    archive_environment: dict[str, str]


def load(path: Path = TEMPLATE) -> TemplateSettings:
    """Read ``template.yaml`` and resolve the parameters to their defaults."""
    doc = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    params = {name: spec.get("Default") for name, spec in doc.get("Parameters", {}).items()}
    resources = doc["Resources"]

    def resolve(value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"Ref"}:
            return params.get(value["Ref"], value["Ref"])
        return value

    api = resources["HttpApi"]["Properties"]
    cors = api["CorsConfiguration"]
    ingest = resources["IngestFunction"]["Properties"]
    forward = resources["ForwardFunction"]["Properties"]
    source = next(e["Properties"] for e in forward["Events"].values() if e["Type"] == "SQS")
    events_queue = resources["EventsQueue"]["Properties"]
    archive = resources["ArchiveFunction"]["Properties"]
    archive_source = next(e["Properties"] for e in archive["Events"].values() if e["Type"] == "SQS")
    origins = resolve(cors["AllowOrigins"])
    return TemplateSettings(
        routes=tuple(
            _route(event["Properties"]["Method"], event["Properties"]["Path"])
            for event in ingest["Events"].values()
            if event["Type"] == "HttpApi"
        ),
        allow_origins=tuple(o.strip() for o in (origins.split(",") if isinstance(origins, str) else origins)),
        allow_methods=tuple(cors.get("AllowMethods", [])),
        allow_headers=tuple(h.lower() for h in cors.get("AllowHeaders", [])),
        expose_headers=tuple(h.lower() for h in cors.get("ExposeHeaders", [])),
        cors_max_age=int(cors.get("MaxAge", 0)),
        ip_policy=str(params.get("IpPolicy", "keep")),
        batch_size=int(resolve(source["BatchSize"])),
        batching_window=float(resolve(source.get("MaximumBatchingWindowInSeconds", 0))),
        max_concurrency=int(resolve(source.get("ScalingConfig", {}).get("MaximumConcurrency", 2))),
        max_receive_count=int(resolve(events_queue["RedrivePolicy"]["maxReceiveCount"])),
        visibility_timeout=int(events_queue["VisibilityTimeout"]),
        events_queue_attributes=_queue_attributes(events_queue),
        dead_letter_queue_attributes=_queue_attributes(resources["DeadLetterQueue"]["Properties"]),
        quarantine_queue_attributes=_queue_attributes(resources["QuarantineQueue"]["Properties"]),
        ingest_timeout=int(ingest.get("Timeout", 3)),
        forward_timeout=int(forward.get("Timeout", 3)),
        ingest_environment=_plain_env(ingest),
        forward_environment=_plain_env(forward),
        archive_retention_days=int(params.get("ArchiveRetentionDays") or 0),
        archive_queue_attributes=_queue_attributes(resources["ArchiveQueue"]["Properties"]),
        archive_timeout=int(archive.get("Timeout", 3)),
        archive_batch_size=int(resolve(archive_source["BatchSize"])),
        archive_batching_window=float(resolve(archive_source.get("MaximumBatchingWindowInSeconds", 0))),
        archive_max_concurrency=int(
            resolve(archive_source.get("ScalingConfig", {}).get("MaximumConcurrency", 2))
        ),
        archive_environment=_plain_env(archive),
    )


def _route(method: str, path: str) -> Route:
    pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path))
    return Route(method.upper(), path, re.compile(f"^{pattern}$"))


_QUEUE_ATTRIBUTES = ("VisibilityTimeout", "MessageRetentionPeriod", "MaximumMessageSize", "DelaySeconds")


def _queue_attributes(props: dict[str, Any]) -> dict[str, str]:
    return {name: str(props[name]) for name in _QUEUE_ATTRIBUTES if name in props}


def _plain_env(props: dict[str, Any]) -> dict[str, str]:
    """The function's literal environment variables (references are filled in locally)."""
    variables = props.get("Environment", {}).get("Variables", {})
    return {k: str(v) for k, v in variables.items() if isinstance(v, (str, int, float))}
