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
OUTER = {"store", "services", "api", "web", "http", "cli", "reports", "interop"}
# package -> the microtrial packages its modules may not import. ``api`` and ``web`` are the two
# HTTP edges: each stands on ``http`` and never imports the other; ``http`` composes them in its
# app factory only (see ALLOWED); ``cli`` may import ``http`` to serve the app.
FORBIDDEN: dict[str, set[str]] = {
    "domain": OUTER | {"analysis"},
    "analysis": OUTER | {"domain"},
    "store": {"services", "api", "web", "http", "cli", "reports", "interop", "analysis"},
    "services": {"api", "web", "http", "cli"},
    "api": {"web", "cli"},
    "web": {"api", "cli"},
    "http": {"api", "web", "cli"},
    "cli": {"api", "web"},
}
# Named departures: a module (path under the package root) -> packages it may import anyway.
ALLOWED: dict[str, set[str]] = {
    "http/app.py": {"api", "web"},  # the composition root
}


def imports_of(path: Path, root: Path = SRC) -> set[str]:
    """Absolute module names a file under ``root`` (a ``microtrial`` folder) imports."""
    package = ".".join(path.relative_to(root.parent).with_suffix("").parts[:-1])
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
                module = ".".join([*base, node.module] if node.module else base)
            elif node.module:
                module = node.module
            else:
                continue
            names.add(module)
            if "." not in module:
                # ``from microtrial import web`` imports the package ``microtrial.web``.
                names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def layer_files(layer: str, root: Path = SRC) -> list[Path]:
    """Every module of package ``layer`` under ``root``."""
    return sorted((root / layer).rglob("*.py"))


def violations(
    layer: str,
    root: Path = SRC,
    forbidden: dict[str, set[str]] = FORBIDDEN,
    allowed: dict[str, set[str]] = ALLOWED,
) -> list[str]:
    """``<module> imports <name>`` for each import of ``layer`` that the tables forbid."""
    found = []
    for path in layer_files(layer, root):
        module = path.relative_to(root).as_posix()
        banned = forbidden[layer] - allowed.get(module, set())
        for name in sorted(imports_of(path, root)):
            parts = name.split(".")
            if parts[0] == root.name and len(parts) > 1 and parts[1] in banned:
                found.append(f"{module} imports {name}")
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_outward(layer: str) -> None:
    assert violations(layer) == []


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


def test_the_rule_checker_fails_on_a_cross_import_between_api_and_web(tmp_path: Path) -> None:
    root = tmp_path / "microtrial"
    modules = {
        "api/x.py": "from microtrial.web import pages\n",
        "api/w.py": "from microtrial import http, web\n",
        "api/routes/y.py": "from ...web.session import PageUserDep\nfrom ...http import deps\n",
        "web/z.py": "import microtrial.api.routes.results\nfrom microtrial.http import deps\n",
        "http/deps.py": "from microtrial.api import paging\n",
        "http/app.py": "from microtrial import api\nfrom microtrial.web import pages\n",
    }
    for name, source in modules.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(source, encoding="utf-8")
    assert violations("api", root) == [
        "api/routes/y.py imports microtrial.web.session",
        "api/w.py imports microtrial.web",
        "api/x.py imports microtrial.web",
    ]
    assert violations("web", root) == ["web/z.py imports microtrial.api.routes.results"]
    assert violations("http", root) == ["http/deps.py imports microtrial.api"]
