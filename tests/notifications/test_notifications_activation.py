"""A customer's LMS registered the tool but starts inactive (review-later): staff are told it waits for
activation, with a link to the platform; when a staff member activates it, the customer is e-mailed
that their LMS can launch the tool, as the done page promised."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.admin import platforms
from portal.db import get_session
from portal.ltiaas import get_ltiaas
from portal.models import Notification, Registration, utcnow
from portal.notifications import outbox
from tests.accounts import create_user, signed_in
from tests.conftest import CUSTOMER_EMAIL, STAFF_EMAIL, make_test_app
from tests.fakes.ltiaas import FakeLtiaas
from tests.notifications.conftest import ChatWebhook, MailServer
from tests.registration.helpers import configured_by, press_register, registration_row


def registered_inactive(app: Flask, browser: FlaskClient) -> str:
    """The customer registers the tool under review-later (CSRF off while they do); its public id."""
    app.config.update(APPROVAL_POLICY="review-later", WTF_CSRF_ENABLED=False)
    public_id = configured_by(browser)
    assert press_register(browser, public_id).status_code == 303
    app.config["WTF_CSRF_ENABLED"] = True
    return public_id


def queued(app: Flask) -> list[tuple[str, str, str | None]]:
    with app.app_context():
        rows = get_session().scalars(select(Notification).order_by(Notification.id))
        return [(row.kind, row.channel, row.recipient) for row in rows]


def drain(app: Flask) -> outbox.DrainReport:
    with app.app_context():
        return outbox.drain(get_session(), now=utcnow() + timedelta(seconds=1))


def activate(app: Flask, platform_id: str, token: str = "token-activate-01234") -> platforms.ActionResult:
    """A staff member's "Activate" on the platform's page, through the service the view calls."""
    with app.app_context():
        return platforms.activate(get_session(), get_ltiaas(), platform_id, STAFF_EMAIL, token)


def bodies_to(mail_server: MailServer, address: str) -> list[str]:
    return [text for _subject, text in mail_server.received_by(address)]


def test_staff_are_told_once_that_a_new_lms_waits_for_activation(
    app: Flask,
    ltiaas: FakeLtiaas,
    customer_browser: FlaskClient,
    mail_server: MailServer,
    chat_webhook: ChatWebhook,
) -> None:
    public_id = registered_inactive(app, customer_browser)
    platform_id = registration_row(app, public_id).platform_id

    assert queued(app) == [("activation-due", "email", None), ("activation-due", "webhook", None)]
    drain(app)
    (text,) = chat_webhook.texts
    assert text.startswith(f"{CUSTOMER_EMAIL} registered the tool with Moodle at moodle.example.edu")
    assert "It is not active yet" in text
    assert f"https://portal.vendor.example/admin/platforms/{platform_id}" in text
    assert mail_server.messages[0]["Subject"] == "Activation due: Moodle at moodle.example.edu"


def test_the_done_page_says_the_customer_will_be_emailed(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient
) -> None:
    public_id = registered_inactive(app, customer_browser)

    done = customer_browser.get(f"/registration/{public_id}/done").get_data(as_text=True)
    account = customer_browser.get("/auth/account").get_data(as_text=True)

    assert f'We will e-mail <span id="told-at">{CUSTOMER_EMAIL}</span> when it is active.' in done
    assert "We will e-mail you when they have." in account


def test_when_staff_activate_it_the_customer_hears_their_lms_can_launch_the_tool(
    app: Flask,
    ltiaas: FakeLtiaas,
    customer_browser: FlaskClient,
    staff_browser: FlaskClient,
    mail_server: MailServer,
) -> None:
    public_id = registered_inactive(app, customer_browser)
    platform_id = registration_row(app, public_id).platform_id
    drain(app)

    page = staff_browser.get(f"/admin/platforms/{platform_id}").get_data(as_text=True)
    assert f'We will e-mail <span id="told-on-activation">{CUSTOMER_EMAIL}</span>' in page
    result = activate(app, platform_id)
    again = activate(app, platform_id)  # the same form sent twice
    drain(app)

    assert result.carried_out and not again.carried_out
    assert registration_row(app, public_id).platform_active is True
    (body,) = bodies_to(mail_server, CUSTOMER_EMAIL)
    assert re.match(r"The tool is now active in Moodle at moodle\.example\.edu \(as \"[^\"]+\"\)", body), body
    assert "your LMS can launch it" in body
    assert queued(app).count(("tool-active", "email", CUSTOMER_EMAIL)) == 1


def test_activated_again_after_a_deactivation_the_customer_is_not_told_twice_nor_promised_it(
    app: Flask,
    ltiaas: FakeLtiaas,
    customer_browser: FlaskClient,
    staff_browser: FlaskClient,
    mail_server: MailServer,
) -> None:
    platform_id = registration_row(app, registered_inactive(app, customer_browser)).platform_id
    activate(app, platform_id)
    with app.app_context():
        platforms.deactivate(get_session(), get_ltiaas(), platform_id, STAFF_EMAIL, "token-deactivate-1")

    platform_page = staff_browser.get(f"/admin/platforms/{platform_id}").text
    account = customer_browser.get("/auth/account").text
    again = activate(app, platform_id, token="token-activate-2")
    drain(app)

    assert "LTIAAS will let this LMS launch the tool." in platform_page
    assert 'id="told-on-activation"' not in platform_page
    assert "Registered, deactivated" in account and "We will e-mail you" not in account
    assert "has deactivated it: your LMS cannot launch the tool until they activate it again" in account
    assert again.carried_out and again.action.current_state.value == "done"
    assert len(bodies_to(mail_server, CUSTOMER_EMAIL)) == 1


def test_activated_on_ltiaas_dashboard_the_customer_hears_when_the_console_next_reads_it(
    app: Flask,
    ltiaas: FakeLtiaas,
    customer_browser: FlaskClient,
    staff_browser: FlaskClient,
    mail_server: MailServer,
) -> None:
    public_id = registered_inactive(app, customer_browser)
    platform_id = registration_row(app, public_id).platform_id
    drain(app)
    ltiaas.add_platform("Springfield Moodle", active=True, id=platform_id)  # done at LTIAAS itself

    staff_browser.get("/admin/platforms/")
    staff_browser.get(f"/admin/platforms/{platform_id}")
    drain(app)

    assert registration_row(app, public_id).platform_active is True
    (body,) = bodies_to(mail_server, CUSTOMER_EMAIL)
    assert "is now active in Moodle at moodle.example.edu" in body


@pytest.mark.parametrize("activated_by", ["the console", "LTIAAS's dashboard"])
def test_a_platform_whose_state_the_portal_never_knew_is_not_announced(
    app: Flask,
    ltiaas: FakeLtiaas,
    customer_browser: FlaskClient,
    staff_browser: FlaskClient,
    mail_server: MailServer,
    activated_by: str,
) -> None:
    """The customer was promised an e-mail only for a platform known to start inactive: the console's
    Activate and a read of LTIAAS follow the same rule."""
    public_id = registered_inactive(app, customer_browser)
    platform_id = registration_row(app, public_id).platform_id
    with app.app_context():
        db = get_session()
        db.get(Registration, registration_row(app, public_id).id).platform_active = None
        db.commit()

    if activated_by == "the console":
        activate(app, platform_id)
    else:
        ltiaas.add_platform("Springfield Moodle", active=True, id=platform_id)
        staff_browser.get("/admin/platforms/")
    drain(app)

    assert registration_row(app, public_id).platform_active is True
    assert bodies_to(mail_server, CUSTOMER_EMAIL) == []


def test_a_registration_that_starts_active_tells_nobody(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    public_id = configured_by(customer_browser)
    assert press_register(customer_browser, public_id).status_code == 303

    assert registration_row(app, public_id).platform_active is True
    assert queued(app) == []
    done = customer_browser.get(f"/registration/{public_id}/done").get_data(as_text=True)
    assert 'id="told-at"' not in done


def test_without_email_the_customer_is_promised_nothing(
    tmp_path: Path, ltiaas_settings: dict[str, Any], ltiaas: FakeLtiaas
) -> None:
    app = make_test_app(tmp_path, **ltiaas_settings)
    browser = signed_in(app.test_client(), create_user(app, CUSTOMER_EMAIL))
    public_id = registered_inactive(app, browser)

    done = browser.get(f"/registration/{public_id}/done").get_data(as_text=True)
    platform_id = registration_row(app, public_id).platform_id
    activate(app, platform_id)

    assert "Awaiting activation" in done and 'id="told-at"' not in done
    assert "We will e-mail you" not in browser.get("/auth/account").get_data(as_text=True)
    assert [kind for kind, _channel, _to in queued(app)] == []  # no staff channel, no customer e-mail
    app.extensions["db_engine"].dispose()


# --- the timer's refresh (`flask refresh-platforms`) -----------------------------------------------


def refresh_platforms(app: Flask) -> Result:
    return app.test_cli_runner().invoke(args=["refresh-platforms"])


def test_activated_on_ltiaas_dashboard_the_timers_refresh_tells_the_customer_with_no_staff_page_open(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient, mail_server: MailServer
) -> None:
    public_id = registered_inactive(app, customer_browser)
    platform_id = registration_row(app, public_id).platform_id
    drain(app)
    ltiaas.add_platform("Springfield Moodle", active=True, id=platform_id)  # done at LTIAAS itself
    ltiaas.add_platform("Shelbyville Moodle", active=True)  # registered by hand: not the portal's
    reads_before = ltiaas.operations().count("list_platforms")

    first = refresh_platforms(app)
    second = refresh_platforms(app)  # the timer's next turn: nothing new
    drain(app)

    assert first.exit_code == 0, first.output
    assert f"{public_id} moodle.example.edu: now active (the customer is e-mailed)" in first.output
    assert "2 platforms from LTIAAS: 1 registrations changed, 1 customers" in first.output
    assert second.exit_code == 0 and "0 registrations changed, 0 customers" in second.output
    assert ltiaas.operations().count("list_platforms") == reads_before + 2  # one read a turn
    (body,) = bodies_to(mail_server, CUSTOMER_EMAIL)
    assert "is now active in Moodle at moodle.example.edu" in body
    account = customer_browser.get("/auth/account").get_data(as_text=True)
    assert "Registered and active" in account


def test_deactivated_or_renamed_at_ltiaas_the_refresh_remembers_it_and_emails_nobody(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient, mail_server: MailServer
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    public_id = configured_by(customer_browser)
    assert press_register(customer_browser, public_id).status_code == 303
    platform_id = registration_row(app, public_id).platform_id
    ltiaas.add_platform("Springfield's Moodle", active=False, id=platform_id)

    result = refresh_platforms(app)
    drain(app)

    assert result.exit_code == 0, result.output
    assert (
        f'{public_id} moodle.example.edu: now inactive, now named "Springfield\'s Moodle"\n' in result.output
    )
    row = registration_row(app, public_id)
    assert (row.platform_active, row.platform_name) == (False, "Springfield's Moodle")
    assert bodies_to(mail_server, CUSTOMER_EMAIL) == []


def test_when_ltiaas_cannot_be_read_the_refresh_says_why_fails_and_changes_nothing(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient
) -> None:
    public_id = registered_inactive(app, customer_browser)
    ltiaas.add_platform("Springfield Moodle", active=True, id=registration_row(app, public_id).platform_id)
    ltiaas.fail("list_platforms", 503)

    result = refresh_platforms(app)

    assert result.exit_code == 1
    assert "LTIAAS could not be read just now" in result.output
    assert registration_row(app, public_id).platform_active is False
    assert queued(app).count(("tool-active", "email", CUSTOMER_EMAIL)) == 0


def test_a_name_at_ltiaas_longer_than_the_portal_keeps_is_cut_to_fit_once_on_every_database(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient, staff_browser: FlaskClient
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    public_id = configured_by(customer_browser)
    assert press_register(customer_browser, public_id).status_code == 303
    platform_id = registration_row(app, public_id).platform_id
    ltiaas.add_platform("N" * 300, active=True, id=platform_id)  # renamed on LTIAAS's dashboard

    first, second = refresh_platforms(app), refresh_platforms(app)
    page = staff_browser.get("/admin/platforms/")

    assert first.exit_code == 0, first.output
    assert registration_row(app, public_id).platform_name == "N" * 255
    assert second.exit_code == 0 and "0 registrations changed" in second.output
    assert page.status_code == 200
    assert staff_browser.get(f"/admin/platforms/{platform_id}").status_code == 200
