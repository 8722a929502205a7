"""A NUL (or any control character) typed, pasted or forged into a form, a link or an answer from
LTIAAS is refused or cleaned before it reaches the database: PostgreSQL would refuse it with a 500.

Run on PostgreSQL too (`TEST_DATABASE_URL`): on SQLite most of these would pass even unprotected.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_wtf import FlaskForm
from sqlalchemy import func, select

import portal
from portal.billing.stripe_gateway import init_stripe
from portal.db import get_session
from portal.forms import PortalForm
from portal.models import ApprovalRequest, Payment, Registration, User
from portal.text import is_acceptable, one_line, unacceptable_characters, without_unacceptable
from tests.accounts import PASSWORD
from tests.fakes.http import JsonHandler
from tests.fakes.ltiaas import FakeLtiaas
from tests.registration.helpers import SPRINGFIELD, configured_by, public_id_from, start

CONTROL_CHARACTERS = ["\x00", "\x01", "\x1b", "\x7f", "\x9f"]
REFUSED = "invisible control character"


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def with_character(value: str, character: str) -> str:
    return f"{value[:3]}{character}{value[3:]}"


def users(app: Flask) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(User))


# What counts as a control character


@pytest.mark.parametrize("character", [*CONTROL_CHARACTERS, "\n", "\t", "\r", "\ud800", "\udfff"])
def test_control_characters_and_lone_surrogates_are_unacceptable(character: str) -> None:
    assert not is_acceptable(f"a{character}b")
    assert unacceptable_characters(f"a{character}b") == [character]


@pytest.mark.parametrize(
    "value", ["Springfield Université", "名古屋大学", "O'Brien & <Sons>", "😀", "\u00a0"]
)
def test_every_printable_text_is_acceptable(value: str) -> None:
    assert is_acceptable(value)


def test_cleaning_keeps_line_breaks_only_where_asked() -> None:
    assert without_unacceptable("a\x00b\r\nc\td\ud800") == "ab\r\nc\td"
    assert one_line("  Moo\x00dle\n4\ud800 ", 255) == "Moo dle 4"


# Forms: the message beside the field, nothing stored


@pytest.mark.parametrize("character", CONTROL_CHARACTERS)
@pytest.mark.parametrize("field", ["email", "organisation", "password"])
def test_sign_up_refuses_a_control_character_in_any_field_beside_that_field(
    app: Flask, no_csrf: Flask, field: str, character: str
) -> None:
    form = {"email": "admin@springfield.edu", "organisation": "Springfield", "password": PASSWORD}
    form[field] = with_character(form[field], character)

    response = app.test_client().post("/auth/sign-up", data={**form, "confirm": form["password"]})

    assert response.status_code == 200
    errors = text(response).split(f'id="{field}-errors"', 1)[1].split("</ul>", 1)[0]
    assert REFUSED in errors
    assert users(app) == 0


@pytest.mark.parametrize("character", CONTROL_CHARACTERS)
@pytest.mark.parametrize("field", ["email", "password"])
def test_sign_in_refuses_a_control_character_beside_the_field(
    app: Flask, no_csrf: Flask, customer: User, field: str, character: str
) -> None:
    form = {"email": customer.email, "password": PASSWORD}
    form[field] = with_character(form[field], character)

    response = app.test_client().post("/auth/sign-in", data=form)

    assert response.status_code == 200
    assert REFUSED in text(response).split(f'id="{field}-errors"', 1)[1]


def test_a_forged_hidden_field_is_answered_with_the_400_page(
    app: Flask, no_csrf: Flask, customer: User
) -> None:
    response = app.test_client().post(
        "/auth/sign-in", data={"email": customer.email, "password": PASSWORD, "next": "/registration/\x00"}
    )

    assert response.status_code == 400
    assert "invisible control character (U+0000)" in text(response)
    assert response.location is None


@pytest.mark.parametrize("character", [*CONTROL_CHARACTERS, "\n", "\t"])
def test_the_platform_name_refuses_a_control_character(
    app: Flask, ltiaas: FakeLtiaas, no_csrf: Flask, customer_browser: FlaskClient, character: str
) -> None:
    public_id = public_id_from(start(customer_browser))

    response = customer_browser.post(
        f"/registration/{public_id}/configure",
        data={**SPRINGFIELD, "platform_name": with_character("Springfield Moodle", character)},
    )

    assert response.status_code == 400
    assert 'id="platform_name-errors"' in text(response)
    with app.app_context():
        assert get_session().scalar(select(Registration.overrides)) is None


@pytest.fixture
def pending_request(app: Flask, ltiaas: FakeLtiaas, no_csrf: Flask, customer_browser: FlaskClient) -> str:
    app.config["APPROVAL_POLICY"] = "live-approval"
    public_id = configured_by(customer_browser)
    assert customer_browser.post(f"/registration/{public_id}/request").status_code == 303
    with app.app_context():
        return get_session().scalars(select(ApprovalRequest.public_id)).one()


def reject(staff_browser: FlaskClient, approval: str, reason: str) -> Any:
    return staff_browser.post(
        f"/admin/approvals/{approval}/reject", data={"reason": reason, "confirm_reject": "y"}
    )


def stored_reason(app: Flask) -> str | None:
    with app.app_context():
        return get_session().scalars(select(ApprovalRequest.reason)).one()


def test_a_rejection_reason_may_take_line_breaks(
    app: Flask, pending_request: str, staff_browser: FlaskClient
) -> None:
    response = reject(staff_browser, pending_request, "Not this term.\r\nAsk again in May.\tThanks")

    assert response.status_code == 303
    assert stored_reason(app) == "Not this term.\r\nAsk again in May.\tThanks"


@pytest.mark.parametrize("character", CONTROL_CHARACTERS)
def test_a_rejection_reason_refuses_other_control_characters(
    app: Flask, pending_request: str, staff_browser: FlaskClient, character: str
) -> None:
    response = reject(staff_browser, pending_request, with_character("Not this term.\nSorry", character))

    assert response.status_code == 400
    assert REFUSED in text(response).split('id="reason-errors"', 1)[1]
    assert stored_reason(app) is None


def test_the_staffs_approval_form_refuses_a_control_character(
    app: Flask, ltiaas: FakeLtiaas, pending_request: str, staff_browser: FlaskClient
) -> None:
    response = staff_browser.post(
        f"/admin/approvals/{pending_request}/approve",
        data={**SPRINGFIELD, "platform_name": "Spring\x00field", "confirm_approve": "y"},
    )

    assert response.status_code == 400
    assert REFUSED in text(response)
    assert ltiaas.requests_to("complete_registration") == []


def _portal_modules() -> Iterator[str]:
    root = Path(portal.__file__).parent
    for module in pkgutil.walk_packages([str(root)], prefix="portal."):
        yield module.name


def _subclasses(cls: type) -> Iterator[type]:
    for subclass in cls.__subclasses__():
        yield subclass
        yield from _subclasses(subclass)


def test_every_form_of_the_portal_gets_the_rule() -> None:
    """A new form inheriting Flask-WTF's FlaskForm instead of PortalForm fails here."""
    for name in _portal_modules():
        importlib.import_module(name)

    forms = [form for form in _subclasses(FlaskForm) if form.__module__.startswith("portal.")]

    assert forms, "no form found"
    assert [form for form in forms if not issubclass(form, PortalForm)] == []


@pytest.mark.parametrize(
    "command",
    [
        ["create-staff", "ops\x00@vendor.com", "--password", PASSWORD],
        ["reset-password", "ops\x00@vendor.com", "--password", PASSWORD],
        ["disable-user", "ops\x00@vendor.com"],
        ["erase-user", "ops\x00@vendor.com", "--yes"],
    ],
    ids=["create-staff", "reset-password", "disable-user", "erase-user"],
)
def test_the_account_commands_refuse_a_control_character_in_an_email(app: Flask, command: list[str]) -> None:
    result = app.test_cli_runner().invoke(args=command)

    assert result.exit_code == 1, result.output
    assert "Error:" in result.output
    assert users(app) == 0


# Links: query parameters and path segments


@pytest.mark.parametrize(
    "url",
    [
        "/intermediate-target?registrationId=reg%00moodle",
        "/intermediate-target?registrationId=reg-moodle&extra=%1b",
        "/auth/sign-in?next=/registration/x%00",
        "/auth/sign-up?next=%7f",
        "/billing/done/abc?session_id=cs_test%00",
        "/billing/checkout/abc?next=/x%c2%85",
        "/registration/abc/?_st=%00",
        "/auth/sign-in?%00=1",
    ],
)
def test_a_control_character_in_a_query_parameter_is_answered_400_with_what_was_wrong(
    app: Flask, ltiaas: FakeLtiaas, url: str
) -> None:
    response = app.test_client().get(url)

    assert response.status_code == 400
    assert "The link or form holds characters we cannot accept" in text(response)
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/billing/checkout/ab%00c"),
        ("GET", "/billing/status/ab%00c"),
        ("POST", "/billing/checkout/ab%00c/session"),
        ("GET", "/billing/return/ab%00c"),
        ("GET", "/admin/approvals/ab%00c"),
        ("POST", "/admin/payments/ab%00c/refunded"),
        ("GET", "/registration/ab%00c/"),
    ],
)
def test_a_control_character_in_a_path_names_nothing(
    app: Flask, no_csrf: Flask, staff_browser: FlaskClient, method: str, url: str
) -> None:
    assert staff_browser.open(url, method=method).status_code == 404


def test_a_json_client_gets_json(app: Flask) -> None:
    response = app.test_client().get("/sandbox/api/x?q=%00", headers={"Accept": "application/json"})

    assert response.status_code == 400
    assert response.get_json()["status"] == 400


# What the LMS says about itself, through LTIAAS


def test_control_characters_in_what_the_lms_says_about_itself_never_reach_the_database(
    app: Flask, ltiaas: FakeLtiaas
) -> None:
    platform = {
        "product_family_code": "moo\x00dle" + "e" * 300,
        "version": "4.4\x00\ud800",
        "https://canvas.instructure.com/lti/account_name": "Spring\x00field\x1b",
        "messages_supported": [
            {"type": "LtiResourceLinkRequest", "placements": ["Content\x00Area", "ContentArea"]},
            {"type": "LtiDeep\x00LinkingRequest"},
        ],
    }
    configuration = {
        "issuer": "https://lms.example.edu",
        "scopes_supported": ["openid", "bad\x00scope"],
        "https://purl.imsglobal.org/spec/lti-platform-configuration": platform,
    }
    ltiaas.add_registration("reg-hostile", configuration)
    ltiaas.add_platform("Old\x00 Moodle \ud800", url="https://lms.example.edu")
    browser = app.test_client()

    arrived = browser.get("/intermediate-target?registrationId=reg-hostile")
    review = browser.get(arrived.location)

    assert arrived.status_code == 303 and review.status_code == 200
    with app.app_context():
        registration = get_session().scalars(select(Registration)).one()
        texts = [
            registration.family_code,
            registration.platform_version,
            registration.account_name or "",
            *registration.supported_scopes,
            *[m["type"] for m in registration.supported_messages],
            *[p for m in registration.supported_messages for p in m["placements"]],
            *[p["name"] for p in registration.known_platforms or []],
        ]
    assert all(is_acceptable(value) for value in texts), texts
    assert registration.family_code.startswith("moo dle") and len(registration.family_code) == 255
    assert registration.supported_messages == [
        {"type": "LtiResourceLinkRequest", "placements": ["ContentArea"]}
    ]


def test_an_lms_url_with_a_control_character_is_not_stored(app: Flask, ltiaas: FakeLtiaas) -> None:
    ltiaas.add_registration("reg-hostile", {"issuer": "https://lms.example.edu/\x00"})

    response = app.test_client().get("/intermediate-target?registrationId=reg-hostile")

    assert response.status_code == 502  # an answer the portal cannot use: not a 500
    with app.app_context():
        assert get_session().scalar(select(func.count()).select_from(Registration)) == 0


# What Stripe answers


class OddStripe(JsonHandler):
    """Answers every Checkout Session read with a paid session holding `answer`'s values."""

    answer: ClassVar[dict[str, Any]] = {}

    def do_GET(self) -> None:
        self.send_json(
            200,
            {
                "id": "cs_test_odd",
                "object": "checkout.session",
                "status": "complete",
                "payment_status": "paid",
                "mode": "payment",
                "amount_total": 4900,
                "currency": "usd",
                **self.answer,
            },
        )


@pytest.fixture
def odd_stripe(app: Flask) -> Iterator[type[OddStripe]]:
    handler = type("Handler", (OddStripe,), {"answer": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app.config["STRIPE_API_BASE"] = f"http://127.0.0.1:{server.server_address[1]}"
    init_stripe(app)
    yield handler
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "answer",
    [
        {"customer": "cus_\u0000"},
        {"payment_intent": "pi_\ud800"},
        {"currency": "usdx"},
        {"amount_total": "4900"},
    ],
    ids=["a NUL", "a lone surrogate", "a currency too long", "an amount as text"],
)
def test_a_stripe_answer_the_portal_cannot_store_is_a_provider_error_not_a_500(
    app: Flask, ltiaas: FakeLtiaas, odd_stripe: type[OddStripe], answer: dict[str, Any]
) -> None:
    odd_stripe.answer = answer
    browser = app.test_client()
    public_id = public_id_from(start(browser))
    with app.app_context():
        db = get_session()
        registration = db.scalars(select(Registration).where(Registration.public_id == public_id)).one()
        payment = Payment(registration_id=registration.id, stripe_session_id="cs_test_odd")
        db.add(payment)
        db.commit()
        payment_id = payment.public_id

    response = browser.get(f"/billing/done/{payment_id}?session_id=cs_test_odd")

    assert response.status_code == 200
    with app.app_context():
        assert get_session().scalars(select(Payment.status)).one() == "pending"
