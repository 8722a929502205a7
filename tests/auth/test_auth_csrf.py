"""With CSRF on (as in production), signing in needs the form's token."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.accounts import PASSWORD, create_user, read_form


def test_signing_in_needs_the_forms_csrf_token(app: Flask, client: FlaskClient, csrf_on: Flask) -> None:
    create_user(app)
    credentials = {"email": "admin@school.edu", "password": PASSWORD}

    forged = client.post("/auth/sign-in", data=credentials)
    action, hidden = read_form(client.get("/auth/sign-in"))
    genuine = client.post(action, data={**hidden, **credentials})

    assert forged.status_code == 400
    assert "This form has expired" in forged.get_data(as_text=True)
    assert genuine.status_code == 302
    assert client.get("/auth/account").status_code == 200


def test_signing_out_needs_the_csrf_token(app: Flask, client: FlaskClient, csrf_on: Flask) -> None:
    create_user(app)
    action, hidden = read_form(client.get("/auth/sign-in"))
    client.post(action, data={**hidden, "email": "admin@school.edu", "password": PASSWORD})

    forged = client.post("/auth/sign-out")

    assert forged.status_code == 400
    assert client.get("/auth/account").status_code == 200
