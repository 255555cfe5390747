"""The architecture's import rules, checked by parsing every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "microtrial"
IO_LIBRARIES = {
    "sqlalchemy",
    "alembic",
    "psycopg",
    "sqlite3",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "requests",
    "urllib",
    "socket",
    "http",
    "smtplib",
    "os",
    "pathlib",
    "io",
    "shutil",
    "subprocess",
    "typer",
    "rich",
    "jinja2",
    "weasyprint",
    "reportlab",
    "matplotlib",
}
OUTER = {"store", "services", "api", "web", "cli", "reports", "interop"}
# layer -> what it may not import from microtrial
FORBIDDEN = {
    "domain": OUTER | {"analysis"},
    "analysis": OUTER | {"domain"},
    "store": {"services", "api", "web", "cli", "reports", "interop", "analysis"},
    "services": {"api", "web", "cli"},
}


def imports_of(path: Path) -> set[str]:
    """Absolute module names a file imports (relative imports resolved)."""
    package = ".".join(path.relative_to(SRC.parent).with_suffix("").parts[:-1])
    return imports_in(path.read_text(encoding="utf-8"), package)


def imports_in(source: str, package: str) -> set[str]:
    """Absolute module names that ``source``, a module of ``package``, imports."""
    tree = ast.parse(source)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.add(node.module)
    return names


def layer_files(layer: str) -> list[Path]:
    return sorted((SRC / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_outward(layer: str) -> None:
    offenders = []
    for path in layer_files(layer):
        for name in imports_of(path):
            parts = name.split(".")
            if parts[0] == "microtrial" and len(parts) > 1 and parts[1] in FORBIDDEN[layer]:
                offenders.append(f"{path.relative_to(SRC)} imports {name}")
    assert offenders == []


@pytest.mark.parametrize("layer", ["domain", "analysis"])
def test_pure_layers_import_no_io_library(layer: str) -> None:
    offenders = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in layer_files(layer)
        for name in imports_of(path)
        if name.split(".")[0] in IO_LIBRARIES
    ]
    assert offenders == []


def test_the_rule_checker_sees_violations() -> None:
    source = "import sqlalchemy\nfrom ..store import models\nfrom . import actors\n"
    names = imports_in(source, "microtrial.domain")
    assert names == {"sqlalchemy", "microtrial.store", "microtrial.domain"}
