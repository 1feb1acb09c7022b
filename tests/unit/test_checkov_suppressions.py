"""Every checkov check template.yaml skips (``make scan``) is skipped on its resource, with a reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class _Loader(yaml.SafeLoader):
    """Reads the template's structure; CloudFormation's short-form tags (!Ref, !Sub, …) become None."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _skips() -> list[tuple[str, dict[str, Any]]]:
    resources = yaml.load(TEMPLATE.read_text(), Loader=_Loader)["Resources"]  # noqa: S506 - a SafeLoader
    return [
        (name, skip)
        for name, resource in resources.items()
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip", [])
    ]


def test_every_checkov_suppression_names_a_check_and_gives_a_reason():
    skips = _skips()
    assert skips, "no suppressions found: has the Metadata moved?"
    for name, skip in skips:
        assert str(skip.get("id", "")).startswith("CKV_"), (name, skip)
        assert len(str(skip.get("comment", "")).split()) >= 8, (
            f"{name} skips {skip.get('id')} without a reason"
        )


def test_no_check_is_suppressed_twice_on_a_resource():
    seen = [(name, skip["id"]) for name, skip in _skips()]
    assert len(seen) == len(set(seen))
