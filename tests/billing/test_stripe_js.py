"""Which Stripe.js the payment page loads: the release of the API version stripe-python pins,
its URL and its Embedded Checkout method from one place; and the stand-in imitating each release."""

from __future__ import annotations

import pytest
import requests
import stripe

from portal.billing.stripe_js import release_of, stripe_js_for
from portal.config import ConfigError, finish_settings, settings_from_env


def test_the_page_loads_the_release_of_the_api_version_stripe_python_pins() -> None:
    pinned = stripe_js_for("https://js.stripe.com")
    assert pinned == stripe_js_for("https://js.stripe.com", stripe.api_version)  # read from the library
    assert pinned.release == "endive"
    assert pinned.url == "https://js.stripe.com/endive/stripe.js"
    assert pinned.embedded_checkout_method == "createEmbeddedCheckoutPage"


@pytest.mark.parametrize(
    ("api_version", "url", "method"),
    [
        ("2026-04-22.dahlia", "https://js.stripe.com/dahlia/stripe.js", "createEmbeddedCheckoutPage"),
        ("2024-06-20", "https://js.stripe.com/v3/", "initEmbeddedCheckout"),
    ],
)
def test_the_url_and_the_method_come_from_the_same_release(api_version: str, url: str, method: str) -> None:
    release = stripe_js_for("https://js.stripe.com/", api_version)
    assert (release.url, release.embedded_checkout_method) == (url, method)


def test_a_release_the_portal_does_not_know_stops_it_from_starting() -> None:
    assert release_of("2027-04-28.flannel") == "flannel"
    with pytest.raises(ConfigError, match="flannel"):
        stripe_js_for("https://js.stripe.com", "2027-04-28.flannel")


def test_the_stand_in_is_served_at_stripes_paths() -> None:
    assert stripe_js_for("http://localhost:5000/sandbox/stripe/js").url == (
        "http://localhost:5000/sandbox/stripe/js/endive/stripe.js"
    )


def production_settings(**extra: str) -> dict:
    environ = {
        "PORTAL_ENV": "production",
        "PORTAL_URL": "https://portal.vendor.example",
        "SECRET_KEY": "s" * 48,
        "LTIAAS_URL": "https://vendor.ltiaas.com",
        "LTIAAS_API_KEY": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
        "DATABASE_URL": "postgresql+psycopg://portal@db/portal",
        "STRIPE_PRICE_ID": "price_1PgafmB7WZ01zgkW6dKueIc5",
        "STRIPE_SECRET_KEY": "sk_live_51NzQRsLkdIwHu7ixAbCdEf",
        "STRIPE_PUBLISHABLE_KEY": "pk_live_51NzQRsLkdIwHu7ixZyXwVu",
        "STRIPE_WEBHOOK_SECRET": "whsec_9f86d081884c7d659a2feaa0c55ad015",
        **extra,
    }
    return finish_settings(settings_from_env(environ, "/srv/portal/instance"))


def test_production_loads_stripe_js_from_stripe_only() -> None:
    assert production_settings()["STRIPE_JS_BASE"] == "https://js.stripe.com"
    assert production_settings(STRIPE_JS_BASE="https://js.stripe.com/")["STRIPE_JS_BASE"] == (
        "https://js.stripe.com"
    )
    with pytest.raises(ConfigError, match="STRIPE_JS_BASE"):
        production_settings(STRIPE_JS_BASE="https://cdn.example.com/stripe")


def stand_in_script(live, path: str) -> requests.Response:
    return requests.get(f"{live.url}/sandbox/stripe/js/{path}", timeout=10)


@pytest.mark.parametrize(
    ("path", "has", "lacks"),
    [
        ("endive/stripe.js", "createEmbeddedCheckoutPage", "initEmbeddedCheckout"),
        ("dahlia/stripe.js", "createEmbeddedCheckoutPage", "initEmbeddedCheckout"),
        ("v3/", "initEmbeddedCheckout", "createEmbeddedCheckoutPage"),
    ],
)
def test_the_stand_in_imitates_the_release_it_is_served_as(billing, path: str, has: str, lacks: str) -> None:
    script = stand_in_script(billing, path)
    assert script.status_code == 200
    assert script.headers["Content-Type"].startswith("text/javascript")
    imitated = f'"embeddedCheckout": "{has}"'
    assert imitated in script.text and f'"embeddedCheckout": "{lacks}"' not in script.text


@pytest.mark.parametrize("path", ["flannel/stripe.js", "v3/stripe.js", "basil/stripe.js"])
def test_a_release_the_stand_in_does_not_imitate_is_not_found(billing, path: str) -> None:
    assert stand_in_script(billing, path).status_code == 404
