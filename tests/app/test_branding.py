"""The vendor's brand: its settings, the sandbox's demo vendor, and what every page shows of it."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest
from flask import Flask
from markupsafe import Markup

from portal.branding import Brand, brand
from portal.colours import Colour
from portal.config import DEFAULT_ACCENT, DEMO_BRAND, ConfigError, finish_settings, settings_from_env
from tests.conftest import make_test_app

REAL_LTIAAS = {"LTIAAS_URL": "https://vendor.ltiaas.com", "LTIAAS_API_KEY": "k"}


def settings(**environ: str) -> dict:
    return finish_settings(settings_from_env(environ, "/srv/portal/instance"))


def a_brand(**changes: str) -> Brand:
    values = {
        "name": "Springfield Tools",
        "accent": Colour.parse("#1f5fbf"),
        "support_email": "help@springfield.example",
        "support_url": "",
        "logo": "",
        "logo_version": "",
        "theme_css": "",
        "theme_version": "",
    }
    values.update(changes)
    return Brand(**values)  # type: ignore[arg-type]


def test_the_sandbox_shows_a_demo_vendor_when_no_brand_is_set() -> None:
    config = settings()
    for name, value in DEMO_BRAND.items():
        assert config[name] == value


def test_other_tests_read_the_portals_own_words_without_the_demo_vendor() -> None:
    assert settings(PORTAL_ENV="testing")["BRAND_NAME"] == ""


def test_any_brand_setting_replaces_the_whole_demo_vendor() -> None:
    config = settings(BRAND_ACCENT="#123456")
    assert config["BRAND_NAME"] == ""
    assert config["BRAND_LOGO"] == ""
    assert config["BRAND_ACCENT"] == "#123456"


def test_without_the_sandbox_and_a_brand_the_portal_names_no_vendor() -> None:
    config = settings(**REAL_LTIAAS)
    assert (config["BRAND_NAME"], config["BRAND_LOGO"], config["BRAND_ACCENT"]) == ("", "", DEFAULT_ACCENT)


def test_an_accent_is_read_as_hex_in_any_case() -> None:
    assert settings(**REAL_LTIAAS, BRAND_ACCENT="FFCC00")["BRAND_ACCENT"] == "#ffcc00"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"BRAND_ACCENT": "blue"}, "BRAND_ACCENT must be a hex colour such as #1f5fbf, not 'blue'"),
        ({"BRAND_SUPPORT_EMAIL": "support"}, "BRAND_SUPPORT_EMAIL must be an e-mail address, not 'support'"),
        ({"BRAND_SUPPORT_URL": "help.example"}, "BRAND_SUPPORT_URL must be an http(s):// URL"),
        ({"BRAND_SUPPORT_URL": "javascript:alert(1)"}, "BRAND_SUPPORT_URL must be an http(s):// URL"),
        ({"BRAND_LOGO": "../secret.png"}, "BRAND_LOGO must be a URL or a file name in the instance folder"),
        ({"BRAND_LOGO": "logo.exe"}, "BRAND_LOGO must be an image (.gif, .jpeg, .jpg, .png, .svg, .webp)"),
    ],
)
def test_brand_settings_that_cannot_work_are_refused_in_one_line(environ: dict, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        settings(**REAL_LTIAAS, **environ)
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


def test_production_wants_https_for_the_support_page_and_the_logo() -> None:
    production = {
        "PORTAL_ENV": "production",
        "PORTAL_URL": "https://portal.vendor.example",
        "SECRET_KEY": "s" * 48,
        "DATABASE_URL": "postgresql+psycopg://portal@db/portal",
        **REAL_LTIAAS,
    }
    with pytest.raises(ConfigError, match="BRAND_SUPPORT_URL must be an https:// URL"):
        settings(**production, BRAND_SUPPORT_URL="http://help.example")
    with pytest.raises(ConfigError, match="BRAND_LOGO must be an https:// URL"):
        settings(**production, BRAND_LOGO="http://cdn.example/logo.svg")


def test_a_logo_file_that_is_not_in_the_instance_folder_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"BRAND_LOGO names 'no-such-logo\.png', but .* does not exist"):
        make_test_app(tmp_path, BRAND_LOGO="no-such-logo.png")


def test_texts_name_the_vendor() -> None:
    acme = a_brand(name="Acme Learning")
    assert acme.named("The tool's vendor sees this payment.") == "Acme Learning sees this payment."
    assert acme.named("contact the tool's vendor") == "contact Acme Learning"
    assert acme.named("This tool's vendor creates accounts") == "Acme Learning creates accounts"
    assert acme.named("the tool's staff review it") == "Acme Learning's staff review it"
    assert acme.named("Waiting for the vendor's approval") == "Waiting for Acme Learning's approval"
    assert a_brand(name="").named("contact the tool's vendor") == "contact the tool's vendor"


def test_pages_link_contact_the_vendor_to_the_support_contact_but_never_inside_a_tag() -> None:
    acme = a_brand(name="Acme <Learning>", support_url="https://acme.example/help")
    page = Markup(
        '<p title="the tool&#39;s vendor">If it keeps happening, contact the tool&#39;s vendor.</p>'
        "<p>The tool&#39;s vendor sees it.</p>"
    )
    named = str(acme.named_markup(page))
    assert '<p title="the tool&#39;s vendor">' in named
    assert (
        'contact <a href="https://acme.example/help" class="support-link">Acme &lt;Learning&gt;</a>.' in named
    )
    assert "<p>Acme &lt;Learning&gt; sees it.</p>" in named


def test_what_a_person_typed_in_a_textarea_is_left_as_typed() -> None:
    acme = a_brand(name="Acme", support_url="https://acme.example/help")
    page = Markup("<textarea>Please contact the tool's vendor</textarea><p>contact the tool's vendor</p>")
    named = str(acme.named_markup(page))
    assert "<textarea>Please contact the tool's vendor</textarea>" in named
    assert '<p>contact <a href="https://acme.example/help" class="support-link">Acme</a></p>' in named


def test_without_a_support_contact_nothing_becomes_a_link() -> None:
    acme = a_brand(name="Acme", support_email="")
    assert str(acme.named_markup(Markup("<p>contact the tool's vendor</p>"))) == "<p>contact Acme</p>"


def test_every_page_shows_the_demo_vendor_and_its_support_contact(tmp_path: Path) -> None:
    app = make_test_app(tmp_path, **DEMO_BRAND)
    page = app.test_client().get("/").get_data(as_text=True)
    assert '<span class="brand-name" id="brand-name">Acme Learning</span>' in page
    assert 'src="/static/img/acme-learning.svg"' in page
    assert 'href="mailto:support@acme-learning.example"' in page
    assert f'href="/brand/theme.css?v={brand_of(app).theme_version}"' in page
    app.extensions["db_engine"].dispose()


def test_a_problem_page_names_the_vendor_and_links_its_support_page(tmp_path: Path) -> None:
    app = make_test_app(
        tmp_path,
        BRAND_NAME="Springfield Tools",
        BRAND_SUPPORT_URL="https://springfield.example/help",
        BRAND_ACCENT="#ffcc00",
    )
    # No LTIAAS answers at this test app's address: "... If it keeps happening, contact the tool's vendor."
    page = app.test_client().get("/intermediate-target?registrationId=a-registration")
    text = page.get_data(as_text=True)
    assert page.status_code == 503
    link = '<a href="https://springfield.example/help" class="support-link">Springfield Tools</a>'
    assert f"contact {link}" in text
    assert "the tool&#39;s vendor" not in text
    assert 'id="support-url"' in text
    app.extensions["db_engine"].dispose()


def test_the_theme_is_served_for_the_accent_and_cached_while_its_version_holds(tmp_path: Path) -> None:
    app = make_test_app(tmp_path, BRAND_ACCENT="#ffcc00")
    client = app.test_client()
    version = brand_of(app).theme_version
    versioned = client.get(f"/brand/theme.css?v={version}")
    assert versioned.status_code == 200
    assert versioned.mimetype == "text/css"
    assert "--brand: #ffcc00;" in versioned.get_data(as_text=True)
    assert "immutable" in versioned.headers["Cache-Control"]
    assert client.get("/brand/theme.css?v=old").headers["Cache-Control"] == "no-cache"
    app.extensions["db_engine"].dispose()


def test_a_logo_in_the_instance_folder_is_served_by_the_portal(tmp_path: Path) -> None:
    probe = make_test_app(tmp_path)
    name = f"test-logo-{uuid4().hex[:8]}.svg"
    logo = Path(probe.instance_path) / name
    probe.extensions["db_engine"].dispose()
    logo.parent.mkdir(parents=True, exist_ok=True)
    logo.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>')
    try:
        app = make_test_app(tmp_path, BRAND_NAME="Springfield Tools", BRAND_LOGO=name)
        client = app.test_client()
        page = client.get("/").get_data(as_text=True)
        src = brand_of(app).logo_src()
        assert src.startswith("/brand/logo?v=")
        assert f'src="{src}"' in page
        with client.get(src) as served:
            assert served.status_code == 200
            assert served.mimetype == "image/svg+xml"
        assert brand_of(app).logo_src("https://portal.example") == f"https://portal.example{src}"
        app.extensions["db_engine"].dispose()
    finally:
        logo.unlink()


def test_a_logo_from_another_site_is_allowed_by_the_pages_csp(tmp_path: Path) -> None:
    app = make_test_app(tmp_path, BRAND_LOGO="https://cdn.vendor.example/logo.png")
    response = app.test_client().get("/")
    assert "img-src 'self' data: https://cdn.vendor.example" in response.headers["Content-Security-Policy"]
    assert 'src="https://cdn.vendor.example/logo.png"' in response.get_data(as_text=True)
    assert app.test_client().get("/brand/logo").status_code == 404
    app.extensions["db_engine"].dispose()


def test_python_code_reads_the_brand_as_one_object(tmp_path: Path) -> None:
    app = make_test_app(tmp_path, **DEMO_BRAND)
    with app.app_context():
        assert brand().name == "Acme Learning"
        assert brand().support_link == "mailto:support@acme-learning.example"
        assert brand().vendor == "Acme Learning"
    app.extensions["db_engine"].dispose()


def test_without_a_brand_the_texts_keep_their_own_words(app: Flask) -> None:
    with app.app_context():
        assert brand().vendor == "the tool's vendor"
        assert brand().support_link == ""
    page = app.test_client().get("/").get_data(as_text=True)
    assert 'id="brand-name"' not in page
    assert 'id="support"' not in page


def brand_of(app: Flask) -> Brand:
    with app.app_context():
        return brand()


def test_pages_name_the_vendor_in_every_phrase_and_leave_other_text_as_it_was() -> None:
    acme = a_brand(name="Acme", support_email="")
    page = Markup("<p>The tool&#39;s staff review it.</p><p>Waiting for the vendor&#39;s approval.</p>")
    untouched = Markup("<p>Nothing to name here: the tool&#39;s settings.</p>")

    assert (
        str(acme.named_markup(page))
        == "<p>Acme&#39;s staff review it.</p><p>Waiting for Acme&#39;s approval.</p>"
    )
    assert acme.named_markup(untouched) == untouched
