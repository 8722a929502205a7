"""`scripts/run` reads what a newcomer put in `.env` before choosing its sandbox defaults, as the app
does: a PORTAL_URL, chat webhook or mail server chosen there is not overridden by the sandbox's."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[2] / "scripts" / "run"


def from_env_file(folder: Path, name: str) -> str:
    """The script's own `from_env_file NAME`, run in `folder` under the script's `set -euo pipefail`."""
    found = re.search(r"^from_env_file\(\) \{.*?^\}", RUN.read_text(), re.MULTILINE | re.DOTALL)
    assert found is not None, "scripts/run has no from_env_file function"
    script = f"set -euo pipefail\n{found.group(0)}\nfrom_env_file {name}\n"
    done = subprocess.run(["bash", "-c", script], cwd=folder, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("PORTAL_URL=http://localhost:5399", "http://localhost:5399"),
        ('PORTAL_URL="http://localhost:5399"', "http://localhost:5399"),
        ("  PORTAL_URL = 'http://localhost:5399'  ", "http://localhost:5399"),
    ],
)
def test_a_setting_in_env_is_read_as_the_app_reads_it(tmp_path: Path, line: str, value: str) -> None:
    (tmp_path / ".env").write_text(f"# the vendor's settings\n{line}\nSMTP_HOST=mail.vendor.example\n")
    assert from_env_file(tmp_path, "PORTAL_URL") == value
    assert from_env_file(tmp_path, "SMTP_HOST") == "mail.vendor.example"
    assert from_env_file(tmp_path, "NOTIFY_WEBHOOK_URL") == ""


def test_without_an_env_file_nothing_is_read_and_the_script_goes_on(tmp_path: Path) -> None:
    assert from_env_file(tmp_path, "PORTAL_URL") == ""
