"""Which Stripe.js the payment page loads and what it calls, decided in one place.

Stripe.js comes in releases named like the API versions (`2026-10-28.endive` -> `endive`,
served at `https://js.stripe.com/endive/stripe.js`); API versions without a name belong to the
legacy release at `https://js.stripe.com/v3/`. The page must load the release of the API
version the server speaks (stripe-python's pinned version) and call that release's Embedded
Checkout method, so the release, the URL and the method name all come from `stripe_js_for`.

Setting: STRIPE_JS_BASE (`https://js.stripe.com`; the sandbox and tests point it at the
stand-in, which serves the same paths).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

from flask import Flask, current_app

from portal.billing.stripe_gateway import PINNED_API_VERSION
from portal.config import STRIPE_JS_BASE, ConfigError

LEGACY_RELEASE = "v3"
# Embedded Checkout's entry point in each release this portal knows (reference: stripe.md).
EMBEDDED_CHECKOUT_METHODS = {
    LEGACY_RELEASE: "initEmbeddedCheckout",
    "dahlia": "createEmbeddedCheckoutPage",
    "endive": "createEmbeddedCheckoutPage",
}
# What Stripe's security guide asks the policy of a page with Stripe.js and Checkout to allow.
STRIPE_CSP: dict[str, tuple[str, ...]] = {
    "script-src": ("https://js.stripe.com", "https://*.js.stripe.com", "https://checkout.stripe.com"),
    "frame-src": (
        "https://js.stripe.com",
        "https://*.js.stripe.com",
        "https://hooks.stripe.com",
        "https://checkout.stripe.com",
        "https://link.com",
        "https://*.link.com",
    ),
    "connect-src": (
        "https://api.stripe.com",
        "https://checkout.stripe.com",
        "https://link.com",
        "https://*.link.com",
    ),
    "img-src": ("https://*.stripe.com",),
}
# A stand-in serves Stripe.js, its frames and nothing else from its own origin.
STAND_IN_DIRECTIVES = ("script-src", "frame-src", "connect-src")


@dataclass(frozen=True)
class StripeJs:
    """The Stripe.js the payment page loads (`url`) and the method it mounts Checkout with."""

    release: str
    url: str
    embedded_checkout_method: str

    @property
    def origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def csp_sources(self) -> dict[str, tuple[str, ...]]:
        """What the page's Content-Security-Policy must add: Stripe's list, or the stand-in's origin."""
        if self.origin == STRIPE_JS_BASE:
            return STRIPE_CSP
        return dict.fromkeys(STAND_IN_DIRECTIVES, (self.origin,))


def release_of(api_version: str) -> str:
    """`2026-10-28.endive` -> `endive`; a version without a release name -> the legacy `v3`."""
    _, dot, name = api_version.partition(".")
    return name if dot and name else LEGACY_RELEASE


def stripe_js_for(base: str, api_version: str = PINNED_API_VERSION) -> StripeJs:
    """The Stripe.js release matching `api_version`, served under `base`.

    :raise ConfigError: a release whose Embedded Checkout method this portal does not know.
    """
    release = release_of(api_version)
    method = EMBEDDED_CHECKOUT_METHODS.get(release)
    if method is None:
        raise ConfigError(
            f"Stripe API version {api_version} needs Stripe.js release {release!r}, which this "
            "portal does not know: add its Embedded Checkout method to portal/billing/stripe_js.py"
        )
    path = "/v3/" if release == LEGACY_RELEASE else f"/{release}/stripe.js"
    return StripeJs(release, base.rstrip("/") + path, method)


def init_stripe_js(app: Flask) -> None:
    app.extensions["stripe_js"] = stripe_js_for(app.config["STRIPE_JS_BASE"])


def get_stripe_js() -> StripeJs:
    return cast(StripeJs, current_app.extensions["stripe_js"])
