"""The domain is framework-free: every module in app/domain imports only the standard library and
its own package (read from the source with `ast`, so nothing has to be imported to check it)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[2] / "app" / "domain"
FORBIDDEN = ("fastapi", "starlette", "sqlalchemy", "sqlmodel", "pydantic")
OWN_PACKAGE = "app.domain"


def imported_modules(source: str, module_package: str = OWN_PACKAGE) -> list[str]:
    """Absolute names of everything a module imports (relative imports resolved against its package)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module_package.split(".")
                base = base[: len(base) - (node.level - 1)]
                names.append(".".join(base + ([node.module] if node.module else [])))
            else:
                names.append(node.module or "")
    return names


def foreign_imports(source: str, module_package: str = OWN_PACKAGE) -> list[str]:
    """Imports that are neither standard library nor app.domain itself."""
    out = []
    for name in imported_modules(source, module_package):
        top = name.split(".")[0]
        if name == OWN_PACKAGE or name.startswith(OWN_PACKAGE + "."):
            continue
        if top in sys.stdlib_module_names and top != "app":
            continue
        out.append(name)
    return out


DOMAIN_FILES = sorted(DOMAIN.rglob("*.py"))


def package_of(path: Path) -> str:
    """The package a domain module is in (app.domain, or one of its subpackages such as app.domain.rules)."""
    return ".".join([OWN_PACKAGE, *path.parent.relative_to(DOMAIN).parts])


def test_the_domain_package_has_the_modules_it_is_known_by() -> None:
    names = {p.name for p in DOMAIN_FILES}
    assert {"__init__.py", "model.py", "commands.py", "decide.py", "policy.py", "errors.py"} <= names


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=[str(p.relative_to(DOMAIN)) for p in DOMAIN_FILES])
def test_a_domain_module_imports_only_the_standard_library_and_its_own_package(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    foreign = foreign_imports(source, package_of(path))
    assert foreign == [], f"{path.name} imports {foreign}"
    for name in imported_modules(source, package_of(path)):
        assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"


@pytest.mark.parametrize(
    "source, bad",
    [
        ("import fastapi", ["fastapi"]),
        ("from starlette.requests import Request", ["starlette.requests"]),
        ("import sqlalchemy as sa", ["sqlalchemy"]),
        ("from sqlmodel import Field", ["sqlmodel"]),
        ("def f():\n    from pydantic import BaseModel\n", ["pydantic"]),
        ("from app.store import events", ["app.store"]),
        ("from ..web import deps", ["app.web"]),
        ("from . import model\nfrom .policy import Policy\nimport datetime, enum", []),
        ("from __future__ import annotations\nfrom app.domain.model import Phase", []),
    ],
)
def test_the_import_check_itself_tells_foreign_imports_from_allowed_ones(source: str, bad: list[str]) -> None:
    assert foreign_imports(source) == bad


@pytest.mark.parametrize(
    "source, bad",
    [
        ("from .. import commands as c\nfrom .base import Decision", []),
        ("from ...store import events", ["app.store"]),
        ("from ...web.deps import x", ["app.web.deps"]),
    ],
)
def test_a_rule_module_one_package_down_is_checked_the_same_way(source: str, bad: list[str]) -> None:
    assert foreign_imports(source, "app.domain.rules") == bad


# ---------------------------------------------------------------- one home for each vocabulary

EDGES = [p for p in sorted(DOMAIN.parent.rglob("*.py")) if DOMAIN not in p.parents]


def _vocabularies() -> dict[str, frozenset[str]]:
    from app.domain import vocabulary

    words = {
        name: frozenset(value)
        for name, value in vars(vocabulary).items()
        if name.isupper() and isinstance(value, tuple) and all(isinstance(w, str) for w in value)
    }
    ranges = {name: frozenset(value) for name, value in vars(vocabulary).items() if name.endswith("_RANGES")}
    return {**words, **ranges}


def _string_collections(source: str) -> list[frozenset[str]]:
    """Every tuple, list or set of two or more string constants written in a module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(node.elts) >= 2:
            if all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
                found.append(frozenset(e.value for e in node.elts))  # type: ignore[attr-defined]
    return found


@pytest.mark.parametrize("path", EDGES, ids=[f"{p.parent.name}/{p.name}" for p in EDGES])
def test_an_edge_takes_the_domains_vocabularies_instead_of_writing_its_own(path: Path) -> None:
    vocabularies = _vocabularies()
    written = _string_collections(path.read_text(encoding="utf-8"))
    copies = [name for name, words in vocabularies.items() if words in written]
    assert copies == [], f"{path.name} writes out {copies}; import them from app.domain.vocabulary"


def test_the_vocabulary_check_itself_finds_a_copied_list() -> None:
    assert frozenset({"hand", "shoulder", "feet", "hug"}) in _string_collections(
        'touch: list[Literal["hand", "shoulder", "feet", "hug"]] = []'
    )
    assert _vocabularies()["TOUCH_AREAS"] == frozenset({"hand", "shoulder", "feet", "hug"})


TEMPLATES = sorted((DOMAIN.parent / "templates").rglob("*.html"))
_QUOTED_LIST = re.compile(r"[\[(]\s*(['\"][^'\"]*['\"](?:\s*,\s*['\"][^'\"]*['\"])+)\s*[\])]")


def _template_word_lists(text: str) -> list[frozenset[str]]:
    return [frozenset(w.strip().strip("'\"") for w in m.group(1).split(",")) for m in _QUOTED_LIST.finditer(text)]


@pytest.mark.parametrize("path", TEMPLATES, ids=[p.name for p in TEMPLATES])
def test_a_template_takes_the_domains_words_and_scales_instead_of_writing_its_own(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    written = _template_word_lists(text)
    copies = [name for name, words in _vocabularies().items() if words in written]
    assert copies == [], f"{path.name} writes out {copies}"
    assert re.findall(r"range\(\s*-?\d", text) == [], f"{path.name} counts out a scale of its own"


def test_the_template_check_itself_finds_a_copied_list() -> None:
    found = _template_word_lists("{{ ['settled', 'processing', 'distressed', 'acute', 'emergency'][level] }}")
    assert found == [_vocabularies()["DISTRESS_WORDS"]]
