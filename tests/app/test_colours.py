"""WCAG 2.x colour maths, checked against pairs whose ratios are well known."""

from __future__ import annotations

import pytest

from portal.colours import BLACK, WHITE, Colour, contrast, reaching, readable_on


@pytest.mark.parametrize(
    ("foreground", "background", "ratio"),
    [
        ("#000000", "#ffffff", 21.0),
        ("#ffffff", "#ffffff", 1.0),
        ("#767676", "#ffffff", 4.54),  # the lightest grey that passes AA on white
        ("#777777", "#ffffff", 4.48),  # ... and the next one fails
        ("#595959", "#ffffff", 7.0),  # AAA
        ("#ff0000", "#ffffff", 4.0),
        ("#0000ff", "#ffffff", 8.59),
        ("#00ff00", "#000000", 15.3),
        ("#808080", "#000000", 5.32),
    ],
)
def test_contrast_ratios_match_the_known_wcag_pairs(foreground: str, background: str, ratio: float) -> None:
    assert contrast(Colour.parse(foreground), Colour.parse(background)) == pytest.approx(ratio, abs=0.01)
    assert contrast(Colour.parse(background), Colour.parse(foreground)) == pytest.approx(ratio, abs=0.01)


def test_relative_luminance_runs_from_black_to_white() -> None:
    assert BLACK.luminance == 0
    assert WHITE.luminance == pytest.approx(1)
    assert Colour.parse("#808080").luminance == pytest.approx(0.2159, abs=1e-4)


@pytest.mark.parametrize("text", ["#1F5FBF", "1f5fbf", " #1f5fbf "])
def test_hex_colours_are_read_in_any_case_with_or_without_the_hash(text: str) -> None:
    assert Colour.parse(text).hex == "#1f5fbf"


def test_three_digit_colours_double_each_digit() -> None:
    assert Colour.parse("#0af") == Colour(0x00, 0xAA, 0xFF)


@pytest.mark.parametrize("text", ["blue", "#12345", "#gggggg", "rgb(1,2,3)", ""])
def test_anything_else_is_not_a_colour(text: str) -> None:
    with pytest.raises(ValueError, match="not a hex colour"):
        Colour.parse(text)


@pytest.mark.parametrize(
    ("background", "text"),
    [("#ffffff", BLACK), ("#ffff00", BLACK), ("#000000", WHITE), ("#1f5fbf", WHITE), ("#e8590c", BLACK)],
)
def test_text_on_a_fill_is_black_or_white_whichever_reads_better(background: str, text: Colour) -> None:
    assert readable_on(Colour.parse(background)) == text


def test_black_or_white_reads_at_aa_on_the_hardest_fill() -> None:
    # Of all greys, the one as far from black as from white: about 4.58:1 to both.
    worst = min(
        (Colour(level, level, level) for level in range(256)),
        key=lambda grey: contrast(readable_on(grey), grey),
    )
    assert contrast(readable_on(worst), worst) >= 4.5


def test_a_light_accent_is_darkened_just_enough_to_read_on_white() -> None:
    yellow = Colour.parse("#ffcc00")
    shade = reaching(yellow, [WHITE], toward=BLACK)
    assert contrast(shade, WHITE) >= 4.5
    assert contrast(yellow, WHITE) < 4.5  # the accent itself does not read on white
    assert contrast(shade, WHITE) < 4.7  # just enough: not darker than it needs to be
    assert shade.red >= shade.green >= shade.blue  # still a yellowish brown, not grey


def test_an_accent_that_already_reads_is_kept() -> None:
    blue = Colour.parse("#1f5fbf")
    assert reaching(blue, [WHITE], toward=BLACK) == blue


def test_a_background_no_shade_can_reach_is_said() -> None:
    with pytest.raises(ValueError, match="reaches"):
        reaching(Colour.parse("#777777"), [Colour.parse("#101010")], toward=BLACK)
