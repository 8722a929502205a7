"""Behind a reverse proxy: whose address and which scheme a request really has.

With TRUSTED_PROXIES = n > 0, Werkzeug's ProxyFix takes the client's address and the scheme
from the last n entries of `X-Forwarded-For` and `X-Forwarded-Proto` (the ones your own
proxies added), so the per-address rate limit and the logs see the client, not the proxy.
With 0 (the default) those headers are ignored: anyone can send them.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def trust_proxies(app: Flask) -> None:
    hops = app.config["TRUSTED_PROXIES"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
