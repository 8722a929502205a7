"""How many pages and registrations per second the portal serves under gunicorn, against a bare Flask page.

Starts, each its own process on a free local port: the portal under gunicorn (`gunicorn.conf.py`
at the repo root when there is one, else gthread, 2 workers x 4 threads), the stand-ins
(sandbox LTIAAS, sandbox LMS, Stripe stand-in: the portal's own sandbox as a second app, as
LTIAAS and Stripe would be elsewhere), and a bare Flask app rendering one Jinja template the
size of the portal's review page. Then:

1. walks registrations in token mode (`_st` in the URL, no cookie) to the payment page, to
   confirm and to done, leaving pages to load;
2. loads the bare page and each flow page with wrk (requests/s, p50, p99), after viewing each
   page alone a few times to count what one view does (LTIAAS and Stripe calls, session writes);
3. walks one registration alone, counting the stand-ins' calls made by each step;
4. walks N whole registrations at once (registrations/s, p50/p99 per step, LTIAAS calls per
   registration) while a few other admins reload the confirm page (its p99 meanwhile); with
   --ltiaas-delay-ms, all again with every LTIAAS API call that much slower;
5. prints Markdown tables with the targets of issue 11 beside the figures (never asserted),
   and the memory of each gunicorn worker.

    .venv/bin/python benchmarks/throughput.py                        # SQLite, about two minutes
    .venv/bin/python benchmarks/throughput.py --database postgresql  # a throwaway PostgreSQL
    .venv/bin/python benchmarks/throughput.py --ltiaas-delay-ms 500  # a slow LTIAAS, too

The machine's cores are shared by wrk, the portal and the stand-ins: compare figures of one run
(the ratio to the bare page), or runs on the same machine, never absolute figures across machines.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.flow_client import Auditor, StopAt, Walk, Walker, WalkError
from benchmarks.stack import ROOT, Stack, StackError, start_stack

PROBE_CONNECTIONS = 4  # admins reloading the confirm page while the whole registrations walk
PROBE_LIMIT_SECONDS = 3600  # stopped when the walks are done
AUDITED_VIEWS = 3  # views of each page made alone, to count exactly what one view does
WRK_SCRIPT = Path(__file__).with_name("wrk_report.lua")
# Issue 11's targets, printed beside the figures (never asserted).
TARGET_RATIO = 0.5
TARGET_LTIAAS_PER_REGISTRATION = (2, 3)  # a read and a complete, plus at most one duplicates lookup
TARGET_RSS_MIB = 80
TARGET_DELAY_P99_FACTOR = 2.0


@dataclass(frozen=True)
class PageSpec:
    """A page to load: its label, the stage its registrations are walked to, its path in one of them."""

    key: str
    label: str
    stage: StopAt | None  # None: a page without a registration or session
    path: str | Callable[[Walk], str]
    flow_page: bool  # one of issue 11's flow GET pages (50 % of the bare page, no LTIAAS call)

    def paths(self, walks: list[Walk]) -> list[str]:
        return [self.path] if isinstance(self.path, str) else [self.path(walk) for walk in walks]


# In this order: the review page is loaded before any registration of the sandbox LMS is complete
# (every one has the same URL, so the review page would list them all as earlier registrations).
PAGES = [
    PageSpec("home", "home `/`", None, "/", False),
    PageSpec("healthz", "`/healthz`", None, "/healthz", False),
    PageSpec("review", "review", "confirm", lambda w: w.flow_url("review"), True),
    PageSpec("configure", "configure", "confirm", lambda w: w.flow_url("configure"), True),
    PageSpec("confirm", "confirm", "confirm", lambda w: w.flow_url("confirm"), True),
    PageSpec("checkout", "checkout (payment page)", "checkout", lambda w: w.checkout_url, True),
    PageSpec(
        "payment-status", "payment page's status poll", "checkout", lambda w: w.payment_status_url, False
    ),
    PageSpec("status", "status poll (waiting, done)", "confirm", lambda w: w.flow_url("status"), True),
    PageSpec("done", "done", "done", lambda w: w.done_url, True),
]


@dataclass
class LoadResult:
    """What wrk measured for one page."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]
    socket_errors: int
    ltiaas_calls: int = 0
    stripe_calls: int = 0

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def not_ok(self) -> int:
        return sum(count for status, count in self.statuses.items() if status != "200") + self.socket_errors


@dataclass
class FlowResult:
    """N whole registrations walked at once."""

    flows: int
    delay_ms: int
    completed: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    ltiaas_calls: Counter[str] = field(default_factory=Counter)
    probe: LoadResult | None = None  # the confirm page, loaded meanwhile by a few other admins

    @property
    def per_second(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    @property
    def ltiaas_per_registration(self) -> float:
        return sum(self.ltiaas_calls.values()) / self.completed if self.completed else float("nan")


@dataclass
class RssFigures:
    """Resident memory of each worker in MiB: its peak (VmHWM) after the benchmark, and along the way."""

    at_start: list[float]
    peak_before_flows: list[float]
    peak: list[float]
    now: list[float]

    def describe(self) -> str:
        def mib(values: list[float]) -> str:
            return ", ".join(f"{value:.0f}" for value in values)

        return (
            f"{mib(self.peak)} (peak before the whole registrations: {mib(self.peak_before_flows)}; "
            f"RSS at start: {mib(self.at_start)}, at the end: {mib(self.now)})"
        )


def percentile(samples: list[float], fraction: float) -> float:
    """The nearest-rank percentile (p99 of 50 samples is the largest)."""
    ordered = sorted(samples)
    rank = min(max(1, math.ceil(fraction * len(ordered))), len(ordered))
    return ordered[rank - 1]


def start_wrk(
    url: str, paths: list[str], seconds: int, options: argparse.Namespace, connections: int | None = None
) -> subprocess.Popen[str]:
    """wrk loading `paths` (in turn) of the server at `url` for `seconds` (SIGINT stops it sooner)."""
    port = urlsplit(url).port
    connections = connections or options.connections
    command = [
        options.wrk,
        f"--threads={min(options.wrk_threads, connections)}",
        f"--connections={connections}",
        f"--duration={seconds}s",
        "--timeout=60s",  # a slow answer is measured, not dropped from the latencies
        f"--script={WRK_SCRIPT}",
        f"http://127.0.0.1:{port}",
        "--",
        urlsplit(url).netloc,
        *paths,
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603


def wrk_figures(process: subprocess.Popen[str], stop: bool = False) -> LoadResult:
    """The figures of a wrk started by `start_wrk`, once it ends (at once with `stop`)."""
    if stop:
        process.send_signal(signal.SIGINT)  # wrk stops and reports what it measured so far
    stdout, stderr = process.communicate()
    line = next((x for x in stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if process.returncode != 0 or line is None:
        raise StackError(f"wrk failed (status {process.returncode}):\n{stdout}{stderr}")
    figures = json.loads(line.removeprefix("WRK_JSON "))
    return LoadResult(
        requests=figures["requests"],
        seconds=figures["duration_us"] / 1e6,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        statuses=figures["statuses"],
        socket_errors=sum(figures[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")),
    )


def run_wrk(url: str, paths: list[str], seconds: int, options: argparse.Namespace) -> LoadResult:
    return wrk_figures(start_wrk(url, paths, seconds, options))


def check_page(url: str, path: str, what: str) -> int:
    """One GET of the page as wrk will load it: it must answer 200 itself (no redirect); its size."""
    response = requests.get(url + path, allow_redirects=False, timeout=60)
    if response.status_code != 200:
        raise StackError(f"{what} answers {response.status_code}, not 200, at {urlsplit(path).path}")
    return len(response.content)


@dataclass
class ViewAudit:
    """What single views of a page did, each alone: upstream calls and session rows written."""

    views: int = 0
    ltiaas_calls: int = 0
    stripe_calls: int = 0
    session_writes: int | None = 0


@dataclass
class PageRun:
    spec: PageSpec
    load: LoadResult
    audit: ViewAudit

    @property
    def calls_ltiaas(self) -> bool:
        return self.load.ltiaas_calls > 0 or self.audit.ltiaas_calls > 0


def audit_views(url: str, paths: list[str], what: str, auditor: Auditor) -> ViewAudit:
    """View each path once (each must answer 200), and the first few alone, counting what they did."""
    for path in paths[AUDITED_VIEWS:]:
        check_page(url, path, what)
    audit = ViewAudit()
    auditor.settle()
    for path in paths[:AUDITED_VIEWS]:
        before = auditor.tally()
        check_page(url, path, what)
        auditor.settle()
        after = auditor.tally()
        audit.views += 1
        audit.ltiaas_calls += after.ltiaas - before.ltiaas
        audit.stripe_calls += after.stripe - before.stripe
        if before.sessions is None or after.sessions is None or audit.session_writes is None:
            audit.session_writes = None
        else:
            audit.session_writes += before.sessions != after.sessions
    return audit


def measure_page(url: str, paths: list[str], auditor: Auditor, options: argparse.Namespace) -> LoadResult:
    """wrk on `paths` (after a warm-up), with the LTIAAS and Stripe calls made meanwhile."""
    if options.warmup > 0:
        run_wrk(url, paths, options.warmup, options)
    auditor.settle()
    before = auditor.tally()
    result = run_wrk(url, paths, options.duration, options)
    auditor.settle()
    after = auditor.tally()
    result.ltiaas_calls = after.ltiaas - before.ltiaas
    result.stripe_calls = after.stripe - before.stripe
    return result


def prepare_walks(stack: Stack, stage: StopAt, sessions: int) -> list[Walk]:
    """`sessions` registrations walked to `stage`, a few at a time (each its own admin)."""

    def walk(_: int) -> Walk:
        return Walker(stack.portal.url, stack.standin.url, stack.lms_url).walk(stage)

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(walk, range(sessions)))


def run_flows(
    stack: Stack,
    flows: int,
    delay_ms: int,
    auditor: Auditor,
    probe: Callable[[], subprocess.Popen[str]] | None = None,
) -> FlowResult:
    """`flows` admins each walk a whole registration, all starting together; the wrk that `probe`
    starts loads a page meanwhile, until the last one is done."""
    result = FlowResult(flows, delay_ms)
    lock = threading.Lock()
    barrier = threading.Barrier(flows)
    before = len(auditor.ltiaas_calls())

    def one_admin(_: int) -> None:
        walker = Walker(stack.portal.url, stack.standin.url, stack.lms_url)
        barrier.wait()
        try:
            walk = walker.walk("done")
        except (WalkError, requests.RequestException, KeyError, ValueError) as error:
            with lock:
                result.failures.append(f"{type(error).__name__}: {error}")
            return
        with lock:
            result.completed += 1
            for step in walk.steps:
                result.samples[step.name].append(step.milliseconds)

    probing = probe() if probe else None
    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(flows) as pool:
            list(pool.map(one_admin, range(flows)))
    finally:
        result.seconds = time.perf_counter() - started
        result.probe = wrk_figures(probing, stop=True) if probing else None
    for call in auditor.ltiaas_calls()[before:]:
        result.ltiaas_calls[_call_kind(call)] += 1
    return result


def _call_kind(call: dict[str, Any]) -> str:
    path = call["path"]
    if path.startswith("/api/registrations/"):
        return f"{call['method']} /api/registrations/<id>{'/complete' if path.endswith('/complete') else ''}"
    return f"{call['method']} {path}"


# --- the report ----------------------------------------------------------------------------


def _met(condition: bool) -> str:
    return "yes" if condition else "**no**"


def _table(header: list[str], rows: Iterable[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _per_view(count: int | None, views: int) -> str:
    return "?" if count is None or not views else f"{count / views:.2f}"


def pages_table(bare: LoadResult, pages: list[PageRun]) -> str:
    header = [
        "page",
        "requests/s",
        "p50 ms",
        "p99 ms",
        "x bare",
        "LTIAAS calls/view",
        "Stripe calls/view",
        "session writes/view",
        "not 200",
        "target",
        "met",
    ]
    rows = [["bare Flask page", *_load_cells(bare, bare), "", "", "", str(bare.not_ok), "", ""]]
    for page in pages:
        ratio = page.load.per_second / bare.per_second if bare.per_second else 0.0
        audit = page.audit
        flow = page.spec.flow_page
        rows.append(
            [
                page.spec.label,
                *_load_cells(page.load, bare),
                _per_view(audit.ltiaas_calls, audit.views),
                _per_view(audit.stripe_calls, audit.views),
                _per_view(audit.session_writes, audit.views),
                str(page.load.not_ok),
                f">= {TARGET_RATIO:.2f}x, 0 LTIAAS" if flow else "",
                _met(ratio >= TARGET_RATIO and not page.calls_ltiaas) if flow else "",
            ]
        )
    return _table(header, rows)


def _load_cells(load: LoadResult, bare: LoadResult) -> list[str]:
    ratio = load.per_second / bare.per_second if bare.per_second else 0.0
    return [f"{load.per_second:,.0f}", f"{load.p50_ms:.1f}", f"{load.p99_ms:.1f}", f"{ratio:.2f}"]


def audit_table(walk: Walk) -> str:
    rows = [
        [step.name, f"{step.milliseconds:.0f}", str(step.ltiaas_calls), str(step.stripe_calls)]
        for step in walk.steps
    ]
    return _table(["step (one registration, alone)", "ms", "LTIAAS calls", "Stripe calls"], rows)


def flows_table(runs: list[FlowResult], portal_steps_without_ltiaas: set[str]) -> str:
    """p50/p99 per step of each run; with a delayed run, its p99 against the first run's."""
    base = runs[0]
    header = ["step", f"p50 ms ({base.flows} at once)", "p99 ms"]
    for run in runs[1:]:
        header += [f"p50 ms, LTIAAS +{run.delay_ms} ms", "p99 ms", "p99 / no delay", "target", "met"]
    rows = []
    for step, samples in base.samples.items():
        row = [step, f"{statistics.median(samples):.0f}", f"{percentile(samples, 0.99):.0f}"]
        for run in runs[1:]:
            delayed = run.samples.get(step)
            if not delayed:
                row += ["", "", "", "", ""]
                continue
            factor = percentile(delayed, 0.99) / percentile(samples, 0.99)
            checked = step in portal_steps_without_ltiaas
            row += [
                f"{statistics.median(delayed):.0f}",
                f"{percentile(delayed, 0.99):.0f}",
                f"{factor:.1f}x",
                f"<= {TARGET_DELAY_P99_FACTOR:.0f}x" if checked else "",
                _met(factor <= TARGET_DELAY_P99_FACTOR) if checked else "",
            ]
        rows.append(row)
    return _table(header, rows)


def summary_table(runs: list[FlowResult], pages: list[PageRun], rss: dict[str, RssFigures]) -> str:
    rows = []
    for run in runs:
        delay = f", LTIAAS +{run.delay_ms} ms" if run.delay_ms else ""
        failed = f" ({len(run.failures)} failed)" if run.failures else ""
        rows.append(
            [f"whole registrations/s, {run.flows} at once{delay}", f"{run.per_second:.2f}{failed}", "", ""]
        )
        low, high = TARGET_LTIAAS_PER_REGISTRATION
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(run.ltiaas_calls.items()))
        per = run.ltiaas_per_registration
        rows.append(
            [
                f"LTIAAS calls per completed registration{delay}",
                f"{per:.2f} ({kinds})",
                f"{low}-{high}",
                _met(low <= per <= high),
            ]
        )
    base_probe = runs[0].probe if runs else None
    for run in runs:
        if run.probe is None or base_probe is None:
            continue
        delay = f", LTIAAS +{run.delay_ms} ms" if run.delay_ms else ""
        label = f"confirm p99 while {run.flows} registrations walk ({PROBE_CONNECTIONS} reloading){delay}"
        measured = f"{run.probe.p99_ms:.0f} ms (p50 {run.probe.p50_ms:.0f}, {run.probe.not_ok} not 200)"
        if run is runs[0]:
            rows.append([label, measured, "", ""])
            continue
        factor = run.probe.p99_ms / base_probe.p99_ms if base_probe.p99_ms else float("inf")
        target = f"<= {TARGET_DELAY_P99_FACTOR:.0f}x without the delay"
        rows.append([label, f"{measured}: {factor:.1f}x", target, _met(factor <= TARGET_DELAY_P99_FACTOR)])
    flow_pages = [page for page in pages if page.spec.flow_page]
    if flow_pages:
        under_load = sum(page.load.ltiaas_calls for page in flow_pages)
        views = sum(page.load.requests for page in flow_pages)
        alone = sum(page.audit.ltiaas_calls for page in flow_pages)
        alone_views = sum(page.audit.views for page in flow_pages)
        rows.append(
            [
                "LTIAAS calls caused by reloads of flow pages",
                f"{under_load:,} in {views:,} views under load; {alone} in {alone_views} views alone",
                "0",
                _met(under_load == 0 and alone == 0),
            ]
        )
    for name, figures in rss.items():
        if not figures.peak:
            continue
        target = f"<= {TARGET_RSS_MIB}" if name == "portal" else ""
        met = _met(max(figures.peak) <= TARGET_RSS_MIB) if name == "portal" else ""
        rows.append([f"peak RSS per {name} worker (VmHWM, MiB)", figures.describe(), target, met])
    return _table(["measure", "measured", "target", "met"], rows)


def _git_commit() -> str:
    result = subprocess.run(  # noqa: S603 - git with our own arguments
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "unknown"


def _print(text: str = "") -> None:
    print(text, flush=True)


def _progress(text: str) -> None:
    print(f"... {text}", file=sys.stderr, flush=True)


# --- the run -------------------------------------------------------------------------------


def parse_options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--duration", type=int, default=5, help="seconds of wrk per page (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of wrk before each page (0: none)")
    parser.add_argument("--connections", type=int, default=32, help="wrk's connections (default 32)")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--sessions", type=int, default=8, help="registrations (sessions) per page")
    parser.add_argument("--flows", type=int, default=50, help="whole registrations walked at once")
    parser.add_argument(
        "--ltiaas-delay-ms", type=int, default=0, help="then walk them again, LTIAAS this slow"
    )
    parser.add_argument(
        "--pages",
        default=",".join(spec.key for spec in PAGES),
        help="which flow pages to load (comma-separated keys; default all)",
    )
    parser.add_argument(
        "--worker-class", help="gunicorn worker class (default: gunicorn.conf.py's or gthread)"
    )
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py's or 2)")
    parser.add_argument("--threads", type=int, help="threads per worker (default: gunicorn.conf.py's or 4)")
    parser.add_argument("--no-config-file", action="store_true", help="ignore gunicorn.conf.py")
    parser.add_argument(
        "--keep", action="store_true", help="keep the servers' logs (kept anyway when something failed)"
    )
    options = parser.parse_args(argv)
    options.wrk = shutil.which("wrk")
    if options.wrk is None:
        parser.error("wrk is not installed (Debian: apt-get install wrk)")
    known = {spec.key for spec in PAGES}
    options.page_keys = [key for key in options.pages.split(",") if key]
    if unknown := set(options.page_keys) - known:
        parser.error(f"unknown pages: {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
    return options


def run(options: argparse.Namespace, folder: Path) -> bool:
    """The whole benchmark, its report printed; False if some walks failed (their logs are worth a look)."""
    _progress(f"starting the servers ({options.database}) in {folder}")
    stack = start_stack(
        folder,
        database=options.database,
        worker_class=options.worker_class,
        workers=options.workers,
        threads=options.threads,
        use_config_file=not options.no_config_file,
    )
    try:
        return _run_on(stack, options)
    except (StackError, WalkError):
        _progress(f"the portal's log ends with:\n{stack.portal.tail()}")
        raise
    finally:
        stack.stop()


def _run_on(stack: Stack, options: argparse.Namespace) -> bool:
    auditor = Auditor(stack.standin.url, stack.standin.access_log_path, stack.portal.env["DATABASE_URL"])
    try:
        runs = _measure(stack, options, auditor)
    finally:
        auditor.close()
    return not any(run.failures for run in runs)


def _measure(stack: Stack, options: argparse.Namespace, auditor: Auditor) -> list[FlowResult]:
    portal_at_start = stack.portal.memory_mib()
    walks: dict[StopAt, list[Walk]] = {}

    def walks_to(stage: StopAt) -> list[Walk]:
        if stage not in walks:
            _progress(f"walking {options.sessions} registrations to {stage}")
            walks[stage] = prepare_walks(stack, stage, options.sessions)
        return walks[stage]

    review_bytes = check_page(stack.portal.url, walks_to("confirm")[0].flow_url("review"), "review")
    stack.start_bare(review_bytes)
    assert stack.bare is not None
    bare_at_start = stack.bare.memory_mib()
    _progress(f"loading the bare page ({review_bytes:,} bytes, the review page's size)")
    check_page(stack.bare.url, "/", "the bare page")
    bare = measure_page(stack.bare.url, ["/"], auditor, options)
    pages: list[PageRun] = []
    for spec in (spec for spec in PAGES if spec.key in options.page_keys):
        paths = spec.paths(walks_to(spec.stage) if spec.stage else [])
        _progress(f"loading {spec.label} ({len(paths)} sessions)")
        audit = audit_views(stack.portal.url, paths, spec.label, auditor)
        pages.append(PageRun(spec, measure_page(stack.portal.url, paths, auditor, options), audit))

    _progress("one registration alone, counting the stand-ins' calls of each step")
    audited = Walker(stack.portal.url, stack.standin.url, stack.lms_url, auditor).walk("done")
    portal_before_flows = stack.portal.memory_mib()
    probe_paths = [walk.flow_url("confirm") for walk in walks_to("confirm")]

    def probe() -> subprocess.Popen[str]:
        return start_wrk(stack.portal.url, probe_paths, PROBE_LIMIT_SECONDS, options, PROBE_CONNECTIONS)

    runs = []
    if options.flows > 0:
        _progress(f"{options.flows} whole registrations at once")
        runs.append(run_flows(stack, options.flows, 0, auditor, probe))
        if options.ltiaas_delay_ms > 0:
            _progress(f"again, every LTIAAS API call {options.ltiaas_delay_ms} ms late")
            stack.restart_standin(options.ltiaas_delay_ms)
            runs.append(run_flows(stack, options.flows, options.ltiaas_delay_ms, auditor, probe))
    portal_at_end, bare_at_end = stack.portal.memory_mib(), stack.bare.memory_mib()
    rss = {
        "portal": RssFigures(
            [rss for rss, _ in portal_at_start.values()],
            [peak for _, peak in portal_before_flows.values()],
            [peak for _, peak in portal_at_end.values()],
            [rss for rss, _ in portal_at_end.values()],
        ),
        "bare app": RssFigures(
            [rss for rss, _ in bare_at_start.values()],
            [peak for _, peak in bare_at_end.values()],
            [peak for _, peak in bare_at_end.values()],
            [rss for rss, _ in bare_at_end.values()],
        ),
    }
    report(stack, options, review_bytes, audited, bare, pages, runs, rss)
    return runs


def report(
    stack: Stack,
    options: argparse.Namespace,
    review_bytes: int,
    audited: Walk,
    bare: LoadResult,
    pages: list[PageRun],
    runs: list[FlowResult],
    rss: dict[str, RssFigures],
) -> None:
    portal_steps_without_ltiaas = {
        step.name for step in audited.steps if step.ltiaas_calls == 0 and "(stand-in)" not in step.name
    }
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")  # noqa: UP017 - reads plainly
    _print(f"## Throughput ({now}, commit {_git_commit()})")
    _print()
    _print(f"`{' '.join(['benchmarks/throughput.py', *sys.argv[1:]])}`")
    _print()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    _print(
        f"{os.cpu_count()} cores ({platform.machine()}, load average {load} at the end: other work on the "
        f"machine skews every figure), Python {platform.python_version()}, "
        f"{options.database}; portal under gunicorn: {stack.model.describe()}; stand-ins in their "
        f"own gunicorn; wrk: {options.connections} connections, {options.wrk_threads} threads, "
        f"{options.duration} s per page after {options.warmup} s warm-up, over {options.sessions} "
        f"signed-in customers' sessions in token mode; bare page {review_bytes:,} bytes "
        "(the review page's size)."
    )
    _print()
    _print(pages_table(bare, pages))
    _print()
    _print(summary_table(runs, pages, rss))
    _print()
    if runs:
        _print(flows_table(runs, portal_steps_without_ltiaas))
        _print()
        for run in runs:
            for failure in sorted(set(run.failures))[:5]:
                _print(f"- failed walk (LTIAAS +{run.delay_ms} ms): {failure}")
    _print(audit_table(audited))


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # so that the servers are stopped on the way out


def main(argv: list[str] | None = None) -> None:
    options = parse_options(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    folder = Path(tempfile.mkdtemp(prefix="portal-throughput-"))
    keep = options.keep
    try:
        keep = not run(options, folder) or keep
    except Exception:
        keep = True
        raise
    finally:
        if keep:
            _progress(f"the servers' logs are kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
