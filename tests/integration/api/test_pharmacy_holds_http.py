"""The pharmacy hands out no kit while the patient may not dose, through the real server: a trial
paused by an urgent alert, paused after the alert is acknowledged, and withdrawn; kits may still be
prepared ahead, and the list and kit sheet say why in words with no clinical detail."""

from __future__ import annotations

import httpx

from helpers import Clinic, FixedClock
from integration.api.live import LiveServer, Login
from integration.api.test_holds_http import _trial_id, _web
from integration.test_alert_sweep import running_trial

HELD = "Dosing held: open safety alert — do not hand out kits."
PAUSED = "Trial paused — do not hand out kits until a clinician resumes it."
CLINICAL = ("bp-crisis", "blood pressure", "210", "125")  # what the pharmacist must not read


def _form_post(web: httpx.Client, trial_id: int, kit: str, step: str, n: int) -> httpx.Response:
    """A kit step through the kit sheet's form, as the pharmacist's browser sends it."""
    page = web.get(f"/pharmacy/trials/{trial_id}/kits").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    return web.post(
        f"/pharmacy/trials/{trial_id}/kits/{kit}/{step}",
        data={"capsules": str(n), "csrf_token": token},
    )


def _move(api: httpx.Client, doc: dict[str, str], trial_id: int, action: str) -> None:
    """The clinician moves the trial (resume, withdraw) through the API."""
    etag = api.get(f"/trials/{trial_id}", headers=doc).headers["etag"]
    body = {"action": action, "reason": "reviewed with the patient"}
    moved = api.post(
        f"/trials/{trial_id}/transitions", json=body, headers={**doc, "If-Match": etag}
    )
    assert moved.status_code == 200, moved.text


def test_no_kit_is_handed_out_while_dosing_is_held_paused_or_ended(
    api: httpx.Client, login: Login, server: LiveServer, clinic: Clinic, clock: FixedClock
) -> None:
    pid = running_trial(clinic, clock, "A-001", run_in=0)
    trial_id = _trial_id(clinic)
    staff, me, doc = login("unblinded_staff_sitea"), login("p_A-001"), login("clinician_sitea")
    sheet = api.get(f"/trials/{trial_id}/kits", headers=staff).json()
    assert sheet["hold"] is None
    kits = [(k["code"], len(k["dose_days"])) for k in sheet["kits"]]
    for code, n in kits[:2]:
        body = {"kit_code": code, "capsules": n}
        done = api.post(f"/trials/{trial_id}/kits/prepared", json=body, headers=staff)
        assert done.status_code == 200, done.text

    # BP 210/125: an urgent stop alert pauses the trial.
    bp = {
        "local_date": clock().date().isoformat(),
        "answers": {"systolic": 210, "diastolic": 125},
        "instrument_id": "home_bp",
    }
    posted = api.post(f"/patients/{pid}/diary-entries", json=bp, headers=me)
    assert posted.status_code == 201, posted.text

    first = {"kit_code": kits[0][0], "capsules": kits[0][1]}
    refused = api.post(f"/trials/{trial_id}/kits/dispensed", json=first, headers=staff)
    assert refused.status_code == 423, refused.text
    assert "held by an open safety alert" in refused.text
    assert not any(word in refused.text.lower() for word in CLINICAL)
    # Preparing ahead stays allowed, with the whole period's capsules (the pause cuts none).
    third = {"kit_code": kits[2][0], "capsules": kits[2][1]}
    assert api.post(f"/trials/{trial_id}/kits/prepared", json=third, headers=staff).is_success
    sheet = api.get(f"/trials/{trial_id}/kits", headers=staff).json()
    assert (sheet["status"], sheet["hold"]) == ("paused", "alert")
    assert [(k["code"], len(k["dose_days"])) for k in sheet["kits"]] == kits
    assert all(n > 0 for _, n in kits)

    with _web(server, "unblinded_staff_sitea") as web:
        listed = web.get("/pharmacy/kits").text
        row = listed.split(f'data-trial="{trial_id}"')[1].split("</tr>")[0]
        assert HELD in row
        assert "When the trial resumes" in row  # no stale planned date while paused
        assert "/clinic/trials/" not in listed  # no link the pharmacist cannot use
        page = web.get(f"/pharmacy/trials/{trial_id}/kits").text
        assert HELD in page
        assert "Capsules needed (one per dose day)" in page
        assert f"/kits/{kits[0][0]}/dispensed" not in page  # no form to hand it out
        for text in (listed, page):
            assert not any(word in text.lower() for word in CLINICAL)
        by_form = _form_post(web, trial_id, kits[0][0], "dispensed", kits[0][1])
        assert by_form.status_code == 423
        assert "held by an open safety alert" in by_form.text

    # The clinician acknowledges the alerts: still paused until resumed.
    for alert in api.get("/alerts", headers=doc).json()["items"]:
        done = api.post(f"/alerts/{alert['id']}/acknowledge", json={"note": "ok"}, headers=doc)
        assert done.status_code == 200, done.text
    paused = api.post(f"/trials/{trial_id}/kits/dispensed", json=first, headers=staff)
    assert paused.status_code == 423
    assert f"trial {trial_id} is paused" in paused.text
    with _web(server, "unblinded_staff_sitea") as web:
        assert PAUSED in web.get(f"/pharmacy/trials/{trial_id}/kits").text

    clock.advance(days=1)
    _move(api, doc, trial_id, "resume")
    handed = api.post(f"/trials/{trial_id}/kits/dispensed", json=first, headers=staff)
    assert handed.status_code == 200, handed.text
    with _web(server, "unblinded_staff_sitea") as web:
        row = web.get("/pharmacy/kits").text.split(f'data-trial="{trial_id}"')[1]
        assert "do not hand out" not in row.split("</tr>")[0]

    _move(api, doc, trial_id, "withdraw")
    second = {"kit_code": kits[1][0], "capsules": kits[1][1]}
    ended = api.post(f"/trials/{trial_id}/kits/dispensed", json=second, headers=staff)
    assert ended.status_code == 423
    assert "has ended (withdrawn)" in ended.text
    # A withdrawn trial has no kit sheet any more (its kits are not the pharmacy's work).
    assert api.get(f"/trials/{trial_id}/kits", headers=staff).status_code == 409
