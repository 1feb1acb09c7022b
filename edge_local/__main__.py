"""``python -m edge_local``: run the whole pipeline locally in one foreground process.

Environment:
  PORT                   gateway port (default 3000; 0 picks a free one)
  UPSTREAM_PORT          stand-in port (default 3001; 0 picks a free one)
  LIVE_PORT              live events page port (default 3003; 0 picks a free one)
  AWS_PORT               embedded AWS endpoint port (default 0: a free one)
  METAROUTER_ENDPOINT    forward to this upstream instead of the stand-in
  METAROUTER_WRITE_KEY   open mode: the Source ID all events go to (default LOCAL_SOURCE_ID)
  EDGE_SOURCES           closed mode: JSON map of inbound write key -> Source ID
  ALLOWED_ORIGINS        comma-separated CORS origins (default: the template's AllowedOrigins)
  IP_POLICY              keep | anonymize | drop (default: the template's IpPolicy)
  BOT_POLICY, GPC_POLICY, REQUIRED_CONSENT, CONSENT_WHEN_MISSING, CONSENT_COOKIE, GPC_OPT_OUT, HASH_FIELDS
                         the privacy controls (default: the template's parameters)
  TRACKING_PLAN, TRACKING_PLAN_MODE
                         the tracking plan's file (relative to functions/ingest/, the ingest function's
                         code, or absolute) and off | observe | flag | omit | block (default off); a
                         plan that cannot be read stops the start with its error
  PATH_PREFIX            serve the API under this path too (/mr/v1/t), as the CloudFront front door does:
                         prefixed requests carry CloudFront-Viewer-Address and x-origin-verify (a
                         generated origin-verify secret ingest reads); REQUIRE_ORIGIN_VERIFY=true
                         then refuses the others, as RequireCloudFront does
  COOKIE_DOMAIN, COOKIE_MAX_AGE_SECONDS
                         the server-set ajs_anonymous_id cookie (default: off, as the template's CookieDomain)
  LOCAL_STATIC_DIR       tests only: files the gateway serves for GET on paths no route takes
  FORWARD_BATCHING_WINDOW, VISIBILITY_TIMEOUT, MAX_RECEIVE_COUNT
                         override the template's values (seconds / count), e.g. for quick demos
  ARCHIVE_RETENTION_DAYS the archive (default: the template's ArchiveRetentionDays; 0: off): the archive
                         queue and bucket in moto, and the archive function's worker, writing what the
                         upstream confirmed to the bucket (the ready line names it)
  ARCHIVE_BATCHING_WINDOW, ARCHIVE_VISIBILITY_TIMEOUT
                         the archive function's batching window (default 5 s here, 300 s in AWS) and its
                         queue's visibility timeout (default: the template's)
  DEDUPE_WINDOW_HOURS    effectively-once delivery: > 0 creates the delivery-log table in moto
                         (a server process of its own, as DynamoDB is a service of its own) and
                         turns the forwarder's log on (default 0: off)
  FORWARD_LOG_LEVEL      the forwarder's log level alone (DEBUG: a line per confirmed request, with
                         its messageIds: which answers it read before a kill)
  INGEST_CONCURRENCY, FORWARD_CONCURRENCY, ARCHIVE_CONCURRENCY
                         worker processes per function (default 2, the template's maximum, and 1)
  LOCAL_LOG_DIR          where the handlers' JSON logs go (default .local/logs)
  LOCAL_STATE_FILE       where the stack writes, once ready, the JSON of where it listens
                         (default .local/stack.json; edge_local.launch and edge_ops read it)
  Any other variable the handlers read (e.g. UPSTREAM_READ_TIMEOUT_SECONDS) passes through to them.

Fault injection (opt-in, for load and failure tests; off unless set):
  LOCAL_FAULTS=1         ingest reaches the embedded AWS endpoint through a proxy that can be paused,
                         and a control endpoint on loopback (its URL ends the ready line as
                         "| faults <url>") answers JSON POST /sqs/pause {"seconds": N} (SQS and Secrets
                         Manager unreachable from ingest alone) and POST /forward/kill {"wait": N}
                         (kill the forward worker processes mid-invocation), POST /s3/pause {"seconds": N}
                         (S3 unreachable from the archive function alone), and GET /forward/overlaps
                         (events of messages SQS handed out again while still being worked on);
                         see edge_local/faults.py
  FAULTS_PORT            the control endpoint's port (default 0: a free one)
  The upstream stand-in's own faults (always available, off until posted): JSON POST /_faults with
  status/retry_after, poison, delay, partial (207), max_bytes (413), refuse; see edge_local/upstream.py.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import string
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_local.aws import EmbeddedAws, Resources, SeparateMoto, create_delivered_table, edge_secret
from edge_local.clients import CREDENTIALS, STATE_FILE, client
from edge_local.faults import FaultControl, PausableProxy
from edge_local.functions import InitError, LocalFunction
from edge_local.gateway import Cors, Gateway
from edge_local.live import DeadLetterWatch, LiveFeed, LiveServer
from edge_local.poller import Poller
from edge_local.template import (
    FIRST_PARTY_VARIABLES,
    INGEST_CODE,
    PLAN_VARIABLES,
    PRIVACY_VARIABLES,
    ROOT,
    load,
)
from edge_local.upstream import Recorder, Upstream

if TYPE_CHECKING:
    from edge.ingest.plan import PlanPolicy
    from edge.ingest.privacy import PrivacyPolicy


def main() -> int:
    env = dict(os.environ)
    say = _printer()
    settings = load()
    secret = edge_secret(env)
    visibility = int(env.get("VISIBILITY_TIMEOUT") or settings.visibility_timeout)
    if env.get("MAX_RECEIVE_COUNT"):
        settings = type(settings)(**{**settings.__dict__, "max_receive_count": int(env["MAX_RECEIVE_COUNT"])})
    log_dir = Path(env.get("LOCAL_LOG_DIR") or ROOT / ".local" / "logs")
    log_dir.mkdir(parents=True, exist_ok=True)

    archive_days = int(env.get("ARCHIVE_RETENTION_DAYS") or settings.archive_retention_days)
    aws = EmbeddedAws(int(env.get("AWS_PORT") or 0))
    resources = aws.start(
        settings,
        secret,
        visibility_timeout=visibility,
        archive_days=archive_days,
        archive_visibility_timeout=_seconds(env.get("ARCHIVE_VISIBILITY_TIMEOUT")),
    )
    live, live_server = _start_live(env, secret, resources.dead_letter_queue_url)
    delivery_log, delivery_log_env = _delivery_log(int(env.get("DEDUPE_WINDOW_HOURS") or 0))

    upstream, endpoint = _start_upstream(env, secret, say, live)

    aws_env = {
        **CREDENTIALS,
        "AWS_ENDPOINT_URL": resources.endpoint,
        "POWERTOOLS_METRICS_NAMESPACE": "MetaRouterEdge/local",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
    }
    prefix, origin_verify, origin_verify_secret = _front_door(
        env.get("PATH_PREFIX") or "", resources.endpoint
    )
    proxy = PausableProxy.start_if_enabled(env, resources.endpoint)
    ingest_env = {
        **aws_env,
        **({"AWS_ENDPOINT_URL": proxy.url} if proxy else {}),
        **settings.ingest_environment,
        "EVENTS_QUEUE_URL": resources.events_queue_url,
        "QUARANTINE_QUEUE_URL": resources.quarantine_queue_url,
        "EDGE_SECRET_ID": resources.secret_id,
        "IP_POLICY": env.get("IP_POLICY") or settings.ip_policy,
        **{
            name: env[name]
            for name in (*PRIVACY_VARIABLES, *FIRST_PARTY_VARIABLES, *PLAN_VARIABLES)
            if name in env
        },
        "ORIGIN_VERIFY_SECRET_ID": origin_verify_secret,
    }
    ingest = LocalFunction(
        "ingest",
        "ingest.app",
        ingest_env,
        concurrency=int(env.get("INGEST_CONCURRENCY") or 2),
        timeout=settings.ingest_timeout,
        log=log_dir / "ingest.log",
    )
    forward_concurrency = int(env.get("FORWARD_CONCURRENCY") or settings.max_concurrency)
    forward = LocalFunction(
        "forward",
        "forward.app",
        {
            **aws_env,
            **settings.forward_environment,
            "EDGE_SECRET_ID": resources.secret_id,
            "METAROUTER_ENDPOINT": endpoint,
            "DEAD_LETTER_QUEUE_URL": resources.dead_letter_queue_url,
            "EVENTS_QUEUE_URL": resources.events_queue_url,
            # What the template derives from the queue: its redrive count and visibility timeout.
            "MAX_RECEIVE_COUNT": str(settings.max_receive_count),
            "REQUEUE_DELAY_SECONDS": str(min(visibility, 900)),
            **({"ARCHIVE_QUEUE_URL": resources.archive_queue_url} if resources.archive_queue_url else {}),
            **delivery_log_env,
            **({"POWERTOOLS_LOG_LEVEL": env["FORWARD_LOG_LEVEL"]} if env.get("FORWARD_LOG_LEVEL") else {}),
        },
        concurrency=forward_concurrency,
        timeout=settings.forward_timeout,
        log=log_dir / "forward.log",
    )
    archive, archive_proxy = _archive_function(env, settings, resources, aws_env, log_dir)
    try:
        for function in (ingest, forward, archive):
            if function is not None:
                function.warm()
    except InitError as exc:  # e.g. a tracking plan that cannot be read: the reason, not a traceback
        sys.stderr.write(f"cannot start: {exc}\n")
        _shut_down(
            [live_server, upstream, ingest, forward, archive], [archive_proxy, proxy, delivery_log, aws]
        )
        return 1

    origins = (
        tuple(o.strip() for o in env["ALLOWED_ORIGINS"].split(",")) if env.get("ALLOWED_ORIGINS") else None
    )
    gateway = Gateway(
        int(env.get("PORT") or 3000),
        ingest,
        settings,
        Cors(settings, origins),
        live,
        path_prefix=prefix,
        origin_verify=origin_verify,
        static_dir=Path(env["LOCAL_STATIC_DIR"]) if env.get("LOCAL_STATIC_DIR") else None,
        privacy=_privacy(ingest_env),
        plan=_plan(ingest_env),
    )
    poller = Poller(
        client("sqs", resources.endpoint),
        resources.events_queue_url,
        resources.events_queue_arn,
        forward,
        batch_size=settings.batch_size,
        batching_window=float(env.get("FORWARD_BATCHING_WINDOW") or settings.batching_window),
        max_concurrency=forward_concurrency,
        report=say,
        live=live,
    )
    poller.start()
    archive_poller = _archive_poller(env, settings, resources, archive, say)
    control = FaultControl.start_if_enabled(env, proxy, forward, poller, archive_proxy)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    say(
        f"ready: api {gateway.url} | aws {resources.endpoint} | upstream {endpoint}"
        f" | {'closed' if 'sources' in secret else 'open'} mode"
        f" | events {resources.events_queue_url} | dead-letter {resources.dead_letter_queue_url}"
        f" | quarantine {resources.quarantine_queue_url} | logs {log_dir} | live {live_server.url}"
        + (f" | dedupe {delivery_log_env['DEDUPE_WINDOW_HOURS']} h" if delivery_log else "")
        + (
            f" | archive s3://{resources.archive_bucket} ({archive_days} days)"
            * bool(resources.archive_bucket)
        )
        + (f" | faults {control.url}" if control else "")
    )
    state = Path(env.get("LOCAL_STATE_FILE") or STATE_FILE)
    _write_state(
        state,
        {
            "api": gateway.url,
            "aws": resources.endpoint,
            "upstream": endpoint,
            "events_queue_url": resources.events_queue_url,
            "dead_letter_queue_url": resources.dead_letter_queue_url,
            "quarantine_queue_url": resources.quarantine_queue_url,
            "live": live_server.url,
            "logs": str(log_dir),
            **({"faults": control.url} if control else {}),
            "archive_bucket": resources.archive_bucket or "",
            "archive_queue_url": resources.archive_queue_url or "",
            "dedupe_window_hours": delivery_log_env["DEDUPE_WINDOW_HOURS"],
        },
    )
    stop.wait()
    state.unlink(missing_ok=True)
    say("stopping")
    _shut_down(
        [poller, archive_poller, live_server, gateway, control, upstream, ingest, forward, archive],
        [archive_proxy if control is None else None, delivery_log, aws],
    )
    return 0


def _privacy(ingest_env: dict[str, str]) -> PrivacyPolicy:
    """Ingest's privacy controls, as its workers configure them: the live page asks them what
    ingest decided for each event (a filtered event is answered like a queued one)."""
    from edge.core.config import IngestSettings
    from edge.ingest.wiring import build_privacy

    return build_privacy(IngestSettings.from_env(ingest_env))


def _plan(ingest_env: dict[str, str]) -> PlanPolicy:
    """Ingest's tracking plan, as its workers read it (they already did: a plan that cannot be
    read failed their init): the live page asks it what each event breaks."""
    from edge.core.config import IngestSettings
    from edge.ingest.wiring import build_plan

    return build_plan(IngestSettings.from_env(ingest_env), INGEST_CODE)


def _archive_function(
    env: dict[str, str],
    settings: Any,
    resources: Resources,
    aws_env: dict[str, str],
    log_dir: Path,
) -> tuple[LocalFunction | None, PausableProxy | None]:
    """The archive function's workers, writing to the embedded S3 (through a proxy that can be
    paused, with LOCAL_FAULTS=1), or None without an archive."""
    if not resources.archive_bucket:
        return None, None
    proxy = PausableProxy.start_if_enabled(env, resources.endpoint)
    function = LocalFunction(
        "archive",
        "archive.app",
        {
            **aws_env,
            **({"AWS_ENDPOINT_URL": proxy.url} if proxy else {}),
            **settings.archive_environment,
            "ARCHIVE_BUCKET_NAME": resources.archive_bucket,
        },
        concurrency=int(env.get("ARCHIVE_CONCURRENCY") or 1),
        timeout=settings.archive_timeout,
        log=log_dir / "archive.log",
    )
    return function, proxy


def _shut_down(serving: list[Any], servers: list[Any]) -> None:
    """Stop what polls and serves (``stop`` or ``shutdown``), then the AWS endpoints."""
    for part in serving:
        if part is None:
            continue
        if isinstance(part, Poller):
            part.stop()
        else:
            part.shutdown()
    for server in servers:
        if server is not None:
            server.stop()


def _archive_poller(
    env: dict[str, str],
    settings: Any,
    resources: Resources,
    archive: LocalFunction | None,
    say: Callable[[str], None],
) -> Poller | None:
    """The archive queue's event source: batches for the archive function, as in AWS but with a
    5-second window by default (300 s there), so `make replay-local` finds events seconds later."""
    if archive is None or not resources.archive_queue_url:
        return None
    poller = Poller(
        client("sqs", resources.endpoint),
        resources.archive_queue_url,
        _queue_arn(resources.endpoint, resources.archive_queue_url),
        archive,
        batch_size=settings.archive_batch_size,
        batching_window=float(env.get("ARCHIVE_BATCHING_WINDOW") or 5),
        max_concurrency=int(env.get("ARCHIVE_CONCURRENCY") or 1),
        report=_quiet(say),
        name="archive",
    )
    poller.start()
    return poller


def _seconds(value: str | None) -> int | None:
    return int(value) if value else None


def _queue_arn(endpoint: str, queue_url: str) -> str:
    attributes = client("sqs", endpoint).get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def _quiet(say: Callable[[str], None]) -> Callable[[str], None]:
    """The archive poller's report: only what went wrong (a line per batch would drown the console)."""

    def report(line: str) -> None:
        if "left for redelivery" in line or "could not" in line or "failed" in line:
            say(line.replace("forwarder:", "archive:"))

    return report


def _start_upstream(
    env: dict[str, str], secret: dict[str, Any], say: Callable[[str], None], live: LiveFeed
) -> tuple[Upstream | None, str]:
    """METAROUTER_ENDPOINT if set, else the stand-in, listening: (the stand-in or None, its URL)."""
    if env.get("METAROUTER_ENDPOINT"):
        return None, env["METAROUTER_ENDPOINT"]
    source_ids = set(secret["sources"].values()) if "sources" in secret else {secret["writeKey"]}
    read_timeout = float(env.get("UPSTREAM_READ_TIMEOUT_SECONDS") or 10)  # the forwarder's
    recorder = Recorder(source_ids, say, live, read_timeout=read_timeout)
    upstream = Upstream(int(env.get("UPSTREAM_PORT") or 3001), recorder)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    return upstream, upstream.url


def _start_live(
    env: dict[str, str], secret: dict[str, Any], dead_letter_queue_url: str
) -> tuple[LiveFeed, LiveServer]:
    """The live events feed and its page on a loopback port of its own, with a watch on the
    dead-letter queue. The page never shows a key or a Source ID: entries are built from chosen
    fields only, and the feed scrubs the secret's values from every entry besides."""
    live = LiveFeed(secrets=_secret_values(secret))
    server = LiveServer(int(env.get("LIVE_PORT") or 3003), live, DeadLetterWatch(live, dead_letter_queue_url))
    server.start()
    return live, server


def _secret_values(secret: dict[str, Any]) -> set[str]:
    """Every write key and Source ID the local secret holds."""
    if "sources" in secret:
        return {str(v) for pair in secret["sources"].items() for v in pair}
    return {str(secret["writeKey"])}


def _delivery_log(hours: int) -> tuple[SeparateMoto | None, dict[str, str]]:
    """With a window: moto for DynamoDB with the table, and what the forwarder needs to use it."""
    if not hours:
        return None, {"DEDUPE_WINDOW_HOURS": "0"}
    server = SeparateMoto()
    table = create_delivered_table(client("dynamodb", server.endpoint))
    return server, {
        "DEDUPE_WINDOW_HOURS": str(hours),
        "DEDUPE_TABLE_NAME": table,
        "AWS_ENDPOINT_URL_DYNAMODB": server.endpoint,
    }


def _front_door(path_prefix: str, endpoint: str) -> tuple[str, str | None, str]:
    """PATH_PREFIX as the template's PathPrefix takes it (/mr, no trailing slash) and, with one,
    a generated origin-verify value in the embedded Secrets Manager (letters and digits, as the
    template's OriginVerifySecret) and its ARN. The value is never printed."""
    prefix = path_prefix.rstrip("/")
    if not prefix:
        return "", None, ""
    if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", prefix):
        raise SystemExit("PATH_PREFIX must be a path such as /mr")
    value = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(48))
    arn = client("secretsmanager", endpoint).create_secret(
        Name="metarouter-edge/origin-verify", SecretString=value
    )["ARN"]
    return prefix, value, str(arn)


def _write_state(path: Path, state: dict[str, str]) -> None:
    """Where the running stack listens, written once it is ready (whole, never half-written):
    for the operator tools (``python -m edge_ops.redrive --local``) and ``edge_local.launch``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(state, indent=2))
    partial.replace(path)


def _printer() -> Any:
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    return say


if __name__ == "__main__":
    sys.exit(main())
