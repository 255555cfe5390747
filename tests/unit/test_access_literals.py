"""Access is decided in one place: no role literal or role comparison outside the policy table.

Every module under ``src/microtrial`` is parsed; a use of a ``Role`` member (``Role.CLINICIAN``)
or a decision on an actor's role (comparing ``.role``, looking something up by it, matching on it)
fails the test unless the module is the policy's home or is named in ``ALLOWED`` with a reason.
Building an actor from a stored role (``Role(user.role)``) or showing it (``actor.role.value``)
decides nothing and is not reported.
"""

from __future__ import annotations

import ast
from pathlib import Path

from microtrial.domain.actors import Role

SRC = Path(__file__).resolve().parents[2] / "src"
# Where roles are defined and decided (paths under src/).
HOME = {
    "microtrial/domain/access.py": "the access-policy table and the checks that read it",
    "microtrial/domain/actors.py": "defines Role, the operator, and parses a role an admin typed",
}
# Named departures: path under src/ -> why it may use a role literal. Empty: demo users and the
# store's ROLES check name roles as plain strings to store, which decides nothing.
ALLOWED: dict[str, str] = {}


def _mentions_role(node: ast.expr) -> bool:
    """Whether ``node`` is an actor's role: ``x.role``, ``x.role.value`` or a name ``role``."""
    while isinstance(node, ast.Attribute):
        if node.attr == "role":
            return True
        node = node.value
    return isinstance(node, ast.Name) and node.id == "role"


def _is_role_member(node: ast.AST) -> bool:
    """Whether ``node`` is ``Role.MEMBER`` (or ``something.Role.MEMBER``)."""
    if not isinstance(node, ast.Attribute) or node.attr not in Role.__members__:
        return False
    owner = node.value
    return (isinstance(owner, ast.Name) and owner.id == "Role") or (
        isinstance(owner, ast.Attribute) and owner.attr == "Role"
    )


def _finding(node: ast.AST) -> str | None:
    """What ``node`` does with a role, if it is an access decision or a role literal."""
    if _is_role_member(node):
        assert isinstance(node, ast.Attribute)
        return f"role literal Role.{node.attr}"
    if isinstance(node, ast.Compare) and any(
        _mentions_role(side) for side in (node.left, *node.comparators)
    ):
        return "compares a role"
    if isinstance(node, ast.Subscript) and _mentions_role(node.slice):
        return "looks something up by role"
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and node.args
        and _mentions_role(node.args[0])
    ):
        return "looks something up by role"
    if isinstance(node, ast.Match) and _mentions_role(node.subject):
        return "matches on a role"
    return None


def role_decisions(source: str, path: str) -> list[str]:
    """The role literals and role decisions in ``source`` (a module at ``path`` under src/)."""
    if path in HOME or path in ALLOWED:
        return []
    found = []
    for node in ast.walk(ast.parse(source, filename=path)):
        what = _finding(node)
        if what is not None:
            found.append(f"{path}:{getattr(node, 'lineno', '?')}: {what}")
    return sorted(found)


def test_no_role_decision_outside_the_policy_table() -> None:
    found = []
    for module in sorted((SRC / "microtrial").rglob("*.py")):
        path = module.relative_to(SRC).as_posix()
        found += role_decisions(module.read_text(encoding="utf-8"), path)
    assert found == [], "decide through microtrial.domain.access (Action, authorize, allows)"


def test_the_policy_home_and_every_departure_exist_with_a_reason() -> None:
    for path, reason in {**HOME, **ALLOWED}.items():
        assert (SRC / path).is_file(), path
        assert reason.strip(), path


def test_the_checker_reports_a_role_decision_in_a_new_module() -> None:
    source = (
        "from microtrial.domain.actors import Role\n"
        "def f(actor, nav):\n"
        "    if actor.role is Role.CLINICIAN:\n"
        "        return nav.get(actor.role)\n"
        "    if actor.role.value == 'patient':\n"
        "        return nav[actor.role]\n"
        "    match actor.role:\n"
        "        case _:\n"
        "            return None\n"
    )
    assert role_decisions(source, "microtrial/services/x.py") == [
        "microtrial/services/x.py:3: compares a role",
        "microtrial/services/x.py:3: role literal Role.CLINICIAN",
        "microtrial/services/x.py:4: looks something up by role",
        "microtrial/services/x.py:5: compares a role",
        "microtrial/services/x.py:6: looks something up by role",
        "microtrial/services/x.py:7: matches on a role",
    ]
    # The policy's own home may; parsing, showing or storing a role decides nothing.
    assert role_decisions(source, "microtrial/domain/access.py") == []
    harmless = (
        "def g(user, actor):\n"
        "    audit(actor_role=actor.role.value)\n"
        "    return Actor(role=Role(user.role)), authorize(actor, Action.PLAN_TRIAL)\n"
    )
    assert role_decisions(harmless, "microtrial/services/x.py") == []
