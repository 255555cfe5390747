"""Scale: every page and API list route, per role, on demo clinics of 100 to 10,000 patients.

Run: ``.venv/bin/python bench/scale.py [--patients N | --sizes 100,1000,10000]
[--database-url sqlite | postgresql+psycopg://USER@HOST:PORT/DB] [--repeat 20] [--out FILE]``

For each size:

1. builds the demo clinic of that many patients through the bulk path
   (``services.demo_bulk.populate_bulk``: ~120 diary days each, doses, alerts, adverse events,
   trials at every stage) into a fresh database: a SQLite file, or a throw-away database on the
   PostgreSQL server of ``--database-url``; times it and checks the audit chain;
2. times a full cohort refresh (every stored fit deleted, then ``refresh_fits``) and the cohort
   report (``cohort_report_data`` + HTML and PDF rendering), in this process;
3. starts the real server (``microtrial serve``, one worker, as bench/load.py does), signs in as
   each role (admin, clinician, unblinded staff, researcher, patient) through ``/login`` (pages)
   and ``/api/v1/auth/token`` (API), discovers every GET page and every GET ``/api/v1`` route
   from the app's route table (path parameters filled with a running patient's ids; routes
   needing other parameters are skipped and listed), and times each route that answers the role
   with 200: one warm-up request, then ``--repeat`` requests (p50, p95 in ms);
4. times the research export (``/research/export.zip``) and reads the server's peak RSS
   (VmHWM of the server process and its children).

It prints one table: route x role rows, one p50/p95 column pair per size, then the jobs.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from load import drop_database, prepare_database, start_server, stop_server

from microtrial.domain.actors import system_actor
from microtrial.services import admin
from microtrial.services.demo import DEMO_PASSWORD, DEMO_SITE
from microtrial.settings import Settings
from microtrial.store.db import Database

ROLES = {
    "admin": "admin.bench",
    "clinician": "dr.demo",
    "unblinded_staff": "pharmacist.demo",
    "researcher": "researcher.demo",
    "patient": "",  # a running patient's login, found after the build
}
# Not list or page reads: sign-out, files, health probes, and what is timed on its own below.
SKIP = re.compile(
    r"^/(logout|static|docs|redoc|sw\.js|manifest|research/export)|openapi|/cohort/export"
    r"|/report\.|\.(ics|zip|pdf)$"
)


@dataclass
class SizeResult:
    """What one size measured."""

    patients: int
    build_s: float = 0.0
    audit_s: float = 0.0
    audit_events: int = 0
    refresh_s: float = 0.0
    report_html_s: float = 0.0
    report_pdf_s: float = 0.0
    export_s: float = 0.0
    peak_rss_mb: float = 0.0
    routes: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)


def build(url: str, n: int) -> tuple[float, dict[str, Any]]:
    """Build the demo clinic of ``n`` patients in bulk; (seconds, ids for the routes)."""
    from sqlalchemy import select

    from microtrial.services.demo_bulk import populate_bulk
    from microtrial.store.models import PatientRow, TrialRow, UserRow

    db = Database.from_settings(Settings(database_url=url))
    try:
        started = time.perf_counter()
        populate_bulk(db, Path("scale.db"), n)
        seconds = time.perf_counter() - started
        admin.add_user(
            db,
            system_actor("bench"),
            site_code=DEMO_SITE,
            role="admin",
            username=ROLES["admin"],
            password=DEMO_PASSWORD,
        )
        with db.transaction() as session:
            trial, patient_id = session.execute(
                select(TrialRow.id, TrialRow.patient_id)
                .where(TrialRow.status == "running")
                .order_by(TrialRow.id)
                .limit(1)
            ).one()
            username = session.execute(
                select(UserRow.username).where(UserRow.patient_id == patient_id)
            ).scalar_one()
            site_id = session.execute(select(PatientRow.site_id).limit(1)).scalar_one()
    finally:
        db.dispose()
    return seconds, {
        "patient_id": patient_id,
        "trial_id": trial,
        "site_id": site_id,
        "patient": username,
    }


def jobs(url: str, result: SizeResult) -> None:
    """Audit verify, a full cohort refresh and the cohort report, timed in this process."""
    from sqlalchemy import delete

    from microtrial.reports.cohort_report import render_cohort_reports
    from microtrial.services.audit import verify_audit_log
    from microtrial.services.report_data import cohort_report_data
    from microtrial.services.trial_fits import refresh_fits
    from microtrial.store.models import TrialFitRow

    db = Database.from_settings(Settings(database_url=url))
    try:
        started = time.perf_counter()
        problems, result.audit_events = verify_audit_log(db)
        result.audit_s = time.perf_counter() - started
        if problems:
            raise SystemExit(f"audit verify failed: {problems[:3]}")
        with db.transaction() as session:
            session.execute(delete(TrialFitRow))
        started = time.perf_counter()
        refresh_fits(db, system_actor("bench"))
        result.refresh_s = time.perf_counter() - started
        for fmt in ("html", "pdf"):
            started = time.perf_counter()
            render_cohort_reports(cohort_report_data(db, system_actor("bench")), [fmt])
            setattr(result, f"report_{fmt}_s", time.perf_counter() - started)
    finally:
        db.dispose()


def routes() -> list[str]:
    """Every GET path of the app (pages and /api/v1), from its route table."""
    from microtrial.http.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(database_url=f"sqlite:///{tmp}/routes.db"))
        found = sorted(set(_get_paths(app.routes, "")))
    return [p for p in found if p and not SKIP.search(p)]


def _get_paths(routes: Any, prefix: str) -> Iterator[str]:
    """GET paths of ``routes``, descending into included routers (FastAPI's wrappers)."""
    for route in routes:
        context = getattr(route, "include_context", None)
        if context is not None:
            yield from _get_paths(route.original_router.routes, prefix + context.prefix)
        elif "GET" in (getattr(route, "methods", None) or set()):
            yield prefix + str(route.path)


def fill(path: str, ids: dict[str, Any]) -> str | None:
    """``path`` with its parameters filled from ``ids``; None when one is unknown."""
    names = re.findall(r"{(\w+)(?::\w+)?}", path)
    if any(name not in ids for name in names):
        return None
    return re.sub(r"{(\w+)(?::\w+)?}", lambda m: str(ids[m.group(1)]), path)


def sign_in(base: str, username: str) -> tuple[httpx.Client, str]:
    """A client holding the page session cookie of ``username``, and an API token."""
    client = httpx.Client(base_url=base, timeout=120, follow_redirects=False)
    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None, "no CSRF token on /login"
    client.post(
        "/login",
        data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token.group(1)},
    )
    answer = client.post(
        "/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD}
    )
    answer.raise_for_status()
    return client, str(answer.json()["access_token"])


def timed_get(client: httpx.Client, path: str, bearer: str | None) -> tuple[int, float]:
    """One GET: (status, milliseconds)."""
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    started = time.perf_counter()
    status = client.get(path, headers=headers).status_code
    return status, (time.perf_counter() - started) * 1000


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def measure_server(
    url: str, backend: str, ids: dict[str, Any], repeat: int, out: SizeResult
) -> None:
    """Start the server and time every route for every role, then the export and peak RSS."""
    log = Path(tempfile.gettempdir()) / f"scale-{uuid.uuid4().hex[:8]}.log"
    server = start_server(backend, url, 1, log)
    base = f"http://127.0.0.1:{server.port}"  # type: ignore[attr-defined]
    try:
        paths = routes()
        for role, username in ROLES.items():
            client, token = sign_in(base, username or ids["patient"])
            try:
                time_routes(client, token, role, paths, ids, repeat, out)
                if role == "researcher":
                    status, ms = timed_get(client, "/research/export.zip", None)
                    # a refusal or redirect is no timing: shown as nan
                    out.export_s = ms / 1000 if status == 200 else float("nan")
            finally:
                client.close()
        out.peak_rss_mb = peak_rss_mb(server.pid)
    finally:
        stop_server(server)


def time_routes(
    client: httpx.Client,
    token: str,
    role: str,
    paths: list[str],
    ids: dict[str, Any],
    repeat: int,
    out: SizeResult,
) -> None:
    """Time each route that answers this role with 200: a warm-up, then ``repeat`` requests."""
    for path in paths:
        target = fill(path, ids)
        if target is None:
            out.skipped.add(path)
            continue
        bearer = token if path.startswith("/api/") else None
        status, _ = timed_get(client, target, bearer)  # warm-up
        if status != 200:
            continue
        times = [timed_get(client, target, bearer)[1] for _ in range(repeat)]
        out.routes[(path, role)] = (pct(times, 50), pct(times, 95))


def peak_rss_mb(pid: int) -> float:
    """The largest VmHWM among the server process and its children (MB)."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    peak = 0
    for p in pids:
        status = Path(f"/proc/{p}/status")
        if status.exists():
            found = re.search(r"VmHWM:\s+(\d+) kB", status.read_text())
            peak = max(peak, int(found.group(1)) if found else 0)
    return peak / 1024


def run_size(n: int, args: argparse.Namespace, workdir: Path) -> SizeResult:
    """Build, time the jobs and the server for one size."""
    backend = "sqlite" if args.database_url == "sqlite" else "postgresql"
    url, drop = prepare_database(backend, args.database_url, workdir)
    result = SizeResult(n)
    try:
        result.build_s, ids = build(url, n)
        print(f"{n} patients built in {result.build_s:.1f} s", flush=True)
        jobs(url, result)
        measure_server(url, backend, ids, args.repeat, result)
    finally:
        if drop is not None:
            drop_database(args.database_url, drop)
    return result


def table(results: list[SizeResult]) -> str:
    """One table: each route and role, p50/p95 (ms) per size; then the jobs."""
    sizes = [r.patients for r in results]
    head = "route (role)".ljust(58) + "".join(f"{f'N={n} p50/p95 ms':>22}" for n in sizes)
    lines = [head, "-" * len(head)]
    keys = sorted({k for r in results for k in r.routes})
    for path, role in keys:
        cells = []
        for r in results:
            got = r.routes.get((path, role))
            cells.append(f"{got[0]:>10.1f}/{got[1]:<10.1f}" if got else f"{'-':>22}")
        lines.append(f"{path} ({role})".ljust(58)[:58] + "".join(f"{c:>22}" for c in cells))
    lines.append("-" * len(head))
    jobs_rows = (
        ("bulk build (s)", "build_s"),
        ("audit verify (s)", "audit_s"),
        ("audit events", "audit_events"),
        ("cohort refresh, full (s)", "refresh_s"),
        ("cohort report HTML (s)", "report_html_s"),
        ("cohort report PDF (s)", "report_pdf_s"),
        ("research export (s)", "export_s"),
        ("server peak RSS (MB)", "peak_rss_mb"),
    )
    for label, name in jobs_rows:
        lines.append(label.ljust(58) + "".join(f"{getattr(r, name):>22.1f}" for r in results))
    skipped = sorted({p for r in results for p in r.skipped})
    if skipped:
        lines.append(
            "not timed (parameters other than a patient's or trial's id): " + ", ".join(skipped)
        )
    return "\n".join(lines)


def main() -> int:
    """Parse the arguments, measure each size, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--sizes", default="", help="comma-separated sizes (overrides --patients)")
    parser.add_argument(
        "--database-url",
        default="sqlite",
        help="'sqlite' (a fresh file per size) or a PostgreSQL server URL (throw-away databases)",
    )
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s] or [args.patients]
    with tempfile.TemporaryDirectory() as tmp:
        results = [run_size(n, args, Path(tmp)) for n in sizes]
    text = table(results)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
