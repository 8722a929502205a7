"""Who may complete a registration: an account is needed, and the vendor's approval policy decides the rest.

Roles: anonymous (nobody signed in), customer, staff, disabled (a customer whose
account was disabled mid-flow: signed out on the next request). Policies:
self-service (the default), review-later, live-approval.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.db import get_session
from portal.ltiaas import get_ltiaas
from portal.models import ApprovalRequest, Payment, PaymentStatus, Registration, User
from portal.registration import choices, receiving
from portal.registration.policy import next_step
from portal.sessions import TOKEN_PARAM
from tests.accounts import read_form, sign_in, signed_in
from tests.fakes.ltiaas import CLOSE_HTML, FakeLtiaas
from tests.registration.helpers import (
    POLICIES,
    ROLES,
    SPRINGFIELD,
    add_person,
    audit_trail,
    become,
    configured_by,
    links_in,
    public_id_from,
    start,
)


def next_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["next"][0]


def browser_of(app: Flask, role: str) -> FlaskClient:
    """A browser where `role` is at the keyboard (a disabled user was signed in before being disabled)."""
    browser = app.test_client()
    if role != "anonymous":
        signed_in(browser, add_person(app, "customer" if role == "disabled" else role))
    return browser


# Anyone may look; going on needs an account


def test_the_review_page_asks_a_visitor_to_sign_in_or_create_an_account(
    app: Flask, ltiaas: FakeLtiaas
) -> None:
    visitor = app.test_client()
    public_id = public_id_from(start(visitor))
    body = visitor.get(f"/registration/{public_id}/").text
    back = f"/registration/{public_id}/configure"
    sign_in_link = next(link for link in links_in(body) if link.startswith("/auth/sign-in"))
    sign_up_link = next(link for link in links_in(body) if link.startswith("/auth/sign-up"))
    assert next_of(sign_in_link) == back and next_of(sign_up_link) == back
    assert 'id="account-needed"' in body
    assert f'href="{back}"' not in body


def test_a_signed_in_admin_goes_on_from_review_and_sees_who_they_are(
    customer_browser: FlaskClient, ltiaas: FakeLtiaas, customer: User
) -> None:
    public_id = public_id_from(start(customer_browser))
    body = customer_browser.get(f"/registration/{public_id}/").text
    assert f'id="continue" href="/registration/{public_id}/configure"' in body
    assert customer.email in body
    assert 'id="sign-out-submit"' in body


@pytest.mark.parametrize("role", ["anonymous", "disabled"])
@pytest.mark.parametrize("page", ["configure", "confirm"])
def test_the_steps_after_review_send_a_signed_out_admin_to_sign_in_and_back(
    app: Flask, ltiaas: FakeLtiaas, no_csrf: Flask, role: str, page: str
) -> None:
    browser = browser_of(app, "customer")
    public_id = configured_by(browser)
    become(app, browser, role)
    response = browser.get(f"/registration/{public_id}/{page}")
    assert response.status_code == 303
    assert response.location.startswith("/auth/sign-in?")
    assert next_of(response.location) == f"/registration/{public_id}/{page}"
    assert browser.post(f"/registration/{public_id}/configure", data=SPRINGFIELD).status_code == 303
    assert ltiaas.requests_to("complete_registration") == []


@pytest.mark.parametrize("cookies", [True, False], ids=["cookie", "token"])
def test_after_signing_in_the_admin_lands_on_the_step_they_left(
    app: Flask, ltiaas: FakeLtiaas, customer: User, cookies: bool
) -> None:
    """Signed out on the confirm page (CSRF on), in cookie mode and with only the URL token."""
    browser = app.test_client(use_cookies=cookies)
    review_url = start(browser)
    public_id = public_id_from(review_url)
    token = parse_qs(urlsplit(review_url).query)[TOKEN_PARAM][0]
    asked = browser.get(f"/registration/{public_id}/configure?{TOKEN_PARAM}={token}")
    configure_url = sign_in(browser, customer.email, page=asked.location).location
    action, hidden = read_form(browser.get(configure_url))
    saved = browser.post(action, data={**hidden, **SPRINGFIELD})
    assert saved.status_code == 303 and "/confirm" in saved.location

    action, hidden = read_form(browser.get(saved.location), index=1)  # the sign-out form
    signed_out = browser.post(action, data={**hidden, "next": f"/registration/{public_id}/confirm"})
    asked_again = browser.get(signed_out.location)
    assert asked_again.status_code == 303
    assert next_of(asked_again.location) == f"/registration/{public_id}/confirm"

    back = sign_in(browser, customer.email, page=asked_again.location).location
    assert urlsplit(back).path == f"/registration/{public_id}/confirm"
    assert (TOKEN_PARAM in back) is not cookies
    confirm = browser.get(back)
    assert confirm.status_code == 200
    assert 'data-page="confirm"' in confirm.text


# Who may complete, by role and policy


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("role", ROLES)
def test_who_may_complete_under_each_policy(
    app: Flask, ltiaas: FakeLtiaas, no_csrf: Flask, role: str, policy: str
) -> None:
    app.config["APPROVAL_POLICY"] = policy
    browser = browser_of(app, "staff" if role == "staff" else "customer")
    public_id = configured_by(browser)  # activation ticked, where the form offers it
    if role in ("anonymous", "disabled"):
        become(app, browser, role)

    response = browser.post(f"/registration/{public_id}/complete")

    calls = ltiaas.requests_to("complete_registration")
    if role in ("anonymous", "disabled"):
        assert response.location.startswith("/auth/sign-in?")
        assert calls == []
    elif role == "customer" and policy == "live-approval":
        assert response.location.startswith(f"/registration/{public_id}/confirm")
        assert calls == []
    else:
        assert response.location.startswith(f"/registration/{public_id}/done")
        (sent,) = calls
        assert sent.json()["autoActivate"] is not (role == "customer" and policy == "review-later")


@pytest.mark.parametrize("policy", POLICIES)
def test_staff_in_the_iframe_complete_directly_and_choose_activation_under_every_policy(
    app: Flask, ltiaas: FakeLtiaas, no_csrf: Flask, policy: str
) -> None:
    app.config.update(APPROVAL_POLICY=policy, ALLOW_AUTO_ACTIVATE_CHOICE=False, DEFAULT_AUTO_ACTIVATE=False)
    browser = browser_of(app, "staff")
    public_id = public_id_from(start(browser))
    assert 'id="auto_activate"' in browser.get(f"/registration/{public_id}/configure").text
    browser.post(f"/registration/{public_id}/configure", data=SPRINGFIELD)
    confirm = browser.get(f"/registration/{public_id}/confirm").text
    assert 'id="register-tool"' in confirm and 'id="staff-completes"' in confirm
    assert 'id="request-approval"' not in confirm

    done = browser.post(f"/registration/{public_id}/complete", follow_redirects=True)

    assert CLOSE_HTML in done.text
    (sent,) = ltiaas.requests_to("complete_registration")
    assert sent.json()["autoActivate"] is True


def test_self_service_follows_the_vendors_activation_settings(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient, no_csrf: Flask
) -> None:
    app.config.update(ALLOW_AUTO_ACTIVATE_CHOICE=False, DEFAULT_AUTO_ACTIVATE=True)
    public_id = configured_by(
        customer_browser, {k: v for k, v in SPRINGFIELD.items() if k != "auto_activate"}
    )
    customer_browser.post(f"/registration/{public_id}/complete")
    (sent,) = ltiaas.requests_to("complete_registration")
    assert sent.json()["autoActivate"] is True


def test_review_later_never_activates_and_tells_the_customer_staff_will(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient, no_csrf: Flask
) -> None:
    app.config["APPROVAL_POLICY"] = "review-later"
    public_id = public_id_from(start(customer_browser))
    configure = customer_browser.get(f"/registration/{public_id}/configure").text
    assert 'id="auto_activate"' not in configure
    assert "vendor reviews and activates each new LMS" in configure

    customer_browser.post(
        f"/registration/{public_id}/configure", data=SPRINGFIELD
    )  # a forged auto_activate=y
    assert (
        "Waits for the tool's vendor to activate it"
        in customer_browser.get(f"/registration/{public_id}/confirm").text
    )
    done = customer_browser.post(f"/registration/{public_id}/complete", follow_redirects=True).text

    (sent,) = ltiaas.requests_to("complete_registration")
    assert sent.json()["autoActivate"] is False
    assert 'id="review-later-notice"' in done
    assert "staff review each new LMS and then activate" in done


def test_review_later_is_enforced_at_completion_even_for_choices_saved_under_another_policy(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient, no_csrf: Flask
) -> None:
    public_id = configured_by(customer_browser)  # self-service: activation ticked and saved
    app.config["APPROVAL_POLICY"] = "review-later"
    customer_browser.post(f"/registration/{public_id}/complete")
    (sent,) = ltiaas.requests_to("complete_registration")
    assert sent.json()["autoActivate"] is False


def test_live_approval_asks_for_approval_instead_of_registering(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient, no_csrf: Flask
) -> None:
    app.config["APPROVAL_POLICY"] = "live-approval"
    public_id = configured_by(customer_browser)
    confirm = customer_browser.get(f"/registration/{public_id}/confirm").text
    assert 'id="request-approval"' in confirm and ">Send for approval</button>" in confirm
    assert 'id="register-tool"' not in confirm
    assert f'action="/registration/{public_id}/request"' in confirm


def test_a_request_for_approval_needs_live_approval_and_an_account(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient, no_csrf: Flask
) -> None:
    public_id = configured_by(customer_browser)  # self-service
    refused = customer_browser.post(f"/registration/{public_id}/request")
    assert refused.location.startswith(f"/registration/{public_id}/confirm")
    app.config["APPROVAL_POLICY"] = "live-approval"
    become(app, customer_browser, "anonymous")
    assert customer_browser.post(f"/registration/{public_id}/request").location.startswith("/auth/sign-in?")
    with app.app_context():
        assert get_session().query(ApprovalRequest).count() == 0


def test_the_audit_trail_names_who_completed_and_with_which_choices(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient, customer: User, no_csrf: Flask
) -> None:
    public_id = configured_by(customer_browser)
    customer_browser.post(f"/registration/{public_id}/complete")
    trail = audit_trail(app, public_id)
    actors = {action: actor for action, actor, _ in trail}
    assert actors["received"] == "lms-admin"
    assert actors["state:reviewed"] == customer.email
    assert actors["state:completing"] == customer.email
    assert actors["state:completed"] == customer.email
    completing = next(details for action, _, details in trail if action == "state:completing")
    assert completing["choices"]["platformName"] == "Springfield Moodle"
    assert completing["choices"]["autoActivate"] is True


# The one function that decides the next step


@pytest.fixture
def reviewed(app: Flask) -> Iterator[Registration]:
    with app.test_request_context("/"):
        db = get_session()
        registration = receiving.receive_registration(db, get_ltiaas(), "reg-moodle")
        choices.save_choices(db, registration, choices.default_choices(registration))
        yield registration


def signed_in_as(app: Flask, role: str) -> User | None:
    if role == "anonymous":
        return None
    user = add_person(app, "customer" if role == "disabled" else role)
    user.is_disabled = role == "disabled"
    return user


NEXT_STEPS = {
    # (role, policy): step, without a price set
    **{("anonymous", policy): "sign_in" for policy in POLICIES},
    **{("disabled", policy): "sign_in" for policy in POLICIES},
    **{("staff", policy): "confirm" for policy in POLICIES},
    ("customer", "self-service"): "confirm",
    ("customer", "review-later"): "confirm",
    ("customer", "live-approval"): "request",
}


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("role", ROLES)
def test_next_step_by_role_and_policy(app: Flask, reviewed: Registration, role: str, policy: str) -> None:
    app.config["APPROVAL_POLICY"] = policy
    assert next_step(get_session(), reviewed, signed_in_as(app, role)) == NEXT_STEPS[role, policy]


@pytest.mark.parametrize("policy", POLICIES)
def test_with_a_price_a_customer_pays_first_and_staff_never_do(
    app: Flask, reviewed: Registration, policy: str
) -> None:
    app.config.update(APPROVAL_POLICY=policy, STRIPE_PRICE_ID="price_registration")
    db = get_session()
    customer = signed_in_as(app, "customer")
    assert next_step(db, reviewed, customer) == "pay"
    assert next_step(db, reviewed, signed_in_as(app, "staff")) == "confirm"
    db.add(Payment(registration_id=reviewed.id, status=PaymentStatus.PAID.value))
    db.commit()
    assert next_step(db, reviewed, customer) == NEXT_STEPS["customer", policy]


def test_a_request_for_approval_means_waiting_whoever_asks(app: Flask, reviewed: Registration) -> None:
    db = get_session()
    customer = signed_in_as(app, "customer")
    db.add(
        ApprovalRequest(
            registration_id=reviewed.id,
            requested_by_email=customer.email,  # type: ignore[attr-defined]
            requested_choices=reviewed.overrides,
        )
    )
    db.commit()
    for role in ("customer", "staff"):
        assert next_step(db, reviewed, signed_in_as(app, role)) == "wait"
    assert next_step(db, reviewed, signed_in_as(app, "anonymous")) == "sign_in"


def test_the_confirm_page_sends_a_customer_who_must_pay_to_the_payment_page_and_back(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient, no_csrf: Flask
) -> None:
    public_id = configured_by(customer_browser)
    app.config["STRIPE_PRICE_ID"] = "price_registration"
    for response in (
        customer_browser.get(f"/registration/{public_id}/confirm"),
        customer_browser.post(f"/registration/{public_id}/complete"),
    ):
        assert response.status_code == 303
        assert response.location.startswith("/billing/checkout/")
        assert next_of(response.location) == f"/registration/{public_id}/confirm"
    assert ltiaas.requests_to("complete_registration") == []
