"""What one view of each flow page costs, in CPU instructions, beside the bare Flask page.

Throughput on a shared machine moves by a third from one run to the next (see the README); an
instruction count does not. This script walks registrations on the real stack (`benchmarks.stack`:
the portal and its stand-ins under gunicorn, in token mode), stops the portal, and then replays
each page in a process of its own, in-process (Flask's test client on the same SQLite file, the
stand-ins still answering), under valgrind's callgrind, which counts every instruction the process
executes. Each page is run twice, with N views and with none after the same warm-up, so the
difference divided by N is one view: the portal's Python, Flask, SQLAlchemy, Jinja and SQLite,
without gunicorn, wrk or the network.

    .venv/bin/python benchmarks/instructions.py                   # about five minutes
    .venv/bin/python benchmarks/instructions.py --pages configure --views 50

Needs valgrind (Debian: apt-get install valgrind). A figure is repeatable to a fraction of a
percent for the same code, data and Python; compare figures of one machine and Python build.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.flow_client import StopAt, Walk, Walker
from benchmarks.stack import Stack, start_stack
from benchmarks.throughput import PAGES, check_page

WARM_UP_VIEWS = 20
FLOW_PAGES = [spec for spec in PAGES if spec.stage is not None]
BARE = "bare"
_COLLECTED = re.compile(r"Collected : ([\d,]+)")


def prepare(folder: Path, page_keys: list[str]) -> tuple[Stack, int]:
    """Walk one registration (its own admin) per stage the pages need, stop the portal, and keep
    its database, settings and each page's path (with its session token) in `folder` for the
    replays. The stand-ins stay up (the caller stops them): the replayed pages meet a Stripe that
    answers, as in production. Returns them and the review page's size in bytes (the bare page is
    made as large)."""
    (folder / "stack").mkdir()
    stack = start_stack(folder / "stack", database="sqlite")
    try:
        walks: dict[StopAt, Walk] = {}
        needed = [spec.stage for spec in FLOW_PAGES if spec.key in page_keys and spec.stage is not None]
        for stage in ("confirm", *needed):
            if stage not in walks:
                walks[stage] = Walker(stack.portal.url, stack.standin.url, stack.lms_url).walk(stage)
        paths = {
            spec.key: spec.paths([walks[spec.stage]])[0]
            for spec in FLOW_PAGES
            if spec.key in page_keys and spec.stage is not None
        }
        review_bytes = check_page(stack.portal.url, walks["confirm"].flow_url("review"), "review")
        stack.portal.stop()
    except BaseException:
        stack.stop()
        raise
    _copy_database(folder / "stack" / "portal.db", folder / "portal.db")
    environment = dict(stack.portal.env)
    environment["DATABASE_URL"] = f"sqlite:///{folder / 'portal.db'}"
    environment["LOG_LEVEL"] = "WARNING"
    (folder / "replay.json").write_text(json.dumps({"environment": environment, "paths": paths}))
    return stack, review_bytes


def _copy_database(source: Path, target: Path) -> None:
    """A consistent copy, with what is still in the write-ahead log (a copy of the file alone could
    miss the last walk's writes)."""
    with sqlite3.connect(source) as reading, sqlite3.connect(target) as writing:
        reading.backup(writing)
    reading.close()
    writing.close()


def replay(folder: Path, page: str, views: int) -> None:
    """In this process: warm up, then view `page` `views` times (what callgrind counts)."""
    if page == BARE:
        from benchmarks.bare_app import create_bare_app

        size = int((folder / "bare_bytes").read_text())
        client, path = create_bare_app(size).test_client(), "/"
    else:
        replay_data = json.loads((folder / "replay.json").read_text())
        os.environ.update(replay_data["environment"])
        from portal import create_app

        client, path = create_app().test_client(), replay_data["paths"][page]
    for _ in range(WARM_UP_VIEWS):
        status = client.get(path).status_code
        if status != 200:
            sys.exit(f"{page}: {path.split('?')[0]} answered {status}")
    for _ in range(views):
        client.get(path)


def count(folder: Path, page: str, views: int) -> int:
    """Instructions the whole replay process executes (callgrind's total)."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--replay",
        str(folder),
        "--pages",
        page,
        "--views",
        str(views),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        sys.exit(f"valgrind failed on {page} (status {done.returncode}):\n{done.stderr[-3000:]}")
    return int(found.group(1).replace(",", ""))


def per_view(folder: Path, page: str, views: int) -> float:
    return (count(folder, page, views) - count(folder, page, 0)) / views


def parse_options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--pages",
        default=",".join(spec.key for spec in FLOW_PAGES),
        help="which flow pages (comma-separated keys; default all)",
    )
    parser.add_argument("--views", type=int, default=100, help="views counted per page (default 100)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="valgrind runs at once")
    parser.add_argument("--replay", type=Path, help=argparse.SUPPRESS)  # one counted process
    options = parser.parse_args(argv)
    options.page_keys = [key for key in options.pages.split(",") if key]
    known = {spec.key for spec in FLOW_PAGES} | {BARE}
    if unknown := set(options.page_keys) - known:
        parser.error(f"unknown pages: {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
    return options


def main(argv: list[str] | None = None) -> None:
    options = parse_options(argv)
    if options.replay:
        for page in options.page_keys:
            replay(options.replay, page, options.views)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    folder = Path(tempfile.mkdtemp(prefix="portal-instructions-"))
    try:
        print("... walking registrations on the stack", file=sys.stderr, flush=True)
        stack, review_bytes = prepare(folder, options.page_keys)
        (folder / "bare_bytes").write_text(str(review_bytes))
        pages = [BARE, *options.page_keys]
        print(f"... counting {len(pages)} pages under callgrind", file=sys.stderr, flush=True)
        try:
            with ThreadPoolExecutor(options.jobs) as pool:
                counted = pool.map(lambda page: per_view(folder, page, options.views), pages)
                figures = dict(zip(pages, counted, strict=True))
        finally:
            stack.stop()
        print(report(figures, options.views))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def report(figures: dict[str, float], views: int) -> str:
    bare = figures[BARE]
    labels = {spec.key: spec.label for spec in FLOW_PAGES}
    labels[BARE] = "bare Flask page (the review page's size)"
    lines = [
        f"Instructions per view (callgrind, {views} views after {WARM_UP_VIEWS} to warm up; in-process,",
        "without gunicorn or the network), Python " + sys.version.split()[0] + ", SQLite:",
        "",
        "| page | instructions per view (millions) | x bare |",
        "|---|---|---|",
    ]
    for page, instructions in figures.items():
        lines.append(f"| {labels[page]} | {instructions / 1e6:.2f} | {instructions / bare:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
