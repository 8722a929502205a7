"""The tests reuse werkzeug's compiled URL builders across their apps (tests/url_builders.py): each
app still builds its own URLs, with its own converters, prefixes and defaults."""

from __future__ import annotations

from pathlib import Path

from flask import url_for
from werkzeug.routing.rules import Rule

from tests.conftest import make_test_app


def test_the_tests_reuse_the_builders_and_each_app_still_builds_its_own_urls(tmp_path: Path) -> None:
    assert getattr(Rule._compile_builder, "reused", False)
    first = make_test_app(tmp_path / "first")
    second = make_test_app(
        tmp_path / "second", LTIAAS_PLATFORMS_PATH="/api/v2/platforms", PORTAL_URL="http://portal.test"
    )
    try:
        for app, platforms in ((first, "/api/platforms"), (second, "/api/v2/platforms")):
            with app.test_request_context("/"):
                assert url_for("admin.person", user_id=7) == "/admin/people/7"
                assert url_for("registration.review", public_id="a b") == "/registration/a%20b/"
                assert (
                    url_for("auth.sign_in", next="/registration/x/") == "/auth/sign-in?next=/registration/x/"
                )
                assert url_for("static", filename="css/portal.css").startswith("/static/css/portal.css")
                rules = [rule.rule for rule in app.url_map.iter_rules()]
                assert any(rule.startswith(platforms) for rule in rules), rules
                assert url_for("auth.account", _external=True).endswith("/auth/account")
    finally:
        for app in (first, second):
            app.extensions["db_engine"].dispose()
