"""Delete a stack's published Lambda versions that no alias uses.

SAM publishes a version on every change and keeps the old ones (``DeletionPolicy: Retain``);
each ingest version with SnapStart bills its snapshot cache for as long as it exists. This keeps
every version an alias points at (both versions of an alias in the middle of a CodeDeploy
traffic shift), optionally the newest ``--keep`` unused ones per function as rollback targets,
and deletes the rest.

    python -m edge_ops.prune_versions --stack metarouter-edge [--keep 1] [--dry-run]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["aliased", "prune", "stack_functions", "unused_versions"]

#: The stack outputs that name its functions.
FUNCTION_OUTPUTS = ("IngestFunctionName", "ForwardFunctionName")


def aliased(aliases: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every version an alias routes to: its version, and any weighted second version."""
    used = set()
    for alias in aliases:
        used.add(str(alias["FunctionVersion"]))
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        used.update(str(version) for version in weights)
    return used


def unused_versions(versions: Iterable[str], used: set[str], *, keep: int = 0) -> list[str]:
    """Published versions no alias uses, oldest first, less the newest ``keep`` of them."""
    unused = sorted((v for v in versions if v != "$LATEST" and v not in used), key=int)
    return unused[: max(len(unused) - keep, 0)]


def _pages(call: Callable[..., Any], key: str, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    marker = None
    while True:
        page = call(**kwargs, **({"Marker": marker} if marker else {}))
        items.extend(page.get(key, []))
        marker = page.get("NextMarker")
        if not marker:
            return items


def prune(
    lambda_client: Any, function: str, *, keep: int, dry_run: bool, say: Callable[[str], None] = print
) -> list[str]:
    """Delete (or, dry, list) ``function``'s unused versions; returns them."""
    versions = [
        v["Version"]
        for v in _pages(lambda_client.list_versions_by_function, "Versions", FunctionName=function)
    ]
    used = aliased(_pages(lambda_client.list_aliases, "Aliases", FunctionName=function))
    doomed = unused_versions(versions, used, keep=keep)
    say(f"{function}: versions used by an alias {sorted(used, key=int)}; unused, to delete {doomed}")
    if not dry_run:
        for version in doomed:
            lambda_client.delete_function(FunctionName=function, Qualifier=version)
    return doomed


def stack_functions(cloudformation: Any, stack: str) -> list[str]:
    """The stack's function names, from its outputs."""
    outputs = cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    values = {o["OutputKey"]: o["OutputValue"] for o in outputs}
    return [values[name] for name in FUNCTION_OUTPUTS if name in values]


def main(argv: list[str] | None = None) -> int:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="the deployed stack's name")
    parser.add_argument("--keep", type=int, default=0, help="newest unused versions to keep per function")
    parser.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
    args = parser.parse_args(argv)
    functions = stack_functions(boto3.client("cloudformation"), args.stack)
    if not functions:
        print(f"{args.stack} has no function outputs", file=sys.stderr)
        return 1
    lambda_client = boto3.client("lambda")
    for function in functions:
        prune(lambda_client, function, keep=args.keep, dry_run=args.dry_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
