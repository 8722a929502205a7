"""Absolute links into the portal for someone outside the current request: a notification to the
staff, a one-time link a staff member passes on.

Built on PORTAL_URL (the portal's public address), not on the request's host, and
without the flow's session token (`url_defaults` are skipped on purpose): such a
link must carry no secret it was not made to carry.
"""

from __future__ import annotations

from typing import Any

from flask import current_app


def portal_url(endpoint: str, **values: Any) -> str:
    """`PORTAL_URL` + the path of `endpoint`; works with or without a request."""
    path = current_app.url_map.bind("portal.invalid").build(endpoint, values)
    return f"{current_app.config['PORTAL_URL']}{path}"
