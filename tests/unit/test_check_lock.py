"""make validate's lock check: drift between requirements.txt, the lock and the built layer fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.check_lock import drift, installed, locked, main

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = "# direct\nboto3==1.44.5\nurllib3==2.8.0\n"
LOCK = """\
boto3==1.44.5 \\
    --hash=sha256:aa \\
    --hash=sha256:bb
    # via -r requirements.txt
botocore==1.44.8 \\
    --hash=sha256:cc
    # via
    #   boto3
urllib3==2.8.0 \\
    --hash=sha256:dd
    # via
    #   -r requirements.txt
    #   botocore
"""
LAYER = {"boto3": "1.44.5", "botocore": "1.44.8", "urllib3": "2.8.0"}


def test_a_lock_that_matches_and_a_layer_that_matches_pass():
    assert drift(REQUIREMENTS, LOCK, LAYER) == []
    assert locked(LOCK)["urllib3"] == ("2.8.0", 1, True)
    assert locked(LOCK)["botocore"] == ("1.44.8", 1, False)


@pytest.mark.parametrize(
    ("requirements", "lock", "layer", "problem"),
    [
        (REQUIREMENTS.replace("2.8.0", "2.9.0"), LOCK, LAYER, "requirements.txt pins urllib3==2.9.0"),
        (REQUIREMENTS + "pydantic==2.14.3\n", LOCK, LAYER, "pydantic==2.14.3 is in requirements.txt but not"),
        (REQUIREMENTS.replace("urllib3==2.8.0\n", ""), LOCK, LAYER, "which requirements.txt dropped"),
        (
            REQUIREMENTS,
            LOCK.replace("    --hash=sha256:cc\n", ""),
            LAYER,
            "botocore==1.44.8 is locked without",
        ),
        (
            REQUIREMENTS,
            LOCK,
            {**LAYER, "botocore": "1.44.9"},
            "the layer holds botocore==1.44.9, the lock says",
        ),
        (REQUIREMENTS, LOCK, {**LAYER, "six": "1.17.0"}, "the layer holds six==1.17.0, which the lock"),
        (REQUIREMENTS, LOCK, {"boto3": "1.44.5", "urllib3": "2.8.0"}, "the layer lacks botocore==1.44.8"),
    ],
)
def test_drift_is_named(requirements, lock, layer, problem):
    problems = drift(requirements, lock, layer)
    assert len(problems) == 1
    assert problem in problems[0]


def test_the_layer_is_read_from_dist_info_metadata(tmp_path):
    info = tmp_path / "typing_extensions-4.16.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: typing_extensions\nVersion: 4.16.0\n")
    assert installed(tmp_path) == {"typing-extensions": "4.16.0"}


def test_the_repository_s_lock_matches_its_requirements():
    edge = ROOT / "layers" / "edge"
    assert main([str(edge / "requirements.txt"), str(edge / "requirements.lock")]) == 0
    # Transitive packages are locked too, each with hashes.
    entries = locked((edge / "requirements.lock").read_text())
    assert {"botocore", "pydantic-core", "s3transfer", "typing-extensions"} <= entries.keys()
    assert all(hashes > 0 for _, hashes, _ in entries.values())
