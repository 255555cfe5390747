"""An analysis warning stored in English reaches a reader of another language in that language."""

from __future__ import annotations

import pytest

from microtrial import i18n
from microtrial.analysis.completeness import PeriodPlan, assess_counts
from microtrial.analysis.continuous import FLAG_RHO_UNCERTAIN, FLAG_TEXT
from microtrial.reports.trial_prose import analysis_note

PERIODS = {n: PeriodPlan(block=(n + 1) // 2, analysable_days=12) for n in (1, 2, 3, 4)}


def _warnings() -> tuple[str, ...]:
    """Every completeness warning at once: one of two pairs complete, few placebo days, a pause."""
    done = assess_counts({1: 12, 2: 12, 3: 2, 4: 0}, {"active": 14, "placebo": 11}, 5, PERIODS)
    assert len(done.warnings) == 3
    return done.warnings


@pytest.mark.parametrize("language", ["es", "de", "nl", "pt"])
def test_completeness_warnings_are_translated_with_their_numbers(language: str) -> None:
    english = _warnings()
    with i18n.speaking(language):
        shown = [analysis_note(w) for w in english]
    for before, after in zip(english, shown, strict=True):
        assert after != before
        numbers = [w for w in before.replace("(", " ").replace(")", " ").split() if w.isdigit()]
        assert numbers
        assert all(n in after for n in numbers), (before, after)


def test_english_readers_get_the_stored_words() -> None:
    english = _warnings()
    with i18n.speaking("en"):
        assert [analysis_note(w) for w in english] == list(english)
    assert english[1].startswith("The placebo periods have only 11 analysed diary day(s)")


def test_a_flagged_outcome_is_translated_on_the_result_page_and_report() -> None:
    flag = FLAG_TEXT[FLAG_RHO_UNCERTAIN]
    note = f"pain: 1 of 1 trial(s) flagged ({flag}); see the 'warning' column"
    with i18n.speaking("de"):
        shown = analysis_note(note)
    assert shown.startswith("pain: ")
    assert i18n.gettext(flag, "de") in shown
    assert flag not in shown
