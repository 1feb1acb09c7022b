"""template.yaml, rendered by the SAM translator: the properties issue 5 and SPEC §5 ask for."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.config import ForwardSettings, IngestSettings
from edge.observability import NAMESPACE, MetricName
from support.cfn import conditions

ROOT = Path(__file__).resolve().parents[2]
FOURTEEN_DAYS = 14 * 24 * 3600


def _of_type(cfn: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r.get("Properties", {}) for name, r in cfn["Resources"].items() if r["Type"] == kind}


def _arn(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def _ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _refs(value: Any) -> set[str]:
    """Every name a ``Ref`` inside ``value`` points at."""
    found: set[str] = set()
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            found.add(value["Ref"])
        for item in value.values():
            found |= _refs(item)
    elif isinstance(value, list):
        for item in value:
            found |= _refs(item)
    return found


def _function(cfn: dict[str, Any], name: str) -> dict[str, Any]:
    props: dict[str, Any] = cfn["Resources"][name]["Properties"]
    return props


def _statements(cfn: dict[str, Any], role: str, **parameters: str) -> list[dict[str, Any]]:
    """The role's statements, a conditional one as deployed with ``parameters`` over the defaults."""
    holding = conditions(cfn, **parameters)
    policies = cfn["Resources"][role]["Properties"]["Policies"]
    statements = [s for p in policies for s in p["PolicyDocument"]["Statement"]]
    chosen = [s["Fn::If"][1 if holding[s["Fn::If"][0]] else 2] if "Fn::If" in s else s for s in statements]
    return [s for s in chosen if s != _ref("AWS::NoValue")]


# ---------------------------------------------------------------- queues


def test_every_queue_is_encrypted_at_rest(cfn: dict[str, Any]) -> None:
    queues = _of_type(cfn, "AWS::SQS::Queue")
    assert set(queues) == {"EventsQueue", "DeadLetterQueue", "QuarantineQueue"}
    assert all(q["SqsManagedSseEnabled"] is True for q in queues.values())


def test_events_queue_moves_a_message_to_the_dead_letter_queue_after_max_receive_count(
    cfn: dict[str, Any],
) -> None:
    redrive = _function(cfn, "EventsQueue")["RedrivePolicy"]
    assert redrive == {
        "deadLetterTargetArn": _arn("DeadLetterQueue"),
        "maxReceiveCount": _ref("MaxReceiveCount"),
    }
    assert cfn["Parameters"]["MaxReceiveCount"]["Default"] == 5


def test_events_queue_visibility_is_at_least_six_forwarder_timeouts(cfn: dict[str, Any]) -> None:
    visibility = _function(cfn, "EventsQueue")["VisibilityTimeout"]
    assert visibility >= 6 * _function(cfn, "ForwardFunction")["Timeout"]


def test_dead_letter_and_quarantine_queues_keep_messages_fourteen_days(cfn: dict[str, Any]) -> None:
    for name in ("DeadLetterQueue", "QuarantineQueue"):
        assert _function(cfn, name)["MessageRetentionPeriod"] == FOURTEEN_DAYS
    # A redriven message keeps its first enqueue time: the dead-letter queue must outlive the source.
    assert _function(cfn, "EventsQueue")["MessageRetentionPeriod"] < FOURTEEN_DAYS


def test_all_queues_take_the_message_size_ingest_packs_to(cfn: dict[str, Any]) -> None:
    size = int(_function(cfn, "IngestFunction")["Environment"]["Variables"]["SQS_MAX_MESSAGE_BYTES"])
    assert {q["MaximumMessageSize"] for q in _of_type(cfn, "AWS::SQS::Queue").values()} == {size}


# ---------------------------------------------------------------- forwarder event source


def test_forwarder_reports_batch_item_failures_with_tunable_batching(cfn: dict[str, Any]) -> None:
    [mapping] = _of_type(cfn, "AWS::Lambda::EventSourceMapping").values()
    assert mapping["EventSourceArn"] == _arn("EventsQueue")
    assert mapping["FunctionName"] == _ref("ForwardFunction")
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == _ref("ForwardBatchSize")
    assert mapping["MaximumBatchingWindowInSeconds"] == _ref("ForwardBatchingWindowSeconds")
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": _ref("ForwardMaxConcurrency")}


# ---------------------------------------------------------------- functions and their configuration


def test_both_functions_run_python_3_13_on_arm64_with_the_shared_layer(cfn: dict[str, Any]) -> None:
    [layer] = _of_type(cfn, "AWS::Lambda::LayerVersion")
    for name in ("IngestFunction", "ForwardFunction"):
        function = _function(cfn, name)
        assert function["Runtime"] == "python3.13"
        assert function["Architectures"] == ["arm64"]
        assert function["Layers"] == [_ref(layer)]


_REQUIRED = {
    "EVENTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/e",
    "QUARANTINE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q",
    "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/d",
    "EDGE_SECRET_ID": "s",
}
# What each function's environment carries: variable → (settings attribute, a valid sample, as read).
READS: dict[str, dict[str, tuple[str, str, Any]]] = {
    "IngestFunction": {
        "EVENTS_QUEUE_URL": ("events_queue_url", "https://sqs.example/e2", "https://sqs.example/e2"),
        "QUARANTINE_QUEUE_URL": ("quarantine_queue_url", "https://sqs.example/q2", "https://sqs.example/q2"),
        "EDGE_SECRET_ID": ("edge_secret_id", "other", "other"),
        "IP_POLICY": ("ip_policy", "drop", "drop"),
        "SECRET_MAX_AGE_SECONDS": ("secret_max_age", "7", 7),
        "SQS_MAX_MESSAGE_BYTES": ("max_message_bytes", "2048", 2048),
    },
    "ForwardFunction": {
        "EDGE_SECRET_ID": ("edge_secret_id", "other", "other"),
        "DEAD_LETTER_QUEUE_URL": (
            "dead_letter_queue_url",
            "https://sqs.example/d2",
            "https://sqs.example/d2",
        ),
        "METAROUTER_ENDPOINT": ("endpoint", "https://mr.example.com/", "https://mr.example.com"),
        "FORWARD_MODE": ("mode", "per-call", "per-call"),
        "SECRET_MAX_AGE_SECONDS": ("secret_max_age", "7", 7),
        "UPSTREAM_MAX_BATCH_EVENTS": ("max_batch_events", "7", 7),
        "UPSTREAM_CONNECT_TIMEOUT_SECONDS": ("connect_timeout", "3", 3.0),
        "UPSTREAM_READ_TIMEOUT_SECONDS": ("read_timeout", "3", 3.0),
        "EVENTS_QUEUE_URL": ("events_queue_url", "https://sqs.example/e2", "https://sqs.example/e2"),
        "REQUEUE_DELAY_SECONDS": ("requeue_delay", "30", 30),
        "MAX_RECEIVE_COUNT": ("max_receive_count", "7", 7),
        "DEDUPE_WINDOW_HOURS": ("dedupe_window_hours", "0", 0),
        "DEDUPE_TABLE_NAME": ("dedupe_table", "delivered", "delivered"),
    },
}
SETTINGS = {"IngestFunction": IngestSettings, "ForwardFunction": ForwardSettings}
POWERTOOLS = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}


@pytest.mark.parametrize(
    ("function", "service"), [("IngestFunction", "edge-ingest"), ("ForwardFunction", "edge-forward")]
)
def test_every_environment_variable_is_one_the_function_reads(
    cfn: dict[str, Any], function: str, service: str
) -> None:
    variables = _function(cfn, function)["Environment"]["Variables"]
    assert set(variables) == set(READS[function]) | POWERTOOLS
    settings = SETTINGS[function]
    for variable, (attribute, sample, read) in READS[function].items():
        assert getattr(settings.from_env({**_REQUIRED, variable: sample}), attribute) == read, variable
    assert variables["POWERTOOLS_SERVICE_NAME"] == service
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE


# Template parameter → the function and the environment variable it is handed to.
TUNABLES = {
    "ForwardMode": ("ForwardFunction", "FORWARD_MODE"),
    "UpstreamMaxBatchEvents": ("ForwardFunction", "UPSTREAM_MAX_BATCH_EVENTS"),
    "UpstreamConnectTimeoutSeconds": ("ForwardFunction", "UPSTREAM_CONNECT_TIMEOUT_SECONDS"),
    "UpstreamReadTimeoutSeconds": ("ForwardFunction", "UPSTREAM_READ_TIMEOUT_SECONDS"),
    "MetaRouterEndpoint": ("ForwardFunction", "METAROUTER_ENDPOINT"),
    "MaxReceiveCount": ("ForwardFunction", "MAX_RECEIVE_COUNT"),
    "DedupeWindowHours": ("ForwardFunction", "DEDUPE_WINDOW_HOURS"),
    "SecretMaxAgeSeconds": ("IngestFunction", "SECRET_MAX_AGE_SECONDS"),
    "IpPolicy": ("IngestFunction", "IP_POLICY"),
}


@pytest.mark.parametrize("parameter", sorted(TUNABLES))
def test_tunable_parameter_reaches_the_function_and_defaults_as_the_code_does(
    cfn: dict[str, Any], parameter: str
) -> None:
    function, variable = TUNABLES[parameter]
    assert _function(cfn, function)["Environment"]["Variables"][variable] == _ref(parameter)
    # The local stack (make run) leaves these variables unset: the code's default is the template's.
    default = getattr(SETTINGS[function].from_env(_REQUIRED), READS[function][variable][0])
    expected = cfn["Parameters"][parameter]["Default"]
    assert default == (type(default)(expected) if isinstance(default, int | float) else expected)


@pytest.mark.parametrize("parameter", sorted(TUNABLES))
def test_every_value_cloudformation_accepts_the_function_accepts(cfn: dict[str, Any], parameter: str) -> None:
    function, variable = TUNABLES[parameter]
    spec = cfn["Parameters"][parameter]
    values = [spec.get("MinValue"), spec.get("MaxValue"), spec["Default"], *spec.get("AllowedValues", [])]
    for value in (v for v in values if v is not None):
        SETTINGS[function].from_env({**_REQUIRED, variable: str(value)})  # no ValidationError at cold start


def test_forwarder_read_timeout_leaves_room_for_a_retry_within_its_timeout(cfn: dict[str, Any]) -> None:
    timeout = _function(cfn, "ForwardFunction")["Timeout"]
    read = cfn["Parameters"]["UpstreamReadTimeoutSeconds"]["MaxValue"]
    connect = cfn["Parameters"]["UpstreamConnectTimeoutSeconds"]["MaxValue"]
    margin = ForwardSettings.from_env(_REQUIRED).time_margin
    assert 2 * (read + connect) + margin <= timeout


def test_each_function_logs_to_its_own_group_with_retention(cfn: dict[str, Any]) -> None:
    groups = _of_type(cfn, "AWS::Logs::LogGroup")
    assert all(g["RetentionInDays"] == _ref("LogRetentionDays") for g in groups.values())
    assert _function(cfn, "IngestFunction")["LoggingConfig"] == {"LogGroup": _ref("IngestLogGroup")}
    assert _function(cfn, "ForwardFunction")["LoggingConfig"] == {"LogGroup": _ref("ForwardLogGroup")}


# ---------------------------------------------------------------- SnapStart and versions


def test_ingest_uses_snapstart_and_the_api_calls_its_live_alias(cfn: dict[str, Any]) -> None:
    assert _function(cfn, "IngestFunction")["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    [(alias_id, alias)] = _of_type(cfn, "AWS::Lambda::Alias").items()
    assert alias["Name"] == "live"
    [version] = _of_type(cfn, "AWS::Lambda::Version")
    assert alias["FunctionVersion"] == {"Fn::GetAtt": [version, "Version"]}
    paths = cfn["Resources"]["HttpApi"]["Properties"]["Body"]["paths"]
    uris = [
        op["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"] for p in paths.values() for op in p.values()
    ]
    assert uris
    assert all(f"${{{alias_id}}}" in uri for uri in uris)
    permissions = _of_type(cfn, "AWS::Lambda::Permission").values()
    assert {p["Principal"] for p in permissions} == {"apigateway.amazonaws.com"}
    assert all(p["FunctionName"] == _ref(alias_id) for p in permissions)


def test_forwarder_has_no_snapstart(cfn: dict[str, Any]) -> None:
    assert "SnapStart" not in _function(cfn, "ForwardFunction")


def test_every_parameter_of_the_ingest_configuration_is_in_its_version_description(
    cfn: dict[str, Any],
) -> None:
    """SAM hashes a version's logical id from unresolved !Refs, so a parameter change alone would
    leave the alias on a version with the old configuration; a changed description replaces it."""
    [version] = _of_type(cfn, "AWS::Lambda::Version").values()
    text, variables = version["Description"]["Fn::Sub"]
    described = {part.split("}")[0] for part in text.split("${")[1:]} | _refs(variables)
    parameters = _refs(_function(cfn, "IngestFunction")) & set(cfn["Parameters"])
    assert parameters
    assert parameters <= described


def test_a_change_to_the_layer_publishes_a_new_ingest_version(
    render: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    for part in ("template.yaml", "functions", "layers"):
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / part)
    before = set(_of_type(render(tmp_path / "template.yaml"), "AWS::Lambda::Version"))
    with (tmp_path / "layers" / "edge" / "edge" / "limits.py").open("a") as module:
        module.write("\n# changed\n")
    after = set(_of_type(render(tmp_path / "template.yaml"), "AWS::Lambda::Version"))
    assert before.isdisjoint(after)


# ---------------------------------------------------------------- least privilege


ROLES = {
    "IngestFunctionRole": {
        ("logs:CreateLogStream", "IngestLogGroup"),
        ("logs:PutLogEvents", "IngestLogGroup"),
        ("sqs:SendMessage", "EventsQueue"),
        ("sqs:SendMessage", "QuarantineQueue"),
        ("secretsmanager:GetSecretValue", "the secret"),
    },
    "ForwardFunctionRole": {
        ("logs:CreateLogStream", "ForwardLogGroup"),
        ("logs:PutLogEvents", "ForwardLogGroup"),
        ("sqs:ReceiveMessage", "EventsQueue"),
        ("sqs:DeleteMessage", "EventsQueue"),
        ("sqs:GetQueueAttributes", "EventsQueue"),
        ("sqs:SendMessage", "DeadLetterQueue"),
        ("sqs:SendMessage", "EventsQueue"),
        ("secretsmanager:GetSecretValue", "the secret"),
    },
}
THE_SECRET = {"Fn::If": ["CreateSecret", _ref("EdgeSecret"), _ref("ExistingSecretArn")]}


def _target(resource: Any) -> str:
    if resource == THE_SECRET:
        return "the secret"
    assert isinstance(resource, dict), resource
    assert set(resource) == {"Fn::GetAtt"}, resource
    return str(resource["Fn::GetAtt"][0])


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_function_may_touch_only_its_own_queues_log_group_and_the_secret(
    cfn: dict[str, Any], role: str
) -> None:
    grants = set()
    for statement in _statements(cfn, role):
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        grants |= {(action, _target(resource)) for action in actions for resource in resources}
    assert grants == ROLES[role]


def test_no_policy_names_a_wildcard_resource_or_an_aws_managed_execution_role(cfn: dict[str, Any]) -> None:
    roles = _of_type(cfn, "AWS::IAM::Role")
    assert set(roles) == set(ROLES)  # SAM generated none: no AWSLambdaBasicExecutionRole & co.
    functions = _of_type(cfn, "AWS::Lambda::Function").values()
    assert {f["Role"]["Fn::GetAtt"][0] for f in functions} == set(ROLES)
    for name in roles:
        resources = [s["Resource"] for s in _statements(cfn, name)]
        assert not [r for r in _strings(resources) if "*" in r]
        # The only managed policy: X-Ray's writer, and only when tracing is on (X-Ray has no
        # resource-level permissions).
        assert roles[name]["ManagedPolicyArns"] == {
            "Fn::If": [
                "TracingActive",
                [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"}],
                _ref("AWS::NoValue"),
            ]
        }
        principal = roles[name]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        assert principal == {"Service": "lambda.amazonaws.com"}
    assert not _of_type(cfn, "AWS::IAM::Policy")
    assert not _of_type(cfn, "AWS::IAM::ManagedPolicy")


# ---------------------------------------------------------------- API


def test_cors_allows_the_configured_origins_and_what_analytics_js_sends(cfn: dict[str, Any]) -> None:
    cors = cfn["Resources"]["HttpApi"]["Properties"]["Body"]["x-amazon-apigateway-cors"]
    assert cors["allowOrigins"] == ["*"]
    assert cfn["Parameters"]["AllowedOrigins"]["Type"] == "CommaDelimitedList"
    assert set(cors["allowMethods"]) == {"POST", "OPTIONS"}
    # `authorization` by name: browsers do not let a * in the allowed headers cover it.
    assert set(cors["allowHeaders"]) == {
        "content-type",
        "authorization",
        "x-retry-count",
        "anonymousid",
        "trace",
    }
    assert cors["maxAge"] == 900
    assert cors.get("allowCredentials", False) is False


def test_cors_origins_follow_the_parameter(render: Callable[..., dict[str, Any]]) -> None:
    cfn = render(AllowedOrigins="https://www.example.com,https://shop.example.com")
    cors = cfn["Resources"]["HttpApi"]["Properties"]["Body"]["x-amazon-apigateway-cors"]
    assert cors["allowOrigins"] == ["https://www.example.com", "https://shop.example.com"]


def test_api_throttles_and_writes_access_logs_with_retention(cfn: dict[str, Any]) -> None:
    [stage] = _of_type(cfn, "AWS::ApiGatewayV2::Stage").values()
    assert stage["StageName"] == "$default"
    assert stage["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": _ref("ThrottlingRateLimit"),
        "ThrottlingBurstLimit": _ref("ThrottlingBurstLimit"),
    }
    assert stage["AccessLogSettings"]["DestinationArn"] == _arn("ApiAccessLogGroup")
    assert cfn["Resources"]["HttpApi"]["Properties"]["FailOnWarnings"] is True


def test_api_has_exactly_the_routes_of_the_spec(cfn: dict[str, Any]) -> None:
    paths = cfn["Resources"]["HttpApi"]["Properties"]["Body"]["paths"]
    routes = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    singles = ["identify", "track", "page", "screen", "group", "alias"]
    expected = {("POST", f"/v1/{t}") for t in singles} | {("POST", f"/v1/{t[0]}") for t in singles}
    expected |= {("POST", "/v1/batch"), ("POST", "/v1/b"), ("POST", "/v1/import"), ("POST", "/v1/m")}
    expected |= {("GET", "/v1/pixel/{type}")}
    assert routes == expected


# ---------------------------------------------------------------- alarms and outputs


def _alarm_key(alarm: dict[str, Any]) -> tuple[str, str, str]:
    if "Metrics" in alarm:
        [expression] = [m for m in alarm["Metrics"] if m.get("ReturnData")]
        return ("expression", expression["Expression"], "")
    dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    return (alarm["Namespace"], alarm["MetricName"], json.dumps(dimensions, sort_keys=True))


def _on(name: str, value: Any) -> str:
    return json.dumps({name: value}, sort_keys=True)


def test_every_alarm_of_the_runbook_exists(cfn: dict[str, Any]) -> None:
    alarms = {_alarm_key(a) for a in _of_type(cfn, "AWS::CloudWatch::Alarm").values()}
    dead_letters = _on("QueueName", {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]})
    events = _on("QueueName", {"Fn::GetAtt": ["EventsQueue", "QueueName"]})
    ingest, forward = (
        _on("FunctionName", _ref("IngestFunction")),
        _on("FunctionName", _ref("ForwardFunction")),
    )
    assert alarms == {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", dead_letters),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", events),
        ("AWS/Lambda", "Errors", ingest),
        ("AWS/Lambda", "Throttles", ingest),
        ("AWS/Lambda", "Errors", forward),
        ("AWS/Lambda", "Throttles", forward),
        (NAMESPACE, MetricName.UPSTREAM_AUTH_FAILURES, _on("service", "edge-forward")),
        ("expression", "IF(errors >= 5, 100 * errors / requests, 0)", ""),
    }


def test_auth_failure_alarm_watches_the_dimension_powertools_emits(cfn: dict[str, Any]) -> None:
    alarm = _function(cfn, "UpstreamAuthFailuresAlarm")
    service = _function(cfn, "ForwardFunction")["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    assert alarm["Dimensions"] == [{"Name": "service", "Value": service}]


def test_api_5xx_alarm_is_a_rate_over_the_api_s_own_metrics(cfn: dict[str, Any]) -> None:
    metrics = {m["Id"]: m for m in _function(cfn, "Api5xxRateAlarm")["Metrics"]}
    for metric_id, name in (("errors", "5xx"), ("requests", "Count")):
        metric = metrics[metric_id]["MetricStat"]["Metric"]
        assert (metric["Namespace"], metric["MetricName"]) == ("AWS/ApiGateway", name)
        assert metric["Dimensions"] == [{"Name": "ApiId", "Value": _ref("HttpApi")}]


def test_every_alarm_notifies_the_alarm_topic_both_ways(cfn: dict[str, Any]) -> None:
    for alarm in _of_type(cfn, "AWS::CloudWatch::Alarm").values():
        assert alarm["AlarmActions"] == [_ref("AlarmTopic")]
        assert alarm["OKActions"] == [_ref("AlarmTopic")]
        assert alarm["TreatMissingData"] == "notBreaching"


def test_outputs_name_the_api_queues_functions_secret_and_topic(cfn: dict[str, Any]) -> None:
    outputs = cfn["Outputs"]
    assert set(outputs) == {
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
    }
    assert all(o.get("Description") for o in outputs.values())
    assert outputs["SecretArn"]["Value"] == THE_SECRET
    assert outputs["EventsQueueUrl"]["Value"] == _ref("EventsQueue")


def test_an_existing_secret_and_an_alarm_email_render(render: Callable[..., dict[str, Any]]) -> None:
    cfn = render(
        ExistingSecretArn="arn:aws:secretsmanager:us-east-1:123456789012:secret:edge-AbCdEf",
        AlarmEmail="ops@example.com",
        Tracing="Active",
    )
    assert "AlarmEmailSubscription" in cfn["Resources"]
    assert _function(cfn, "IngestFunction")["TracingConfig"] == {"Mode": _ref("Tracing")}
