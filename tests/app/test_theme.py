"""The theme: every text colour reads at AA on its background, light and dark, whatever the accent."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.colours import BLACK, WHITE, Colour, contrast
from portal.config import DEFAULT_ACCENT
from portal.theme import scheme, shortfalls, stylesheet

ACCENTS = ["#1f5fbf", "#0f766e", "#ffff00", "#ffffff", "#000000", "#e8590c", "#777777", "#00ff00", "#ff00ff"]


@pytest.mark.parametrize("accent", ACCENTS)
@pytest.mark.parametrize("name", ["light", "dark"])
def test_every_pair_reaches_aa_for_hard_accents(name: str, accent: str) -> None:
    assert shortfalls(scheme(name, Colour.parse(accent))) == []


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=0xFFFFFF), st.sampled_from(["light", "dark"]))
def test_every_pair_reaches_aa_for_any_accent(value: int, name: str) -> None:
    assert shortfalls(scheme(name, Colour.parse(f"#{value:06x}"))) == []


def test_a_readable_accent_is_used_as_it_is() -> None:
    light = scheme("light", Colour.parse(DEFAULT_ACCENT))
    assert light.colours["accent"].hex == DEFAULT_ACCENT
    assert light.colours["brand"].hex == DEFAULT_ACCENT
    assert light.colours["on-brand"] == WHITE


def test_a_light_accent_fills_buttons_as_it_is_with_dark_text_and_links_in_a_darker_shade() -> None:
    yellow = Colour.parse("#ffdd00")
    light = scheme("light", yellow)
    assert light.colours["brand"] == yellow
    assert light.colours["on-brand"] == BLACK
    assert light.colours["accent"] != yellow
    assert contrast(light.colours["accent"], light.colours["card"]) >= 4.5


def test_a_dark_accent_is_lightened_for_links_on_dark_pages() -> None:
    navy = Colour.parse("#001f5c")
    dark = scheme("dark", navy)
    assert dark.colours["accent"].luminance > navy.luminance
    assert contrast(dark.colours["accent"], dark.colours["card"]) >= 4.5


def test_the_stylesheet_has_both_schemes_and_lets_a_page_stay_light() -> None:
    css = stylesheet(Colour.parse("#0f766e"))
    assert "--brand: #0f766e;" in css
    assert "@media (prefers-color-scheme: dark)" in css
    assert ':root:not([data-scheme="light"])' in css
    light_part, dark_part = css.split("@media")
    assert re.search(r"--card: #ffffff;", light_part)
    assert re.search(r"--card: #181d25;", dark_part)
