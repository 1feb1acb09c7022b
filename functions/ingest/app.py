"""Ingest Lambda: API Gateway HTTP API → validate, enrich → SQS. Domain code lives in ``edge``."""

from __future__ import annotations

import gc

# Init allocates a few hundred thousand objects (boto3's service models above all) and leaves
# almost none of them in garbage cycles: the collector would only scan a growing heap, over and
# over (~15% of a cold start, docs/performance.md). It is paused until init is done, and what
# init built is then frozen out of its reach for the life of the execution environment.
gc.disable()

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.shared.cookies import Cookie
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic_core import to_json

from edge.config import IngestSettings
from edge.decoding import body_bytes, clean_text, parse_json
from edge.enrichment import RequestFacts, user_agent
from edge.errors import RequestError, TransientError
from edge.firstparty import FirstParty
from edge.observability import MetricName, MetricUnit, logger, metrics
from edge.outcomes import OutcomeLog, RequestTally
from edge.pixel import TRANSPARENT_GIF, event_from_query
from edge.routes import ROUTES, RouteKind, event_type_of
from edge.wiring import build_first_party, build_ingestor

app = APIGatewayHttpResolver()
settings = IngestSettings.from_env()
ingestor = build_ingestor(settings)
outcomes = OutcomeLog(settings.outcome_log_sample_rate)
tally = RequestTally()  # one invocation at a time per execution environment
first_party: FirstParty = build_first_party(settings)
gc.freeze()
gc.enable()


def collect(target: str | RouteKind) -> Response[str]:
    """One event of the route's type, or a batch."""
    request = app.current_event
    raw = body_bytes(
        request.body,
        is_base64=bool(request.is_base64_encoded),
        content_encoding=request.headers.get("content-encoding"),
    )
    body = parse_json(raw)
    outcome = ingestor.accept(
        target, body, headers=request.headers, query=_query(request), facts=_facts(request, len(raw))
    )
    tally.accepted = outcome.accepted
    for rejection in outcome.rejected:
        tally.reject(rejection.reason)
    # A request none of whose events is forwarded (a privacy control filtered them) gets no cookie.
    cookies = first_party.cookies(request.headers, body, request.cookies or []) if outcome.accepted else []
    return _json(200, outcome.body(), cookies=cookies)


def telemetry() -> Response[str]:
    metrics.add_metric(MetricName.CLIENT_TELEMETRY, MetricUnit.Count, 1)
    return _json(200, {"success": True})


def pixel(type: str) -> Response[bytes]:
    """An event of the path's ``{type}`` from the query string. Always an image: invalid input is
    quarantined and still answered 200."""
    request = app.current_event
    query = _query(request)
    try:
        event_type = event_type_of(type)
        if event_type is None:
            raise RequestError(404, "not_found", "The pixel API takes one event type.")
        facts = _facts(request, len(request.raw_query_string or ""))
        outcome = ingestor.accept(
            event_type, event_from_query(query), headers=request.headers, query=query, facts=facts
        )
        tally.accepted = outcome.accepted
    except RequestError as exc:
        tally.reject(exc.code)
        metrics.add_metric(MetricName.REQUESTS_REFUSED, MetricUnit.Count, 1)
        logger.info("pixel event not accepted", extra={"code": exc.code})
    except TransientError as exc:
        logger.warning("pixel event not queued", extra={"reason": exc.message})
        metrics.add_metric(MetricName.REQUESTS_UNAVAILABLE, MetricUnit.Count, 1)
        return _gif(503, {"Retry-After": str(exc.retry_after)})
    return _gif(200)


def _handler(target: str | RouteKind) -> Callable[..., Response[Any]]:
    if target is RouteKind.TELEMETRY:
        return telemetry
    if target is RouteKind.PIXEL:
        return pixel

    def events() -> Response[str]:
        return collect(target)

    return events


# The resolver routes exactly the table; Powertools spells API Gateway's {type} as <type>.
for route in ROUTES:
    app.route(route.path.replace("{", "<").replace("}", ">"), route.method)(_handler(route.target))


@app.not_found
def not_found(_: Exception) -> Response[str]:
    return _refuse(RequestError(404, "not_found", "No such route."))


@app.exception_handler(RequestError)  # type: ignore[untyped-decorator]
def request_error(exc: RequestError) -> Response[str]:
    return _refuse(exc)


def _refuse(exc: RequestError) -> Response[str]:
    tally.reject(exc.code, len(exc.details or ()) if exc.code == "invalid_batch" else int(exc.status != 404))
    metrics.add_metric(MetricName.REQUESTS_REFUSED, MetricUnit.Count, 1)
    if exc.status == 401:
        metrics.add_metric(MetricName.REQUESTS_UNAUTHORIZED, MetricUnit.Count, 1)
    logger.info("request refused", extra={"status": exc.status, "code": exc.code})
    return _error(exc)


@app.exception_handler(TransientError)  # type: ignore[untyped-decorator]
def unavailable(exc: TransientError) -> Response[str]:
    return _unavailable(exc)


def _unavailable(exc: TransientError) -> Response[str]:
    logger.warning("dependency unavailable", extra={"reason": exc.message})
    metrics.add_metric(MetricName.REQUESTS_UNAVAILABLE, MetricUnit.Count, 1)
    return _error(
        RequestError(503, "service_unavailable", "Try again shortly."), {"Retry-After": str(exc.retry_after)}
    )


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def unexpected(exc: Exception) -> Response[str]:
    # Never a 500: clients retry a 503, and nothing was acknowledged.
    logger.exception("unexpected error")
    return _unavailable(TransientError("unexpected error"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    tally.reset()
    response = app.resolve(event, context)
    outcomes.request(str(event.get("routeKey", "")), int(response.get("statusCode", 200)), tally)
    return response


def _facts(request: APIGatewayProxyEventV2, body_bytes: int) -> RequestFacts:
    epoch_ms = request.request_context.time_epoch
    received_at = datetime.fromtimestamp(epoch_ms / 1000, UTC) if epoch_ms else datetime.now(UTC)
    return RequestFacts(
        received_at=received_at,
        source_ip=first_party.client_ip(request.headers, request.request_context.http.source_ip),
        user_agent=user_agent(clean_text(request.headers.get("user-agent") or "")),
        body_bytes=body_bytes,
    )


def _query(request: APIGatewayProxyEventV2) -> dict[str, str]:
    return {clean_text(k): clean_text(v) for k, v in (request.query_string_parameters or {}).items()}


def _json(
    status: int,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
    cookies: list[Cookie] | None = None,
) -> Response[str]:
    return Response(status, "application/json", to_json(body).decode(), headers, cookies=cookies or None)


def _error(exc: RequestError, headers: dict[str, str] | None = None) -> Response[str]:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.details:
        error["details"] = exc.details
    return _json(exc.status, {"success": False, "error": error}, headers)


def _gif(status: int, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(status, "image/gif", TRANSPARENT_GIF, {"Cache-Control": "no-store", **(headers or {})})
