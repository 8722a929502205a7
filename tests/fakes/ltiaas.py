"""A fake LTIAAS over real HTTP: LTIAAS's API played with state, scriptable to fail, recording what it got.

One server runs for the whole session (`fake_ltiaas` in tests/conftest.py); the `ltiaas`
fixture resets it for each test and gives it three LMSes' registrations (`seed_lmses`). It
answers as LTIAAS does (../shared/reference/ltiaas-api.md):

- `GET /api/registrations/{id}`: LTIAAS's summary of the LMS; with `?raw=true`, the LMS's
  whole OpenID configuration and its registration token.
- `POST /api/registrations/{id}/complete`: checks the body (400), creates the platform from
  the LMS's configuration (a new client id; the name sent, else ltijs's default) and answers
  `{platformId, html}`. An id completes once: a used, expired or unknown one gets 404.
- The platforms under `platforms_path`: list (`?id=`, `?url=`, `?clientId=`), get, create,
  update (a full replace), delete (204), activate, deactivate; 400 for a bad body, 403
  "Platform already registered." for a duplicate issuer and client id, 404 for an unknown id.
- 401 with LTIAAS's documented body to a request without `Authorization: Bearer <API_KEY>`.

Scripting, per operation (the names in OPERATIONS): `script(operation, Fault(...))`, or the
shorthands `fail`, `slow`, `drop_connection`, `time_out` and `refuse_as_lms`. A fault on
complete may first carry the completion out (`acted`): LTIAAS acted, and its answer was lost.
The client tests' queue (`reply`, `drop`) answers the next requests, whatever they ask, before
any of this.

Recording: `received` holds every request (method, path, query, headers, body and the
operation it asked for); `requests_to(operation)` and `operations()` read it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import socket
import string
import struct
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from portal.sandbox.profiles import PLATFORM_CONFIGURATION, playable_profiles

API_KEY = "test-key-5c1f0e8a-2b7d-4f9e-9a41-d3c6b2e0f7aa"
CLOSE_HTML = (
    "<script>(window.opener || window.parent).postMessage({subject:'org.imsglobal.lti.close'}, '*');</script>"
)
OPERATIONS = (
    "get_registration",
    "complete_registration",
    "list_platforms",
    "get_platform",
    "create_platform",
    "update_platform",
    "delete_platform",
    "activate_platform",
    "deactivate_platform",
)
_ON_REGISTRATIONS = frozenset({"get_registration", "complete_registration"})
_CORE_FIELDS = ("url", "clientId", "name", "authenticationEndpoint", "accesstokenEndpoint", "authConfig")
_AUTH_METHODS = frozenset({"JWK_SET", "JWK_KEY", "RSA_KEY"})
_ID_ALPHABET = string.ascii_letters + string.digits
# How long a request told to hang holds its thread when no test ends it sooner.
_LONGEST_HANG = 60.0

# The LMSes every test finds waiting (`seed_lmses`): registrationId -> (sandbox LMS profile, base URL).
MOODLE_URL = "https://moodle.example.edu"
OLD_MOODLE_URL = "https://old-moodle.example.edu"
CANVAS_SCHOOL_URL = "https://springfield.instructure.com"
CANVAS_ISSUER = "https://canvas.instructure.com"
SEEDED_LMSES = {
    "reg-moodle": ("moodle-4.4", MOODLE_URL),
    "reg-old-moodle": ("moodle-3.11", OLD_MOODLE_URL),
    "reg-canvas": ("canvas", CANVAS_SCHOOL_URL),
}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def ltiaas_error(status: int, message: str, description: str | None = None, **details: Any) -> dict[str, Any]:
    """LTIAAS's error body: `{status, error, details: {message, description?, ...}}`."""
    body_details: dict[str, Any] = {"message": message}
    if description is not None:
        body_details["description"] = description
    body_details.update(details)
    return {"status": status, "error": _phrase(status), "details": body_details}


UNAUTHORIZED = ltiaas_error(401, "INVALID_LTIK_AUTH_AUTHORIZATION_HEADER", "Invalid API key")
REGISTRATION_NOT_FOUND = ltiaas_error(
    404, "REGISTRATION_NOT_FOUND", "Registration not found, expired or already completed."
)
PLATFORM_NOT_FOUND = ltiaas_error(404, "PLATFORM_NOT_FOUND", "Platform not found.")
ALREADY_REGISTERED = ltiaas_error(403, "PLATFORM_ALREADY_REGISTERED", "Platform already registered.")


def lms_refusal(lms_status: int, lms_body: Any, endpoint: str) -> tuple[int, dict[str, Any]]:
    """LTIAAS's answer to complete when the LMS refused: ltijs's 500 wrapping the LMS's answer.

    As LTIAAS's SDK reads it: `details.message` names the LMS's status as got words it,
    `externalError` is true, `bodyReceived` is the LMS's body and `externalUrl` the
    registration endpoint.
    """
    return 500, ltiaas_error(
        500,
        f"Response code {lms_status} ({_phrase(lms_status)})",
        externalError=True,
        bodyReceived=lms_body,
        externalUrl=endpoint,
    )


def lms_configuration(profile: str, base_url: str, **platform_claims: Any) -> dict[str, Any]:
    """The OpenID configuration a real LMS of `profile` (a sandbox LMS profile, copied from the
    shared reference) serves from `base_url`; `platform_claims` are added to or replace its
    platform configuration's (e.g. `version=...`)."""
    template = json.dumps(playable_profiles()[profile].configuration_template)
    host = urlsplit(base_url).hostname or ""
    configuration: dict[str, Any] = json.loads(template.replace("{base}", base_url).replace("{host}", host))
    configuration[PLATFORM_CONFIGURATION].update(platform_claims)
    return configuration


def seed_lmses(fake: FakeLtiaas) -> None:
    """Registrations from Moodle 4.4, Moodle 3.11 and a Canvas school, waiting to be read and completed."""
    for registration_id, (profile, base_url) in SEEDED_LMSES.items():
        fake.add_registration(registration_id, lms_configuration(profile, base_url))


@dataclass
class Reply:
    """A queued answer (the client tests'): a dict/list body is sent as JSON, str/bytes as is.

    `drop` answers nothing once the request is read: "reset" aborts the connection (TCP
    RST), "hang_up" closes it (FIN).
    """

    status: int = 200
    body: Any = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    drop: str | None = None


@dataclass(frozen=True)
class Fault:
    """How the fake answers one request to an operation instead of doing its job.

    - `status`: answer that status with `body`, or else with LTIAAS's error body for it.
    - `lms_refuses`: the LMS's (status, body), answered as LTIAAS wraps an LMS's refusal
      (complete only); the registration stays open, as ltijs stops at the LMS's error.
    - `drop`: read the request, then "reset" (TCP RST) or "hang_up" (FIN) without answering.
    - `hang`: never answer (until the test ends): the client's read timeout fires.
    - `delay`: wait this long first; with nothing else set, the real answer follows.
    - `acted` (complete only): carry the completion out first: "completed" (the platform
      exists and the id is used) or "id_used" (the id is used up, but LTIAAS failed before
      creating the platform).
    """

    status: int | None = None
    body: Any = None
    lms_refuses: tuple[int, Any] | None = None
    drop: str | None = None
    hang: bool = False
    delay: float = 0.0
    acted: str | None = None

    def __post_init__(self) -> None:
        if self.drop not in {None, "reset", "hang_up"}:
            raise ValueError(f"drop is 'reset' or 'hang_up', not {self.drop!r}")
        if self.acted not in {None, "completed", "id_used"}:
            raise ValueError(f"acted is 'completed' or 'id_used', not {self.acted!r}")
        if self.acted and not (self.status or self.drop or self.hang):
            raise ValueError("a fault that acted must lose the answer: give it a status, drop or hang")


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    operation: str | None = None
    target: str | None = None  # the registrationId or platformId in the path

    def json(self) -> Any:
        return json.loads(self.body)


class ApiError(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body["details"]["message"])
        self.status: int = body["status"]
        self.body = body


def _bad_request(description: str) -> ApiError:
    return ApiError(ltiaas_error(400, "MISSING_OR_INVALID_PARAMETER", description))


@dataclass
class _Registration:
    configuration: dict[str, Any]
    token: str | None
    status: str = "pending"  # pending, completed, used (no platform), expired
    platform_id: str | None = None


class FakeLtiaas:
    """A threaded HTTP server on 127.0.0.1 playing LTIAAS (see the module's docstring)."""

    def __init__(self, api_key: str = API_KEY, platforms_path: str = "/api/platforms") -> None:
        self.api_key = api_key
        self.platforms_path = platforms_path
        # LTIAAS's own setting, used when complete sends no autoActivate.
        self.auto_activate_by_default = True
        self.received: list[Received] = []
        self._replies: deque[Reply] = deque()
        self._faults: dict[str, deque[Fault]] = {}
        self._registrations: dict[str, _Registration] = {}
        self._platforms: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # A client that gave up has hung up; the late answer fails, quietly.
        self._server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # State

    def add_registration(
        self, registration_id: str, configuration: dict[str, Any], token: str | None = None
    ) -> None:
        """A registration the LMS started: its OpenID configuration and token (by default a fresh JWT)."""
        registration = _Registration(configuration, token or _registration_token())
        with self._lock:
            self._registrations[registration_id] = registration

    def expire_registration(self, registration_id: str) -> None:
        with self._lock:
            self._registrations[registration_id].status = "expired"

    def registration_status(self, registration_id: str) -> str:
        """pending, completed, used (without a platform) or expired."""
        with self._lock:
            return self._registrations[registration_id].status

    def add_platform(
        self, name: str, url: str = MOODLE_URL, *, active: bool = True, **fields: Any
    ) -> dict[str, Any]:
        """A platform LTIAAS already holds (an earlier registration); returns it as LTIAAS lists it."""
        platform = {
            "id": _platform_id(),
            "url": url,
            "clientId": secrets.token_hex(8),
            "name": name,
            "authenticationEndpoint": f"{url}/mod/lti/auth.php",
            "accesstokenEndpoint": f"{url}/mod/lti/token.php",
            "authConfig": {"method": "JWK_SET", "key": f"{url}/mod/lti/certs.php"},
            "publicKey": _public_key(),
            "active": active,
            **fields,
        }
        with self._lock:
            self._platforms[platform["id"]] = platform
        return dict(platform)

    @property
    def platforms(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(platform) for platform in self._platforms.values()]

    def platform_created_by(self, registration_id: str) -> dict[str, Any] | None:
        """The platform completing `registration_id` created, if any."""
        with self._lock:
            platform_id = self._registrations[registration_id].platform_id
            return dict(self._platforms[platform_id]) if platform_id in self._platforms else None

    # Scripting

    def script(self, operation: str, fault: Fault, *, times: int = 1) -> None:
        """Answer the next `times` requests to `operation` with `fault`."""
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; one of {', '.join(OPERATIONS)}")
        if (fault.acted or fault.lms_refuses) and operation != "complete_registration":
            raise ValueError("only complete_registration can act or be refused by the LMS")
        with self._lock:
            self._faults.setdefault(operation, deque()).extend([fault] * times)

    def fail(
        self, operation: str, status: int, body: Any = None, *, times: int = 1, acted: str | None = None
    ) -> None:
        """Answer `status` with `body` (else LTIAAS's error body for that status)."""
        self.script(operation, Fault(status=status, body=body, acted=acted), times=times)

    def slow(self, operation: str, seconds: float, *, times: int = 1) -> None:
        """Give the real answer, `seconds` late."""
        self.script(operation, Fault(delay=seconds), times=times)

    def drop_connection(
        self, operation: str, how: str = "reset", *, times: int = 1, acted: str | None = None
    ) -> None:
        """Read the request, then drop the connection without answering."""
        self.script(operation, Fault(drop=how, acted=acted), times=times)

    def time_out(self, operation: str, *, times: int = 1, acted: str | None = None) -> None:
        """Read the request and never answer: the client's read timeout fires."""
        self.script(operation, Fault(hang=True, acted=acted), times=times)

    def refuse_as_lms(self, lms_status: int, lms_body: Any, *, times: int = 1) -> None:
        """The LMS refuses the next completions with `lms_body`, and LTIAAS reports it wrapped."""
        self.script("complete_registration", Fault(lms_refuses=(lms_status, lms_body)), times=times)

    def reply(self, status: int = 200, body: Any = None, *, delay: float = 0.0, times: int = 1) -> None:
        """Queue answers for the next requests, whatever they ask (the client tests')."""
        with self._lock:
            self._replies.extend(Reply(status, body, delay) for _ in range(times))

    def drop(self, how: str, *, times: int = 1) -> None:
        """Queue: read the next requests, then "reset" or "hang_up" without answering."""
        if how not in {"reset", "hang_up"}:
            raise ValueError(f"drop is 'reset' or 'hang_up', not {how!r}")
        with self._lock:
            self._replies.extend(Reply(drop=how) for _ in range(times))

    # What it received

    def requests_to(self, operation: str) -> list[Received]:
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}")
        with self._lock:
            return [received for received in self.received if received.operation == operation]

    def operations(self) -> list[str | None]:
        """The operation of every request received, in order (None: a path LTIAAS does not serve)."""
        with self._lock:
            return [received.operation for received in self.received]

    @property
    def last(self) -> Received:
        assert self.received, "the fake LTIAAS received no request"
        return self.received[-1]

    # Life

    def reset(self) -> None:
        """Forget everything (requests, scripts, registrations, platforms); end any answer still
        held back for an earlier test."""
        with self._lock:
            self.received.clear()
            self._replies.clear()
            self._faults.clear()
            self._registrations.clear()
            self._platforms.clear()
            self.auto_activate_by_default = True
            self._stopping.set()
            self._stopping = threading.Event()

    def close(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    # Serving (called by the handler)

    def _take(self, received: Received) -> tuple[Reply | None, Fault | None, threading.Event]:
        """Record `received`; what answers it (a queued reply, a fault, or neither), and the
        event that ends this test's held-back answers."""
        with self._lock:
            self.received.append(received)
            if self._replies:
                return self._replies.popleft(), None, self._stopping
            pending = self._faults.get(received.operation or "")
            return None, (pending.popleft() if pending else None), self._stopping

    def _answer(self, received: Received) -> tuple[int, Any]:
        if received.operation is None:
            return 404, ltiaas_error(404, "NOT_FOUND", "No such endpoint.")
        if received.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, UNAUTHORIZED
        operation: Callable[[Received], tuple[int, Any]] = getattr(self, f"_{received.operation}")
        try:
            return operation(received)
        except ApiError as error:
            return error.status, error.body

    def _act(self, received: Received, acted: str) -> None:
        """Carry a completion out before its answer is lost (nothing, if it would have failed)."""
        with contextlib.suppress(ApiError):
            self._complete_registration(received, create_platform=acted == "completed")

    def _lms_refusal(self, received: Received, lms_status: int, lms_body: Any) -> tuple[int, Any]:
        with self._lock:
            registration = self._registrations.get(received.target or "")
        if registration is None or registration.status != "pending":
            return 404, REGISTRATION_NOT_FOUND
        return lms_refusal(lms_status, lms_body, str(registration.configuration.get("registration_endpoint")))

    def _error_body(self, status: int, operation: str | None) -> dict[str, Any]:
        if status == 401:
            return UNAUTHORIZED
        if status == 404:
            return REGISTRATION_NOT_FOUND if operation in _ON_REGISTRATIONS else PLATFORM_NOT_FOUND
        return ltiaas_error(status, _phrase(status).upper().replace(" ", "_"))

    # The operations: (status, body), or ApiError

    def _open_registration(self, registration_id: str | None) -> _Registration:
        registration = self._registrations.get(registration_id or "")
        if registration is None or registration.status != "pending":
            raise ApiError(REGISTRATION_NOT_FOUND)
        return registration

    def _get_registration(self, received: Received) -> tuple[int, Any]:
        with self._lock:
            registration = self._open_registration(received.target)
            configuration = json.loads(json.dumps(registration.configuration))
            token = registration.token
        if received.query.get("raw", [""])[-1].lower() == "true":
            return 200, {"openIdConfiguration": configuration, "registrationToken": token}
        platform = configuration.get(PLATFORM_CONFIGURATION) or {}
        return 200, {
            "url": configuration.get("issuer"),
            "familyCode": platform.get("product_family_code"),
            "version": platform.get("version"),
            "supportedScopes": configuration.get("scopes_supported") or [],
            "supportedMessages": platform.get("messages_supported") or [],
        }

    def _complete_registration(self, received: Received, *, create_platform: bool = True) -> tuple[int, Any]:
        name, auto_activate = _complete_options(received)
        with self._lock:
            registration = self._open_registration(received.target)
            if not create_platform:
                registration.status = "used"
                raise ApiError(ltiaas_error(500, "INTERNAL_SERVER_ERROR"))
            created = self._new_platform(registration.configuration, name, auto_activate)
            self._platforms[created["id"]] = created
            registration.status = "completed"
            registration.platform_id = created["id"]
        return 200, {"platformId": created["id"], "html": CLOSE_HTML}

    def _new_platform(
        self, configuration: dict[str, Any], name: str | None, auto_activate: bool | None
    ) -> dict[str, Any]:
        family = (configuration.get(PLATFORM_CONFIGURATION) or {}).get("product_family_code") or "platform"
        created = {
            "id": _platform_id(),
            "url": configuration["issuer"],
            "clientId": secrets.token_hex(8),  # the LMS's new client id
            "name": name or f"{family}_DynReg_{secrets.token_hex(16)}",  # ltijs's default name
            "authenticationEndpoint": configuration.get("authorization_endpoint", ""),
            "accesstokenEndpoint": configuration.get("token_endpoint", ""),
            "authConfig": {"method": "JWK_SET", "key": configuration.get("jwks_uri", "")},
            "publicKey": _public_key(),
            "active": self.auto_activate_by_default if auto_activate is None else auto_activate,
        }
        if isinstance(configuration.get("authorization_server"), str):
            created["authorizationServer"] = configuration["authorization_server"]
        return created

    def _list_platforms(self, received: Received) -> tuple[int, Any]:
        filters = {key: received.query[key][-1] for key in ("id", "url", "clientId") if key in received.query}
        with self._lock:
            found = [
                dict(platform)
                for platform in self._platforms.values()
                if all(platform.get(key) == value for key, value in filters.items() if value)
            ]
        return 200, {"platforms": found}

    def _platform(self, platform_id: str | None) -> dict[str, Any]:
        platform = self._platforms.get(platform_id or "")
        if platform is None:
            raise ApiError(PLATFORM_NOT_FOUND)
        return platform

    def _get_platform(self, received: Received) -> tuple[int, Any]:
        with self._lock:
            return 200, dict(self._platform(received.target))

    def _create_platform(self, received: Received) -> tuple[int, Any]:
        fields = _platform_fields(received)
        with self._lock:
            self._refuse_duplicate(fields)
            created = {"id": _platform_id(), "publicKey": _public_key(), "active": True, **fields}
            self._platforms[created["id"]] = created
            return 200, dict(created)

    def _update_platform(self, received: Received) -> tuple[int, Any]:
        with self._lock:
            platform = self._platform(received.target)
            fields = _platform_fields(received)
            self._refuse_duplicate(fields, except_id=platform["id"])
            platform.update(fields)
            return 200, dict(platform)

    def _delete_platform(self, received: Received) -> tuple[int, Any]:
        with self._lock:
            del self._platforms[self._platform(received.target)["id"]]
        return 204, None

    def _activate_platform(self, received: Received) -> tuple[int, Any]:
        with self._lock:
            platform = self._platform(received.target)
            platform["active"] = True
            return 200, dict(platform)

    def _deactivate_platform(self, received: Received) -> tuple[int, Any]:
        with self._lock:
            platform = self._platform(received.target)
            platform["active"] = False
            return 200, dict(platform)

    def _refuse_duplicate(self, fields: dict[str, Any], except_id: str | None = None) -> None:
        for platform in self._platforms.values():
            same = platform["url"] == fields["url"] and platform["clientId"] == fields["clientId"]
            if same and platform["id"] != except_id:
                raise ApiError(ALREADY_REGISTERED)

    def _route(self, method: str, path: str) -> tuple[str | None, str | None]:
        """(operation, the id in the path) for a request; (None, None) for a path LTIAAS does not serve."""
        segments = [unquote(segment) for segment in path.strip("/").split("/")]
        if segments[:2] == ["api", "registrations"] and len(segments) in {3, 4}:
            if len(segments) == 3 and method == "GET":
                return "get_registration", segments[2]
            if len(segments) == 4 and segments[3] == "complete" and method == "POST":
                return "complete_registration", segments[2]
            return None, None
        prefix = [unquote(segment) for segment in self.platforms_path.strip("/").split("/")]
        if segments[: len(prefix)] != prefix:
            return None, None
        rest = segments[len(prefix) :]
        by_method = {
            (0, "GET"): "list_platforms",
            (0, "POST"): "create_platform",
            (1, "GET"): "get_platform",
            (1, "PUT"): "update_platform",
            (1, "DELETE"): "delete_platform",
        }
        if len(rest) == 2 and method == "POST" and rest[1] in {"activate", "deactivate"}:
            return f"{rest[1]}_platform", rest[0]
        operation = by_method.get((len(rest), method))
        return (operation, rest[0] if rest else None) if operation else (None, None)


def _json_body(received: Received) -> Any:
    if not received.body:
        return None
    try:
        return json.loads(received.body)
    except ValueError:
        raise _bad_request("The body is not valid JSON.") from None


def _complete_options(received: Received) -> tuple[str | None, bool | None]:
    """(platformName, autoActivate) from complete's body, every field optional; 400 on a wrong type."""
    body = _json_body(received)
    body = {} if body is None else body
    if not isinstance(body, dict):
        raise _bad_request("The body must be a JSON object.")
    name = body.get("platformName")
    if name is not None and not isinstance(name, str):
        raise _bad_request("platformName must be a string.")
    auto_activate = body.get("autoActivate")
    if auto_activate is not None and not isinstance(auto_activate, bool):
        raise _bad_request("autoActivate must be a boolean.")
    messages = body.get("messages")
    if messages is not None and not _valid_messages(messages):
        raise _bad_request("messages must be a list of {type, placements?}.")
    return name or None, auto_activate


def _valid_messages(messages: Any) -> bool:
    if not isinstance(messages, list):
        return False
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return False
        placements = message.get("placements", [])
        if placements is not None and not (
            isinstance(placements, list) and all(isinstance(p, str) for p in placements)
        ):
            return False
    return True


def _platform_fields(received: Received) -> dict[str, Any]:
    """A PartialPlatform's fields, when its six core fields are all there and well-formed; else 400."""
    body = _json_body(received)
    if not isinstance(body, dict):
        raise _bad_request("The body must be a JSON object.")
    missing = [name for name in _CORE_FIELDS if not body.get(name)]
    if missing:
        raise _bad_request(f"Missing required fields: {', '.join(missing)}.")
    if not all(isinstance(body[name], str) for name in _CORE_FIELDS[:5]):
        raise _bad_request("url, clientId, name and the endpoints must be strings.")
    auth = body["authConfig"]
    if (
        not isinstance(auth, dict)
        or auth.get("method") not in _AUTH_METHODS
        or not isinstance(auth.get("key"), str)
    ):
        raise _bad_request("authConfig must be {method: JWK_SET | JWK_KEY | RSA_KEY, key}.")
    fields = {name: body[name] for name in _CORE_FIELDS}
    fields["authConfig"] = {"method": auth["method"], "key": auth["key"]}
    if isinstance(body.get("authorizationServer"), str):
        fields["authorizationServer"] = body["authorizationServer"]
    return fields


def _platform_id() -> str:
    """An id shaped like LTIAAS's, e.g. `A2F48n9Ss8Hjpw4gjo0`."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(19))


def _public_key() -> str:
    body = base64.b64encode(secrets.token_bytes(270)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join(["-----BEGIN PUBLIC KEY-----", *lines, "-----END PUBLIC KEY-----"])


def _registration_token() -> str:
    """A JWT-shaped token, as Moodle and Canvas send (so the log watch knows one if it leaks)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    signature = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part({'sub': 'reg', 'scope': 'reg'})}.{signature}"


def _handler_for(fake: FakeLtiaas) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            operation, target = fake._route(self.command, parts.path)
            received = Received(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={name.lower(): value for name, value in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
                operation=operation,
                target=target,
            )
            queued, fault, stopping = fake._take(received)
            if queued is not None:
                self._play(queued, stopping)
            else:
                self._act_out(received, fault, stopping)

        def _play(self, reply: Reply, stopping: threading.Event) -> None:
            if reply.delay:
                stopping.wait(reply.delay)
            if reply.drop:
                self._drop(reply.drop)
                return
            self._send(reply.status, reply.body, reply.headers)

        def _act_out(self, received: Received, fault: Fault | None, stopping: threading.Event) -> None:
            if fault is None:
                self._send(*fake._answer(received))
                return
            if fault.acted:
                fake._act(received, fault.acted)
            if fault.delay:
                stopping.wait(fault.delay)
            if fault.hang:
                stopping.wait(_LONGEST_HANG)
                self._drop("hang_up")
            elif fault.drop:
                self._drop(fault.drop)
            elif fault.lms_refuses is not None:
                self._send(*fake._lms_refusal(received, *fault.lms_refuses))
            elif fault.status is not None:
                default = fake._error_body(fault.status, received.operation)
                self._send(fault.status, default if fault.body is None else fault.body)
            elif stopping.is_set():  # held back past its test: act for nobody
                self._drop("hang_up")
            else:
                self._send(*fake._answer(received))

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            payload, content_type = _encoded(body)
            self.send_response(status)
            if status != 204:
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if status != 204:
                self.wfile.write(payload)

        def _drop(self, how: str) -> None:
            self.close_connection = True
            if how == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.wfile.close()
            self.connection.close()

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _encoded(body: Any) -> tuple[bytes, str]:
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        return body.encode(), "text/html; charset=utf-8"
    if body is None:
        return b"", "application/json"
    return json.dumps(body).encode(), "application/json"
