"""The ingest API over HTTP: an API Gateway (payload 2.0) request read once, routed by the one
table (``edge.ingest.routes``), handed to the ingestor, and answered; every error is mapped to
its answer here, never a 500."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from pydantic_core import to_json

from edge.core.errors import RequestError, TransientError
from edge.core.observability import MetricName, MetricUnit, logger, metrics
from edge.ingest.decoding import clean_text, parse_json, read_body
from edge.ingest.enrichment import RequestFacts, user_agent
from edge.ingest.firstparty import client_ip
from edge.ingest.outcomes import OutcomeLog, RequestTally
from edge.ingest.pixel import TRANSPARENT_GIF, event_from_query
from edge.ingest.routes import RouteKind, event_type_of, match

if TYPE_CHECKING:
    from aws_lambda_powertools.shared.cookies import Cookie

    from edge.ingest.firstparty import FirstParty
    from edge.ingest.ingestion import Ingestor

__all__ = ["Answer", "IngestApi", "Request"]

#: An HTTP API (payload 2.0) answer: statusCode, headers, cookies, body, isBase64Encoded.
Answer = dict[str, Any]


class Request:
    """One API Gateway request, read once: Powertools' typed event, its headers lower-cased
    (HTTP API sends them so already; a plain dict is a tenth of the cost of a case-insensitive
    one on every look-up)."""

    __slots__ = ("event", "headers", "verified")

    def __init__(self, event: APIGatewayProxyEventV2) -> None:
        self.event = event
        raw: dict[str, str] = event.get("headers") or {}
        # One scan of the names instead of a new dictionary, in the usual case.
        lower = "".join(raw).islower() or not raw
        self.headers = raw if lower else {name.lower(): value for name, value in raw.items()}
        #: Whether CloudFront's origin-verify header was presented and matched.
        self.verified = False

    def query(self) -> dict[str, str]:
        return {clean_text(k): clean_text(v) for k, v in self.event.query_string_parameters.items()}

    def facts(self, body_bytes: int, wire_bytes: int | None = None) -> RequestFacts:
        context = self.event.request_context
        epoch_ms = context.time_epoch
        received_at = datetime.fromtimestamp(epoch_ms / 1000, UTC) if epoch_ms else datetime.now(UTC)
        return RequestFacts(
            received_at=received_at,
            source_ip=client_ip(self.headers, context.http.source_ip, verified=self.verified),
            user_agent=user_agent(clean_text(self.headers.get("user-agent") or "")),
            body_bytes=body_bytes,
            wire_bytes=wire_bytes,
        )


class IngestApi:
    """The ingest function's answers: one request at a time per execution environment."""

    def __init__(self, ingestor: Ingestor, first_party: FirstParty, outcomes: OutcomeLog) -> None:
        self.ingestor = ingestor
        self.first_party = first_party
        self.outcomes = outcomes
        self.tally = RequestTally()

    def handle(self, event: APIGatewayProxyEventV2) -> Answer:
        """The request answered, and its outcome line written (sampled)."""
        self.tally.reset()
        response = self.answer(event)
        self.outcomes.request(str(event.get("routeKey", "")), response["statusCode"], self.tally)
        return response

    def collect(self, request: Request, target: str | RouteKind) -> Answer:
        """One event of the route's type, or a batch."""
        event = request.event
        raw = read_body(
            event.body,
            is_base64=bool(event.is_base64_encoded),
            content_encoding=request.headers.get("content-encoding"),
        )
        body = parse_json(raw.data)
        facts = request.facts(len(raw.data), raw.wire)
        if target is RouteKind.CUSTOM:
            outcome = self.ingestor.accept_custom(
                body, headers=request.headers, query=request.query(), facts=facts
            )
        else:
            outcome = self.ingestor.accept(
                target,
                body,
                headers=request.headers,
                query=request.query(),
                facts=facts,
                cookies=event.cookies,
            )
        self.tally.take(outcome)
        for rejection in outcome.rejected:
            self.tally.reject(rejection.reason)
        if target is RouteKind.CUSTOM:  # its anonymous id is in its metadata, not in its fields
            body = {"anonymousId": outcome.anonymous_id}
        # A request none of whose events is forwarded or kept (a privacy control filtered them)
        # gets no cookie.
        kept = outcome.accepted or outcome.blocked
        cookies = self.first_party.cookies(request.headers, body, event.cookies) if kept else []
        return json_answer(200, outcome.body(), cookies=cookies)

    def telemetry(self, _: Request) -> Answer:
        metrics.add_metric(MetricName.CLIENT_TELEMETRY, MetricUnit.Count, 1)
        return json_answer(200, {"success": True})

    def pixel(self, request: Request, type: str) -> Answer:
        """An event of the path's ``{type}`` from the query string. Always an image: invalid input is
        quarantined and still answered 200; a request that bypasses a required front door, 403."""
        try:
            request.verified = self.first_party.verified(request.headers)  # first, as on every route
            query = request.query()
            event_type = event_type_of(type)
            if event_type is None:
                raise RequestError(404, "not_found", "The pixel API takes one event type.")
            facts = request.facts(len(request.event.raw_query_string or ""))
            outcome = self.ingestor.accept(
                event_type,
                event_from_query(query),
                headers=request.headers,
                query=query,
                facts=facts,
                cookies=request.event.cookies,
            )
            self.tally.take(outcome)
        except RequestError as exc:
            self.tally.reject(exc.code)
            metrics.add_metric(MetricName.REQUESTS_REFUSED, MetricUnit.Count, 1)
            logger.info("pixel event not accepted", extra={"code": exc.code})
            if exc.status == 403:
                return gif_answer(403)
        except TransientError as exc:
            logger.warning("pixel event not queued", extra={"reason": exc.message})
            metrics.add_metric(MetricName.REQUESTS_UNAVAILABLE, MetricUnit.Count, 1)
            return gif_answer(503, {"Retry-After": str(exc.retry_after)})
        return gif_answer(200)

    def answer(self, event: APIGatewayProxyEventV2) -> Answer:
        """The route of the table (``edge.ingest.routes``) the request takes, answered; every error mapped
        to its answer here, never a 500."""
        try:
            found = match(event.http_method, event.path)
            if found is None:
                raise RequestError(404, "not_found", "No such route.")
            route, parameters = found
            request = Request(event)
            if route.target is RouteKind.PIXEL:
                return self.pixel(request, parameters["type"])
            # First: a request that bypasses a required front door costs no decoding at all.
            request.verified = self.first_party.verified(request.headers)
            if route.target is RouteKind.TELEMETRY:
                return self.telemetry(request)
            return self.collect(request, route.target)
        except RequestError as exc:
            return self._refuse(exc)
        except TransientError as exc:
            return self._unavailable(exc)
        except Exception:  # noqa: BLE001 - never a 500: clients retry a 503, and nothing was acknowledged
            logger.exception("unexpected error")
            return self._unavailable(TransientError("unexpected error"))

    def _refuse(self, exc: RequestError) -> Answer:
        self.tally.reject(
            exc.code, exc.rejected_count if exc.rejected_count is not None else int(exc.status != 404)
        )
        metrics.add_metric(MetricName.REQUESTS_REFUSED, MetricUnit.Count, 1)
        if exc.status == 401:
            metrics.add_metric(MetricName.REQUESTS_UNAUTHORIZED, MetricUnit.Count, 1)
        logger.info("request refused", extra={"status": exc.status, "code": exc.code})
        return error_answer(exc)

    def _unavailable(self, exc: TransientError) -> Answer:
        logger.warning("dependency unavailable", extra={"reason": exc.message})
        metrics.add_metric(MetricName.REQUESTS_UNAVAILABLE, MetricUnit.Count, 1)
        return error_answer(
            RequestError(503, "service_unavailable", "Try again shortly."),
            {"Retry-After": str(exc.retry_after)},
        )


def json_answer(
    status: int,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
    cookies: list[Cookie] | None = None,
) -> Answer:
    return _answer(status, "application/json", to_json(body).decode(), headers, cookies)


def error_answer(exc: RequestError, headers: dict[str, str] | None = None) -> Answer:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.details:
        error["details"] = exc.details
    if exc.rejected_count is not None:
        error["rejectedCount"] = exc.rejected_count
    return json_answer(exc.status, {"success": False, "error": error}, headers)


def gif_answer(status: int, headers: dict[str, str] | None = None) -> Answer:
    return _answer(status, "image/gif", TRANSPARENT_GIF, {"Cache-Control": "no-store", **(headers or {})})


def _answer(
    status: int,
    content_type: str,
    body: str | bytes,
    headers: dict[str, str] | None,
    cookies: list[Cookie] | None = None,
) -> Answer:
    """Payload 2.0's answer; a binary body travels base64-encoded."""
    return {
        "statusCode": status,
        "body": base64.b64encode(body).decode() if isinstance(body, bytes) else body,
        "isBase64Encoded": isinstance(body, bytes),
        "headers": {**(headers or {}), "Content-Type": content_type},
        "cookies": [str(cookie) for cookie in cookies or ()],
    }
