"""Blinding kits: one kit per period with a short, non-guessable code, and the concealed allocation.

Kit codes come from a CSPRNG (``secrets.choice`` by default, injectable for tests). They are
independent of the allocation seed and of the arm, so they neither sort nor pattern by arm. The
last character is a Luhn mod-N check character that catches single typos and adjacent swaps.

:class:`Kit` (code and period) is what patients and clinicians see; :class:`Allocation`
(kit -> arm) is for unblinded staff only.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from microtrial.domain.design import Design
from microtrial.errors import ValidationError

__all__ = [
    "KIT_CODE_ALPHABET",
    "KIT_CODE_LENGTH",
    "Allocation",
    "Kit",
    "KitIssue",
    "is_valid_kit_code",
    "issue_kits",
    "kit_codes_by_period",
    "new_kit_code",
    "normalise_kit_code",
]

# No 0/O, 1/I/L or U: unambiguous when read aloud or copied by hand.
KIT_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
KIT_CODE_LENGTH = 8  # 7 random characters (30**7 ~ 2.2e10) + 1 check character

Choice = Callable[[str], str]


def _check_char(payload: str) -> str:
    """Luhn mod-N check character over ``KIT_CODE_ALPHABET``."""
    n = len(KIT_CODE_ALPHABET)
    factor, total = 2, 0
    for ch in reversed(payload):
        addend = factor * KIT_CODE_ALPHABET.index(ch)
        factor = 1 if factor == 2 else 2
        total += addend // n + addend % n
    return KIT_CODE_ALPHABET[(n - total % n) % n]


def new_kit_code(choice: Choice = secrets.choice) -> str:
    """A fresh 8-character kit code drawn with ``choice`` (a CSPRNG by default)."""
    payload = "".join(choice(KIT_CODE_ALPHABET) for _ in range(KIT_CODE_LENGTH - 1))
    if any(ch not in KIT_CODE_ALPHABET for ch in payload) or len(payload) != KIT_CODE_LENGTH - 1:
        raise ValidationError(
            "choice", "returned a character outside the kit alphabet", value=payload
        )
    return payload + _check_char(payload)


def normalise_kit_code(text: str) -> str:
    """Upper-case a typed code and drop spaces and dashes (``"abcd-2345"`` -> ``"ABCD2345"``)."""
    return "".join(ch for ch in text.upper() if ch not in " -")


def is_valid_kit_code(code: str) -> bool:
    """Whether ``code`` has the right length, alphabet and check character."""
    return (
        len(code) == KIT_CODE_LENGTH
        and all(ch in KIT_CODE_ALPHABET for ch in code)
        and _check_char(code[:-1]) == code[-1]
    )


@dataclass(frozen=True)
class Kit:
    """A period's kit as patients and clinicians see it: code and period, no arm."""

    code: str
    period: int


@dataclass(frozen=True)
class Allocation:
    """Which arm a kit contains (unblinded staff only)."""

    kit_code: str
    period: int
    arm: str


@dataclass(frozen=True)
class KitIssue:
    """The kits of one trial (blinded) and their allocation (unblinded)."""

    kits: tuple[Kit, ...]
    allocations: tuple[Allocation, ...]


def issue_kits(
    design: Design, *, choice: Choice = secrets.choice, taken: Collection[str] = frozenset()
) -> KitIssue:
    """One kit per period of ``design`` with fresh codes, unique within the trial and ``taken``."""
    used = set(taken)
    kits: list[Kit] = []
    allocations: list[Allocation] = []
    for period in design.periods:
        for _ in range(1000):
            code = new_kit_code(choice)
            if code not in used:
                break
        else:
            raise ValidationError("choice", "could not draw a unique kit code", value=code)
        used.add(code)
        kits.append(Kit(code=code, period=period.number))
        allocations.append(Allocation(kit_code=code, period=period.number, arm=period.arm))
    return KitIssue(kits=tuple(kits), allocations=tuple(allocations))


def kit_codes_by_period(kits: Sequence[Kit] | Sequence[Allocation]) -> Mapping[int, str]:
    """Map period number to kit code."""
    out: dict[int, str] = {}
    for k in kits:
        code = k.code if isinstance(k, Kit) else k.kit_code
        if k.period in out:
            raise ValidationError("kits", "two kits for one period", value=k.period)
        out[k.period] = code
    return out
