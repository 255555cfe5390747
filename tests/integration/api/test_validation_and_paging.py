"""Out-of-range values answer 422 naming the field; lists come in cursor pages of at most 100."""

from __future__ import annotations

import datetime as dt

import httpx

from helpers import Clinic, FixedClock
from integration.api.live import Login
from microtrial.services import records


def fields_of(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 422, answer.text
    return [error["field"] for error in answer.json()["detail"]]


OUT_OF_RANGE: list[tuple[dict[str, object], str]] = [
    ({"local_date": "2026-03-01", "answers": {"average_pain": 11}}, "daily_diary.average_pain"),
    ({"local_date": "2026-03-01", "answers": {"average_pain": -1}}, "daily_diary.average_pain"),
    (
        {
            "local_date": "2026-03-01",
            "instrument_id": "home_bp",
            "answers": {"systolic": 400, "diastolic": 10},
        },
        "home_bp.systolic",
    ),
    (
        {
            "local_date": "2026-03-01",
            "instrument_id": "home_bp",
            "answers": {"systolic": 120, "diastolic": 10},
        },
        "home_bp.diastolic",
    ),
    ({"local_date": "2026-03-03", "answers": {"average_pain": 3}}, "date"),
    ({"local_date": "not-a-date", "answers": {"average_pain": 3}}, "local_date"),
    ({"local_date": "2026-03-01", "answers": {"average_pain": 3}, "mood": 1}, "mood"),
]


def test_out_of_range_diary_values_name_the_field(
    api: httpx.Client, login: Login, clinic: Clinic
) -> None:
    pid = clinic.patients["A-001"].id
    url = f"/patients/{pid}/diary-entries"
    found = [
        (fields_of(api.post(url, json=body, headers=login("p_A-001"))), field)
        for body, field in OUT_OF_RANGE
    ]
    # the field is named first; the answers refused beside it too (a form marks all at once)
    assert [got[0] for got, _ in found] == [field for _, field in found]
    assert [got[1:] for got, _ in found] == [[], [], ["home_bp.diastolic"]] + [[]] * 4
    assert api.get(url, headers=login("p_A-001")).json()["items"] == []


def test_out_of_range_adverse_events_name_the_field(
    api: httpx.Client, login: Login, clinic: Clinic
) -> None:
    pid = clinic.patients["A-001"].id
    url = f"/patients/{pid}/adverse-events"
    headers = login("clinician_sitea")
    grade = api.post(
        url, json={"term": "rash", "grade": 6, "onset_date": "2026-03-01"}, headers=headers
    )
    assert fields_of(grade) == ["grade"]
    future = api.post(
        url, json={"term": "rash", "grade": 1, "onset_date": "2026-04-01"}, headers=headers
    )
    assert fields_of(future) == ["onset_date"]


def test_lists_page_with_cursors(
    api: httpx.Client, login: Login, clinic: Clinic, clock: FixedClock
) -> None:
    pid = clinic.patients["A-001"].id
    start = dt.date(2025, 9, 1)
    records.record_diary_entries(
        clinic.db,
        clinic.actors["p_A-001"],
        pid,
        [
            records.DiaryInput(
                local_date=start + dt.timedelta(days=i), answers={"average_pain": i % 11}
            )
            for i in range(130)
        ],
        clock=clock,
    )
    headers = login("p_A-001")
    url = f"/patients/{pid}/diary-entries"
    assert fields_of(api.get(url, params={"limit": 101}, headers=headers)) == ["limit"]
    assert fields_of(api.get(url, params={"cursor": "!!"}, headers=headers)) == ["cursor"]
    dates: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = api.get(url, params=params, headers=headers).json()
        assert len(page["items"]) <= 100
        dates += [e["local_date"] for e in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 2
    assert dates == sorted(dates)
    assert len(set(dates)) == 130
    assert api.get(url, headers=headers).json()["next_cursor"] is not None  # default page is 50
