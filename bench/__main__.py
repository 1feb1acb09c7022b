"""``python -m bench`` (``make bench``): print the table of the performance figures and their budgets.

Exit status 0 whatever the figures are; 1 only when the benchmark itself breaks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

from bench.lambda_env import ROOT, Tree
from bench.report import BenchError, Figure, table

GROUPS = ("sqs", "warm", "plan", "compressed", "forward", "cold", "e2e")


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default=",".join(GROUPS), help=f"comma-separated subset of {GROUPS}")
    parser.add_argument("--quick", action="store_true", help="fewer rounds: a smoke run, noisier figures")
    parser.add_argument("--root", type=Path, default=ROOT, help="measure another checkout (before/after)")
    parser.add_argument(
        "--e2e-events",
        type=int,
        default=2000,
        help="single events through the local stack (5 x as many in batches)",
    )
    parser.add_argument("--e2e-clients", type=int, default=8, help="concurrent clients (threads)")
    parser.add_argument("--e2e-seconds", type=float, default=90.0, help="stop sending after this long")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    arguments = parser.parse_args(argv)
    unknown = set(arguments.only.split(",")) - set(GROUPS)
    if unknown:
        parser.error(f"unknown groups: {', '.join(sorted(unknown))}")
    return arguments


def _progress(message: str) -> None:
    sys.stderr.write(f"bench: {message}\n")
    sys.stderr.flush()


def run(arguments: argparse.Namespace, out: TextIO) -> list[Figure]:
    groups = arguments.only.split(",")
    tree = Tree(arguments.root)
    tree.importable()
    quick = arguments.quick
    figures: list[Figure] = []
    if "sqs" in groups or "warm" in groups:
        from bench.ingest import IngestHarness, consent_figures, ingest_figures, privacy_figures, sqs_figures

        harness = IngestHarness()
        if "sqs" in groups:
            _progress("SQS requests per request")
            figures += sqs_figures(harness)
        if "warm" in groups:
            _progress("ingest, warm")
            figures += ingest_figures(harness, rounds=5 if quick else 15)
            figures += privacy_figures(rounds=5 if quick else 15)
            figures += consent_figures(rounds=5 if quick else 15)
    if "plan" in groups:
        from bench.cold_start import plan_cold_start_figures
        from bench.ingest import plan_figures

        _progress("the tracking plan: ingest warm, cold starts")
        figures += plan_figures(rounds=5 if quick else 15)
        figures += plan_cold_start_figures(tree, runs=5 if quick else 21)
    if "compressed" in groups:
        from bench.compressed import compressed_figures

        _progress("compressed bodies")
        figures += compressed_figures(rounds=5 if quick else 11)
    if "forward" in groups:
        from bench.forwarder import forwarder_figures

        _progress("forwarder throughput")
        figures += forwarder_figures(tree, rounds=3 if quick else 11)
    if "cold" in groups:
        from bench.cold_start import cold_start_figures

        _progress("cold starts (fresh processes)")
        figures += cold_start_figures(tree, runs=5 if quick else 21)[0]
    if "e2e" in groups:
        from bench.end_to_end import end_to_end_figures

        _progress("end to end on the local stack")
        figures += end_to_end_figures(
            events=min(arguments.e2e_events, 300) if quick else arguments.e2e_events,
            clients=arguments.e2e_clients,
            time_limit=arguments.e2e_seconds,
        )
    out.write(table(figures) + "\n")
    return figures


def main(argv: list[str]) -> int:
    arguments = _arguments(argv)
    out = sys.stdout
    # The handlers' logs and EMF metrics go to stdout, as in Lambda: keep them out of the table.
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    started = time.monotonic()
    try:
        figures = run(arguments, out)
    except BenchError as exc:
        _progress(f"the benchmark broke: {exc}")
        return 1
    out.write(
        f"\n{platform.python_implementation()} {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs; {time.monotonic() - started:.0f} s\n"
    )
    if arguments.json:
        arguments.json.write_text(json.dumps([asdict(f) for f in figures], indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
