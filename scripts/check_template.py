"""Check the template as CloudFormation receives it, for every parameter set that changes it.

``template.yaml`` is not what CloudFormation checks: it receives SAM's *transformed* template,
with the aliases, versions, CodeDeploy groups and permissions SAM adds, and the conditions still
to evaluate. A dependency cycle among those resources (an ``UpdatePolicy`` or ``DependsOn``
included) is a stack that is never created, and linting ``template.yaml`` cannot see it. For each
parameter set below this renders the transformed template (``render_template.py``), then:

1. the template's ``Rules`` accept the values (else the set itself is wrong);
2. ``cfn-lint`` finds no error in it, given those values;
3. with the conditions evaluated as CloudFormation would, no resource depends on itself through
   ``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``DependsOn``, ``UpdatePolicy`` or ``CreationPolicy``.

It runs in the SAM tools' environment (``.venv-sam``: the translator and cfn-lint), from
``make validate``:

    .venv-sam/bin/python scripts/check_template.py [--template PATH] [--only NAME] [--keep DIR] [--list]

Exit 1 with each problem named, per parameter set, when anything fails.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from cfn_model import PSEUDO_PARAMETERS, cycles, dependencies, parameter_values, resolve, rule_failures
from render_template import ROOT, InvalidDocumentException, render

_ACCOUNT = "123456789012"
_ID = "0f1e2d3c-aaaa-bbbb-cccc-00000000000"
_REGION = "us-east-1"  # render_template.py renders for it; the certificates below live there too

# Every set of parameters that changes what the transform makes or flips a condition. A set
# names only what differs from the defaults; each must pass the template's own Rules.
_FRONT_DOOR = {
    "FirstPartyDomainName": "www.example.com",
    "FirstPartyCertificateArn": f"arn:aws:acm:us-east-1:{_ACCOUNT}:certificate/{_ID}1",
    "PathPrefix": "/mr",
    "WebAclArn": f"arn:aws:wafv2:us-east-1:{_ACCOUNT}:global/webacl/edge/{_ID}2",
    "CookieDomain": "example.com",
    "RequireCloudFront": "true",
}
_API_DOMAIN = {
    "ApiDomainName": "collect.example.com",
    "ApiCertificateArn": f"arn:aws:acm:{_REGION}:{_ACCOUNT}:certificate/{_ID}3",
    "HostedZoneId": "Z0123456789ABCDEFGHIJ",
    "DisableExecuteApiEndpoint": "true",
}
_EXISTING_SECRET = {
    "ExistingSecretArn": f"arn:aws:secretsmanager:{_REGION}:{_ACCOUNT}:secret:metarouter/edge-AbC123",
    "SecretKmsKeyArn": f"arn:aws:kms:{_REGION}:{_ACCOUNT}:key/{_ID}4",
}
PARAMETER_SETS: dict[str, dict[str, str]] = {
    "defaults": {},
    "front door: prefix, web ACL, cookie, CloudFront required": _FRONT_DOOR,
    "prefix alone: pieces for your own distribution": {"PathPrefix": "/mr", "RequireCloudFront": "true"},
    "API custom domain with records, execute-api off": _API_DOMAIN,
    "front door onto the API's custom domain": _FRONT_DOOR | _API_DOMAIN,
    "existing secret under a customer-managed key": _EXISTING_SECRET,
    "delivery log": {"DedupeWindowHours": "24"},
    "archive under a customer-managed key": {
        "ArchiveKmsKeyArn": f"arn:aws:kms:{_REGION}:{_ACCOUNT}:key/{_ID}5"
    },
    "archive off": {"ArchiveRetentionDays": "0"},
    "linear deployment": {"DeploymentStrategy": "Linear10PercentEvery1Minute"},
    "all-at-once deployment": {"DeploymentStrategy": "AllAtOnce"},
    "tracing": {"Tracing": "Active"},
    "alarm e-mail": {"AlarmEmail": "ops@example.com"},
    "SnapStart off": {"SnapStart": "off"},
    "SnapStart auto where Lambda offers none (Asia Pacific (Taipei))": {"AWS::Region": "ap-east-2"},
    "LogLevel DEBUG": {"LogLevel": "DEBUG"},
    "LogLevel WARNING": {"LogLevel": "WARNING"},
    "LogLevel ERROR": {"LogLevel": "ERROR"},
    "tracking plan, blocking": {"TrackingPlan": "example", "TrackingPlanMode": "block"},
    "every option at once": _FRONT_DOOR
    | _API_DOMAIN
    | _EXISTING_SECRET
    | {
        "DedupeWindowHours": "24",
        "ArchiveRetentionDays": "3650",
        "ArchiveKmsKeyArn": f"arn:aws:kms:{_REGION}:{_ACCOUNT}:key/{_ID}5",
        "DeploymentStrategy": "Linear10PercentEvery1Minute",
        "Tracing": "Active",
        "AlarmEmail": "ops@example.com",
        "LogLevel": "ERROR",
        "SnapStart": "off",
        "IpPolicy": "anonymize",
        "RequiredConsentCategories": "C0002",
        "ConsentCookie": "onetrust",
        "GpcOptOutCategories": "C0004,C0005",
        "TrackingPlan": "example",
        "TrackingPlanMode": "flag",
    },
}


def _lint_errors(rendered: dict[str, Any], values: dict[str, Any], region: str, name: str) -> list[str]:
    """cfn-lint's errors (not its warnings) on the transformed template, given the values."""
    from cfnlint.api import ManualArgs, lint
    from cfnlint.context.parameters import ParameterSet

    config = ManualArgs(regions=[region], parameters=[ParameterSet(source=name, parameters=values)])
    matches = lint(json.dumps(rendered, indent=1), config=config)
    return [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches if m.rule.id.startswith("E")]


def problems(template: Path, overrides: dict[str, str], name: str) -> tuple[list[str], dict[str, Any]]:
    """What CloudFormation would refuse in the template with these values (parameters, and
    pseudo parameters such as ``AWS::Region``)."""
    pseudo = {key: value for key, value in overrides.items() if key in PSEUDO_PARAMETERS}
    given = {key: value for key, value in overrides.items() if key not in pseudo}
    try:
        rendered = render(template, given)
    except InvalidDocumentException as exc:
        return [f"the SAM transform refuses it: {cause.message}" for cause in exc.causes], {}
    specs = rendered.get("Parameters", {})
    unknown = sorted(set(given) - set(specs))
    if unknown:
        return [f"no such parameter: {', '.join(unknown)}"], rendered
    found = [f"the template's rule {rule} refuses these values" for rule in rule_failures(rendered, **given)]
    values: dict[str, Any] = {
        key: value.split(",") if specs[key]["Type"] == "CommaDelimitedList" else value
        for key, value in parameter_values(rendered, given).items()
        if key in given or specs.get(key, {}).get("Default") is not None
    }
    region = pseudo.get("AWS::Region", PSEUDO_PARAMETERS["AWS::Region"])
    found += [f"cfn-lint: {error}" for error in _lint_errors(rendered, values, region, name)]
    found += [
        "dependency cycle: " + " -> ".join([*cycle, cycle[0]])
        for cycle in cycles(dependencies(resolve(rendered, **overrides)))
    ]
    return found, rendered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--only", action="append", metavar="NAME", help="check only this parameter set")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="write each transformed template here")
    parser.add_argument("--list", action="store_true", help="print the parameter sets (JSON) and stop")
    args = parser.parse_args(argv)
    if args.list:
        print(json.dumps(PARAMETER_SETS, indent=1))
        return 0
    logging.getLogger("samtranslator").setLevel(logging.ERROR)  # its feature-toggle and metrics chatter
    sets = {name: PARAMETER_SETS[name] for name in args.only} if args.only else PARAMETER_SETS
    failed = 0
    for number, (name, overrides) in enumerate(sets.items()):
        found, rendered = problems(args.template, overrides, name)
        if args.keep and rendered:
            args.keep.mkdir(parents=True, exist_ok=True)
            (args.keep / f"{number:02d}.json").write_text(json.dumps(rendered, indent=1, sort_keys=True))
        status = "ok" if not found else f"{len(found)} problem(s)"
        print(f"{status:>14}  {name}")
        for problem in found:
            print(f"{'':16}{problem}")
        failed += bool(found)
    if failed:
        refused = f"CloudFormation would refuse {failed} of {len(sets)} parameter sets"
        print(f"{args.template}: {refused}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
