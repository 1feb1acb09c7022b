"""Two stacks in one account and Region: each stack's alarms and dashboard read only its own metrics.

The rendered template is evaluated as CloudFormation would for two stack names: a ``Ref`` or
``Fn::GetAtt`` to a resource becomes that stack's own physical resource, ``AWS::StackName`` its
name. A metric read by an alarm of one stack that the other stack's alarms read too would be a
metric both stacks write (one stack's traffic masking, or paging for, the other's).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from edge.core.observability import NAMESPACE, MetricName
from support.cfn import resolve

Metric = tuple[str, str, frozenset[tuple[str, str]]]
_SUB = re.compile(r"\$\{([^}]+)\}")


def _evaluate(value: Any, stack: str, parameters: dict[str, Any]) -> Any:  # noqa: PLR0911
    """A value of the template as it is in ``stack``: resources are ``<stack>:<logical id>``."""
    if isinstance(value, list):
        return [_evaluate(item, stack, parameters) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        name = value["Ref"]
        if name == "AWS::StackName":
            return stack
        return parameters[name]["Default"] if name in parameters else f"{stack}:{name}"
    if set(value) == {"Fn::GetAtt"}:
        target, attribute = value["Fn::GetAtt"]
        return f"{stack}:{target}.{attribute}"
    if set(value) == {"Fn::Sub"}:
        text, local = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in local:
                return str(_evaluate(local[name], stack, parameters))
            if "." in name:
                return _evaluate({"Fn::GetAtt": name.split(".", 1)}, stack, parameters)  # type: ignore[no-any-return]
            return str(_evaluate({"Ref": name}, stack, parameters))

        return _SUB.sub(one, text)
    return {key: _evaluate(item, stack, parameters) for key, item in value.items()}


def _alarm_metrics(cfn: dict[str, Any], stack: str, **overrides: str) -> dict[str, set[Metric]]:
    """Each alarm of the stack and the metrics it reads."""
    resources = resolve(cfn, **overrides)["Resources"]
    read: dict[str, set[Metric]] = {}
    for name, resource in resources.items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        alarm = _evaluate(resource["Properties"], stack, cfn["Parameters"])
        metrics = [
            query["MetricStat"]["Metric"] for query in alarm.get("Metrics", []) if "MetricStat" in query
        ]
        metrics += [alarm] if "MetricName" in alarm else []
        read[name] = {
            (
                m["Namespace"],
                m["MetricName"],
                frozenset((d["Name"], d["Value"]) for d in m.get("Dimensions", [])),
            )
            for m in metrics
        }
    return read


@pytest.mark.parametrize("options", [{}, {"DedupeWindowHours": "24"}])
def test_no_alarm_of_one_stack_reads_a_metric_of_the_other(
    cfn: dict[str, Any], options: dict[str, str]
) -> None:
    production = _alarm_metrics(cfn, "edge-production", **options)
    staging = _alarm_metrics(cfn, "edge-staging", **options)
    assert set(production) == set(staging)
    for alarm, metrics in production.items():
        assert metrics, alarm
        shared = metrics & set().union(*staging.values())
        assert not shared, f"{alarm} reads the other stack's {shared}"


def test_the_stacks_metrics_are_under_their_own_namespace(cfn: dict[str, Any]) -> None:
    for stack in ("edge-production", "edge-staging"):
        custom = {
            metric
            for metrics in _alarm_metrics(cfn, stack, DedupeWindowHours="24").values()
            for metric in metrics
            if not metric[0].startswith("AWS/")
        }
        assert custom
        assert {namespace for namespace, _, _ in custom} == {f"{NAMESPACE}/{stack}"}
        # What the alarms read is what the functions write: documented names, the service dimension.
        names = {value for key, value in vars(MetricName).items() if key.isupper()}
        assert {name for _, name, _ in custom} <= names
        assert {dimensions for _, _, dimensions in custom} <= {
            frozenset({("service", "edge-ingest")}),
            frozenset({("service", "edge-forward")}),
            frozenset({("service", "edge-archive")}),
        }


def test_the_functions_write_to_their_stack_s_namespace(cfn: dict[str, Any]) -> None:
    for function in ("IngestFunction", "ForwardFunction", "ArchiveFunction"):
        variables = cfn["Resources"][function]["Properties"]["Environment"]["Variables"]
        for stack in ("edge-production", "edge-staging"):
            namespace = _evaluate(variables["POWERTOOLS_METRICS_NAMESPACE"], stack, cfn["Parameters"])
            assert namespace == f"{NAMESPACE}/{stack}"


def _dashboard_lines(cfn: dict[str, Any], stack: str) -> list[list[Any]]:
    """The dashboard's metric lines in ``stack``, CloudWatch's shorthand (``.``: as the line above,
    ``...``: the rest as the line above) spelled out."""
    body = _evaluate(
        resolve(cfn)["Resources"]["Dashboard"]["Properties"]["DashboardBody"], stack, cfn["Parameters"]
    )
    lines: list[list[Any]] = []
    for widget in json.loads(body)["widgets"]:
        above: list[Any] = []
        for written in widget.get("properties", {}).get("metrics", []):
            line = list(written)
            if "..." in line:
                at = line.index("...")
                after = [part for part in line[at + 1 :] if not isinstance(part, dict)]
                line[at : at + 1] = above[at : len(above) - len(after)]
            line = [above[i] if part == "." else part for i, part in enumerate(line)]
            lines.append(line)
            above = [part for part in line if not isinstance(part, dict)]
    return lines


def test_the_dashboard_of_one_stack_shows_none_of_the_other_s_metrics(cfn: dict[str, Any]) -> None:
    for stack in ("edge-production", "edge-staging"):
        lines = _dashboard_lines(cfn, stack)
        assert lines
        for line in lines:
            names = [part for part in line if isinstance(part, str)]
            expressions = [
                part["expression"] for part in line if isinstance(part, dict) and "expression" in part
            ]
            for expression in expressions:  # SEARCH: within the stack's namespace
                assert f'{{"{NAMESPACE}/{stack}",' in expression
            if names and names[0].startswith("AWS/"):  # a metric of one of the stack's own resources
                assert any(value.startswith(f"{stack}:") for value in names[3::2]), line
            elif names:
                assert names[0] == f"{NAMESPACE}/{stack}", line
