"""Writes events/apigw-*.json: API Gateway HTTP API (payload 2.0) events, as API Gateway sends them.

The JSON files are the artifact (``sam local invoke -e``, tests, the local stack); this script is
how they were made, so the gzip and oversized bodies can be regenerated. Output is stable: ids
are derived from each scenario's name. Usage: ``python scripts/gen_events.py [events-dir]``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "events"
API_ID = "a1b2c3d4e5"
HOST = f"{API_ID}.execute-api.us-east-1.amazonaws.com"
EPOCH_MS = 1_700_000_000_000  # 2023-11-14T22:13:20.000Z: tests/support/apigw.py's FIXED_EPOCH_MS
TIME = "14/Nov/2023:22:13:20 +0000"
WEB_KEY, IOS_KEY = "pk_web_7f3a", "pk_ios_91bc"

BROWSER_IP, SERVER_IP, MOBILE_IP = "203.0.113.7", "198.51.100.23", "2001:db8:85a3:1f::8a2e:370:7334"
CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36"
)
IOS_APP = "Shop/5.2.0 (iPhone; iOS 17.1.1; Scale/3.00)"
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
ORIGIN = "https://www.example.com"


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("|".join(parts).encode()).digest()


def uid(*parts: str) -> str:
    """A stable UUID4 per name, so the files do not change when regenerated."""
    return str(uuid.UUID(bytes=_digest(*parts)[:16], version=4))


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def ajs_context(path: str, title: str, *, search: str = "") -> dict[str, Any]:
    """The context analytics.js (analytics-next) puts on every browser event."""
    return {
        "library": {"name": "analytics.js", "version": "next-1.72.0"},
        "locale": "en-US",
        "page": {
            "path": path,
            "referrer": "https://www.google.com/",
            "search": search,
            "title": title,
            "url": f"{ORIGIN}{path}{search}",
        },
        "userAgent": CHROME,
    }


def api_event(
    name: str,
    method: str,
    path: str,
    *,
    route: str | None = None,
    headers: dict[str, str],
    body: Any = None,
    raw_body: str | None = None,
    gzip_body: bool = False,
    query: list[tuple[str, str]] | None = None,
    path_parameters: dict[str, str] | None = None,
    source_ip: str = BROWSER_IP,
) -> dict[str, Any]:
    wire: bytes | None = None
    if raw_body is not None:
        wire = raw_body.encode()
    elif body is not None:
        wire = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    is_base64 = False
    if gzip_body and wire is not None:
        wire = gzip.compress(wire, mtime=0)
        is_base64 = True
    digest = _digest(name)
    all_headers = {
        "accept": "*/*",
        "accept-encoding": "gzip, deflate, br",
        "host": HOST,
        "user-agent": "",
        "x-amzn-trace-id": f"Root=1-{EPOCH_MS // 1000:08x}-{digest[:12].hex()}",
        "x-forwarded-for": source_ip,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    if wire is not None:
        all_headers["content-length"] = str(len(wire))
    all_headers.update(headers)
    all_headers = dict(sorted(all_headers.items()))
    raw_query = "&".join(f"{quote(k, safe='.')}={quote(v, safe='')}" for k, v in (query or []))
    route_key = f"{method} {route or path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": all_headers,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    event["requestContext"] = {
        "accountId": "123456789012",
        "apiId": API_ID,
        "domainName": HOST,
        "domainPrefix": API_ID,
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": all_headers["user-agent"],
        },
        "requestId": base64.b64encode(digest[12:23]).decode(),
        "routeKey": route_key,
        "stage": "$default",
        "time": TIME,
        "timeEpoch": EPOCH_MS,
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    if wire is not None:
        event["body"] = base64.b64encode(wire).decode() if is_base64 else wire.decode()
    event["isBase64Encoded"] = is_base64
    return event


def browser(
    content_type: str = "text/plain;charset=UTF-8", *, auth: str | None = None, **extra: str
) -> dict[str, str]:
    headers = {
        "accept-language": "en-US,en;q=0.9",
        "content-type": content_type,
        "origin": ORIGIN,
        "referer": f"{ORIGIN}/",
        "sec-fetch-dest": "empty",
        "sec-fetch-mode": "cors",
        "sec-fetch-site": "cross-site",
        "user-agent": CHROME,
    }
    if auth:
        headers["authorization"] = auth
    headers.update(extra)
    return headers


def server(
    user_agent: str, *, auth: str | None = None, content_type: str = "application/json", **extra: str
) -> dict[str, str]:
    headers = {"content-type": content_type, "user-agent": user_agent}
    if auth:
        headers["authorization"] = auth
    headers.update(extra)
    return headers


def mobile(*, auth: str) -> dict[str, str]:
    return {
        "accept-language": "en-US;q=1.0",
        "authorization": auth,
        "content-type": "application/json",
        "user-agent": IOS_APP,
    }


ANON = uid("anonymous")
ANON_IOS = uid("anonymous-ios")
TS, SENT = "2023-11-14T22:13:19.412Z", "2023-11-14T22:13:19.874Z"


def ajs_event(kind: str, seed: str, path: str, title: str, **fields: Any) -> dict[str, Any]:
    """One analytics.js event, the way it posts it to /v1/<first letter>: writeKey inside."""
    return {
        "type": kind,
        **fields,
        "anonymousId": ANON,
        "messageId": "ajs-next-" + _digest("ajs", seed).hex()[:32],
        "timestamp": TS,
        "context": ajs_context(path, title),
        "integrations": {},
        "writeKey": WEB_KEY,
        "sentAt": SENT,
        "_metadata": {"bundled": ["Segment.io"], "unbundled": [], "bundledIds": []},
    }


def products(n: int, seed: str) -> list[dict[str, Any]]:
    return [
        {
            "product_id": f"p-{seed}-{i:03d}",
            "sku": f"SKU-{seed.upper()}-{i:05d}",
            "name": f"Organic cotton t-shirt, style {i}",
            "category": "Apparel/Tops",
            "brand": "Example Basics",
            "variant": "Heather grey / M",
            "price": 19.99,
            "quantity": 1,
            "url": f"{ORIGIN}/products/p-{seed}-{i:03d}",
        }
        for i in range(n)
    ]


def scenarios() -> dict[str, dict[str, Any]]:
    ev: dict[str, dict[str, Any]] = {}

    # ---- one event per route, the way real clients send it
    ev["track"] = api_event(
        "track",
        "POST",
        "/v1/track",
        headers=browser("application/json", auth=basic(WEB_KEY)),
        body={
            "userId": "u-123",
            "anonymousId": ANON,
            "event": "Order Completed",
            "messageId": uid("track"),
            "timestamp": TS,
            "properties": {
                "order_id": "o-50314",
                "total": 39.98,
                "currency": "USD",
                "products": products(2, "track"),
            },
            "context": ajs_context("/checkout/complete", "Thank you"),
        },
    )
    ev["identify-basic-auth"] = api_event(
        "identify-basic-auth",
        "POST",
        "/v1/identify",
        headers=server("python-requests/2.31.0", auth=basic(WEB_KEY)),
        source_ip=SERVER_IP,
        body={
            "userId": "u-123",
            "messageId": uid("identify"),
            "timestamp": TS,
            "traits": {
                "email": "jane.doe@example.com",
                "name": "Jane Doe",
                "plan": "pro",
                "createdAt": "2023-01-05T09:30:00Z",
            },
        },
    )
    ev["page"] = api_event(
        "page",
        "POST",
        "/v1/page",
        headers=server("python-requests/2.31.0", auth=basic(WEB_KEY)),
        source_ip=SERVER_IP,
        body={
            "anonymousId": ANON,
            "name": "Pricing",
            "category": "Marketing",
            "messageId": uid("page"),
            "timestamp": TS,
            "properties": {"path": "/pricing", "url": f"{ORIGIN}/pricing", "title": "Pricing"},
        },
    )
    # sendBeacon: text/plain, no custom headers, so the key travels inside the event. The
    # client clock runs ~42 s fast: timestamp and sentAt are both ahead of receivedAt.
    page_short = ajs_event(
        "page",
        "page-short",
        "/blog/launch",
        "We launched",
        name="We launched",
        properties={"path": "/blog/launch", "title": "We launched"},
    )
    page_short |= {"timestamp": "2023-11-14T22:14:02.100Z", "sentAt": "2023-11-14T22:14:02.350Z"}
    ev["page-short-form-text-plain"] = api_event(
        "page-short-form-text-plain",
        "POST",
        "/v1/p",
        headers=browser("text/plain;charset=UTF-8"),
        body=page_short,
    )
    ev["screen"] = api_event(
        "screen",
        "POST",
        "/v1/screen",
        headers=mobile(auth=basic(IOS_KEY)),
        source_ip=MOBILE_IP,
        body={
            "type": "screen",
            "userId": "u-123",
            "anonymousId": ANON_IOS,
            "name": "Product Detail",
            "messageId": uid("screen"),
            "timestamp": TS,
            "sentAt": SENT,
            "properties": {"product_id": "p-204", "from": "search"},
            "context": {
                "app": {"name": "Shop", "version": "5.2.0", "build": "5201", "namespace": "com.example.shop"},
                "device": {"manufacturer": "Apple", "model": "iPhone15,2", "type": "ios"},
                "library": {"name": "analytics-ios", "version": "4.1.8"},
                "locale": "en-US",
                "network": {"wifi": True, "cellular": False},
                "os": {"name": "iOS", "version": "17.1.1"},
                "screen": {"width": 393, "height": 852},
                "timezone": "America/New_York",
            },
        },
    )
    ev["group"] = api_event(
        "group",
        "POST",
        "/v1/group",
        headers=server("python-requests/2.31.0", auth=basic(WEB_KEY)),
        source_ip=SERVER_IP,
        body={
            "userId": "u-123",
            "groupId": "g-42",
            "messageId": uid("group"),
            "timestamp": TS,
            "traits": {"name": "Initech", "industry": "Software", "employees": 120, "plan": "enterprise"},
        },
    )
    ev["alias"] = api_event(
        "alias",
        "POST",
        "/v1/alias",
        headers=server("python-requests/2.31.0", auth=basic(WEB_KEY)),
        source_ip=SERVER_IP,
        body={"userId": "u-123", "previousId": ANON, "messageId": uid("alias"), "timestamp": TS},
    )

    # ---- analytics.js short forms: text/plain, Basic auth, and the key inside each event too
    ev["identify-short-form"] = api_event(
        "identify-short-form",
        "POST",
        "/v1/i",
        headers=browser(auth=basic(WEB_KEY)),
        body=ajs_event(
            "identify",
            "identify-short",
            "/account",
            "Your account",
            userId="u-123",
            traits={"email": "jane.doe@example.com", "name": "Jane Doe"},
        ),
    )
    # A retry: analytics.js counts its attempts in X-Retry-Count and keeps the messageId.
    ev["track-short-form-retry"] = api_event(
        "track-short-form-retry",
        "POST",
        "/v1/t",
        headers=browser(auth=basic(WEB_KEY), **{"x-retry-count": "2"}),
        body=ajs_event(
            "track",
            "track-short",
            "/products/p-204",
            "T-shirt",
            userId="u-123",
            event="Product Added",
            properties={"product_id": "p-204", "price": 19.99, "quantity": 1},
        ),
    )
    ev["screen-short-form"] = api_event(
        "screen-short-form",
        "POST",
        "/v1/s",
        headers=browser(auth=basic(WEB_KEY)),
        body=ajs_event("screen", "screen-short", "/app", "Web app", name="Dashboard"),
    )
    ev["group-short-form"] = api_event(
        "group-short-form",
        "POST",
        "/v1/g",
        headers=browser(auth=basic(WEB_KEY)),
        body=ajs_event(
            "group",
            "group-short",
            "/team",
            "Team",
            userId="u-123",
            groupId="g-42",
            traits={"name": "Initech"},
        ),
    )
    ev["alias-short-form"] = api_event(
        "alias-short-form",
        "POST",
        "/v1/a",
        headers=browser(auth=basic(WEB_KEY)),
        body=ajs_event("alias", "alias-short", "/signup/done", "Welcome", userId="u-123", previousId=ANON),
    )

    # ---- batches
    # segment-analytics-python: Basic auth and the key in the body, batch-level context and
    # sentAt; the second item's own context.app wins over the batch's.
    ev["batch"] = api_event(
        "batch",
        "POST",
        "/v1/batch",
        headers=server("analytics-python/2.3.3", auth=basic(WEB_KEY)),
        source_ip=SERVER_IP,
        body={
            "batch": [
                {
                    "type": "identify",
                    "userId": "u-123",
                    "messageId": uid("batch", "0"),
                    "timestamp": "2023-11-14T22:13:18.001Z",
                    "traits": {"plan": "pro"},
                },
                {
                    "type": "track",
                    "userId": "u-123",
                    "event": "Subscription Renewed",
                    "messageId": uid("batch", "1"),
                    "timestamp": "2023-11-14T22:13:18.250Z",
                    "properties": {"plan": "pro", "amount": 49.0, "currency": "USD"},
                    "context": {"app": {"name": "billing-api"}},
                },
                {
                    "type": "page",
                    "anonymousId": ANON,
                    "name": "Billing",
                    "messageId": uid("batch", "2"),
                    "timestamp": "2023-11-14T22:13:18.900Z",
                    "properties": {"path": "/billing"},
                },
            ],
            "context": {
                "library": {"name": "analytics-python", "version": "2.3.3"},
                "app": {"name": "billing-worker"},
            },
            "integrations": {"All": True},
            "sentAt": SENT,
            "writeKey": WEB_KEY,
        },
    )
    # rudder-sdk-python: gzip, Basic auth only; API Gateway hands the body over base64.
    ev["batch-gzip"] = api_event(
        "batch-gzip",
        "POST",
        "/v1/batch",
        headers=server("python-requests/2.31.0", auth=basic(WEB_KEY), **{"content-encoding": "gzip"}),
        source_ip=SERVER_IP,
        gzip_body=True,
        body={
            "batch": [
                {
                    "type": "track",
                    "userId": f"u-{120 + i}",
                    "event": "Report Exported",
                    "messageId": uid("batch-gzip", str(i)),
                    "timestamp": TS,
                    "properties": {"format": "csv", "rows": 1000 + i},
                    "context": {"library": {"name": "rudder-analytics-python", "version": "2.1.4"}},
                }
                for i in range(5)
            ],
            "sentAt": SENT,
        },
    )
    # analytics-node: the second item is a track without an event name → quarantined, 200.
    ev["batch-one-invalid-item"] = api_event(
        "batch-one-invalid-item",
        "POST",
        "/v1/batch",
        headers=server("analytics-node-next/latest", auth=basic(WEB_KEY)),
        source_ip=SERVER_IP,
        body={
            "batch": [
                {
                    "type": "track",
                    "userId": "u-123",
                    "event": "Invoice Paid",
                    "messageId": uid("bad", "0"),
                    "timestamp": TS,
                    "properties": {"amount": 120.0},
                },
                {
                    "type": "track",
                    "userId": "u-123",
                    "messageId": uid("bad", "1"),
                    "timestamp": TS,
                    "properties": {"amount": 80.0},
                },
                {
                    "type": "identify",
                    "userId": "u-123",
                    "messageId": uid("bad", "2"),
                    "timestamp": TS,
                    "traits": {"plan": "pro"},
                },
            ],
            "sentAt": SENT,
            "writeKey": WEB_KEY,
        },
    )
    # analytics.js with batching on: /v1/b, text/plain, the key inside each event.
    ev["batch-short-form-analytics-js"] = api_event(
        "batch-short-form-analytics-js",
        "POST",
        "/v1/b",
        headers=browser(auth=basic(WEB_KEY)),
        body={
            "batch": [
                ajs_event(
                    "page", "b-page", "/pricing", "Pricing", name="Pricing", properties={"path": "/pricing"}
                ),
                ajs_event(
                    "track",
                    "b-track",
                    "/pricing",
                    "Pricing",
                    event="Plan Selected",
                    properties={"plan": "pro"},
                ),
            ],
            "sentAt": SENT,
        },
    )
    # A historical import: old timestamps, no sentAt (no clock-skew correction applies).
    ev["import"] = api_event(
        "import",
        "POST",
        "/v1/import",
        headers=server("python-requests/2.31.0", auth=basic(WEB_KEY)),
        source_ip=SERVER_IP,
        body={
            "batch": [
                {
                    "type": "track",
                    "userId": "u-123",
                    "event": "Order Completed",
                    "messageId": uid("import", str(i)),
                    "timestamp": f"2023-0{i + 1}-15T12:00:00Z",
                    "properties": {"order_id": f"o-4{i:04d}", "total": 25.0},
                }
                for i in range(3)
            ],
        },
    )

    # ---- pixel API: GET, answered with a GIF; email clients load it through image proxies
    pixel_event = {
        "writeKey": WEB_KEY,
        "userId": "u-123",
        "event": "Email Opened",
        "properties": {"subject": "Your order has shipped", "campaign_id": "c-42", "email_id": "e-9001"},
    }
    data = (
        base64.urlsafe_b64encode(json.dumps(pixel_event, separators=(",", ":")).encode()).decode().rstrip("=")
    )
    pixel_headers = {"accept": "image/webp,image/*,*/*;q=0.8", "user-agent": GMAIL_PROXY}
    ev["pixel-base64"] = api_event(
        "pixel-base64",
        "GET",
        "/v1/pixel/track",
        route="/v1/pixel/{type}",
        headers=pixel_headers,
        query=[("data", data)],
        path_parameters={"type": "track"},
        source_ip="66.249.84.1",
    )
    ev["pixel-query-params"] = api_event(
        "pixel-query-params",
        "GET",
        "/v1/pixel/track",
        route="/v1/pixel/{type}",
        headers=pixel_headers,
        query=[
            ("userId", "u-123"),
            ("event", "Email Opened"),
            ("properties.subject", "Hi"),
            ("properties.campaign.id", "c-42"),
            ("writeKey", WEB_KEY),
        ],
        path_parameters={"type": "track"},
        source_ip="66.249.84.1",
    )

    # ---- MetaRouter custom events: any JSON, its metadata in the body, a header or the query
    ev["custom-event-body-metadata"] = api_event(
        "custom-event-body-metadata",
        "POST",
        "/v1/custom/event",
        headers=browser("application/json"),
        body={
            "_metarouter": {
                "writeKey": WEB_KEY,
                "eventName": "video_progress",
                "anonymousID": ANON,
                "eventID": uid("custom-body"),
            },
            "video": {"id": "v-77", "title": "Unboxing", "percent": 75},
            "page": {"path": "/videos/unboxing"},
        },
    )
    ev["custom-event-header-metadata"] = api_event(
        "custom-event-header-metadata",
        "POST",
        "/v1/custom/event",
        headers=server(
            "okhttp/4.12.0",
            auth=basic(WEB_KEY),
            **{"x-event-metadata": json.dumps({"eventName": "subscription_renewed", "userID": "u-123"})},
        ),
        source_ip=SERVER_IP,
        body={"subscription": {"id": "sub-9", "plan": "pro", "amount": 19.0}, "renewedAt": TS},
    )
    # A payment provider's webhook: its own JSON; the URL configured there carries the metadata.
    ev["custom-event-webhook-query"] = api_event(
        "custom-event-webhook-query",
        "POST",
        "/v1/custom/event",
        headers=server("Stripe/1.0 (+https://stripe.com/docs/webhooks)"),
        source_ip="54.187.174.169",
        query=[
            ("writeKey", WEB_KEY),
            ("eventName", "$.type"),
            ("eventID", "$.id"),
            ("userID", "$.data.object.customer"),
        ],
        body={
            "id": "evt_1OBq2LJ2eZvKYlo2",
            "type": "invoice.paid",
            "created": 1700000000,
            "data": {"object": {"id": "in_1OBq2L", "customer": "cus_P0abc", "amount_paid": 1900}},
        },
    )
    ev["custom-event-missing-event-name"] = api_event(
        "custom-event-missing-event-name",
        "POST",
        "/v1/custom/event",
        headers=server("curl/8.4.0", auth=basic(WEB_KEY)),
        source_ip=SERVER_IP,
        body={"_metarouter": {"userID": "u-123"}, "cart": {"items": 2}},
    )

    # ---- analytics.js client telemetry: answered 200, counted, never queued
    ev["telemetry"] = api_event(
        "telemetry",
        "POST",
        "/v1/m",
        headers=browser(),
        body={
            "series": [
                {
                    "type": "Counter",
                    "metric": "analytics_js.invoke",
                    "value": 1,
                    "tags": {"method": "track", "library": "analytics.js", "library_version": "next-1.72.0"},
                },
                {
                    "type": "Counter",
                    "metric": "analytics_js.integration.invoke",
                    "value": 1,
                    "tags": {"method": "track", "integration_name": "Segment.io", "type": "classic"},
                },
            ]
        },
    )

    # ---- errors
    # A server-side client (no Origin: no CORS) sending truncated JSON → 400 invalid_json.
    ev["invalid-json"] = api_event(
        "invalid-json",
        "POST",
        "/v1/track",
        headers=server("curl/8.4.0", auth=basic(WEB_KEY)),
        source_ip=SERVER_IP,
        raw_body='{"userId": "u-123", "event": "Order Completed", "properties": {"total": 39.98',
    )
    ev["track-missing-identity"] = api_event(
        "track-missing-identity",
        "POST",
        "/v1/track",
        headers=server("python-requests/2.31.0", auth=basic(WEB_KEY)),
        source_ip=SERVER_IP,
        body={
            "event": "Signed Up",
            "messageId": uid("missing-identity"),
            "timestamp": TS,
            "properties": {"plan": "free"},
        },
    )
    # An identify posted to /v1/track → 400.
    ev["type-mismatch"] = api_event(
        "type-mismatch",
        "POST",
        "/v1/track",
        headers=server("python-requests/2.31.0", auth=basic(WEB_KEY)),
        source_ip=SERVER_IP,
        body={
            "type": "identify",
            "userId": "u-123",
            "messageId": uid("type-mismatch"),
            "timestamp": TS,
            "traits": {"plan": "pro"},
        },
    )
    # ~600 KB of valid events (each well under 32 KB, far fewer than 2,500): over the 500 KB
    # body limit → 413.
    ev["oversized-body"] = api_event(
        "oversized-body",
        "POST",
        "/v1/batch",
        headers=server("analytics-python/2.3.3", auth=basic(WEB_KEY)),
        source_ip=SERVER_IP,
        body={
            "batch": [
                {
                    "type": "track",
                    "userId": "u-123",
                    "event": "Cart Viewed",
                    "messageId": uid("oversized", str(i)),
                    "timestamp": TS,
                    "properties": {"cart_id": f"c-{i:03d}", "products": products(24, f"c{i:03d}")},
                }
                for i in range(100)
            ],
            "sentAt": SENT,
            "writeKey": WEB_KEY,
        },
    )
    # A valid event with no key anywhere (no Authorization, no writeKey, no ?writeKey=):
    # accepted in open mode, 401 invalid_write_key in closed mode.
    ev["closed-mode-missing-key"] = api_event(
        "closed-mode-missing-key",
        "POST",
        "/v1/track",
        headers=server("python-requests/2.31.0"),
        source_ip=SERVER_IP,
        body={
            "userId": "u-123",
            "event": "Order Completed",
            "messageId": uid("no-key"),
            "timestamp": TS,
            "properties": {"order_id": "o-50315", "total": 12.5},
        },
    )
    return ev


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, event in scenarios().items():
        (OUT / f"apigw-{name}.json").write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
