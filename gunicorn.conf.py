"""gunicorn's settings for the portal: `gunicorn app:app` from the project folder reads this file
(or name it: `gunicorn --config gunicorn.conf.py app:app`). Each value can be changed by the
environment (or .env), without editing this file; see the README's "Serving" table:

GUNICORN_BIND (0.0.0.0:$PORT, PORT 8000), GUNICORN_WORKER_CLASS (gthread), GUNICORN_WORKERS (2),
GUNICORN_THREADS (32 for gthread), GUNICORN_TIMEOUT (computed, see below), GUNICORN_KEEPALIVE (5),
GUNICORN_MAX_REQUESTS (0: off), GUNICORN_ACCESS_LOG (off), FORWARDED_ALLOW_IPS,
GUNICORN_CONTROL_SOCKET (off); and the portal's DATABASE_POOL_SIZE (the threads per worker).

The portal's settings are read (and refused, in one line) here, before any worker starts.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from dotenv import load_dotenv

from portal import serving
from portal.config import ConfigError, finish_settings, settings_from_env

load_dotenv()
try:
    _settings = finish_settings(settings_from_env(os.environ, "instance"))
except ConfigError as error:
    sys.exit(f"configuration error: {error}")


def _env_int(name: str, default: int, least: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < least:
        sys.exit(f"configuration error: {name} must be a whole number of at least {least}, not {raw!r}")
    return int(raw)


wsgi_app = "app:app"
bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"

# LTIAAS and Stripe calls wait on the network (seconds, when they are slow), so a worker serves
# many requests at once: a thread waiting on LTIAAS costs little, and enough of them keep the
# pages that call nothing upstream answering meanwhile (README, "Serving").
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
workers = _env_int("GUNICORN_WORKERS", 2, least=1)  # 0 would listen with nobody to answer
threads = _env_int("GUNICORN_THREADS", 32 if worker_class == "gthread" else 1, least=1)
# One database connection per thread (portal.db): the workers read this when they start.
os.environ.setdefault("DATABASE_POOL_SIZE", str(threads))

# Above the longest an LTIAAS or Stripe call may take (timeouts, retries, backoff), so neither a
# slow page nor a restart cuts off a `complete` that LTIAAS may be acting on.
timeout = _env_int("GUNICORN_TIMEOUT", serving.worker_timeout(_settings))
graceful_timeout = timeout
keepalive = _env_int("GUNICORN_KEEPALIVE", 5)
# 0: workers are not replaced after a number of requests. Starting one costs about a second of
# CPU (imports, the app): every 1,000 requests, that is about 1 ms per request, more than a whole
# cheap page. Set it (with its 10 % jitter) if a worker's memory ever grows.
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", max_requests // 10)

# Who may tell gunicorn the scheme (X-Forwarded-Proto); the client's address behind a proxy
# is the portal's TRUSTED_PROXIES setting.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# The portal writes its own line per request (JSON in production, with the request id), and
# gunicorn its own lines in the same format. gunicorn's access log is off unless asked for; it
# never shows a query string (the `_st` session token rides there): %(U)s and %(r)s are the
# path as the portal logs it, and the Referer is left out (portal.serving.PortalLogger).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s'
logger_class = serving.LOGGERS[_settings["LOG_FORMAT"]]

# gunicorn 27's control socket (for `gunicornc`) stays off unless given a path of its own: its
# default is one path per user, which every gunicorn on the host would share.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")


def post_fork(server: Any, worker: Any) -> None:
    serving.tune_malloc()  # before the worker starts its threads


def on_starting(server: Any) -> None:
    notice = serving.rate_limit_notice(_settings, server.cfg.workers)
    if notice:
        server.log.warning(notice)
