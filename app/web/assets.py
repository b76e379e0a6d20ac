"""The static files the pages need, found where the templates name them, so the list cannot drift
from the pages. `holdspace serve` refuses to start while one is missing: a tablet whose page loads
without htmx would sit on "Connecting…" with no error at all."""

from __future__ import annotations

import re
from pathlib import Path

APP = Path(__file__).resolve().parent.parent
STATIC = APP / "static"
TEMPLATES = APP / "templates"
_STATIC_REF = re.compile(r"""["'(]/static/([^"'?#)\s]+)""")


def required_assets(templates: Path | None = None) -> list[str]:
    """Paths under /static/ that the templates refer to."""
    found: set[str] = set()
    for template in sorted((templates or TEMPLATES).rglob("*.html")):
        found.update(_STATIC_REF.findall(template.read_text(encoding="utf-8")))
    return sorted(found)


def missing_assets(static: Path | None = None, templates: Path | None = None) -> list[Path]:
    folder = static or STATIC
    return [folder / name for name in required_assets(templates or TEMPLATES) if not (folder / name).is_file()]
