"""`scripts/setup`, on a machine whose Python is too old, says so and what to do, and makes nothing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SETUP = Path(__file__).resolve().parents[2] / "scripts" / "setup"
# Answers as Python 3.9 does to the script's two questions: whether it is 3.11 or newer, and its version.
PYTHON_3_9 = """#!/bin/sh
case "$2" in
  *version_info*) exit 1 ;;
  *python_version*) echo "Python 3.9.2" ;;
esac
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(SETUP, tmp_path / "scripts" / "setup")
    (tmp_path / "requirements.txt").write_text("flask\n")
    old = tmp_path / "python3.9"
    old.write_text(PYTHON_3_9)
    old.chmod(0o755)
    return tmp_path


def setup(project: Path, python: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "scripts/setup"],
        cwd=project,
        env={"PATH": "/usr/bin:/bin", "PYTHON": python},
        capture_output=True,
        text=True,
    )


def test_an_old_python_is_named_with_what_to_install_and_no_venv_is_made(project: Path) -> None:
    done = setup(project, str(project / "python3.9"))

    assert done.returncode == 1
    assert "The portal needs Python 3.11 or newer;" in done.stderr and "is Python 3.9.2." in done.stderr
    assert "apt-get install python3 python3-venv" in done.stderr
    assert not (project / ".venv").exists()


def test_a_python_that_does_not_run_is_told_as_such(project: Path) -> None:
    done = setup(project, str(project / "no-such-python"))

    assert done.returncode == 1
    assert "is not a Python that runs." in done.stderr


def test_a_venv_left_by_an_old_python_is_to_be_removed(project: Path) -> None:
    (project / ".venv" / "bin").mkdir(parents=True)
    shutil.copy(project / "python3.9", project / ".venv" / "bin" / "python")

    done = setup(project, "python3")

    assert done.returncode == 1
    assert ".venv's Python (Python 3.9.2) cannot run the portal" in done.stderr
    assert "remove .venv and run scripts/setup again" in done.stderr
