"""A form with several mistakes says all of them at once, each beside its field (found by a QA
walk-through: the Today form refused one field at a time, so a patient on a phone fixed a
reading, sent it, and only then learnt that another answer was refused too)."""

from __future__ import annotations

import datetime as dt
import re

import httpx

from helpers import Clinic, FixedClock, form_on
from integration.api.live import LiveServer, Login
from integration.api.test_form_refusals import field_error, visible
from integration.api.test_pages import sign_in
from microtrial.services import records
from microtrial.services.records import DiaryInput


def test_today_marks_every_refused_answer_at_once_and_stores_nothing(
    server: LiveServer, clinic: Clinic
) -> None:
    patient = sign_in(server.url, "p_A-001")
    fields = {
        "daily_diary.average_pain": "4",
        "daily_diary.worst_pain": "14",
        "daily_diary.sleep_quality": "5",
        "home_bp.systolic": "400",
        "home_bp.diastolic": "10",
    }
    refused = patient.post("/today", data=form_on(patient.get("/today").text, "/today", fields))
    assert refused.status_code == 422
    invalid = re.findall(r'name="([^"]+)"[^>]*aria-invalid="true"', refused.text)
    assert set(invalid) == {"daily_diary.worst_pain", "home_bp.systolic", "home_bp.diastolic"}
    assert field_error(refused, "home-bp-systolic").startswith("Systolic blood pressure (mmHg)")
    assert field_error(refused, "home-bp-diastolic").startswith("Diastolic blood pressure (mmHg)")
    summary = visible(refused.text.split('class="error" role="alert"')[1].split("</div>")[0])
    for typed in ("value 14", "value 400", "value 10"):
        assert typed in summary
    assert 'value="400"' in refused.text  # kept as typed
    assert re.search(r'name="daily_diary.average_pain" value="4"[^>]* checked', refused.text)
    doc, pid = clinic.actors["clinician_sitea"], clinic.patients["A-001"].id
    assert records.list_diary_entries(clinic.db, doc, pid) == []


def test_the_api_lists_every_refused_answer(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    pid = clinic.patients["A-001"].id
    body = {
        "local_date": clock().date().isoformat(),
        "instrument_id": "daily_diary",
        "answers": {"average_pain": 15, "worst_pain": -1, "sleep_quality": 5},
    }
    refused = api.post(f"/patients/{pid}/diary-entries", json=body, headers=login("p_A-001"))
    assert refused.status_code == 422, refused.text
    fields = [d["field"] for d in refused.json()["detail"]]
    assert fields == ["daily_diary.average_pain", "daily_diary.worst_pain"]
    assert all(d["allowed"] for d in refused.json()["detail"])


def test_a_plausibility_rule_reads_as_its_sentence_not_the_items_ids(
    server: LiveServer, clinic: Clinic
) -> None:
    del clinic
    patient = sign_in(server.url, "p_A-001")
    fields = {"daily_diary.average_pain": "6", "daily_diary.worst_pain": "2"}
    refused = patient.post("/today", data=form_on(patient.get("/today").text, "/today", fields))
    assert refused.status_code == 422
    said = visible(refused.text.split('class="error" role="alert"')[1].split("</div>")[0])
    assert "worst pain must not be below average pain (2, 6)" in said
    assert "worst_pain" not in said
    assert "allowed:" not in said


def test_a_service_refusal_in_its_own_words_is_shown_in_the_patients_language(
    server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    """Found by the QA walk-through: a correction without a reason showed the Spanish label
    beside the English words "please say why the day is corrected"."""
    day = clock().date() - dt.timedelta(days=1)
    me, pid = clinic.actors["p_A-001"], clinic.patients["A-001"].id
    records.record_diary_entries(
        clinic.db, me, pid, [DiaryInput(day, {"average_pain": 5})], clock=clock
    )
    patient = sign_in(server.url, "p_A-001")
    account = patient.get("/account").text
    patient.post("/account", data=form_on(account, "/account", {"language": "es"}))
    action = f"/diary/{day.isoformat()}/correct"
    fields = {"daily_diary.average_pain": "4", "reason": " "}
    refused = patient.post(action, data=form_on(patient.get(action).text, action, fields))
    assert refused.status_code == 422, refused.text[:500]
    said = visible(refused.text)
    assert "diga por qué corrige el día" in said
    assert "please say why" not in said
