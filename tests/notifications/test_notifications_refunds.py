"""Staff hear once about each paid registration that needs a refund, whichever way it stopped being
registrable, however many processes sweep."""

from __future__ import annotations

import threading
from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from portal.db import get_session
from portal.models import (
    ApprovalRequest,
    ApprovalState,
    Notification,
    Payment,
    PaymentStatus,
    Registration,
    User,
    utcnow,
)
from portal.notifications import outbox, sweep
from tests.notifications.conftest import ChatWebhook


def paid_registration(app: Flask, name: str, expires_in: timedelta, state: str = "reviewed") -> str:
    """A registration someone paid for; the payment's public id."""
    with app.app_context():
        db = get_session()
        registration = Registration(
            ltiaas_registration_id=f"reg-{name}",
            platform_url=f"https://{name}.example.edu",
            family_code="moodle",
            state=state,
            overrides={"platformName": f"{name.title()} Moodle"},
            expires_at=utcnow() + expires_in,
        )
        payment = Payment(
            registration=registration,
            status=PaymentStatus.PAID.value,
            customer_email=f"admin@{name}.example.edu",
            amount_total=4900,
            currency="usd",
            stripe_session_id=f"cs_{name}",
            stripe_payment_intent=f"pi_{name}",
            paid_at=utcnow(),
        )
        db.add_all([registration, payment])
        db.commit()
        return payment.public_id


def sweep_now(app: Flask) -> int:
    with app.app_context():
        return sweep.enqueue_refunds_due(get_session())


def queued_keys(app: Flask) -> list[str]:
    with app.app_context():
        return sorted(
            get_session().scalars(select(Notification.event_key).where(Notification.channel == "webhook"))
        )


def test_an_expired_paid_registration_is_reported_once_with_what_to_do(
    app: Flask, chat_webhook: ChatWebhook
) -> None:
    expired = paid_registration(app, "springfield", expires_in=timedelta(minutes=-1))
    paid_registration(app, "shelbyville", expires_in=timedelta(hours=1))  # can still be registered

    assert sweep_now(app) == 2  # e-mail and webhook
    assert sweep_now(app) == 0
    with app.app_context():
        outbox.drain(get_session())

    assert queued_keys(app) == [f"refund-due:{expired}"]
    (text,) = chat_webhook.texts
    assert text == (
        '49.00 USD paid by admin@springfield.example.edu for "Springfield Moodle" with Moodle at '
        "springfield.example.edu did not end in a registration: the registration expired unfinished.\n"
        "Refund it in Stripe (payment pi_springfield), then record the refund: "
        "https://portal.vendor.example/admin/payments/"
    )


def test_a_declined_request_says_who_declined_it(app: Flask, chat_webhook: ChatWebhook) -> None:
    payment_id = paid_registration(app, "ogdenville", expires_in=timedelta(hours=1))
    with app.app_context():
        db = get_session()
        payment = db.scalar(select(Payment).where(Payment.public_id == payment_id))
        user = User(email="admin@ogdenville.example.edu", password_hash="!", role="customer")
        db.add(user)
        db.flush()
        db.add(
            ApprovalRequest(
                registration_id=payment.registration_id,
                requested_by_id=user.id,
                requested_by_email=user.email,
                requested_choices={},
                state=ApprovalState.REJECTED.value,
                decided_by_email="boss@vendor.example",
            )
        )
        db.commit()

    sweep_now(app)
    with app.app_context():
        outbox.drain(get_session())

    assert (
        "did not end in a registration: the request was declined by boss@vendor.example."
        in chat_webhook.texts[0]
    )


def test_refunded_and_registered_payments_are_never_reported(app: Flask) -> None:
    paid_registration(app, "registered", expires_in=timedelta(minutes=-1), state="completed")
    refunded = paid_registration(app, "refunded", expires_in=timedelta(minutes=-1))
    with app.app_context():
        db = get_session()
        db.scalar(select(Payment).where(Payment.public_id == refunded)).refunded_at = utcnow()
        db.commit()

    assert sweep_now(app) == 0


def test_processes_sweeping_at_once_report_each_refund_once(app: Flask) -> None:
    for name in ("a", "b", "c", "d"):
        paid_registration(app, f"town-{name}", expires_in=timedelta(minutes=-1))
    start = threading.Barrier(3)

    def process() -> None:
        start.wait()
        sweep_now(app)

    threads = [threading.Thread(target=process) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    with app.app_context():
        assert len(get_session().scalars(select(Notification)).all()) == 8  # 4 refunds x 2 channels
