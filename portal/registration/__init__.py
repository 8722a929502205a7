"""The registration flow inside the LMS's iframe."""

from flask import Blueprint

bp = Blueprint("registration", __name__)
