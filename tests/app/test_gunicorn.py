"""The documented gunicorn set-up (gunicorn.conf.py), really started: three worker processes share
one per-address limit through Redis, and without Redis each counts alone, as the startup log says.
Its log is JSON lines, one per request, without a token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import free_port, make_test_app
from tests.log_secrets import secrets_in

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 3
LIMIT = 20
ATTEMPTS = 60
# The account tests' way: no CSRF token to fetch, so only the per-address limit answers.
APP = "portal:create_app({'WTF_CSRF_ENABLED': False})"
TOKEN = "ImFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6MDEyMzQ1Njc4OWFiY2RlZmdoaWoi.Z1a2bC.abcdefghijklmnopqrstuvwxyz0"


@dataclass
class Gunicorn:
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def lines(self) -> list[dict[str, Any]]:
        """Every line written so far; each must be a JSON object."""
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_gunicorn(tmp_path: Path, **environ: str) -> Gunicorn:
    app = make_test_app(tmp_path)  # an empty schema at the newest migration
    database_url = app.config["DATABASE_URL"]
    app.extensions["db_engine"].dispose()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "PORTAL_ENV": "development",
        "SECRET_KEY": "test-secret-key-that-is-long-enough-1234",
        "DATABASE_URL": database_url,
        "PORTAL_URL": f"http://localhost:{port}",
        "STRIPE_PRICE_ID": "",
        "LOG_FORMAT": "json",
        "AUTH_RATE_LIMIT": f"{LIMIT} per minute",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(WORKERS),
        "GUNICORN_THREADS": "1",
        **environ,
    }
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", APP], cwd=ROOT, env=env, stdout=output, stderr=output
        )
    server = Gunicorn(url=url, log=log, process=process)
    try:
        _wait_for_every_worker(server, int(env["GUNICORN_WORKERS"]))
    except BaseException:
        server.stop()
        raise
    return server


def _serving_pids(server: Gunicorn) -> set[int]:
    return {line["pid"] for line in server.lines() if line["logger"] == "portal.request"}


def _wait_for_every_worker(server: Gunicorn, workers: int) -> None:
    """Until each worker has answered a request, so the attempts below spread over all of them."""
    deadline = time.monotonic() + 60
    with ThreadPoolExecutor(max_workers=workers * 2) as pool:
        while len(_serving_pids(server)) < workers:
            if server.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start all workers:\n{server.log.read_text()}")
            list(pool.map(lambda _: _get_health(server.url), range(workers * 2)))


def _get_health(url: str) -> None:
    try:
        requests.get(f"{url}/healthz", timeout=10)
    except requests.RequestException:  # not listening yet, or a worker still booting
        time.sleep(0.2)


def sign_in_attempts(server: Gunicorn) -> list[int]:
    """ATTEMPTS failed sign-ins from one address, six at a time; their statuses."""

    def attempt(n: int) -> int:
        data = {"email": f"guess{n}@school.edu", "password": "not the password"}
        return requests.post(f"{server.url}/auth/sign-in", data=data, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        return list(pool.map(attempt, range(ATTEMPTS)))


def sign_ins_per_worker(server: Gunicorn) -> Counter[int]:
    return Counter(
        line["pid"]
        for line in server.lines()
        if line["logger"] == "portal.request" and line["path"] == "/auth/sign-in"
    )


@pytest.fixture
def servers() -> Iterator[list[Gunicorn]]:
    started: list[Gunicorn] = []
    yield started
    for server in started:
        server.stop()


def test_three_workers_on_redis_share_one_limit_per_address(
    tmp_path: Path, redis_storage: str, servers: list[Gunicorn]
) -> None:
    server = start_gunicorn(tmp_path, RATELIMIT_STORAGE_URI=redis_storage)
    servers.append(server)

    statuses = sign_in_attempts(server)

    assert Counter(statuses) == {200: LIMIT, 429: ATTEMPTS - LIMIT}
    assert len(sign_ins_per_worker(server)) >= 2  # the attempts really went to several workers
    assert not [line for line in server.lines() if "counted per process" in line["message"]]


def test_without_redis_each_worker_counts_alone_and_the_startup_log_says_so(
    tmp_path: Path, servers: list[Gunicorn]
) -> None:
    server = start_gunicorn(tmp_path)
    servers.append(server)

    statuses = sign_in_attempts(server)

    per_worker = sign_ins_per_worker(server)
    assert len(per_worker) >= 2
    assert statuses.count(200) == sum(min(count, LIMIT) for count in per_worker.values()) > LIMIT
    [notice] = [line for line in server.lines() if "counted per process" in line["message"]]
    assert notice["logger"] == "gunicorn.error" and notice["level"] == "WARNING"
    assert f"each of the {WORKERS} workers counts alone" in notice["message"]


def test_every_line_is_json_with_a_request_id_and_no_secret(tmp_path: Path, servers: list[Gunicorn]) -> None:
    server = start_gunicorn(tmp_path, GUNICORN_WORKERS="1", GUNICORN_ACCESS_LOG="-")
    servers.append(server)
    token = TOKEN
    answer = requests.get(
        f"{server.url}/auth/sign-in",
        params={"_st": token},
        headers={"Referer": f"{server.url}/registration/x/?_st={token}"},
        timeout=10,
    )
    requests.post(
        f"{server.url}/auth/sign-in", data={"email": "a@b.edu", "password": "not the password"}, timeout=10
    )

    lines = server.lines()  # each parsed as JSON, or this fails
    request_id = answer.headers["X-Request-ID"]
    [page] = [line for line in lines if line.get("request_id") == request_id]
    assert (page["method"], page["path"], page["status"]) == ("GET", "/auth/sign-in", 200)
    access_lines = [line for line in lines if line["logger"] == "gunicorn.access"]
    [access] = [line for line in access_lines if request_id in line["message"]]
    assert '"GET /auth/sign-in HTTP/1.1" 200' in access["message"]
    assert all(line.get("request_id") for line in lines if line["logger"].startswith("portal"))
    assert [secrets_in(json.dumps(line)) for line in lines if secrets_in(json.dumps(line))] == []
