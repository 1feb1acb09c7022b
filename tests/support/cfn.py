"""What CloudFormation itself does with a rendered template, for the template tests.

The SAM transform leaves ``Conditions``, ``Fn::If`` and ``Rules`` to CloudFormation. These helpers
evaluate them for given parameter values, so tests can check a deployment with non-default
parameters as CloudFormation would create it: which resources exist, what a policy grants, and
whether the stack's rules let the values through at all.
"""

from __future__ import annotations

from typing import Any

__all__ = ["conditions", "parameter_values", "resolve", "rule_failures"]

_NO_VALUE = {"Ref": "AWS::NoValue"}


def parameter_values(cfn: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    """Every parameter's value as a string, defaults filled in (as CloudFormation hands them on)."""
    values = {name: str(spec.get("Default", "")) for name, spec in cfn["Parameters"].items()}
    return {**values, **overrides}


def _condition(value: Any, params: dict[str, str], conditions: dict[str, Any]) -> Any:  # noqa: PLR0911
    """Evaluate a condition or rule function; ``Ref`` to a parameter becomes its value."""
    if isinstance(value, list):
        return [_condition(item, params, conditions) for item in value]
    if not isinstance(value, dict):
        return value
    [(name, args)] = value.items()
    if name == "Ref":
        return params[args]
    if name == "Condition":
        return _condition(conditions[args], params, conditions)
    args = _condition(args, params, conditions)
    match name:
        case "Fn::Equals":
            return str(args[0]) == str(args[1])
        case "Fn::Not":
            return not args[0]
        case "Fn::And":
            return all(args)
        case "Fn::Or":
            return any(args)
        case "Fn::Contains":
            return str(args[1]) in [str(item) for item in args[0]]
    raise NotImplementedError(name)


def rule_failures(cfn: dict[str, Any], **overrides: str) -> list[str]:
    """The names of the template's rules whose assertions fail for these parameter values."""
    params = parameter_values(cfn, overrides)
    failed = []
    for name, rule in cfn.get("Rules", {}).items():
        applies = _condition(rule.get("RuleCondition", True), params, {})
        if applies and not all(_condition(a["Assert"], params, {}) for a in rule["Assertions"]):
            failed.append(name)
    return failed


def conditions(cfn: dict[str, Any], **overrides: str) -> dict[str, bool]:
    """Each of the template's conditions, true or false for these parameter values."""
    params = parameter_values(cfn, overrides)
    expressions = cfn.get("Conditions", {})
    return {name: bool(_condition(expr, params, expressions)) for name, expr in expressions.items()}


def resolve(cfn: dict[str, Any], **overrides: str) -> dict[str, Any]:
    """The template with its conditions applied: resources whose condition is false removed,
    every ``Fn::If`` replaced by its branch, ``AWS::NoValue`` dropped. Parameter ``Ref``s stay."""
    truth = conditions(cfn, **overrides)

    def walk(value: Any) -> Any:
        if isinstance(value, list):
            return [walk(item) for item in value if walk(item) != _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Fn::If"}:
            name, when_true, when_false = value["Fn::If"]
            return walk(when_true if truth[name] else when_false)
        return {key: walk(item) for key, item in value.items() if walk(item) != _NO_VALUE}

    resources = {
        name: walk(resource)
        for name, resource in cfn["Resources"].items()
        if truth.get(resource.get("Condition", ""), True)
    }
    return {**cfn, "Resources": resources}
