"""A customer corrects their organisation's name from their account page (a typo at sign-up, a
school renamed); the staff see the new name, and the change is in the audit trail."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.accounts import create_user, sign_in
from tests.auth.helpers import audit_actions, find_user, href_of, submit
from tests.auth.test_auth_change_password import signed_in_browser, words


def test_a_customer_changes_their_organisations_name_from_their_account_page(csrf_on: Flask) -> None:
    app = csrf_on
    create_user(app, organisation="Springfeld University")
    browser = signed_in_browser(app)
    account = browser.get("/auth/account")
    assert href_of(account, "change-organisation-link") == "/auth/organisation"

    changed = submit(browser, "/auth/organisation", organisation="  Springfield University ")

    assert changed.status_code == 303 and changed.location.endswith("/auth/account")
    page = browser.get("/auth/account")
    assert "Your organisation's name is changed." in words(page)
    assert '<span id="account-organisation">Springfield University</span>' in page.get_data(as_text=True)
    assert find_user(app, "admin@school.edu").organisation == "Springfield University"
    assert ("user:organisation-changed", "admin@school.edu") in audit_actions(app)


def test_the_page_starts_from_the_name_as_it_is_and_saving_it_unchanged_records_nothing(app: Flask) -> None:
    create_user(app, organisation="Springfield University")
    browser = signed_in_browser(app)

    page = browser.get("/auth/organisation").get_data(as_text=True)
    saved = submit(browser, "/auth/organisation", organisation="Springfield University")

    assert 'value="Springfield University"' in page
    assert saved.status_code == 303
    assert "is changed" not in words(browser.get("/auth/account"))
    assert ("user:organisation-changed", "admin@school.edu") not in audit_actions(app)


@pytest.mark.parametrize(
    ("name", "said"),
    [("", "Enter your institution's name."), ("two\nlines", "no line breaks"), ("x" * 256, "at most 255")],
    ids=["empty", "two lines", "too long"],
)
def test_a_name_that_cannot_be_kept_says_why_and_changes_nothing(app: Flask, name: str, said: str) -> None:
    create_user(app, organisation="Springfield University")
    browser = signed_in_browser(app)

    answer = submit(browser, "/auth/organisation", organisation=name)

    assert answer.status_code == 400 and said in words(answer)
    assert find_user(app, "admin@school.edu").organisation == "Springfield University"


def test_staff_have_no_organisation_to_change(app: Flask) -> None:
    create_user(app, "ops@vendor.example", role="staff", organisation=None)
    browser = app.test_client()
    assert sign_in(browser, "ops@vendor.example").status_code == 302

    assert 'id="change-organisation-link"' not in browser.get("/auth/account").get_data(as_text=True)
    assert browser.get("/auth/organisation").location.endswith("/auth/account")


def test_someone_not_signed_in_is_sent_to_sign_in_first(client: FlaskClient) -> None:
    answer = client.get("/auth/organisation")
    assert answer.status_code == 302 and "/auth/sign-in" in answer.location
