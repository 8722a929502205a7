"""The README stays true: its configuration table names every setting the portal reads from the
environment and nothing else, its file map names every module, and its pictures exist."""

from __future__ import annotations

import re
from pathlib import Path

from portal.config import settings_from_env

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def section(title: str) -> str:
    """The README's text under `## title`, up to the next `## ` heading."""
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_every_setting_is_in_the_readme_table() -> None:
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", README.read_text(), flags=re.MULTILINE))
    settings = set(settings_from_env({}, "/instance"))
    assert sorted(settings - documented) == []


def test_the_configuration_table_names_only_settings() -> None:
    rows = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", section("Configuration"), flags=re.MULTILINE))
    assert sorted(rows - set(settings_from_env({}, "/instance"))) == []


def test_the_file_map_names_every_module() -> None:
    """A module is named by its path, or by its name in a row of its package (a package by its row)."""
    rows = [line for line in section("Layout").splitlines() if line.startswith("| `")]

    def named(module: Path) -> bool:
        path = module.relative_to(ROOT).as_posix()
        package = f"`{module.parent.relative_to(ROOT).as_posix()}/"
        names = ("",) if module.name == "__init__.py" else (f"`{module.name}`", f"`{module.stem}`")
        in_package = [row for row in rows if row.split("|")[1].strip().startswith(package)]
        return any(f"`{path}`" in row for row in rows) or any(
            name in row for row in in_package for name in names
        )

    modules = sorted((ROOT / "portal").rglob("*.py"))
    assert [module.relative_to(ROOT).as_posix() for module in modules if not named(module)] == []


def test_every_picture_exists() -> None:
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README.read_text())
    assert pictures
    assert [picture for picture in pictures if not (ROOT / picture).is_file()] == []
