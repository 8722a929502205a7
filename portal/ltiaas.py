"""The one module that talks to LTIAAS (or the sandbox standing in for it).

`LtiaasClient` wraps the registration and platform endpoints of the LTIAAS API
behind typed results and typed errors; views reach it with `get_ltiaas()`.

Contracts every method keeps:
- every identifier from outside passes `validate_identifier` and is then
  percent-encoded before it enters a path; an invalid one raises
  `InvalidIdentifier` and sends nothing;
- every call has a (connect, read) timeout and never follows redirects;
- failures raise an `LtiaasError` subclass carrying `status`,
  `details_message` and `details_description`; transport errors are chained;
- the API key appears in no exception, log line or repr.

Retries (with exponential backoff) apply only to calls whose effect is the
same however often they run: GET, PUT (full replace), DELETE, and
activate/deactivate (each sets `active` to a fixed value). They retry on
connection errors, connect timeouts and 502/503/504; read timeouts are retried
only on GET, whose budget is the caller's page load. POST create and POST
complete are never retried: LTIAAS may have acted before the answer was lost.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import requests
from flask import current_app

from portal import __version__

logger = logging.getLogger(__name__)

T = TypeVar("T")

_IDENTIFIER = re.compile(r"[A-Za-z0-9._~-]{1,128}")
_RETRY_STATUSES = frozenset({502, 503, 504})
_MAX_BACKOFF_SECONDS = 8.0
_MAX_DETAIL_CHARS = 300


class InvalidIdentifier(ValueError):
    """A registrationId or platformId from outside that is not a bounded, URL-safe token."""


class LtiaasError(Exception):
    """Any failure talking to LTIAAS. `status` is the HTTP status when there was one."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        details_message: str | None = None,
        details_description: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.details_message = details_message
        self.details_description = details_description


class RegistrationNotFound(LtiaasError):
    """LTIAAS does not know the registrationId (unknown, expired or already used): 4xx on a registration."""


class LtiaasUnauthorized(LtiaasError):
    """LTIAAS refused our API key (401/403 auth): an operator problem, never the user's."""


class LtiaasUnavailable(LtiaasError):
    """LTIAAS could not be reached in time or answered 5xx.

    After a failed `complete_registration` the outcome is unknown: LTIAAS may
    have completed the registration before the answer was lost.
    """


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
    """GET /api/registrations/{id}: what the LMS told LTIAAS about itself."""

    url: str
    family_code: str
    version: str
    supported_scopes: tuple[str, ...]
    supported_messages: tuple[SupportedMessage, ...]
    # True when the LMS listed messages as plain strings (Moodle before 4.x).
    legacy_message_shape: bool = False


@dataclass(frozen=True)
class RawRegistration:
    """GET /api/registrations/{id}?raw=true."""

    openid_configuration: dict[str, Any]
    registration_token: str | None


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
    return current_app.extensions["ltiaas"]


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
    """One call: the real path, the path template for logs, and how failures map."""

    method: str
    path: str
    template: str
    on_registration: bool
    retry: bool = False


@dataclass
class _Attempts:
    count: int = 0


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
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("LTIAAS_URL must be an absolute http(s) URL")
        self.base_url = base_url.rstrip("/")
        self.platforms_path = "/" + platforms_path.strip("/")
        self.timeout = (float(connect_timeout), float(read_timeout))
        self.retries = max(0, int(retries))
        self.backoff_factor = max(0.0, float(backoff_factor))
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
            platforms_path=config.get("LTIAAS_PLATFORMS_PATH") or "/api/platforms",
            connect_timeout=config.get("LTIAAS_CONNECT_TIMEOUT", 3.05),
            read_timeout=config.get("LTIAAS_READ_TIMEOUT", 15.0),
            retries=config.get("LTIAAS_RETRIES", 2),
            backoff_factor=config.get("LTIAAS_BACKOFF_FACTOR", 0.5),
        )

    def __repr__(self) -> str:
        return f"<LtiaasClient {self.base_url} platforms={self.platforms_path}>"

    def close(self) -> None:
        """Release pooled connections."""
        self._session.close()

    # Registrations

    def get_registration(self, registration_id: str) -> RegistrationDetails:
        """What the LMS reported. :raise RegistrationNotFound: unknown, expired or used id."""
        endpoint = self._registration("GET", registration_id, "", retry=True)
        return self._call(endpoint, _parse_registration)

    def get_raw_registration(self, registration_id: str) -> RawRegistration:
        """The LMS's whole OpenID configuration and its registration token."""
        endpoint = self._registration("GET", registration_id, "", retry=True)
        return self._call(endpoint, _parse_raw_registration, params={"raw": "true"})

    def complete_registration(
        self,
        registration_id: str,
        *,
        platform_name: str | None = None,
        auto_activate: bool | None = None,
        messages: Iterable[SupportedMessage | Mapping[str, Any]] | None = None,
    ) -> CompletionResult:
        """Finish the registration; only the arguments given are sent. Never retried."""
        body: dict[str, Any] = {}
        if platform_name is not None:
            body["platformName"] = platform_name
        if auto_activate is not None:
            body["autoActivate"] = auto_activate
        if messages is not None:
            body["messages"] = [_message_dict(message) for message in messages]
        endpoint = self._registration("POST", registration_id, "/complete", retry=False)
        return self._call(endpoint, _parse_completion, json_body=body)

    # Platforms

    def list_platforms(
        self, *, url: str | None = None, client_id: str | None = None, platform_id: str | None = None
    ) -> list[Platform]:
        """Platforms matching every filter given (issuer `url`, `client_id`, `platform_id`)."""
        params = {"url": url, "clientId": client_id}
        if platform_id is not None:
            params["id"] = validate_identifier(platform_id)
        params = {key: value for key, value in params.items() if value is not None}
        prefix = self.platforms_path
        endpoint = _Endpoint("GET", prefix, prefix, on_registration=False, retry=True)
        return self._call(endpoint, _parse_platform_list, params=params)

    def get_platform(self, platform_id: str) -> Platform:
        """:raise PlatformNotFound: no platform with that id."""
        return self._call(self._platform("GET", platform_id, "", retry=True), _parse_platform)

    def create_platform(self, data: Mapping[str, Any]) -> Platform:
        """Register a platform by hand (LTIAAS JSON keys). Never retried."""
        prefix = self.platforms_path
        endpoint = _Endpoint("POST", prefix, prefix, on_registration=False)
        return self._call(endpoint, _parse_platform, json_body=dict(data))

    def update_platform(self, platform_id: str, data: Mapping[str, Any]) -> Platform:
        """Replace a platform (PUT: the six core fields are required by LTIAAS)."""
        endpoint = self._platform("PUT", platform_id, "", retry=True)
        return self._call(endpoint, _parse_platform, json_body=dict(data))

    def delete_platform(self, platform_id: str) -> None:
        """Delete for good. After a retry, `PlatformNotFound` may mean an earlier attempt deleted it."""
        self._call(self._platform("DELETE", platform_id, "", retry=True), _ignore_body)

    def activate_platform(self, platform_id: str) -> None:
        """Let the platform launch the tool (idempotent, so retried like a GET)."""
        self._call(self._platform("POST", platform_id, "/activate", retry=True), _ignore_body)

    def deactivate_platform(self, platform_id: str) -> None:
        """Refuse the platform's launches until activated again (idempotent, so retried)."""
        self._call(self._platform("POST", platform_id, "/deactivate", retry=True), _ignore_body)

    # Plumbing

    def _registration(self, method: str, registration_id: str, suffix: str, *, retry: bool) -> _Endpoint:
        segment = quote(validate_identifier(registration_id), safe="")
        base = "/api/registrations/"
        path, template = base + segment + suffix, base + "{id}" + suffix
        return _Endpoint(method, path, template, on_registration=True, retry=retry)

    def _platform(self, method: str, platform_id: str, suffix: str, *, retry: bool) -> _Endpoint:
        segment = quote(validate_identifier(platform_id), safe="")
        base = self.platforms_path + "/"
        path, template = base + segment + suffix, base + "{id}" + suffix
        return _Endpoint(method, path, template, on_registration=False, retry=retry)

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
            response = self._send(endpoint, params, json_body, attempts)
            if not 200 <= response.status_code < 300:
                raise self._error_for(response, endpoint)
            result = parse(response)
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

    def _send(
        self, endpoint: _Endpoint, params: Mapping[str, str] | None, json_body: Any, attempts: _Attempts
    ) -> requests.Response:
        allowed = 1 + (self.retries if endpoint.retry else 0)
        while True:
            attempts.count += 1
            try:
                response = self._session.request(
                    endpoint.method,
                    self.base_url + endpoint.path,
                    params=params,
                    json=json_body,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as error:
                if attempts.count < allowed and _retryable(error, endpoint.method):
                    self._sleep_before(attempts.count + 1)
                    continue
                raise self._transport_error(error) from error
            if response.status_code in _RETRY_STATUSES and attempts.count < allowed:
                response.close()
                self._sleep_before(attempts.count + 1)
                continue
            return response

    def _sleep_before(self, attempt: int) -> None:
        time.sleep(min(self.backoff_factor * 2 ** (attempt - 2), _MAX_BACKOFF_SECONDS))

    def _transport_error(self, error: requests.RequestException) -> LtiaasUnavailable:
        connect, read = self.timeout
        if isinstance(error, requests.ConnectTimeout):
            reason = f"could not connect within {connect:g} s"
        elif isinstance(error, requests.Timeout):
            reason = f"did not answer within {read:g} s"
        elif isinstance(error, requests.ConnectionError):
            reason = "could not be reached (connection failed)"
        else:
            reason = f"could not be called ({type(error).__name__})"
        return LtiaasUnavailable(f"LTIAAS at {self.base_url} {reason}")

    def _error_for(self, response: requests.Response, endpoint: _Endpoint) -> LtiaasError:
        status = response.status_code
        message, description = _error_details(response, self._scrub)
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
        if status == 401 or (status == 403 and _mentions_authorization(message, description)):
            return LtiaasUnauthorized(
                f"LTIAAS refused the portal's API key (HTTP {status}){said}: an operator/configuration "
                "problem, check LTIAAS_API_KEY and LTIAAS_URL",
                **fields,
            )
        if status in {408, 429} or status >= 500:
            # 408/429 say "not now", not "no such registration": the LMS admin can retry.
            return LtiaasUnavailable(f"LTIAAS is unavailable (HTTP {status}){said}", **fields)
        if 400 <= status < 500 and endpoint.on_registration:
            return RegistrationNotFound(
                f"LTIAAS does not know this registration: unknown, expired or already used (HTTP {status})"
                f"{said}",
                **fields,
            )
        if status == 404:
            return PlatformNotFound(f"LTIAAS has no such platform (HTTP 404){said}", **fields)
        if 400 <= status < 500:
            return LtiaasRequestRejected(f"LTIAAS rejected the request (HTTP {status}){said}", **fields)
        return LtiaasInvalidResponse(f"LTIAAS answered with unexpected HTTP {status}", **fields)

    def _scrub(self, text: str) -> str:
        """Bounded, single-line, and without our key even if LTIAAS echoed it back."""
        return " ".join(self._auth.scrub(text).split())[:_MAX_DETAIL_CHARS]

    def _log_failure(self, endpoint: _Endpoint, error: LtiaasError, attempts: int, started: float) -> None:
        level = logging.INFO if isinstance(error, RegistrationNotFound) else logging.WARNING
        logger.log(
            level,
            "LTIAAS %s %s failed: %s status=%s attempts=%d elapsed_ms=%d",
            endpoint.method,
            endpoint.template,
            type(error).__name__,
            error.status if error.status is not None else "-",
            attempts,
            _elapsed_ms(started),
        )


def init_ltiaas(app: Any) -> None:
    """Build the app's client from its settings; `get_ltiaas()` returns it."""
    app.extensions["ltiaas"] = LtiaasClient.from_config(app.config)


# Parsing: unknown fields are ignored, documented ones are checked.


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _retryable(error: requests.RequestException, method: str) -> bool:
    if isinstance(error, requests.ConnectTimeout):
        return True
    if isinstance(error, requests.Timeout):
        return method == "GET"
    return isinstance(error, requests.ConnectionError | requests.exceptions.ChunkedEncodingError)


def _error_details(response: requests.Response, scrub: Callable[[str], str]) -> tuple[str | None, str | None]:
    """`details.message` and `details.description` of an LTIAAS error body, if it has them."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return None, None
    details = body.get("details") if isinstance(body, dict) else None
    if not isinstance(details, dict):
        return None, None
    message, description = details.get("message"), details.get("description")
    return (
        scrub(message) if isinstance(message, str) and message.strip() else None,
        scrub(description) if isinstance(description, str) and description.strip() else None,
    )


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


def _string(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if isinstance(value, str) and value:
        return value
    raise _invalid(f"{key!r} is missing, empty or not a string")


def _display_string(body: Mapping[str, Any], key: str) -> str:
    """A string LTIAAS should send but the portal can do without: missing is ""."""
    value = body.get(key)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise _invalid(f"{key!r} is not a string")


def _optional_string(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _invalid(f"{key!r} is not a string")


def _text(value: Any) -> str:
    """A display string for loosely typed fields (familyCode, version)."""
    if value is None or isinstance(value, bool | dict | list):
        return ""
    return str(value)


def _list(body: Mapping[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    if not isinstance(value, list):
        raise _invalid(f"{key!r} is missing or not a list")
    return value


def _parse_messages(entries: list[Any]) -> tuple[tuple[SupportedMessage, ...], bool]:
    messages: list[SupportedMessage] = []
    legacy = False
    for entry in entries:
        if isinstance(entry, str) and entry:
            messages.append(SupportedMessage(entry))
            legacy = True
        elif isinstance(entry, dict) and isinstance(entry.get("type"), str) and entry["type"]:
            placements = entry.get("placements")
            kept = tuple(p for p in placements if isinstance(p, str)) if isinstance(placements, list) else ()
            messages.append(SupportedMessage(entry["type"], kept))
        else:
            logger.warning("LTIAAS registration lists a message without a type; ignored")
    return tuple(messages), legacy


def _parse_registration(response: requests.Response) -> RegistrationDetails:
    body = _json_object(response)
    messages, legacy = _parse_messages(_list(body, "supportedMessages"))
    return RegistrationDetails(
        url=_string(body, "url"),
        family_code=_text(body.get("familyCode")),
        version=_text(body.get("version")),
        supported_scopes=tuple(s for s in _list(body, "supportedScopes") if isinstance(s, str)),
        supported_messages=messages,
        legacy_message_shape=legacy,
    )


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
    return html


def _parse_completion(response: requests.Response) -> CompletionResult:
    body = _json_object(response)
    return CompletionResult(platform_id=_string(body, "platformId"), html=_html(body))


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
