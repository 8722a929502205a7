"""Accounts for every test: making a user, and signing in as a browser does (or as its result).

- `sign_in` opens a sign-in page and sends its form like a browser: the test client or a
  `requests.Session` over real HTTP, CSRF on or off.
- `signed_in` gives a test client the session the sign-in form leaves, without the form:
  for tests about something else.
"""

from __future__ import annotations

from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any, Protocol
from urllib.parse import urljoin

import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from portal.db import get_session
from portal.models import User, utcnow

PASSWORD = "correct horse battery"


_HASHES: dict[tuple[str, str], str] = {}


def password_hash(app: Flask, password: str) -> str:
    """A real hash of `password` by the app's hasher, made once per run and method: most tests make
    users, and a hash at the production cost takes 0.1 to 0.3 s of scrypt."""
    hasher = app.extensions["password_hasher"]
    key = (hasher.method, password)
    if key not in _HASHES:
        _HASHES[key] = hasher.hash(password)
    return _HASHES[key]


def create_user(
    app: Flask,
    email: str = "admin@school.edu",
    password: str = PASSWORD,
    role: str = "customer",
    organisation: str | None = "Example University",
    disabled: bool = False,
    signed_in_before: bool | None = None,
) -> User:
    """A user with `password`; a staff account has signed in before unless `signed_in_before` is
    False (the last-staff rule counts only staff who have)."""
    if signed_in_before is None:
        signed_in_before = role == "staff"
    with app.app_context():
        db = get_session()
        user = User(
            email=email.lower(),
            password_hash=password_hash(app, password),
            role=role,
            organisation=organisation,
            is_disabled=disabled,
            last_login_at=utcnow() if signed_in_before else None,
        )
        db.add(user)
        db.commit()
        return user


class _Page(Protocol):
    @property
    def text(self) -> str: ...


class _FormReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.forms.append((values.get("action") or "", {}))
        elif tag == "input" and self.forms and values.get("type") == "hidden":
            self.forms[-1][1][values.get("name") or ""] = values.get("value") or ""


def read_form(page: _Page | str, index: int = 0) -> tuple[str, dict[str, str]]:
    """The action and hidden fields (csrf_token, next) of the page's `index`th form."""
    reader = _FormReader()
    reader.feed(page if isinstance(page, str) else page.text)
    return reader.forms[index]


def sign_in(
    browser: FlaskClient | requests.Session,
    email: str,
    password: str = PASSWORD,
    *,
    page: str = "/auth/sign-in",
    fields: Mapping[str, str] | None = None,
    **request: Any,
) -> Any:
    """Open the sign-in `page` (it may carry `next` and the session token) and send its form as a
    browser would: its hidden fields, the email and password, and `fields`; `request` goes with
    both requests (e.g. `environ_base` for the test client).

    Returns the answer as the browser gets it: the test client's redirect itself, or the page a
    `requests.Session` was led to (it follows redirects; `page` is then an absolute URL).
    """
    if isinstance(browser, requests.Session):
        request.setdefault("timeout", 20)
    action, hidden = read_form(browser.get(page, **request))
    form = {**hidden, "email": email, "password": password, **(fields or {})}
    return browser.post(urljoin(page, action), data=form, **request)


def signed_in(browser: FlaskClient, user: User) -> FlaskClient:
    """`browser` with `user` signed in, as the sign-in form leaves it (without the form's password check)."""
    with browser.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
    with browser.application.app_context():  # the sign-in it stands for is on the account's record
        db = get_session()
        db.execute(
            update(User)
            .where(User.id == user.id, User.last_login_at.is_(None))
            .values(last_login_at=utcnow())
        )
        db.commit()
    return browser
