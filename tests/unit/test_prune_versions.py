"""make prune-versions: which versions go, and that an aliased one never does."""

from __future__ import annotations

from typing import Any

import pytest

from edge_ops.prune_versions import aliased, prune, stack_functions, unused_versions


class FakeLambda:
    """list_versions_by_function / list_aliases in pages of two, and delete_function."""

    def __init__(self, versions: list[str], aliases: list[dict[str, Any]]) -> None:
        self.versions = ["$LATEST", *versions]
        self.aliases = aliases
        self.deleted: list[str] = []

    @staticmethod
    def _page(items: list[Any], key: str, marker: str | None) -> dict[str, Any]:
        start = int(marker or 0)
        page: dict[str, Any] = {key: items[start : start + 2]}
        if start + 2 < len(items):
            page["NextMarker"] = str(start + 2)
        return page

    def list_versions_by_function(self, FunctionName: str, Marker: str | None = None) -> dict[str, Any]:  # noqa: N803
        return self._page([{"Version": v} for v in self.versions], "Versions", Marker)

    def list_aliases(self, FunctionName: str, Marker: str | None = None) -> dict[str, Any]:  # noqa: N803
        return self._page(self.aliases, "Aliases", Marker)

    def delete_function(self, FunctionName: str, Qualifier: str) -> None:  # noqa: N803
        assert Qualifier != "$LATEST"
        self.deleted.append(Qualifier)


def test_an_alias_in_the_middle_of_a_canary_keeps_both_its_versions():
    aliases = [
        {"Name": "live", "FunctionVersion": "7", "RoutingConfig": {"AdditionalVersionWeights": {"8": 0.1}}}
    ]
    assert aliased(aliases) == {"7", "8"}


@pytest.mark.parametrize(
    ("keep", "expected"),
    [(0, ["1", "2", "3", "10"]), (1, ["1", "2", "3"]), (4, []), (9, [])],
)
def test_unused_versions_are_the_oldest_unaliased_ones(keep, expected):
    # Numeric order: version 10 is newer than 9.
    assert unused_versions(["$LATEST", "1", "2", "3", "10", "11"], {"11"}, keep=keep) == expected


def test_prune_deletes_exactly_the_unused_versions_across_pages():
    client = FakeLambda(["1", "2", "3", "4", "5"], [{"Name": "live", "FunctionVersion": "5"}])
    assert prune(client, "edge-ingest", keep=1, dry_run=False, say=lambda _: None) == ["1", "2", "3"]
    assert client.deleted == ["1", "2", "3"]


def test_a_dry_run_deletes_nothing():
    client = FakeLambda(["1", "2"], [{"Name": "live", "FunctionVersion": "2"}])
    lines: list[str] = []
    assert prune(client, "edge-forward", keep=0, dry_run=True, say=lines.append) == ["1"]
    assert client.deleted == []
    assert "edge-forward" in lines[0]


def test_the_functions_come_from_the_stack_outputs():
    class FakeCloudFormation:
        def describe_stacks(self, StackName: str) -> dict[str, Any]:  # noqa: N803
            outputs = [
                {"OutputKey": "ApiUrl", "OutputValue": "https://x"},
                {"OutputKey": "ForwardFunctionName", "OutputValue": "edge-forward"},
                {"OutputKey": "IngestFunctionName", "OutputValue": "edge-ingest"},
            ]
            return {"Stacks": [{"StackName": StackName, "Outputs": outputs}]}

    assert stack_functions(FakeCloudFormation(), "metarouter-edge") == ["edge-ingest", "edge-forward"]
