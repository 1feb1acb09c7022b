"""The template as CloudFormation receives it: rendered by the SAM translator in .venv-sam.

aws-sam-translator cannot live in .venv (it pins pydantic below the runtime's version), so the
rendering runs ``scripts/render_template.py`` with .venv-sam's interpreter, once per session;
the tests read the JSON it writes. ``make test`` builds .venv-sam first (``make validate``);
run alone, the fixture builds it with ``make sam-tools``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"


def _sam_tools() -> Path:
    if not (ROOT / ".venv-sam" / ".installed").exists():
        make = shutil.which("make")
        if make is None:
            pytest.fail(".venv-sam is missing and make is not on PATH: run `make sam-tools` first")
        built = subprocess.run(  # noqa: S603 - a fixed command
            [make, "sam-tools"], cwd=ROOT, capture_output=True, text=True, check=False
        )
        if built.returncode != 0:
            pytest.fail(
                f"`make sam-tools` failed; the template tests need .venv-sam:\n{built.stderr[-2000:]}"
            )
    return SAM_PYTHON


@pytest.fixture(scope="session")
def sam_python() -> Path:
    """The SAM tools' interpreter (.venv-sam: the translator and cfn-lint), built if missing."""
    return _sam_tools()


@pytest.fixture(scope="session")
def render(tmp_path_factory: pytest.TempPathFactory, sam_python: Path) -> Callable[..., dict[str, Any]]:
    """``render(template=…, **parameters)``: the CloudFormation JSON of a SAM template."""
    python = sam_python
    out_dir = tmp_path_factory.mktemp("rendered")

    def _render(template: Path = ROOT / "template.yaml", **parameters: str) -> dict[str, Any]:
        out = out_dir / f"{len(list(out_dir.iterdir()))}.json"
        args = [f"--param={name}={value}" for name, value in parameters.items()]
        result = subprocess.run(  # noqa: S603 - our own script
            [python, ROOT / "scripts" / "render_template.py", out, f"--template={template}", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"the SAM translator refused {template}:\n{result.stderr}")
        rendered: dict[str, Any] = json.loads(out.read_text())
        return rendered

    return _render


@pytest.fixture(scope="session")
def cfn(render: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """template.yaml rendered with its parameter defaults."""
    return render()
