"""``scripts/check_template.py``: what CloudFormation would refuse, found before a deploy does.

The check renders the SAM-transformed template (which ``template.yaml`` alone does not show: the
aliases, versions and deployment groups exist only after the transform) and looks for what
CloudFormation refuses. These tests plant such faults in a copy of the template and expect the
check to name them, and hold its parameter sets to covering every condition both ways.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from support.cfn import conditions, cycles, dependencies

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "scripts" / "check_template.py"
Check = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def check(sam_python: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``check(*arguments)``: run the check with the SAM tools' interpreter."""

    def _check(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own script
            [sam_python, CHECK, *args], cwd=ROOT, capture_output=True, text=True, check=False
        )

    return _check


def _planted(tmp_path: Path, old: str, new: str) -> Path:
    text = (ROOT / "template.yaml").read_text()
    assert text.count(old) == 1, old
    planted = tmp_path / "template.yaml"
    planted.write_text(text.replace(old, new))
    for linked in ("functions", "layers"):  # the transform hashes the code it packages
        (tmp_path / linked).symlink_to(ROOT / linked)
    return planted


def test_a_rollback_alarm_on_the_api_is_the_cycle_cloudformation_refuses(
    check: Check, tmp_path: Path
) -> None:
    """The alias's UpdatePolicy names the deployment group, whose alarms would name the API,
    whose integrations name the alias."""
    planted = _planted(
        tmp_path,
        "Alarms: [!Ref IngestErrorsAlarm, !Ref IngestUnavailableRateAlarm]",
        "Alarms: [!Ref IngestErrorsAlarm, !Ref Api5xxRateAlarm]",
    )
    result = check(f"--template={planted}", "--only=defaults")
    assert result.returncode == 1
    assert (
        "dependency cycle: Api5xxRateAlarm -> HttpApi -> IngestFunctionAliaslive -> "
        "IngestFunctionDeploymentGroup -> Api5xxRateAlarm"
    ) in result.stdout
    assert "E3004" in result.stdout  # cfn-lint on the transformed template agrees


def test_a_cycle_only_one_parameter_set_has_is_found_in_that_set(check: Check, tmp_path: Path) -> None:
    """A DependsOn that closes a cycle only when the delivery log exists."""
    planted = _planted(
        tmp_path,
        "  DeliveredTable:\n    Type: AWS::DynamoDB::Table\n    Condition: DedupeEnabled\n",
        "  DeliveredTable:\n    Type: AWS::DynamoDB::Table\n    Condition: DedupeEnabled\n"
        "    DependsOn: ForwardFunctionRole\n",
    )
    with_log = check(f"--template={planted}", "--only=delivery log")
    assert with_log.returncode == 1
    assert "dependency cycle: DeliveredTable -> ForwardFunctionRole -> DeliveredTable" in with_log.stdout
    # Without the log the table does not exist, and neither does the cycle (cfn-lint, which
    # ignores conditions here, still names it).
    without = check(f"--template={planted}", "--only=defaults")
    assert "dependency cycle" not in without.stdout


def _parameter_sets(check: Check) -> dict[str, dict[str, str]]:
    listed = check("--list")
    assert listed.returncode == 0, listed.stderr
    sets: dict[str, dict[str, str]] = json.loads(listed.stdout)
    return sets


def test_the_parameter_sets_flip_every_condition_both_ways(check: Check, cfn: dict[str, Any]) -> None:
    seen: dict[str, set[bool]] = {}
    for values in _parameter_sets(check).values():
        for name, truth in conditions(cfn, **values).items():
            seen.setdefault(name, set()).add(truth)
    assert set(seen) == set(cfn["Conditions"])
    assert {name for name, truths in seen.items() if truths != {True, False}} == set()


def test_the_parameter_sets_try_every_deployment_family_and_log_level(
    check: Check, cfn: dict[str, Any]
) -> None:
    sets = list(_parameter_sets(check).values())
    strategies = {values.get("DeploymentStrategy", "Canary10Percent5Minutes") for values in sets}
    assert {strategy.rstrip("0123456789").split("10Percent")[0] for strategy in strategies} == {
        "Canary",
        "Linear",
        "AllAtOnce",
    }
    levels = {values.get("LogLevel", "INFO") for values in sets}
    assert levels == set(cfn["Parameters"]["LogLevel"]["AllowedValues"])


@pytest.mark.parametrize(
    ("resources", "cycle"),
    [
        # A resource reached through Fn::Sub, GetAtt's dotted form, UpdatePolicy and DependsOn.
        (
            {
                "A": {"Properties": {"X": {"Fn::Sub": "${B.Arn}/${!Literal}/${AWS::Region}"}}},
                "B": {"UpdatePolicy": {"P": {"Ref": "C"}}},
                "C": {"DependsOn": ["A"]},
            },
            [["A", "B", "C"]],
        ),
        # A Sub variable named like a resource is the variable, not the resource.
        (
            {
                "A": {"Properties": {"X": {"Fn::Sub": ["${B}", {"B": "text"}]}}},
                "B": {"Properties": {"Y": {"Fn::GetAtt": "A.Arn"}}},
            },
            [],
        ),
        ({"A": {"CreationPolicy": {"Signal": {"Ref": "A"}}}}, [["A"]]),
        ({"A": {"Properties": {"X": {"Ref": "Param"}}}, "B": {"DependsOn": "A"}}, []),
    ],
)
def test_cycles_follow_every_reference_cloudformation_orders_by(
    resources: dict[str, Any], cycle: list[list[str]]
) -> None:
    assert cycles(dependencies({"Resources": resources})) == cycle
