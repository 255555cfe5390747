"""Issue 16 (findings 1, 4, 5) in the browser: a site's administrator sees and changes only the
users of their own site; deactivating a user ends the session they have open in another browser."""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

from e2e.conftest import Pages
from helpers import Clinic, FixedClock
from integration.api.live import PASSWORD
from microtrial.domain.actors import system_actor
from microtrial.services import admin, auth


def no_axe_violations(page: Any) -> None:
    """axe-core finds nothing wrong on the page."""
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


@pytest.mark.parametrize("viewport", ["desktop"], indirect=True)
def test_an_admin_deactivates_a_user_of_their_site_and_their_session_ends(
    pages: Pages, clinic: Clinic, clock: FixedClock
) -> None:
    admin.add_user(
        clinic.db, system_actor("test"), site_code="SITEA", role="admin",
        username="admin_sitea", password=PASSWORD, clock=clock,
    )  # fmt: skip
    pharmacist = pages.open("unblinded_staff_sitea", "/account/password")
    pharmacist.get_by_role("heading", name="Change my password").wait_for()
    page = pages.open("admin_sitea", "/admin")
    page.get_by_role("heading", name="Sites and users").wait_for()
    users_table = page.get_by_role("table", name="Users").inner_text()
    assert "clinician_sitea" in users_table
    assert "clinician_siteb" not in users_table  # another site's users are not shown
    assert page.get_by_role("heading", name="Add a site").count() == 0  # the operator's job
    no_axe_violations(page)
    pages.shot(page, "admin-users")
    form = page.locator("form[action='/admin/users/status']")
    form.get_by_label("User").select_option("unblinded_staff_sitea")
    form.get_by_role("button", name="Deactivate").click()
    page.get_by_text("User saved.").wait_for()
    row = page.get_by_role("row").filter(has_text="unblinded_staff_sitea")
    assert row.get_by_role("cell").nth(3).inner_text() == "no"
    assert auth.authenticate(clinic.db, "unblinded_staff_sitea", PASSWORD) is None
    pharmacist.reload()
    assert "/login" in pharmacist.url  # their open session ended at once
    role_form = page.locator("form[action='/admin/users/role']")
    role_form.get_by_label("User").select_option("researcher_sitea")
    role_form.get_by_label("New role").select_option("clinician")
    role_form.get_by_role("button", name="Change role").click()
    page.get_by_text("User saved.").wait_for()
    assert admin.user_actor(clinic.db, "researcher_sitea").role.value == "clinician"
    role_form = page.locator("form[action='/admin/users/role']")
    role_form.get_by_label("User").select_option("admin_sitea")
    role_form.get_by_role("button", name="Change role").click()
    assert "you cannot change the role of your own account" in page.inner_text("main")
    assert page.get_by_label("Username").input_value() == ""  # the add-user form stays empty
    no_axe_violations(page)
    pages.shot(page, "admin-refused")
