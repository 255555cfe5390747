"""REDCap branching logic as an expression tree: parse, print, evaluate, and visible items.

Grammar (the subset REDCap projects use for show/hide logic)::

    expr     := and_expr (("or" | "||") and_expr)*
    and_expr := term (("and" | "&&") term)*
    term     := "(" expr ")" | operand OP operand
    operand  := [field] | [field(code)] | [event][field] | 'text' | "text" | number
    OP       := = | == | <> | != | < | <= | > | >=

Quotes may be single, double or typographic ("curly"). Anything else (functions such as
``datediff``, arithmetic, smart variables) raises ``BranchingError``, which importers turn
into a warning naming the field. Pure code: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "MAX_NESTING",
    "And",
    "BranchingError",
    "Compare",
    "Expr",
    "FieldRef",
    "Literal",
    "Or",
    "evaluate",
    "field_value",
    "parse_branching",
    "referenced_fields",
    "to_text",
    "visible_items",
]


class BranchingError(ValueError):
    """Branching logic this parser does not understand."""


@dataclass(frozen=True)
class FieldRef:
    """A field, optionally one checkbox choice (``[field(code)]``) or an event's field."""

    name: str
    code: str | None = None
    event: str | None = None


@dataclass(frozen=True)
class Literal:
    """A quoted or numeric constant, kept as text (REDCap compares raw values)."""

    value: str
    quoted: bool = True


@dataclass(frozen=True)
class Compare:
    """``left op right``."""

    left: FieldRef | Literal
    op: str
    right: FieldRef | Literal


@dataclass(frozen=True)
class And:
    """All parts hold."""

    parts: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    """Any part holds."""

    parts: tuple[Expr, ...]


Expr = Compare | And | Or

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<field>(?:\[[A-Za-z0-9_]+\])?\[[A-Za-z0-9_]+(?:\([A-Za-z0-9_\-.]+\))?\])
  | (?P<string>"[^"]*"|'[^']*'|“[^”]*”|‘[^’]*’|”[^”]*”)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op><>|!=|==|<=|>=|=|<|>)
  | (?P<and>(?i:and)\b|&&)
  | (?P<or>(?i:or)\b|\|\|)
  | (?P<lparen>\()
  | (?P<rparen>\))
    """,
    re.VERBOSE,
)
_FIELD = re.compile(
    r"^(?:\[(?P<event>[A-Za-z0-9_]+)\])?\[(?P<name>[A-Za-z0-9_]+)(?:\((?P<code>[^)]+)\))?\]$"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise BranchingError(f"cannot read {text[position : position + 20]!r}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append((kind, match.group()))
        position = match.end()
    return tokens


MAX_NESTING = 64  # parentheses deep; deeper logic is refused (no RecursionError on odd input)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.position = 0
        self.depth = 0

    def peek(self) -> str | None:
        return self.tokens[self.position][0] if self.position < len(self.tokens) else None

    def take(self, kind: str) -> str:
        if self.peek() != kind:
            found = self.tokens[self.position][1] if self.peek() else "end of text"
            raise BranchingError(f"expected {kind}, found {found!r}")
        value = self.tokens[self.position][1]
        self.position += 1
        return value

    def expr(self) -> Expr:
        parts = [self.and_expr()]
        while self.peek() == "or":
            self.take("or")
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_expr(self) -> Expr:
        parts = [self.term()]
        while self.peek() == "and":
            self.take("and")
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def term(self) -> Expr:
        if self.peek() == "lparen":
            self.take("lparen")
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise BranchingError(f"nested more than {MAX_NESTING} parentheses deep")
            inner = self.expr()
            self.take("rparen")
            self.depth -= 1
            return inner
        left = self.operand()
        op = self.take("op")
        right = self.operand()
        return Compare(left, "=" if op == "==" else "<>" if op == "!=" else op, right)

    def operand(self) -> FieldRef | Literal:
        kind = self.peek()
        if kind == "field":
            match = _FIELD.match(self.take("field"))
            assert match is not None  # the token pattern guarantees the shape
            return FieldRef(match["name"], match["code"], match["event"])
        if kind == "string":
            return Literal(self.take("string")[1:-1])
        if kind == "number":
            return Literal(self.take("number"), quoted=False)
        found = self.tokens[self.position][1] if kind else "end of text"
        raise BranchingError(f"expected a field or a value, found {found!r}")


def parse_branching(text: str) -> Expr | None:
    """Parse REDCap branching logic into a tree (None for empty logic)."""
    if not text or not text.strip():
        return None
    parser = _Parser(text.strip())
    tree = parser.expr()
    if parser.position != len(parser.tokens):
        raise BranchingError(f"unexpected {parser.tokens[parser.position][1]!r}")
    return tree


def _operand_text(operand: FieldRef | Literal) -> str:
    if isinstance(operand, Literal):
        return f'"{operand.value}"' if operand.quoted else operand.value
    event = f"[{operand.event}]" if operand.event else ""
    code = f"({operand.code})" if operand.code else ""
    return f"{event}[{operand.name}{code}]"


def to_text(expr: Expr | None) -> str:
    """Print a tree back as REDCap branching logic (double quotes)."""
    if expr is None:
        return ""
    if isinstance(expr, Compare):
        return f"{_operand_text(expr.left)} {expr.op} {_operand_text(expr.right)}"
    word = " and " if isinstance(expr, And) else " or "
    return word.join(
        f"({to_text(p)})" if isinstance(p, And | Or) else to_text(p) for p in expr.parts
    )


def referenced_fields(expr: Expr | None) -> set[str]:
    """The field names a tree reads."""
    if expr is None:
        return set()
    if isinstance(expr, Compare):
        return {o.name for o in (expr.left, expr.right) if isinstance(o, FieldRef)}
    return set().union(*(referenced_fields(p) for p in expr.parts))


def field_value(answers: Mapping[str, object], ref: FieldRef) -> str:
    """A field's raw REDCap value from our answers ("" when unanswered)."""
    if ref.code is not None:
        return "1" if answers.get(f"{ref.name}___{ref.code}") is True else "0"
    value = answers.get(ref.name)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def evaluate(expr: Expr | None, answers: Mapping[str, object]) -> bool:
    """Whether the logic holds for the answers (no logic: always true)."""
    if expr is None:
        return True
    if isinstance(expr, And):
        return all(evaluate(p, answers) for p in expr.parts)
    if isinstance(expr, Or):
        return any(evaluate(p, answers) for p in expr.parts)
    left, right = (
        field_value(answers, o) if isinstance(o, FieldRef) else o.value
        for o in (expr.left, expr.right)
    )
    a, b = _number(left), _number(right)
    if expr.op in ("=", "<>"):
        same = a == b if a is not None and b is not None else left == right
        return same if expr.op == "=" else not same
    if a is None or b is None:
        return False
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[expr.op]


class _HasBranching(Protocol):
    def trees(self) -> dict[str, Expr | None]: ...


def visible_items(
    instrument_or_tree: _HasBranching | Mapping[str, Expr | str | None] | object,
    answers: Mapping[str, object],
) -> set[str]:
    """The item ids the diary form shows for these answers.

    Takes an imported instrument (anything with ``trees()``), a mapping of item id to logic
    (tree, text or None, in form order), or a plain catalog ``Instrument`` (no logic: every
    item). Items are evaluated in order and a hidden item counts as unanswered for the items
    after it, as REDCap does.
    """
    trees: dict[str, Expr | None]
    if hasattr(instrument_or_tree, "trees"):
        trees = instrument_or_tree.trees()
    elif isinstance(instrument_or_tree, Mapping):
        trees = {
            key: parse_branching(value) if isinstance(value, str) else value
            for key, value in instrument_or_tree.items()
        }
    elif hasattr(instrument_or_tree, "items"):
        return {item.id for item in instrument_or_tree.items}
    else:
        raise TypeError(f"not an instrument or a branching map: {instrument_or_tree!r}")
    known = dict(answers)
    shown: set[str] = set()
    for item_id, tree in trees.items():
        if evaluate(tree, known):
            shown.add(item_id)
        else:
            known.pop(item_id, None)
    return shown
