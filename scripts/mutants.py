"""``make mutants``: mutmut over the domain layer, then the score per module and the survivors.

    python scripts/mutants.py [--max-children N] [--resume] [MUTANT_NAME_OR_GLOB ...]

mutmut names a mutant after its file's path (a leading ``src/`` dropped) and matches it against
the module the tests import; they agree only when the package sits at ``src/edge``, not at
``layers/edge/edge``. So the run happens in ``.mutmut/`` (git-ignored): symlinks that put the layer's
package at ``src/edge`` beside the tests and the rest of what the tests read (``[tool.mutmut]`` in
pyproject.toml lists it). mutmut copies them into ``.mutmut/mutants/``, which holds the mutants and
their verdicts.

Without names, the verdicts start afresh: mutmut keeps a cached "survived" even when a new or
changed test would now kill it. With names (``edge.forward.upstream.x_decide__mutmut_7``, or a glob such as
``'edge.ingest.enrichment.*'``), only those mutants run again and the other verdicts are kept. With
``--resume``, the verdicts are kept and only the mutants not yet tested run (an interrupted run goes on).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKSPACE = ROOT / ".mutmut"
PACKAGE = Path("src/edge")

# mutmut's exit codes per mutant (mutmut.stats.status_by_exit_code), folded into what a score needs.
_KILLED = {1, 3, 37}  # a failing test (or pytest's internal error), the type checker
_TIMEOUT = {36, -24, 24, 152, 255}  # a mutant that never ends (a loop, a wait) is caught too
_SURVIVED = {0}
_NO_TESTS = {5, 33}


def lay_out_workspace(config: dict[str, list[str]]) -> None:
    """Symlinks in ``.mutmut/``: the package at ``src/edge``, the rest at its own path."""
    targets = {PACKAGE: ROOT / "layers/edge/edge", Path("pyproject.toml"): ROOT / "pyproject.toml"}
    targets |= {Path(p): ROOT / p for p in ["tests", *config["also_copy"]]}
    for name, target in targets.items():
        link = WORKSPACE / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(target, link.parent))


def verdicts(module: str) -> dict[str, int | None]:
    meta = WORKSPACE / "mutants" / PACKAGE / f"{module}.py.meta"
    if not meta.exists():
        return {}
    exit_codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    return exit_codes


_ROW = "{:<19} {:>7} {:>8} {:>9} {:>9} {:>6} {:>6} {:>7}"
_KINDS = ("killed", "timeout", "survived", "no tests", "other")


def _kind(exit_code: int | None) -> str:
    if exit_code in _KILLED:
        return "killed"
    if exit_code in _TIMEOUT:
        return "timeout"
    if exit_code in _SURVIVED:
        return "survived"
    if exit_code in _NO_TESTS:
        return "no tests"
    return "other"  # not checked, suspicious, segfault, interrupted


def _score(counts: Counter[str]) -> str:
    total = counts.total()
    return f"{100 * (counts['killed'] + counts['timeout']) / total:.1f}%" if total else "-"


def report(modules: list[str]) -> None:
    """One line per module, the score being killed or timed out of total; then every mutant left."""
    print("\n" + _ROW.format("module", *_KINDS, "total", "score"))
    left: list[str] = []
    totals: Counter[str] = Counter()
    for module in modules:
        counts: Counter[str] = Counter()
        for name, exit_code in verdicts(module).items():
            kind = _kind(exit_code)
            counts[kind] += 1
            if kind not in {"killed", "timeout"}:
                left.append(f"  {kind:<9} {name}")
        totals.update(counts)
        print(_ROW.format(module, *(counts[k] for k in _KINDS), counts.total(), _score(counts)))
    print(_ROW.format("all", *(totals[k] for k in _KINDS), totals.total(), _score(totals)))
    if left:
        print("\nNot killed (`cd .mutmut && ../.venv/bin/mutmut show NAME` shows the change):")
        print("\n".join(left))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--resume", action="store_true", help="keep the verdicts, test the rest")
    parser.add_argument("names", nargs="*", help="re-run only these mutants (names or globs)")
    args = parser.parse_args()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    # A module by its path under the package, as mutmut keeps its verdicts: ``forward/upstream``.
    modules = [Path(p).relative_to(PACKAGE).with_suffix("").as_posix() for p in config["only_mutate"]]
    lay_out_workspace(config)
    mutants = WORKSPACE / "mutants"
    # A fresh run forgets every verdict; a named one still drops the copied tests, so that a test
    # file deleted since does not linger in the copy.
    fresh = not args.names and not args.resume
    shutil.rmtree(mutants if fresh else mutants / "tests", ignore_errors=True)
    mutmut = Path(sys.executable).parent / "mutmut"
    command = [str(mutmut), "run", "--max-children", str(args.max_children), *args.names]
    run = subprocess.run(command, cwd=WORKSPACE, check=False)  # noqa: S603 - our own venv's mutmut
    report(modules)
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
