"""Fixtures for the registration flow: the fake LTIAAS client in the app, and CSRF off on demand."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.registration.helpers import CANVAS_CLOUD, MOODLE_44, MOODLE_311, MOODLE_311_RAW, FakeLtiaas


@pytest.fixture
def ltiaas(app: Flask) -> FakeLtiaas:
    fake = FakeLtiaas(
        registrations={"reg-moodle": MOODLE_44, "reg-old-moodle": MOODLE_311, "reg-canvas": CANVAS_CLOUD},
        raw={"reg-old-moodle": MOODLE_311_RAW},
    )
    app.extensions["ltiaas"] = fake
    return fake


@pytest.fixture
def no_csrf(app: Flask) -> Flask:
    app.config["WTF_CSRF_ENABLED"] = False
    return app
