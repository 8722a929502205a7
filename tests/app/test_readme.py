"""The README's configuration table names every setting the portal reads from the environment."""

from __future__ import annotations

import re
from pathlib import Path

from portal.config import settings_from_env

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme_table() -> None:
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", README.read_text(), flags=re.MULTILINE))
    settings = set(settings_from_env({}, "/instance"))
    assert sorted(settings - documented) == []
