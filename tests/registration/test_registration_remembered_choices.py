"""An admin who starts a registration of the same LMS again (they closed the dialog, or their LMS's
tool is registered anew) finds the choices they saved last time filled in, and is told so; only
their own, only for that LMS address, and only what the LMS offers."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.accounts import create_user, signed_in
from tests.fakes.ltiaas import MOODLE_URL, FakeLtiaas, lms_configuration
from tests.registration.helpers import (
    checkboxes,
    configured_by,
    press_register,
    public_id_from,
    registration_row,
    start,
)

pytestmark = pytest.mark.usefixtures("no_csrf")

ONLY_LINKS = {
    "platform_name": "Springfield Moodle (replacement)",
    "auto_activate": "y",
    "messages": ["LtiResourceLinkRequest"],
}


def the_lms_starts_again(ltiaas: FakeLtiaas, registration_id: str = "reg-moodle-again") -> str:
    """The admin presses the LMS's register button again: a new registrationId, the same Moodle."""
    ltiaas.add_registration(registration_id, lms_configuration("moodle-4.4", MOODLE_URL))
    return registration_id


def test_starting_the_same_lms_again_fills_in_what_was_chosen_last_time(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient
) -> None:
    configured_by(customer_browser, ONLY_LINKS)  # then the dialog was closed
    again = public_id_from(start(customer_browser, the_lms_starts_again(ltiaas)))

    page = customer_browser.get(f"/registration/{again}/configure").text

    assert 'id="remembered-choices"' in page and "Filled in with what you chose for this LMS on " in page
    assert 'value="Springfield Moodle (replacement)"' in page
    _, checked = checkboxes(page)
    assert checked["messages"] == ["LtiResourceLinkRequest"]
    saved = customer_browser.post(f"/registration/{again}/configure", data=ONLY_LINKS)
    assert saved.status_code == 303
    assert press_register(customer_browser, again).location == f"/registration/{again}/done"
    (sent,) = ltiaas.requests_to("complete_registration")
    assert sent.json()["platformName"] == "Springfield Moodle (replacement)"


def test_a_first_registration_of_an_lms_starts_from_the_defaults(
    customer_browser: FlaskClient, ltiaas: FakeLtiaas
) -> None:
    configured_by(customer_browser, ONLY_LINKS)  # Moodle 4.4 at moodle.example.edu
    canvas = public_id_from(start(customer_browser, "reg-canvas"))

    page = customer_browser.get(f"/registration/{canvas}/configure").text

    assert 'id="remembered-choices"' not in page and "Springfield Moodle (replacement)" not in page


def test_another_admins_choices_are_not_filled_in(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient
) -> None:
    configured_by(customer_browser, ONLY_LINKS)
    colleague = signed_in(app.test_client(), create_user(app, "colleague@springfield.edu"))
    again = public_id_from(start(colleague, the_lms_starts_again(ltiaas)))

    page = colleague.get(f"/registration/{again}/configure").text

    assert 'id="remembered-choices"' not in page and "Springfield Moodle (replacement)" not in page


def test_choices_already_saved_for_this_registration_are_its_own(
    app: Flask, ltiaas: FakeLtiaas, customer_browser: FlaskClient
) -> None:
    configured_by(customer_browser, ONLY_LINKS)
    again = configured_by(
        customer_browser, {**ONLY_LINKS, "platform_name": "Chosen this time"}, the_lms_starts_again(ltiaas)
    )

    page = customer_browser.get(f"/registration/{again}/configure").text

    assert 'id="remembered-choices"' not in page and 'value="Chosen this time"' in page
    assert registration_row(app, again).overrides["platformName"] == "Chosen this time"  # type: ignore[index]
