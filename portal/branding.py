"""The vendor's brand: name, logo, accent colour and support contact, as one object.

`brand()` gives it to Python code (notification texts, e-mails); templates have it as the
global `brand`. The accent's whole palette is served as `/brand/theme.css` (see
`portal.theme`), a logo kept in the instance folder as `/brand/logo`.

Texts are written with the words "the tool's vendor"; `Brand.named` (and the
`vendor_named` filter, which base.html applies to every page's content) puts the vendor's
name in their place, and turns "contact the tool's vendor" into a link to the support contact.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, abort, current_app, request, send_from_directory
from markupsafe import Markup, escape

from portal.colours import Colour
from portal.config import ConfigError
from portal.security import add_csp_source
from portal.theme import stylesheet

bp = Blueprint("branding", __name__, url_prefix="/brand")

# A long cache for the versioned URLs (`?v=` changes whenever their content does).
_FOREVER = "public, max-age=31536000, immutable"
_VENDOR = "the tool's vendor"


@dataclass(frozen=True)
class Brand:
    """What the pages and texts show of the vendor; empty strings for what is not set."""

    name: str
    accent: Colour
    support_email: str
    support_url: str
    logo: str  # an https:// URL, a path on the portal ("/..."), or a file name in the instance folder
    logo_version: str  # changes with the instance file's content
    theme_css: str
    theme_version: str

    @property
    def vendor(self) -> str:
        """How texts name the vendor: its name, or "the tool's vendor"."""
        return self.name or _VENDOR

    def subject(self, title: str) -> str:
        """An e-mail's subject: `title` after the vendor's name in brackets, when it has one, so a
        reader of several vendors' mail (or a vendor running several brands) tells them apart."""
        return f"[{self.name}] {title}" if self.name else title

    @property
    def support_link(self) -> str:
        """Where "contact the tool's vendor" points: the support page, else a mailto:, else ""."""
        if self.support_url:
            return self.support_url
        return f"mailto:{self.support_email}" if self.support_email else ""

    @property
    def has_support(self) -> bool:
        return bool(self.support_url or self.support_email)

    @property
    def logo_is_file(self) -> bool:
        return bool(self.logo) and not _is_url_or_path(self.logo)

    def logo_src(self, portal_url: str = "") -> str:
        """The logo's URL for an `<img>` (absolute with `portal_url`, e.g. in an e-mail), or ""."""
        if not self.logo:
            return ""
        if self.logo.startswith(("https://", "http://")):
            return self.logo
        path = f"/brand/logo?v={self.logo_version}" if self.logo_is_file else self.logo
        return portal_url + path

    def named(self, text: str) -> str:
        """Plain `text` with "the tool's vendor" (and "the vendor's ...") naming the vendor."""
        for pattern, words in _naming(self.name, "'"):
            text = pattern.sub(words, text)
        return text

    @functools.cached_property
    def _markup_rules(self) -> tuple[Rule, ...]:
        """`named_markup`'s rules: the name escaped, "contact the tool's vendor" a link if it can be."""
        rules = list(_naming(str(escape(self.name)), "&#39;"))
        if self.support_link:
            link = Markup('<a href="{}" class="support-link">{}</a>').format(self.support_link, self.vendor)
            rules.insert(0, (_CONTACT, lambda match: f"{match.group(1)} {link}"))
        return tuple(rules)

    def named_markup(self, html: Markup | str) -> Markup:
        """Rendered HTML naming the vendor, "contact the tool's vendor" linking the support contact.

        Only the text between tags changes, never a tag, an attribute, or what a textarea,
        a script or a style holds.
        """
        source = html if isinstance(html, Markup) else escape(html)
        rules = self._markup_rules
        text = str(source)
        # Every page passes through here, and most of its text holds no word a rule could change.
        if not rules or not _may_name(text):
            return source
        parts = _TAG.split(text)
        verbatim = ""  # inside a textarea, a script or a style: what a person typed, or code
        for index, part in enumerate(parts):
            if index % 2:  # a tag
                opening = _VERBATIM.match(part)
                if opening and not verbatim:
                    verbatim = opening.group(2).lower() if not opening.group(1) else ""
                elif opening and opening.group(1) and opening.group(2).lower() == verbatim:
                    verbatim = ""
            elif not verbatim and _may_name(part):
                for pattern, words in rules:
                    part = pattern.sub(words, part)
                parts[index] = part
        return Markup("".join(parts))  # noqa: S704 - escaped HTML, with escaped names and our link


_APOSTROPHE = "(?:'|&#39;|&#x27;)"
_VERBATIM = re.compile(r"<(/?)(textarea|script|style)\b", re.IGNORECASE)
_TAG = re.compile(r"(<[^>]*>)")
_CONTACT = re.compile(rf"\b([Cc]ontact) the tool{_APOSTROPHE}s vendor\b")
Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]


def _may_name(text: str) -> bool:
    """Whether `text` may hold a phrase the naming rules change (each holds "vendor" or "staff")."""
    return "vendor" in text or "staff" in text


@functools.lru_cache(maxsize=16)
def _naming(name: str, apostrophe: str) -> tuple[Rule, ...]:
    """Rules that put `name` where texts say "the tool's vendor"; none without a name."""
    if not name:
        return ()
    possessive = f"{name}{apostrophe}s"
    return (
        (re.compile(rf"\b[Tt]h(?:is|e) tool{_APOSTROPHE}s vendor\b"), lambda _: name),
        (re.compile(rf"\b[Tt]he (?:tool|vendor){_APOSTROPHE}s staff\b"), lambda _: f"{possessive} staff"),
        (re.compile(rf"\b[Tt]he vendor{_APOSTROPHE}s\b"), lambda _: possessive),
    )


def _is_url_or_path(logo: str) -> bool:
    return logo.startswith(("https://", "http://", "/"))


def brand() -> Brand:
    """The running app's brand."""
    found: Brand = current_app.extensions["brand"]
    return found


def _load(app: Flask) -> Brand:
    config = app.config
    logo = str(config["BRAND_LOGO"])
    logo_version = ""
    if logo and not _is_url_or_path(logo):
        path = Path(app.instance_path) / logo
        if not path.is_file():
            raise ConfigError(f"BRAND_LOGO names {logo!r}, but {path} does not exist")
        logo_version = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    accent = Colour.parse(str(config["BRAND_ACCENT"]))
    css = stylesheet(accent)
    return Brand(
        name=str(config["BRAND_NAME"]),
        accent=accent,
        support_email=str(config["BRAND_SUPPORT_EMAIL"]),
        support_url=str(config["BRAND_SUPPORT_URL"]),
        logo=logo,
        logo_version=logo_version,
        theme_css=css,
        theme_version=hashlib.sha256(css.encode()).hexdigest()[:12],
    )


@bp.get("/theme.css")
def theme() -> Response:
    current = brand()
    response = Response(current.theme_css, mimetype="text/css")
    _cache(response, request.args.get("v") == current.theme_version)
    return response


@bp.get("/logo")
def logo() -> Response:
    current = brand()
    if not current.logo_is_file:
        abort(404)
    response = send_from_directory(current_app.instance_path, current.logo)
    _cache(response, request.args.get("v") == current.logo_version)
    return response


def _cache(response: Response, versioned: bool) -> None:
    response.headers["Cache-Control"] = _FOREVER if versioned else "no-cache"


def _allow_logo_origin() -> None:
    """An https:// logo is an image from another origin: this response's CSP allows it."""
    logo = brand().logo
    if logo.startswith(("https://", "http://")):
        parts = urlsplit(logo)
        add_csp_source("img-src", f"{parts.scheme}://{parts.netloc}")


def init_branding(app: Flask) -> None:
    """Check the logo file, and give templates `brand` and the `vendor_named` filter."""
    current = _load(app)
    app.extensions["brand"] = current
    app.jinja_env.globals["brand"] = current
    app.jinja_env.filters["vendor_named"] = current.named_markup
    app.register_blueprint(bp)
    if current.logo.startswith(("https://", "http://")):
        app.before_request(_allow_logo_origin)
