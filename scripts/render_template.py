"""Render ``template.yaml`` to the CloudFormation JSON that the AWS::Serverless transform makes of it.

It runs in the SAM tools environment (``make sam-tools`` → ``.venv-sam``), not in ``.venv``:
aws-sam-translator pins pydantic below the runtime's version. The template tests call it.

    .venv-sam/bin/python scripts/render_template.py OUT.json [--param Name=Value ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# The transform fills in AWS::Region and AWS::Partition from the environment, as CloudFormation would.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from samtranslator.model.exceptions import InvalidDocumentException  # noqa: E402
from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402


class _NoManagedPolicies:
    """The template names no managed policy by name, so nothing needs looking up in IAM."""

    def load(self) -> dict[str, str]:
        return {}


_CODE_PROPERTIES = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}


def _packaged(template: dict[str, Any], root: Path) -> dict[str, Any]:
    """What ``sam package`` does to local code paths: an S3 URI whose key changes with the content."""
    for resource in template.get("Resources", {}).values():
        prop = _CODE_PROPERTIES.get(resource.get("Type"))
        uri = resource.get("Properties", {}).get(prop) if prop else None
        if isinstance(uri, str) and not uri.startswith("s3://"):
            digest = hashlib.sha256()
            for path in sorted((root / uri).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
            resource["Properties"][prop] = f"s3://rendered-artifacts/{digest.hexdigest()}"
    return template


def _parameter_values(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, Any]:
    """Every parameter's value as CloudFormation hands it to the transform: defaults filled in,
    a CommaDelimitedList as a list."""
    values: dict[str, Any] = {}
    for name, spec in template.get("Parameters", {}).items():
        value = overrides.get(name, spec.get("Default"))
        if value is None:
            continue
        value = str(value)
        values[name] = (
            [item.strip() for item in value.split(",")] if spec["Type"] == "CommaDelimitedList" else value
        )
    return values


def render(template: Path, overrides: dict[str, str]) -> dict[str, Any]:
    """The transformed template: SAM resources replaced by the CloudFormation resources they make."""
    packaged = _packaged(yaml_parse(template.read_text()), template.parent)
    parameters = _parameter_values(packaged, overrides)
    return transform(packaged, parameters, _NoManagedPolicies())  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="where to write the CloudFormation JSON (- for stdout)")
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    parameters = dict(p.split("=", 1) for p in args.param)
    try:
        rendered = render(args.template, parameters)
    except InvalidDocumentException as exc:
        for cause in exc.causes:
            print(f"{args.template}: {cause.message}", file=sys.stderr)
        return 1
    text = json.dumps(rendered, indent=1, sort_keys=True)
    if str(args.out) == "-":
        print(text)
    else:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
