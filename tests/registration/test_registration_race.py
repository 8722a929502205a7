"""Many clicks, tabs or processes completing one registration: LTIAAS is called exactly once.

These run real threads against the app's database file (SQLite unless
TEST_DATABASE_URL says otherwise), so the claim is decided by the database; the fake
LTIAAS answers complete slowly, so that the racers overlap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask

from portal.db import get_session
from portal.ltiaas import get_ltiaas
from portal.models import Registration, User
from portal.registration import choices, completion, receiving
from tests.accounts import sign_in
from tests.fakes.ltiaas import FakeLtiaas
from tests.registration.helpers import public_id_from, start

RACERS = 6


def race(action: Callable[[], object]) -> list[object]:
    """Run `action` in RACERS threads released at the same instant; returns results or errors."""
    barrier = threading.Barrier(RACERS)
    results: list[object] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        try:
            outcome = action()
        except Exception as error:
            outcome = error
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_simultaneous_register_clicks_from_several_tabs_complete_once(
    app: Flask, ltiaas: FakeLtiaas, customer: User
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    ltiaas.slow("complete_registration", 0.3, times=RACERS)
    first_tab = app.test_client(use_cookies=False)
    review_url = start(first_tab)
    public_id = public_id_from(review_url)
    asked = first_tab.get(f"/registration/{public_id}/configure?{review_url.split('?', 1)[1]}")
    configure_url = sign_in(first_tab, customer.email, page=asked.location).location
    token = configure_url.split("?", 1)[1]  # the signed-in session's token
    form = {"platform_name": "Race", "messages": ["LtiResourceLinkRequest"]}
    assert first_tab.post(f"/registration/{public_id}/configure?{token}", data=form).status_code == 303

    def click() -> tuple[int, str]:
        response = app.test_client(use_cookies=False).post(f"/registration/{public_id}/complete?{token}")
        return response.status_code, response.headers.get("Location", "")

    results = race(click)
    assert len(results) == RACERS
    assert all(status == 303 and "/done" in location for status, location in results), results
    assert len(ltiaas.requests_to("complete_registration")) == 1
    with app.app_context():
        assert get_session().get(Registration, 1).state == "completed"


def test_racing_service_calls_in_separate_app_contexts_complete_once(app: Flask, ltiaas: FakeLtiaas) -> None:
    ltiaas.slow("complete_registration", 0.2, times=RACERS)
    with app.test_request_context("/"):
        registration = receiving.receive_registration(get_session(), get_ltiaas(), "reg-moodle")
        choices.save_choices(get_session(), registration, choices.default_choices(registration))
        registration_id = registration.id

    def complete() -> bool:
        with app.app_context():
            db = get_session()
            return completion.complete(db, get_ltiaas(), db.get(Registration, registration_id))

    results = race(complete)
    assert sorted(results, key=str) == [False] * (RACERS - 1) + [True], results
    assert len(ltiaas.requests_to("complete_registration")) == 1
