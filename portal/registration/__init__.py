"""The registration flow inside the LMS's iframe."""

from flask import Blueprint

from portal.sessions import carry_session_token

bp = Blueprint("registration", __name__)
# Every URL of the flow carries the session token until the cookie is known to work.
carry_session_token(bp)

from portal.registration import views  # noqa: E402, F401 - registers the routes
