"""Two first submissions racing with one Idempotency-Key store one entry and both succeed."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

from helpers import Clinic, FixedClock
from microtrial.services import records
from microtrial.services.records import DiaryInput


def test_racing_replays_store_one_entry(clinic: Clinic, clock: FixedClock) -> None:
    me = clinic.actors["p_A-001"]
    pid = clinic.patients["A-001"].id
    entry = DiaryInput(
        clock().date() - dt.timedelta(days=1), {"average_pain": 4}, idempotency_key="phone-42"
    )

    def submit(_: int) -> int:
        return records.record_diary_entry(clinic.db, me, pid, entry, clock=clock).id

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(submit, range(16)))
    assert len(set(ids)) == 1
    assert len(records.list_diary_entries(clinic.db, me, pid)) == 1
