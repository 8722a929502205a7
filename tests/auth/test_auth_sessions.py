"""The flow's session survives signing in, up and out, with a cookie or only the URL token.

Each test starts as the registration flow does: its first step keeps the
registrations in the session and sends the admin to sign in.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.accounts import PASSWORD, create_user, read_form
from tests.auth.helpers import (
    FLOW_REGISTRATIONS,
    SESSION_COOKIE,
    add_flow_start,
    session_id_of,
    submit,
    token_of,
)


@pytest.fixture
def flow_app(app: Flask) -> Flask:
    add_flow_start(app)
    create_user(app)
    return app


def _flow_data(client: FlaskClient, url: str = "/test/flow-data") -> dict[str, object]:
    return client.get(url).get_json()


def test_signing_in_rotates_the_session_id_and_keeps_the_flow_data(flow_app: Flask) -> None:
    client = flow_app.test_client()
    to_sign_in = client.get("/test/flow-start").location
    old_cookie = client.get_cookie(SESSION_COOKIE).value

    response = submit(client, to_sign_in, email="admin@school.edu", password=PASSWORD)

    assert response.location.startswith("/test/flow-step")
    assert client.get_cookie(SESSION_COOKIE).value != old_cookie
    assert _flow_data(client) == {"registrations": FLOW_REGISTRATIONS, "user": "admin@school.edu"}
    stale = flow_app.test_client()
    stale.set_cookie(SESSION_COOKIE, old_cookie)
    assert _flow_data(stale) == {"registrations": None, "user": None}


def test_signing_in_without_cookies_follows_the_token_and_keeps_the_flow_data(
    flow_app: Flask, csrf_on: Flask
) -> None:
    client = flow_app.test_client(use_cookies=False)
    to_sign_in = client.get("/test/flow-start").location
    old_token = token_of(to_sign_in)
    assert old_token

    action, hidden = read_form(client.get(to_sign_in))
    assert session_id_of(action) == session_id_of(to_sign_in)
    assert hidden["next"] == "/test/flow-step"
    response = client.post(action, data={**hidden, "email": "admin@school.edu", "password": PASSWORD})

    assert response.status_code == 302
    assert response.location.startswith("/test/flow-step?_st=")
    new_token = token_of(response.location)
    assert new_token and session_id_of(response.location) != session_id_of(to_sign_in)
    assert _flow_data(client, f"/test/flow-data?_st={new_token}") == {
        "registrations": FLOW_REGISTRATIONS,
        "user": "admin@school.edu",
    }
    assert _flow_data(client, f"/test/flow-data?_st={old_token}") == {"registrations": None, "user": None}


def test_a_step_that_needs_an_account_sends_the_admin_back_to_it_without_cookies(
    flow_app: Flask, csrf_on: Flask
) -> None:
    client = flow_app.test_client(use_cookies=False)
    start = client.get("/test/flow-start").location
    token = token_of(start)

    asked = client.get(f"/test/flow-step?_st={token}")
    assert asked.status_code == 302
    assert session_id_of(asked.location) == session_id_of(start)
    action, hidden = read_form(client.get(asked.location))
    assert hidden["next"] == "/test/flow-step"
    signed_in = client.post(action, data={**hidden, "email": "admin@school.edu", "password": PASSWORD})
    step = client.get(signed_in.location)

    assert step.status_code == 200
    assert step.get_data(as_text=True) == "flow step for admin@school.edu"


def test_signing_up_without_cookies_follows_the_token_and_keeps_the_flow_data(
    flow_app: Flask, csrf_on: Flask
) -> None:
    client = flow_app.test_client(use_cookies=False)
    sign_in_page = client.get(client.get("/test/flow-start").location).get_data(as_text=True)
    sign_up_url = sign_in_page.split('id="sign-up-link"')[0].rsplit('href="', 1)[1].split('"')[0]
    sign_up_url = sign_up_url.replace("&amp;", "&")
    assert token_of(sign_up_url)

    action, hidden = read_form(client.get(sign_up_url))
    response = client.post(
        action,
        data={
            **hidden,
            "email": "new-admin@school.edu",
            "organisation": "Another College",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )

    assert response.location.startswith("/test/flow-step?_st=")
    assert token_of(response.location) != token_of(action)
    assert _flow_data(client, f"/test/flow-data?_st={token_of(response.location)}") == {
        "registrations": FLOW_REGISTRATIONS,
        "user": "new-admin@school.edu",
    }


def test_signing_out_keeps_the_flow_data_and_rotates_the_session(flow_app: Flask) -> None:
    client = flow_app.test_client()
    client.get("/test/flow-start")
    submit(client, "/auth/sign-in", email="admin@school.edu", password=PASSWORD)
    signed_in_cookie = client.get_cookie(SESSION_COOKIE).value

    action, hidden = read_form(client.get("/auth/account"))
    response = client.post(action, data={**hidden, "next": "/test/flow-step"})

    assert response.status_code == 302
    assert response.location == "/test/flow-step"
    assert client.get_cookie(SESSION_COOKIE).value != signed_in_cookie
    assert _flow_data(client) == {"registrations": FLOW_REGISTRATIONS, "user": None}
    assert ("user:signed-out", "admin@school.edu") in _audit(flow_app)


def test_signing_out_without_cookies_keeps_the_flow_data(flow_app: Flask, csrf_on: Flask) -> None:
    client = flow_app.test_client(use_cookies=False)
    action, hidden = read_form(client.get(client.get("/test/flow-start").location))
    signed_in = client.post(action, data={**hidden, "email": "admin@school.edu", "password": PASSWORD})
    token = token_of(signed_in.location)

    action, hidden = read_form(client.get(f"/auth/account?_st={token}"))
    assert session_id_of(action) == session_id_of(signed_in.location)
    response = client.post(action, data=hidden)

    assert response.location.startswith("/auth/sign-in?")
    assert token_of(response.location) not in (None, token)
    assert _flow_data(client, f"/test/flow-data?_st={token_of(response.location)}") == {
        "registrations": FLOW_REGISTRATIONS,
        "user": None,
    }


def test_sign_out_is_a_post_only(client: FlaskClient) -> None:
    assert client.get("/auth/sign-out").status_code == 405


def test_a_disabled_user_is_signed_out_on_the_next_request(flow_app: Flask) -> None:
    client = flow_app.test_client()
    submit(client, "/auth/sign-in", email="admin@school.edu", password=PASSWORD)
    assert client.get("/auth/account").status_code == 200

    result = flow_app.test_cli_runner().invoke(args=["disable-user", "admin@school.edu"])

    assert result.exit_code == 0, result.output
    assert client.get("/auth/account").status_code == 302
    assert _flow_data(client)["user"] is None


def _audit(app: Flask) -> list[tuple[str, str]]:
    from tests.auth.helpers import audit_actions

    return audit_actions(app)


@pytest.mark.parametrize(
    "session_user_id",
    ["{id}", "{id}:0000000000000000", "{id}:", "x:{stamp}"],
    ids=["no stamp", "another password's stamp", "empty stamp", "no id"],
)
def test_a_session_without_the_current_passwords_stamp_is_not_signed_in(
    app: Flask, session_user_id: str
) -> None:
    user = create_user(app)
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = session_user_id.format(id=user.id, stamp=user.password_stamp)
    signed_out = client.get("/auth/account")
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()

    assert signed_out.status_code == 302 and "/auth/sign-in" in signed_out.location
    assert client.get("/auth/account").status_code == 200
