"""The research export's adverse-event term: a checklist symptom, never free text."""

from __future__ import annotations

from microtrial.domain.adverse_events import CHECKLIST, OTHER_TERM, exported_term
from microtrial.domain.catalog import load_catalog


def test_a_checklist_symptom_is_exported_and_free_text_is_not() -> None:
    checklist = load_catalog().instrument(CHECKLIST)
    nausea = next(i for i in checklist.items if i.id == "nausea_gi").text.split(":")[0].strip()
    assert exported_term(nausea, checklist) == nausea
    # a patient's "Other" keeps its symptom, never the words they typed
    other = next(i for i in checklist.items if i.id == "other").text.split(":")[0].strip()
    assert exported_term(f"{other}: rash on my left hand since the wedding", checklist) == other
    assert exported_term("rash after Jane's wedding", checklist) == OTHER_TERM
