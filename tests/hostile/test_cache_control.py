"""Nothing the portal answers may be kept by a browser or a proxy cache, except its static files:
its pages belong to one person's session, and their links may carry the session's `_st` token."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask, Response, request, request_finished
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.routing import Rule

from portal.db import get_session
from portal.models import ApprovalRequest
from tests.billing.conftest import data_attribute
from tests.billing.test_payment_in_flow import client_secret, go_to_payment, pay, stripe_tells_the_portal
from tests.fakes.ltiaas import FakeLtiaas
from tests.registration.helpers import SPRINGFIELD, public_id_from, start

pytestmark = pytest.mark.usefixtures("no_csrf")

FLOW_AND_STAFF = ("registration.", "auth.", "billing.", "admin.", "health.")


@dataclass(frozen=True)
class Answered:
    endpoint: str | None
    method: str
    status: int
    cache_control: str | None


@contextmanager
def every_answer(app: Flask) -> Iterator[list[Answered]]:
    """Each response the app sends while the block runs, as the browser receives it."""
    answers: list[Answered] = []

    def record(_sender: Flask, response: Response, **_extra: Any) -> None:
        answers.append(
            Answered(
                request.endpoint, request.method, response.status_code, response.headers.get("Cache-Control")
            )
        )

    request_finished.connect(record, app)
    try:
        yield answers
    finally:
        request_finished.disconnect(record, app)


def cacheable(answers: list[Answered]) -> list[Answered]:
    return [answer for answer in answers if answer.cache_control != "no-store"]


def test_every_page_of_a_paid_registration_and_of_the_accounts_is_no_store(
    app: Flask, ltiaas: FakeLtiaas, stripe_over_http: str, customer_browser: FlaskClient
) -> None:
    browser = customer_browser
    anonymous = app.test_client()
    with every_answer(app) as answers:
        anonymous.get("/")
        anonymous.get("/auth/sign-in")
        anonymous.get("/auth/sign-up")
        public_id = public_id_from(start(browser))
        browser.get(f"/registration/{public_id}/")
        browser.get(f"/registration/{public_id}/configure")
        browser.post(f"/registration/{public_id}/configure", data=SPRINGFIELD)
        checkout_url = go_to_payment(browser, public_id)
        page = browser.get(checkout_url).get_data(as_text=True)
        payment = checkout_url.split("/billing/checkout/", 1)[1].split("?", 1)[0]
        hosted = browser.post(data_attribute(page, "link-url")).get_json()["url"]
        app.test_client().get(hosted)  # the new window
        secret = client_secret(browser, page)
        pay(stripe_over_http, secret)
        stripe_tells_the_portal(app, secret)  # its webhook: the payment page's poll reads it
        browser.get(data_attribute(page, "status-url"))
        browser.get(f"/billing/return/{payment}")
        browser.get(f"/billing/cancelled/{payment}")
        browser.get(f"/registration/{public_id}/confirm")
        browser.get(f"/registration/{public_id}/complete")
        browser.post(f"/registration/{public_id}/complete")
        browser.get(f"/registration/{public_id}/done")
        browser.get(f"/registration/{public_id}/status")
        browser.get("/auth/account")
        browser.post("/auth/sign-out")

    assert cacheable(answers) == []
    pages = {answer.endpoint for answer in answers if answer.status == 200 and answer.method == "GET"}
    assert {
        "health.home",
        "auth.sign_in",
        "auth.sign_up",
        "auth.account",
        "registration.review",
        "registration.configure",
        "registration.confirm",
        "registration.done",
        "registration.status",
        "billing.checkout",
        "billing.status",
        "billing.returned",
        "billing.cancelled",
    } <= pages


def test_every_page_of_a_live_approval_and_every_staff_page_is_no_store(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient, staff_browser: FlaskClient
) -> None:
    app.config["APPROVAL_POLICY"] = "live-approval"
    with every_answer(app) as answers:
        public_id = public_id_from(start(customer_browser, "reg-canvas"))
        customer_browser.post(
            f"/registration/{public_id}/configure", data={**SPRINGFIELD, "placements_1": []}
        )
        customer_browser.post(f"/registration/{public_id}/request")
        customer_browser.get(f"/registration/{public_id}/waiting")
        staff_browser.get("/admin/")
        staff_browser.get("/admin/approvals/")
        with app.app_context():
            approval = get_session().scalars(select(ApprovalRequest.public_id)).one()
        staff_browser.get(f"/admin/approvals/{approval}")
        staff_browser.get("/admin/payments/")
        staff_browser.post(
            f"/admin/approvals/{approval}/reject", data={"reason": "No", "confirm_reject": "y"}
        )
        customer_browser.get(f"/registration/{public_id}/done")

    assert cacheable(answers) == []
    pages = {answer.endpoint for answer in answers if answer.status == 200 and answer.method == "GET"}
    assert {"registration.waiting", "admin.approvals", "admin.approval", "admin.payments"} <= pages


def url_naming_nothing(rule: Rule) -> str:
    """The rule's URL with ids that name nothing (a number where the rule takes one)."""
    try:
        return rule.build(dict.fromkeys(rule.arguments, "nothing-here"))[1]
    except ValueError:
        return rule.build(dict.fromkeys(rule.arguments, 987654321))[1]


def test_every_route_of_the_flow_and_the_staff_pages_answers_no_store_whoever_asks(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient, staff_browser: FlaskClient
) -> None:
    """Also the routes added after this test was written: every rule of the url map, with ids
    that name nothing (so 404s, redirects and error pages too)."""
    browsers = [app.test_client(), customer_browser, staff_browser]
    with every_answer(app) as answers:
        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith(FLOW_AND_STAFF):
                continue
            url = url_naming_nothing(rule)
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                for browser in browsers:
                    browser.open(url, method=method)

    assert len(answers) > 60
    assert cacheable(answers) == []


def test_static_files_keep_their_caching(app: Flask) -> None:
    response = app.test_client().get("/static/css/portal.css")

    assert response.status_code == 200
    assert response.headers.get("Cache-Control") != "no-store"
    assert response.headers.get("ETag")
    response.close()
