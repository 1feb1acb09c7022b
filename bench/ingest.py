"""Ingest, warm: ``lambda_handler`` on API Gateway v2 events, SQS and Secrets Manager stubbed
in-process, against the floor ``json.loads`` + ``json.dumps`` of the same body in the same run.
Also how many SQS requests a request costs."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

from bench.events import api_batch_event, api_track_event
from bench.fakes import FakeSecretsManager, FakeSqs
from bench.lambda_env import lambda_environment
from bench.report import BenchError, Figure
from bench.timing import alternate, median, ratio
from bench.tracking_plan import plan_environment, violating_event, write_plan
from edge_local.context import LocalContext

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

__all__ = [
    "IngestHarness",
    "consent_figures",
    "ingest_figures",
    "plan_figures",
    "privacy_figures",
    "queued_messages",
    "sqs_figures",
]

BUDGET = 3.0
#: Every privacy control on costs a one-event request at most this much more.
PRIVACY_BUDGET = 1.2
#: Every consent setting on costs a one-event request at most this much more.
CONSENT_BUDGET = 1.1
#: The consent control: required categories, OneTrust's cookie read, GPC's opt-outs.
CONSENT_ON = {"REQUIRED_CONSENT": "C0002,C0003", "CONSENT_COOKIE": "onetrust", "GPC_OPT_OUT": "C0004,C0005"}
PRIVACY_ON = {
    "BOT_POLICY": "flag",
    "GPC_POLICY": "anonymize",
    "REQUIRED_CONSENT": "analytics,marketing",
    "HASH_FIELDS": "traits.email,context.traits.email,properties.email,properties.phone",
}
#: What a page's beacon carries on the first-party path: the site's cookies, OneTrust's among them
#: (the visitor consented to C0002 and C0003, not to C0004), and the Global Privacy Control.
SITE_COOKIES = [
    "ajs_anonymous_id=2f183a4e-6449-4af3-b377-f745eda50236",
    "OptanonAlertBoxClosed=2023-11-14T22:13:58.412Z",
    "OptanonConsent=isGpcEnabled=1&datestamp=Tue+Nov+14+2023+23%3A13%3A58+GMT%2B0100+(Central+European+"
    "Standard+Time)&version=202310.2.0&browserGpcFlag=1&isIABGlobal=false&hosts=&consentId=0b7c4a12-5d1e-"
    "4c8e-9f3a-2e6d8b1c4f70&interactionCount=1&isAnonUser=1&landingPath=NotLandingPage&groups=C0001%3A1%2C"
    "C0002%3A1%2CC0003%3A1%2CC0004%3A0%2CC0005%3A1&AwaitingReconsent=false&geolocation=US%3BCA",
]
#: A 50-event tracking plan on (observe or flag) costs a one-event request at most this much more.
PLAN_BUDGET = 1.2
BATCH = 100
SOURCE_ID = "BENCH_SOURCE"


class IngestHarness:
    """The real ingest handler, warm, wired to in-process fakes."""

    def __init__(self, env: dict[str, str] | None = None, *, keep_messages: bool = False) -> None:
        os.environ.update(lambda_environment("ingest"))
        from edge.core.config import IngestSettings
        from edge.ingest.wiring import build_ingestor
        from ingest import app

        self.app: ModuleType = app
        self.sqs = FakeSqs(keep=keep_messages)
        self.secrets = FakeSecretsManager({"writeKey": SOURCE_ID})
        self.ingestor = build_ingestor(
            IngestSettings.from_env({**os.environ, **(env or {})}),
            sqs=cast("SQSClient", self.sqs),
            secretsmanager=cast("SecretsManagerClient", self.secrets),
        )

    def call(self, event: dict[str, Any]) -> dict[str, Any]:
        setattr(_holder(self.app), "ingestor", self.ingestor)  # noqa: B010 - harnesses share the module
        response: dict[str, Any] = self.app.lambda_handler(event, _context())
        return response

    def invoker(self, event: dict[str, Any]) -> Callable[[], object]:
        """A call of the handler on ``event`` that must answer 200 (checked once, up front)."""
        response = self.call(event)
        if response.get("statusCode") != 200 or json.loads(response["body"]) != {"success": True}:
            raise BenchError(f"ingest answered {response.get('statusCode')}: {response.get('body')}")
        holder, ingestor, handler = _holder(self.app), self.ingestor, self.app.lambda_handler

        def invoke() -> object:
            setattr(holder, "ingestor", ingestor)  # noqa: B010 - several harnesses share the module
            return handler(event, _context())

        return invoke


def _holder(app: ModuleType) -> object:
    """What holds the handler's ingestor: its ``api`` (an older checkout, ``--root``: the module)."""
    return getattr(app, "api", app)


def _context() -> LocalContext:
    return LocalContext("edge-ingest", 10, memory_limit_in_mb=512)


def _floor(body: str) -> Callable[[], object]:
    loads, dumps = json.loads, json.dumps
    return lambda: dumps(loads(body))


def ingest_figures(harness: IngestHarness, *, rounds: int) -> list[Figure]:
    single, batch = api_track_event(), api_batch_event(BATCH)
    samples = alternate(
        {
            "floor, one": (_floor(single["body"]), 4000),
            "handler, one": (harness.invoker(single), 600),
            "floor, batch": (_floor(batch["body"]), 40),
            "handler, batch": (harness.invoker(batch), 8),
        },
        rounds,
    )
    m = {name: median(values) for name, values in samples.items()}
    one_ratio = ratio(samples["handler, one"], samples["floor, one"])
    batch_ratio = ratio(samples["handler, batch"], samples["floor, batch"])
    size = len(single["body"].encode())
    return [
        Figure(
            "ingest warm, one event",
            f"{one_ratio:.1f}x ({m['handler, one'] * 1e6:.0f} µs vs {m['floor, one'] * 1e6:.0f} µs)",
            f"≤ {BUDGET:g}x floor",
            one_ratio <= BUDGET,
            f"{size} B track event; floor json.loads+json.dumps; median of {rounds} rounds",
        ),
        Figure(
            f"ingest warm, {BATCH}-event batch",
            f"{batch_ratio:.1f}x ({m['handler, batch'] / BATCH * 1e6:.0f} µs vs "
            f"{m['floor, batch'] / BATCH * 1e6:.0f} µs per event)",
            f"≤ {BUDGET:g}x floor",
            batch_ratio <= BUDGET,
            f"{len(batch['body'].encode()) // 1024} KB body; per event; median of {rounds} rounds",
        ),
    ]


def privacy_figures(*, rounds: int) -> list[Figure]:
    """A one-event request with every privacy control on, against the same request with every
    control off, in the same run; and what a User-Agent never seen before costs the bot check."""
    from edge.ingest.privacy import crawler_detector

    off, on = IngestHarness({"BOT_POLICY": "keep"}), IngestHarness(PRIVACY_ON)
    event = api_track_event()
    event["headers"]["sec-gpc"] = "1"
    samples = alternate({"off": (off.invoker(event), 600), "on": (on.invoker(event), 600)}, rounds)
    cost = ratio(samples["on"], samples["off"])
    uncached = crawler_detector().__wrapped__  # type: ignore[attr-defined]
    agents = [f"{event['headers']['user-agent']} Build/{n}" for n in range(300)]
    first_look = median(
        alternate({"first look": (lambda: [uncached(a) for a in agents], 1)}, 3)["first look"]
    )
    return [
        Figure(
            "ingest warm, one event, every privacy control on",
            f"{cost:.2f}x ({median(samples['on']) * 1e6:.0f} µs vs {median(samples['off']) * 1e6:.0f} µs "
            "with every control off)",
            f"≤ {PRIVACY_BUDGET:g}x",
            cost <= PRIVACY_BUDGET,
            "bot flag, GPC anonymize, 2 consent categories, 4 hashed paths; the User-Agent's verdict "
            f"cached; a User-Agent never seen before costs {first_look / len(agents) * 1e6:.0f} µs once",
        )
    ]


def _site_beacon() -> dict[str, Any]:
    """The sample track request as a page on the first-party path sends it: cookies and Sec-GPC."""
    event = api_track_event()
    event["headers"]["sec-gpc"] = "1"
    event["cookies"] = list(SITE_COOKIES)
    return event


def consent_figures(*, rounds: int) -> list[Figure]:
    """A one-event request from a page with OneTrust's cookie and Sec-GPC: 1, with every consent
    setting on (the cookie read and stamped, GPC's opt-outs marked, two categories required),
    against the same request with them off, in the same run."""
    off, on = IngestHarness({"BOT_POLICY": "keep"}), IngestHarness({"BOT_POLICY": "keep", **CONSENT_ON})
    event = _site_beacon()
    samples = alternate({"off": (off.invoker(event), 600), "on": (on.invoker(event), 600)}, rounds)
    cost = ratio(samples["on"], samples["off"])
    return [
        Figure(
            "ingest warm, one event, every consent setting on",
            f"{cost:.2f}x ({median(samples['on']) * 1e6:.0f} µs vs {median(samples['off']) * 1e6:.0f} µs "
            "with them off)",
            f"≤ {CONSENT_BUDGET:g}x",
            cost <= CONSENT_BUDGET,
            f"OneTrust's cookie ({len(SITE_COOKIES)} cookies, {sum(map(len, SITE_COOKIES))} B) read and "
            "stamped as context.consent, Sec-GPC: 1 marking 2 categories, 2 required categories checked; "
            f"the cookie's reading remembered{_first_reading()}",
        )
    ]


def _first_reading() -> str:
    """What reading a consent cookie never seen before costs, once (nothing in an older tree)."""
    try:
        from edge.ingest.consent import ConsentPolicy
    except ImportError:
        return ""
    values = [f"{SITE_COOKIES[-1]}&n={n}" for n in range(300)]
    # A fresh memory, as CONSENT_ON configures it: every value is new to it.
    policy = ConsentPolicy.configure(required="C0002,C0003", platform="onetrust", gpc_opt_out="C0004,C0005")
    first = median(
        alternate({"first": (lambda: [policy.for_request([v], gpc=True) for v in values], 1)}, 1)["first"]
    )
    return f"; a cookie never seen before costs {first / len(values) * 1e6:.0f} µs once"


def plan_figures(*, rounds: int) -> list[Figure]:
    """A one-event request with a 50-event tracking plan on (``flag``, and ``observe``), against
    the same request with it off, in the same run: the sample event (planned and valid, the
    common case) and the same event breaking the plan twice (flagged: forwarded with its
    violations). Also what judging each event costs, alone."""
    from edge.ingest.plan import TrackingPlan

    valid, invalid = api_track_event(), violating_event()
    with tempfile.TemporaryDirectory(prefix="edge-bench-plan-") as work:
        path = write_plan(Path(work))
        flag_env = {"BOT_POLICY": "keep", **plan_environment(path, "flag")}
        off, flag = IngestHarness({"BOT_POLICY": "keep"}), IngestHarness(flag_env)
        observe = IngestHarness({"BOT_POLICY": "keep", **plan_environment(path, "observe")})
        forwarded = {"valid": _forwarded(valid, flag_env), "invalid": _forwarded(invalid, flag_env)}
        plan = TrackingPlan.load(path)
        plan_kb = path.stat().st_size // 1024
    if "violations" in forwarded["valid"]["context"] or "violations" not in forwarded["invalid"]["context"]:
        raise BenchError(f"the plan's verdicts are not the expected ones: {forwarded}")
    samples = alternate(
        {
            "off": (off.invoker(valid), 600),
            "flag": (flag.invoker(valid), 600),
            "observe": (observe.invoker(valid), 600),
            "off, invalid": (off.invoker(invalid), 600),
            "flag, invalid": (flag.invoker(invalid), 600),
        },
        rounds,
    )
    judged = alternate(
        {
            "valid": (lambda: plan.judge(forwarded["valid"]), 5000),
            "invalid": (lambda: plan.judge(forwarded["invalid"]), 2000),
        },
        rounds,
    )
    cost, observed = ratio(samples["flag"], samples["off"]), ratio(samples["observe"], samples["off"])
    flagged = ratio(samples["flag, invalid"], samples["off, invalid"])
    m = {name: median(values) * 1e6 for name, values in samples.items()}
    return [
        Figure(
            "ingest warm, one event, 50-event tracking plan on",
            f"{cost:.2f}x ({m['flag']:.0f} µs vs {m['off']:.0f} µs with the plan off)",
            f"≤ {PLAN_BUDGET:g}x",
            cost <= PLAN_BUDGET,
            f"flag mode (observe {observed:.2f}x); the sample Order Completed, planned and valid; "
            f"plan of {len(plan.events)} track events, identify, group, global ({plan_kb} KB); "
            f"judging the event {median(judged['valid']) * 1e6:.1f} µs of it; median of {rounds} rounds",
        ),
        Figure(
            "ingest warm, one event violating the 50-event plan, flagged",
            f"{flagged:.2f}x ({m['flag, invalid']:.0f} µs vs {m['off, invalid']:.0f} µs with the plan off)",
            "reported",
            None,
            "the same event with `total` a string and a property the plan does not list: forwarded "
            "with its 2 violations, counted in PlanViolations; judging it "
            f"{median(judged['invalid']) * 1e6:.1f} µs",
        ),
    ]


def _forwarded(event: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """The event as a handler configured with ``env`` forwards it."""
    harness = IngestHarness(env, keep_messages=True)
    response = harness.call(event)
    if response.get("statusCode") != 200 or not harness.sqs.bodies:
        raise BenchError(f"ingest answered {response.get('statusCode')}: {response.get('body')}")
    forwarded: dict[str, Any] = json.loads(harness.sqs.bodies[0])["events"][0]
    return forwarded


def sqs_figures(harness: IngestHarness) -> list[Figure]:
    """SendMessageBatch calls per request, counted on the ingest code path."""
    figures = []
    for label, event, events in (
        ("one event", api_track_event(), 1),
        (f"{BATCH}-event batch", api_batch_event(BATCH), BATCH),
        ("400-event batch", api_batch_event(400), 400),
    ):
        harness.sqs.reset()
        response = harness.call(event)
        if response.get("statusCode") != 200:
            raise BenchError(f"ingest answered {response.get('statusCode')}: {response.get('body')}")
        calls, messages = harness.sqs.calls, harness.sqs.entries
        body_kb = len(event["body"].encode()) // 1024
        fits = body_kb < 256
        figures.append(
            Figure(
                f"SQS sends, {label}",
                f"{calls} per request ({calls / events:.3g} per event)",
                "≤ 1 per request" if fits else "reported (over one message)",
                calls <= 1 if fits else None,
                f"{body_kb} KB body → {messages} message(s) in {calls} SendMessageBatch call(s)",
            )
        )
    return figures


def queued_messages(requests: list[dict[str, Any]]) -> list[str]:
    """The bodies of the SQS messages the ingest handler queues for these API Gateway events, in order."""
    harness = IngestHarness(keep_messages=True)
    for event in requests:
        response = harness.call(event)
        if response.get("statusCode") != 200:
            raise BenchError(f"ingest answered {response.get('statusCode')}: {response.get('body')}")
    return list(harness.sqs.bodies or ())
