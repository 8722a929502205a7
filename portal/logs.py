"""Logging: one line per request, a request id on every line, JSON lines in production.

`init_logging(app)`, from the factory:
- sets the portal logger's level (LOG_LEVEL);
- gives the root logger one handler on stderr writing JSON lines or human lines (LOG_FORMAT),
  unless logging is configured already (gunicorn's `logconfig_dict`, a test runner);
- wraps the WSGI app so each request has an id: its `X-Request-ID` when that is a sane token,
  else a new one; the response echoes it in `X-Request-ID`;
- writes one line per request to `portal.request`: method, path, status, duration, client;
- drops the Werkzeug development server's own access lines (they print the query string).

Every line written while a request is handled carries its request id, and the public id of
the registration or payment its URL names. What no line may hold: a query string (the flow's
`_st` session token rides there), the one-time token of a hosted-checkout link (masked in the
path), keys, passwords, whole LTIAAS or Stripe payloads.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, has_request_context, request, request_finished
from flask.logging import default_handler

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

REQUEST_ID_HEADER = "X-Request-ID"
ENVIRON_REQUEST_ID = "portal.request_id"
ENVIRON_STARTED = "portal.started"
# The path as logged (secrets masked), for gunicorn's access log (portal.serving).
ENVIRON_LOGGED_PATH = "portal.logged_path"

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
# URL parts that are credentials, masked wherever a path is logged (/billing/hosted/<token>).
_SECRET_VIEW_ARGS = frozenset({"token"})
# Which public id a URL names, by the rule's prefix.
_SUBJECTS = (
    ("/registration/", "registration"),
    ("/admin/approvals/", "registration"),
    ("/billing/", "payment"),
    ("/admin/payments/", "payment"),
)
_REQUEST_FIELDS = "portal_request"  # the LogRecord attribute holding a request line's fields
_CONTEXT = "portal_context"  # the LogRecord attribute holding the request context, when it was made
# How werkzeug.serving.WSGIRequestHandler.log_request's lines end, before formatting.
_WERKZEUG_ACCESS_LINE = '] "%s" %s %s'
_QUERY_STRING = re.compile(r"\?[^\s'\"]*")
_LONGEST_PATH = 500
_LONGEST_ID = 100

request_log = logging.getLogger("portal.request")


def accepted_request_id(header: str | None) -> str:
    """The incoming `X-Request-ID` if it is a sane token (1-128 of A-Z a-z 0-9 . _ : -), else a new id."""
    if header and _SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Gives each request its id and start time (in the environ) and echoes the id in the response."""

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request_id = accepted_request_id(environ.get("HTTP_X_REQUEST_ID"))
        environ[ENVIRON_REQUEST_ID] = request_id
        environ[ENVIRON_STARTED] = time.perf_counter()

        def start_with_id(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = [(name, value) for name, value in headers if name.lower() != "x-request-id"]
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start_with_id)


def _printable(text: str, limit: int) -> str:
    """`text` from the URL as one bounded line: control characters escaped (no forged lines)."""
    head = text[:limit]
    shown = head if head.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in head)
    return shown + ("..." if len(text) > limit else "")


def loggable_path() -> str:
    """The request's path (never its query string), with credential segments masked."""
    path = request.path
    for name, value in (request.view_args or {}).items():
        if name in _SECRET_VIEW_ARGS and isinstance(value, str) and value:
            path = path.replace(value, f"<{name}>")
    return _printable(path, _LONGEST_PATH)


def _subject() -> dict[str, str]:
    public_id = (request.view_args or {}).get("public_id")
    rule = request.url_rule
    if not isinstance(public_id, str) or rule is None:
        return {}
    for prefix, name in _SUBJECTS:
        if rule.rule.startswith(prefix):
            return {name: _printable(public_id, _LONGEST_ID)}
    return {}


def request_context() -> dict[str, str]:
    """What every line written during a request carries: its id, and the registration or payment."""
    if not has_request_context():
        return {}
    context = {"request_id": str(request.environ.get(ENVIRON_REQUEST_ID, "-"))}
    context.update(_subject())
    return context


class _RecordsWithContext:
    """A LogRecord factory that stamps each record with the request context when it is made, so
    a line formatted later or elsewhere (a test's capture, a queue) still says its request."""

    def __init__(self, make_record: Any) -> None:
        self.make_record = make_record

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.make_record(*args, **kwargs)
        setattr(record, _CONTEXT, request_context())
        return record


def _stamp_records_with_context() -> None:
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _RecordsWithContext):
        logging.setLogRecordFactory(_RecordsWithContext(factory))


def _log_request(sender: Flask, response: Response, **_: Any) -> None:
    started = request.environ.get(ENVIRON_STARTED)
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started else None
    path = loggable_path()
    request.environ[ENVIRON_LOGGED_PATH] = path
    fields = {
        "method": request.method,
        "path": path,
        "status": response.status_code,
        "duration_ms": duration_ms,
        "client": request.remote_addr,
    }
    request_log.info(
        "%s %s %s %s ms",
        request.method,
        path,
        response.status_code,
        duration_ms,
        extra={_REQUEST_FIELDS: fields},
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, pid, the request context, and
    for request lines method, path, status, duration_ms and client."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        line.update(getattr(record, _CONTEXT, {}))
        line.update(getattr(record, _REQUEST_FIELDS, {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Human lines for development: time, level, logger, [request id, registration], message."""

    def format(self, record: logging.LogRecord) -> str:
        context = getattr(record, _CONTEXT, {})
        tag = f"[{' '.join(context.values())}] " if context else ""
        text = f"{self.formatTime(record)} {record.levelname} {record.name}: {tag}{record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + self.formatStack(record.stack_info)
        return text


FORMATTERS: dict[str, type[logging.Formatter]] = {"json": JsonFormatter, "text": TextFormatter}


class DevServerLines(logging.Filter):
    """For the `werkzeug` logger: drops the development server's access lines, which print the
    whole request line with its query string (and so every `_st` token); the portal writes its
    own line per request instead. Its other lines (errors about bad requests) lose any query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.endswith(_WERKZEUG_ACCESS_LINE):
            return False
        message = record.getMessage()
        if "?" in message:
            record.msg, record.args = _QUERY_STRING.sub("", message), ()
        return True


def _hide_dev_server_access_lines() -> None:
    werkzeug_logger = logging.getLogger("werkzeug")
    if not any(isinstance(existing, DevServerLines) for existing in werkzeug_logger.filters):
        werkzeug_logger.addFilter(DevServerLines())


def _install_handler(log_format: str) -> None:
    """One stderr handler on the root logger, unless logging is configured already."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(FORMATTERS[log_format]())
    root.addHandler(handler)


def init_logging(app: Flask) -> None:
    level = getattr(logging, app.config["LOG_LEVEL"], logging.INFO)
    logging.getLogger("portal").setLevel(level)
    _hide_dev_server_access_lines()
    _stamp_records_with_context()
    if app.config["PORTAL_ENV"] != "testing":
        _install_handler(app.config["LOG_FORMAT"])
    if logging.getLogger().handlers:
        # Flask's own handler on the portal logger would write every line a second time.
        app.logger.removeHandler(default_handler)
    app.logger.setLevel(level)
    app.wsgi_app = RequestIdMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    request_finished.connect(_log_request, app)
