"""Each process's background sender: a daemon thread that, every NOTIFY_DRAIN_INTERVAL seconds or as
soon as a request queued something, sweeps for refunds due and requests that expired undecided,
and sends what the outbox holds.

It starts with the process's first request, not with the app: gunicorn (with
`--preload` too) forks workers after the app is built, and a thread started
before a fork does not exist in the child. So every worker that serves requests
has one sender; the outbox's claims keep them from sending anything twice. It
never starts with NOTIFY_DRAIN_INTERVAL 0 (tests call `outbox.drain` themselves)
nor while no channel is configured. An error in a round is logged, never fatal.
"""

from __future__ import annotations

import logging
import os
import threading

from flask import Flask, g

from portal.db import get_session
from portal.notifications import outbox, sweep

logger = logging.getLogger(__name__)


class BackgroundSender:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def interval(self) -> float:
        return float(self.app.config["NOTIFY_DRAIN_INTERVAL"])

    def wanted(self) -> bool:
        config = self.app.config
        return self.interval > 0 and (bool(outbox.channels(config)) or outbox.email_configured(config))

    def ensure_started(self) -> None:
        """Start this process's thread, once (again in a forked child, whose parent's thread is gone)."""
        if self._pid == os.getpid() or not self.wanted():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._wake, self._stop = threading.Event(), threading.Event()
            self._thread = threading.Thread(target=self._run, name="staff-notifications", daemon=True)
            self._thread.start()
            self._pid = os.getpid()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pid = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if not self._stop.is_set():
                self.run_once()

    def run_once(self) -> None:
        """One round: expire undecided requests past their time, queue refunds due, then send what is
        due. Never raises."""
        try:
            with self.app.app_context():
                db = get_session()
                sweep.expire_stale_requests(db)
                sweep.enqueue_refunds_due(db)
                outbox.drain(db)
        except Exception:
            logger.exception("staff notifications: a round failed; the next one tries again")


def init_sender(app: Flask) -> BackgroundSender:
    sender = BackgroundSender(app)
    app.extensions["staff_notification_sender"] = sender

    @app.before_request
    def _start_sender() -> None:
        sender.ensure_started()

    @app.teardown_request
    def _wake_after_response(_error: BaseException | None = None) -> None:
        if g.pop(outbox.WAKE_FLAG, False):
            sender.wake()

    return sender
