"""The registration flow's app: its LTIAAS client talks to the fake LTIAAS over real HTTP.

The people (`customer`, `staff`, their browsers) and the fake (`ltiaas`) are tests/conftest.py's.
A test may add settings of its own with
`@pytest.mark.parametrize("app_settings", [{...}], indirect=True)`.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def app_settings(ltiaas_settings: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    return {**ltiaas_settings, **getattr(request, "param", {})}
