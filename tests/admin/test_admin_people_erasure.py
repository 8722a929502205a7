"""A staff member honours a customer's erasure request from the People pages (CSRF on): a page says
what goes and what stays, typing the customer's address confirms it, and it is audited with the
staff member. Staff accounts are disabled instead, and an erased account stays erased."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from portal.models import User, erased_address
from tests.accounts import PASSWORD, create_user
from tests.admin.test_admin_people import STAFF, can_sign_in, post_from, text
from tests.auth.helpers import audit_actions, find_user, href_of, words
from tests.registration.helpers import tokens_of

CUSTOMER = "admin@springfield.edu"


def erase_page(person: User) -> str:
    return f"/admin/people/{person.id}/erase"


def test_a_staff_member_erases_a_customers_personal_data_by_typing_their_address(
    app: Flask, staff_browser: FlaskClient, customer: User
) -> None:
    person_page = f"/admin/people/{customer.id}"
    assert href_of(staff_browser.get(person_page), "erase-link") == erase_page(customer)
    confirming = staff_browser.get(erase_page(customer))

    erased = post_from(staff_browser, erase_page(customer), erase_page(customer), email=CUSTOMER.upper())

    said = words(confirming)
    assert "Erase the personal data of admin@springfield.edu?" in said and "cannot be undone" in said
    assert "Payments (0 paid): kept as they are" in said
    assert "Registered LMS platforms stay registered" in said
    assert erased.status_code == 303 and erased.location == person_page
    page = staff_browser.get(person_page)
    placeholder = erased_address(customer.id)
    assert f"The personal data of {CUSTOMER} is erased; the account is now {placeholder}." in words(page)
    assert 'data-status="erased"' in text(page) and 'id="person-erased"' in text(page)
    assert 'id="reset-form"' not in text(page) and 'id="erase-link"' not in text(page)
    assert ("user:erased", STAFF) in audit_actions(app)
    assert find_user(app, CUSTOMER) is None and not can_sign_in(app, CUSTOMER, PASSWORD)
    listed = text(staff_browser.get("/admin/people/"))
    assert f'data-person="{placeholder}" data-status="erased"' in listed


def test_another_address_typed_erases_nothing(app: Flask, staff_browser: FlaskClient, customer: User) -> None:
    answer = post_from(staff_browser, erase_page(customer), erase_page(customer), email="someone@else.edu")

    assert answer.status_code == 400
    assert "This is not their email address" in words(answer)
    assert not find_user(app, CUSTOMER).is_erased


def test_the_form_needs_its_csrf_token(app: Flask, staff_browser: FlaskClient, customer: User) -> None:
    answer = staff_browser.post(erase_page(customer), data={"email": CUSTOMER})

    assert answer.status_code == 400
    assert not find_user(app, CUSTOMER).is_erased


def test_a_second_submit_changes_nothing(app: Flask, staff_browser: FlaskClient, customer: User) -> None:
    form_page = text(staff_browser.get(erase_page(customer)))
    post_from(staff_browser, erase_page(customer), erase_page(customer), email=CUSTOMER)

    again = staff_browser.post(erase_page(customer), data={"email": CUSTOMER, **tokens_of(form_page)})

    assert again.status_code == 303
    assert "was erased already; nothing changed" in words(staff_browser.get(again.location))
    assert audit_actions(app).count(("user:erased", STAFF)) == 1


def test_a_staff_account_is_not_erased_but_may_be_disabled(app: Flask, staff_browser: FlaskClient) -> None:
    colleague = create_user(app, "colleague@vendor.example", role="staff", organisation=None)

    page = staff_browser.get(f"/admin/people/{colleague.id}")
    opened = staff_browser.get(erase_page(colleague))

    assert 'id="staff-not-erased"' in text(page) and 'id="erase-link"' not in text(page)
    assert opened.status_code == 303
    assert "staff accounts are not erased" in words(staff_browser.get(opened.location))
    assert not find_user(app, "colleague@vendor.example").is_disabled


def test_an_erased_account_cannot_be_enabled_or_given_a_password(
    app: Flask, staff_browser: FlaskClient, customer: User
) -> None:
    person_page = f"/admin/people/{customer.id}"
    tokens = tokens_of(text(staff_browser.get(person_page)))  # its forms as shown before the erasure
    post_from(staff_browser, erase_page(customer), erase_page(customer), email=CUSTOMER)

    enabled = staff_browser.get(staff_browser.post(f"{person_page}/enable", data=tokens).location)
    typed = staff_browser.post(
        f"{person_page}/password",
        data={**tokens, "choice": "typed", "password": PASSWORD, "confirm": PASSWORD, "confirm_reset": "y"},
    )

    assert "cannot be used again" in words(enabled)
    assert typed.status_code == 400 and 'id="person-erased"' in text(typed)
    erased = find_user(app, erased_address(customer.id))
    assert erased.is_disabled and not can_sign_in(app, erased.email, PASSWORD)
