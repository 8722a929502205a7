"""When LTIAAS refuses the key, is down, slow or unreachable: typed errors, safe retries, no key leaks."""

from __future__ import annotations

import logging

import pytest
import requests

import portal.ltiaas
from portal import create_app
from portal.config import settings_from_env
from portal.ltiaas import (
    LtiaasClient,
    LtiaasError,
    LtiaasInvalidResponse,
    LtiaasOutcomeUnknown,
    LtiaasUnauthorized,
    LtiaasUnavailable,
    RegistrationNotFound,
    get_ltiaas,
)
from tests.conftest import make_test_app
from tests.fakes.ltiaas import API_KEY

REGISTRATION_ID = "A2F48n9Ss8Hjpw4gjo0"
REGISTRATION = {"url": "https://lms.example.edu", "supportedScopes": [], "supportedMessages": []}
PLATFORM = {"id": "p1", "url": "https://lms.example.edu", "clientId": "c1", "name": "LMS"}

EVERY_CALL = {
    "read_registration": lambda api: api.read_registration(REGISTRATION_ID),
    "get_registration": lambda api: api.get_registration(REGISTRATION_ID),
    "get_raw_registration": lambda api: api.get_raw_registration(REGISTRATION_ID),
    "complete_registration": lambda api: api.complete_registration(REGISTRATION_ID),
    "list_platforms": lambda api: api.list_platforms(),
    "get_platform": lambda api: api.get_platform("p1"),
    "create_platform": lambda api: api.create_platform(PLATFORM),
    "update_platform": lambda api: api.update_platform("p1", PLATFORM),
    "delete_platform": lambda api: api.delete_platform("p1"),
    "activate_platform": lambda api: api.activate_platform("p1"),
    "deactivate_platform": lambda api: api.deactivate_platform("p1"),
}
RETRIED = {
    "read_registration",
    "get_registration",
    "get_raw_registration",
    "list_platforms",
    "get_platform",
    "update_platform",
    "delete_platform",
    "activate_platform",
    "deactivate_platform",
}
NEVER_RETRIED = set(EVERY_CALL) - RETRIED
SUCCESS = {
    "read_registration": {"openIdConfiguration": {"issuer": "https://lms.example.edu"}},
    "get_registration": REGISTRATION,
    "get_raw_registration": {"openIdConfiguration": {}},
    "complete_registration": {"platformId": "p1", "html": ""},
    "list_platforms": {"platforms": [PLATFORM]},
    "get_platform": PLATFORM,
    "create_platform": PLATFORM,
    "update_platform": PLATFORM,
    "delete_platform": None,
    "activate_platform": None,
    "deactivate_platform": None,
}


def failure_lines(caplog):
    return [r for r in caplog.records if r.name == "portal.ltiaas" and r.levelno >= logging.INFO]


# The API key


@pytest.mark.parametrize("call", EVERY_CALL.values(), ids=EVERY_CALL.keys())
def test_a_refused_key_is_an_operator_problem_on_every_call(api, ltiaas, expect_error, caplog, call):
    ltiaas.reply(
        401,
        {
            "status": 401,
            "error": "Unauthorized",
            "details": {
                "message": "INVALID_LTIK_AUTH_AUTHORIZATION_HEADER",
                "description": "Invalid API key",
            },
        },
    )

    error = expect_error(LtiaasUnauthorized, lambda: call(api))

    assert (error.status, error.details_message, error.details_description) == (
        401,
        "INVALID_LTIK_AUTH_AUTHORIZATION_HEADER",
        "Invalid API key",
    )
    assert "operator/configuration problem" in str(error)
    assert len(ltiaas.received) == 1
    [line] = failure_lines(caplog)
    assert line.levelno == logging.WARNING


def test_a_403_about_the_authorization_header_is_also_a_refused_key(api, ltiaas, expect_error):
    ltiaas.reply(403, {"status": 403, "details": {"message": "INVALID_AUTHORIZATION_HEADER"}})

    error = expect_error(LtiaasUnauthorized, lambda: api.get_registration(REGISTRATION_ID))

    assert error.status == 403


def test_a_401_without_any_body_is_still_a_refused_key(api, ltiaas, expect_error):
    ltiaas.reply(401, "Unauthorized")

    error = expect_error(LtiaasUnauthorized, api.list_platforms)

    assert (error.details_message, error.details_description) == (None, None)


@pytest.mark.parametrize(
    "body",
    ["<html>502</html>", {"details": "text"}, {"details": {"message": 5}}, [1, 2], {"status": 404}],
)
def test_an_error_body_of_any_shape_is_read_defensively(api, ltiaas, expect_error, body):
    ltiaas.reply(404, body)

    error = expect_error(RegistrationNotFound, lambda: api.get_registration(REGISTRATION_ID))

    assert (error.status, error.details_message, error.details_description) == (404, None, None)


def test_the_key_is_never_echoed_even_when_ltiaas_echoes_it(api, ltiaas, expect_error, api_key):
    ltiaas.reply(
        403, {"details": {"message": "Bad header", "description": f"Authorization: Bearer {api_key}"}}
    )

    error = expect_error(LtiaasUnauthorized, api.list_platforms)

    assert error.details_description == "Authorization: Bearer ***"


def test_the_client_repr_does_not_show_the_key(make_client, api_key):
    api = make_client(base_url="https://vendor.ltiaas.com")

    assert api_key not in repr(api)
    assert api_key not in repr(vars(api))  # the key lives only in the session's auth
    assert "https://vendor.ltiaas.com" in repr(api)


# LTIAAS down or overloaded


@pytest.mark.parametrize("status", [502, 503, 504])
@pytest.mark.parametrize("name", sorted(RETRIED))
def test_an_idempotent_call_is_retried_on_a_gateway_error_then_succeeds(api, ltiaas, status, name):
    ltiaas.reply(status, {"status": status}, times=2)
    ltiaas.reply(200, SUCCESS[name])

    EVERY_CALL[name](api)

    assert len(ltiaas.received) == 3
    assert len({(r.method, r.path, r.body) for r in ltiaas.received}) == 1


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_read_gives_up_after_the_configured_retries(make_client, ltiaas, expect_error, caplog, status):
    api = make_client(retries=3)
    ltiaas.reply(status, None, times=10)

    error = expect_error(LtiaasUnavailable, lambda: api.get_registration(REGISTRATION_ID))

    assert error.status == status
    assert len(ltiaas.received) == 4
    [line] = failure_lines(caplog)
    assert line.getMessage().startswith(
        "LTIAAS GET /api/registrations/{id} failed: "
        f"LtiaasUnavailable status={status} attempts=4 elapsed_ms="
    )


@pytest.mark.parametrize("status", [502, 503, 504])
@pytest.mark.parametrize("name", sorted(NEVER_RETRIED))
def test_complete_and_create_are_never_retried(api, ltiaas, expect_error, status, name):
    ltiaas.reply(status, None, times=3)

    error = expect_error(LtiaasOutcomeUnknown, lambda: EVERY_CALL[name](api))

    assert error.status == status
    assert len(ltiaas.received) == 1


def test_no_retries_when_the_setting_is_zero(make_client, ltiaas, expect_error):
    api = make_client(retries=0)
    ltiaas.reply(503, None, times=3)

    expect_error(LtiaasUnavailable, lambda: api.get_registration(REGISTRATION_ID))

    assert len(ltiaas.received) == 1


@pytest.mark.parametrize("status", [500, 501, 505])
def test_other_server_errors_are_unavailable_without_retry(api, ltiaas, expect_error, status):
    ltiaas.reply(status, {"status": status, "error": "Internal Server Error", "details": {"message": "boom"}})

    error = expect_error(LtiaasUnavailable, lambda: api.get_registration(REGISTRATION_ID))

    assert (error.status, error.details_message) == (status, "boom")
    assert len(ltiaas.received) == 1


def test_backoff_doubles_between_attempts(make_client, ltiaas, expect_error, monkeypatch):
    slept = []
    monkeypatch.setattr(portal.ltiaas.time, "sleep", slept.append)
    api = make_client(retries=3, backoff_factor=0.5)
    ltiaas.reply(503, None, times=4)

    expect_error(LtiaasUnavailable, api.list_platforms)

    assert slept == [0.5, 1.0, 2.0]


def test_a_redirect_is_not_followed(api, ltiaas, expect_error):
    ltiaas.reply(302, None)

    error = expect_error(LtiaasInvalidResponse, lambda: api.get_registration(REGISTRATION_ID))

    assert error.status == 302
    assert len(ltiaas.received) == 1


# LTIAAS unreachable or slow


@pytest.mark.parametrize(
    ("name", "attempts"), [("get_registration", 3), ("update_platform", 3), ("complete_registration", 1)]
)
def test_a_refused_connection_is_unavailable(make_client, closed_url, expect_error, caplog, name, attempts):
    api = make_client(base_url=closed_url)

    error = expect_error(LtiaasUnavailable, lambda: EVERY_CALL[name](api))

    assert not isinstance(error, LtiaasOutcomeUnknown)
    assert error.status is None
    assert isinstance(error.__cause__, requests.ConnectionError)
    assert "could not be reached" in str(error)
    [line] = failure_lines(caplog)
    assert f"status=- attempts={attempts} " in line.getMessage()


def test_a_slow_read_times_out_and_is_retried(make_client, ltiaas, expect_error):
    api = make_client(read_timeout=0.2, retries=1)
    ltiaas.reply(200, REGISTRATION, delay=1.0, times=2)

    error = expect_error(LtiaasUnavailable, lambda: api.get_registration(REGISTRATION_ID))

    assert isinstance(error.__cause__, requests.ReadTimeout)
    assert "did not answer within 0.2 s" in str(error)
    assert len(ltiaas.received) == 2


def test_a_slow_read_then_a_quick_one_succeeds(make_client, ltiaas):
    # The quick answer must come within the timeout even on a machine busy with other tests (a
    # 0.2 s timeout once missed it): a full second, and the slow answer later still.
    api = make_client(read_timeout=1.0, retries=1)
    ltiaas.reply(200, REGISTRATION, delay=2.0)
    ltiaas.reply(200, REGISTRATION)

    assert api.get_registration(REGISTRATION_ID).url == "https://lms.example.edu"
    assert len(ltiaas.received) == 2


@pytest.mark.parametrize(
    ("name", "outcome_unknown"), [("complete_registration", True), ("update_platform", False)]
)
def test_a_slow_write_is_not_retried(make_client, ltiaas, expect_error, name, outcome_unknown):
    api = make_client(read_timeout=0.2, retries=2)
    ltiaas.reply(200, {"platformId": "p1", "html": ""}, delay=1.0, times=3)

    error = expect_error(LtiaasUnavailable, lambda: EVERY_CALL[name](api))

    assert isinstance(error.__cause__, requests.ReadTimeout)
    assert isinstance(error, LtiaasOutcomeUnknown) is outcome_unknown
    assert len(ltiaas.received) == 1


# The read budget: a page waits for LTIAAS at most LTIAAS_READ_BUDGET, retries included


@pytest.mark.parametrize("name", sorted(RETRIED))
def test_a_slow_ltiaas_is_given_up_on_within_the_budget(make_client, ltiaas, expect_error, name):
    api = make_client(read_timeout=2.0, retries=5, read_budget=0.5)
    ltiaas.reply(200, SUCCESS[name], delay=5.0, times=6)

    error = expect_error(LtiaasUnavailable, lambda: EVERY_CALL[name](api))

    assert isinstance(error.__cause__, requests.Timeout)
    assert "within 0.5 s" in str(error)
    assert len(ltiaas.received) == 1  # the first attempt spent the whole budget: no retry


def test_no_retry_starts_when_its_backoff_would_outlast_the_budget(
    make_client, ltiaas, expect_error, monkeypatch
):
    slept = []
    monkeypatch.setattr(portal.ltiaas.time, "sleep", slept.append)
    api = make_client(retries=5, backoff_factor=0.5, read_budget=2.0)
    ltiaas.reply(503, None, times=6)

    error = expect_error(LtiaasUnavailable, api.list_platforms)

    assert error.status == 503
    assert slept == [0.5, 1.0]  # a third wait of 2 s would end past the budget
    assert len(ltiaas.received) == 3


def test_the_budget_does_not_cut_short_complete_which_is_tried_once(make_client, ltiaas):
    api = make_client(read_timeout=3.0, read_budget=0.2)
    ltiaas.reply(200, {"platformId": "p1", "html": ""}, delay=0.5)

    assert api.complete_registration(REGISTRATION_ID).platform_id == "p1"


def test_the_reads_of_one_request_share_the_budget_and_a_complete_spends_none_of_it(tmp_path, ltiaas):
    app = make_test_app(
        tmp_path,
        LTIAAS_URL=ltiaas.url,
        LTIAAS_API_KEY=API_KEY,
        LTIAAS_READ_BUDGET=1.0,
        LTIAAS_READ_TIMEOUT=3.0,
    )
    outcomes = []

    def read() -> str:
        try:
            get_ltiaas().list_platforms()
        except LtiaasUnavailable:
            return "gave up"
        return "answered"

    @app.get("/test/two-reads")
    def two_reads() -> str:
        outcomes.extend([read(), read()])
        return ""

    @app.get("/test/complete-then-read")
    def complete_then_read() -> str:
        get_ltiaas().complete_registration("reg-moodle", platform_name="Springfield")
        outcomes.append(read())
        return ""

    ltiaas.slow("list_platforms", 0.6, times=2)
    app.test_client().get("/test/two-reads")
    ltiaas.slow("complete_registration", 1.5)
    ltiaas.slow("list_platforms", 0.6)
    app.test_client().get("/test/complete-then-read")
    app.extensions["ltiaas"].close()
    app.extensions["db_engine"].dispose()

    # Alone, each read fits the budget; the second of one request has what the first left.
    assert outcomes == ["answered", "gave up", "answered"]


@pytest.mark.parametrize("budget", [0, -1])
def test_a_budget_that_is_not_positive_is_refused(budget):
    with pytest.raises(ValueError, match="LTIAAS_READ_BUDGET"):
        LtiaasClient("https://vendor.ltiaas.com", "k", read_budget=budget)


# Logging


def test_one_line_per_failed_call_with_method_template_status_and_time(api, ltiaas, expect_error, caplog):
    ltiaas.reply(404, {"status": 404})

    expect_error(RegistrationNotFound, lambda: api.get_registration(REGISTRATION_ID))

    [line] = failure_lines(caplog)
    assert line.levelno == logging.INFO
    message = line.getMessage()
    assert message.startswith(
        "LTIAAS GET /api/registrations/{id} failed: RegistrationNotFound status=404 attempts=1"
    )
    assert "elapsed_ms=" in message
    assert REGISTRATION_ID not in message


def test_a_successful_call_logs_nothing_above_debug(api, ltiaas, caplog):
    ltiaas.reply(200, REGISTRATION)

    api.get_registration(REGISTRATION_ID)

    assert failure_lines(caplog) == []
    assert any(r.name == "portal.ltiaas" and "-> 200" in r.getMessage() for r in caplog.records)


def test_an_invalid_response_is_logged_too(api, ltiaas, expect_error, caplog):
    ltiaas.reply(200, "not json")

    expect_error(LtiaasInvalidResponse, api.list_platforms)

    [line] = failure_lines(caplog)
    assert "LtiaasInvalidResponse status=- attempts=1" in line.getMessage()


# Configuration


def test_every_error_is_an_ltiaas_error():
    for error_class in (LtiaasUnauthorized, LtiaasUnavailable, LtiaasInvalidResponse, RegistrationNotFound):
        assert issubclass(error_class, LtiaasError)


def test_the_client_is_built_from_the_settings():
    api = LtiaasClient.from_config(
        {
            "LTIAAS_URL": "https://vendor.ltiaas.com/",
            "LTIAAS_API_KEY": "k",
            "LTIAAS_PLATFORMS_PATH": "admin/platforms/",
            "LTIAAS_CONNECT_TIMEOUT": 2,
            "LTIAAS_READ_TIMEOUT": 9.5,
            "LTIAAS_RETRIES": 4,
            "LTIAAS_BACKOFF_FACTOR": 0.5,
            "LTIAAS_READ_BUDGET": 7,
        }
    )

    assert (api.base_url, api.platforms_path, api.timeout, api.retries, api.read_budget) == (
        "https://vendor.ltiaas.com",
        "/admin/platforms",
        (2.0, 9.5),
        4,
        7.0,
    )


def test_the_read_budget_is_ten_seconds_unless_set():
    assert settings_from_env({}, "/tmp")["LTIAAS_READ_BUDGET"] == 10
    assert settings_from_env({"LTIAAS_READ_BUDGET": "4.5"}, "/tmp")["LTIAAS_READ_BUDGET"] == 4.5


@pytest.mark.parametrize("url", ["", "vendor.ltiaas.com", "ftp://vendor.ltiaas.com", "https://"])
def test_a_client_without_a_usable_url_refuses_to_start(url):
    with pytest.raises(ValueError, match="LTIAAS_URL"):
        LtiaasClient(url, "k")


def test_the_app_factory_installs_the_client_from_its_settings(ltiaas, api_key, tmp_path):
    app = create_app(
        {
            "PORTAL_ENV": "testing",
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.db'}",
            "LTIAAS_URL": ltiaas.url,
            "LTIAAS_API_KEY": api_key,
            "LTIAAS_PLATFORMS_PATH": "/admin/platforms",
            "LTIAAS_RETRIES": 0,
        }
    )
    ltiaas.reply(200, {"platforms": []})

    with app.app_context():
        assert get_ltiaas() is app.extensions["ltiaas"]
        assert get_ltiaas().list_platforms() == []

    assert ltiaas.last.path == "/admin/platforms"
    assert ltiaas.last.headers["authorization"] == f"Bearer {api_key}"
    app.extensions["ltiaas"].close()
    app.extensions["db_engine"].dispose()


def test_https_to_a_plain_http_port_says_the_secure_connection_failed_not_that_it_was_sent(
    make_client, ltiaas, expect_error
):
    api = make_client(base_url=ltiaas.url.replace("http://", "https://"), retries=0)

    error = expect_error(LtiaasUnavailable, lambda: api.get_registration(REGISTRATION_ID))

    assert "could not set up a secure (TLS) connection: check the scheme and port of its URL" in str(error)
    assert "after the request was sent" not in str(error)
