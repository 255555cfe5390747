"""A screening decision in words, for people: the one home of these words (the stored code
stays the API's value)."""

from __future__ import annotations

__all__ = ["DECISION_CONTEXT", "DECISION_WORDS", "NP_", "decision_words"]

# The translation context of a decision's words (a page translates them, a PDF prints them).
DECISION_CONTEXT = "screening decision"


def NP_(context: str, message: str) -> str:
    """Mark ``message`` for the catalog in ``context`` (translated on display, not here)."""
    del context
    return message


# A screening decision in words, for people (the stored code stays the API's value): the one home
# of these words for the staff pages and the kit preparation PDF (the context is written out: the
# catalog extractor reads only literal strings).
DECISION_WORDS: dict[str, str] = {
    "no-known-issues": NP_("screening decision", "no known issues"),
    "clinician-review": NP_("screening decision", "clinician review needed"),
    "do-not-start": NP_("screening decision", "do not start"),
}


def decision_words(code: str) -> str:
    """A screening decision in English words (an unknown code as stored)."""
    return DECISION_WORDS.get(code, code)
