"""HTTP face of the LTIAAS stand-in, at LTIAAS's own paths: `/lti/register`, the API, the call log."""

from __future__ import annotations

import hmac
import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request
from werkzeug.wrappers import Response as BaseResponse

from portal.db import get_session
from portal.sandbox import calls, ltiaas_service, platforms
from portal.sandbox.api_errors import LtiaasApiError, unauthorized

register_bp = Blueprint("sandbox_ltiaas_register", __name__)
api_bp = Blueprint("sandbox_ltiaas_api", __name__, url_prefix="/api/registrations")
platforms_bp = Blueprint("sandbox_ltiaas_platforms", __name__)
calls_bp = Blueprint("sandbox_calls", __name__, url_prefix="/sandbox/api")


def _api_error(error: LtiaasApiError) -> tuple[Response, int]:
    return jsonify(error.body()), error.status


def _require_api_key() -> tuple[Response, int] | None:
    expected = f"Bearer {current_app.config['LTIAAS_API_KEY']}"
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return _api_error(unauthorized())
    return None


def _record(response: Response) -> Response:
    calls.record_call(
        current_app.extensions["db_sessionmaker"], request.method, request.path, response.status_code
    )
    return response


def _answer_late() -> None:
    """SANDBOX_LTIAAS_DELAY_MS: a slow LTIAAS, for the benchmark (every API call waits that long)."""
    delay_ms = current_app.config["SANDBOX_LTIAAS_DELAY_MS"]
    if delay_ms > 0:
        time.sleep(delay_ms / 1000)


for _bp in (register_bp, api_bp, platforms_bp):
    _bp.after_request(_record)
for _bp in (api_bp, platforms_bp):
    _bp.before_request(_answer_late)
    _bp.before_request(_require_api_key)
    _bp.register_error_handler(LtiaasApiError, _api_error)


def _json_body() -> Any:
    return request.get_json(silent=True)


@register_bp.route("/lti/register", methods=["GET", "POST"])
def register() -> BaseResponse | tuple[str, int]:
    """The LMS sends the admin's window here; on success, on to the intermediate target."""
    config = current_app.config
    try:
        registration = ltiaas_service.receive_registration(
            get_session(),
            request.values.get("openid_configuration"),
            request.values.get("registration_token"),
            lifetime=config["SANDBOX_REGISTRATION_LIFETIME"],
        )
    except ltiaas_service.RegisterError as error:
        return render_template("sandbox/register_error.html", message=error.message), error.status
    target = config["SANDBOX_INTERMEDIATE_TARGET"]
    separator = "&" if "?" in target else "?"
    return redirect(f"{target}{separator}registrationId={registration.id}", code=302)


@api_bp.get("/<registration_id>")
def get_registration(registration_id: str) -> dict[str, Any]:
    registration = ltiaas_service.open_registration(get_session(), registration_id)
    if request.args.get("raw", "").lower() == "true":
        return ltiaas_service.raw_registration(registration)
    return ltiaas_service.registration_details(registration)


@api_bp.post("/<registration_id>/complete")
def complete_registration(registration_id: str) -> dict[str, Any]:
    return ltiaas_service.complete_registration(
        get_session(),
        registration_id,
        _json_body(),
        portal_url=current_app.config["PORTAL_URL"],
        tool_name=current_app.config["BRAND_NAME"] or ltiaas_service.DEFAULT_CLIENT_NAME,
        auto_activate=current_app.config["SANDBOX_LTIAAS_AUTO_ACTIVATE"],
    )


@platforms_bp.get("")
def list_platforms() -> dict[str, Any]:
    found = platforms.list_platforms(
        get_session(),
        platform_id=request.args.get("id"),
        url=request.args.get("url"),
        client_id=request.args.get("clientId"),
    )
    return {"platforms": [platforms.platform_to_dict(p) for p in found]}


@platforms_bp.post("")
def create_platform() -> dict[str, Any]:
    return platforms.platform_to_dict(platforms.create_platform(get_session(), _json_body()))


@platforms_bp.get("/<platform_id>")
def get_platform(platform_id: str) -> dict[str, Any]:
    return platforms.platform_to_dict(platforms.get_platform(get_session(), platform_id))


@platforms_bp.put("/<platform_id>")
def replace_platform(platform_id: str) -> dict[str, Any]:
    return platforms.platform_to_dict(platforms.replace_platform(get_session(), platform_id, _json_body()))


@platforms_bp.delete("/<platform_id>")
def delete_platform(platform_id: str) -> tuple[str, int]:
    platforms.delete_platform(get_session(), platform_id)
    return "", 204


@platforms_bp.post("/<platform_id>/activate")
def activate_platform(platform_id: str) -> dict[str, Any]:
    return platforms.platform_to_dict(platforms.set_active(get_session(), platform_id, True))


@platforms_bp.post("/<platform_id>/deactivate")
def deactivate_platform(platform_id: str) -> dict[str, Any]:
    return platforms.platform_to_dict(platforms.set_active(get_session(), platform_id, False))


@calls_bp.get("/calls")
def list_calls() -> dict[str, Any]:
    """`?path_contains=` and `?method=` filter; no auth (the sandbox never runs in production)."""
    found = calls.list_calls(get_session(), request.args.get("path_contains"), request.args.get("method"))
    return {"calls": found}
