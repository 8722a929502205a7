"""The gunicorn set-up's arithmetic and words, and the settings it adds (LOG_FORMAT, TRUSTED_PROXIES)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gunicorn.config import Config

from portal.config import ConfigError, finish_settings, settings_from_env
from portal.logs import JsonFormatter
from portal.serving import (
    LOGGERS,
    ltiaas_longest_wait,
    rate_limit_notice,
    stripe_longest_wait,
    worker_timeout,
)


def settings(**environ: str) -> dict:
    return finish_settings(settings_from_env(environ, "/srv/portal/instance"))


def production(**extra: str) -> dict:
    return settings(
        PORTAL_ENV="production",
        PORTAL_URL="https://portal.vendor.example",
        SECRET_KEY="s" * 48,
        LTIAAS_URL="https://vendor.ltiaas.com",
        LTIAAS_API_KEY="a1b2c3d4-e5f6-7890-abcd-ef1234567890",
        DATABASE_URL="postgresql+psycopg://portal@db/portal",
        **extra,
    )


def test_logs_are_json_lines_in_production_and_human_lines_elsewhere() -> None:
    assert production()["LOG_FORMAT"] == "json"
    assert settings()["LOG_FORMAT"] == "text"
    assert settings(LOG_FORMAT="JSON")["LOG_FORMAT"] == "json"
    assert production(LOG_FORMAT="text")["LOG_FORMAT"] == "text"


@pytest.mark.parametrize(
    ("name", "value"), [("LOG_FORMAT", "xml"), ("TRUSTED_PROXIES", "-1"), ("TRUSTED_PROXIES", "one")]
)
def test_nonsense_serving_settings_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        settings(**{name: value})


def test_no_proxy_is_trusted_unless_said() -> None:
    assert settings()["TRUSTED_PROXIES"] == 0
    assert settings(TRUSTED_PROXIES="2")["TRUSTED_PROXIES"] == 2


def test_the_worker_timeout_outlasts_every_wait_on_ltiaas_and_stripe() -> None:
    defaults = settings()

    # LTIAAS: 3 attempts of (3.05 s connect + 15 s read), 0.5 s and 1 s between them.
    assert ltiaas_longest_wait(defaults) == pytest.approx(3 * 18.05 + 1.5)
    # Stripe: 3 attempts of 20 s, at most 0.5 s and 1 s between them.
    assert stripe_longest_wait(defaults) == pytest.approx(61.5)
    assert worker_timeout(defaults) == 77


def test_a_longer_ltiaas_read_timeout_lengthens_the_worker_timeout() -> None:
    slow = settings(LTIAAS_READ_TIMEOUT="40", LTIAAS_RETRIES="0")
    assert worker_timeout(slow) > 43.05
    assert worker_timeout(slow) == 77  # Stripe's 61.5 s is still the longer


def test_several_workers_without_redis_are_told_at_startup_that_the_limit_is_per_process() -> None:
    notice = rate_limit_notice(settings(), workers=3)
    assert notice is not None
    assert "counted per process" in notice
    assert "3 workers" in notice
    assert "RATELIMIT_STORAGE_URI=redis://" in notice


def test_one_production_worker_without_redis_is_told_each_host_counts_alone() -> None:
    notice = rate_limit_notice(production(), workers=1)
    assert notice is not None and "each host" in notice


@pytest.mark.parametrize(
    "environ",
    [
        {"RATELIMIT_STORAGE_URI": "redis://cache:6379/0"},
        {"RATELIMIT_ENABLED": "false"},
    ],
)
def test_a_shared_or_disabled_limit_needs_no_notice(environ: dict[str, str]) -> None:
    assert rate_limit_notice(settings(**environ), workers=4) is None


def test_one_development_worker_needs_no_notice() -> None:
    assert rate_limit_notice(settings(), workers=1) is None


def test_in_production_gunicorns_own_lines_are_the_portals_json_lines(tmp_path: Path) -> None:
    config = Config()
    config.set("accesslog", str(tmp_path / "access.log"))
    logger = LOGGERS["json"](config)
    try:
        handlers = logger.error_log.handlers + logger.access_log.handlers
        formatters = [handler.formatter for handler in handlers if getattr(handler, "_gunicorn", False)]
        assert len(formatters) == 2
        assert all(isinstance(formatter, JsonFormatter) for formatter in formatters)
    finally:
        for log in (logger.error_log, logger.access_log):
            for handler in [h for h in log.handlers if getattr(h, "_gunicorn", False)]:
                log.removeHandler(handler)
                handler.close()


def test_in_development_gunicorn_keeps_its_own_lines() -> None:
    logger = LOGGERS["text"](Config())
    own = [h for h in logger.error_log.handlers if getattr(h, "_gunicorn", False)]
    assert own and not [h for h in own if isinstance(h.formatter, JsonFormatter)]
    assert not [h for h in logger.access_log.handlers if getattr(h, "_gunicorn", False)]  # none unless asked


def _gunicorn_settings(monkeypatch: pytest.MonkeyPatch, **environ: str) -> dict[str, object]:
    """gunicorn.conf.py's values as gunicorn reads them, with `environ` set (and nothing else set
    from the developer's shell)."""
    import os
    import runpy

    for name in ("GUNICORN_WORKER_CLASS", "GUNICORN_THREADS", "GUNICORN_MAX_REQUESTS", "DATABASE_POOL_SIZE"):
        monkeypatch.setenv(name, "")  # so that what gunicorn.conf.py sets is undone after the test
        monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FLASK_SKIP_DOTENV", "1")
    config = runpy.run_path(str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py"))
    config["DATABASE_POOL_SIZE"] = os.environ.get("DATABASE_POOL_SIZE")
    return config


def test_workers_serve_many_requests_at_once_each_with_a_database_connection_and_are_not_recycled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = _gunicorn_settings(monkeypatch)
    assert (config["worker_class"], config["threads"], config["max_requests"]) == ("gthread", 32, 0)
    assert config["DATABASE_POOL_SIZE"] == "32"  # the workers' pools, one connection per thread
    assert _gunicorn_settings(monkeypatch, GUNICORN_THREADS="12")["DATABASE_POOL_SIZE"] == "12"
    assert _gunicorn_settings(monkeypatch, DATABASE_POOL_SIZE="50")["DATABASE_POOL_SIZE"] == "50"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GUNICORN_WORKERS", "0"),
        ("GUNICORN_THREADS", "0"),
        ("GUNICORN_WORKERS", "two"),
        ("GUNICORN_TIMEOUT", "-1"),
    ],
)
def test_a_serving_number_that_cannot_work_stops_gunicorn_in_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        _gunicorn_settings(monkeypatch, **{name: value})
    assert str(stopped.value).startswith(f"configuration error: {name} must be a whole number of at least ")
    assert repr(value) in str(stopped.value)


def test_a_worker_keeps_its_database_pool_at_the_size_set(tmp_path: Path) -> None:
    from tests.conftest import make_test_app

    app = make_test_app(tmp_path, DATABASE_POOL_SIZE=7)
    try:
        assert app.extensions["db_engine"].pool.size() == 7
    finally:
        app.extensions["db_engine"].dispose()


def test_workers_give_large_blocks_of_memory_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from portal.serving import tune_malloc

    assert _gunicorn_settings(monkeypatch)["post_fork"] is not None  # called in each new worker
    assert tune_malloc() is True  # glibc: two arenas, blocks of 1 MiB or more given back when freed
