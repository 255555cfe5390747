"""Diary-history rules: the window each rule reads and the cause it names (stable on re-runs)."""

from __future__ import annotations

import datetime as dt

from microtrial.domain.trend_rules import (
    DiaryHistory,
    Episode,
    diary_trend_alerts,
    grade2_episodes,
    persistent_grade2_alerts,
)

START = dt.date(2026, 3, 1)


def day(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


def test_pain_flare_names_the_first_day_of_its_run() -> None:
    history = DiaryHistory(START, 7, pain={day(i): 2.0 for i in range(7)})
    for i in range(7, 11):
        history.pain[day(i)] = 6.0
    assert [c.cause for c in diary_trend_alerts(history, day(8))] == []  # two days only
    found = {c.alert.code: c.cause for c in diary_trend_alerts(history, day(9))}
    assert found["pain-flare"] == f"pain-flare:{day(7)}"
    later = {c.alert.code: c.cause for c in diary_trend_alerts(history, day(10))}
    assert later["pain-flare"] == found["pain-flare"]  # the same run: the same cause


def test_nothing_is_judged_during_the_run_in() -> None:
    history = DiaryHistory(START, 7, pain={day(i): 9.0 for i in range(7)})
    assert diary_trend_alerts(history, day(6)) == []


def test_headache_days_worsening_over_two_complete_weeks() -> None:
    history = DiaryHistory(START, 7)
    for i in range(7):
        history.headache[day(i)] = i < 2  # 2 headache days a week at baseline
    for i in range(7, 21):
        history.headache[day(i)] = (i - 7) % 7 < 3  # 3 a week: +50 %
    assert [c.alert.code for c in diary_trend_alerts(history, day(19))] == []  # week 2 not done
    [cause] = diary_trend_alerts(history, day(20))
    assert cause.alert.code == "headache-worsening"
    assert cause.cause == f"headache-worsening:{day(7)}"


def test_grade2_recurring_after_two_doses_or_lasting_eight_days() -> None:
    episodes = grade2_episodes([day(1), day(2), day(6)])
    assert [(e.onset, e.last) for e in episodes] == [(day(1), day(2)), (day(6), day(6))]
    assert persistent_grade2_alerts("nausea", episodes, [day(0)], day(6)) == []  # one dose
    [cause] = persistent_grade2_alerts("nausea", episodes, [day(0), day(4)], day(6))
    assert cause.cause == f"ae-grade-2-persistent:nausea:{day(6)}"
    ongoing = [Episode("ae-1", day(0), None)]
    assert persistent_grade2_alerts("rash", ongoing, [], day(6)) == []
    assert persistent_grade2_alerts("rash", ongoing, [], day(7))[0].cause.endswith(":ae-1")
