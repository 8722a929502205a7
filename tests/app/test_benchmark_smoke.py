"""The throughput benchmark's harness works: it starts its servers, walks, loads and reports.

Speed is never asserted here: one very short run, then only that the table came out whole.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.bare_app import create_bare_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("size", [600, 6_710, 25_000])
def test_the_bare_page_is_as_big_as_asked(size: int) -> None:
    page = create_bare_app(size).test_client().get("/")

    assert page.status_code == 200
    assert len(page.data) == size
    assert b"&lt;b&gt; &amp;" in page.data, "the template escapes, as the portal's do"


@pytest.mark.skipif(shutil.which("wrk") is None, reason="needs Debian's wrk")
@pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL")), reason="runs on its own SQLite files; once per suite is enough"
)
def test_a_short_run_prints_the_whole_report() -> None:
    command = [
        sys.executable,
        "benchmarks/throughput.py",
        "--duration=1",
        "--warmup=0",
        "--sessions=1",
        "--flows=2",
        "--connections=2",
        "--wrk-threads=1",
        "--pages=review,status",
        "--workers=1",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 0, result.stderr[-3000:]
    report = result.stdout
    for row in (
        "| bare Flask page |",
        "| review |",
        "| status poll (waiting, done) |",
        "| whole registrations/s, 2 at once |",
        "| LTIAAS calls per completed registration |",
        "| LTIAAS calls caused by reloads of flow pages |",
        "| confirm p99 while 2 registrations walk (4 reloading) |",
        "| peak RSS per portal worker (VmHWM, MiB) |",
        "| complete -> done |",
    ):
        assert row in report, f"{row} missing from:\n{report}"
    assert "failed" not in report, report


@pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL")), reason="runs on its own SQLite files; once per suite is enough"
)
def test_the_instruction_count_replays_each_page_it_prepared(tmp_path: Path) -> None:
    from benchmarks.instructions import prepare, report

    stack, review_bytes = prepare(tmp_path, ["review", "checkout"])
    try:
        (tmp_path / "bare_bytes").write_text(str(review_bytes))
        for page in ("bare", "review", "checkout"):
            command = [
                sys.executable,
                "benchmarks/instructions.py",
                f"--replay={tmp_path}",
                f"--pages={page}",
                "--views=2",
            ]
            replayed = subprocess.run(
                command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
            )
            assert replayed.returncode == 0, f"{page}: {replayed.stderr[-3000:]}"
    finally:
        stack.stop()

    table = report({"bare": 2e6, "review": 5e6, "checkout": 9e6}, views=2)

    assert review_bytes > 1000
    assert "| review | 5.00 | 2.5 |" in table
    assert "| checkout (payment page) | 9.00 | 4.5 |" in table
