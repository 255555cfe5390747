"""Issue 16 finding 5 on the command line: deactivate, reactivate and change a user's role
(the operator, at any site); the user's sessions end and each change is audited."""

from __future__ import annotations

from sqlalchemy import select
from typer.testing import CliRunner

from helpers import cli_patient, run_cli
from microtrial.cli.main import app
from microtrial.services import auth, sessions
from microtrial.settings import Settings
from microtrial.store.db import Database
from microtrial.store.models import AuditEventRow

SECRET = "a long enough secret"


def test_cli_deactivates_reactivates_and_changes_a_role(database_url: str) -> None:
    url = cli_patient(database_url, tz="UTC")
    add = ("user", "add", "--site", "LON1", "--role", "unblinded_staff", "--username", "Ph.Arm")
    result = CliRunner().invoke(app, [*add, "--password-stdin", *url], input=f"{SECRET}\n")
    assert result.exit_code == 0, result.stderr
    clash = ("user", "add", "--site", "LON1", "--role", "clinician", "--username", " ph.arm ")
    result = CliRunner().invoke(app, [*clash, "--password-stdin", *url], input=f"{SECRET}\n")
    assert result.exit_code != 0
    assert "taken" in result.stderr  # one name whatever the case
    db = Database.from_settings(Settings(database_url=url[1]))
    try:
        actor = auth.authenticate(db, "Ph.Arm", SECRET)
        assert actor is not None
        assert actor.user_id is not None
        version = sessions.session_version(db, actor)
        code, out, err = run_cli("user", "deactivate", "ph.arm", *url)
        assert code == 0, err
        assert "deactivated" in out
        assert sessions.current_actor(db, actor.user_id, version) is None
        assert auth.authenticate(db, "Ph.Arm", SECRET) is None
        assert run_cli("user", "reactivate", "Ph.Arm", *url)[0] == 0
        assert auth.authenticate(db, "Ph.Arm", SECRET) is not None
        code, out, err = run_cli("user", "set-role", "Ph.Arm", "clinician", *url)
        assert code == 0, err
        moved = auth.authenticate(db, "Ph.Arm", SECRET)
        assert moved is not None
        assert moved.role.value == "clinician"
        code, _, err = run_cli("user", "set-role", "Ph.Arm", "patient", *url)
        assert code != 0
        assert "role" in err
        assert run_cli("user", "deactivate", "nobody", *url)[0] != 0
        with db.transaction() as session:
            actions = set(session.execute(select(AuditEventRow.action)).scalars())
        assert {"deactivate", "reactivate", "change_role"} <= actions
    finally:
        db.dispose()
