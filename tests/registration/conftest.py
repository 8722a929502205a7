"""The registration flow's app: its LTIAAS client talks to the fake LTIAAS over real HTTP.

The people (`customer`, `staff`, their browsers) and the fake (`ltiaas`) are tests/conftest.py's.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def app_settings(ltiaas_settings: dict[str, Any]) -> dict[str, Any]:
    return ltiaas_settings
