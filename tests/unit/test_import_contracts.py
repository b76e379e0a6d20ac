"""The layers point one way, checked by import-linter's contracts in pyproject.toml: live never
imports web or the services, store never imports the services, web or live, the domain nothing
of the other layers. Each contract is shown to break on a copy of the code with one bad import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--config", str(root / "pyproject.toml")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_code_as_it_is_keeps_every_contract() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    "module, bad_import",
    [
        ("app/live/feeds.py", "import app.web.templating"),
        ("app/live/presence.py", "from app.services import Services"),
        ("app/store/events.py", "import app.services"),
        ("app/store/people.py", "from app.web import views"),
        ("app/domain/model.py", "import sqlalchemy"),
        ("app/domain/policy.py", "from app.store import db"),
    ],
)
def test_a_bad_import_breaks_a_contract(tmp_path: Path, module: str, bad_import: str) -> None:
    copy = tmp_path / "project"
    shutil.copytree(ROOT / "app", copy / "app", ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    target = copy / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{bad_import}  # noqa\n", encoding="utf-8")
    result = lint(copy)
    assert result.returncode != 0
    assert "1 broken" in result.stdout, result.stdout
