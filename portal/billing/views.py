"""The payment step of the registration flow: Embedded Checkout in the flow's page (inside the
LMS's iframe), hosted Checkout in a new window as the fallback, and the pages Stripe sends back to.

The flow (`registration.views._pay_first`) sends a customer to `checkout` with the payment's
public id and the flow page to continue with (`next`, a local path; the registration's confirm
page when none is given). The page moves on only after our server says the payment is paid
(`status`), which it says only after Stripe confirmed it.

Who may use a payment's pages: the browser whose session holds the payment's registration (the
flow's session, by cookie or by token) or the signed-in user who owns the payment; anyone else
gets a 404, so a leaked payment id is useless; a browser whose flow holds the registration but
is signed in with another customer account than the one it belongs to is shown the flow's
"another_account" page. The new window shares no session with the iframe:
it is let in by a one-time link (`hosted`), then by the Checkout Session id that Stripe puts in
its success URL (`done`). No Checkout Session is started for a registration that can no longer
be registered (expired, finished), nor for someone who does not pay (staff, nobody signed in).
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select
from werkzeug.wrappers import Response

from portal.auth.navigation import safe_next, with_session_token
from portal.auth.users import signed_in_user
from portal.billing import bp
from portal.billing.fulfilment import (
    CheckoutStart,
    fulfil_checkout_session,
    payment_required,
    recheck_if_due,
    start_checkout_for_payment,
)
from portal.billing.links import issue_hosted_token, redeem_hosted_token
from portal.billing.money import format_money
from portal.billing.stripe_gateway import (
    EMBEDDED,
    HOSTED,
    PaymentProviderError,
    PaymentProviderUnavailable,
    get_gateway,
)
from portal.billing.stripe_js import get_stripe_js
from portal.branding import brand
from portal.db import get_session
from portal.models import Payment, PaymentStatus
from portal.registration.access import may_act_on, refuse_other_accounts, sign_in_to_continue
from portal.registration.display import describe
from portal.registration.policy import must_ask_approval
from portal.registration.problems import RegistrationProblem
from portal.security import add_csp_source, forbid_framing

UNAVAILABLE = "Payment is unavailable right now. Please try again in a minute."
# Stripe refused (not failed): trying again cannot help, only the vendor can fix it (a price that
# does not fit STRIPE_PRICE_MODE, a key that lost its rights); `flask check` names the cause.
REFUSED = (
    "Payment cannot be taken right now because of a problem with the tool's vendor's payment "
    "settings. Nothing was charged. Please contact the tool's vendor."
)
ASYNC_FAILED = (
    "Your bank declined the payment after it was submitted, so it was not paid. You can pay again below."
)


def allow_stripe_js() -> None:
    """Let this response load Stripe.js and Checkout as Stripe's security guide lists (or the
    stand-in's origin, when STRIPE_JS_BASE points at it), and nothing more."""
    for directive, origins in get_stripe_js().csp_sources().items():
        for origin in origins:
            add_csp_source(directive, origin)


def _payment_or_404(public_id: str) -> Payment:
    payment = get_session().scalar(select(Payment).where(Payment.public_id == public_id))
    if payment is None:
        abort(404)
    return payment


def may_use(payment: Payment) -> bool:
    """Whether this browser may see and pay `payment`: its flow holds the registration, or it owns it."""
    if may_act_on(payment.registration.public_id):
        return True
    user = signed_in_user()
    return user is not None and payment.user_id is not None and payment.user_id == user.id


def _payment_for_browser(public_id: str) -> Payment:
    """:raise 404: unknown payment, or one this browser may not use (indistinguishable).
    :raise RegistrationProblem: another_account (the registration is another customer's)."""
    payment = _payment_or_404(public_id)
    if not may_use(payment):
        abort(404)
    refuse_other_accounts(payment.registration, signed_in_user())
    return payment


@bp.errorhandler(RegistrationProblem)
def registration_problem(problem: RegistrationProblem) -> tuple[Response | str, int] | Response:
    """The flow's problem page (JSON for the page's scripts) for a payment's registration."""
    text = problem.text
    if request.method == "POST" or request.endpoint == "billing.status":
        return _json({"error": text.heading, "problem": problem.kind}, text.status)
    if problem.kind == "sign_in_to_continue":
        return sign_in_to_continue(problem)
    return render_template("registration/problem.html", problem=problem, text=text, payment=None), text.status


def _may_pay(payment: Payment) -> bool:
    """Whether a Checkout Session may be started: a signed-in customer, a registration still open."""
    user = signed_in_user()
    return user is not None and payment_required(user) and payment.registration.is_open()


def _flow_page(payment: Payment) -> str:
    """Where the flow goes on (a path without a session token): `next` as stored, or confirm."""
    return payment.next_url or url_for(
        "registration.confirm", public_id=payment.registration.public_id, _st=None
    )


def _remember_next(payment: Payment) -> None:
    requested = safe_next(request.args.get("next"))
    if requested and requested != payment.next_url:
        payment.next_url = requested
        get_session().commit()


def _json(body: dict[str, Any], code: int = 200) -> tuple[Response, int]:
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, code


@bp.get("/checkout/<public_id>")
def checkout(public_id: str) -> Response | str:
    """The flow's payment step: Embedded Checkout, with "Pay in a new window" as the fallback.

    A paid payment, or one that cannot be paid now (the registration closed, nobody or staff
    signed in), goes straight on to the flow page, which shows where things stand.
    """
    payment = _payment_for_browser(public_id)
    _remember_next(payment)
    # From our records only: the page's script asks for its Checkout Session at once, and that
    # call reads the session from Stripe (a payment completed meanwhile is recorded then).
    if payment.is_paid or not _may_pay(payment):
        return redirect(with_session_token(_flow_page(payment)), code=303)
    # First, so the session holds its CSRF secret before URLs decide whether to carry the token.
    generate_csrf()
    allow_stripe_js()
    registration = payment.registration
    return render_template(
        "billing/checkout.html",
        payment=payment,
        registration=registration,
        asks_approval=must_ask_approval(signed_in_user()),
        lms=describe(registration),
        **_price_words(),
        next_url=with_session_token(_flow_page(payment)),
        hosted_url=url_for_hosted(payment),
        stripe_js=get_stripe_js(),
        publishable_key=current_app.config["STRIPE_PUBLISHABLE_KEY"],
        problem=ASYNC_FAILED if payment.status == PaymentStatus.FAILED.value else None,
        async_failed=ASYNC_FAILED,
    )


def _price_words() -> dict[str, Any]:
    """The price as people read it (`fee`, e.g. "49.00 USD per month"; None if Stripe cannot say), and
    whether it recurs (`subscription`: the page cannot say "you pay once")."""
    price = get_gateway().shown_price()
    if price is None:
        return {"fee": None, "subscription": False}
    label = format_money(price.unit_amount, price.currency) if price.unit_amount is not None else None
    fee = f"{label} per {price.interval}" if label and price.interval else label
    return {"fee": fee, "subscription": price.interval is not None}


def url_for_hosted(payment: Payment) -> str:
    return url_for("billing.hosted", token=issue_hosted_token(payment))


def _start_json(start: CheckoutStart) -> dict[str, Any]:
    body: dict[str, Any] = {"state": start.state}
    if start.state == "open":
        body["client_secret"] = start.client_secret
    if start.replaced == PaymentStatus.FAILED.value:
        body["notice"] = ASYNC_FAILED
    return body


@bp.post("/checkout/<public_id>/session")
def create_session(public_id: str) -> tuple[Response, int]:
    """The Embedded Checkout session's client secret for Stripe.js (one per payment attempt).

    Answers {"state": "open", "client_secret": ...}, {"state": "paid"}, {"state": "processing"}
    or, when nothing may be paid now, {"state": "closed"} (the page then goes back to the flow).
    An open session that replaces one whose bank debit failed comes with a `notice` saying so.
    """
    payment = _payment_for_browser(public_id)
    if not payment.is_paid and not _may_pay(payment):
        return _json({"state": "closed"})
    try:
        start = start_checkout_for_payment(payment, EMBEDDED)
    except PaymentProviderUnavailable:
        return _json({"error": UNAVAILABLE}, 503)
    except PaymentProviderError:
        current_app.logger.exception("could not start embedded checkout for payment %s", public_id)
        return _json({"error": brand().named(REFUSED)}, 502)
    return _json(_start_json(start))


@bp.post("/checkout/<public_id>/hosted-link")
def hosted_link(public_id: str) -> tuple[Response, int]:
    """A fresh one-time link for the next click on "Pay in a new window"."""
    return _json({"url": url_for_hosted(_payment_for_browser(public_id))})


@bp.get("/status/<public_id>")
def status(public_id: str) -> tuple[Response, int]:
    """What the payment page polls: the payment's state as our records say (the webhook keeps
    them up to date), asking Stripe itself at most every STRIPE_RECHECK_AFTER seconds."""
    payment = recheck_if_due(_payment_for_browser(public_id))
    return _json({"status": payment.status, "paid": payment.is_paid})


@bp.get("/hosted/<token>")
def hosted(token: str) -> Response | tuple[str, int]:
    """The new window's entry: a one-time link that opens hosted Checkout for the payment."""
    forbid_framing()
    payment = redeem_hosted_token(token)
    if payment is None:
        return render_template("billing/link_used.html"), 400
    if not payment.is_paid and not payment.registration.is_open():
        return render_template("billing/closed.html"), 409
    try:
        start = start_checkout_for_payment(payment, HOSTED)
    except PaymentProviderUnavailable:
        current_app.logger.warning("could not start hosted checkout for payment %s", payment.public_id)
        return render_template("billing/unavailable.html"), 503
    except PaymentProviderError:
        current_app.logger.exception("could not start hosted checkout for payment %s", payment.public_id)
        return render_template("billing/refused.html", said=brand().named(REFUSED)), 502
    if start.state == "closed":
        return render_template("billing/closed.html"), 409
    if start.state == "open" and start.session is not None and start.session.url:
        return redirect(start.session.url, code=303)
    return render_template("billing/done.html", payment=payment), 200


def _fulfil_from_return(payment: Payment) -> bool:
    """Record what Stripe says of the session it sent the browser back with (`session_id`);
    True if that session is `payment`'s, which is what lets a browser with no session in.

    Any other id is answered without asking Stripe: the page must not let anyone make us
    look up arbitrary sessions. (The session that paid stays the payment's, so a late
    return still matches.)
    """
    session_id = request.args.get("session_id", "")
    if not session_id or session_id != payment.stripe_session_id:
        return False
    try:
        fulfil_checkout_session(session_id, actor="customer")
    except (PaymentProviderUnavailable, PaymentProviderError):
        current_app.logger.warning("could not confirm session %s on return", session_id)
    get_session().refresh(payment)
    return True


@bp.get("/return/<public_id>")
def returned(public_id: str) -> str:
    """Embedded Checkout's return_url (used only by redirect-based payment methods): wait, then go on.

    Stripe's redirect carries no session token, so a browser that keeps no cookie for us
    arrives here without its flow: it is told where it stands instead of being sent on.
    """
    payment = _payment_or_404(public_id)
    _fulfil_from_return(payment)
    if not may_use(payment):
        return render_template("billing/return_lost.html")
    return render_template(
        "billing/return.html", payment=payment, next_url=with_session_token(_flow_page(payment))
    )


@bp.get("/done/<public_id>")
def done(public_id: str) -> str:
    """Hosted Checkout's success_url, in the new window: the iframe goes on by itself.

    :raise 404: the `session_id` Stripe adds is missing or not this payment's.
    """
    forbid_framing()
    payment = _payment_or_404(public_id)
    if not _fulfil_from_return(payment):
        abort(404)
    return render_template("billing/done.html", payment=payment)


@bp.get("/cancelled/<public_id>")
def cancelled(public_id: str) -> str:
    """Hosted Checkout's cancel_url, in the new window (says nothing about the payment)."""
    forbid_framing()
    return render_template("billing/cancelled.html")
