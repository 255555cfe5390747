"""Refused forms over HTTP: each staff and patient form comes back with what was typed and the
error beside its field, named by its label (never an internal id), instead of an error page."""

from __future__ import annotations

import html
import re

import httpx

from e2e.setup import plan_for
from helpers import Clinic, FixedClock
from integration.api.live import PASSWORD, LiveServer
from integration.api.test_pages import csrf_of, database_url, sign_in
from microtrial.domain.actors import Actor, system_actor
from microtrial.services import admin, alerts, trial_allocation, trial_lifecycle, trial_views

__all__ = ["database_url"]  # SQLite only, like the other page tests


def field_error(page: httpx.Response, control_id: str) -> str:
    """The message beside control ``control_id``; it must be tied to the control."""
    found = re.search(rf'<p class="field-error" id="{control_id}-error">([^<]*)</p>', page.text)
    assert found, f"no error beside {control_id}: {page.text[:4000]}"
    assert f'aria-describedby="{control_id}-error"' in page.text
    return html.unescape(found.group(1))


def visible(page: str) -> str:
    """The text a person reads on a page (no tags, attributes or scripts)."""
    page = re.sub(r"<script.*?</script>", " ", page, flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def post_form(client: httpx.Client, page: str, action: str, data: dict[str, str]) -> httpx.Response:
    """Post ``data`` to ``action`` with the CSRF token of ``page``."""
    return client.post(action, data={**data, "csrf_token": csrf_of(client.get(page))})


def test_enrolment_keeps_what_was_typed(server: LiveServer, clinic: Clinic) -> None:
    del clinic
    doc = sign_in(server.url, "clinician_sitea")
    typed = {
        "study_code": "A-900",
        "birth_year": "1975",
        "sex": "male",
        "time_zone": "Mars/Olympus",
        "conditions": "G43.909",
    }
    refused = post_form(doc, "/clinic/enrol", "/clinic/enrol", typed)
    assert refused.status_code == 422
    assert field_error(refused, "time_zone").startswith("Time zone: unknown time zone")
    assert "tz:" not in refused.text
    assert 'value="A-900"' in refused.text
    assert 'value="Mars/Olympus"' in refused.text
    assert re.search(r'id="sex-male"[^>]* checked', refused.text)
    duplicate = post_form(
        doc, "/clinic/enrol", "/clinic/enrol", {**typed, "study_code": "A-001", "time_zone": "UTC"}
    )
    assert duplicate.status_code == 409
    assert field_error(duplicate, "study_code").startswith("Study code: patient 'A-001'")
    assert 'value="A-001"' in duplicate.text
    assert 'value="1975"' in duplicate.text


def test_patient_page_forms_keep_input(server: LiveServer, clinic: Clinic) -> None:
    pid = clinic.patients["A-001"].id
    doc = sign_in(server.url, "clinician_sitea")
    page = f"/clinic/patients/{pid}"
    long_name = "x" * 201
    refused = post_form(doc, page, f"{page}/medications", {"name": long_name})
    assert refused.status_code == 422
    assert field_error(refused, "med-name").startswith("Medication: empty or too long")
    assert f'value="{long_name}"' in refused.text

    screened = post_form(doc, page, f"{page}/screenings", {"substance": "psilocybin"})
    assert screened.status_code == 303
    record = re.search(r'name="record_id" value="([^"]+)"', doc.get(page).text)
    assert record, "a clinician-review screening offers a sign-off form"
    sign_off = f"{page}/screenings/psilocybin/sign-off"
    blank = post_form(doc, page, sign_off, {"record_id": record.group(1), "reason": "  "})
    assert blank.status_code == 422
    assert field_error(blank, "signoff-psilocybin") == (
        "Reason for clearing this screening: a sign-off needs a reason"
    )
    stale = post_form(doc, page, sign_off, {"record_id": "old", "reason": "seen in clinic"})
    assert stale.status_code == 409
    assert ">seen in clinic</textarea>" in stale.text  # typed reason kept, error at the form
    assert "Screening: it changed since the page was loaded" in stale.text


def test_alert_acknowledgement_keeps_the_form(server: LiveServer, clinic: Clinic) -> None:
    patient = sign_in(server.url, "p_A-001")
    phq9 = {f"phq9.q{n}": "0" for n in range(1, 9)} | {"phq9.q9": "1"}
    form = {**phq9, "local_date": "2026-03-02", "submission_id": "phq9abcdef12"}
    assert post_form(patient, "/questionnaires/phq9", "/questionnaires/phq9", form).is_success
    (alert,) = alerts.list_alerts(clinic.db, clinic.actors["clinician_sitea"])
    doc = sign_in(server.url, "clinician_sitea")
    refused = post_form(doc, "/clinic/alerts", f"/clinic/alerts/{alert.id}/acknowledge", {})
    assert refused.status_code == 422
    assert field_error(refused, f"note-{alert.id}").startswith(
        "What was done: an acknowledgement needs a note"
    )
    # with a note it is done, and the page says what became of the alert
    done = post_form(
        doc, "/clinic/alerts", f"/clinic/alerts/{alert.id}/acknowledge", {"note": "called"}
    )
    assert done.status_code == 303, done.text[:300]
    assert done.headers["location"] == f"/clinic/alerts?acknowledged={alert.id}"
    shown = doc.get(done.headers["location"])
    assert "Alert acknowledged: it is kept, with your note, under" in visible(shown.text)


def test_trial_forms_and_twice_weekly_planning(server: LiveServer, clinic: Clinic) -> None:
    pid = clinic.patients["A-002"].id
    doc = sign_in(server.url, "clinician_sitea")
    new = f"/clinic/patients/{pid}/trials/new"
    form = doc.get(new)
    assert 'data-weekdays="2"' in form.text  # the regimen that needs weekdays is marked
    assert 'name="weekday_mon"' in form.text  # the boxes are there without a script
    plan = {
        "template": "twice_weekly",
        "substance": "lsd",
        "amount": "10",
        "unit": "µg",
        "start_date": "2026-03-09",
        "weekday_mon": "on",
    }
    one_day = post_form(doc, new, f"/clinic/patients/{pid}/trials", plan)
    assert one_day.status_code == 422
    message = field_error(one_day, "weekdays")
    assert message.startswith("Dose weekdays: ")
    assert "twice_weekly" not in message
    assert re.search(r'name="weekday_mon" value="on" checked', one_day.text)
    assert re.search(r'<option value="twice_weekly" data-weekdays="2" selected', one_day.text)
    assert 'value="10"' in one_day.text
    planned = post_form(doc, new, f"/clinic/patients/{pid}/trials", {**plan, "weekday_thu": "on"})
    assert planned.status_code == 303, planned.text[:3000]
    (trial,) = trial_views.list_trials(clinic.db, clinic.actors["clinician_sitea"], patient_id=pid)
    assert trial.regimen_name == "twice_weekly"
    calendar = trial_views.trial_calendar(clinic.db, clinic.actors["clinician_sitea"], trial.id)
    dose_days = {d.date.weekday() for d in calendar.days if d.is_dose_day}
    assert dose_days == {0, 3}

    url = f"/clinic/trials/{trial.id}"
    move = {"action": "withdraw", "lock_version": str(trial.lock_version), "reason": ""}
    refused = post_form(doc, url, f"{url}/transitions", move)
    assert refused.status_code == 422
    assert field_error(refused, "reason-withdraw").startswith("Reason: withdraw needs a reason")
    stale = post_form(doc, url, f"{url}/transitions", {**move, "lock_version": "0", "reason": "x"})
    assert stale.status_code == 412
    assert "someone changed this since the page was loaded" in stale.text
    assert "version:" not in stale.text


def test_admin_forms_keep_input(server: LiveServer, clinic: Clinic) -> None:
    admin.add_user(
        clinic.db,
        system_actor("test"),
        site_code="SITEA",
        role="admin",
        username="forms_admin",
        password=PASSWORD,
    )
    doc = sign_in(server.url, "forms_admin")
    user = {
        "site": "SITEA",
        "role": "clinician",
        "username": "dr_new",
        "password": "short",
        "email": "dr@example.org",
    }
    refused = post_form(doc, "/admin", "/admin/users", user)
    assert refused.status_code == 422
    assert field_error(refused, "user-password").startswith("Initial password: is too short")
    assert 'value="dr_new"' in refused.text
    assert 'value="dr@example.org"' in refused.text
    assert '<option value="SITEA" selected' in refused.text
    assert "short" not in re.findall(r'value="([^"]*)"', refused.text)  # no password echoed
    patient = post_form(doc, "/admin", "/admin/users", {**user, "role": "patient"})
    assert field_error(patient, "user-patient").startswith("Patient study code: ")
    # a refused lifecycle change comes back beside its field too (the password is not kept)
    short = post_form(
        doc, "/admin", "/admin/users/password", {"username": "forms_admin", "password": "x"}
    )
    assert short.status_code == 422
    assert field_error(short, "password-new").startswith("New password: ")
    assert 'value="x"' not in short.text
    # the status form deactivates and reactivates; oneself is refused beside the form
    active = {u.username: u.is_active for u in admin.list_users(clinic.db, doc_actor(clinic))}
    assert active["clinician_sitea"]
    for do, expected in (("deactivate", False), ("reactivate", True)):
        done = post_form(
            doc, "/admin", "/admin/users/status", {"username": "clinician_sitea", "do": do}
        )
        assert done.status_code == 303, done.text[:3000]
        now = {u.username: u.is_active for u in admin.list_users(clinic.db, doc_actor(clinic))}
        assert now["clinician_sitea"] is expected
    myself = post_form(
        doc, "/admin", "/admin/users/status", {"username": "forms_admin", "do": "deactivate"}
    )
    assert myself.status_code == 422
    assert "your own account" in myself.text


def doc_actor(clinic: Clinic) -> Actor:
    """The site administrator the admin-form test signs in as."""
    return admin.user_actor(clinic.db, "forms_admin")


def test_patient_words(server: LiveServer, clinic: Clinic) -> None:
    del clinic
    patient = sign_in(server.url, "p_A-001")
    page = patient.get("/today").text
    # side effects in plain words, mapped to grades 0-3; never "Grade 5 death"
    assert re.search(r'<option value="3"\s*>Severe</option>', page)
    assert not re.search(r'<option value="[45]"', page)
    today = visible(page)
    for word in ("Grade", "death", "CTCAE", "SQS", "project-authored", "daily_diary", "GI "):
        assert word not in today, word
    mood = visible(patient.get("/questionnaires/phq9").text)
    assert "not summed" not in mood
    assert "phq9" not in mood.replace("(PHQ-9)", "")

    form = {"local_date": "2026-03-02", "submission_id": "words0000001"}
    refused = post_form(patient, "/today", "/today", {**form, "daily_diary.sleep_quality": "6"})
    assert refused.status_code == 422
    # the summary names the question; beside it, printed just above, the message is short
    assert field_error(refused, "daily-diary-average-pain") == "Please answer this question"
    assert (
        "Please check:</strong> Average pain in the last 24 hours (0 = no pain, 10 = worst "
        "pain imaginable): please answer this question" in refused.text
    )
    assert re.search(r'id="daily-diary-sleep-quality-6"[^>]*checked', refused.text)
    grade5 = {**form, "daily_diary.average_pain": "3", "ae_checklist.anxiety": "5"}
    refused = post_form(patient, "/today", "/today", grade5)
    assert refused.status_code == 422
    assert field_error(refused, "ae-checklist-anxiety") == (
        "Anxiety or restlessness: choose one of the answers"
    )
    saved = post_form(patient, "/today", "/today", {**form, "daily_diary.average_pain": "3"})
    assert saved.status_code == 303
    after = patient.get(saved.headers["location"]).text
    assert visible(after).count("saved") == 1  # the notice once (script words aside)
    assert "Today's diary is saved" in after


def test_history_questions_are_asked_in_words(server: LiveServer, clinic: Clinic) -> None:
    doc = sign_in(server.url, "clinician_sitea")
    page = visible(doc.get(f"/clinic/patients/{clinic.patients['A-001'].id}/history").text)
    assert "Seizure disorder, epilepsy or any history of seizures?" in page
    assert "Currently pregnant?" in page
    assert "Seizure history" not in page  # not the flag's id


def test_kit_sheet_records_each_pharmacy_step(
    server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    trial = plan_for(clinic, clock)
    trial_lifecycle.transition(
        clinic.db, clinic.actors["clinician_sitea"], trial.id, "schedule", clock=clock
    )
    code = trial.periods[0].kit_code
    staff = sign_in(server.url, "unblinded_staff_sitea")
    sheet = f"/pharmacy/trials/{trial.id}/kits"
    too_many = post_form(staff, sheet, f"{sheet}/{code}/prepared", {"capsules": "400"})
    assert too_many.status_code == 422
    assert 'id="kit-error"' in too_many.text
    assert 'value="400"' in too_many.text
    for step in ("prepared", "dispensed"):
        done = post_form(staff, sheet, f"{sheet}/{code}/{step}", {"capsules": "5"})
        assert done.status_code == 303, done.text[:3000]
    prep = trial_allocation.kit_preparation(
        clinic.db, clinic.actors["unblinded_staff_sitea"], trial.id, clock=clock
    )
    kits = {k.code: k for k in prep.kits}
    assert (kits[code].prepared_capsules, kits[code].dispensed_capsules) == (5, 5)
    forged = post_form(staff, sheet, f"{sheet}/{code}/returned", {"capsules": "5"})
    assert forged.status_code == 422
    assert "dispensed, prepared" in forged.text


def test_an_empty_sign_in_shows_the_form_again_saying_what_is_missing(
    server: LiveServer, clinic: Clinic
) -> None:
    del clinic
    with httpx.Client(base_url=server.url) as anyone:
        page = anyone.get("/login")
        empty = anyone.post("/login", data={"csrf_token": csrf_of(page)})
        only_name = anyone.post(
            "/login", data={"csrf_token": csrf_of(page), "username": "clinician_sitea"}
        )
    for answer in (empty, only_name):
        assert answer.status_code == 422
        assert "Please enter your username and your password." in answer.text
        assert 'name="password"' in answer.text  # the form, not a bare error page
    assert 'value="clinician_sitea"' in only_name.text
