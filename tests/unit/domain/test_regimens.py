"""Regimen templates (catalog), custom patterns, titration and taper."""

from __future__ import annotations

from datetime import date, timedelta
from importlib import resources

import pytest
import yaml

from microtrial.domain.regimen_catalog import parse_regimen_catalog
from microtrial.domain.regimens import (
    CyclePattern,
    DayListPattern,
    DoseUnit,
    Taper,
    Titration,
    WeekdayPattern,
    custom_regimen,
    every_n_days,
    guess_opens_on,
    load_regimen_catalog,
    next_titration_amount,
    parse_dose_unit,
    parse_weekdays,
    pattern_fits_period,
    regimen_from_template,
    taper_amounts,
)
from microtrial.errors import ValidationError

MONDAY = date(2026, 3, 2)
EXPECTED_TEMPLATES = {
    "fadiman",
    "every_other_day",
    "every_fourth_day",
    "twice_weekly",
    "four_on_three_off",
    "headache_pulse",
}


def _dose_days(pattern: CyclePattern | WeekdayPattern | DayListPattern, n: int) -> list[int]:
    return [d for d in range(n) if pattern.is_dose_day(d, MONDAY + timedelta(days=d))]


def test_catalog_lists_every_template_with_a_source() -> None:
    catalog = load_regimen_catalog()
    assert set(catalog.templates) == EXPECTED_TEMPLATES
    for template in catalog.templates.values():
        assert template.source.startswith("REFERENCE.md E.")
        for fact in template.reported_ranges:
            assert fact.source.startswith("REFERENCE.md E.")
    assert catalog.reported_ranges  # general E.1 facts are kept too


def test_templates_carry_no_amount() -> None:
    raw = yaml.safe_load(
        resources.files("microtrial.catalog").joinpath("regimens.yaml").read_text("utf-8")
    )
    for entry in raw["templates"]:
        assert not {"amount", "unit", "default_amount", "dose"} & set(entry)


def test_unverified_facts_are_marked_as_reference_says() -> None:
    catalog = load_regimen_catalog()
    assert catalog.get("fadiman").verified is False  # primary Fadiman 2011 not read
    assert catalog.get("four_on_three_off").verified is False
    stamets = catalog.get("four_on_three_off").reported_ranges
    assert [(r.low, r.high, r.unit, r.verified) for r in stamets] == [
        (50.0, 100.0, "mg dried material", False)
    ]
    assert any(
        "DISAGREE" in n and "2 on/2 off" in n for n in catalog.get("four_on_three_off").notes
    )
    assert catalog.get("every_fourth_day").verified is True


def test_headache_pulse_is_flagged_not_sub_perceptual() -> None:
    pulse = load_regimen_catalog().get("headache_pulse")
    assert pulse.sub_perceptual is False
    assert any("NOT SUB-PERCEPTUAL" in n for n in pulse.notes)
    others = [t for t in load_regimen_catalog().templates.values() if t.name != "headache_pulse"]
    assert all(t.sub_perceptual for t in others)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("fadiman", [0, 3, 6, 9, 12]),
        ("every_other_day", [0, 2, 4, 6, 8, 10, 12]),
        ("every_fourth_day", [0, 4, 8, 12]),
        ("four_on_three_off", [0, 1, 2, 3, 7, 8, 9, 10]),
        ("headache_pulse", [0, 5, 10]),
    ],
)
def test_template_dose_days_in_a_14_day_period(name: str, expected: list[int]) -> None:
    regimen = regimen_from_template(name, substance="psilocybin", amount=100, unit="mg dried")
    assert _dose_days(regimen.pattern, 14) == expected
    assert regimen.unit is DoseUnit.MG_DRIED_MATERIAL
    assert regimen.amount == 100.0
    assert regimen.source == load_regimen_catalog().get(name).source


def test_twice_weekly_uses_the_chosen_weekdays() -> None:
    regimen = regimen_from_template(
        "twice_weekly", substance="LSD", amount=8, unit="µg", weekdays=["tue", "Friday"]
    )
    assert regimen.pattern == WeekdayPattern(frozenset({1, 4}))
    # MONDAY + 1 = Tuesday, + 4 = Friday, then the next week
    assert _dose_days(regimen.pattern, 14) == [1, 4, 8, 11]
    assert regimen.describe() == "LSD 8 µg, on Tue, Fri"


def test_twice_weekly_needs_exactly_two_weekdays() -> None:
    with pytest.raises(ValidationError) as err:
        regimen_from_template("twice_weekly", substance="LSD", amount=8, unit="ug", weekdays=[0])
    assert err.value.field == "weekdays"
    assert err.value.value == [0]
    with pytest.raises(ValidationError, match="choose 2 weekday"):
        regimen_from_template("twice_weekly", substance="LSD", amount=8, unit="ug")
    with pytest.raises(ValidationError, match="fixed pattern"):
        regimen_from_template("fadiman", substance="LSD", amount=8, unit="ug", weekdays=[0])


def test_unknown_template_names_the_allowed_ones() -> None:
    with pytest.raises(ValidationError) as err:
        regimen_from_template("stamets", substance="LSD", amount=10, unit="µg")
    assert err.value.field == "regimen"
    assert err.value.value == "stamets"
    assert err.value.allowed is not None
    assert "four_on_three_off" in err.value.allowed
    assert "fadiman" in err.value.allowed


@pytest.mark.parametrize(
    ("text", "unit"),
    [("µg", DoseUnit.MICROGRAM), ("mcg", DoseUnit.MICROGRAM), ("MG", DoseUnit.MILLIGRAM)],
)
def test_parse_dose_unit_accepts_aliases(text: str, unit: DoseUnit) -> None:
    assert parse_dose_unit(text) is unit


def test_bad_unit_names_the_allowed_units() -> None:
    with pytest.raises(ValidationError) as err:
        regimen_from_template("fadiman", substance="LSD", amount=10, unit="grams")
    assert err.value.field == "unit"
    assert err.value.value == "grams"
    assert err.value.allowed == "µg"  # the units LSD's sourced ranges use


def test_unknown_unit_text_names_every_unit() -> None:
    with pytest.raises(ValidationError) as err:
        parse_dose_unit("grams")
    assert err.value.allowed == "µg, mg, mg dried material"


@pytest.mark.parametrize(
    ("substance", "amount", "unit", "field", "message"),
    [
        (
            "lsd",
            100,
            "µg",
            "amount",
            "amount: 100 µg is outside the microdose range for lsd (allowed: 5–20 µg)",
        ),
        ("lsd", 4.9, "µg", "amount", "allowed: 5–20 µg"),
        ("lsd", 10, "mg dried material", "unit", "(allowed: µg)"),
        ("psilocybin", 1e9, "mg", "unit", "(allowed: mg dried material)"),
        ("psilocybin", 5000, "mg dried material", "amount", "allowed: 50–500 mg dried material"),
        ("psilocybin", 49, "mg dried", "amount", "allowed: 50–500 mg dried material"),
        ("ketamine", 10, "mg", "substance", "allowed: lsd, psilocybin"),
    ],
)
def test_dose_outside_the_sourced_range_is_refused(
    substance: str, amount: float, unit: str, field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as err:
        regimen_from_template("fadiman", substance=substance, amount=amount, unit=unit)
    assert err.value.field == field
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("substance", "amount", "unit"),
    [
        ("lsd", 5, "µg"),
        ("lsd", 20, "ug"),
        ("psilocybin", 50, "mg dried material"),
        ("psilocybin", 500, "mg dried"),
    ],
)
def test_dose_inside_the_range_is_sub_perceptual(substance: str, amount: float, unit: str) -> None:
    regimen = regimen_from_template("headache_pulse", substance=substance, amount=amount, unit=unit)
    assert regimen.sub_perceptual  # computed from the dose, not copied from the template


def test_stored_plan_outside_the_range_reads_but_is_not_sub_perceptual() -> None:
    regimen = regimen_from_template(
        "fadiman", substance="lsd", amount=100, unit="µg", enforce_range=False
    )
    assert regimen.amount == 100
    assert not regimen.sub_perceptual


def test_every_microdose_range_is_sourced() -> None:
    ranges = load_regimen_catalog().microdose_ranges
    assert set(ranges) == {"lsd", "psilocybin"}
    lsd = ranges["lsd"][0]
    assert (lsd.unit.value, lsd.low, lsd.high) == ("µg", 5, 20)
    mushroom = ranges["psilocybin"][0]
    assert (mushroom.unit.value, mushroom.low, mushroom.high) == ("mg dried material", 50, 500)
    assert not mushroom.verified  # its low end rests on unverified quotes
    for preparations in ranges.values():
        assert all(p.sources for p in preparations)


def _with_ranges(**changes: object) -> str:
    """The bundled regimens.yaml with one LSD range, changed by ``changes``."""
    base = resources.files("microtrial.catalog").joinpath("regimens.yaml").read_text("utf-8")
    data = yaml.safe_load(base)
    preparation = {"preparation": "LSD", "unit": "µg", "low": 5, "high": 20, "context": "c"}
    preparation |= {"sources": ["s1"], "verified": True}
    entry = {"substance": changes.pop("substance", "lsd"), "preparations": [preparation]}
    preparation.update(changes)
    data["microdose_ranges"] = [entry]
    return yaml.safe_dump(data, allow_unicode=True)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sources": []}, "sources"),
        ({"low": 30}, "low exceeds high"),
        ({"substance": "ketamine"}, "unknown substance"),
        ({"sources": ["nowhere"]}, "unknown source"),
        ({"unit": "mg/kg"}, "unit"),
    ],
)
def test_catalog_checks_microdose_ranges(changes: dict[str, object], message: str) -> None:
    parse_regimen_catalog(_with_ranges(), substances={"lsd"}, source_ids={"s1"})
    with pytest.raises(ValidationError, match=message):
        parse_regimen_catalog(_with_ranges(**changes), substances={"lsd"}, source_ids={"s1"})


@pytest.mark.parametrize("bad", ["funday", 7, -1, True, "mo"])
def test_bad_weekday_is_rejected(bad: object) -> None:
    with pytest.raises(ValidationError) as err:
        parse_weekdays([bad])  # type: ignore[list-item]
    assert err.value.field == "weekdays"
    assert err.value.value == bad
    assert err.value.allowed is not None
    assert "mon" in err.value.allowed


@pytest.mark.parametrize("amount", [0, -1.0, float("nan"), float("inf")])
def test_amount_must_be_positive(amount: float) -> None:
    with pytest.raises(ValidationError) as err:
        custom_regimen(every_n_days(3), substance="LSD", amount=amount, unit="µg")
    assert err.value.field == "amount"


def test_substance_is_required() -> None:
    with pytest.raises(ValidationError) as err:
        custom_regimen(every_n_days(3), substance="  ", amount=1, unit="µg")
    assert err.value.field == "substance"


def test_custom_patterns() -> None:
    assert _dose_days(every_n_days(5), 14) == [0, 5, 10]
    assert _dose_days(CyclePattern(on_days=2, off_days=2), 10) == [0, 1, 4, 5, 8, 9]
    assert _dose_days(DayListPattern(days=(6, 1)), 14) == [1, 6]
    assert _dose_days(DayListPattern(days=(0, 2), repeat_every=5), 12) == [0, 2, 5, 7, 10]
    assert _dose_days(WeekdayPattern(parse_weekdays(["sat", 6])), 14) == [5, 6, 12, 13]
    regimen = custom_regimen(every_n_days(5), substance="LSD", amount=5, unit="µg")
    assert regimen.name == "custom"
    assert regimen.source is None
    assert regimen.describe() == "LSD 5 µg, one dose day, then 4 day(s) off (every 5 days)"


def test_invalid_custom_patterns() -> None:
    with pytest.raises(ValidationError) as err:
        every_n_days(0)
    assert (err.value.field, err.value.allowed) == ("pattern.every_n_days", "1-56")
    with pytest.raises(ValidationError, match="repeat"):
        DayListPattern(days=(1, 1))
    with pytest.raises(ValidationError) as err:
        DayListPattern(days=(0, 6), repeat_every=5)
    assert err.value.field == "pattern.days"
    assert err.value.value == 6


def test_day_list_must_fit_the_period() -> None:
    pattern_fits_period(DayListPattern(days=(0, 5, 10)), 11)
    with pytest.raises(ValidationError) as err:
        pattern_fits_period(DayListPattern(days=(0, 5, 10)), 10)
    assert err.value.field == "pattern.days"
    assert err.value.value == [11]


def test_titration_follows_the_lsddep1_shape() -> None:
    # REFERENCE.md E.1 LSDDEP1: start 8 µg, +1 per dose, limits 5-15, -3 if not tolerated
    t = Titration(start=8, step=1, minimum=5, maximum=15, reduce_on_intolerance=3)
    assert next_titration_amount(t, 8, tolerated=True) == 9
    assert next_titration_amount(t, 15, tolerated=True) == 15
    assert next_titration_amount(t, 9, tolerated=False) == 6
    assert next_titration_amount(t, 6, tolerated=False) == 5
    regimen = custom_regimen(
        WeekdayPattern(frozenset({0, 3})), substance="LSD", amount=8, unit="µg", titration=t
    )
    assert "titration start 8, +1 per dose, limits 5-15, -3 if not tolerated" in regimen.describe()


def test_titration_validation() -> None:
    with pytest.raises(ValidationError) as err:
        Titration(start=20, step=1, minimum=5, maximum=15, reduce_on_intolerance=3)
    assert (err.value.field, err.value.allowed) == ("titration.start", "5-15")
    with pytest.raises(ValidationError) as err:
        Titration(start=8, step=1, minimum=16, maximum=15, reduce_on_intolerance=3)
    assert err.value.field == "titration.minimum"
    with pytest.raises(ValidationError) as err:
        Titration(start=8, step=0, minimum=5, maximum=15, reduce_on_intolerance=3)
    assert err.value.field == "titration.step"
    t = Titration(start=8, step=1, minimum=5, maximum=15, reduce_on_intolerance=3)
    with pytest.raises(ValidationError) as err:
        custom_regimen(every_n_days(3), substance="LSD", amount=20, unit="µg", titration=t)
    assert err.value.field == "amount"


def test_taper_amounts() -> None:
    assert taper_amounts(Taper(step=2), 10) == (8, 6, 4, 2)
    assert taper_amounts(Taper(step=2.5, every_n_doses=2, floor=5), 10) == (7.5, 7.5, 5, 5)
    assert taper_amounts(Taper(step=10), 5) == ()
    with pytest.raises(ValidationError) as err:
        Taper(step=-1)
    assert err.value.field == "taper.step"


def _catalog_text(template: str) -> str:
    return (
        "schema_version: 1\nsource: test\n"
        "guess_window: {opens_days_before_period_end: 2, source: test}\n"
        "templates:\n" + template + "\n"
    )


GOOD_TEMPLATE = """  - name: t
    title: T
    pattern: {kind: cycle, on_days: 1, off_days: 2}
    sub_perceptual: true
    source: somewhere
    verified: false"""


def test_parse_catalog_accepts_a_minimal_template() -> None:
    catalog = parse_regimen_catalog(_catalog_text(GOOD_TEMPLATE))
    assert catalog.get("t").pattern == CyclePattern(1, 2)


@pytest.mark.parametrize(
    ("template", "field_fragment"),
    [
        (GOOD_TEMPLATE.replace("    source: somewhere\n", ""), "templates.0.source"),
        (GOOD_TEMPLATE + "\n    amount: 10", "templates.0.amount"),
        (GOOD_TEMPLATE.replace("kind: cycle", "kind: lunar"), "templates.0.pattern"),
        (GOOD_TEMPLATE.replace("off_days: 2", "off_days: -2"), "templates.0.pattern.off_days"),
        (
            GOOD_TEMPLATE.replace("{kind: cycle, on_days: 1, off_days: 2}", "{kind: weekdays}"),
            "templates.0.pattern.weekdays",
        ),
        (
            GOOD_TEMPLATE.replace(
                "{kind: cycle, on_days: 1, off_days: 2}", "{kind: weekdays, weekdays: [xyz]}"
            ),
            "templates.0.weekdays",
        ),
    ],
)
def test_parse_catalog_errors_name_the_entry(template: str, field_fragment: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_regimen_catalog(_catalog_text(template))
    assert err.value.field.startswith("regimens.yaml:")
    assert field_fragment in err.value.field


def test_parse_catalog_rejects_duplicates_and_bad_yaml() -> None:
    with pytest.raises(ValidationError, match="duplicate name"):
        parse_regimen_catalog(_catalog_text(GOOD_TEMPLATE + "\n" + GOOD_TEMPLATE))
    with pytest.raises(ValidationError, match="not valid YAML"):
        parse_regimen_catalog("templates: [")


def test_the_guess_window_comes_from_the_catalog() -> None:
    catalog = parse_regimen_catalog(_catalog_text(GOOD_TEMPLATE))
    assert guess_opens_on(date(2026, 1, 10), catalog) == date(2026, 1, 8)
    assert guess_opens_on(date(2026, 1, 10)) == date(2026, 1, 8)  # the bundled catalog
    without = "schema_version: 1\nsource: test\ntemplates:\n" + GOOD_TEMPLATE + "\n"
    with pytest.raises(ValidationError, match="guess_window"):
        parse_regimen_catalog(without)
