"""CloudFormation as deployed: a rendered template with its conditions applied for some parameters."""

from __future__ import annotations

from typing import Any


def conditions(cfn: dict[str, Any], **parameters: str) -> dict[str, bool]:
    """The template's conditions with ``parameters`` over the defaults."""
    values = {name: str(spec.get("Default", "")) for name, spec in cfn.get("Parameters", {}).items()}
    values.update(parameters)
    conditions: dict[str, bool] = {}

    def value(node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Ref"} and node["Ref"] in values:
            return values[node["Ref"]]
        return node

    def holds(node: Any) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            [(function, args)] = node.items()
            if function == "Condition":
                return holds(cfn["Conditions"][args])
            if function == "Fn::Equals":
                return str(value(args[0])) == str(value(args[1]))
            if function == "Fn::Not":
                return not holds(args[0])
            if function == "Fn::And":
                return all(holds(a) for a in args)
            if function == "Fn::Or":
                return any(holds(a) for a in args)
        raise ValueError(f"not a condition: {node!r}")

    for name, condition in cfn.get("Conditions", {}).items():
        conditions[name] = holds(condition)
    return conditions


def resolved(cfn: dict[str, Any], **parameters: str) -> dict[str, Any]:
    """``cfn`` as CloudFormation would deploy it with ``parameters`` over the defaults: resources
    whose condition is false dropped, ``Fn::If`` chosen, ``AWS::NoValue`` gone."""
    holding = conditions(cfn, **parameters)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                name, yes, no = node["Fn::If"]
                return walk(yes if holding[name] else no)
            out = {k: walk(v) for k, v in node.items()}
            return {k: v for k, v in out.items() if v != {"Ref": "AWS::NoValue"}}
        if isinstance(node, list):
            return [walk(item) for item in node if walk(item) != {"Ref": "AWS::NoValue"}]
        return node

    resources = {
        name: resource
        for name, resource in cfn["Resources"].items()
        if "Condition" not in resource or holding[resource["Condition"]]
    }
    result: dict[str, Any] = walk({**cfn, "Resources": resources})
    return result
