"""What CloudFormation itself does with a rendered template, before it creates anything.

The SAM transform leaves ``Conditions``, ``Fn::If`` and ``Rules`` to CloudFormation. These helpers
evaluate them for given parameter values, so a deployment with non-default parameters can be
checked as CloudFormation would create it: which resources exist, what a policy grants, whether
the stack's rules let the values through at all, and in which order the resources can be created
(a dependency cycle is a stack CloudFormation refuses). Pure Python, no dependencies: both
``make validate`` (``scripts/check_template.py``, in the SAM tools' environment) and the template
tests use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

__all__ = [
    "PSEUDO_PARAMETERS",
    "conditions",
    "cycles",
    "dependencies",
    "parameter_values",
    "resolve",
    "rule_failures",
]

_NO_VALUE = {"Ref": "AWS::NoValue"}


#: The pseudo parameters conditions may read, for a stack in us-east-1 (override them like parameters).
PSEUDO_PARAMETERS = {"AWS::Region": "us-east-1", "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}


def parameter_values(cfn: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    """Every parameter's value as a string, defaults filled in (as CloudFormation hands them on),
    and the pseudo parameters'."""
    values = {name: str(spec.get("Default", "")) for name, spec in cfn["Parameters"].items()}
    return {**PSEUDO_PARAMETERS, **values, **overrides}


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


# What CloudFormation orders resources by: every reference in a resource's properties and in the
# attributes it evaluates before creating or updating it (UpdatePolicy names CodeDeploy's
# application and deployment group, CreationPolicy a signal count), and DependsOn.
_ORDERED_PARTS = ("Properties", "UpdatePolicy", "CreationPolicy")
_SUB_NAME = re.compile(r"\$\{([^!}][^}]*)\}")


def _references(value: Any) -> Iterator[str]:
    """The logical ids (or parameter and pseudo-parameter names) an expression refers to."""
    if isinstance(value, list):
        for item in value:
            yield from _references(item)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                yield arg
            elif key == "Fn::GetAtt":
                yield (arg.split(".", 1)[0] if isinstance(arg, str) else arg[0])
            elif key == "Fn::Sub":
                text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                for found in _SUB_NAME.findall(text):
                    name = found.strip().split(".", 1)[0]
                    if name not in local:
                        yield name
                yield from _references(local)
            else:
                yield from _references(arg)


def dependencies(cfn: dict[str, Any]) -> dict[str, set[str]]:
    """Each resource and the resources CloudFormation must create before it."""
    resources = cfn.get("Resources", {})
    graph: dict[str, set[str]] = {}
    for name, resource in resources.items():
        depends_on = resource.get("DependsOn", [])
        named = [depends_on] if isinstance(depends_on, str) else list(depends_on)
        named += [ref for part in _ORDERED_PARTS for ref in _references(resource.get(part, {}))]
        graph[name] = {ref for ref in named if ref in resources}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every dependency cycle, each as the resources on it (a resource depending on itself
    included), sorted: Tarjan's strongly connected components of more than one resource."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for after in sorted(graph.get(node, ())):
            if after not in index:
                visit(after)
                low[node] = min(low[node], low[after])
            elif after in on_stack:
                low[node] = min(low[node], index[after])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)
