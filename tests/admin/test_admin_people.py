"""A staff member manages people from the console (CSRF on, as in production): the list, a new staff
account by link or by typed password, resets, disabling and re-enabling; each audited once."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from portal.db import get_session
from portal.models import User, utcnow
from tests.accounts import PASSWORD, create_user, signed_in
from tests.auth.helpers import audit_actions, find_user
from tests.registration.helpers import csrf_token_in, tokens_of

STAFF = "staff@vendor.example"
NEW = "newcomer@vendor.example"
TYPED = "a password typed twice"


def text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def post_from(browser: FlaskClient, page: str, action: str, **data: object) -> TestResponse:
    """Post to `action` with the CSRF token of `page` (and its one-time token, where its form has
    one), as the page's form would."""
    return browser.post(action, data={**data, **tokens_of(text(browser.get(page)))})


def one_time_link(response: TestResponse) -> str:
    match = re.search(r'id="one-time-link" type="text" value="([^"]+)"', text(response))
    assert match, text(response)
    return match.group(1)


def can_sign_in(app: Flask, email: str, password: str) -> bool:
    browser = app.test_client()
    app.config["WTF_CSRF_ENABLED"] = False
    browser.post("/auth/sign-in", data={"email": email, "password": password})
    app.config["WTF_CSRF_ENABLED"] = True
    return browser.get("/auth/account").status_code == 200


def test_the_list_shows_each_persons_role_organisation_and_last_sign_in(
    app: Flask, staff_browser: FlaskClient, customer: User
) -> None:
    with app.app_context():
        db = get_session()
        db.get(User, customer.id).last_login_at = utcnow() - timedelta(days=2)
        db.commit()
    create_user(app, "newcomer@vendor.example", role="staff", organisation=None, signed_in_before=False)

    body = text(staff_browser.get("/admin/people/"))

    row = body.split(f'data-person="{customer.email}"', 1)[1].split("</tr>", 1)[0]
    assert ">customer<" in row and "Springfield University" in row and "active" in row
    assert (utcnow() - timedelta(days=2)).strftime("%Y-%m-%d") in row
    staff_row = body.split(f'data-person="{STAFF}"', 1)[1].split("</tr>", 1)[0]
    assert ">staff<" in staff_row and utcnow().strftime("%Y-%m-%d") in staff_row
    newcomer_row = body.split('data-person="newcomer@vendor.example"', 1)[1].split("</tr>", 1)[0]
    assert ">staff<" in newcomer_row and "never" in newcomer_row
    assert "3 accounts" in body
    only_staff = text(staff_browser.get("/admin/people/?role=staff"))
    assert customer.email not in only_staff and STAFF in only_staff


def test_many_people_are_shown_fifty_a_page(app: Flask, staff_browser: FlaskClient) -> None:
    with app.app_context():
        db = get_session()
        for number in range(60):
            db.add(User(email=f"admin{number:02d}@school.example", password_hash="!", role="customer"))
        db.commit()

    first = text(staff_browser.get("/admin/people/"))
    second = text(staff_browser.get("/admin/people/?page=2"))
    past_the_end = text(staff_browser.get("/admin/people/?page=99"))

    assert first.count("<tr data-person=") == 50 and "Page 1 of 2" in first and 'id="next-page"' in first
    assert second.count("<tr data-person=") == 11 and "Page 2 of 2" in second
    assert "Page 2 of 2" in past_the_end  # a page past the end is the last one


def test_staff_find_a_person_by_part_of_their_address_or_organisation_in_any_case(
    app: Flask, staff_browser: FlaskClient, customer: User
) -> None:
    """An erasure request or a support e-mail names an address: staff find it without paging."""
    with app.app_context():
        db = get_session()
        for number in range(60):
            db.add(User(email=f"admin{number:02d}@school.example", password_hash="!", role="customer"))
        shelbyville = User(email="it@shelbyville.example", password_hash="!", role="customer")
        shelbyville.organisation = "Ögden_100%"
        db.add(shelbyville)
        db.commit()

    by_address = text(staff_browser.get("/admin/people/?q=SHELBYVILLE"))
    by_organisation = text(staff_browser.get("/admin/people/?q=springfield+univ"))
    wildcards_taken_literally = text(staff_browser.get("/admin/people/?q=_100%25"))
    staff_only = text(staff_browser.get("/admin/people/?q=example&role=staff"))
    nobody = text(staff_browser.get("/admin/people/?q=nobody-has-this"))

    assert by_address.count("<tr data-person=") == 1 and "it@shelbyville.example" in by_address
    assert "1 account matches" in by_address and 'value="SHELBYVILLE"' in by_address
    assert by_organisation.count("<tr data-person=") == 1 and customer.email in by_organisation
    assert wildcards_taken_literally.count("<tr data-person=") == 1  # not every address: % and _ as typed
    assert staff_only.count("<tr data-person=") == 1 and STAFF in staff_only
    assert "No account's address or organisation contains “nobody-has-this”." in nobody


def test_a_search_across_pages_keeps_its_words_in_every_link(app: Flask, staff_browser: FlaskClient) -> None:
    with app.app_context():
        db = get_session()
        for number in range(60):
            db.add(User(email=f"admin{number:02d}@school.example", password_hash="!", role="customer"))
        db.commit()

    first = text(staff_browser.get("/admin/people/?q=school"))
    second = text(staff_browser.get("/admin/people/?q=school&page=2"))

    assert "Page 1 of 2" in first and "60 accounts match" in first
    assert 'href="/admin/people/?page=2&amp;q=school"' in first
    assert 'href="/admin/people/?role=customer&amp;q=school"' in first
    assert second.count("<tr data-person=") == 10


def test_a_search_too_long_is_refused_beside_the_box_and_one_with_a_nul_byte_before_the_page(
    staff_browser: FlaskClient,
) -> None:
    too_long = staff_browser.get("/admin/people/", query_string={"q": "x" * 201})
    with_nul = staff_browser.get("/admin/people/", query_string={"q": "admin\x00"})

    assert too_long.status_code == 400 and 'id="q-errors"' in text(too_long)
    assert "Use at most 200 characters." in text(too_long) and "<tr data-person=" not in text(too_long)
    assert with_nul.status_code == 400 and "<tr data-person=" not in text(with_nul)


def test_a_new_staff_account_by_one_time_link_which_the_newcomer_uses_to_sign_in(
    app: Flask, staff_browser: FlaskClient
) -> None:
    created = post_from(staff_browser, "/admin/people/new", "/admin/people/new", email=NEW, choice="link")

    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    link = one_time_link(created)
    assert link.startswith("http://localhost/auth/set-password/")
    assert find_user(app, NEW).is_staff
    assert ("user:created", STAFF) in audit_actions(app)
    assert ("user:password-link-issued", STAFF) in audit_actions(app)
    assert link not in text(staff_browser.get(f"/admin/people/{find_user(app, NEW).id}"))  # shown once

    newcomer = app.test_client()
    path = link.removeprefix("http://localhost")
    chosen = post_from(newcomer, path, path, password="the newcomer's own", confirm="the newcomer's own")

    assert 'data-page="password-set"' in text(chosen)
    assert can_sign_in(app, NEW, "the newcomer's own")


def test_a_new_customer_account_by_one_time_link_for_a_vendor_whose_sign_up_is_off(
    app: Flask, staff_browser: FlaskClient
) -> None:
    app.config["SIGNUP_ENABLED"] = False
    people = text(staff_browser.get("/admin/people/"))
    assert 'href="/admin/people/new-customer" id="new-customer"' in people

    created = post_from(
        staff_browser,
        "/admin/people/new-customer",
        "/admin/people/new-customer",
        email="it-admin@springfield.edu",
        organisation="Springfield University",
        choice="link",
    )

    assert created.status_code == 200 and "Customer account created" in text(created)
    customer = find_user(app, "it-admin@springfield.edu")
    assert (customer.role, customer.organisation) == ("customer", "Springfield University")
    assert ("user:created", STAFF) in audit_actions(app)
    path = one_time_link(created).removeprefix("http://localhost")
    newcomer = app.test_client()
    chosen = post_from(newcomer, path, path, password="the admin's own one", confirm="the admin's own one")
    assert 'data-page="password-set"' in text(chosen)
    assert can_sign_in(app, "it-admin@springfield.edu", "the admin's own one")


def test_a_new_customer_account_needs_its_organisation(app: Flask, staff_browser: FlaskClient) -> None:
    answer = post_from(
        staff_browser, "/admin/people/new-customer", "/admin/people/new-customer", email=NEW, choice="link"
    )
    assert answer.status_code == 400 and "Enter their institution&#39;s name." in text(answer)
    assert find_user(app, NEW) is None


def test_a_new_staff_account_with_a_typed_password(app: Flask, staff_browser: FlaskClient) -> None:
    response = post_from(
        staff_browser,
        "/admin/people/new",
        "/admin/people/new",
        email=NEW,
        choice="typed",
        password=TYPED,
        confirm=TYPED,
    )

    assert response.status_code == 303
    assert response.location == f"/admin/people/{find_user(app, NEW).id}"
    assert can_sign_in(app, NEW, TYPED)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"email": "not an email", "choice": "link"}, "Enter an email address like name@example.edu."),
        (
            {"email": NEW, "choice": "typed", "password": "short", "confirm": "short"},
            "at least 10 characters",
        ),
        (
            {"email": NEW, "choice": "typed", "password": TYPED, "confirm": "something else"},
            "The passwords differ.",
        ),
        ({"email": NEW, "choice": "neither"}, "Not a valid choice"),
    ],
)
def test_a_new_account_with_bad_input_says_why_and_makes_nothing(
    app: Flask, staff_browser: FlaskClient, fields: dict, error: str
) -> None:
    response = post_from(staff_browser, "/admin/people/new", "/admin/people/new", **fields)

    assert response.status_code == 400 and error in text(response)
    assert find_user(app, NEW) is None and audit_actions(app) == []


def test_submitting_the_new_account_twice_makes_one(app: Flask, staff_browser: FlaskClient) -> None:
    token = csrf_token_in(text(staff_browser.get("/admin/people/new")))
    form = {"email": NEW, "choice": "typed", "password": TYPED, "confirm": TYPED, "csrf_token": token}

    first = staff_browser.post("/admin/people/new", data=form)
    second = staff_browser.post("/admin/people/new", data=form)

    assert first.status_code == 303 and second.status_code == 400
    assert "There is already an account with this email." in text(second)
    assert audit_actions(app).count(("user:created", STAFF)) == 1


def test_a_password_reset_by_typed_password_or_by_link(
    app: Flask, staff_browser: FlaskClient, customer: User
) -> None:
    page = f"/admin/people/{customer.id}"
    action = f"{page}/password"

    unconfirmed = post_from(staff_browser, page, action, choice="typed", password=TYPED, confirm=TYPED)
    typed = post_from(
        staff_browser, page, action, choice="typed", password=TYPED, confirm=TYPED, confirm_reset="y"
    )

    assert unconfirmed.status_code == 400 and "Tick this box to confirm." in text(unconfirmed)
    assert typed.status_code == 303 and can_sign_in(app, customer.email, TYPED)

    by_link = post_from(staff_browser, page, action, choice="link", confirm_reset="y")

    link = one_time_link(by_link).removeprefix("http://localhost")
    assert can_sign_in(app, customer.email, TYPED)  # the old password works until the link is used
    assert "not used yet, works until" in text(staff_browser.get(page))
    newcomer = app.test_client()
    post_from(newcomer, link, link, password="chosen by the admin", confirm="chosen by the admin")
    assert can_sign_in(app, customer.email, "chosen by the admin") and not can_sign_in(
        app, customer.email, TYPED
    )
    assert audit_actions(app).count(("user:password-reset", STAFF)) == 1
    assert ("user:password-set", customer.email) in audit_actions(app)


def test_disabling_needs_a_confirmation_signs_the_person_out_and_is_audited_once(
    app: Flask, staff_browser: FlaskClient, customer: User, customer_browser: FlaskClient
) -> None:
    page = f"/admin/people/{customer.id}"
    assert customer_browser.get("/auth/account").status_code == 200

    unconfirmed = post_from(staff_browser, page, f"{page}/disable")
    assert unconfirmed.status_code == 303 and not find_user(app, customer.email).is_disabled

    token = csrf_token_in(text(staff_browser.get(page)))
    first = staff_browser.post(f"{page}/disable", data={"confirm_disable": "y", "csrf_token": token})
    second = staff_browser.post(f"{page}/disable", data={"confirm_disable": "y", "csrf_token": token})

    assert first.status_code == second.status_code == 303
    assert find_user(app, customer.email).is_disabled
    assert audit_actions(app).count(("user:disabled", STAFF)) == 1
    assert "disabled already; nothing changed" in text(staff_browser.get(page))
    assert customer_browser.get("/auth/account").status_code == 302  # signed out
    assert not can_sign_in(app, customer.email, PASSWORD)

    enabled = post_from(staff_browser, page, f"{page}/enable")
    assert enabled.status_code == 303 and can_sign_in(app, customer.email, PASSWORD)
    assert audit_actions(app).count(("user:enabled", STAFF)) == 1


def test_a_staff_member_cannot_disable_themselves(
    app: Flask, staff_browser: FlaskClient, staff: User
) -> None:
    page = f"/admin/people/{staff.id}"
    assert 'id="cannot-disable-self"' in text(staff_browser.get(page))

    response = post_from(staff_browser, page, f"{page}/disable", confirm_disable="y")

    assert response.status_code == 303
    assert "You cannot disable your own account." in text(staff_browser.get(page))
    assert not find_user(app, STAFF).is_disabled and audit_actions(app) == []


def test_another_staff_member_can_be_disabled_and_enabled(app: Flask, staff_browser: FlaskClient) -> None:
    other = create_user(app, "other@vendor.example", role="staff", organisation=None)
    page = f"/admin/people/{other.id}"

    post_from(staff_browser, page, f"{page}/disable", confirm_disable="y")

    assert find_user(app, "other@vendor.example").is_disabled
    assert 'id="enable-form"' in text(staff_browser.get(page))


@pytest.mark.parametrize("action", ["disable", "enable", "password"])
def test_every_people_action_needs_the_csrf_token(
    app: Flask, staff_browser: FlaskClient, customer: User, action: str
) -> None:
    response = staff_browser.post(
        f"/admin/people/{customer.id}/{action}",
        data={
            "confirm_disable": "y",
            "confirm_reset": "y",
            "choice": "typed",
            "password": TYPED,
            "confirm": TYPED,
        },
    )

    assert response.status_code == 400 and "This form has expired" in text(response)
    assert not find_user(app, customer.email).is_disabled and audit_actions(app) == []


def test_creating_needs_the_csrf_token(app: Flask, staff_browser: FlaskClient) -> None:
    response = staff_browser.post("/admin/people/new", data={"email": NEW, "choice": "link"})

    assert response.status_code == 400 and find_user(app, NEW) is None


def test_an_unknown_person_is_not_found(staff_browser: FlaskClient) -> None:
    assert staff_browser.get("/admin/people/999").status_code == 404


def test_a_new_password_signs_out_every_session_of_the_old_one_but_the_staff_member_typing_their_own(
    app: Flask, staff_browser: FlaskClient, staff: User, customer: User
) -> None:
    customer_elsewhere = app.test_client()
    assert can_sign_in(app, customer.email, PASSWORD)
    app.config["WTF_CSRF_ENABLED"] = False
    customer_elsewhere.post("/auth/sign-in", data={"email": customer.email, "password": PASSWORD})
    app.config["WTF_CSRF_ENABLED"] = True
    staff_elsewhere = signed_in(app.test_client(), staff)
    assert customer_elsewhere.get("/auth/account").status_code == 200

    reset = f"/admin/people/{customer.id}"
    post_from(
        staff_browser,
        reset,
        f"{reset}/password",
        choice="typed",
        password=TYPED,
        confirm=TYPED,
        confirm_reset="y",
    )
    own = f"/admin/people/{staff.id}"
    post_from(
        staff_browser,
        own,
        f"{own}/password",
        choice="typed",
        password=TYPED,
        confirm=TYPED,
        confirm_reset="y",
    )

    assert customer_elsewhere.get("/auth/account").status_code == 302  # signed out: sign in again
    assert staff_elsewhere.get("/admin/").status_code == 302
    assert staff_browser.get("/admin/").status_code == 200  # who typed it stays signed in
    assert can_sign_in(app, customer.email, TYPED)


def test_without_email_the_link_is_not_offered_by_email_and_cannot_be_asked_for(
    app: Flask, staff_browser: FlaskClient
) -> None:
    page = text(staff_browser.get("/admin/people/new"))
    refused = post_from(staff_browser, "/admin/people/new", "/admin/people/new", email=NEW, choice="email")

    assert 'value="email"' not in page
    choices = re.findall(r'<input[^>]*name="choice"[^>]*>', page)
    assert 'value="link"' in choices[0] and "checked" in choices[0]
    assert refused.status_code == 400 and find_user(app, NEW) is None


def test_a_staff_member_who_types_their_own_new_password_stays_signed_in_under_a_new_session(
    app: Flask, staff: User, staff_browser: FlaskClient
) -> None:
    elsewhere = signed_in(app.test_client(), staff)
    page = f"/admin/people/{staff.id}"
    assert staff_browser.get(page).status_code == 200
    cookie = app.config["SESSION_COOKIE_NAME"]
    before = staff_browser.get_cookie(cookie)

    typed = {"choice": "typed", "password": TYPED, "confirm": TYPED, "confirm_reset": "y"}
    reset = post_from(staff_browser, page, f"{page}/password", **typed)

    assert reset.status_code == 303
    after = staff_browser.get_cookie(cookie)
    assert before is not None and after is not None and after.value != before.value
    assert staff_browser.get(page).status_code == 200
    assert elsewhere.get(page).status_code == 302  # signed out by the new password
    assert can_sign_in(app, STAFF, TYPED)
