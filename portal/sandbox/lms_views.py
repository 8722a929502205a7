"""HTTP face of the sandbox LMS (served on SANDBOX_LMS_URL, the other site) and the sandbox index."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, jsonify, redirect, render_template, request
from flask_wtf.csrf import generate_csrf
from werkzeug.wrappers import Response as BaseResponse

from portal.db import get_session
from portal.sandbox import lms_service
from portal.sandbox.lms_service import LmsRejected
from portal.sandbox.profiles import LMS_MOUNT, Profile, UnknownProfile, get_profile, playable_profiles
from portal.sandbox.profiles import unplayable_profiles as list_unplayable
from portal.security import add_csp_source
from portal.sessions import session_token

lms_bp = Blueprint("sandbox_lms", __name__, url_prefix=LMS_MOUNT)
index_bp = Blueprint("sandbox", __name__, url_prefix="/sandbox")


def _lms_url() -> str:
    return str(current_app.config["SANDBOX_LMS_URL"])


def _profile_or_404(name: str) -> Profile:
    try:
        return get_profile(name)
    except UnknownProfile:
        abort(404)


@index_bp.get("/")
def index() -> BaseResponse:
    return redirect(f"{_lms_url()}{LMS_MOUNT}/")


@lms_bp.get("/")
def admin_page() -> BaseResponse | str:
    """The LMS admin's "register a tool" page; always shown on the LMS's own origin."""
    if request.host != urlsplit(_lms_url()).netloc:
        return redirect(f"{_lms_url()}{LMS_MOUNT}/")
    portal_url = current_app.config["PORTAL_URL"]
    add_csp_source("frame-src", portal_url)
    target = urlsplit(current_app.config["SANDBOX_INTERMEDIATE_TARGET"])  # may be another server's
    add_csp_source("frame-src", f"{target.scheme}://{target.netloc}")
    return render_template(
        "sandbox/lms_admin.html",
        profiles=list(playable_profiles().values()),
        unplayable=list_unplayable(),
        default_register_url=f"{portal_url}/lti/register",
        portal_url=portal_url,
        lms_url=_lms_url(),
        csrf_token_value=generate_csrf(),
        session_token_value=session_token(),
        tools=[lms_service.tool_summary(t) for t in lms_service.list_tools(get_session())][-20:][::-1],
    )


@lms_bp.post("/attempts")
def start_attempt() -> tuple[Response, int] | dict[str, Any]:
    """Start a registration (CSRF-protected): JSON {profile, register_url?, refusal?} -> the window's URL.

    A non-empty `refusal` makes the LMS refuse this attempt's registration in those words.
    """
    body = request.get_json(silent=True) or {}
    try:
        profile = get_profile(str(body.get("profile", "")))
    except UnknownProfile:
        return jsonify({"error": "Unknown profile."}), 400
    register_url = str(body.get("register_url") or "").strip() or (
        f"{current_app.config['PORTAL_URL']}/lti/register"
    )
    if not register_url.startswith(("http://", "https://")):
        return jsonify({"error": "The register URL must start with http:// or https://."}), 400
    refusal = body.get("refusal") or None
    if refusal is not None and (not isinstance(refusal, str) or len(refusal) > lms_service.MAX_REFUSAL_CHARS):
        limit = lms_service.MAX_REFUSAL_CHARS
        return jsonify({"error": f"The refusal must be text of at most {limit} characters."}), 400
    started = lms_service.start_attempt(
        get_session(),
        profile,
        register_url,
        lms_url=_lms_url(),
        secret_key=current_app.config["SECRET_KEY"],
        refusal=refusal,
    )
    return started.to_dict()


@lms_bp.get("/api/tools")
def tools() -> dict[str, Any]:
    found = lms_service.list_tools(
        get_session(), profile=request.args.get("profile"), attempt=request.args.get("attempt")
    )
    return {"tools": [lms_service.tool_summary(tool) for tool in found]}


@lms_bp.route("/<profile_name>/<path:subpath>", methods=["GET", "POST"])
def lms_endpoint(profile_name: str, subpath: str) -> tuple[Response, int] | Response:
    """The profile's OpenID configuration (GET) and registration endpoint (POST), at its real paths."""
    profile = _profile_or_404(profile_name)
    path = f"/{subpath}"
    try:
        if request.method == "GET" and path == profile.openid_configuration_path:
            return jsonify(_configuration(profile))
        if request.method == "POST" and path == profile.registration_path():
            return jsonify(_register(profile))
    except LmsRejected as rejected:
        body, status = rejected.response(profile)
        if isinstance(body, str):  # Moodle sets no Content-Type: PHP's default
            return Response(body, status, content_type="text/html; charset=UTF-8")
        return jsonify(body), status
    abort(404)


def _configuration(profile: Profile) -> dict[str, Any]:
    return lms_service.serve_configuration(
        profile,
        _lms_url(),
        authorization=request.headers.get("Authorization"),
        user_agent=request.headers.get("User-Agent"),
        attempt=request.args.get(lms_service.ATTEMPT_PARAM),
        secret_key=current_app.config["SECRET_KEY"],
    )


def _register(profile: Profile) -> dict[str, Any]:
    return lms_service.register_tool(
        get_session(),
        profile,
        request.get_json(silent=True),
        authorization=request.headers.get("Authorization"),
        user_agent=request.headers.get("User-Agent"),
        attempt=request.args.get(lms_service.ATTEMPT_PARAM),
        secret_key=current_app.config["SECRET_KEY"],
    )
