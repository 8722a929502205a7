"""The staff's platform pages against the sandbox LTIAAS over real HTTP: the portal's platforms and the
one registered by hand, activated, renamed and deleted, as LTIAAS's own API then shows them."""

from __future__ import annotations

from html import unescape

from flask.testing import FlaskClient

from portal.sandbox.seed import MANUAL_PLATFORM
from tests.accounts import signed_in
from tests.admin.platform_helpers import add_registration, form_on
from tests.conftest import LiveServer
from tests.registration.helpers import add_person, registration_row
from tests.sandbox.helpers import Sandbox


def staff_of(live: LiveServer) -> FlaskClient:
    browser = live.app.test_client()
    signed_in(browser, add_person(live.app, "staff"))
    return browser


def registered_by_the_portal(live: LiveServer, sandbox: Sandbox, name: str) -> tuple[str, str]:
    """A Moodle registered through LTIAAS, inactive as under review-later; (platform id, registration id)."""
    registration_id = sandbox.receive(sandbox.start("moodle-4.4"))
    completed = sandbox.complete(registration_id, {"platformName": name, "autoActivate": False})
    assert completed.status_code == 200
    platform_id = completed.json()["platformId"]
    return platform_id, add_registration(live.app, platform_id, url=sandbox.issuer("moodle-4.4"), name=name)


def test_seeding_adds_the_hand_registered_platform_once(live_server: LiveServer) -> None:
    runner = live_server.app.test_cli_runner()

    first = runner.invoke(args=["sandbox", "seed"])
    second = runner.invoke(args=["sandbox", "seed"])

    assert first.exit_code == 0 and "added" in first.output
    assert second.exit_code == 0 and "kept" in second.output
    manual = Sandbox(live_server).platforms(url=MANUAL_PLATFORM["url"])
    assert [platform["name"] for platform in manual] == [MANUAL_PLATFORM["name"]]


def test_the_console_shows_the_sandboxs_platforms_and_changes_them_at_ltiaas(live_server: LiveServer) -> None:
    sandbox = Sandbox(live_server)
    live_server.app.test_cli_runner().invoke(args=["sandbox", "seed"])
    platform_id, public_id = registered_by_the_portal(live_server, sandbox, "Springfield Moodle")
    staff = staff_of(live_server)

    listed = unescape(staff.get("/admin/platforms/").get_data(as_text=True))
    assert MANUAL_PLATFORM["name"] in listed and "Registered by hand" in listed
    assert f'data-platform-id="{platform_id}" data-active="false"' in listed
    assert f'data-registration="{public_id}"' in listed

    page = staff.get(f"/admin/platforms/{platform_id}")
    action, hidden = form_on(page, "activate-form")
    assert staff.post(action, data={**hidden, "activate-confirm": "y"}).status_code == 303
    assert sandbox.platforms(id=platform_id)[0]["active"] is True
    assert registration_row(live_server.app, public_id).platform_active is True

    page = staff.get(f"/admin/platforms/{platform_id}")
    action, hidden = form_on(page, "rename-form")
    data = {**hidden, "rename-name": "Springfield University Moodle", "rename-confirm": "y"}
    assert staff.post(action, data=data).status_code == 303
    (renamed,) = sandbox.platforms(id=platform_id)
    assert (renamed["name"], renamed["active"]) == ("Springfield University Moodle", True)

    page = staff.get(f"/admin/platforms/{platform_id}/delete")
    action, hidden = form_on(page, "delete-form")
    done = staff.post(action, data={**hidden, "delete-confirm": "y"})
    assert done.location == "/admin/platforms/"
    assert sandbox.platforms(id=platform_id) == []
    assert registration_row(live_server.app, public_id).platform_deleted_at is not None
    assert staff.get(f"/admin/platforms/{platform_id}").status_code == 404
    calls = [(call["method"], call["status"]) for call in sandbox.calls(f"/api/platforms/{platform_id}")]
    assert (
        calls.count(("POST", 200)) == 1
        and calls.count(("PUT", 200)) == 1
        and calls.count(("DELETE", 204)) == 1
    )
