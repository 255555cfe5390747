"""No 500 on any input, on SQLite and PostgreSQL (issue 16, finding 13).

A dose time in year 1 with a +14:00 offset (year 0 in UTC), a NUL byte in a medication name or an
adverse-event term, a control character in a query string or a web form: each is a 422 naming
the field. Hypothesis then throws generated text (control characters included) and times over
the whole datetime range at the same fields; no answer may be a 5xx.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import Clinic, FixedClock
from integration.api.live import LiveServer, Login
from integration.api.test_holds_http import _trial_id, _web
from integration.test_alert_sweep import running_trial
from microtrial.domain.inputs import MAX_YEAR, MIN_YEAR

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
EXAMPLES = {"sqlite": 40, "postgresql": 15}
FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Text with a good share of control characters (NUL above all) among ordinary letters.
TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from("\x00\x01\x07\x0b\x1b\x7f\t\n"), st.characters(codec="utf-8")
    ),
    min_size=1,
    max_size=30,
).filter(lambda s: s.strip() != "")
# Aware times over datetime's whole range, at offsets from -14:00 to +14:00.
OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
MOMENTS = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)).map(
    lambda d: d.replace(microsecond=0)
)


def _fields(answer: httpx.Response) -> list[str]:
    return [e["field"] for e in answer.json()["detail"]]


def _engine(database_url: str) -> str:
    return "postgresql" if database_url.startswith("postgresql") else "sqlite"


def _in_range(moment: dt.datetime) -> bool:
    years = {moment.year}
    try:
        years.add(moment.astimezone(dt.UTC).year)
    except OverflowError:
        return False
    return min(years) >= MIN_YEAR and max(years) <= MAX_YEAR


@pytest.fixture
def trial(clinic: Clinic, clock: FixedClock) -> dict[str, Any]:
    """A running trial of A-001 (started today, no run-in) and its first kit code."""
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    trial_id = _trial_id(clinic)
    from microtrial.services import trial_views

    doc = clinic.actors["clinician_sitea"]
    kit = trial_views.get_trial(clinic.db, doc, trial_id).periods[0].kit_code
    return {"patient_id": pid, "trial_id": trial_id, "kit_code": kit}


def test_a_dose_time_whose_year_overflows_in_utc_is_a_422(
    api: httpx.Client, login: Login, trial: dict[str, Any]
) -> None:
    me = login("p_A-001")
    url = f"/trials/{trial['trial_id']}/doses"
    for taken_at in ("0001-01-01T00:00+14:00", "9999-12-31T23:59-14:00", "1066-10-14T09:00Z"):
        answer = api.post(
            url, json={"taken_at": taken_at, "kit_code": trial["kit_code"]}, headers=me
        )
        assert answer.status_code == 422, (taken_at, answer.text)
        assert _fields(answer) == ["taken_at"]
        assert "out of range" in answer.text


def test_nul_in_a_medication_name_or_adverse_event_term_is_a_422(
    api: httpx.Client, login: Login, trial: dict[str, Any]
) -> None:
    doc = login("clinician_sitea")
    pid = trial["patient_id"]
    medication = api.post(
        f"/patients/{pid}/medications", json={"name": "Ibu\x00profen 400 mg"}, headers=doc
    )
    assert medication.status_code == 422, medication.text
    assert _fields(medication) == ["name"]
    event = {"term": "nau\x00sea", "grade": 1, "onset_date": "2026-03-01"}
    answer = api.post(f"/patients/{pid}/adverse-events", json=event, headers=doc)
    assert answer.status_code == 422, answer.text
    assert _fields(answer) == ["term"]
    # Ordinary text with a tab and a line break is still text.
    fine = api.post(f"/patients/{pid}/medications", json={"name": "Ibuprofen\t400 mg"}, headers=doc)
    assert fine.status_code == 201, fine.text


def test_control_characters_in_a_query_or_a_web_form_are_a_422(
    api: httpx.Client, login: Login, server: LiveServer, trial: dict[str, Any]
) -> None:
    doc = login("clinician_sitea")
    for path in ("/worklist", "/patients"):
        answer = api.get(path, params={"q": "A-0\x00"}, headers=doc)
        assert answer.status_code == 422, (path, answer.text)
        assert _fields(answer) == ["q"]
    with _web(server, "clinician_sitea") as web:
        assert web.get("/clinic/patients", params={"q": "A\x00"}).status_code == 422
        url = f"/clinic/trials/{trial['trial_id']}"
        page = web.get(url).text
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        form = {"csrf_token": token, "action": "pause", "reason": "flu\x00", "lock_version": "1"}
        posted = web.post(f"{url}/transitions", data=form)
        assert posted.status_code == 422, posted.text
        assert "reason" in posted.text.lower()  # the field, named by its label


def test_fuzzed_text_never_gives_a_500(
    api: httpx.Client, login: Login, trial: dict[str, Any], database_url: str
) -> None:
    doc = login("clinician_sitea")
    pid = trial["patient_id"]
    posts = {
        "name": (f"/patients/{pid}/medications", lambda v: {"name": v}),
        "term": (
            f"/patients/{pid}/adverse-events",
            lambda v: {"term": v, "grade": 1, "onset_date": "2026-03-01"},
        ),
        "note": (
            f"/patients/{pid}/diary-entries",
            lambda v: {"local_date": "2026-03-01", "answers": {"average_pain": 3}, "note": v},
        ),
        "answers": (
            f"/patients/{pid}/diary-entries",
            lambda v: {"local_date": "2026-03-01", "answers": {"average_pain": v}},
        ),
    }

    @settings(FUZZ, max_examples=EXAMPLES[_engine(database_url)])
    @given(field=st.sampled_from(sorted(posts)), value=TEXT)
    def one(field: str, value: str) -> None:
        path, body = posts[field]
        answer = api.post(path, json=body(value), headers=doc)
        assert answer.status_code < 500, (field, repr(value), answer.text)
        if CONTROL.search(value):
            assert answer.status_code == 422, (field, repr(value), answer.text)
            assert field in _fields(answer)

    one()


def test_fuzzed_times_and_dates_never_give_a_500(
    api: httpx.Client, login: Login, trial: dict[str, Any], database_url: str
) -> None:
    me, doc = login("p_A-001"), login("clinician_sitea")
    pid, trial_id = trial["patient_id"], trial["trial_id"]

    @settings(FUZZ, max_examples=EXAMPLES[_engine(database_url)])
    @given(moment=MOMENTS, zone=OFFSETS)
    def one(moment: dt.datetime, zone: dt.timezone) -> None:
        aware = moment.replace(tzinfo=zone)
        dose = {"taken_at": aware.isoformat(), "kit_code": trial["kit_code"]}
        answer = api.post(f"/trials/{trial_id}/doses", json=dose, headers=me)
        assert answer.status_code < 500, (aware, answer.text)
        if not _in_range(aware):
            assert answer.status_code == 422, answer.text
            assert _fields(answer) == ["taken_at"]
        day = moment.date().isoformat()
        for path, body, headers in (
            (
                f"/patients/{pid}/adverse-events",
                {"term": "nausea", "grade": 1, "onset_date": day},
                doc,
            ),
            (f"/patients/{pid}/diary-entries", {"local_date": day, "answers": {}}, me),
            (
                f"/patients/{pid}/attacks",
                {
                    "instrument_id": "migraine_diary",
                    "started": moment.isoformat(),
                    "severity": 2,
                },
                me,
            ),
        ):
            answer = api.post(path, json=body, headers=headers)
            assert answer.status_code < 500, (path, body, answer.text)
            if not MIN_YEAR <= moment.year <= MAX_YEAR:
                assert answer.status_code == 422, (path, body, answer.text)

    one()
