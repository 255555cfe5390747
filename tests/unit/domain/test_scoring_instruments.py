"""Scoring every shipped instrument against known answer sets, and its invariants."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from microtrial.domain.catalog import Instrument, Item, load_catalog
from microtrial.domain.scoring import ScoreResult, score, validate_answers
from microtrial.errors import ValidationError

CATALOG = load_catalog()
PHQ9_ITEMS = [f"q{i}" for i in range(1, 10)]
GAD7_ITEMS = [f"q{i}" for i in range(1, 8)]


def spread(total: int, items: list[str], top: int = 3) -> dict[str, int]:
    """Answers on a 0..top scale adding up to ``total``."""
    answers = {}
    for item in items:
        answers[item] = min(top, total)
        total -= answers[item]
    assert total == 0, "total larger than the scale allows"
    return answers


def values(result: ScoreResult) -> dict[str, float | None]:
    return {k: v.value for k, v in result.scores.items()}


def flag_ids(result: ScoreResult) -> set[str]:
    return {f.id for f in result.flags}


# ------------------------------------------------------------------ daily diary, PEG, PGIC


@pytest.mark.parametrize(
    ("pain", "band"), [(0, "none"), (1, "mild"), (3, "mild"), (4, "moderate"), (6, "moderate"),
                       (7, "severe"), (10, "severe")]
)  # fmt: skip
def test_daily_diary_average_pain_band(pain: int, band: str) -> None:
    result = score("daily_diary", {"average_pain": pain, "worst_pain": 10, "sleep_quality": 6,
                                   "dose_check_in": "taken"})  # fmt: skip
    assert result.primary.value == pain
    assert result.primary.band == band
    assert result.scores["worst_pain"].band == "severe"
    assert result.scores["sleep_quality"].value == 6


def test_daily_diary_optional_items_may_be_missing_but_not_required_one() -> None:
    result = score("daily_diary", {"average_pain": 5})
    assert result.scores["worst_pain"].value is None
    assert result.scores["worst_pain"].note == "not answered"
    with pytest.raises(ValidationError, match="required item not answered") as err:
        score("daily_diary", {"worst_pain": 5})
    assert err.value.field == "daily_diary.average_pain"


def test_daily_diary_dose_check_in_is_a_choice() -> None:
    with pytest.raises(ValidationError) as err:
        score("daily_diary", {"average_pain": 5, "dose_check_in": "maybe"})
    assert err.value.allowed == "taken, missed, not-scheduled"


@pytest.mark.parametrize(
    ("p", "e", "g", "mean"), [(6, 4, 5, 5), (7, 7, 8, 7.33), (0, 0, 0, 0), (10, 10, 10, 10)]
)
def test_peg3_mean(p: int, e: int, g: int, mean: float) -> None:
    assert score("peg3", {"p": p, "e": e, "g": g}).primary.value == mean


@pytest.mark.parametrize(
    ("rating", "band", "flags"),
    [
        (1, "very much improved", {"pgic-substantial", "pgic-moderately-important",
                                   "pgic-minimally-important"}),
        (2, "much improved", {"pgic-moderately-important", "pgic-minimally-important"}),
        (3, "minimally improved", {"pgic-minimally-important"}),
        (4, "no change", set()),
        (7, "very much worse", set()),
    ],
)  # fmt: skip
def test_pgic_bands_and_immpact_anchors(rating: int, band: str, flags: set[str]) -> None:
    result = score("pgic", {"change": rating})
    assert result.primary.band == band
    assert flag_ids(result) == flags


# ------------------------------------------------------------------ PHQ-9, PHQ-2, GAD-7


@pytest.mark.parametrize(
    ("total", "band"),
    [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"),
     (15, "moderately severe"), (19, "moderately severe"), (20, "severe"), (27, "severe")],
)  # fmt: skip
def test_phq9_total_and_band(total: int, band: str) -> None:
    answers = spread(total, PHQ9_ITEMS)
    result = score("phq9", answers)
    assert result.primary.value == total
    assert result.primary.band == band
    assert ("phq9-major-depression-cutoff" in flag_ids(result)) == (total >= 10)


def test_phq9_difficulty_item_is_not_summed() -> None:
    answers = dict.fromkeys(PHQ9_ITEMS, 1) | {"difficulty": 3}
    assert score("phq9", answers).primary.value == 9


def test_phq9_item9_flag_whatever_the_total() -> None:
    answers = dict.fromkeys(PHQ9_ITEMS, 0) | {"q9": 1}
    result = score("phq9", answers)
    assert result.primary.value == 1
    assert result.primary.band == "minimal"
    assert flag_ids(result) == {"phq9-item9-positive"}


def test_phq9_requires_every_item() -> None:
    answers = dict.fromkeys(PHQ9_ITEMS[:-1], 0)
    with pytest.raises(ValidationError) as err:
        score("phq9", answers)
    assert err.value.field == "phq9.q9"


@pytest.mark.parametrize(("q1", "q2", "positive"), [(2, 1, True), (1, 1, False), (3, 3, True)])
def test_phq2_positive_screen(q1: int, q2: int, positive: bool) -> None:
    result = score("phq2", {"q1": q1, "q2": q2})
    assert result.primary.value == q1 + q2
    assert ("phq2-positive-screen" in flag_ids(result)) == positive


@pytest.mark.parametrize(
    ("total", "band"),
    [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"),
     (15, "severe"), (21, "severe")],
)  # fmt: skip
def test_gad7_total_and_band(total: int, band: str) -> None:
    result = score("gad7", spread(total, GAD7_ITEMS))
    assert result.primary.value == total
    assert result.primary.band == band
    assert ("gad7-screen-cutoff" in flag_ids(result)) == (total >= 10)


# ------------------------------------------------------------------ fibromyalgia criteria


def acr_answers(instrument_id: str, painful: list[str], **others: Any) -> dict[str, Any]:
    instrument = CATALOG.instrument(instrument_id)
    answers: dict[str, Any] = {i.id: False for i in instrument.items if i.type == "boolean"}
    answers |= {i.id: 0 for i in instrument.items if i.type == "integer"}
    answers |= dict.fromkeys(painful, True)
    answers |= {"symptoms_3_months": True}
    if "no_other_explanation" in answers:
        answers["no_other_explanation"] = True
    answers |= others
    return answers


SEVEN = ["wpi_neck", "wpi_upper_back", "wpi_lower_back", "wpi_hip_left", "wpi_hip_right",
         "wpi_shoulder_girdle_left", "wpi_shoulder_girdle_right"]  # fmt: skip
ss5 = {"fatigue": 2, "waking_unrefreshed": 2, "cognitive_symptoms": 1}


@pytest.mark.parametrize(
    ("painful", "ss", "extra", "met"),
    [
        (SEVEN, ss5, {}, 1),  # WPI 7, SS 5
        (SEVEN[:3], {"fatigue": 3, "waking_unrefreshed": 3, "cognitive_symptoms": 3}, {}, 1),  # 3/9
        (SEVEN[:6], {"fatigue": 3, "waking_unrefreshed": 3, "cognitive_symptoms": 2}, {}, 0),  # 6/8
        (SEVEN[:2], {"fatigue": 3, "waking_unrefreshed": 3, "cognitive_symptoms": 3,
                     "somatic_symptoms": 3}, {}, 0),  # WPI 2, SS 12
        (SEVEN, ss5, {"symptoms_3_months": False}, 0),
        (SEVEN, ss5, {"no_other_explanation": False}, 0),
    ],
)  # fmt: skip
def test_acr_2010(painful: list[str], ss: dict[str, int], extra: dict[str, bool], met: int) -> None:
    result = score("acr_fm_2010", acr_answers("acr_fm_2010", painful, **ss, **extra))
    assert result.scores["wpi"].value == len(painful)
    assert result.primary.value == met


def test_acr_2010_somatic_rating_counts_in_ss() -> None:
    result = score("acr_fm_2010", acr_answers("acr_fm_2010", SEVEN, fatigue=1, somatic_symptoms=3))
    assert result.scores["ss"].value == 4
    assert result.primary.value == 0


def test_acr_2011_self_report_fs() -> None:
    answers = acr_answers("acr_fm_2011", [*SEVEN, "wpi_chest"], **ss5, headache_6m=True)
    result = score("acr_fm_2011", answers)
    assert values(result) == {"wpi": 8, "ss": 6, "fs": 14, "criteria_met": 1}
    assert flag_ids(result) == {"acr2011-fs-13", "acr2011-met"}


def test_acr_2011_fs_12_is_below_cut_off() -> None:
    result = score("acr_fm_2011", acr_answers("acr_fm_2011", SEVEN, **ss5))
    assert result.scores["fs"].value == 12
    assert "acr2011-fs-13" not in flag_ids(result)


def test_acr_2016_needs_generalised_pain() -> None:
    # WPI 7 but only axial pain (jaw, chest and abdomen do not count towards regions)
    axial = ["wpi_jaw_left", "wpi_jaw_right", "wpi_chest", "wpi_abdomen", "wpi_neck",
             "wpi_upper_back", "wpi_lower_back"]  # fmt: skip
    result = score("acr_fm_2016", acr_answers("acr_fm_2016", axial, **ss5))
    assert values(result) == {"wpi": 7, "sss": 5, "fs": 12, "generalized_regions": 1,
                              "criteria_met": 0}  # fmt: skip


def test_acr_2016_wpi_4_to_6_arm() -> None:
    four = [
        "wpi_shoulder_girdle_left",
        "wpi_shoulder_girdle_right",
        "wpi_hip_left",
        "wpi_hip_right",
    ]
    high_ss = {"fatigue": 3, "waking_unrefreshed": 3, "cognitive_symptoms": 2,
               "headache_6m": True}  # fmt: skip
    result = score("acr_fm_2016", acr_answers("acr_fm_2016", four, **high_ss))
    assert values(result) == {"wpi": 4, "sss": 9, "fs": 13, "generalized_regions": 4,
                              "criteria_met": 1}  # fmt: skip
    # WPI 3 meets 2010's lower arm (3-6) but not 2016's (4-6)
    three = score("acr_fm_2016", acr_answers("acr_fm_2016", four[:3], **high_ss))
    assert three.primary.value == 0


# ------------------------------------------------------------------ headache diaries


BASE_HEADACHE = {"headache": True, "headache_duration_minutes": 240}


@pytest.mark.parametrize(
    ("answers", "migraine"),
    [
        (BASE_HEADACHE | {"peak_severity": 2, "unilateral": True, "nausea_vomiting": True}, 1),
        (BASE_HEADACHE | {"pulsating": True, "aggravated_by_activity": True, "photophobia": True,
                          "phonophobia": True, "peak_severity": 1}, 1),
        (BASE_HEADACHE | {"pulsating": True, "photophobia": True, "peak_severity": 1}, 0),
        (BASE_HEADACHE | {"pulsating": True, "peak_severity": 3}, 0),  # C met, D not
        ({"headache": True, "headache_duration_minutes": 20, "peak_severity": 2,
          "unilateral": True, "nausea_vomiting": True}, 0),  # shorter than 30 min
        ({"headache": True, "headache_duration_minutes": 20,
          "migraine_specific_medication": True}, 1),  # treated with a triptan
        ({"headache": False, "aura": True, "aura_duration_minutes": 20}, 1),
        ({"headache": False, "aura": True, "aura_duration_minutes": 90}, 0),
        ({"headache": False}, 0),
    ],
)  # fmt: skip
def test_migraine_day_rule(answers: dict[str, Any], migraine: int) -> None:
    result = score("migraine_diary", answers)
    assert result.primary.value == migraine
    assert result.scores["headache_day"].value == int(answers["headache"])


@pytest.mark.parametrize(("attacks", "above"), [(0, False), (3, False), (8, False), (9, True)])
def test_cluster_attack_log(attacks: int, above: bool) -> None:
    result = score("cluster_attack_log", {"attack_count": attacks, "max_intensity": 8})
    assert result.primary.value == attacks
    assert ("cluster-above-ichd-frequency" in flag_ids(result)) == above


# ------------------------------------------------------------------ neuropathic, AE, BP


def test_neuropathic_mean_prorates_one_missing_item() -> None:
    full = {"burning": 4, "shooting": 6, "pins_and_needles": 3, "numbness": 2,
            "touch_evoked_pain": 5}  # fmt: skip
    assert score("neuropathic_symptoms", full).primary.value == 4
    one_missing = {k: v for k, v in full.items() if k != "touch_evoked_pain"}
    result = score("neuropathic_symptoms", one_missing)
    assert result.primary.value == 3.75
    assert result.primary.prorated
    two_missing = {k: v for k, v in one_missing.items() if k != "numbness"}
    result = score("neuropathic_symptoms", two_missing)
    assert result.primary.value is None
    assert result.primary.note == "2 of 5 items unanswered"


def test_ae_checklist_max_grade_and_count() -> None:
    result = score("ae_checklist", {"headache": 2, "nausea_gi": 1, "serious": False})
    assert values(result) == {"max_grade": 2, "events": 2}
    assert flag_ids(result) == {"ae-grade-2"}
    severe = score("ae_checklist", {"anxiety": 3})
    assert flag_ids(severe) == {"ae-grade-3-plus"}
    assert score("ae_checklist", {}).primary.value == 0


def test_home_bp_flags() -> None:
    result = score("home_bp", {"systolic": 150, "diastolic": 95, "pulse": 80})
    assert values(result) == {"systolic": 150, "diastolic": 95}
    assert flag_ids(result) == {"bp-stricter-threshold", "bp-diastolic-90"}
    assert score("home_bp", {"systolic": 118, "diastolic": 76}).flags == ()
    # a clinic reading is scored and flagged the same way
    clinic = score("clinic_bp", {"systolic": 150, "diastolic": 95})
    assert flag_ids(clinic) == {"bp-stricter-threshold", "bp-diastolic-90"}


# ------------------------------------------------------------------ errors


def test_unknown_item_is_an_error_naming_it() -> None:
    with pytest.raises(ValidationError, match="unknown item 'q10'") as err:
        score("phq9", dict.fromkeys(PHQ9_ITEMS, 0) | {"q10": 1})
    assert err.value.field == "phq9.q10"
    assert err.value.allowed is not None
    assert "q9" in err.value.allowed


@pytest.mark.parametrize("bad", [4, -1, True, "2", 1.5])
def test_wrong_values_name_item_value_and_range(bad: object) -> None:
    with pytest.raises(ValidationError) as err:
        score("phq9", dict.fromkeys(PHQ9_ITEMS, 0) | {"q3": bad})
    assert err.value.field == "phq9.q3"
    assert err.value.value == bad
    assert err.value.allowed == "integer 0–3"


def test_boolean_items_reject_numbers() -> None:
    with pytest.raises(ValidationError, match="expected true or false"):
        score("migraine_diary", {"headache": 1})


def test_unknown_instrument() -> None:
    with pytest.raises(ValidationError, match="unknown instrument 'hads'"):
        score("hads", {})


# ------------------------------------------------------------------ properties


def answer_for(item: Item) -> st.SearchStrategy[Any]:
    if item.type == "integer":
        return st.integers(item.min, item.max)
    if item.type == "boolean":
        return st.booleans()
    if item.type == "choice":
        return st.sampled_from(item.options or ())
    return st.text(max_size=20)


@st.composite
def instrument_and_answers(draw: st.DrawFn) -> tuple[Instrument, dict[str, Any]]:
    instrument = draw(st.sampled_from(sorted(CATALOG.instruments.values(), key=lambda i: i.id)))
    answers = {}
    for item in instrument.items:
        if item.required or draw(st.booleans()):
            answers[item.id] = draw(answer_for(item))
    assume(_plausible(instrument, answers))  # the catalog's cross-item rules (e.g. BP) hold
    return instrument, answers


def _plausible(instrument: Instrument, answers: dict[str, Any]) -> bool:
    try:
        validate_answers(instrument, answers)
    except ValidationError:
        return False
    return True


@settings(max_examples=150, deadline=None)
@given(instrument_and_answers())
def test_every_score_stays_within_its_bounds(case: tuple[Instrument, dict[str, Any]]) -> None:
    instrument, answers = case
    result = score(instrument, answers)
    for definition in instrument.scores:
        value = result.scores[definition.id].value
        if value is not None:
            assert definition.min <= value <= definition.max


INTEGER_ITEMS = sorted(
    ((inst, item) for inst in CATALOG.instruments.values() for item in inst.items
     if item.type == "integer"),
    key=lambda pair: (pair[0].id, pair[1].id),
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(INTEGER_ITEMS),
    st.one_of(st.integers(max_value=-1), st.integers(min_value=1)),
    st.data(),
)
def test_out_of_range_answers_are_never_accepted(
    pair: tuple[Instrument, Item], offset: int, data: st.DataObject
) -> None:
    instrument, item = pair
    assert item.min is not None
    assert item.max is not None
    bad = item.min + offset if offset < 0 else item.max + offset
    answers = {i.id: data.draw(answer_for(i)) for i in instrument.items if i.required}
    answers[item.id] = bad
    with pytest.raises(ValidationError) as err:
        score(instrument, answers)
    assert err.value.field == f"{instrument.id}.{item.id}"
    assert err.value.value == bad
    assert err.value.allowed == f"integer {item.min}–{item.max}"


# ------------------------------------------------------------------ coverage of the catalog

# One known answer set per instrument: (answers, primary value, primary band)
KNOWN: dict[str, tuple[dict[str, Any], float, str | None]] = {
    "daily_diary": ({"average_pain": 6}, 6, "moderate"),
    "peg3": ({"p": 3, "e": 4, "g": 8}, 5, None),
    "phq9": (dict.fromkeys(PHQ9_ITEMS, 2), 18, "moderately severe"),
    "phq2": ({"q1": 1, "q2": 0}, 1, None),
    "gad7": (dict.fromkeys(GAD7_ITEMS, 1), 7, "mild"),
    "pgic": ({"change": 2}, 2, "much improved"),
    "acr_fm_2010": (acr_answers("acr_fm_2010", SEVEN, **ss5), 1, None),
    "acr_fm_2011": (acr_answers("acr_fm_2011", SEVEN, **ss5), 12, None),
    "acr_fm_2016": (acr_answers("acr_fm_2016", SEVEN, **ss5), 1, None),
    "migraine_diary": ({"headache": True, "headache_duration_minutes": 45,
                        "migraine_specific_medication": True}, 1, None),
    "cluster_attack_log": ({"attack_count": 4}, 4, None),
    "neuropathic_symptoms": ({"burning": 2, "shooting": 4, "pins_and_needles": 6, "numbness": 8,
                              "touch_evoked_pain": 0}, 4, None),
    "ae_checklist": ({"dizziness": 1, "insomnia": 2}, 2, None),
    "home_bp": ({"systolic": 131, "diastolic": 83}, 131, None),
    "clinic_bp": ({"systolic": 162, "diastolic": 88, "pulse": 70}, 162, None),
}  # fmt: skip

# For every flag in the catalog, answers that raise it
FLAG_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "phq9-major-depression-cutoff": ("phq9", spread(10, PHQ9_ITEMS[:8]) | {"q9": 0}),
    "phq9-item9-positive": ("phq9", dict.fromkeys(PHQ9_ITEMS, 0) | {"q9": 2}),
    "phq2-positive-screen": ("phq2", {"q1": 3, "q2": 0}),
    "gad7-screen-cutoff": ("gad7", spread(10, GAD7_ITEMS)),
    "pgic-minimally-important": ("pgic", {"change": 3}),
    "pgic-moderately-important": ("pgic", {"change": 2}),
    "pgic-substantial": ("pgic", {"change": 1}),
    "acr2010-met": ("acr_fm_2010", acr_answers("acr_fm_2010", SEVEN, **ss5)),
    "acr2011-fs-13": ("acr_fm_2011", acr_answers("acr_fm_2011", SEVEN[:4], fatigue=3,
                                                 waking_unrefreshed=3, cognitive_symptoms=3)),
    "acr2011-met": ("acr_fm_2011", acr_answers("acr_fm_2011", SEVEN, **ss5)),
    "acr2016-generalized-pain": ("acr_fm_2016", acr_answers("acr_fm_2016", SEVEN)),
    "acr2016-met": ("acr_fm_2016", acr_answers("acr_fm_2016", SEVEN, **ss5)),
    "migraine-day": ("migraine_diary", {"headache": False, "aura": True,
                                        "aura_duration_minutes": 5}),
    "cluster-above-ichd-frequency": ("cluster_attack_log", {"attack_count": 12}),
    "ae-grade-3-plus": ("ae_checklist", {"palpitations": 4}),
    "ae-grade-2": ("ae_checklist", {"low_mood": 2}),
    "bp-stricter-threshold": ("home_bp", {"systolic": 140, "diastolic": 70}),
    "bp-diastolic-90": ("home_bp", {"systolic": 130, "diastolic": 90}),
}  # fmt: skip


def test_every_instrument_and_flag_has_a_known_case() -> None:
    assert set(KNOWN) == set(CATALOG.instruments)
    all_flags = {f.id for inst in CATALOG.instruments.values() for f in inst.flags}
    assert set(FLAG_CASES) == all_flags


@pytest.mark.parametrize("instrument_id", sorted(KNOWN))
def test_known_answer_set_gives_known_primary_score(instrument_id: str) -> None:
    answers, value, band = KNOWN[instrument_id]
    result = score(instrument_id, answers)
    assert result.primary.value == value
    assert result.primary.band == band


@pytest.mark.parametrize("flag_id", sorted(FLAG_CASES))
def test_each_flag_fires_on_its_case(flag_id: str) -> None:
    instrument_id, answers = FLAG_CASES[flag_id]
    assert flag_id in flag_ids(score(instrument_id, answers))
