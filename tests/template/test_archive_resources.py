"""The archive's resources as CloudFormation receives them: a private, encrypted, TLS-only bucket
that expires objects after the retention and outlives the stack, written by one role only; and
nothing of it with ArchiveRetentionDays 0."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from support.cfn import conditions, resolve

A_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ARCHIVE = {
    "ArchiveQueue",
    "ArchiveBucket",
    "ArchiveBucketPolicy",
    "ArchiveFunction",
    "ArchiveLogGroup",
    "ArchiveFunctionRole",
    "ArchiveErrorsAlarm",
}


def _bucket(cfn: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = cfn["Resources"]["ArchiveBucket"]["Properties"]
    return properties


def _statements(cfn: dict[str, Any], role: str) -> list[dict[str, Any]]:
    policies = cfn["Resources"][role]["Properties"]["Policies"]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def test_the_archive_is_on_by_default_for_ninety_days(cfn: dict[str, Any]) -> None:
    assert cfn["Parameters"]["ArchiveRetentionDays"]["Default"] == 90
    assert conditions(cfn)["ArchiveEnabled"] is True
    assert set(resolve(cfn)["Resources"]) >= ARCHIVE


def test_the_bucket_is_private_and_owner_enforced(cfn: dict[str, Any]) -> None:
    bucket = _bucket(resolve(cfn))
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def test_the_bucket_is_encrypted_with_s3_keys_or_the_given_kms_key(
    render: Callable[..., dict[str, Any]],
) -> None:
    [default] = _bucket(resolve(render()))["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert default == {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    cfn = resolve(render(ArchiveKmsKeyArn=A_KEY), ArchiveKmsKeyArn=A_KEY)
    [kms] = _bucket(cfn)["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert kms == {
        "ServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": {"Ref": "ArchiveKmsKeyArn"},
        },
        "BucketKeyEnabled": True,
    }
    [encrypt] = [s for s in _statements(cfn, "ArchiveFunctionRole") if s["Action"] == "kms:GenerateDataKey"]
    assert encrypt["Resource"] == {"Ref": "ArchiveKmsKeyArn"}
    assert encrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}
    }
    for role in ("IngestFunctionRole", "ForwardFunctionRole"):  # nobody else uses the archive key
        assert "ArchiveKmsKeyArn" not in str(_statements(cfn, role))


def test_the_bucket_refuses_requests_without_tls_and_writes_by_anyone_but_the_archive_function(
    cfn: dict[str, Any],
) -> None:
    policy = resolve(cfn)["Resources"]["ArchiveBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "ArchiveBucket"}
    tls, writes = policy["PolicyDocument"]["Statement"]
    assert tls == {
        "Sid": "TlsOnly",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [{"Fn::GetAtt": ["ArchiveBucket", "Arn"]}, {"Fn::Sub": "${ArchiveBucket.Arn}/*"}],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    assert (writes["Effect"], writes["Action"]) == ("Deny", "s3:PutObject")
    assert writes["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": ["ArchiveFunctionRole", "Arn"]}}
    }


def test_the_writer_may_only_put_objects_under_the_archive_s_prefixes(cfn: dict[str, Any]) -> None:
    s3 = [s for s in _statements(resolve(cfn), "ArchiveFunctionRole") if "s3" in str(s["Action"])]
    assert s3 == [
        {
            "Sid": "WriteTheArchive",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": [
                {"Fn::Sub": "${ArchiveBucket.Arn}/events/*"},
                {"Fn::Sub": "${ArchiveBucket.Arn}/unreadable/*"},
            ],
        }
    ]
    for role in ("IngestFunctionRole", "ForwardFunctionRole"):
        assert "s3:" not in str(_statements(resolve(cfn), role))


def test_objects_expire_after_the_retention_and_the_bucket_and_queue_outlive_the_stack(
    cfn: dict[str, Any],
) -> None:
    [rule] = _bucket(cfn)["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == {"Ref": "ArchiveRetentionDays"}
    assert "Prefix" not in rule
    assert "Filter" not in rule
    for name in ("ArchiveBucket", "ArchiveQueue"):
        resource = cfn["Resources"][name]
        assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_the_forwarder_hands_confirmed_events_to_the_archive_queue(cfn: dict[str, Any]) -> None:
    resolved = resolve(cfn)
    variables = resolved["Resources"]["ForwardFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["ARCHIVE_QUEUE_URL"] == {"Ref": "ArchiveQueue"}
    archive = resolved["Resources"]["ArchiveFunction"]["Properties"]["Environment"]["Variables"]
    assert archive["ARCHIVE_BUCKET_NAME"] == {"Ref": "ArchiveBucket"}


@pytest.mark.parametrize("days", ["1", "3650"])
def test_any_retention_cloudformation_accepts_is_an_s3_lifecycle_s(cfn: dict[str, Any], days: str) -> None:
    spec = cfn["Parameters"]["ArchiveRetentionDays"]
    assert spec["MinValue"] <= int(days) <= spec["MaxValue"]
    assert conditions(cfn, ArchiveRetentionDays=days)["ArchiveEnabled"] is True


def test_a_retention_of_zero_turns_the_archive_off_entirely(render: Callable[..., dict[str, Any]]) -> None:
    cfn = resolve(render(ArchiveRetentionDays="0"), ArchiveRetentionDays="0")
    assert not ARCHIVE & set(cfn["Resources"])
    forward = cfn["Resources"]["ForwardFunction"]["Properties"]
    assert "ARCHIVE_QUEUE_URL" not in forward["Environment"]["Variables"]
    assert "ArchiveQueue" not in str(_statements(cfn, "ForwardFunctionRole"))
    outputs = {name for name, output in cfn["Outputs"].items() if output.get("Condition") == "ArchiveEnabled"}
    assert outputs == {"ArchiveBucketName", "ArchiveQueueUrl"}
    assert conditions(cfn, ArchiveRetentionDays="0")["ArchiveEnabled"] is False
