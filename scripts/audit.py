"""``make audit``: pip-audit over the pinned requirements, and a verdict that cannot pass silently.

pip-audit reports "No known vulnerabilities found" and exits 0 even when it could not look a
dependency up ("Dependency not found on PyPI": the advisory service did not answer for that
version). This wrapper counts those, and says so:

- exit 1: known vulnerabilities (listed);
- exit 2: some dependencies could not be audited (advisory service unreachable), unless
  ``--allow-unaudited`` is given, which prints the same warning and exits 0 (``make test`` uses
  it, so that a machine without the advisory service still runs every other check);
- exit 0: every dependency audited, nothing known.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("requirements", nargs="+", help="requirements files (pinned)")
    parser.add_argument(
        "--allow-unaudited", action="store_true", help="warn instead of failing when unaudited"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "audit.json"
        command = [sys.executable, "-m", "pip_audit", "--progress-spinner", "off", "--format", "json"]
        for requirement in args.requirements:
            command += ["--requirement", requirement]
        run = subprocess.run([*command, "--output", str(report)], capture_output=True, text=True, check=False)  # noqa: S603
        if not report.exists():
            sys.stderr.write(run.stdout + run.stderr)
            print(
                f"audit: pip-audit failed (exit {run.returncode}) before reporting anything", file=sys.stderr
            )
            return 2
        dependencies = json.loads(report.read_text())["dependencies"]
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if "skip_reason" in d]
    audited = len(dependencies) - len(skipped)
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
            print(f"audit: {dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixes})")
    if skipped:
        example = skipped[0]
        print(
            f"audit: WARNING: {len(skipped)} of {len(dependencies)} dependencies were NOT audited: the "
            f"vulnerability service could not be reached or had no data for them (e.g. {example['name']}: "
            f"{example['skip_reason']}). Their absence from this report means nothing.",
            file=sys.stderr,
        )
    print(
        f"audit: {audited} of {len(dependencies)} dependencies audited, "
        f"{len(vulnerable)} with known vulnerabilities"
    )
    if vulnerable:
        return 1
    if skipped and not args.allow_unaudited:
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
