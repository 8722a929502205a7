"""Erasing a customer account's personal data (`portal.auth.erasure`), whoever asks for it: the address
goes from the account and from every copy the portal made of it (payments keep theirs), the
organisation and the password go, what the customer left open closes as a withdrawal does, their
links and queued e-mails are cancelled, and it is audited once. Twice does nothing more; staff
accounts are refused; a sign-in at the same moment writes nothing.

Runs on PostgreSQL too (`TEST_DATABASE_URL`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, cast
from uuid import uuid4

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, inspect, select, text
from sqlalchemy.orm import Session

from portal.auth import email_change, erasure, password_reset, people, service
from portal.auth.erased_copies import CANCELLED
from portal.auth.service import PASSWORD_METHOD, InvalidEmail, PasswordHasher
from portal.db import get_session
from portal.ltiaas import (
    CompletionResult,
    LmsRefusedRegistration,
    LtiaasClient,
    LtiaasOutcomeUnknown,
    LtiaasUnauthorized,
    LtiaasUnavailable,
    Platform,
)
from portal.models import (
    ApprovalRequest,
    ApprovalState,
    AuditEvent,
    Notification,
    PasswordLink,
    Payment,
    PaymentStatus,
    Problem,
    Registration,
    RegistrationState,
    User,
    erased_address,
    load_all,
    record_event,
    utcnow,
)
from portal.notifications import alerts, customer_emails, outbox
from portal.registration import approvals, completion
from tests.accounts import PASSWORD, create_user, sign_in
from tests.auth.helpers import words
from tests.conftest import QUICK_PASSWORD_METHOD, a_closed_url

EMAIL = "admin@springfield.edu"
STAFF = "staff@vendor.example"


@pytest.fixture
def app_settings() -> dict[str, Any]:
    """The portal e-mails customers and staff, to a mail server that never answers: what is queued
    stays in the outbox, as it would until the sender's next round."""
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": int(a_closed_url().rsplit(":", 1)[1]),
        "SMTP_TLS": "none",
        "SMTP_FROM": "portal@vendor.example",
        "NOTIFY_EMAIL_TO": "ops@vendor.example",
        "NOTIFY_DRAIN_INTERVAL": 0,
    }


@pytest.fixture
def customer(app: Flask) -> User:
    return create_user(app, EMAIL, organisation="Springfield University")


def add_registration(
    app: Flask,
    customer: User,
    state: RegistrationState,
    problem: Problem | None = None,
    asked: str | None = None,
) -> str:
    """A registration of `customer`'s, with their request for approval in state `asked` (if any)."""
    with app.app_context():
        db = get_session()
        registration = Registration(
            ltiaas_registration_id=f"reg-{uuid4().hex[:12]}",
            platform_url="https://moodle.springfield.edu",
            family_code="moodle",
            state=state.value,
            problem=problem.value if problem else None,
            customer_id=customer.id,
            overrides={"platformName": "Springfield Moodle"},
            expires_at=utcnow() + timedelta(hours=1),
        )
        db.add(registration)
        db.flush()
        record_event(db, f"state:{state.value}", customer.email, registration)
        if asked is not None:
            approval = ApprovalRequest(
                registration_id=registration.id,
                requested_by_id=customer.id,
                requested_by_email=customer.email,
                requested_choices={"platformName": "Springfield Moodle"},
                state=asked,
            )
            db.add(approval)
            db.flush()
            alerts.approval_requested(db, approval)  # the staff's notification names the customer
        db.commit()
        return registration.public_id


def add_payment(app: Flask, customer: User, registration: str) -> None:
    with app.app_context():
        db = get_session()
        row = db.scalar(select(Registration).where(Registration.public_id == registration))
        assert row is not None
        db.add(
            Payment(
                registration_id=row.id,
                user_id=customer.id,
                customer_email=customer.email,
                status=PaymentStatus.PAID.value,
                stripe_session_id="cs_test_springfield",
                stripe_payment_intent="pi_test_springfield",
                amount_total=4900,
                currency="usd",
                paid_at=utcnow(),
            )
        )
        db.commit()


def erase(app: Flask, user: User, actor: str | None = None) -> bool:
    with app.app_context():
        db = get_session()
        erased = erasure.erase_customer(db, db.get(User, user.id) or user, actor)
        db.commit()
        return erased


def account(app: Flask, user: User) -> User:
    with app.app_context():
        found = get_session().get(User, user.id)
        assert found is not None
        return found


def tables_naming(app: Flask, text: str) -> set[str]:
    """The tables with a row holding `text` in any column."""
    found = set()
    with app.app_context():
        connection = get_session().connection()
        for table in load_all().sorted_tables:
            if not inspect(connection).has_table(table.name):
                continue
            for row in connection.execute(select(table)):
                if any(text in str(value) for value in row):
                    found.add(table.name)
    return found


def state_of(app: Flask, public_id: str) -> tuple[str, str | None, str | None]:
    with app.app_context():
        row = get_session().scalar(select(Registration).where(Registration.public_id == public_id))
        assert row is not None
        return row.state, row.problem, row.last_error


def events(app: Flask, action: str) -> list[tuple[str, dict[str, Any]]]:
    with app.app_context():
        rows = get_session().scalars(select(AuditEvent).where(AuditEvent.action == action))
        return [(row.actor, row.details) for row in rows]


def test_a_customers_address_organisation_and_password_go_and_only_payments_keep_the_address(
    app: Flask, customer: User
) -> None:
    paid = add_registration(app, customer, RegistrationState.COMPLETED)
    add_payment(app, customer, paid)
    with app.app_context():
        db = get_session()
        password_reset.request_reset(db, EMAIL)  # a link e-mailed to them, not sent yet
        record_event(db, "user:signed-in", EMAIL)
        db.commit()
    placeholder = erased_address(customer.id)

    assert erase(app, customer) is True

    erased = account(app, customer)
    assert erased.email == placeholder and placeholder.endswith("@erased.invalid")
    assert erased.organisation is None and erased.is_disabled and erased.is_erased
    assert not app.extensions["password_hasher"].verify(erased.password_hash, PASSWORD)
    assert tables_naming(app, EMAIL) == {"payments"}
    assert tables_naming(app, "Springfield University") == set()
    with app.app_context():
        payment = get_session().scalars(select(Payment)).one()
        assert (payment.customer_email, payment.stripe_payment_intent) == (EMAIL, "pi_test_springfield")
    assert events(app, "user:erased") == [
        (placeholder, {"email": placeholder, "requests_withdrawn": 0, "registrations_closed": 0})
    ]
    assert state_of(app, paid)[0] == "completed"  # the LMS stays registered


def test_the_organisations_they_named_before_go_from_the_audit_trail_too(app: Flask, customer: User) -> None:
    with app.app_context():
        db = get_session()
        user = db.get(User, customer.id)
        assert user is not None
        service.change_organisation(db, user, "Springfield Elementary")
        db.commit()

    erase(app, customer)

    assert tables_naming(app, "Springfield University") == set()
    assert tables_naming(app, "Springfield Elementary") == set()
    assert [actor for actor, _ in events(app, "user:organisation-changed")] == [erased_address(customer.id)]


def test_what_they_left_open_closes_so_nobody_decides_on_a_request_from_nobody(
    app: Flask, customer: User
) -> None:
    asked = add_registration(app, customer, RegistrationState.REVIEWED, asked=ApprovalState.PENDING.value)
    started = add_registration(app, customer, RegistrationState.RECEIVED)
    answer_lost = add_registration(app, customer, RegistrationState.REVIEWED, problem=Problem.UNCONFIRMED)

    erase(app, customer, actor=STAFF)

    with app.app_context():
        approval = get_session().scalars(select(ApprovalRequest)).one()
        assert approval.current_state is ApprovalState.WITHDRAWN
        assert approval.decided_by_email == STAFF
    assert state_of(app, asked) == ("failed", "withdrawn", erasure.CLOSED)
    assert state_of(app, started) == ("failed", "withdrawn", erasure.CLOSED)
    # LTIAAS may have registered the tool: the staff settle it, as after an expiry
    assert state_of(app, answer_lost) == ("failed", "outcome_unknown", erasure.CLOSED_UNCONFIRMED)
    assert [details for actor, details in events(app, "approval:withdrawn")] == [
        {"request": approval.public_id, "reason": "account-erased"}
    ]
    assert [actor for actor, _ in events(app, "state:failed")] == [STAFF] * 3
    assert events(app, "user:erased")[0][1]["requests_withdrawn"] == 1
    assert events(app, "user:erased")[0][1]["registrations_closed"] == 3


def test_their_links_stop_working_and_their_emails_not_sent_yet_are_not_sent(
    app: Flask, customer: User
) -> None:
    add_registration(app, customer, RegistrationState.REVIEWED, asked=ApprovalState.PENDING.value)
    with app.app_context():
        db = get_session()
        password_reset.request_reset(db, EMAIL)
        db.commit()

    erase(app, customer)

    with app.app_context():
        db = get_session()
        link = db.scalars(select(PasswordLink)).one()
        assert link.revoked_at is not None and link.created_by == erased_address(customer.id)
        to_them, to_staff = db.scalars(select(Notification).order_by(Notification.recipient.is_(None))).all()
    assert (to_them.state, to_them.last_error, to_them.secret_seed) == ("failed", CANCELLED, None)
    assert to_them.recipient == erased_address(customer.id)
    assert to_staff.state == "pending"  # the staff still hear of the request, without the address
    assert EMAIL not in to_staff.text and erased_address(customer.id) in to_staff.text


def change_address(app: Flask, customer: User, new: str) -> None:
    """The customer asks to sign in with `new`, and confirms it with the e-mailed link."""
    with app.app_context():
        db = get_session()
        user = db.get(User, customer.id)
        assert user is not None
        email_change.request_change(db, user, new, PASSWORD)
        email_change.confirm_change(db, db.scalars(select(PasswordLink)).one())
        db.commit()


def test_an_earlier_address_goes_too_but_not_from_another_account_that_took_it_since(
    app: Flask, customer: User
) -> None:
    change_address(app, customer, "admin@shelbyville.edu")
    other = create_user(app, EMAIL, organisation="Springfield Elementary")  # the old address, now theirs
    with app.app_context():
        db = get_session()
        record_event(db, "user:signed-in", EMAIL)
        db.commit()

    erase(app, customer)

    assert tables_naming(app, "admin@shelbyville.edu") == set()
    assert events(app, "user:signed-in") == [(EMAIL, {})]  # the other account's
    assert account(app, other).email == EMAIL
    placeholder = erased_address(customer.id)
    assert events(app, "user:email-changed") == [(placeholder, {"from": placeholder, "to": placeholder})]


def test_the_warning_to_the_address_they_left_still_goes_without_naming_the_new_one(
    app: Flask, customer: User
) -> None:
    """Whoever took an account by changing its address can erase it at once: the owner of the
    address it left must still hear that someone else had their account."""
    change_address(app, customer, "thief@elsewhere.example")
    with app.app_context():
        db = get_session()
        link = db.scalars(select(PasswordLink)).one()
        warning = db.scalars(select(Notification).where(Notification.kind == email_change.CHANGED_KIND)).one()
        warning.created_at = link.used_at  # written in the moment the address changed, as it can be
        db.commit()

    erase(app, customer)

    with app.app_context():
        warning = (
            get_session()
            .scalars(select(Notification).where(Notification.kind == email_change.CHANGED_KIND))
            .one()
        )
    assert (warning.state, warning.recipient) == ("pending", EMAIL)
    assert "someone else has your account" in warning.text
    assert "thief@elsewhere.example" not in warning.text
    assert tables_naming(app, "thief@elsewhere.example") == set()


def test_a_second_erasure_does_nothing(app: Flask, customer: User) -> None:
    assert erase(app, customer) is True
    assert erase(app, customer, actor=STAFF) is False

    assert len(events(app, "user:erased")) == 1


def test_a_staff_account_is_refused_and_kept(app: Flask) -> None:
    staff = create_user(app, STAFF, role="staff", organisation=None)

    with pytest.raises(erasure.StaffNotErased, match="Disable it instead"):
        erase(app, staff)

    assert account(app, staff).email == STAFF and not account(app, staff).is_disabled
    assert events(app, "user:erased") == []


def test_every_session_of_the_account_is_signed_out_and_told_why(app: Flask, customer: User) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    browser = app.test_client()
    assert sign_in(browser, EMAIL).status_code == 302

    erase(app, customer)

    assert browser.get("/auth/account").status_code == 302
    assert "You were signed out because your account was deleted." in words(browser.get("/auth/sign-in"))
    assert sign_in(app.test_client(), EMAIL).status_code == 200  # the generic error: no such account


class ErasedWhileChecking(PasswordHasher):
    """The real hasher (with `method`); while it checks the password, another request erases the account."""

    def __init__(self, app: Flask, user: User, method: str) -> None:
        super().__init__(method)
        self.app, self.user = app, user

    def verify(self, password_hash: str, password: str) -> bool:
        checked = super().verify(password_hash, password)
        if checked and not self.user.is_erased:
            other = self.app.extensions["db_sessionmaker"]()
            try:
                user = other.get(User, self.user.id)
                assert user is not None
                erasure.erase_customer(other, user, STAFF)
                other.commit()
                self.user.erased_at = user.erased_at
            finally:
                other.close()
        return checked


@pytest.mark.parametrize(
    "method", [QUICK_PASSWORD_METHOD, PASSWORD_METHOD], ids=["hash as it is", "hash renewed at sign-in"]
)
def test_a_sign_in_whose_password_was_checked_as_the_account_was_erased_writes_nothing(
    app: Flask, customer: User, method: str
) -> None:
    app.extensions["password_hasher"] = ErasedWhileChecking(app, customer, method)

    with app.app_context():
        db = get_session()
        signed_in = service.sign_in_with_password(db, EMAIL, PASSWORD)
        db.commit()

    assert signed_in is None
    assert events(app, "user:signed-in") == []  # which would name the erased address again
    erased = account(app, customer)
    assert erased.is_erased and erased.last_login_at is None
    assert tables_naming(app, EMAIL) == set()


def test_an_erased_customer_is_never_emailed_again(app: Flask, customer: User) -> None:
    """A request approved while the account was erased, whose completion finishes afterwards."""
    completing = add_registration(
        app, customer, RegistrationState.COMPLETING, asked=ApprovalState.APPROVED.value
    )

    erase(app, customer)

    assert state_of(app, completing)[0] == "completing"  # its one LTIAAS call is in flight
    with app.app_context():
        db = get_session()
        approval = db.scalars(select(ApprovalRequest)).one()
        assert customer_emails.request_registered(db, approval) is False
        assert customer_emails.address_told_on_activation(approval.registration) is None


def test_an_email_queued_to_an_erased_account_after_all_is_never_sent(app: Flask, customer: User) -> None:
    erase(app, customer)
    with app.app_context():
        db = get_session()
        outbox.enqueue_email_to(db, "late", "late", erased_address(customer.id), "Late", "Too late.")
        db.commit()
        report = outbox.drain(db)
        late = db.scalars(select(Notification)).one()

    assert report.failed == [late.id] and report.sent == []
    assert (late.state, late.last_error) == ("failed", "not sent: the account was erased")


def test_nobody_can_take_the_address_an_erased_account_gets(app: Flask) -> None:
    with app.app_context(), pytest.raises(InvalidEmail):
        service.create_customer(get_session(), "erased-1@erased.invalid", "Nowhere", PASSWORD)


# What another window of the same customer writes as the account is erased: each checks the account
# as it writes (`service.hold_unerased`), so nothing of it lands afterwards.

NEW_PASSWORD = "a brand new password 42"


@contextmanager
def refused_as_erased(app: Flask, customer: User) -> Iterator[tuple[Session, User]]:
    """A request's session and `customer`'s account as it read it, before another request erased the
    account (the block says when: before it writes, or as it checks the password). The block must
    raise AccountErased; what the request wrote anyway is committed after it, as a view would, for
    the test to look for."""
    with app.app_context():
        db = get_session()
        user = db.get(User, customer.id)
        assert user is not None
        with pytest.raises(service.AccountErased):
            yield db, user
        db.commit()


def assert_nothing_came_back(app: Flask, customer: User) -> None:
    erased = account(app, customer)
    assert erased.is_erased and erased.organisation is None
    assert erased.password_hash.startswith("!")  # no password anybody chose
    assert tables_naming(app, EMAIL) == set()
    assert tables_naming(app, "Springfield University") == set()


def test_a_password_changed_as_the_account_is_erased_is_not_stored(app: Flask, customer: User) -> None:
    app.extensions["password_hasher"] = ErasedWhileChecking(app, customer, QUICK_PASSWORD_METHOD)

    with refused_as_erased(app, customer) as (db, user):
        service.change_own_password(db, user, PASSWORD, NEW_PASSWORD)

    assert_nothing_came_back(app, customer)
    assert events(app, "user:password-changed") == []


def test_an_organisation_named_as_the_account_is_erased_is_not_stored(app: Flask, customer: User) -> None:
    with refused_as_erased(app, customer) as (db, user):  # the organisation page's request
        erase(app, customer)  # committed by another request meanwhile
        service.change_organisation(db, user, "Springfield University (Main Campus)")

    assert_nothing_came_back(app, customer)
    assert tables_naming(app, "Main Campus") == set()


def test_a_new_address_asked_for_as_the_account_is_erased_is_not_emailed(app: Flask, customer: User) -> None:
    app.extensions["password_hasher"] = ErasedWhileChecking(app, customer, QUICK_PASSWORD_METHOD)

    with refused_as_erased(app, customer) as (db, user):
        email_change.request_change(db, user, "admin@shelbyville.edu", PASSWORD)

    assert_nothing_came_back(app, customer)
    assert tables_naming(app, "admin@shelbyville.edu") == set()


def test_a_new_password_sent_as_the_account_is_erased_is_not_stored_and_the_next_page_says_why(
    app: Flask, customer: User
) -> None:
    browser = signed_in_as_erasure_comes(app, customer)

    answer = browser.post(
        "/auth/password", data={"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )

    assert (answer.status_code, answer.location) == (303, "/auth/account")
    assert_signed_out_and_told_why(browser)
    assert_nothing_came_back(app, customer)


def test_a_new_address_sent_as_the_account_is_erased_is_refused_on_the_form_and_the_next_page_says_why(
    app: Flask, customer: User
) -> None:
    browser = signed_in_as_erasure_comes(app, customer)

    answer = browser.post("/auth/email", data={"email": "admin@shelbyville.edu", "current": PASSWORD})

    assert answer.status_code == 400
    assert "This account was deleted: nothing was changed." in words(answer)
    assert_signed_out_and_told_why(browser)
    assert_nothing_came_back(app, customer)
    assert tables_naming(app, "admin@shelbyville.edu") == set()


def signed_in_as_erasure_comes(app: Flask, customer: User) -> FlaskClient:
    """The customer signed in on an account page; the next check of their password is the moment
    another request erases the account."""
    app.config["WTF_CSRF_ENABLED"] = False
    browser = app.test_client()
    assert sign_in(browser, EMAIL).status_code == 302
    app.extensions["password_hasher"] = ErasedWhileChecking(app, customer, QUICK_PASSWORD_METHOD)
    return browser


def assert_signed_out_and_told_why(browser: FlaskClient) -> None:
    assert browser.get("/auth/account").status_code == 302
    assert "You were signed out because your account was deleted." in words(browser.get("/auth/sign-in"))


def staff_asks_for_a_new_address(db: Session, user: User, registration: Registration) -> None:
    email_change.staff_request_change(db, user, "admin@shelbyville.edu", STAFF)


def staff_email_a_password_link(db: Session, user: User, registration: Registration) -> None:
    people.reset_password(db, user, people.PasswordChoice.EMAIL, None, STAFF)


def customer_asks_for_approval(db: Session, user: User, registration: Registration) -> None:
    approvals.request_approval(db, registration, user, {"platformName": "Springfield Moodle"})


@pytest.mark.parametrize(
    "act", [staff_asks_for_a_new_address, staff_email_a_password_link, customer_asks_for_approval]
)
def test_what_a_request_that_read_the_account_before_its_erasure_writes_after_it_is_refused(
    app: Flask, customer: User, act: Callable[[Session, User, Registration], None]
) -> None:
    started = add_registration(app, customer, RegistrationState.REVIEWED)
    with refused_as_erased(app, customer) as (db, user):  # a staff member's request, or the customer's
        registration = db.scalar(select(Registration).where(Registration.public_id == started))
        assert registration is not None
        erase(app, customer)  # committed by another request meanwhile
        act(db, user, registration)

    assert_nothing_came_back(app, customer)
    assert tables_naming(app, "admin@shelbyville.edu") == set()
    with app.app_context():
        db = get_session()
        assert db.scalars(select(ApprovalRequest)).all() == []
        assert db.scalars(select(PasswordLink)).all() == []


def test_an_erasure_waits_for_a_new_address_asked_for_at_that_moment_and_erases_it_too(
    app: Flask, customer: User
) -> None:
    def erase_meanwhile() -> None:
        erase(app, customer, actor=STAFF)

    with app.app_context():
        db = get_session()
        user = db.get(User, customer.id)
        assert user is not None
        email_change.request_change(db, user, "admin@shelbyville.edu", PASSWORD)  # not committed yet
        eraser = threading.Thread(target=erase_meanwhile)
        eraser.start()
        wait_until_blocked(app)
        db.commit()
    eraser.join()

    assert_nothing_came_back(app, customer)
    assert tables_naming(app, "admin@shelbyville.edu") == set()
    with app.app_context():
        states = get_session().scalars(select(Notification.state)).all()
    assert states and set(states) == {"failed"}  # the link and the notice: neither is sent


def test_an_address_confirmed_as_the_account_is_erased_is_erased_too(app: Flask, customer: User) -> None:
    """Confirming takes the account's row before the link's, as the erasure does (it revokes the
    account's links later): in the other order, on PostgreSQL, each waited for the other and one
    was ended as a deadlock."""
    with app.app_context():
        db = get_session()
        user = db.get(User, customer.id)
        assert user is not None
        email_change.request_change(db, user, "admin@shelbyville.edu", PASSWORD)
        db.commit()

    with erased_after_first_update(app, customer) as failures, app.app_context():
        db = get_session()
        link = db.scalar(select(PasswordLink))
        assert link is not None
        email_change.confirm_change(db, link)
        db.commit()

    assert failures == []
    assert account(app, customer).is_erased
    assert tables_naming(app, "admin@shelbyville.edu") == set()  # confirmed, then erased with the rest
    placeholder = erased_address(customer.id)
    assert events(app, "user:email-changed") == [(placeholder, {"from": placeholder, "to": placeholder})]


@contextmanager
def erased_after_first_update(app: Flask, customer: User) -> Iterator[list[Exception]]:
    """Another request erases `customer`'s account once this thread ran its first UPDATE, and this
    thread goes on once that erasure waits for a lock; yields what the erasure raised."""
    engine = app.extensions["db_engine"]
    this = threading.get_ident()
    failures: list[Exception] = []

    def erase_meanwhile() -> None:
        try:
            erase(app, customer, actor=STAFF)
        except Exception as error:  # a deadlock, say: the test fails on it, not the thread
            failures.append(error)

    eraser = threading.Thread(target=erase_meanwhile)

    def executed(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if threading.get_ident() == this and statement.startswith("UPDATE") and eraser.ident is None:
            eraser.start()
            wait_until_blocked(app)

    event.listen(engine, "after_cursor_execute", executed)
    try:
        yield failures
    finally:
        event.remove(engine, "after_cursor_execute", executed)
        if eraser.ident is not None:
            eraser.join()


def wait_until_blocked(app: Flask) -> None:
    """Until another session waits for a row lock (PostgreSQL); on SQLite, whose writers queue on
    the busy timeout unseen, a moment."""
    engine = app.extensions["db_engine"]
    if engine.dialect.name != "postgresql":
        time.sleep(0.5)
        return
    deadline = time.monotonic() + 15
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.scalar(waiting):
                return
        time.sleep(0.01)
    pytest.fail("the erasure never waited")


class ErasingLtiaas:
    """LTIAAS registers the tool (or says nothing was sent); while it is asked, another request
    erases the customer's account."""

    def __init__(self, app: Flask, customer: User, error: Exception | None = None) -> None:
        self.app, self.customer, self.error = app, customer, error

    def complete_registration(self, registration_id: str, **_: Any) -> CompletionResult:
        erase(self.app, self.customer)
        if self.error is not None:
            raise self.error
        return CompletionResult(platform_id="platform-springfield", html="<p>Registered.</p>")

    def list_platforms(self, **_: Any) -> list[Platform]:
        return []  # after a lost answer: LTIAAS made no platform that anyone can find


def completed_as_erased(app: Flask, customer: User, actor: str, error: Exception | None) -> str:
    """`actor` completes a reviewed registration of `customer`'s, who erases their account while
    LTIAAS is asked, which then answers or raises `error`; the registration's public id."""
    started = add_registration(app, customer, RegistrationState.REVIEWED)
    with app.app_context():
        db = get_session()
        registration = db.scalar(select(Registration).where(Registration.public_id == started))
        assert registration is not None
        ltiaas = cast(LtiaasClient, ErasingLtiaas(app, customer, error))
        assert completion.complete(db, ltiaas, registration, actor, {"platformName": "Springfield Moodle"})
    return started


@pytest.mark.parametrize(
    "error",
    [None, LtiaasUnavailable("LTIAAS did not answer", request_sent=False)],
    ids=["registered", "not sent"],
)
def test_a_completion_the_customer_started_before_erasing_their_account_names_nobody_after_it(
    app: Flask, customer: User, error: Exception | None
) -> None:
    completed_as_erased(app, customer, EMAIL, error)

    assert tables_naming(app, EMAIL) == set()
    assert account(app, customer).is_erased


@pytest.mark.parametrize("actor", [EMAIL, STAFF], ids=["customer's", "staff's"])
@pytest.mark.parametrize(
    ("error", "problem", "closed"),
    [
        (LtiaasUnavailable("no answer", request_sent=False), Problem.WITHDRAWN, erasure.CLOSED),
        (LtiaasUnauthorized("the vendor's key", status=401), Problem.WITHDRAWN, erasure.CLOSED),
        (LmsRefusedRegistration("the LMS failed", lms_status=503), Problem.WITHDRAWN, erasure.CLOSED),
        (LtiaasOutcomeUnknown("answer lost"), Problem.OUTCOME_UNKNOWN, erasure.CLOSED_UNCONFIRMED),
    ],
    ids=["not sent", "vendor setup", "LMS failed", "answer lost"],
)
def test_a_completion_left_unfinished_as_the_account_was_erased_closes_as_the_erasure_closes_it(
    app: Flask, customer: User, actor: str, error: Exception, problem: Problem, closed: str
) -> None:
    """The erasure leaves a registration being completed to its completion; one that comes back to
    reviewed would stay open, and nobody could finish it."""
    started = completed_as_erased(app, customer, actor, error)

    assert state_of(app, started) == (RegistrationState.FAILED.value, problem.value, closed)
    assert events(app, "state:failed") == [(erased_address(customer.id), {"reason": erasure.REASON})]
    assert tables_naming(app, EMAIL) == set()
