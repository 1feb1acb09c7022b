"""template.yaml as an on-call engineer meets it: alarms (replayed on scenarios), runbook links,
the dashboard, gradual deploys, retained state, and parameters that always work."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from edge.core.config import ENDPOINT_PATTERN, ForwardSettings, variable_schema
from support.cfn import resolve, rule_failures
from support.metric_math import alarm_states

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = ROOT / "docs" / "operations.md"
MINUTES = 30


def _of_type(cfn: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r.get("Properties", {}) for name, r in cfn["Resources"].items() if r["Type"] == kind}


def _ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def _alarm(cfn: dict[str, Any], name: str) -> dict[str, Any]:
    alarm: dict[str, Any] = cfn["Resources"][name]["Properties"]
    return alarm


def _anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    anchors = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


# ---------------------------------------------------------------- alarms

ALARMS = {
    "ForwardingStalledAlarm",
    "NewDeadLettersAlarm",
    "EventsQueueAgeAlarm",
    "IngestErrorsAlarm",
    "IngestUnavailableRateAlarm",
    "IngestThrottlesAlarm",
    "IngestDurationAlarm",
    "ForwardErrorsAlarm",
    "ForwardThrottlesAlarm",
    "UpstreamAuthFailuresAlarm",
    "Api5xxRateAlarm",
    "Api4xxRateAlarm",
    "ApiThrottlingAlarm",
    "UnauthorizedRequestsAlarm",
    "QuarantineGrowthAlarm",
    "DeliveryLogErrorsAlarm",
    "ArchiveErrorsAlarm",
}
# Alarms on what exists only with an option: the delivery log's (DedupeWindowHours).
OPTIONAL_ALARMS = {"DeliveryLogErrorsAlarm": {"DedupeWindowHours": "24"}}
# Alarms on what an option turns off: the archive's (ArchiveRetentionDays 0).
DEFAULT_ALARMS = {"ArchiveErrorsAlarm": {"ArchiveRetentionDays": "0"}}


def test_the_alarms_are_those_of_the_runbook(cfn: dict[str, Any]) -> None:
    assert set(_of_type(cfn, "AWS::CloudWatch::Alarm")) == ALARMS


@pytest.mark.parametrize("name", sorted(ALARMS))
def test_every_alarm_names_its_runbook_section_and_the_section_exists(cfn: dict[str, Any], name: str) -> None:
    description = _alarm(cfn, name)["AlarmDescription"]
    assert description.endswith(f"Runbook: docs/operations.md#{name.lower()}")
    assert len(description) <= 1024
    assert name.lower() in _anchors(OPERATIONS.read_text())


def test_every_alarm_notifies_the_alarm_topic(cfn: dict[str, Any]) -> None:
    for name, alarm in _of_type(cfn, "AWS::CloudWatch::Alarm").items():
        assert alarm["AlarmActions"] == [_ref("AlarmTopic")]
        assert alarm["TreatMissingData"] == "notBreaching"
        # Clearing is news too, except for an event-like alarm whose OK would resolve an incident
        # while the dead letters it reported are still parked.
        assert alarm.get("OKActions") == (None if name == "NewDeadLettersAlarm" else [_ref("AlarmTopic")])


def _flat(value: float, minutes: int = MINUTES) -> list[float | None]:
    return [value] * minutes


def test_a_total_upstream_outage_pages_within_ten_minutes(cfn: dict[str, Any]) -> None:
    """Every request fails from minute 0: nothing forwarded, messages in flight or waiting."""
    alarm = _alarm(cfn, "ForwardingStalledAlarm")
    states = alarm_states(
        alarm,
        {
            # The forwarder still emits EventsForwarded = 0 per invocation, or nothing at all.
            "forwarded": [0.0 if m % 2 else None for m in range(MINUTES)],
            "visible": [float(m * 40) for m in range(MINUTES)],
            "inflight": _flat(500),
        },
    )
    # SQS publishes its metrics about a minute late: the first breaching datapoint is minute 1.
    first = states.index(True) + 1
    assert first <= 10
    assert all(states[first:])


def test_a_healthy_pipeline_or_an_idle_one_never_stalls(cfn: dict[str, Any]) -> None:
    alarm = _alarm(cfn, "ForwardingStalledAlarm")
    healthy = {"forwarded": _flat(1200), "visible": _flat(3), "inflight": _flat(40)}
    idle = {"forwarded": _flat(None), "visible": _flat(0), "inflight": _flat(0)}  # type: ignore[arg-type]
    # A 4-minute upstream blip: retried, then delivered.
    blip = {**healthy, "forwarded": [0.0 if 10 <= m < 14 else 1200.0 for m in range(MINUTES)]}
    for scenario in (healthy, idle, blip):
        assert not any(alarm_states(alarm, scenario))


def _dead_letter_states(
    cfn: dict[str, Any], visible: list[float], hidden: list[float], sent: list[float]
) -> list[bool]:
    return alarm_states(
        _alarm(cfn, "NewDeadLettersAlarm"), {"visible": visible, "hidden": hidden, "sent": sent}
    )


def test_every_new_dead_letter_notifies_again_however_many_are_parked(cfn: dict[str, Any]) -> None:
    # One message moved by SQS at minute 3 and parked for good; another at minute 20.
    visible = [0.0] * 3 + [1.0] * 17 + [2.0] * 10
    states = _dead_letter_states(cfn, visible, [0.0] * MINUTES, [0.0] * MINUTES)
    assert [m for m, firing in enumerate(states) if firing] == [3, 20]


def test_a_dead_letter_the_forwarder_parks_notifies_even_if_the_queue_is_drained_meanwhile(
    cfn: dict[str, Any],
) -> None:
    sent = [0.0] * MINUTES
    sent[7] = 1.0
    states = _dead_letter_states(cfn, [0.0] * MINUTES, [0.0] * MINUTES, sent)
    assert [m for m, firing in enumerate(states) if firing] == [7]


def test_looking_at_or_redriving_the_dead_letter_queue_notifies_nothing(cfn: dict[str, Any]) -> None:
    # Five parked messages; an operator receives them (hidden for 30 s), then redrives them all.
    visible = [5.0] * 10 + [0.0] + [5.0] * 9 + [0.0] * 10
    hidden = [0.0] * 10 + [5.0] + [0.0] * 19
    assert not any(_dead_letter_states(cfn, visible, hidden, [0.0] * MINUTES)[1:])


@pytest.mark.parametrize(
    ("name", "inputs", "fires"),
    [
        # 12 of 112 events quarantined (10.7%): fires; 12 of 1012 (1.2%) or 5 of 6: does not.
        ("QuarantineGrowthAlarm", {"quarantined": [12.0], "accepted": [100.0]}, True),
        ("QuarantineGrowthAlarm", {"quarantined": [12.0], "accepted": [1000.0]}, False),
        ("QuarantineGrowthAlarm", {"quarantined": [5.0], "accepted": [1.0]}, False),
        ("UnauthorizedRequestsAlarm", {"unauthorized": [40.0], "requests": [1000.0]}, True),
        ("UnauthorizedRequestsAlarm", {"unauthorized": [9.0], "requests": [9.0]}, False),
        ("UnauthorizedRequestsAlarm", {"unauthorized": [None], "requests": [1000.0]}, False),
        ("Api4xxRateAlarm", {"errors": [200.0], "requests": [1000.0]}, True),
        ("Api4xxRateAlarm", {"errors": [49.0], "requests": [60.0]}, False),
        # 300 4xx, of which ingest answered 100 itself: 200 are API Gateway's (429s).
        ("ApiThrottlingAlarm", {"errors": [300.0], "refused": [100.0], "requests": [5000.0]}, True),
        ("ApiThrottlingAlarm", {"errors": [300.0], "refused": [295.0], "requests": [5000.0]}, False),
        ("Api5xxRateAlarm", {"errors": [5.0], "requests": [100.0]}, True),
        ("Api5xxRateAlarm", {"errors": [4.0], "requests": [4.0]}, False),
        # A canary taking 10% of 1,000 requests and failing all of them: 100 of 1,000 (10%).
        ("IngestUnavailableRateAlarm", {"unavailable": [100.0], "invocations": [1000.0]}, True),
        ("IngestUnavailableRateAlarm", {"unavailable": [5.0], "invocations": [1000.0]}, False),
        ("IngestUnavailableRateAlarm", {"unavailable": [4.0], "invocations": [4.0]}, False),
        ("IngestUnavailableRateAlarm", {"unavailable": [None], "invocations": [1000.0]}, False),
    ],
)
def test_rate_alarms_fire_on_a_share_with_a_floor(
    cfn: dict[str, Any], name: str, inputs: dict[str, list[float | None]], fires: bool
) -> None:
    assert alarm_states(_alarm(cfn, name), inputs) == [fires]


def test_ingest_p99_duration_alarm_is_well_under_its_timeout(cfn: dict[str, Any]) -> None:
    alarm = _alarm(cfn, "IngestDurationAlarm")
    assert (alarm["MetricName"], alarm["ExtendedStatistic"]) == ("Duration", "p99")
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": _ref("IngestFunction")}]
    timeout_ms = cfn["Resources"]["IngestFunction"]["Properties"]["Timeout"] * 1000
    assert alarm["Threshold"] <= timeout_ms / 2


def test_custom_metric_alarms_watch_the_dimensions_powertools_emits(cfn: dict[str, Any]) -> None:
    services = {
        _of_type(cfn, "AWS::Lambda::Function")[f]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        for f in ("IngestFunction", "ForwardFunction", "ArchiveFunction")
    }
    for alarm in _of_type(cfn, "AWS::CloudWatch::Alarm").values():
        metrics = [q["MetricStat"]["Metric"] for q in alarm.get("Metrics", []) if "MetricStat" in q]
        metrics += [alarm] if "MetricName" in alarm else []
        for metric in metrics:
            if metric["Namespace"] == {"Fn::Sub": "MetaRouterEdge/${AWS::StackName}"}:
                [dimension] = metric["Dimensions"]
                assert dimension["Name"] == "service"
                assert dimension["Value"] in services


# ---------------------------------------------------------------- dashboard


def _dashboard(cfn: dict[str, Any], **overrides: str) -> dict[str, Any]:
    """The dashboard's body for these parameter values; references left as ``<Name>``."""
    resolved = resolve(cfn, **overrides)
    text, variables = resolved["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    for name, value in variables.items():  # variables chosen by a condition: text of their own
        if isinstance(value, str) or "Fn::Sub" in value:
            sub = value if isinstance(value, str) else value["Fn::Sub"]
            if isinstance(sub, list):  # a text with variables of its own
                sub, inner = sub
                variables = {**variables, **inner}
            text = text.replace(f"${{{name}}}", sub)
    names = set(re.findall(r"\$\{([^}]+)\}", text))
    assert names - set(variables) <= {
        "AWS::Region",
        "AWS::StackName",
        "HttpApi",
        "IngestFunction",
        "ForwardFunction",
    } | {f"{a}.Arn" for a in ALARMS}
    body: dict[str, Any] = json.loads(re.sub(r"\$\{([^}]+)\}", r"<\1>", text))
    return body


def _dashboard_alarms(body: dict[str, Any]) -> set[str]:
    [alarms] = [w for w in body["widgets"] if w["type"] == "alarm"]
    return {a.removesuffix(".Arn>").removeprefix("<") for a in alarms["properties"]["alarms"]}


def test_the_dashboard_shows_the_pipeline_end_to_end(cfn: dict[str, Any]) -> None:
    body = _dashboard(cfn)
    text = json.dumps(body)
    for needed in (
        '"Count"', '"4xx"', '"5xx"', '"Latency"', '"Duration"',
        "ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage",
        "EventsForwarded", "UpstreamResponses",
        "<DeadLetterQueueName>", "EventsDeadLettered", "<QuarantineQueueName>", "EventsQuarantined",
        "EventsArchived", "ArchiveErrors", "<ArchiveQueueName>",
    ):  # fmt: skip
        assert needed in text, needed
    # The stack's own metrics only: its namespace, in the metrics and in every SEARCH.
    expressions = [m[0]["expression"] for w in body["widgets"] if w["type"] == "metric"
                   for m in w["properties"]["metrics"] if isinstance(m[0], dict)]  # fmt: skip
    assert expressions
    assert all('SEARCH(\'{"MetaRouterEdge/<AWS::StackName>",' in e for e in expressions)
    lines = [m for w in body["widgets"] if w["type"] == "metric" for m in w["properties"]["metrics"]]
    namespaces = {m[0] for m in lines if isinstance(m[0], str) and m[0] not in (".", "...")}
    assert namespaces == {"AWS/ApiGateway", "AWS/Lambda", "AWS/SQS", "MetaRouterEdge/<AWS::StackName>"}
    # The tracking plan's widget only when a plan is on.
    assert "PlanViolations" not in text
    planned = json.dumps(_dashboard(cfn, TrackingPlan="example", TrackingPlanMode="observe"))
    assert "PlanViolations" in planned
    assert "EventsBlocked" in planned
    # One stack per Region must not collide on the account-wide dashboard name.
    assert "${AWS::Region}" in cfn["Resources"]["Dashboard"]["Properties"]["DashboardName"]["Fn::Sub"]
    assert _dashboard_alarms(body) == ALARMS - set(OPTIONAL_ALARMS)


@pytest.mark.parametrize(("alarm", "option"), OPTIONAL_ALARMS.items())
def test_an_optional_alarm_exists_and_shows_on_the_dashboard_only_with_its_option(
    cfn: dict[str, Any], alarm: str, option: dict[str, str]
) -> None:
    assert alarm not in resolve(cfn)["Resources"]
    assert alarm in resolve(cfn, **option)["Resources"]
    assert _dashboard_alarms(_dashboard(cfn, **option)) == ALARMS - set(OPTIONAL_ALARMS) | {alarm}


@pytest.mark.parametrize(("alarm", "option"), DEFAULT_ALARMS.items())
def test_an_alarm_an_option_turns_off_leaves_the_dashboard_with_it(
    cfn: dict[str, Any], alarm: str, option: dict[str, str]
) -> None:
    assert alarm in resolve(cfn)["Resources"]
    assert alarm not in resolve(cfn, **option)["Resources"]
    body = _dashboard(cfn, **option)
    assert _dashboard_alarms(body) == ALARMS - set(OPTIONAL_ALARMS) - {alarm}
    assert "ArchiveQueueName" not in json.dumps(body)


# ---------------------------------------------------------------- safe deploys


@pytest.mark.parametrize("strategy", ["Canary10Percent5Minutes", "Linear10PercentEvery1Minute", "AllAtOnce"])
def test_ingest_deploys_through_codedeploy_and_rolls_back_on_its_alarms(
    render: Callable[..., dict[str, Any]], strategy: str
) -> None:
    cfn = render(DeploymentStrategy=strategy)
    [group] = _of_type(cfn, "AWS::CodeDeploy::DeploymentGroup").values()
    assert group["DeploymentConfigName"]["Fn::Sub"][1] == {"ConfigName": strategy}
    assert {a["Name"]["Ref"] for a in group["AlarmConfiguration"]["Alarms"]} == {
        "IngestErrorsAlarm",
        "IngestUnavailableRateAlarm",
    }
    assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]
    alias = cfn["Resources"]["IngestFunctionAliaslive"]
    assert "CodeDeployLambdaAliasUpdate" in alias["UpdatePolicy"]


def test_the_default_deployment_is_a_canary(cfn: dict[str, Any]) -> None:
    assert cfn["Parameters"]["DeploymentStrategy"]["Default"].startswith("Canary")
    assert "AllAtOnce" in cfn["Parameters"]["DeploymentStrategy"]["AllowedValues"]


def test_rollback_alarms_look_at_one_minute_periods(cfn: dict[str, Any]) -> None:
    assert _alarm(cfn, "IngestErrorsAlarm")["Period"] == 60
    assert {
        q["MetricStat"]["Period"]
        for q in _alarm(cfn, "IngestUnavailableRateAlarm")["Metrics"]
        if "MetricStat" in q
    } == {60}


# ---------------------------------------------------------------- nothing deleted by accident


@pytest.mark.parametrize(
    "name",
    ["EventsQueue", "DeadLetterQueue", "QuarantineQueue", "ArchiveQueue", "ArchiveBucket", "EdgeSecret"],
)
def test_queues_and_the_secret_outlive_the_stack(cfn: dict[str, Any], name: str) -> None:
    resource = cfn["Resources"][name]
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")


# ---------------------------------------------------------------- parameters that always work


@pytest.mark.parametrize("window", [0, 1, 5, 300])
@pytest.mark.parametrize("batch", [1, 10, 11, 100, 10000])
def test_rules_refuse_exactly_the_batching_lambda_refuses(
    cfn: dict[str, Any], batch: int, window: int
) -> None:
    lambda_accepts = batch <= 10 or window >= 1  # CreateEventSourceMapping's rule for SQS
    failures = rule_failures(cfn, ForwardBatchSize=str(batch), ForwardBatchingWindowSeconds=str(window))
    assert (failures == []) == lambda_accepts


def test_the_longest_window_and_the_forwarder_s_timeout_fit_the_visibility_timeout(
    cfn: dict[str, Any],
) -> None:
    """Messages are received when a window opens: they must stay hidden until the invocation ends,
    with the margin AWS recommends for an SQS event source (6 x the timeout, plus the window)."""
    window = cfn["Parameters"]["ForwardBatchingWindowSeconds"]["MaxValue"]
    timeout = cfn["Resources"]["ForwardFunction"]["Properties"]["Timeout"]
    assert 6 * timeout + window <= cfn["Resources"]["EventsQueue"]["Properties"]["VisibilityTimeout"]


def _accepted_by_cloudformation(spec: dict[str, Any], value: str) -> bool:
    """AllowedPattern must match the whole value (CloudFormation's Java ``matches``)."""
    return re.fullmatch(spec["AllowedPattern"], value) is not None and len(value) <= spec.get(
        "MaxLength", 4096
    )


@pytest.mark.parametrize(
    ("arn", "accepted"),
    [
        ("", True),
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:edge/sources-AbC123", True),
        ("arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:edge-a1B2c3", True),
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:edge/sources", False),  # partial
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:edge-AbC1", False),
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:edge-AbC123*", False),
        ("edge/sources", False),
    ],
)
def test_existing_secret_must_be_a_complete_arn(cfn: dict[str, Any], arn: str, accepted: bool) -> None:
    assert _accepted_by_cloudformation(cfn["Parameters"]["ExistingSecretArn"], arn) is accepted


def test_the_endpoint_pattern_is_the_forwarder_s(cfn: dict[str, Any]) -> None:
    assert cfn["Parameters"]["MetaRouterEndpoint"]["AllowedPattern"] == ENDPOINT_PATTERN
    assert variable_schema(ForwardSettings, "endpoint")["schema"]["pattern"] == ENDPOINT_PATTERN


def _forwarder_accepts(endpoint: str) -> bool:
    try:
        ForwardSettings.from_env(
            {"EDGE_SECRET_ID": "s", "DEAD_LETTER_QUEUE_URL": "d", "METAROUTER_ENDPOINT": endpoint}
        )
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://e.metarouter.io",
        "https://acme.mr-in.com/",
        "https://acme.mr-in.com:8443/edge/v1",
        "http://127.0.0.1:3001",
        "http://localhost:3001",
        "http://e.metarouter.io",  # plain http leaves the machine: refused
        "https://e.metarouter.io?x=1",
        "https://e.metarouter.io#top",
        "https://user:pw@e.metarouter.io",
        "https://e.metarouter.io/a b",
        "ftp://e.metarouter.io",
        "e.metarouter.io",
        "https://é.example",
    ],
)
def test_cloudformation_accepts_an_endpoint_exactly_when_the_forwarder_does(
    cfn: dict[str, Any], endpoint: str
) -> None:
    assert _accepted_by_cloudformation(
        cfn["Parameters"]["MetaRouterEndpoint"], endpoint
    ) is _forwarder_accepts(endpoint)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(ENDPOINT_PATTERN, fullmatch=True).filter(lambda e: len(e) <= 96))
def test_every_endpoint_cloudformation_accepts_starts_the_forwarder(endpoint: str) -> None:
    assert _forwarder_accepts(endpoint)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("htps:/.?#@%-_~ 1aéA0l"), max_size=40).map(lambda s: "https://" + s))
def test_no_endpoint_the_forwarder_refuses_gets_past_cloudformation(endpoint: str) -> None:
    if not _forwarder_accepts(endpoint):
        assert re.fullmatch(ENDPOINT_PATTERN, endpoint) is None


NON_DEFAULT = {
    "MetaRouterEndpoint": "https://acme.mr-in.com:8443/edge",
    "AllowedOrigins": "https://www.example.com,https://shop.example.com",
    "IpPolicy": "anonymize",
    "ExistingSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:edge/sources-AbC123",
    "SecretKmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "ForwardBatchSize": "10",
    "ForwardBatchingWindowSeconds": "0",
    "ForwardMaxConcurrency": "50",
    "ForwardMode": "per-call",
    "UpstreamMaxBatchEvents": "500",
    "UpstreamGzip": "true",
    "LogLevel": "WARNING",
    "Tracing": "Active",
    "AlarmEmail": "ops@example.com",
    "DeploymentStrategy": "AllAtOnce",
}


def test_a_deployment_with_non_default_values_passes_the_rules_and_wires_them_through(
    render: Callable[..., dict[str, Any]],
) -> None:
    cfn = render(**NON_DEFAULT)
    assert rule_failures(cfn, **NON_DEFAULT) == []
    for name, value in NON_DEFAULT.items():
        spec = cfn["Parameters"][name]
        if "AllowedPattern" in spec:
            assert _accepted_by_cloudformation(spec, value), name
        if "AllowedValues" in spec:
            assert value in [str(v) for v in spec["AllowedValues"]], name
    resolved = resolve(cfn, **NON_DEFAULT)
    resources = resolved["Resources"]
    assert "EdgeSecret" not in resources
    assert "AlarmEmailSubscription" in resources
    forward = resources["ForwardFunction"]["Properties"]
    variables = forward["Environment"]["Variables"]
    assert variables["EDGE_SECRET_ID"] == _ref("ExistingSecretArn")
    assert variables["UPSTREAM_GZIP"] == _ref("UpstreamGzip")
    assert forward["TracingConfig"] == {"Mode": _ref("Tracing")}
    # What the forwarder makes of the values at cold start.
    settings = ForwardSettings.from_env(
        {
            "EDGE_SECRET_ID": NON_DEFAULT["ExistingSecretArn"],
            "DEAD_LETTER_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/d",
            "METAROUTER_ENDPOINT": NON_DEFAULT["MetaRouterEndpoint"],
            "FORWARD_MODE": NON_DEFAULT["ForwardMode"],
            "UPSTREAM_MAX_BATCH_EVENTS": NON_DEFAULT["UpstreamMaxBatchEvents"],
            "UPSTREAM_GZIP": NON_DEFAULT["UpstreamGzip"],
        }
    )
    assert (settings.endpoint, settings.mode, settings.max_batch_events, settings.gzip) == (
        "https://acme.mr-in.com:8443/edge",
        "per-call",
        500,
        True,
    )
    [group] = _of_type(cfn, "AWS::CodeDeploy::DeploymentGroup").values()
    assert group["DeploymentConfigName"]["Fn::Sub"][1] == {"ConfigName": "AllAtOnce"}


def test_outputs_name_the_api_queues_functions_secret_topic_and_dashboard(cfn: dict[str, Any]) -> None:
    outputs = cfn["Outputs"]
    # The first-party outputs exist only with their parameters (test_first_party.py).
    assert {name for name, output in outputs.items() if "Condition" not in output} == {
        "ApiUrl",
        "EventsQueueUrl",
        "EventsQueueArn",
        "DeadLetterQueueUrl",
        "DeadLetterQueueArn",
        "QuarantineQueueUrl",
        "QuarantineQueueArn",
        "IngestFunctionName",
        "ForwardFunctionName",
        "SecretArn",
        "AlarmTopicArn",
        "DashboardUrl",
    }
    assert all(o.get("Description") for o in outputs.values())
    assert outputs["SecretArn"]["Value"] == {
        "Fn::If": ["CreateSecret", _ref("EdgeSecret"), _ref("ExistingSecretArn")]
    }


# ---------------------------------------------------------------- sam local invoke


def test_the_sam_local_env_file_sets_only_variables_the_template_declares(cfn: dict[str, Any]) -> None:
    """`sam local invoke --env-vars` ignores a variable the function does not declare."""
    overrides = json.loads((ROOT / "events" / "sam-local-env.json").read_text())
    assert set(overrides) == {"IngestFunction", "ForwardFunction", "ArchiveFunction"}
    for function, variables in overrides.items():
        declared = cfn["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert set(variables) <= set(declared), function
        # Every variable SAM would otherwise fill with a logical id or a placeholder is set.
        unresolvable = {
            name for name, value in declared.items() if isinstance(value, dict) and "Ref" in json.dumps(value)
        }
        unresolvable -= {name for name, value in declared.items() if _ref_to_parameter(cfn, value)}
        assert unresolvable <= set(variables), function


def _ref_to_parameter(cfn: dict[str, Any], value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in cfn["Parameters"]


def test_samconfig_deploys_without_questions_and_invokes_against_the_local_stack() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]
    deploy = config["deploy"]["parameters"]
    # What a non-guided `sam deploy` needs; the Region comes from the environment.
    assert deploy["stack_name"] == "metarouter-edge"
    assert "CAPABILITY_IAM" in deploy["capabilities"].split()
    assert deploy["resolve_s3"] is True
    local = config["local_invoke"]["parameters"]
    assert (ROOT / local["env_vars"]).is_file()
    assert (local["docker_network"], local["region"]) == ("host", "us-east-1")


def test_every_link_within_the_operations_guide_lands_on_a_heading() -> None:
    text = OPERATIONS.read_text()
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert links
    assert links <= _anchors(text), links - _anchors(text)
