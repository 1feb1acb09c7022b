"""First-party collection in the template: nothing with every parameter empty; with each set, a
custom domain, a CloudFront front door, the origin-verify secret, the path-prefix function (run
in node) and the cookie settings reach the ingest function."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from edge.core.config import COOKIE_DOMAIN_PATTERN
from edge_local.gateway import strip_prefix
from support.cfn import resolve, rule_failures

FIRST_PARTY_RESOURCES = {
    "ApiDomain",
    "ApiDomainMapping",
    "ApiDomainRecord",
    "OriginVerifySecret",
    "PathPrefixFunction",
    "FirstPartyDistribution",
}
_CERTIFICATE = "arn:aws:acm:{}:123456789012:certificate/{}"
ALL = {
    "ApiDomainName": "collect.example.com",
    "ApiCertificateArn": _CERTIFICATE.format("eu-west-1", "11111111-2222-3333-4444-555555555555"),
    "HostedZoneId": "Z0123456789ABCDEFGHIJ",
    "DisableExecuteApiEndpoint": "true",
    "FirstPartyDomainName": "www.example.com",
    "FirstPartyCertificateArn": _CERTIFICATE.format("us-east-1", "66666666-7777-8888-9999-000000000000"),
    "PathPrefix": "/mr",
    "WebAclArn": (
        "arn:aws:wafv2:us-east-1:123456789012:global/webacl/edge-rate/0123abcd-0123-4567-89ab-0123456789ab"
    ),
    "RequireCloudFront": "true",
    "CookieDomain": "example.com",
    "CookieMaxAgeSeconds": "86400",
}
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


@pytest.fixture(scope="module")
def every_one_set(render: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return render(**ALL)


def _ingest_env(cfn: dict[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = cfn["Resources"]["IngestFunction"]["Properties"]["Environment"]["Variables"]
    return variables


def _execute_api_disabled(cfn: dict[str, Any]) -> Any:
    [server] = cfn["Resources"]["HttpApi"]["Properties"]["Body"]["servers"]
    return server["x-amazon-apigateway-endpoint-configuration"]["disableExecuteApiEndpoint"]


def test_with_every_parameter_empty_nothing_first_party_is_created(cfn: dict[str, Any]) -> None:
    resolved = resolve(cfn)
    assert not FIRST_PARTY_RESOURCES & set(resolved["Resources"])
    assert _execute_api_disabled(resolved) is False
    env = _ingest_env(resolved)
    assert env["ORIGIN_VERIFY_SECRET_ID"] == ""  # read as "not behind CloudFront"
    assert env["COOKIE_DOMAIN"] == {"Ref": "CookieDomain"}
    assert cfn["Parameters"]["CookieDomain"]["Default"] == ""
    assert cfn["Parameters"]["RequireCloudFront"]["Default"] == "false"
    assert rule_failures(cfn) == []


def test_with_every_parameter_set_every_piece_exists(every_one_set: dict[str, Any]) -> None:
    resolved = resolve(every_one_set, **ALL)
    assert set(resolved["Resources"]) >= FIRST_PARTY_RESOURCES
    assert _execute_api_disabled(resolved) is True
    assert rule_failures(every_one_set, **ALL) == []
    env = _ingest_env(resolved)
    assert env["ORIGIN_VERIFY_SECRET_ID"] == {"Ref": "OriginVerifySecret"}
    assert env["REQUIRE_ORIGIN_VERIFY"] == {"Ref": "RequireCloudFront"}
    assert env["COOKIE_MAX_AGE_SECONDS"] == {"Ref": "CookieMaxAgeSeconds"}


def test_custom_domain_is_regional_mapped_to_the_default_stage_with_an_alias_record(
    every_one_set: dict[str, Any],
) -> None:
    resources = resolve(every_one_set, **ALL)["Resources"]
    [config] = resources["ApiDomain"]["Properties"]["DomainNameConfigurations"]
    assert config == {
        "CertificateArn": {"Ref": "ApiCertificateArn"},
        "EndpointType": "REGIONAL",
        "SecurityPolicy": "TLS_1_2",
        "IpAddressType": "dualstack",
    }
    mapping = resources["ApiDomainMapping"]
    assert mapping["Properties"] == {
        "DomainName": {"Ref": "ApiDomain"},
        "ApiId": {"Ref": "HttpApi"},
        "Stage": "$default",
    }
    assert mapping["DependsOn"] in ("HttpApiApiGatewayDefaultStage", ["HttpApiApiGatewayDefaultStage"])
    assert "HttpApiApiGatewayDefaultStage" in resources
    # An alias record for IPv4 and one for IPv6 (the domain is dual-stack).
    records = {resources[name]["Properties"]["Type"]: resources[name]["Properties"] for name in resources
               if resources[name]["Type"] == "AWS::Route53::RecordSet"}  # fmt: skip
    assert set(records) == {"A", "AAAA"}
    for record in records.values():
        assert record["Name"] == {"Ref": "ApiDomainName"}
        assert record["AliasTarget"] == {
            "DNSName": {"Fn::GetAtt": ["ApiDomain", "RegionalDomainName"]},
            "HostedZoneId": {"Fn::GetAtt": ["ApiDomain", "RegionalHostedZoneId"]},
        }
    outputs = every_one_set["Outputs"]
    assert outputs["ApiUrl"]["Value"]["Fn::If"][1] == {"Fn::Sub": "https://${ApiDomainName}"}


def test_no_alias_record_without_a_hosted_zone(every_one_set: dict[str, Any]) -> None:
    resources = resolve(every_one_set, **{**ALL, "HostedZoneId": ""})["Resources"]
    assert {"ApiDomain", "ApiDomainMapping"} <= set(resources)
    assert not {"ApiDomainRecord", "ApiDomainRecordIpv6"} & set(resources)


def test_distribution_forwards_to_the_api_uncached_https_only_without_host(
    every_one_set: dict[str, Any],
) -> None:
    resources = resolve(every_one_set, **ALL)["Resources"]
    config = resources["FirstPartyDistribution"]["Properties"]["DistributionConfig"]
    [origin] = config["Origins"]
    assert origin["DomainName"] == {"Ref": "ApiDomainName"}  # execute-api is off here
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    [header] = origin["OriginCustomHeaders"]
    assert header["HeaderName"] == "x-origin-verify"
    # A dynamic reference resolved at deployment, never a literal in the template.
    assert header["HeaderValue"] == {
        "Fn::Sub": "{{resolve:secretsmanager:${OriginVerifySecret}:SecretString}}"
    }
    behaviour = config["DefaultCacheBehavior"]
    assert behaviour["ViewerProtocolPolicy"] == "https-only"
    assert {"POST", "OPTIONS", "GET"} <= set(behaviour["AllowedMethods"])
    assert behaviour["CachePolicyId"] == CACHING_DISABLED
    assert behaviour["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    [association] = behaviour["FunctionAssociations"]
    assert association == {
        "EventType": "viewer-request",
        "FunctionARN": {"Fn::GetAtt": ["PathPrefixFunction", "FunctionARN"]},
    }
    assert config["WebACLId"] == {"Ref": "WebAclArn"}
    assert config["Aliases"] == [{"Ref": "FirstPartyDomainName"}]
    assert config["ViewerCertificate"]["AcmCertificateArn"] == {"Ref": "FirstPartyCertificateArn"}


def test_without_a_custom_domain_the_origin_is_the_execute_api_host(every_one_set: dict[str, Any]) -> None:
    params = {**ALL, "ApiDomainName": "", "ApiCertificateArn": "", "HostedZoneId": "", "WebAclArn": ""}
    params["DisableExecuteApiEndpoint"] = "false"
    resources = resolve(every_one_set, **params)["Resources"]
    config = resources["FirstPartyDistribution"]["Properties"]["DistributionConfig"]
    assert config["Origins"][0]["DomainName"] == {
        "Fn::Sub": "${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    }
    assert "WebACLId" not in config
    assert rule_failures(every_one_set, **params) == []


def test_a_path_prefix_alone_prepares_a_distribution_of_your_own(every_one_set: dict[str, Any]) -> None:
    resources = resolve(every_one_set, PathPrefix="/mr")["Resources"]
    assert {"OriginVerifySecret", "PathPrefixFunction"} <= set(resources)
    assert "FirstPartyDistribution" not in resources
    grants = resources["IngestFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    [read] = [s for s in grants if s.get("Sid") == "ReadTheOriginVerifySecret"]
    assert (read["Action"], read["Resource"]) == (
        "secretsmanager:GetSecretValue",
        {"Ref": "OriginVerifySecret"},
    )
    outputs = every_one_set["Outputs"]
    assert outputs["PathPrefixFunctionArn"]["Condition"] == "HasPathPrefix"
    assert outputs["OriginVerifySecretArn"]["Condition"] == "BehindCloudFront"
    assert outputs["ApiOriginDomain"]["Condition"] == "BehindCloudFront"


def test_origin_verify_secret_is_generated_header_safe(every_one_set: dict[str, Any]) -> None:
    secret = resolve(every_one_set, **ALL)["Resources"]["OriginVerifySecret"]["Properties"]
    assert "SecretString" not in secret
    assert secret["GenerateSecretString"]["ExcludePunctuation"] is True
    assert secret["GenerateSecretString"]["PasswordLength"] >= 32


@pytest.mark.parametrize(
    ("params", "rule"),
    [
        ({"ApiDomainName": "collect.example.com"}, "ApiDomainNeedsItsCertificate"),
        ({"ApiCertificateArn": ALL["ApiCertificateArn"]}, "ApiDomainNeedsItsCertificate"),
        ({"HostedZoneId": "Z0123"}, "HostedZoneNeedsAnApiDomain"),
        ({"DisableExecuteApiEndpoint": "true"}, "OnlyACustomDomainCanReplaceExecuteApi"),
        ({"FirstPartyDomainName": "www.example.com"}, "FrontDoorNeedsItsCertificate"),
        ({"WebAclArn": ALL["WebAclArn"]}, "WebAclNeedsTheFrontDoor"),
        ({"RequireCloudFront": "true"}, "RequiringCloudFrontNeedsCloudFront"),
    ],
)
def test_half_configured_first_party_settings_are_refused_before_anything_is_created(
    cfn: dict[str, Any], params: dict[str, str], rule: str
) -> None:
    assert rule in rule_failures(cfn, **params)


def test_the_template_s_cookie_domain_pattern_is_the_code_s(cfn: dict[str, Any]) -> None:
    assert cfn["Parameters"]["CookieDomain"]["AllowedPattern"] == COOKIE_DOMAIN_PATTERN
    for good in ("", "example.com", "shop.example.co.uk", "localhost"):
        assert re.fullmatch(COOKIE_DOMAIN_PATTERN, good)
    for bad in (".example.com", "Example.com", "example", "example.com/", "exa mple.com"):
        assert not re.fullmatch(COOKIE_DOMAIN_PATTERN, bad)


def test_the_ingest_version_description_changes_with_each_first_party_setting(cfn: dict[str, Any]) -> None:
    [version] = [
        v["Properties"]
        for v in cfn["Resources"].values()
        if v["Type"] == "AWS::Lambda::Version"
        and v["Properties"]["FunctionName"] == {"Ref": "IngestFunction"}
    ]
    text, variables = version["Description"]["Fn::Sub"]

    def described(**params: str) -> str:
        resolved = resolve({**cfn, "Resources": {"V": {"Type": "X", "Properties": variables}}}, **params)
        values = {**{k: str(v.get("Default", "")) for k, v in cfn["Parameters"].items()}, **params}
        out = text
        for name, variable in resolved["Resources"]["V"]["Properties"].items():
            value = variable
            if isinstance(variable, dict) and "Fn::FindInMap" in variable:
                mapping, key, attribute = variable["Fn::FindInMap"]
                value = cfn["Mappings"][mapping][values[key["Ref"]]][attribute]
            out = out.replace(f"${{{name}}}", value if isinstance(value, str) else "?")
        for name, value in values.items():
            out = out.replace(f"${{{name}}}", value)
        return out

    seen = {
        described(),
        described(CookieDomain="example.com"),
        described(CookieDomain="example.org"),
        described(CookieMaxAgeSeconds="86400"),
        described(PathPrefix="/mr"),
        described(PathPrefix="/mr", RequireCloudFront="true"),
    }
    assert len(seen) == 6


# ---------------------------------------------------------------- the CloudFront Function, run


NODE = shutil.which("node")


def _run_function(cfn: dict[str, Any], prefix: str, uris: list[str]) -> list[dict[str, Any]]:
    code = cfn["Resources"]["PathPrefixFunction"]["Properties"]["FunctionCode"]["Fn::Sub"]
    assert code.count("${") == 1
    source = code.replace("${PathPrefix}", prefix)
    events = [
        {
            "version": "1.0",
            "context": {"eventType": "viewer-request"},
            "viewer": {"ip": "198.51.100.23"},
            "request": {
                "method": "POST",
                "uri": uri,
                "querystring": {"writeKey": {"value": "k"}},
                "headers": {"host": {"value": "www.example.com"}},
                "cookies": {},
            },
        }
        for uri in uris
    ]
    # cloudfront-js-2.0 is ES 5.1 plus some newer features; node runs that subset as is.
    harness = source + "\nconsole.log(JSON.stringify(" + json.dumps(events) + ".map(handler)));\n"
    assert NODE is not None
    result = subprocess.run(  # noqa: S603 - node on our own code
        [NODE, "-e", harness], capture_output=True, text=True, check=True, timeout=30
    )
    answers: list[dict[str, Any]] = json.loads(result.stdout)
    return answers


@pytest.mark.skipif(NODE is None, reason="node is not installed")
@pytest.mark.parametrize("prefix", ["/mr", "/a/b.c", "/x-y_z~1"])
def test_path_prefix_function_strips_the_prefix_and_refuses_everything_else(
    every_one_set: dict[str, Any], prefix: str
) -> None:
    inside = [f"{prefix}/v1/t", f"{prefix}/v1/batch", f"{prefix}/v1/pixel/track"]
    outside = [prefix, f"{prefix}x/v1/t", "/v1/t", "/", f"/other{prefix}/v1/t"]
    answers = _run_function(every_one_set, prefix, inside + outside)
    forwarded, refused = answers[: len(inside)], answers[len(inside) :]
    assert [a["uri"] for a in forwarded] == ["/v1/t", "/v1/batch", "/v1/pixel/track"]
    assert all(a["querystring"] == {"writeKey": {"value": "k"}} for a in forwarded)
    assert all(a["headers"] == {"host": {"value": "www.example.com"}} for a in forwarded)
    assert refused == [{"statusCode": 404, "statusDescription": "Not Found"}] * len(outside)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
@pytest.mark.parametrize("prefix", ["/mr", "/c0ffee/edge.v1"])
def test_the_local_gateway_strips_the_prefix_as_the_cloudfront_function_does(
    every_one_set: dict[str, Any], prefix: str
) -> None:
    uris = [
        f"{prefix}/v1/t",
        f"{prefix}/v1/pixel/page",
        prefix,
        f"{prefix}/",
        f"{prefix}x/v1/t",
        "/v1/t",
        "/",
    ]
    answers = _run_function(every_one_set, prefix, uris)
    from_cloudfront = [a.get("uri") for a in answers]  # None: CloudFront's own 404
    assert [strip_prefix(uri, prefix) for uri in uris] == from_cloudfront
