"""The one module that talks to LTIAAS (or the sandbox standing in for it).

`LtiaasClient` wraps the registration and platform endpoints of the LTIAAS API
behind typed results and typed errors; views reach it with `get_ltiaas()`.

Contracts every method keeps:
- every identifier from outside passes `validate_identifier` and is then
  percent-encoded before it enters a path; an invalid one raises
  `InvalidIdentifier` and sends nothing;
- every call has a (connect, read) timeout and never follows redirects;
- failures raise an `LtiaasError` subclass carrying `status`,
  `details_message`, `details_description` and `request_sent`; transport
  errors are chained;
- the API key appears in no exception, log line or repr; the LMS's
  registration token is never kept, logged or returned by `read_registration`.

Retries (with exponential backoff) apply only to calls whose effect is the
same however often they run: GET, PUT (full replace), DELETE, and
activate/deactivate (each sets `active` to a fixed value). They retry on
connection errors, connect timeouts and 502/503/504; read timeouts are retried
only on GET. All of one such call (attempts, backoff) fits in the read budget
(`LTIAAS_READ_BUDGET`): each attempt's timeouts shrink to what is left of it,
and no retry starts once it is spent; within a request the app serves, all such
calls share one budget. (requests' read timeout bounds each wait for bytes, not
the whole body; LTIAAS's answers are small JSON sent at once.) POST create and
POST complete are never retried and make one attempt, bounded by the connect
and read timeouts, and spend nothing of the read budget.

What a failure says about what LTIAAS did:
- `request_sent` is False only when the request certainly never left the
  portal: the connection was refused, the name did not resolve, the connect
  timed out, or the request could not be built. Then nothing happened.
- `LtiaasUnavailable`: no usable answer, or LTIAAS said "not now" (408, 429,
  5xx). Raised as this class, repeating the call is safe: nothing was sent, or
  the call is idempotent, or LTIAAS refused before acting (408/429).
- `LtiaasOutcomeUnknown` (an `LtiaasUnavailable`) is raised only by the
  never-retried POSTs (`complete_registration`, `create_platform`) when
  LTIAAS may have acted: a read timeout after sending, a connection dropped
  after it was made, a 5xx, or a 2xx/3xx that cannot be read. Look (e.g. list
  the LMS's platforms) before saying anything or trying again.
- `LmsRefusedRegistration` (`complete_registration` only): LTIAAS reports
  that the LMS refused the registration (ltijs answers HTTP 500 wrapping the
  LMS's answer in `details.externalError`, `details.bodyReceived`,
  `details.externalUrl`, with the LMS's status in `details.message`). Definite:
  LTIAAS created no platform. It carries the LMS's status and own words.
- `RegistrationNotFound` (4xx on a registration), `LtiaasUnauthorized`,
  `LtiaasRequestRejected`/`PlatformNotFound` (other 4xx): LTIAAS answered and
  did nothing. `LtiaasInvalidResponse`: an unreadable answer to a read or an
  idempotent call (never to complete or create).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast
from urllib.parse import quote, urlsplit, urlunsplit

import requests
import urllib3
from flask import Flask, current_app
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ProtocolError, ReadTimeoutError

from portal import __version__
from portal.text import is_acceptable, one_line, without_unacceptable

logger = logging.getLogger(__name__)

T = TypeVar("T")

_IDENTIFIER = re.compile(r"[A-Za-z0-9._~-]{1,128}")
_RETRY_STATUSES = frozenset({502, 503, 504})
_MAX_BACKOFF_SECONDS = 8.0
_MAX_DETAIL_CHARS = 300
_MAX_LABEL_CHARS = 255
_MAX_URL_CHARS = 2048  # the longest LMS url the portal stores
# ltijs (got) words an LMS's HTTP error "Response code 422 (Unprocessable Entity)";
# newer got "Request failed with status code 422 (Unprocessable Entity): POST ...".
_LMS_STATUS = re.compile(r"\b(?:Response code|status code) ([1-5]\d\d)\b")
PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
CANVAS_ACCOUNT_NAME = "https://canvas.instructure.com/lti/account_name"
CANVAS_ACCOUNT_LTI_GUID = "https://canvas.instructure.com/lti/account_lti_guid"
# Errors requests raises while building a request, before anything is sent.
_UNSENDABLE = (
    requests.exceptions.URLRequired,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidJSONError,
)


class InvalidIdentifier(ValueError):
    """A registrationId or platformId from outside that is not a bounded, URL-safe token."""


class LtiaasError(Exception):
    """Any failure talking to LTIAAS. `status` is the HTTP status when there was one.

    `request_sent` is False only when the request certainly never left the
    portal (so LTIAAS did nothing); True whenever it may have reached LTIAAS.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        details_message: str | None = None,
        details_description: str | None = None,
        request_sent: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.details_message = details_message
        self.details_description = details_description
        self.request_sent = request_sent

    @property
    def said(self) -> str | None:
        """What LTIAAS said, in its own words (its description, else its message code), if anything."""
        return self.details_description or self.details_message


class RegistrationNotFound(LtiaasError):
    """LTIAAS does not know the registrationId (unknown, expired or already used): 4xx on a registration."""


class LtiaasUnauthorized(LtiaasError):
    """LTIAAS refused our API key (401/403 auth): an operator problem, never the user's."""


class LtiaasUnavailable(LtiaasError):
    """No usable answer from LTIAAS (unreachable, too slow, 5xx) or "not now" (408, 429).

    Raised as this class, calling again is safe: nothing was sent
    (`request_sent` False), or the call has no effect or the same effect
    however often it runs, or LTIAAS refused before acting (408/429).
    """


class LtiaasOutcomeUnknown(LtiaasUnavailable):
    """A never-retried POST (complete, create) may have been carried out, and no answer says.

    Raised after a read timeout, a connection dropped once the request was on
    its way, a 5xx, or a 2xx/3xx that cannot be read. LTIAAS may have acted
    (and, for complete, used up the registrationId): look before telling anyone
    "nothing happened" or sending it again.
    """


class LmsRefusedRegistration(LtiaasError):
    """The LMS refused the registration, as LTIAAS reports it on complete: nothing was registered.

    LTIAAS created no platform (ltijs posts to the LMS first and stops at its
    error). `status` is LTIAAS's own (500 from ltijs); the LMS's answer is in
    `lms_status` (its HTTP status, when LTIAAS says it), `lms_error` (the RFC
    7591 `error` code, e.g. "invalid_client_metadata"), `lms_error_description`
    (its own words: `error_description`, Canvas's `errors` messages, or its
    plain-text body) and `lms_url` (the registration endpoint, without query).
    Each is single-line, at most 300 characters, never our API key, or None.
    """

    def __init__(
        self,
        message: str,
        *,
        lms_status: int | None = None,
        lms_error: str | None = None,
        lms_error_description: str | None = None,
        lms_url: str | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(message, **fields)
        self.lms_status = lms_status
        self.lms_error = lms_error
        self.lms_error_description = lms_error_description
        self.lms_url = lms_url


class LtiaasInvalidResponse(LtiaasError):
    """LTIAAS answered 2xx with something that is not the documented JSON shape."""


class LtiaasRequestRejected(LtiaasError):
    """Any other 4xx (e.g. 403 "Platform already registered.", 400, 404 on a platform)."""


class PlatformNotFound(LtiaasRequestRejected):
    """404 on a platform endpoint: LTIAAS has no platform with that id."""


@dataclass(frozen=True)
class SupportedMessage:
    type: str
    placements: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "placements": list(self.placements)}


@dataclass(frozen=True)
class RegistrationDetails:
    """What the LMS told LTIAAS about itself (`read_registration`, or the older `get_registration`)."""

    url: str
    family_code: str
    version: str
    supported_scopes: tuple[str, ...]
    supported_messages: tuple[SupportedMessage, ...]
    # True when the LMS listed messages as plain strings (Moodle before 4.x).
    legacy_message_shape: bool = False
    # Canvas names the school's account (e.g. "Springfield University") and its LTI guid.
    account_name: str | None = None
    account_lti_guid: str | None = None


@dataclass(frozen=True)
class RawRegistration:
    """GET /api/registrations/{id}?raw=true."""

    openid_configuration: dict[str, Any]
    registration_token: str | None = field(repr=False)


@dataclass(frozen=True)
class CompletionResult:
    platform_id: str
    html: str


@dataclass(frozen=True)
class Platform:
    id: str
    url: str
    client_id: str
    name: str
    authentication_endpoint: str
    accesstoken_endpoint: str
    auth_config: dict[str, Any]
    public_key: str | None
    active: bool
    authorization_server: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def validate_identifier(value: object) -> str:
    """Return `value` if it is a safe path segment: 1-128 of [A-Za-z0-9._~-], not "." or "..".

    :raise InvalidIdentifier: for anything else, including non-strings.
    """
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value) or value in {".", ".."}:
        raise InvalidIdentifier("not a valid LTIAAS identifier (1-128 characters of A-Z a-z 0-9 . _ ~ -)")
    return value


def get_ltiaas() -> LtiaasClient:
    """The app's LTIAAS client (built once in the factory)."""
    return cast(LtiaasClient, current_app.extensions["ltiaas"])


class _BearerAuth(requests.auth.AuthBase):
    """Sets `Authorization: Bearer <key>`; as explicit auth it also wins over ~/.netrc."""

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._api_key}"
        return request

    def __repr__(self) -> str:
        return "<BearerAuth ***>"

    def scrub(self, text: str) -> str:
        """`text` with the key masked, in case LTIAAS echoed it back."""
        return text.replace(self._api_key, "***") if self._api_key else text


@dataclass(frozen=True)
class _Endpoint:
    """One call: the real path, the path template for logs, and how failures map.

    `idempotent` calls are retried and fit in the read budget; the others make
    one attempt, and a failure after sending leaves their outcome unknown.
    `reaches_lms` marks complete, the one call on which LTIAAS talks to the LMS.
    """

    method: str
    path: str
    template: str
    on_registration: bool
    idempotent: bool = False
    reaches_lms: bool = False


@dataclass
class _Attempts:
    count: int = 0


@dataclass(frozen=True)
class _Limits:
    """One attempt's timeouts; `total` (None: unbounded) caps connect + read together."""

    connect: float
    read: float
    total: float | None = None

    def for_requests(self) -> Any:
        if self.total is None:
            return (self.connect, self.read)
        # requests passes a urllib3 Timeout through (its stubs list only tuples): `total`
        # bounds the connect and the read together, so an attempt never outlives the budget.
        return urllib3.Timeout(total=self.total, connect=self.connect, read=self.read)


class LtiaasClient:
    """A client for one LTIAAS domain, with one pooled `requests.Session`.

    Thread-safe for the portal's use (one session shared by request threads).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        platforms_path: str = "/api/platforms",
        connect_timeout: float = 3.05,
        read_timeout: float = 15.0,
        retries: int = 2,
        backoff_factor: float = 0.5,
        read_budget: float = 10.0,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("LTIAAS_URL must be an absolute http(s) URL")
        if not float(read_budget) > 0:
            raise ValueError("LTIAAS_READ_BUDGET must be a positive number of seconds")
        self.base_url = base_url.rstrip("/")
        self.platforms_path = "/" + platforms_path.strip("/")
        self.timeout = (float(connect_timeout), float(read_timeout))
        self.retries = max(0, int(retries))
        self.backoff_factor = max(0.0, float(backoff_factor))
        self.read_budget = float(read_budget)
        self._auth = _BearerAuth(api_key)
        self._session = requests.Session()
        self._session.auth = self._auth
        self._session.headers.update(
            {"User-Agent": f"approval-portal/{__version__}", "Accept": "application/json"}
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LtiaasClient:
        """Build from the app settings (LTIAAS_URL, LTIAAS_API_KEY, LTIAAS_PLATFORMS_PATH, ...)."""
        return cls(
            base_url=config["LTIAAS_URL"],
            api_key=config["LTIAAS_API_KEY"],
            platforms_path=config["LTIAAS_PLATFORMS_PATH"] or "/api/platforms",
            connect_timeout=config["LTIAAS_CONNECT_TIMEOUT"],
            read_timeout=config["LTIAAS_READ_TIMEOUT"],
            retries=config["LTIAAS_RETRIES"],
            backoff_factor=config["LTIAAS_BACKOFF_FACTOR"],
            read_budget=config["LTIAAS_READ_BUDGET"],
        )

    def __repr__(self) -> str:
        return f"<LtiaasClient {self.base_url} platforms={self.platforms_path}>"

    def close(self) -> None:
        """Release pooled connections."""
        self._session.close()

    # Registrations

    def read_registration(self, registration_id: str) -> RegistrationDetails:
        """What the LMS reported, from ONE call: GET /api/registrations/{id}?raw=true.

        Everything comes from the LMS's own OpenID configuration: `url` is its
        issuer; family code, version and messages its platform configuration's;
        Moodle 3.x's separate `placements` list goes to LtiDeepLinkingRequest
        when that has none; Canvas's account name and LTI guid are kept. The
        registration token in the answer is dropped unread.

        :raise RegistrationNotFound: unknown, expired or used id.
        :raise LtiaasUnavailable: no answer within the read budget.
        """
        endpoint = self._registration("GET", registration_id, "", idempotent=True)
        return self._call(endpoint, _parse_registration_from_raw, params={"raw": "true"})

    def get_registration(self, registration_id: str) -> RegistrationDetails:
        """What the LMS reported, as LTIAAS summarises it. Prefer `read_registration`.

        :raise RegistrationNotFound: unknown, expired or used id.
        """
        endpoint = self._registration("GET", registration_id, "", idempotent=True)
        return self._call(endpoint, _parse_registration)

    def get_raw_registration(self, registration_id: str) -> RawRegistration:
        """The LMS's whole OpenID configuration and its registration token. Prefer `read_registration`."""
        endpoint = self._registration("GET", registration_id, "", idempotent=True)
        return self._call(endpoint, _parse_raw_registration, params={"raw": "true"})

    def complete_registration(
        self,
        registration_id: str,
        *,
        platform_name: str | None = None,
        auto_activate: bool | None = None,
        messages: Iterable[SupportedMessage | Mapping[str, Any]] | None = None,
    ) -> CompletionResult:
        """Finish the registration; only the arguments given are sent. Never retried.

        :raise LmsRefusedRegistration: the LMS refused; nothing was registered.
        :raise LtiaasOutcomeUnknown: LTIAAS may have completed it; look before retrying.
        :raise LtiaasUnavailable: not sent (`request_sent` False), or 408/429: nothing happened.
        :raise RegistrationNotFound: unknown, expired or already used id.
        """
        body: dict[str, Any] = {}
        if platform_name is not None:
            body["platformName"] = platform_name
        if auto_activate is not None:
            body["autoActivate"] = auto_activate
        if messages is not None:
            body["messages"] = [_message_dict(message) for message in messages]
        endpoint = self._registration("POST", registration_id, "/complete", idempotent=False)
        return self._call(endpoint, _parse_completion, json_body=body)

    # Platforms

    def list_platforms(
        self, *, url: str | None = None, client_id: str | None = None, platform_id: str | None = None
    ) -> list[Platform]:
        """Platforms matching every filter given (issuer `url`, `client_id`, `platform_id`)."""
        if platform_id is not None:
            platform_id = validate_identifier(platform_id)
        filters = {"url": url, "clientId": client_id, "id": platform_id}
        params = {key: value for key, value in filters.items() if value is not None}
        prefix = self.platforms_path
        endpoint = _Endpoint("GET", prefix, prefix, on_registration=False, idempotent=True)
        return self._call(endpoint, _parse_platform_list, params=params)

    def get_platform(self, platform_id: str) -> Platform:
        """:raise PlatformNotFound: no platform with that id."""
        return self._call(self._platform("GET", platform_id, "", idempotent=True), _parse_platform)

    def create_platform(self, data: Mapping[str, Any]) -> Platform:
        """Register a platform by hand (LTIAAS JSON keys). Never retried.

        :raise LtiaasOutcomeUnknown: LTIAAS may have created it; look before retrying.
        """
        prefix = self.platforms_path
        endpoint = _Endpoint("POST", prefix, prefix, on_registration=False)
        return self._call(endpoint, _parse_platform, json_body=dict(data))

    def update_platform(self, platform_id: str, data: Mapping[str, Any]) -> Platform:
        """Replace a platform (PUT: the six core fields are required by LTIAAS)."""
        endpoint = self._platform("PUT", platform_id, "", idempotent=True)
        return self._call(endpoint, _parse_platform, json_body=dict(data))

    def delete_platform(self, platform_id: str) -> None:
        """Delete for good. After a retry, `PlatformNotFound` may mean an earlier attempt deleted it."""
        self._call(self._platform("DELETE", platform_id, "", idempotent=True), _ignore_body)

    def activate_platform(self, platform_id: str) -> None:
        """Let the platform launch the tool (idempotent, so retried like a GET)."""
        self._call(self._platform("POST", platform_id, "/activate", idempotent=True), _ignore_body)

    def deactivate_platform(self, platform_id: str) -> None:
        """Refuse the platform's launches until activated again (idempotent, so retried)."""
        self._call(self._platform("POST", platform_id, "/deactivate", idempotent=True), _ignore_body)

    # Plumbing

    def _registration(self, method: str, registration_id: str, suffix: str, *, idempotent: bool) -> _Endpoint:
        segment = quote(validate_identifier(registration_id), safe="")
        base = "/api/registrations/"
        path, template = base + segment + suffix, base + "{id}" + suffix
        reaches_lms = suffix == "/complete"
        return _Endpoint(
            method, path, template, on_registration=True, idempotent=idempotent, reaches_lms=reaches_lms
        )

    def _platform(self, method: str, platform_id: str, suffix: str, *, idempotent: bool) -> _Endpoint:
        segment = quote(validate_identifier(platform_id), safe="")
        base = self.platforms_path + "/"
        path, template = base + segment + suffix, base + "{id}" + suffix
        return _Endpoint(method, path, template, on_registration=False, idempotent=idempotent)

    def _call(
        self,
        endpoint: _Endpoint,
        parse: Callable[[requests.Response], T],
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> T:
        """Send the request (retrying if allowed), map failures, parse; log one line per failure."""
        started = time.monotonic()
        attempts = _Attempts()
        try:
            try:
                response = self._send(endpoint, params, json_body, attempts)
            finally:
                if endpoint.idempotent:
                    _spend_reads(time.monotonic() - started)
            if not 200 <= response.status_code < 300:
                raise self._error_for(response, endpoint)
            result = self._parse(response, endpoint, parse)
        except LtiaasError as error:
            self._log_failure(endpoint, error, attempts.count, started)
            raise
        logger.debug(
            "LTIAAS %s %s -> %s in %d ms",
            endpoint.method,
            endpoint.template,
            response.status_code,
            _elapsed_ms(started),
        )
        return result

    def _parse(
        self, response: requests.Response, endpoint: _Endpoint, parse: Callable[[requests.Response], T]
    ) -> T:
        try:
            return parse(response)
        except LtiaasInvalidResponse as error:
            if endpoint.idempotent:
                raise
            # LTIAAS said it succeeded, in words we cannot read: it most likely acted.
            raise LtiaasOutcomeUnknown(
                f"LTIAAS answered HTTP {response.status_code} but not in the documented shape, so it "
                f"may have acted ({error})",
                status=response.status_code,
            ) from error

    def _send(
        self, endpoint: _Endpoint, params: Mapping[str, str] | None, json_body: Any, attempts: _Attempts
    ) -> requests.Response:
        allowed = 1 + (self.retries if endpoint.idempotent else 0)
        deadline = _deadline(self.read_budget) if endpoint.idempotent else None
        while True:
            attempts.count += 1
            limits = self._limits(deadline)
            try:
                response = self._session.request(
                    endpoint.method,
                    self.base_url + endpoint.path,
                    params=params,
                    json=json_body,
                    timeout=limits.for_requests(),
                    allow_redirects=False,
                )
            except requests.RequestException as error:
                if (
                    attempts.count < allowed
                    and _retryable(error, endpoint.method)
                    and self._back_off(attempts.count + 1, deadline)
                ):
                    continue
                raise self._transport_error(error, endpoint, limits) from error
            if (
                response.status_code in _RETRY_STATUSES
                and attempts.count < allowed
                and self._back_off(attempts.count + 1, deadline)
            ):
                response.close()
                continue
            return response

    def _limits(self, deadline: float | None) -> _Limits:
        connect, read = self.timeout
        if deadline is None:
            return _Limits(connect, read)
        left = max(deadline - time.monotonic(), 0.001)
        return _Limits(min(connect, left), min(read, left), total=left)

    def _back_off(self, attempt: int, deadline: float | None) -> bool:
        """Sleep before `attempt`; False (without sleeping) if the budget would be spent by then."""
        delay = min(self.backoff_factor * 2 ** (attempt - 2), _MAX_BACKOFF_SECONDS)
        if deadline is not None and time.monotonic() + delay >= deadline:
            return False
        time.sleep(delay)
        return True

    def _transport_error(
        self, error: requests.RequestException, endpoint: _Endpoint, limits: _Limits
    ) -> LtiaasUnavailable:
        sent = _may_have_been_sent(error)
        if isinstance(error, requests.ConnectTimeout):
            reason = f"could not be reached within {limits.connect:.3g} s (nothing was sent)"
        elif isinstance(error, requests.Timeout):
            reason = f"did not answer within {limits.read:.3g} s after the request was sent"
        elif isinstance(error, requests.ConnectionError) and not sent:
            reason = "could not be reached (connection failed, nothing was sent)"
        elif isinstance(error, requests.exceptions.SSLError):  # e.g. https:// to a plain http port
            reason = "could not set up a secure (TLS) connection: check the scheme and port of its URL"
        elif isinstance(error, requests.ConnectionError):
            reason = "dropped the connection after the request was sent"
        else:
            reason = f"could not be called ({type(error).__name__})"
        message = f"LTIAAS at {self.base_url} {reason}"
        if sent and not endpoint.idempotent:
            return LtiaasOutcomeUnknown(f"{message}: it may have acted", request_sent=True)
        return LtiaasUnavailable(message, request_sent=sent)

    def _error_for(self, response: requests.Response, endpoint: _Endpoint) -> LtiaasError:
        status = response.status_code
        details = _error_body_details(response)
        message, description = (
            self._detail_text(details, "message"),
            self._detail_text(details, "description"),
        )
        fields: dict[str, Any] = {
            "status": status,
            "details_message": message,
            "details_description": description,
        }
        said = (
            f" ({'; '.join(part for part in (message, description) if part)})"
            if message or description
            else ""
        )
        if endpoint.reaches_lms and status >= 400:
            refusal = self._lms_refusal(details, message, description, fields)
            if refusal is not None:
                return refusal
        if status == 401 or (status == 403 and _mentions_authorization(message, description)):
            return LtiaasUnauthorized(
                f"LTIAAS refused the portal's API key (HTTP {status}){said}: an operator/configuration "
                "problem, check LTIAAS_API_KEY and LTIAAS_URL",
                **fields,
            )
        if status in {408, 429}:
            # "Not now", not "no such registration": LTIAAS refused before acting; the admin can retry.
            return LtiaasUnavailable(f"LTIAAS is unavailable (HTTP {status}){said}", **fields)
        if status >= 500:
            if not endpoint.idempotent:
                return LtiaasOutcomeUnknown(
                    f"LTIAAS failed (HTTP {status}){said} and may have acted before failing", **fields
                )
            return LtiaasUnavailable(f"LTIAAS is unavailable (HTTP {status}){said}", **fields)
        if (
            400 <= status < 500
            and endpoint.on_registration
            and _names_a_gone_registration(endpoint, status, message, description)
        ):
            return RegistrationNotFound(
                f"LTIAAS does not know this registration: unknown, expired or already used (HTTP {status})"
                f"{said}",
                **fields,
            )
        if status == 404:
            return PlatformNotFound(f"LTIAAS has no such platform (HTTP 404){said}", **fields)
        if 400 <= status < 500:
            return LtiaasRequestRejected(f"LTIAAS rejected the request (HTTP {status}){said}", **fields)
        if not endpoint.idempotent:
            return LtiaasOutcomeUnknown(
                f"LTIAAS answered with unexpected HTTP {status} and may have acted", **fields
            )
        return LtiaasInvalidResponse(f"LTIAAS answered with unexpected HTTP {status}", **fields)

    def _lms_refusal(
        self,
        details: Mapping[str, Any],
        message: str | None,
        description: str | None,
        fields: dict[str, Any],
    ) -> LmsRefusedRegistration | None:
        """The LMS's refusal, if LTIAAS's error wraps one: it is external and names a status or a body."""
        external = details.get("externalError")
        body = details.get("bodyReceived")
        if body is None and isinstance(external, dict | list | str):
            body = external  # an older shape: the LMS's answer in externalError itself
        found = _LMS_STATUS.search(" ".join(text for text in (message, description) if text))
        lms_status = int(found.group(1)) if found else None
        if not (external or lms_status) or (lms_status is None and body is None):
            return None
        code, words = _lms_words(body)
        lms_error, lms_description = self._clean(code), self._clean(words)
        url = details.get("externalUrl")
        lms_url = self._clean(_without_query(url)) if isinstance(url, str) else None
        said = ": ".join(part for part in (lms_error, lms_description) if part)
        return LmsRefusedRegistration(
            f"The LMS refused the registration"
            f"{f' (HTTP {lms_status})' if lms_status else ''}{f': {said}' if said else ''}",
            lms_status=lms_status,
            lms_error=lms_error,
            lms_error_description=lms_description,
            lms_url=lms_url,
            **fields,
        )

    def _detail_text(self, details: Mapping[str, Any], key: str) -> str | None:
        value = details.get(key)
        return self._clean(value) if isinstance(value, str) else None

    def _clean(self, text: str | None) -> str | None:
        """Bounded, single-line, no control characters, and without our key even if echoed back."""
        if text is None:
            return None
        return one_line(self._auth.scrub(text), _MAX_DETAIL_CHARS) or None

    def _log_failure(self, endpoint: _Endpoint, error: LtiaasError, attempts: int, started: float) -> None:
        level = logging.INFO if isinstance(error, RegistrationNotFound) else logging.WARNING
        logger.log(
            level,
            "LTIAAS %s %s failed: %s status=%s attempts=%d elapsed_ms=%d sent=%s",
            endpoint.method,
            endpoint.template,
            type(error).__name__,
            error.status if error.status is not None else "-",
            attempts,
            _elapsed_ms(started),
            "yes" if error.request_sent else "no",
        )


# How many seconds of reads the request being served has left; every retried LTIAAS call in it
# spends from it. Time spent in a POST (complete, create) is not charged: their own timeouts bound
# them, and the reads after one (the lookup after a lost answer) still get what reads left.
_request_reads_left: ContextVar[float | None] = ContextVar("ltiaas_request_reads_left", default=None)


def _start_request_budget() -> None:
    _request_reads_left.set(current_app.config["LTIAAS_READ_BUDGET"])


def _end_request_budget(_error: BaseException | None = None) -> None:
    _request_reads_left.set(None)


def init_ltiaas(app: Flask) -> None:
    """Build the app's client from its settings (`get_ltiaas()` returns it), and give every request
    one read budget: a page that reads LTIAAS twice still waits at most LTIAAS_READ_BUDGET for its
    reads in all."""
    app.extensions["ltiaas"] = LtiaasClient.from_config(app.config)
    app.before_request(_start_request_budget)
    app.teardown_request(_end_request_budget)


def _deadline(read_budget: float) -> float:
    """The call's own budget, cut short by what the request being served has left for reads."""
    reads_left = _request_reads_left.get()
    return time.monotonic() + (read_budget if reads_left is None else min(read_budget, reads_left))


def _spend_reads(seconds: float) -> None:
    reads_left = _request_reads_left.get()
    if reads_left is not None:
        _request_reads_left.set(max(reads_left - seconds, 0.0))


# Parsing: unknown fields are ignored, documented ones are checked.


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _retryable(error: requests.RequestException, method: str) -> bool:
    if isinstance(error, requests.ConnectTimeout):
        return True
    if isinstance(error, requests.Timeout):
        return method == "GET"
    return isinstance(error, requests.ConnectionError | requests.exceptions.ChunkedEncodingError)


def _may_have_been_sent(error: requests.RequestException) -> bool:
    """False only when the request certainly never left: it could not be built, or no connection was made.

    requests raises ConnectionError both before sending (refused, name not
    resolved: urllib3's NewConnectionError) and after (reset or closed while
    waiting for the answer: ProtocolError), so the cause chain decides; when in
    doubt (TLS errors, proxies, anything unknown) the request may have gone.
    """
    if isinstance(error, (requests.ConnectTimeout, *_UNSENDABLE)):
        return False
    if not isinstance(error, requests.ConnectionError):
        return True
    causes = _causes(error)
    if any(isinstance(cause, ProtocolError | ReadTimeoutError) for cause in causes):
        return True
    return not any(isinstance(cause, NewConnectionError | ConnectTimeoutError) for cause in causes)


def _causes(error: BaseException) -> list[BaseException]:
    """`error` and what it wraps: chained exceptions, exception arguments, urllib3's `reason`."""
    seen: list[BaseException] = []
    waiting: list[Any] = [error]
    while waiting and len(seen) < 32:
        current = waiting.pop()
        if not isinstance(current, BaseException) or any(current is known for known in seen):
            continue
        seen.append(current)
        waiting.extend((current.__cause__, current.__context__, getattr(current, "reason", None)))
        waiting.extend(current.args)
    return seen


def _error_body_details(response: requests.Response) -> dict[str, Any]:
    """The `details` object of an LTIAAS error body, or {} when it has none."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return {}
    details = body.get("details") if isinstance(body, dict) else None
    return details if isinstance(details, dict) else {}


def _lms_words(body: Any) -> tuple[str | None, str | None]:
    """The LMS's error code and its own words, from the body LTIAAS received (RFC 7591, Canvas, text)."""
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            text = body.strip()
            # An HTML error page says nothing a person should read in our page.
            return None, (text if text and not text.startswith("<") else None)
    if isinstance(body, list):
        return None, _error_messages(body)
    if not isinstance(body, dict):
        return None, None
    code = body.get("error") if isinstance(body.get("error"), str) else None
    for words in (
        body.get("error_description"),
        _error_messages(body.get("errors")),  # Canvas: 422 {"errors": [...]}
        body.get("errorMessage"),
        body.get("message"),
    ):
        if isinstance(words, str) and words.strip():
            return code, words
    return code, None


def _error_messages(errors: Any) -> str | None:
    """Canvas's `errors`: a list of strings or {message}, or {field: [{message}, ...]}, joined."""
    found: list[str] = []
    if isinstance(errors, dict):
        for name, entries in errors.items():
            for entry in entries if isinstance(entries, list) else [entries]:
                text = _error_message(entry)
                if text:
                    found.append(f"{name}: {text}")
    elif isinstance(errors, list):
        found = [text for text in map(_error_message, errors) if text]
    return "; ".join(found) or None


def _error_message(entry: Any) -> str | None:
    if isinstance(entry, dict):
        entry = entry.get("message")
    if isinstance(entry, str) and entry.strip():
        return entry.strip()
    return None


def _without_query(url: str) -> str | None:
    """A URL without its query, fragment or credentials (a registration endpoint may carry a token)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


_GONE_WORDS = ("not found", "expired", "already used", "already completed", "unknown", "invalid")


def _names_a_gone_registration(
    endpoint: _Endpoint, status: int, message: str | None, description: str | None
) -> bool:
    """Whether a 4xx on a registration endpoint says the registrationId is gone (unknown, expired,
    used). Any 4xx on a read does; on complete, a 404/410 or words that say so of the registration
    ("REGISTRATION_NOT_FOUND"), since LTIAAS also answers 4xx when it refuses the request itself (a
    body it cannot take: 400; a duplicate platform: 403). A placement the LMS does not support is
    not refused: LTIAAS drops it (ltiaas-api.md)."""
    if not endpoint.reaches_lms or status in {404, 410}:
        return True
    said = " ".join(text for text in (message, description) if text).lower().replace("_", " ")
    return "registration" in said and any(words in said for words in _GONE_WORDS)


def _mentions_authorization(*texts: str | None) -> bool:
    said = " ".join(text for text in texts if text).lower().replace("_", " ")
    return any(word in said for word in ("authorization", "api key", "apikey", "unauthorized"))


def _invalid(what: str) -> LtiaasInvalidResponse:
    return LtiaasInvalidResponse(f"LTIAAS answered with an unexpected shape: {what}")


def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except ValueError as error:
        raise _invalid("the body is not JSON") from error
    if not isinstance(body, dict):
        raise _invalid("the body is not a JSON object")
    return body


def _string(body: Mapping[str, Any], key: str, max_chars: int | None = None) -> str:
    """A string that must be there: an id or url, which no control character belongs in."""
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise _invalid(f"{key!r} is missing, empty or not a string")
    if not is_acceptable(value):
        raise _invalid(f"{key!r} holds control characters")
    if max_chars is not None and len(value) > max_chars:
        raise _invalid(f"{key!r} is longer than {max_chars} characters")
    return value


def _display_string(body: Mapping[str, Any], key: str) -> str:
    """A string LTIAAS should send but the portal can do without: missing is ""."""
    value = body.get(key)
    if value is None:
        return ""
    if isinstance(value, str):
        return without_unacceptable(value, frozenset())
    raise _invalid(f"{key!r} is not a string")


def _optional_string(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _invalid(f"{key!r} is not a string")


def _text(value: Any) -> str:
    """A display string for loosely typed fields (familyCode, version): one bounded line."""
    if value is None or isinstance(value, bool | dict | list):
        return ""
    return one_line(str(value), _MAX_LABEL_CHARS)


def _names(values: Iterable[Any]) -> tuple[str, ...]:
    """The strings among `values` that can be names (scopes, message types, placements), each once,
    in their order: an LMS that lists one twice would show two boxes for it."""
    return tuple(
        dict.fromkeys(value for value in values if isinstance(value, str) and value and is_acceptable(value))
    )


def _list(body: Mapping[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    if not isinstance(value, list):
        raise _invalid(f"{key!r} is missing or not a list")
    return value


def _parse_messages(entries: list[Any]) -> tuple[tuple[SupportedMessage, ...], bool]:
    messages: list[SupportedMessage] = []
    legacy = False
    for entry in entries:
        named = entry if isinstance(entry, str) else entry.get("type") if isinstance(entry, dict) else None
        if any(message.type == named for message in messages):
            continue  # listed twice: the first says it
        if _names([entry]):
            messages.append(SupportedMessage(entry))
            legacy = True
        elif isinstance(entry, dict) and _names([entry.get("type")]):
            placements = entry.get("placements")
            kept = _names(placements) if isinstance(placements, list) else ()
            messages.append(SupportedMessage(entry["type"], kept))
        else:
            logger.warning("LTIAAS registration lists a message without a type; ignored")
    return tuple(messages), legacy


def _parse_registration(response: requests.Response) -> RegistrationDetails:
    body = _json_object(response)
    messages, legacy = _parse_messages(_list(body, "supportedMessages"))
    return RegistrationDetails(
        url=_string(body, "url", _MAX_URL_CHARS),
        family_code=_text(body.get("familyCode")),
        version=_text(body.get("version")),
        supported_scopes=_names(_list(body, "supportedScopes")),
        supported_messages=messages,
        legacy_message_shape=legacy,
    )


def _parse_registration_from_raw(response: requests.Response) -> RegistrationDetails:
    """RegistrationDetails from `?raw=true`: LTIAAS's envelope is checked, the LMS's values read leniently.

    The registration token beside the configuration is never looked at.
    """
    configuration = _json_object(response).get("openIdConfiguration")
    if not isinstance(configuration, dict):
        raise _invalid("'openIdConfiguration' is missing or not an object")
    issuer = configuration.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        raise _invalid("the OpenID configuration's 'issuer' is missing, empty or not a string")
    if not is_acceptable(issuer) or len(issuer) > _MAX_URL_CHARS:
        raise _invalid("the OpenID configuration's 'issuer' holds control characters or is too long")
    platform = configuration.get(PLATFORM_CONFIGURATION)
    platform = platform if isinstance(platform, dict) else {}
    messages, legacy = _parse_messages(_lms_list(platform, "messages_supported"))
    if legacy:
        messages = _with_legacy_placements(messages, _legacy_placements(configuration, platform))
    return RegistrationDetails(
        url=issuer,
        family_code=_text(platform.get("product_family_code")),
        version=_text(platform.get("version")),
        supported_scopes=_names(_lms_list(configuration, "scopes_supported")),
        supported_messages=messages,
        legacy_message_shape=legacy,
        account_name=_lms_label(platform.get(CANVAS_ACCOUNT_NAME, configuration.get(CANVAS_ACCOUNT_NAME))),
        account_lti_guid=_lms_label(
            platform.get(CANVAS_ACCOUNT_LTI_GUID, configuration.get(CANVAS_ACCOUNT_LTI_GUID))
        ),
    )


def _lms_list(source: Mapping[str, Any], key: str) -> list[Any]:
    """A list the LMS should send; anything else counts as empty (the LMS's data, not LTIAAS's shape)."""
    value = source.get(key)
    if value is not None and not isinstance(value, list):
        logger.warning("The LMS's OpenID configuration has a %s that is not a list; ignored", key)
    return value if isinstance(value, list) else []


def _legacy_placements(configuration: Mapping[str, Any], platform: Mapping[str, Any]) -> tuple[str, ...]:
    """Moodle 3.x's separate `placements` list: at the top level, or else in the platform configuration."""
    for source in (configuration, platform):
        value = source.get("placements")
        if isinstance(value, list):
            return _names(value)
    return ()


def _with_legacy_placements(
    messages: tuple[SupportedMessage, ...], placements: tuple[str, ...]
) -> tuple[SupportedMessage, ...]:
    """The legacy placements belong to deep linking (Moodle's content-item picker), if it has none."""
    if not placements:
        return messages
    return tuple(
        SupportedMessage(message.type, placements)
        if message.type == "LtiDeepLinkingRequest" and not message.placements
        else message
        for message in messages
    )


def _lms_label(value: Any) -> str | None:
    """A name the LMS gives itself: one line, no control characters, at most 255 characters, or None."""
    if not isinstance(value, str):
        return None
    return one_line(value, _MAX_LABEL_CHARS) or None


def _parse_raw_registration(response: requests.Response) -> RawRegistration:
    body = _json_object(response)
    configuration = body.get("openIdConfiguration")
    if not isinstance(configuration, dict):
        raise _invalid("'openIdConfiguration' is missing or not an object")
    return RawRegistration(configuration, _optional_string(body, "registrationToken"))


def _html(body: Mapping[str, Any]) -> str:
    html = body.get("html")
    if not isinstance(html, str):
        raise _invalid("'html' is missing or not a string")
    return without_unacceptable(html)


def _parse_completion(response: requests.Response) -> CompletionResult:
    body = _json_object(response)
    return CompletionResult(platform_id=_string(body, "platformId", _MAX_LABEL_CHARS), html=_html(body))


_PLATFORM_KEYS = frozenset(
    {
        "id",
        "url",
        "clientId",
        "name",
        "authenticationEndpoint",
        "accesstokenEndpoint",
        "authConfig",
        "publicKey",
        "active",
        "authorizationServer",
    }
)


def _platform_from(body: Mapping[str, Any]) -> Platform:
    auth_config = body.get("authConfig", {})
    active = body.get("active", False)
    if not isinstance(auth_config, dict):
        raise _invalid("'authConfig' is not an object")
    if not isinstance(active, bool):
        raise _invalid("'active' is not a boolean")
    return Platform(
        id=_string(body, "id"),
        url=_string(body, "url"),
        client_id=_string(body, "clientId"),
        name=_display_string(body, "name"),
        authentication_endpoint=_display_string(body, "authenticationEndpoint"),
        accesstoken_endpoint=_display_string(body, "accesstokenEndpoint"),
        auth_config=auth_config,
        public_key=_optional_string(body, "publicKey"),
        active=active,
        authorization_server=_optional_string(body, "authorizationServer"),
        extra={key: value for key, value in body.items() if key not in _PLATFORM_KEYS},
    )


def _parse_platform(response: requests.Response) -> Platform:
    return _platform_from(_json_object(response))


def _parse_platform_list(response: requests.Response) -> list[Platform]:
    body = _json_object(response)
    entries = _list(body, "platforms")
    if not all(isinstance(entry, dict) for entry in entries):
        raise _invalid("'platforms' holds something that is not an object")
    return [_platform_from(entry) for entry in entries]


def _ignore_body(response: requests.Response) -> None:
    return None


def _message_dict(message: SupportedMessage | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(message, SupportedMessage):
        return message.to_dict()
    return {"type": message["type"], "placements": list(message.get("placements") or [])}
