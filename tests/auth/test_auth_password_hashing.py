"""Passwords are hashed with scrypt at OWASP's strength in 8 MiB each, one at a time per process;
hashes made with older parameters still verify, and are renewed when their owner signs in."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from portal.auth.service import CONCURRENT_HASHES, PASSWORD_METHOD, PasswordHasher
from tests.accounts import PASSWORD, create_user
from tests.auth.helpers import find_user

T = TypeVar("T")
# The scrypt settings OWASP's Password Storage Cheat Sheet lists as equally strong (N, r, p).
OWASP_SCRYPT = {(2**17, 8, 1), (2**16, 8, 2), (2**15, 8, 3), (2**14, 8, 5), (2**13, 8, 10)}


@pytest.fixture(autouse=True)
def _production_cost(app: Flask) -> None:
    """These tests are about the hash itself: the portal's own hasher, not the tests' quick one."""
    app.extensions["password_hasher"] = PasswordHasher()


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> int:
    return client.post("/auth/sign-in", data={"email": email, "password": password}).status_code


def test_new_hashes_use_scrypt_with_owasps_parameters_at_8_mib(app: Flask) -> None:
    user = create_user(app)
    method, salt, digest = user.password_hash.split("$")
    assert method == PASSWORD_METHOD == "scrypt:8192:8:10"
    n, r, p = (int(part) for part in method.split(":")[1:])
    assert 128 * n * r == 8 * 1024 * 1024  # the memory one hash takes
    assert (n, r, p) in OWASP_SCRYPT
    assert PASSWORD not in digest and len(salt) >= 16


def test_a_hash_with_werkzeugs_old_default_still_signs_in_and_is_renewed(
    app: Flask, client: FlaskClient
) -> None:
    old = create_user(app, email="old@school.edu")
    with app.app_context():
        from portal.db import get_session
        from portal.models import User

        db = get_session()
        stored = db.get(User, old.id)
        assert stored is not None
        stored.password_hash = generate_password_hash(PASSWORD, method="scrypt:32768:8:1")
        db.commit()

    assert sign_in(client, "old@school.edu", "not the password") == 200
    assert find_user(app, "old@school.edu").password_hash.startswith("scrypt:32768:8:1$")  # kept on failure
    assert sign_in(client, "old@school.edu") == 302
    renewed = find_user(app, "old@school.edu").password_hash
    assert renewed.startswith(f"{PASSWORD_METHOD}$")
    client.post("/auth/sign-out")
    assert sign_in(app.test_client(), "old@school.edu") == 302


class WatchedHasher(PasswordHasher):
    """The real hasher, noting how many hashes run at once."""

    def __init__(self) -> None:
        super().__init__()
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def _compute(self, function: Callable[..., T], *args: Any) -> T:
        def watched(*inner: Any) -> T:
            with self._lock:
                self.running += 1
                self.most_at_once = max(self.most_at_once, self.running)
            try:
                return function(*inner)
            finally:
                with self._lock:
                    self.running -= 1

        return super()._compute(watched, *args)


def test_a_burst_of_sign_ups_hashes_a_few_at_a_time() -> None:
    hasher = WatchedHasher()
    with ThreadPoolExecutor(8) as requests:
        hashes = list(requests.map(lambda n: hasher.hash(f"password number {n}"), range(8)))
    assert len(set(hashes)) == 8 and all(
        hasher.verify(h, f"password number {n}") for n, h in enumerate(hashes)
    )
    assert 1 <= hasher.most_at_once <= CONCURRENT_HASHES
