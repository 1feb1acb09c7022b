"""``make validate``'s tracking-plan check: every plan the ingest function ships compiles.

    python scripts/check_plans.py [PLAN.json ...]

Without arguments, checks every ``functions/ingest/plans/*.json`` (what ``TrackingPlan`` can
name). Each is read and compiled exactly as the ingest function does at init
(``edge.ingest.plan.TrackingPlan.load``); a plan that cannot be read or compiled is reported with
the file and the problem (exit 1), so it fails here rather than in a deploy's canary. A plan that
compiles gets one line: its events and the calls it has rules for.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLANS = ROOT / "functions" / "ingest" / "plans"
sys.path.insert(0, str(ROOT / "layers" / "edge"))

from edge.ingest.plan import PlanError, TrackingPlan  # noqa: E402 - after the layer is on the path

__all__ = ["check", "main"]


def check(paths: list[Path]) -> list[str]:
    """One line per plan: what it holds, or (prefixed ``error:``) why it cannot be used."""
    lines = []
    for path in paths:
        try:
            plan = TrackingPlan.load(path)
        except PlanError as exc:
            lines.append(f"error: {exc}")
            continue
        calls = sorted(plan.calls) + (["global"] if plan.everything is not None else [])
        lines.append(
            f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
            f"{len(plan.events)} events" + (f"; rules for {', '.join(calls)}" if calls else "")
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/check_plans.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "plans", nargs="*", type=Path, help=f"plan files (default: {PLANS.relative_to(ROOT)}/*.json)"
    )
    args = parser.parse_args(argv)
    paths = [path.resolve() for path in args.plans] or sorted(PLANS.glob("*.json"))
    lines = check(paths)
    for line in lines:
        print(line, file=sys.stderr if line.startswith("error:") else sys.stdout)
    return 1 if any(line.startswith("error:") for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
