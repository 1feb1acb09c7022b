"""``make validate``'s lock check: the layer is exactly what ``requirements.lock`` says.

    python scripts/check_lock.py REQUIREMENTS LOCK [--layer BUILT_LAYER_DIR]

Fails (exit 1, one line per problem) when:

- a pin of ``requirements.txt`` is missing from the lock or locked at another version, or the lock
  still lists a direct requirement that ``requirements.txt`` dropped (run ``make lock``);
- a locked distribution has no ``--hash`` (pip's ``--require-hashes`` would refuse it anyway);
- with ``--layer``: the built layer (``sam build``'s ``.aws-sam/build/EdgeLayer/python``) holds a
  distribution the lock does not, lacks one it does, or holds another version.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

__all__ = ["drift", "installed", "locked", "pins"]

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def _name(name: str) -> str:
    """PEP 503's normalized name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, str]:
    """``name==version`` lines of a requirements file, names normalized."""
    found = {}
    for line in text.splitlines():
        match = _PIN.match(line.strip())
        if match:
            found[_name(match[1])] = match[2]
    return found


def locked(text: str) -> dict[str, tuple[str, int, bool]]:
    """Each locked distribution: (version, number of hashes, whether ``-r requirements.txt`` asks for it)."""
    entries: dict[str, tuple[str, int, bool]] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        match = _PIN.match(line)
        if match:
            current = _name(match[1])
            entries[current] = (match[2], 0, False)
        elif current and line.startswith("--hash="):
            version, hashes, direct = entries[current]
            entries[current] = (version, hashes + 1, direct)
        elif current and re.match(r"^#\s*(via\s+)?-r requirements", line):
            version, hashes, _ = entries[current]
            entries[current] = (version, hashes, True)
    return entries


def installed(layer: Path) -> dict[str, str]:
    """The distributions in a built layer, from their ``*.dist-info`` metadata."""
    found = {}
    for info in layer.glob("*.dist-info"):
        metadata = (info / "METADATA").read_text(errors="replace")
        name = re.search(r"^Name: (.+)$", metadata, re.MULTILINE)
        version = re.search(r"^Version: (.+)$", metadata, re.MULTILINE)
        if name and version:
            found[_name(name[1].strip())] = version[1].strip()
    return found


def drift(requirements: str, lock: str, layer: dict[str, str] | None = None) -> list[str]:
    """Every way the lock differs from ``requirements.txt``, and the layer from the lock."""
    problems = []
    wanted = pins(requirements)
    entries = locked(lock)
    for name, version in sorted(wanted.items()):
        if name not in entries:
            problems.append(f"{name}=={version} is in requirements.txt but not in the lock: run `make lock`")
        elif entries[name][0] != version:
            problems.append(
                f"requirements.txt pins {name}=={version}, the lock {entries[name][0]}: run `make lock`"
            )
    for name, (version, hashes, direct) in sorted(entries.items()):
        if direct and name not in wanted:
            problems.append(
                f"the lock still asks for {name}=={version}, which requirements.txt dropped: run `make lock`"
            )
        if hashes == 0:
            problems.append(f"{name}=={version} is locked without a hash")
    if layer is not None:
        versions = {name: version for name, (version, _, _) in entries.items()}
        for name in sorted(versions.keys() | layer.keys()):
            if name not in layer:
                problems.append(f"the layer lacks {name}=={versions[name]}")
            elif name not in versions:
                problems.append(f"the layer holds {name}=={layer[name]}, which the lock does not list")
            elif layer[name] != versions[name]:
                problems.append(f"the layer holds {name}=={layer[name]}, the lock says {versions[name]}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("requirements", type=Path)
    parser.add_argument("lock", type=Path)
    parser.add_argument("--layer", type=Path, help="a built layer's python/ directory")
    args = parser.parse_args(argv)
    layer = None
    if args.layer is not None:
        layer = installed(args.layer)
        if not layer:
            print(f"lock: no distributions found in {args.layer}", file=sys.stderr)
            return 1
    problems = drift(args.requirements.read_text(), args.lock.read_text(), layer)
    for problem in problems:
        print(f"lock: {problem}", file=sys.stderr)
    if not problems:
        what = (
            f"the layer's {len(layer)} distributions match"
            if layer is not None
            else "requirements.txt matches"
        )
        print(f"lock: {what} {args.lock}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
