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
PACKAGES = {
    "domain",
    "analysis",
    "store",
    "services",
    "interop",
    "reports",
    "http",
    "api",
    "web",
    "cli",
    "catalog",
}
EDGES = {"http", "api", "web", "cli"}
# package -> the microtrial packages its modules may not import (every package has a rule).
# The arrows of docs/ARCHITECTURE.md: domain and analysis are pure; store stands on domain;
# services join store, domain and analysis; interop builds and parses documents without storage;
# reports render what services read; the edges (http, api, web, cli) call services and reports.
FORBIDDEN: dict[str, set[str]] = {
    "domain": PACKAGES - {"domain", "catalog"},
    "analysis": PACKAGES - {"analysis"},
    "catalog": PACKAGES - {"catalog"},
    "store": PACKAGES - {"store", "domain", "catalog"},
    "interop": PACKAGES - {"interop", "domain", "catalog"},
    "services": EDGES | {"reports"},
    "reports": EDGES | {"store", "interop"},
    # ``api`` and ``web`` are the two HTTP edges: each stands on ``http`` and never imports the
    # other; ``http`` composes them in its app factory only (see ALLOWED).
    "http": {"api", "web", "cli", "store", "interop", "reports"},
    "api": {"web", "cli", "store", "interop"},
    "web": {"api", "cli", "store", "interop"},
    "cli": {"api", "web", "store"},
}
# Named departures: a module (path under the package root) -> what it may import anyway, as a
# package ("store") or one module of it ("store.db").
ALLOWED: dict[str, set[str]] = {
    "http/app.py": {"api", "web", "store.db"},  # the composition root opens the database
    # The edges hold the unit-of-work handle they pass to services; no edge touches a model,
    # a session or a query.
    "http/deps.py": {"store.db"},
    "http/security.py": {"store.db"},
    "http/reminders.py": {"store.db"},
    "http/sweeps.py": {"store.db"},
    "cli/common.py": {"store.db"},
    # Admin CLI commands may use the store: schema migration, backup and restore.
    "cli/db_cmds.py": {"store"},
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
        excused = allowed.get(module, set())
        for name in sorted(imports_of(path, root)):
            parts = name.split(".")
            if parts[0] != root.name or len(parts) < 2 or parts[1] not in forbidden[layer]:
                continue
            inner = ".".join(parts[1:])
            if not any(inner == e or inner.startswith(f"{e}.") for e in excused):
                found.append(f"{module} imports {name}")
    return found


def test_every_package_has_a_rule() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == PACKAGES == set(FORBIDDEN)
    for module in ALLOWED:
        assert (SRC / module).exists(), f"ALLOWED names a module that is gone: {module}"


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


def test_named_departures_cover_one_module_only(tmp_path: Path) -> None:
    root = tmp_path / "microtrial"
    modules = {
        "cli/common.py": "from microtrial.store.db import Database\n",
        "cli/x.py": "from microtrial.store.db import Database\n",
        "http/deps.py": "from microtrial.store.models import PatientRow\n",
        "reports/r.py": "from microtrial.store import db\n",
        "services/s.py": "from microtrial.reports import kits\nfrom microtrial import interop\n",
    }
    for name, source in modules.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(source, encoding="utf-8")
    assert violations("cli", root) == ["cli/x.py imports microtrial.store.db"]
    assert violations("http", root) == ["http/deps.py imports microtrial.store.models"]
    assert violations("reports", root) == ["reports/r.py imports microtrial.store"]
    assert violations("services", root) == ["services/s.py imports microtrial.reports"]
