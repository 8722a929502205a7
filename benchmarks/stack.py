"""The servers a benchmark runs against, each its own process on a free local port.

- the portal under gunicorn, set up as in production (`gunicorn.conf.py` at the repo root when
  there is one), talking to LTIAAS and Stripe over HTTP;
- the stand-ins (sandbox LTIAAS, sandbox LMS, Stripe stand-in): the portal's own sandbox, run as
  a second app in a second gunicorn (`benchmarks.standin_app`), as LTIAAS and Stripe would be
  elsewhere, on its own SQLite file;
- the bare Flask app (`benchmarks.bare_app`), under the portal's gunicorn set-up;
- optionally a throwaway PostgreSQL server (`scripts/start-test-postgres`).

Every process gets only the settings written here (plus PATH, HOME and the locale), so a
developer's `.env` or shell cannot change what is measured.
"""

from __future__ import annotations

import importlib
import os
import runpy
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
GUNICORN_CONFIG = ROOT / "gunicorn.conf.py"
# The access log names the path without its query string: the flow's URLs carry session tokens.
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'
DEFAULT_WORKER_CLASS, DEFAULT_WORKERS, DEFAULT_THREADS = "gthread", 2, 4
# The stand-ins must never be what the portal waits for: many threads, answering slowly
# (SANDBOX_LTIAAS_DELAY_MS) only by sleeping.
STANDIN_WORKERS, STANDIN_THREADS = 2, 64
PORTAL_SECRET_KEY = "benchmark-portal-secret-key-long-enough-0123"  # noqa: S105 - throwaway
STANDIN_SECRET_KEY = "benchmark-standin-secret-key-long-enough-4567"  # noqa: S105 - throwaway
SANDBOX_API_KEY = "sandbox-api-key"
KEPT_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")


class StackError(RuntimeError):
    """A server did not start or a command failed; the message says which and shows its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _base_environment() -> dict[str, str]:
    env = {name: os.environ[name] for name in KEPT_ENVIRONMENT if name in os.environ}
    env["FLASK_SKIP_DOTENV"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass(frozen=True)
class WorkerModel:
    """How gunicorn serves: worker class, processes, threads per process."""

    worker_class: str
    workers: int
    threads: int
    config_file: Path | None = None

    def describe(self) -> str:
        source = f" (from {self.config_file.name} and the options)" if self.config_file else ""
        return f"{self.worker_class}, {self.workers} workers x {self.threads} threads{source}"


def worker_model(
    worker_class: str | None, workers: int | None, threads: int | None, config_file: Path | None
) -> tuple[WorkerModel, list[str]]:
    """The model gunicorn will run and the command-line flags that make it so.

    With a config file, what the options leave unset comes from it (then gunicorn's defaults);
    without one, from this module's defaults (gthread, 2 workers x 4 threads), with an access
    log whose lines hold no query string.
    """
    flags: list[str] = []
    if config_file is not None:
        flags += ["--config", str(config_file)]
        settings: dict[str, Any] = runpy.run_path(str(config_file))
        defaults = (
            str(settings.get("worker_class", "sync")),
            int(settings.get("workers", 1)),
            int(settings.get("threads", 1)),
        )
    else:
        flags += ["--access-logformat", ACCESS_LOG_FORMAT]
        defaults = (DEFAULT_WORKER_CLASS, DEFAULT_WORKERS, DEFAULT_THREADS)
        worker_class = worker_class or DEFAULT_WORKER_CLASS
        workers = workers or DEFAULT_WORKERS
        threads = threads or DEFAULT_THREADS
    for flag, value in (("--worker-class", worker_class), ("--workers", workers), ("--threads", threads)):
        if value is not None:
            flags += [flag, str(value)]
    model = WorkerModel(
        worker_class or defaults[0], workers or defaults[1], threads or defaults[2], config_file
    )
    if model.worker_class == "sync" and model.threads > 1:  # gunicorn's own rule
        model = WorkerModel("gthread", model.workers, model.threads, config_file)
    return model, flags


class GunicornServer:
    """One gunicorn master and its workers, on 127.0.0.1 at a free port; logs in `folder`."""

    def __init__(
        self,
        name: str,
        app: str,
        env: dict[str, str],
        flags: list[str],
        folder: Path,
        port: int = 0,
        access_log: bool = False,
    ) -> None:
        """`access_log`: gunicorn's access log in `access_log_path` (the stand-ins', to count the
        calls made to them); the portal and the bare app run without one, as in production."""
        self.name = name
        self.access_log = access_log
        self.app = app
        self.env = env
        self.flags = flags
        self.folder = folder
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.folder / f"{self.name}.log"

    @property
    def access_log_path(self) -> Path:
        return self.folder / f"{self.name}.access.log"

    def start(self, ready_path: str = "/healthz", timeout: float = 60) -> None:
        self.launch()
        self.wait_until_ready(ready_path, timeout)

    def launch(self) -> None:
        """Start the master (it boots its workers meanwhile); `wait_until_ready` waits for them."""
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            self.app,
            "--chdir",
            str(ROOT),
            "--bind",
            f"127.0.0.1:{self.port}",
            *(["--access-logfile", str(self.access_log_path)] if self.access_log else []),
            *_no_control_socket(),
            *self.flags,
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter, our own arguments
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_until_ready(self, path: str = "/healthz", timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise StackError(
                    f"{self.name} exited at start (status {self.process.returncode}):\n{self.tail()}"
                )
            try:
                if requests.get(self.url + path, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise StackError(f"{self.name} did not answer {path} within {timeout:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def worker_pids(self) -> list[int]:
        """The master's children (its workers), by scanning /proc."""
        if self.process is None:
            return []
        found = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                fields = dict(
                    line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
                )
            except OSError:
                continue
            if fields.get("PPid", "").strip() == str(self.process.pid):
                found.append(int(status.parent.name))
        return sorted(found)

    def memory_mib(self) -> dict[int, tuple[float, float]]:
        """Each worker's resident memory now (VmRSS) and at its peak (VmHWM), in MiB, by pid."""
        figures = {}
        for pid in self.worker_pids():
            try:
                lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            except OSError:
                continue
            kib = {line.split(":")[0]: int(line.split()[1]) for line in lines if line.startswith("Vm")}
            if "VmRSS" in kib and "VmHWM" in kib:
                figures[pid] = (kib["VmRSS"] / 1024, kib["VmHWM"] / 1024)
        return figures

    def stop(self) -> None:
        """Quick shutdown (SIGINT to the master), then SIGKILL to its group if it lingers."""
        self.ask_to_stop()
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def ask_to_stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)


def _no_control_socket() -> list[str]:
    """Gunicorn 27's control socket has one default path per user: ours would clash with each
    other's and with any other gunicorn on the machine."""
    known = importlib.import_module("gunicorn.config").KNOWN_SETTINGS
    return ["--no-control-socket"] if any(s.name == "control_socket_disable" for s in known) else []


def run_checked(command: list[str], env: dict[str, str], what: str) -> str:
    """Run a short command; its stdout, or StackError with its output."""
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise StackError(f"{what} failed (status {result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout


def migrate(*databases: tuple[dict[str, str], str]) -> None:
    """`flask db upgrade` with each (settings, what)'s settings, as a release would; all at once."""
    command = [sys.executable, "-m", "flask", "--app", "portal:create_app()", "db", "upgrade"]
    with ThreadPoolExecutor(len(databases)) as pool:
        list(pool.map(lambda database: run_checked(command, *database), databases))


class PostgresServer:
    """A throwaway PostgreSQL (scripts/start-test-postgres) with one database per process."""

    def __init__(self, folder: Path) -> None:
        self.data_dir = folder / "pg"
        self.port = free_port()
        self.url = ""
        folder.chmod(0o755)  # PostgreSQL runs as its own user and must reach its data folder

    def start(self) -> None:
        script = str(ROOT / "scripts" / "start-test-postgres")
        output = run_checked([script, str(self.data_dir), str(self.port)], _base_environment(), "PostgreSQL")
        self.url = output.strip().splitlines()[-1]

    def database(self, name: str) -> str:
        """A new, empty database on the server; its URL (the portal's)."""
        import psycopg

        conninfo = f"host=127.0.0.1 port={self.port} user=portal dbname=postgres"
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def stop(self) -> None:
        if not self.url:
            return
        bin_dir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
        command = [str(bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "stop"]
        if os.geteuid() == 0 and shutil.which("runuser"):
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, capture_output=True, check=False)  # noqa: S603
        self.url = ""


@dataclass
class Stack:
    """The portal, its stand-ins and the bare app, as started by `start_stack`."""

    folder: Path
    portal: GunicornServer
    standin: GunicornServer
    bare: GunicornServer | None
    model: WorkerModel
    postgres: PostgresServer | None

    @property
    def lms_url(self) -> str:
        """The sandbox LMS: the stand-in's server under the other loopback name (another site)."""
        return f"http://127.0.0.1:{self.standin.port}"

    def restart_standin(self, ltiaas_delay_ms: int) -> None:
        """The stand-ins again, on the same port (their state is in their database), answering
        every LTIAAS API call `ltiaas_delay_ms` late."""
        self.standin.stop()
        env = {**self.standin.env, "SANDBOX_LTIAAS_DELAY_MS": str(ltiaas_delay_ms)}
        standin = self.standin
        self.standin = GunicornServer(
            "standin", standin.app, env, standin.flags, self.folder, standin.port, access_log=True
        )
        self.standin.start()

    def start_bare(self, page_bytes: int) -> None:
        env = {**_base_environment(), "BENCH_BARE_PAGE_BYTES": str(page_bytes)}
        self.bare = GunicornServer(
            "bare", "benchmarks.bare_app:create_bare_app()", env, self.portal.flags, self.folder
        )
        self.bare.start(ready_path="/")

    def stop(self) -> None:
        servers = [server for server in (self.bare, self.portal, self.standin) if server is not None]
        for server in servers:
            server.ask_to_stop()
        for server in servers:
            server.stop()
        if self.postgres is not None:
            self.postgres.stop()


def _standin_addresses(standin: GunicornServer) -> dict[str, str]:
    """The portal's settings that point LTIAAS and Stripe at the stand-ins' process."""
    return {
        "LTIAAS_URL": standin.url,
        "STRIPE_API_BASE": f"{standin.url}/sandbox/stripe",
        "STRIPE_JS_URL": f"{standin.url}/static/js/stripe-standin.js",
    }


def start_stack(
    folder: Path,
    *,
    database: str,
    worker_class: str | None = None,
    workers: int | None = None,
    threads: int | None = None,
    ltiaas_delay_ms: int = 0,
    use_config_file: bool = True,
) -> Stack:
    """Start PostgreSQL (if `database` is "postgresql"), the stand-ins and the portal, migrated."""
    config_file = GUNICORN_CONFIG if use_config_file and GUNICORN_CONFIG.exists() else None
    model, flags = worker_model(worker_class, workers, threads, config_file)
    postgres = PostgresServer(folder) if database == "postgresql" else None
    standin_flags = [
        "--worker-class",
        "gthread",
        "--workers",
        str(STANDIN_WORKERS),
        "--threads",
        str(STANDIN_THREADS),
        "--access-logformat",
        ACCESS_LOG_FORMAT,
    ]
    standin_app = "benchmarks.standin_app:create_standin_app()"
    standin = GunicornServer("standin", standin_app, {}, standin_flags, folder, access_log=True)
    portal = GunicornServer("portal", "portal:create_app()", {}, flags, folder)
    stack = Stack(folder, portal, standin, None, model, postgres)
    try:
        # The stand-ins keep their state in SQLite whatever the portal uses: theirs is not measured.
        standin_db, portal_db = f"sqlite:///{folder / 'standin.db'}", f"sqlite:///{folder / 'portal.db'}"
        if postgres is not None:
            postgres.start()
            portal_db = postgres.database("portal")
        standin.env = {
            **_base_environment(),
            "PORTAL_ENV": "development",
            "SECRET_KEY": STANDIN_SECRET_KEY,
            "DATABASE_URL": standin_db,
            "PORTAL_URL": standin.url,
            "SANDBOX_INTERMEDIATE_TARGET": f"{portal.url}/intermediate-target",
            "SANDBOX_STRIPE_WEBHOOK_URL": f"{portal.url}/billing/webhook",
            "SANDBOX_LTIAAS_DELAY_MS": str(ltiaas_delay_ms),
            "RATELIMIT_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
        }
        portal.env = {
            **_base_environment(),
            "PORTAL_ENV": "development",
            "SECRET_KEY": PORTAL_SECRET_KEY,
            "DATABASE_URL": portal_db,
            "PORTAL_URL": portal.url,
            "LTIAAS_API_KEY": SANDBOX_API_KEY,
            "STRIPE_SECRET_KEY": "sk_test_sandbox",
            "STRIPE_PUBLISHABLE_KEY": "pk_test_sandbox",
            "STRIPE_WEBHOOK_SECRET": "whsec_sandbox",
            "STRIPE_PRICE_ID": "price_sandbox_registration",
            # The limit stays on (its cost is part of a request) but high enough for many admins
            # signing up from one address.
            "AUTH_RATE_LIMIT": "1000000 per minute",
            # Branded, as a vendor runs it: every page then names the vendor and links its support.
            "BRAND_NAME": "Benchmark Learning",
            "BRAND_SUPPORT_EMAIL": "support@benchmark.example",
            **_standin_addresses(standin),
        }
        migrate(
            (standin.env, "migrating the stand-ins' database"),
            (portal.env, "migrating the portal's database"),
        )
        standin.launch()
        portal.launch()
        standin.wait_until_ready()
        portal.wait_until_ready()
    except BaseException:
        stack.stop()
        raise
    return stack
