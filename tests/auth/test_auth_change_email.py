"""A signed-in admin (or staff member) changes the e-mail address they sign in with, from their
account page: the new address and their current password; a one-time link e-mailed to the new
address (through the outbox, to a local mail server) confirms it, in a window of its own, and the
current address is told. The page answers alike whether or not another account uses the address.

The refusals of bad input run on PostgreSQL too (`TEST_DATABASE_URL`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from portal.db import get_session
from portal.models import AuditEvent, LoginAttempt, Notification, PasswordLink, User, utcnow
from portal.notifications import outbox
from tests.accounts import PASSWORD, create_user, read_form, sign_in
from tests.auth.helpers import find_user, href_of, normalised, words
from tests.auth.test_auth_forgot_password import PORTAL, drain, emailing_settings
from tests.conftest import make_test_app
from tests.mail import MailServer, mail_server

__all__ = ["mail_server"]

OLD = "admin@school.edu"
NEW = "admin@newschool.edu"
_LINK = re.compile(re.escape(PORTAL) + r"(/auth/email/[A-Za-z0-9._-]+)")


@pytest.fixture
def app(tmp_path: Path, mail_server: MailServer) -> Iterator[Flask]:
    app = make_test_app(tmp_path, **emailing_settings(mail_server.port))
    yield app
    app.extensions["db_engine"].dispose()


def signed_in_browser(app: Flask, email: str = OLD) -> FlaskClient:
    browser = app.test_client()
    assert sign_in(browser, email).status_code == 302
    return browser


def ask(browser: FlaskClient, new: str = NEW, password: str = PASSWORD) -> Any:
    """Open the change page from the account page and send its form, as a browser would."""
    account = browser.get("/auth/account").get_data(as_text=True)
    assert 'href="/auth/email" id="change-email-link"' in account
    action, hidden = read_form(browser.get("/auth/email"))
    return browser.post(action, data={**hidden, "email": new, "current": password})


def mail_to(mail_server: MailServer, address: str) -> list[tuple[str, str]]:
    return mail_server.received_by(address)


def link_in(text: str) -> str:
    found = _LINK.search(text)
    assert found is not None, text
    return found.group(1)


def confirm(link: str, app: Flask) -> Any:
    """Open the link in a new window (no session: it came by e-mail) and press its button."""
    window = app.test_client()
    page = window.get(link)
    assert page.status_code == 200, words(page)
    action, hidden = read_form(page)
    return window.post(action, data=hidden)


def queued(app: Flask) -> list[tuple[str | None, str]]:
    with app.app_context():
        rows = get_session().scalars(select(Notification).order_by(Notification.id))
        return [(row.recipient, row.kind) for row in rows]


def audited(app: Flask, action: str) -> list[tuple[str, dict[str, Any]]]:
    with app.app_context():
        events = get_session().scalars(select(AuditEvent).where(AuditEvent.action == action))
        return [(event.actor, event.details) for event in events]


def send_the_oldest(app: Flask) -> None:
    """A sender's round that got to the oldest queued e-mail only."""
    with app.app_context():
        outbox.drain(get_session(), limit=1)


def links_of(app: Flask) -> int:
    with app.app_context():
        return int(get_session().scalar(select(func.count()).select_from(PasswordLink)))


def emailed_link(app: Flask, mail_server: MailServer, browser: FlaskClient, new: str = NEW) -> str:
    assert ask(browser, new).status_code == 200
    drain(app)
    (_subject, text), *_ = mail_to(mail_server, new)
    return link_in(text)


@pytest.mark.parametrize("role", ["customer", "staff"])
def test_an_admin_changes_their_address_by_a_link_emailed_to_the_new_one(
    csrf_on: Flask, mail_server: MailServer, role: str
) -> None:
    app = csrf_on
    create_user(app, OLD, role=role)
    browser, elsewhere = signed_in_browser(app), signed_in_browser(app)

    answer = ask(browser, "  Admin@NewSchool.edu ")

    assert answer.status_code == 200
    assert f"We are emailing {NEW} . Unless another account signs in with that address" in words(answer)
    assert f"Until you open the link, you sign in with {OLD} , as before." in words(answer)
    assert mail_server.messages == []  # sent by the outbox's sender, not in the request
    assert queued(app) == [(NEW, "email-change"), (OLD, "email-change-notice")]
    with app.app_context():  # the database never holds the link
        assert "/auth/email/" not in get_session().scalars(select(Notification.text)).first()
    drain(app)

    ((subject, text),) = mail_to(mail_server, NEW)
    assert subject == "Confirm your new email address"
    assert f"Someone signed in to the account {OLD}" in text and "If that is right, confirm it here:" in text
    link = link_in(text)
    ((notice_subject, notice),) = mail_to(mail_server, OLD)
    assert notice_subject == "Your email address is being changed"
    assert f"asked to sign in with {NEW} from now on" in notice
    assert f"{PORTAL}/auth/forgot-password" in notice and "/auth/email/" not in notice
    assert ("tell the other staff" if role == "staff" else "contact the tool's vendor") in notice
    assert find_user(app, OLD) is not None  # nothing changed yet

    window = app.test_client()
    page = window.get(link)
    assert page.status_code == 200
    assert f"Sign in with {NEW} from now on, instead of {OLD} ?" in words(page)
    assert page.headers["X-Frame-Options"] == "DENY"  # a page of its own, never inside the LMS
    assert page.headers["Cache-Control"] == "no-store"  # its address holds the token
    assert find_user(app, OLD) is not None  # opening the link (a mail scanner may) changes nothing
    action, hidden = read_form(page)
    done = window.post(action, data=hidden)

    assert done.status_code == 200
    assert f"From now on, sign in with {NEW}" in words(done)
    assert find_user(app, OLD) is None and find_user(app, NEW) is not None
    assert audited(app, "user:email-change-requested") == [
        (OLD, {"from": OLD, "to": NEW, "outcome": "emailed"})
    ]
    assert audited(app, "user:email-changed") == [(NEW, {"from": OLD, "to": NEW})]
    # The password did not change: every session stays signed in, and shows the new address.
    for signed_in in (browser, elsewhere):
        account = signed_in.get("/auth/account")
        assert account.status_code == 200 and f'<span id="account-email">{NEW}</span>' in account.get_data(
            as_text=True
        )
    assert sign_in(app.test_client(), OLD).status_code == 200  # refused
    assert sign_in(app.test_client(), NEW).status_code == 302

    again = window.post(action, data=hidden)  # a second click
    assert again.status_code == 410 and "This link was used already" in words(again)
    assert window.get(link).status_code == 410


def test_a_wrong_current_password_is_refused_and_counts_toward_the_lockout(
    app: Flask, mail_server: MailServer
) -> None:
    create_user(app, OLD)
    browser = signed_in_browser(app)

    answer = ask(browser, NEW, "not my password")

    assert answer.status_code == 400
    assert (
        "This is not your current password." in answer.get_data(as_text=True).split('id="current-errors"')[1]
    )
    assert queued(app) == [] and links_of(app) == 0
    with app.app_context():
        assert get_session().scalar(select(func.count()).select_from(LoginAttempt)) == 1
    app.config["LOGIN_FAILURE_LIMIT"] = 1
    locked = ask(browser, NEW, PASSWORD)  # the right one, but the account is paused now
    assert locked.status_code == 429 and queued(app) == []


def test_the_page_answers_alike_when_another_account_uses_the_address_which_is_told_instead(
    app: Flask, mail_server: MailServer
) -> None:
    create_user(app, OLD)
    create_user(app, "other@school.edu")
    create_user(app, "taken@school.edu")
    free = ask(signed_in_browser(app, "other@school.edu"), "free@school.edu")
    taken = ask(signed_in_browser(app), "taken@school.edu")

    assert free.status_code == taken.status_code == 200
    free_page = normalised(free, "free@school.edu", "other@school.edu")
    assert free_page == normalised(taken, "taken@school.edu", OLD)
    drain(app)
    ((subject, text),) = mail_to(mail_server, "taken@school.edu")
    assert subject == "Someone asked to use this email address"
    assert "An account already signs in with taken@school.edu, so nothing changed." in text
    assert "/auth/email/" not in text  # no link: nothing to confirm
    assert OLD not in text  # nor who asked
    assert len(mail_to(mail_server, OLD)) == 1  # the notice, as for any request
    assert find_user(app, OLD) is not None
    outcomes = [details["outcome"] for _actor, details in audited(app, "user:email-change-requested")]
    assert outcomes == ["emailed", "taken"]


def test_asking_twice_at_once_sends_one_link_and_one_notice(app: Flask, mail_server: MailServer) -> None:
    create_user(app, OLD)
    create_user(app, "taken@school.edu")
    browser = signed_in_browser(app)
    for new in (NEW, NEW, "taken@school.edu", "taken@school.edu"):  # double clicks
        assert ask(browser, new).status_code == 200
    drain(app)

    assert len(mail_to(mail_server, NEW)) == 1
    assert len(mail_to(mail_server, "taken@school.edu")) == 1
    assert len(mail_to(mail_server, OLD)) == 2  # one per address asked for
    outcomes = [details["outcome"] for _actor, details in audited(app, "user:email-change-requested")]
    assert outcomes == ["emailed", "already-sent", "taken", "taken"]


@pytest.mark.parametrize(
    ("role", "next_step"),
    [
        ("customer", "choose another address from your account page, or contact the tool's vendor."),
        ("staff", "or ask a colleague about the account that uses it (it is on the People page )."),
    ],
    ids=["customer", "staff"],  # staff are the vendor: they ask a colleague, not themselves
)
def test_an_address_taken_between_asking_and_confirming_is_refused_clearly(
    app: Flask, mail_server: MailServer, role: str, next_step: str
) -> None:
    create_user(app, OLD, role=role)
    link = emailed_link(app, mail_server, signed_in_browser(app))
    create_user(app, NEW)  # someone signs up with it meanwhile

    answer = confirm(link, app)

    assert answer.status_code == 409
    assert f"another account started signing in with {NEW}" in words(answer)
    assert "Nothing changed" in words(answer)
    assert next_step in words(answer)
    if role == "staff":
        assert href_of(answer, "people-link") == "/admin/people/"
    assert find_user(app, OLD) is not None
    assert audited(app, "user:email-changed") == []
    assert (OLD, "email-changed") not in queued(app)  # nothing changed, so nothing to tell


@pytest.mark.parametrize(
    ("role", "if_not_them"),
    [
        ("customer", "someone else has your account: contact the tool's vendor at once, from this address."),
        ("staff", "someone else has your account: tell the other staff at once: any of them can disable"),
    ],
    ids=["customer", "staff"],
)
def test_once_the_address_changed_the_old_one_is_told_when_to_what_and_whom_to_tell(
    app: Flask, mail_server: MailServer, role: str, if_not_them: str
) -> None:
    create_user(app, OLD, role=role)
    link = emailed_link(app, mail_server, signed_in_browser(app))
    before = utcnow().replace(second=0, microsecond=0)

    window = app.test_client()
    action, hidden = read_form(window.get(link))
    assert window.post(action, data=hidden).status_code == 200
    assert window.post(action, data=hidden).status_code == 410  # a second click tells nobody again
    drain(app)

    (_asked, (subject, text)) = mail_to(mail_server, OLD)
    assert subject == "Your email address was changed"
    when = re.search(r"was changed on (\d{4}-\d\d-\d\d at \d\d:\d\d) UTC, from (\S+) to (\S+),", text)
    assert when is not None, text
    assert before <= datetime.strptime(when[1], "%Y-%m-%d at %H:%M").replace(tzinfo=UTC) <= utcnow()
    assert (when[2], when[3]) == (OLD, NEW)
    assert f"The account signs in with {NEW} now" in text
    assert f"If you did not, {if_not_them}" in text
    assert "/auth/" not in text  # no link to follow in an alarm
    assert len(mail_to(mail_server, NEW)) == 1  # only the link went there


def test_the_notice_that_the_address_changed_names_the_vendors_support_address(
    tmp_path: Path, mail_server: MailServer
) -> None:
    settings = emailing_settings(
        mail_server.port, BRAND_NAME="Acme Learning", BRAND_SUPPORT_EMAIL="help@acme.example"
    )
    app = make_test_app(tmp_path, **settings)
    app.config["WTF_CSRF_ENABLED"] = False
    create_user(app, OLD)

    assert confirm(emailed_link(app, mail_server, signed_in_browser(app)), app).status_code == 200
    drain(app)

    (_asked, (subject, text)) = mail_to(mail_server, OLD)
    assert subject == "[Acme Learning] Your email address was changed"
    assert "your account on Acme Learning's tool registration portal was changed" in text
    assert "contact Acme Learning (help@acme.example) at once, from this address." in text
    app.extensions["db_engine"].dispose()


def test_emails_about_the_old_address_stay_with_it_when_the_account_moves(
    app: Flask, mail_server: MailServer
) -> None:
    create_user(app, OLD)
    create_user(app, "other@school.edu")
    assert ask(signed_in_browser(app), NEW).status_code == 200
    send_the_oldest(app)  # the sender got to the link, not yet to the notice to OLD
    link = link_in(mail_to(mail_server, NEW)[0][1])
    assert ask(signed_in_browser(app, "other@school.edu"), OLD).status_code == 200  # OLD is told

    assert confirm(link, app).status_code == 200
    drain(app)

    assert [subject for subject, _text in mail_to(mail_server, OLD)] == [
        "Your email address is being changed",
        "Someone asked to use this email address",
        "Your email address was changed",
    ]
    assert len(mail_to(mail_server, NEW)) == 1  # the link alone


def test_an_expired_link_says_so_and_changes_nothing(app: Flask, mail_server: MailServer) -> None:
    create_user(app, OLD)
    link = emailed_link(app, mail_server, signed_in_browser(app))
    with app.app_context():
        db = get_session()
        db.execute(update(PasswordLink).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.commit()

    answer = app.test_client().get(link)

    assert answer.status_code == 410
    assert "This link to confirm a new email address has expired" in words(answer)
    assert find_user(app, OLD) is not None

    app.config["PASSWORD_LINK_MAX_AGE"] = -1  # the token's own signed timestamp is too old as well
    assert "has expired" in words(app.test_client().get(link))


def test_a_forged_or_mangled_link_gets_a_page_not_an_error(app: Flask, mail_server: MailServer) -> None:
    create_user(app, OLD)
    link = emailed_link(app, mail_server, signed_in_browser(app))

    for forged in ("/auth/email/not-a-token", link[:-3], link + "x", link.replace(".", "..", 1)):
        answer = app.test_client().get(forged)
        assert answer.status_code == 410, forged
        assert "This is not a link we made" in words(answer)
    assert app.test_client().get("/auth/email/%00").status_code == 404  # the portal's page for such paths
    # Neither kind of link opens the other's page.
    token = link.rsplit("/", 1)[1]
    assert app.test_client().get(f"/auth/set-password/{token}").status_code == 410
    assert find_user(app, OLD) is not None


def test_a_new_password_or_a_newer_request_cancels_the_link(app: Flask, mail_server: MailServer) -> None:
    create_user(app, OLD)
    browser = signed_in_browser(app)
    first = emailed_link(app, mail_server, browser)
    second = emailed_link(app, mail_server, browser, "admin@third.edu")

    assert "was cancelled" in words(app.test_client().get(first))

    action, hidden = read_form(browser.get("/auth/password"))
    new_password = "the owner's new passphrase"
    changed = browser.post(
        action, data={**hidden, "current": PASSWORD, "password": new_password, "confirm": new_password}
    )
    assert changed.status_code == 302
    answer = app.test_client().get(second)
    assert answer.status_code == 410 and "was cancelled" in words(answer)
    assert find_user(app, OLD) is not None


def test_confirming_revokes_the_accounts_other_open_links(app: Flask, mail_server: MailServer) -> None:
    create_user(app, OLD)
    link = emailed_link(app, mail_server, signed_in_browser(app))
    with app.app_context():  # a set-password link made after the request (a staff reset, say)
        db = get_session()
        row = db.scalars(select(PasswordLink)).one()
        db.execute(update(PasswordLink).where(PasswordLink.id == row.id).values(revoked_at=None))
        db.add(
            PasswordLink(
                user_id=row.user_id,
                token_hash="0" * 64,
                purpose="reset",
                created_by="ops@vendor.example",
                expires_at=utcnow() + timedelta(hours=1),
            )
        )
        db.commit()

    assert confirm(link, app).status_code == 200
    with app.app_context():
        reset = get_session().scalars(select(PasswordLink).where(PasswordLink.purpose == "reset")).one()
        assert reset.revoked_at is not None


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("admin\x00@newschool.edu", "invisible control character"),
        ("admin@new\u200bschool.edu", "Enter an email address like name@example.edu."),
        ("admin@new\u202eschool.edu", "Enter an email address like name@example.edu."),
        ("\ufeffadmin@newschool.edu", "Enter an email address like name@example.edu."),
        ("a" * 310 + "@school.edu", "Use at most 320 characters."),
        ("x" * 5000 + "@school.edu", "Use at most 320 characters."),
        ("not an address", "Enter an email address like name@example.edu."),
        ("", "Enter the new email address."),
        (OLD.upper(), "This is your email address already."),
    ],
    ids=["nul", "zero-width", "direction", "bom", "321", "huge", "shape", "empty", "same"],
)
def test_a_bad_new_address_is_refused_beside_the_field_and_nothing_is_sent(
    app: Flask, mail_server: MailServer, typed: str, error: str
) -> None:
    create_user(app, OLD)
    browser = signed_in_browser(app)

    answer = ask(browser, typed)

    assert answer.status_code == 400
    assert error in answer.get_data(as_text=True).split('id="email-errors"')[1].split("</ul>")[0]
    assert queued(app) == [] and links_of(app) == 0
    with app.app_context():  # the password was never checked, so no failure counts
        assert get_session().scalar(select(func.count()).select_from(LoginAttempt)) == 0


def test_a_control_character_in_the_password_is_refused_beside_it(
    app: Flask, mail_server: MailServer
) -> None:
    create_user(app, OLD)

    answer = ask(signed_in_browser(app), NEW, PASSWORD + "\x00")

    assert answer.status_code == 400
    assert "invisible control character" in answer.get_data(as_text=True).split('id="current-errors"')[1]
    assert queued(app) == []


def test_without_email_the_account_page_says_the_address_cannot_be_changed_here(tmp_path: Path) -> None:
    app = make_test_app(tmp_path, BRAND_SUPPORT_EMAIL="help@vendor.example")
    app.config["WTF_CSRF_ENABLED"] = False
    create_user(app, OLD)
    browser = signed_in_browser(app)

    page = browser.get("/auth/email")
    posted = browser.post("/auth/email", data={"email": NEW, "current": PASSWORD})

    assert page.status_code == 200
    assert f"Your email address, {OLD} , cannot be changed here" in words(page)
    assert "ask the tool's vendor to change it ( help@vendor.example )" in words(page)
    assert 'name="current"' not in page.get_data(as_text=True)  # no form
    assert posted.status_code == 200 and "cannot be changed here" in words(posted)
    assert find_user(app, OLD) is not None and queued(app) == [] and links_of(app) == 0
    app.extensions["db_engine"].dispose()


def test_the_page_asks_whoever_is_not_signed_in_to_sign_in(client: FlaskClient) -> None:
    answer = client.get("/auth/email")

    assert answer.status_code == 302
    assert answer.location.startswith("/auth/sign-in?") and "next=%2Fauth%2Femail" in answer.location


def test_a_disabled_account_cannot_use_its_link(app: Flask, mail_server: MailServer) -> None:
    create_user(app, OLD)
    link = emailed_link(app, mail_server, signed_in_browser(app))
    with app.app_context():
        db = get_session()
        db.execute(update(User).values(is_disabled=True))
        db.commit()

    answer = app.test_client().get(link)

    assert answer.status_code == 410 and "was cancelled" in words(answer)
