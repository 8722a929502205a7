"""The per-address limit in Redis: one count for every process, and sign-in still works when Redis is down.

(tests/app/test_gunicorn.py proves the same with three real gunicorn workers.)"""

from __future__ import annotations

from pathlib import Path

from tests.auth.test_auth_rate_limits import sign_in
from tests.conftest import free_port, make_test_app


def test_two_processes_on_one_redis_share_the_count(tmp_path: Path, redis_storage: str) -> None:
    settings = {"RATELIMIT_STORAGE_URI": redis_storage, "AUTH_RATE_LIMIT": "3 per minute"}
    first = make_test_app(tmp_path / "a", WTF_CSRF_ENABLED=False, **settings)
    second = make_test_app(tmp_path / "b", WTF_CSRF_ENABLED=False, **settings)

    answers = [
        sign_in(app.test_client(), f"user{n}@school.edu").status_code
        for n, app in enumerate([first, second, first, second])
    ]

    assert answers == [200, 200, 200, 429]
    for app in (first, second):
        app.extensions["db_engine"].dispose()


def test_with_redis_down_sign_in_works_and_each_process_counts_alone(tmp_path: Path) -> None:
    app = make_test_app(
        tmp_path,
        RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}/0",
        AUTH_RATE_LIMIT="3 per minute",
        WTF_CSRF_ENABLED=False,
    )
    client = app.test_client()

    answers = [sign_in(client, f"user{n}@school.edu").status_code for n in range(4)]

    assert answers == [200, 200, 200, 429]
    app.extensions["db_engine"].dispose()
