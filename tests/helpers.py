"""Test helpers: a settable clock, a two-site clinic, audit counting, formatted answers, a web
form as the browser sends it."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from microtrial.domain.catalog import Item
from microtrial.domain.text_formats import in_bounds
from microtrial.store.db import Database

BACKFILL_DAYS = 3650  # the test clinic's diary window: the longest a site may set


class FixedClock:
    """A clock tests can set and advance."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


class Clinic:
    """Two sites, each with a clinician and two patients (one with a patient login)."""

    def __init__(self, db: Database, clock: FixedClock) -> None:
        from microtrial.domain.actors import system_actor
        from microtrial.services import admin, patients

        system = system_actor("test")
        self.db = db
        self.site_a = admin.add_site(db, system, "SITEA", "Site A", clock=clock)
        self.site_b = admin.add_site(db, system, "SITEB", "Site B", clock=clock)
        password = "correct horse battery"
        for site in ("SITEA", "SITEB"):
            for role in ("clinician", "unblinded_staff", "researcher"):
                admin.add_user(
                    db,
                    system,
                    site_code=site,
                    role=role,
                    username=f"{role}_{site.lower()}",
                    password=password,
                    clock=clock,
                )
        # Diaries are written around the test clock (and some calls run on the real one), so the
        # patients were enrolled years before it and the sites take entries that far back; the
        # tests of the diary-date window set a site's window and enrolment themselves.
        self.enrolled_at = clock() - dt.timedelta(days=BACKFILL_DAYS)
        for site in ("SITEA", "SITEB"):
            admin.set_backfill_days(db, system, site, BACKFILL_DAYS, clock=clock)
        self.patients = {}
        for site, codes in (("SITEA", ("A-001", "A-002")), ("SITEB", ("B-001",))):
            for code in codes:
                self.patients[code] = patients.enrol_patient(
                    db,
                    system,
                    site_code=site,
                    study_code=code,
                    birth_year=1980,
                    sex="female",
                    time_zone="Europe/London",
                    conditions=["G43.909"],
                    clock=lambda: self.enrolled_at,
                )
                admin.add_user(
                    db,
                    system,
                    site_code=site,
                    role="patient",
                    username=f"p_{code}",
                    password=password,
                    patient_code=code,
                    clock=clock,
                )
        self.actors = {
            name: admin.user_actor(db, name)
            for name in (
                "clinician_sitea",
                "clinician_siteb",
                "unblinded_staff_sitea",
                "researcher_sitea",
                "p_A-001",
                "p_A-002",
                "p_B-001",
            )
        }

    def running_trial(self, clock: FixedClock, patient_id: int) -> int:
        """A running psilocybin trial of the patient, screened, signed off and started today."""
        from microtrial.domain.design import DesignSpec
        from microtrial.services import screening, trial_lifecycle, trial_planning

        clinician = self.actors["clinician_sitea"]
        result = screening.screen_patient(self.db, clinician, patient_id, "psilocybin", clock=clock)
        screening.sign_off_screening(self.db, clinician, result.record_id, "ok", clock=clock)
        trial = trial_planning.plan_trial(
            self.db,
            clinician,
            patient_id,
            trial_planning.RegimenChoice("every_other_day", "psilocybin", 100, "mg dried material"),
            DesignSpec(run_in_days=7),
            start_date=clock.now.date(),
            clock=clock,
        )
        for action in ("schedule", "start"):
            trial_lifecycle.transition(self.db, clinician, trial.id, action, clock=clock)
        return trial.id


def audit_count(db: Database) -> int:
    """How many audit events the database holds."""
    from sqlalchemy import func, select

    from microtrial.store.models import AuditEventRow

    with db.transaction() as session:
        return session.execute(select(func.count(AuditEventRow.id))).scalar_one()


def run_cli(*args: str) -> tuple[int, str, str]:
    """Run the ``microtrial`` command line in-process: exit code, stdout, stderr."""
    from typer.testing import CliRunner

    from microtrial.cli.main import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def cli_patient(database_url: str, *, tz: str = "Europe/London") -> tuple[str, str]:
    """Migrate the database and add site LON1 with patient P-9 through the CLI; the URL options."""
    url = ("--database-url", database_url)
    assert run_cli("db", "upgrade", *url)[0] == 0
    assert run_cli("site", "add", "LON1", *url)[0] == 0
    code, _, err = run_cli(
        "patient", "add", "--site", "LON1", "--code", "P-9", "--birth-year", "1970",
        "--sex", "male", "--tz", tz, *url,
    )  # fmt: skip
    assert code == 0, err
    return url


def after_last_period(clinic: Clinic, clock: FixedClock, trial_id: int) -> None:
    """Move the clock to noon UTC of the day after the trial's last period (if not past it yet):
    a trial is completed only then (issue 16: no early completion dressed as normal)."""
    from microtrial.services import trial_views

    doc = clinic.actors["clinician_sitea"]
    last = trial_views.trial_calendar(clinic.db, doc, trial_id).last_date
    after = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(12), tzinfo=dt.UTC)
    clock.now = max(clock.now, after)


# a valid answer for every text format (REDCap validation type) the shared dictionaries use
FORMAT_SAMPLES = {
    "date_ymd": "2026-02-27",
    "date_mdy": "2026-02-27",
    "date_dmy": "2026-02-27",
    "datetime_ymd": "2026-02-27 08:30",
    "datetime_mdy": "2026-02-27 08:30",
    "datetime_dmy": "2026-02-27 08:30",
    "datetime_seconds_ymd": "2026-02-27 08:30:15",
    "datetime_seconds_mdy": "2026-02-27 08:30:15",
    "datetime_seconds_dmy": "2026-02-27 08:30:15",
    "time": "08:30",
    "time_hh_mm_ss": "08:30:15",
    "time_mm_ss": "12:34",
    "number": "172.5",
    "number_1dp": "36.6",
    "number_2dp": "1.25",
    "number_3dp": "0.125",
    "number_4dp": "3.1416",
    "number_comma_decimal": "12,5",
    "number_1dp_comma_decimal": "36,6",
    "number_2dp_comma_decimal": "1,25",
    "number_3dp_comma_decimal": "0,125",
    "number_4dp_comma_decimal": "3,1416",
    "email": "someone@example.org",
    "phone": "(405) 555-1234",
    "phone_australia": "(02) 9876 5432",
    "zipcode": "73104",
    "postalcode_australia": "2000",
    "postalcode_canada": "K1A 0B1",
    "postalcode_french": "75001",
    "postalcode_germany": "10115",
    "alpha_only": "abc",
    "mrn_10d": "0123456789",
    "mrn_generic": "mrn-42",
    "ssn": "123-45-6789",
}


def formatted_answer(item: Item) -> str:
    """A valid answer for a text item with a format, within its bounds."""
    assert item.format is not None
    value = FORMAT_SAMPLES[item.format]
    if not in_bounds(item.format, value, item.format_min, item.format_max):
        value = item.format_min or item.format_max or value
    return value


class StatementCount:
    """Counts the SQL statements every engine of this process sends while the block runs.

    A listener on SQLAlchemy's ``before_cursor_execute`` event of the Engine class, so it sees
    the statements of a live server's engine (run in its own thread) as well as the test's.
    """

    def __init__(self) -> None:
        self.statements: list[str] = []

    def _seen(self, *args: object) -> None:
        self.statements.append(str(args[2]))  # (conn, cursor, statement, ...)

    def __enter__(self) -> StatementCount:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.remove(Engine, "before_cursor_execute", self._seen)

    @property
    def count(self) -> int:
        """How many statements were sent."""
        return len(self.statements)


HIDDEN_FIELD = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def form_on(page: str, action: str, fields: Mapping[str, str]) -> dict[str, str]:
    """The form of ``page`` (HTML) that posts to ``action`` as a browser sends it: its hidden
    fields (CSRF token, date, submission id; on Today the trial and "later" when shown) with
    ``fields`` filled in."""
    start = page.index(f'action="{action}"')
    hidden = dict(HIDDEN_FIELD.findall(page[start : page.index("</form>", start)]))
    assert "csrf_token" in hidden, page[start : start + 300]
    return {**hidden, **fields}
