"""template.yaml, rendered by the SAM translator: queues, functions, roles and the API."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.core.config import ArchiveSettings, ForwardSettings, IngestSettings
from edge.core.observability import NAMESPACE
from edge.ingest.routes import ROUTES
from edge.ingest.wiring import build_plan
from edge_local.template import load as load_template
from support.cfn import conditions, resolve

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
    assert set(queues) == {"EventsQueue", "DeadLetterQueue", "QuarantineQueue", "ArchiveQueue"}
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


def _mapping(cfn: dict[str, Any], queue: str) -> dict[str, Any]:
    [mapping] = [
        m
        for m in _of_type(cfn, "AWS::Lambda::EventSourceMapping").values()
        if m["EventSourceArn"] == _arn(queue)
    ]
    return mapping


def test_forwarder_reports_batch_item_failures_with_tunable_batching(cfn: dict[str, Any]) -> None:
    assert len(_of_type(cfn, "AWS::Lambda::EventSourceMapping")) == 2  # the events and archive queues
    mapping = _mapping(cfn, "EventsQueue")
    # The `live` alias, a published version: a rollback is moving the alias.
    assert mapping["FunctionName"] == _ref("ForwardFunctionAliaslive")
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == _ref("ForwardBatchSize")
    assert mapping["MaximumBatchingWindowInSeconds"] == _ref("ForwardBatchingWindowSeconds")
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": _ref("ForwardMaxConcurrency")}


def test_the_archive_function_writes_large_batches_and_leaves_what_failed_on_its_queue(
    cfn: dict[str, Any],
) -> None:
    mapping = _mapping(cfn, "ArchiveQueue")
    assert mapping["FunctionName"] == _ref("ArchiveFunction")
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert (mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"]) == (10000, 300)
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}
    queue = _function(cfn, "ArchiveQueue")
    # No redrive policy: a copy is retried until the bucket takes it, for SQS's longest retention.
    assert "RedrivePolicy" not in queue
    assert queue["MessageRetentionPeriod"] == FOURTEEN_DAYS
    window = mapping["MaximumBatchingWindowInSeconds"]
    assert queue["VisibilityTimeout"] >= 6 * _function(cfn, "ArchiveFunction")["Timeout"] + window


# ---------------------------------------------------------------- functions and their configuration


def test_both_functions_run_python_3_13_on_arm64_with_the_shared_layer(cfn: dict[str, Any]) -> None:
    [layer] = _of_type(cfn, "AWS::Lambda::LayerVersion")
    for name in ("IngestFunction", "ForwardFunction", "ArchiveFunction"):
        function = _function(cfn, name)
        assert function["Runtime"] == "python3.13"
        assert function["Architectures"] == ["arm64"]
        assert function["Layers"] == [_ref(layer)]


_REQUIRED = {
    "ARCHIVE_BUCKET_NAME": "archive",
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
        "BOT_POLICY": ("bot_policy", "drop", "drop"),
        "GPC_POLICY": ("gpc_policy", "anonymize", "anonymize"),
        "REQUIRED_CONSENT": ("required_consent", "analytics,marketing", "analytics,marketing"),
        "CONSENT_WHEN_MISSING": ("consent_when_missing", "drop", "drop"),
        "CONSENT_COOKIE": ("consent_cookie", "onetrust", "onetrust"),
        "GPC_OPT_OUT": ("gpc_opt_out", "C0004,C0005", "C0004,C0005"),
        "HASH_FIELDS": ("hash_fields", "traits.email", "traits.email"),
        "TRACKING_PLAN": ("tracking_plan", "plans/shop.json", "plans/shop.json"),
        "TRACKING_PLAN_MODE": ("tracking_plan_mode", "observe", "observe"),
        "SECRET_MAX_AGE_SECONDS": ("secret_max_age", "7", 7),
        "SQS_MAX_MESSAGE_BYTES": ("max_message_bytes", "2048", 2048),
        "OUTCOME_LOG_SAMPLE_RATE": ("outcome_log_sample_rate", "0.25", 0.25),
        "ORIGIN_VERIFY_SECRET_ID": ("origin_verify_secret_id", "verify", "verify"),
        "REQUIRE_ORIGIN_VERIFY": ("require_origin_verify", "true", True),
        "COOKIE_DOMAIN": ("cookie_domain", "example.com", "example.com"),
        "COOKIE_MAX_AGE_SECONDS": ("cookie_max_age", "86400", 86400),
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
        "UPSTREAM_GZIP": ("gzip", "true", True),
        "EVENTS_QUEUE_URL": ("events_queue_url", "https://sqs.example/e2", "https://sqs.example/e2"),
        "REQUEUE_DELAY_SECONDS": ("requeue_delay", "30", 30),
        "MAX_RECEIVE_COUNT": ("max_receive_count", "7", 7),
        "DEDUPE_WINDOW_HOURS": ("dedupe_window_hours", "0", 0),
        "DEDUPE_TABLE_NAME": ("dedupe_table", "delivered", "delivered"),
        "ARCHIVE_QUEUE_URL": ("archive_queue_url", "https://sqs.example/a2", "https://sqs.example/a2"),
    },
    "ArchiveFunction": {
        "ARCHIVE_BUCKET_NAME": ("bucket", "archive-2", "archive-2"),
    },
}
SETTINGS = {
    "IngestFunction": IngestSettings,
    "ForwardFunction": ForwardSettings,
    "ArchiveFunction": ArchiveSettings,
}
POWERTOOLS = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}
# Read by botocore, empty in AWS: declared so that `sam local invoke --env-vars` may set it.
# Read by pydantic: no plugin is looked for.
SDK = {"AWS_ENDPOINT_URL", "PYDANTIC_DISABLE_PLUGINS"}


@pytest.mark.parametrize(
    ("function", "service"),
    [
        ("IngestFunction", "edge-ingest"),
        ("ForwardFunction", "edge-forward"),
        ("ArchiveFunction", "edge-archive"),
    ],
)
def test_every_environment_variable_is_one_the_function_reads(
    cfn: dict[str, Any], function: str, service: str
) -> None:
    variables = _function(cfn, function)["Environment"]["Variables"]
    assert set(variables) == set(READS[function]) | POWERTOOLS | SDK
    assert variables["AWS_ENDPOINT_URL"] == ""  # botocore ignores an empty endpoint
    assert variables["PYDANTIC_DISABLE_PLUGINS"] == "__all__"
    settings = SETTINGS[function]
    for variable, (attribute, sample, read) in READS[function].items():
        assert getattr(settings.from_env({**_REQUIRED, variable: sample}), attribute) == read, variable
    assert variables["POWERTOOLS_SERVICE_NAME"] == service
    # Stack by stack (two stacks in one account and Region: tests/template/test_stacks_apart.py).
    globals_ = cfn["Resources"][function]["Properties"]["Environment"]["Variables"]
    assert globals_["POWERTOOLS_METRICS_NAMESPACE"] == {"Fn::Sub": f"{NAMESPACE}/${{AWS::StackName}}"}


# Template parameter → the function and the environment variable it is handed to.
TUNABLES = {
    "ForwardMode": ("ForwardFunction", "FORWARD_MODE"),
    "UpstreamMaxBatchEvents": ("ForwardFunction", "UPSTREAM_MAX_BATCH_EVENTS"),
    "UpstreamConnectTimeoutSeconds": ("ForwardFunction", "UPSTREAM_CONNECT_TIMEOUT_SECONDS"),
    "UpstreamReadTimeoutSeconds": ("ForwardFunction", "UPSTREAM_READ_TIMEOUT_SECONDS"),
    "MetaRouterEndpoint": ("ForwardFunction", "METAROUTER_ENDPOINT"),
    "UpstreamGzip": ("ForwardFunction", "UPSTREAM_GZIP"),
    "MaxReceiveCount": ("ForwardFunction", "MAX_RECEIVE_COUNT"),
    "DedupeWindowHours": ("ForwardFunction", "DEDUPE_WINDOW_HOURS"),
    "SecretMaxAgeSeconds": ("IngestFunction", "SECRET_MAX_AGE_SECONDS"),
    "IpPolicy": ("IngestFunction", "IP_POLICY"),
    "BotPolicy": ("IngestFunction", "BOT_POLICY"),
    "GpcPolicy": ("IngestFunction", "GPC_POLICY"),
    "RequiredConsentCategories": ("IngestFunction", "REQUIRED_CONSENT"),
    "ConsentWhenMissing": ("IngestFunction", "CONSENT_WHEN_MISSING"),
    "ConsentCookie": ("IngestFunction", "CONSENT_COOKIE"),
    "TrackingPlanMode": ("IngestFunction", "TRACKING_PLAN_MODE"),
    "GpcOptOutCategories": ("IngestFunction", "GPC_OPT_OUT"),
    "HashFields": ("IngestFunction", "HASH_FIELDS"),
    "OutcomeLogSampleRate": ("IngestFunction", "OUTCOME_LOG_SAMPLE_RATE"),
    "RequireCloudFront": ("IngestFunction", "REQUIRE_ORIGIN_VERIFY"),
    "CookieDomain": ("IngestFunction", "COOKIE_DOMAIN"),
    "CookieMaxAgeSeconds": ("IngestFunction", "COOKIE_MAX_AGE_SECONDS"),
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
    if isinstance(default, bool):
        assert str(default).lower() == expected
    else:
        assert default == (type(default)(expected) if isinstance(default, int | float) else expected)


@pytest.mark.parametrize("parameter", sorted(TUNABLES))
def test_every_value_cloudformation_accepts_the_function_accepts(cfn: dict[str, Any], parameter: str) -> None:
    function, variable = TUNABLES[parameter]
    spec = cfn["Parameters"][parameter]
    values = [spec.get("MinValue"), spec.get("MaxValue"), spec["Default"], *spec.get("AllowedValues", [])]
    for value in (v for v in values if v is not None):
        SETTINGS[function].from_env({**_REQUIRED, variable: str(value)})  # no ValidationError at cold start


@pytest.mark.parametrize("name", ["", "example"])
def test_the_tracking_plan_s_name_becomes_the_path_of_a_plan_that_ships_with_ingest(
    render: Callable[..., dict[str, Any]], name: str
) -> None:
    mode = "block" if name else "off"
    deployed = resolve(
        render(TrackingPlan=name, TrackingPlanMode=mode), TrackingPlan=name, TrackingPlanMode=mode
    )
    value = _function(deployed, "IngestFunction")["Environment"]["Variables"]["TRACKING_PLAN"]
    path = value["Fn::Sub"].replace("${TrackingPlan}", name) if isinstance(value, dict) else value
    assert path == (f"plans/{name}.json" if name else "")
    settings = IngestSettings.from_env({**_REQUIRED, "TRACKING_PLAN": path, "TRACKING_PLAN_MODE": mode})
    policy = build_plan(settings, ROOT / "functions" / "ingest")  # CodeUri: what Lambda's task root holds
    assert policy.mode == mode
    assert (policy.plan is not None) == bool(name)


def test_forwarder_read_timeout_leaves_room_for_a_retry_within_its_timeout(cfn: dict[str, Any]) -> None:
    timeout = _function(cfn, "ForwardFunction")["Timeout"]
    read = cfn["Parameters"]["UpstreamReadTimeoutSeconds"]["MaxValue"]
    connect = cfn["Parameters"]["UpstreamConnectTimeoutSeconds"]["MaxValue"]
    margin = ForwardSettings.from_env(_REQUIRED).time_margin
    assert 2 * (read + connect) + margin <= timeout


def test_each_function_logs_to_its_own_group_with_retention(cfn: dict[str, Any]) -> None:
    groups = _of_type(cfn, "AWS::Logs::LogGroup")
    assert all(g["RetentionInDays"] == _ref("LogRetentionDays") for g in groups.values())
    level = {"Fn::FindInMap": ["LogLevels", _ref("LogLevel"), "Lambda"]}
    # Ingest runs once per request: Lambda's START/END/REPORT records are dropped (WARN) there;
    # the forwarder keeps them (few invocations, and REPORT's memory figure sizes it).
    for function, group, system in (
        ("IngestFunction", "IngestLogGroup", "WARN"),
        ("ForwardFunction", "ForwardLogGroup", "INFO"),
        ("ArchiveFunction", "ArchiveLogGroup", "INFO"),
    ):
        assert _function(cfn, function)["LoggingConfig"] == {
            "LogGroup": _ref(group),
            "LogFormat": "JSON",
            "ApplicationLogLevel": level,
            "SystemLogLevel": system,
        }


def test_no_log_level_lets_lambda_drop_the_metric_lines(cfn: dict[str, Any]) -> None:
    """Lambda gives a JSON line without ``level`` (every EMF metric line) the level INFO and drops
    it below its ApplicationLogLevel: that filter stays at INFO or below for every LogLevel."""
    mapping = cfn["Mappings"]["LogLevels"]
    assert set(mapping) == set(cfn["Parameters"]["LogLevel"]["AllowedValues"])
    for powertools, names in mapping.items():
        assert names["Lambda"] in {"TRACE", "DEBUG", "INFO"}, powertools
    assert mapping["DEBUG"]["Lambda"] == "DEBUG"  # and DEBUG's own lines pass it


# ---------------------------------------------------------------- SnapStart and versions


@pytest.mark.parametrize(
    ("values", "on"),
    [
        ({}, True),
        ({"AWS::Region": "eu-west-1"}, True),
        ({"AWS::Region": "ap-east-2"}, False),  # Asia Pacific (Taipei): not offered
        ({"AWS::Region": "ap-southeast-6"}, False),  # Asia Pacific (New Zealand): not offered
        ({"AWS::Region": "cn-north-1", "AWS::Partition": "aws-cn"}, False),
        ({"AWS::Region": "ap-east-2", "SnapStart": "on"}, True),
        ({"SnapStart": "off"}, False),
    ],
)
def test_ingest_uses_snapstart_where_the_region_offers_it(
    cfn: dict[str, Any], values: dict[str, str], on: bool
) -> None:
    assert conditions(cfn, **values)["SnapStartOn"] is on
    resolved = resolve(cfn, **values)["Resources"]["IngestFunction"]["Properties"]
    assert resolved["SnapStart"] == {"ApplyOn": "PublishedVersions" if on else "None"}


def test_the_api_calls_the_ingest_function_s_live_alias(cfn: dict[str, Any]) -> None:
    aliases = _of_type(cfn, "AWS::Lambda::Alias")
    assert {a["Name"] for a in aliases.values()} == {"live"}
    [(alias_id, alias)] = [(k, a) for k, a in aliases.items() if a["FunctionName"] == _ref("IngestFunction")]
    [version] = [
        k
        for k, v in _of_type(cfn, "AWS::Lambda::Version").items()
        if v["FunctionName"] == _ref("IngestFunction")
    ]
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


def test_forwarder_has_no_snapstart_but_a_live_alias(cfn: dict[str, Any]) -> None:
    assert "SnapStart" not in _function(cfn, "ForwardFunction")
    alias = cfn["Resources"]["ForwardFunctionAliaslive"]["Properties"]
    assert alias["FunctionName"] == _ref("ForwardFunction")
    assert alias["FunctionVersion"]["Fn::GetAtt"][0].startswith("ForwardFunctionVersion")


def _version_description(cfn: dict[str, Any], function: str) -> list[Any]:
    [version] = [
        v for v in _of_type(cfn, "AWS::Lambda::Version").values() if v["FunctionName"] == _ref(function)
    ]
    description: list[Any] = version["Description"]["Fn::Sub"]
    return description


@pytest.mark.parametrize("function", ["IngestFunction", "ForwardFunction"])
def test_every_parameter_of_a_function_s_configuration_is_in_its_version_description(
    cfn: dict[str, Any], function: str
) -> None:
    """SAM hashes a version's logical id from unresolved !Refs, so a parameter change alone would
    leave the alias on a version with the old configuration; a changed description replaces it."""
    text, variables = _version_description(cfn, function)
    named = {part.split("}")[0] for part in text.split("${")[1:]}
    used = [value for name, value in variables.items() if name in named]  # a variable the text shows
    described = named | _refs(used) | _condition_parameters(cfn, used)
    configuration = _function(cfn, function)
    parameters = (_refs(configuration) | _condition_parameters(cfn, configuration)) & set(cfn["Parameters"])
    assert parameters
    assert parameters <= described


def _condition_parameters(cfn: dict[str, Any], value: Any) -> set[str]:
    """The parameters the conditions of ``value``'s ``Fn::If``s depend on (a variable set only with
    the archive on depends on ArchiveRetentionDays)."""
    names: set[str] = set()
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if "Fn::If" in item:
                names.add(item["Fn::If"][0])
            if "Condition" in item and isinstance(item["Condition"], str):
                names.add(item["Condition"])
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    found: set[str] = set()
    seen: set[str] = set()
    while names:
        name = names.pop()
        if name in seen:
            continue
        seen.add(name)
        condition = cfn["Conditions"][name]
        found |= _refs(condition)
        names |= {
            item["Condition"]
            for item in _dicts(condition)
            if set(item) == {"Condition"} and isinstance(item["Condition"], str)
        }
    return found & set(cfn["Parameters"])


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _dicts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _dicts(item)


def _longest_variable(cfn: dict[str, Any], value: Any) -> int:
    """The longest text a description's variable can become: a mapping's longest value, an
    ``Fn::If``'s longer branch."""
    if isinstance(value, str):
        return len(value)
    [(name, args)] = value.items()
    if name == "Fn::FindInMap":
        return max(len(str(entry[args[2]])) for entry in cfn["Mappings"][args[0]].values())
    if name == "Fn::If":
        return max(_longest_variable(cfn, branch) for branch in args[1:])
    return 0  # measured elsewhere (SecretName)


def _longest(spec: dict[str, Any]) -> str:
    if "AllowedValues" in spec:
        return max((str(v) for v in spec["AllowedValues"]), key=len)
    if "MaxLength" in spec:
        return "x" * int(spec["MaxLength"])
    return str(spec.get("MaxValue", spec.get("Default", "")))


@pytest.mark.parametrize("function", ["IngestFunction", "ForwardFunction"])
def test_version_descriptions_fit_lambda_s_256_characters_with_the_longest_values(
    cfn: dict[str, Any], function: str
) -> None:
    text, variables = _version_description(cfn, function)
    # The secret's name: the ARN less its shortest prefix, arn:aws:secretsmanager:aa-b-1:<12>:secret:
    secret_name = int(cfn["Parameters"]["ExistingSecretArn"]["MaxLength"]) - len(
        "arn:aws:secretsmanager:aa-b-1:123456789012:secret:"
    )
    values = {name: _longest(spec) for name, spec in cfn["Parameters"].items()} | {
        "SecretName": "x" * secret_name
    }
    # One letter per choice (the Short mapping), a letter for being behind CloudFront.
    values |= {name: "x" * _longest_variable(cfn, value) for name, value in variables.items()}
    values["SecretName"] = "x" * secret_name
    longest = text
    for name, value in values.items():
        longest = longest.replace(f"${{{name}}}", value)
    assert "${" not in longest
    assert len(longest) <= 256, longest


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
        ("sqs:SendMessage", "ArchiveQueue"),
        ("secretsmanager:GetSecretValue", "the secret"),
    },
    "ArchiveFunctionRole": {
        ("logs:CreateLogStream", "ArchiveLogGroup"),
        ("logs:PutLogEvents", "ArchiveLogGroup"),
        ("sqs:ReceiveMessage", "ArchiveQueue"),
        ("sqs:DeleteMessage", "ArchiveQueue"),
        ("sqs:GetQueueAttributes", "ArchiveQueue"),
        ("s3:PutObject", "ArchiveBucket/events/*"),
        ("s3:PutObject", "ArchiveBucket/unreadable/*"),
    },
}
#: The roles that read the secret (and get its key's kms:Decrypt).
SECRET_READERS = ("IngestFunctionRole", "ForwardFunctionRole")
THE_SECRET = {"Fn::If": ["CreateSecret", _ref("EdgeSecret"), _ref("ExistingSecretArn")]}
AN_EXISTING_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:edge/sources-AbC123"
A_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _target(resource: Any) -> str:
    if resource in (THE_SECRET, _ref("EdgeSecret"), _ref("ExistingSecretArn")):
        return "the secret"
    if resource == _ref("SecretKmsKeyArn"):
        return "the key"
    if resource == _ref("ArchiveKmsKeyArn"):
        return "the archive key"
    assert isinstance(resource, dict), resource
    if set(resource) == {"Fn::Sub"}:  # an object prefix of a bucket: "${Bucket.Arn}/prefix/*"
        found = re.fullmatch(r"\$\{(\w+)\.Arn\}(/[a-z]+/\*)", resource["Fn::Sub"])
        assert found, resource
        return found[1] + found[2]
    assert set(resource) == {"Fn::GetAtt"}, resource
    return str(resource["Fn::GetAtt"][0])


def _grants(statements: list[dict[str, Any]]) -> set[tuple[str, str]]:
    grants = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        grants |= {(action, _target(resource)) for action in actions for resource in resources}
    return grants


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_function_may_touch_only_its_own_queues_log_group_and_the_secret(
    cfn: dict[str, Any], role: str
) -> None:
    assert _grants(_statements(resolve(cfn), role)) == ROLES[role]
    # An existing secret under AWS's key: still nothing else.
    assert _grants(_statements(resolve(cfn, ExistingSecretArn=AN_EXISTING_SECRET), role)) == ROLES[role]


@pytest.mark.parametrize("role", SECRET_READERS)
@pytest.mark.parametrize("existing", ["", AN_EXISTING_SECRET])
def test_a_customer_managed_key_may_decrypt_only_the_secret_through_secrets_manager(
    render: Callable[..., dict[str, Any]], role: str, existing: str
) -> None:
    params = {"SecretKmsKeyArn": A_KEY, "ExistingSecretArn": existing}
    cfn = resolve(render(**params), **params)
    statements = _statements(cfn, role)
    assert _grants(statements) == ROLES[role] | {("kms:Decrypt", "the key")}
    [decrypt] = [s for s in statements if s["Action"] == "kms:Decrypt"]
    secret = _ref("ExistingSecretArn") if existing else _ref("EdgeSecret")
    assert decrypt["Condition"] == {
        "StringEquals": {
            "kms:ViaService": {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"},
            "kms:EncryptionContext:SecretARN": secret,
        }
    }
    if not existing:  # the stack's own secret is then encrypted with that key
        assert cfn["Resources"]["EdgeSecret"]["Properties"]["KmsKeyId"] == _ref("SecretKmsKeyArn")
    else:
        assert "EdgeSecret" not in cfn["Resources"]


def test_without_a_key_no_role_mentions_kms(cfn: dict[str, Any]) -> None:
    resolved = resolve(cfn)
    for role in ROLES:
        assert not [s for s in _statements(resolved, role) if "kms" in json.dumps(s)]
    assert "KmsKeyId" not in resolved["Resources"]["EdgeSecret"]["Properties"]


def test_no_policy_names_a_wildcard_resource_or_an_aws_managed_execution_role(cfn: dict[str, Any]) -> None:
    roles = _of_type(cfn, "AWS::IAM::Role")
    # SAM generated only CodeDeploy's role (the ingest deployment group): no AWSLambdaBasicExecutionRole & co.
    assert set(roles) == set(ROLES) | {"CodeDeployServiceRole"}
    codedeploy = roles.pop("CodeDeployServiceRole")
    assert codedeploy["ManagedPolicyArns"] == [
        "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda"
    ]
    assert codedeploy["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": ["codedeploy.amazonaws.com"]
    }
    functions = _of_type(cfn, "AWS::Lambda::Function").values()
    assert {f["Role"]["Fn::GetAtt"][0] for f in functions} == set(ROLES)
    for name in roles:
        resources = [s["Resource"] for s in _statements(resolve(cfn, SecretKmsKeyArn=A_KEY), name)]
        # A wildcard only as the object part of one of the archive bucket's prefixes.
        prefixes = r"\$\{ArchiveBucket\.Arn\}/(events|unreadable)/\*"
        assert not [r for r in _strings(resources) if "*" in r and not re.fullmatch(prefixes, r)]
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


def test_cors_allows_the_configured_origins_and_what_clients_send(cfn: dict[str, Any]) -> None:
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
        "x-event-metadata",  # a custom event's metadata
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


#: The ingest API's routes as (method, path): the table the handler registers.
ROUTE_TABLE = {(route.method, route.path) for route in ROUTES}


def _differences(found: set[tuple[str, str]], where: str) -> str:
    only_table, only_there = sorted(ROUTE_TABLE - found), sorted(found - ROUTE_TABLE)
    return f"in edge.ingest.routes only: {only_table}; {where} only: {only_there}"


def test_the_ingest_functions_api_events_are_exactly_the_route_table() -> None:
    """Every HttpApi event of the ingest function in template.yaml, as the local gateway reads them."""
    events = {(route.method, route.path) for route in load_template().routes}
    assert events == ROUTE_TABLE, _differences(events, "the template")


def test_the_api_serves_exactly_the_route_table_and_each_route_invokes_ingest(cfn: dict[str, Any]) -> None:
    paths = cfn["Resources"]["HttpApi"]["Properties"]["Body"]["paths"]
    served = {(method.upper(), path): op for path, ops in paths.items() for method, op in ops.items()}
    assert set(served) == ROUTE_TABLE, _differences(set(served), "the API")
    uris = [op["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"] for op in served.values()]
    assert all("${IngestFunctionAliaslive}" in uri for uri in uris), uris
