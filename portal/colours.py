"""Colour maths of WCAG 2.x: relative luminance, contrast ratio, and shades that reach a contrast.

The theme derives every accent colour it shows from the vendor's one accent with these, so
that text stays readable (AA: 4.5:1) whatever accent is chosen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

AA_TEXT = 4.5  # WCAG 2.x, 1.4.3: normal text
AA_NON_TEXT = 3.0  # WCAG 2.x, 1.4.11: focus rings, borders of controls

_HEX = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


@dataclass(frozen=True)
class Colour:
    """An sRGB colour, each channel 0-255."""

    red: int
    green: int
    blue: int

    @classmethod
    def parse(cls, text: str) -> Colour:
        """`#rrggbb` or `#rgb` (the `#` may be left out); raises ValueError otherwise."""
        match = _HEX.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"not a hex colour: {text!r}")
        digits = match.group(1)
        if len(digits) == 3:
            digits = "".join(digit * 2 for digit in digits)
        return cls(int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))

    @property
    def hex(self) -> str:
        return f"#{self.red:02x}{self.green:02x}{self.blue:02x}"

    @property
    def luminance(self) -> float:
        """Relative luminance as WCAG 2.x defines it: 0 (black) to 1 (white)."""
        red, green, blue = (_linear(channel) for channel in (self.red, self.green, self.blue))
        return 0.2126 * red + 0.7152 * green + 0.0722 * blue

    def mix(self, other: Colour, amount: float) -> Colour:
        """This colour moved `amount` (0 to 1) of the way to `other`, channel by channel."""
        return Colour(
            round(self.red + (other.red - self.red) * amount),
            round(self.green + (other.green - self.green) * amount),
            round(self.blue + (other.blue - self.blue) * amount),
        )


BLACK = Colour(0, 0, 0)
WHITE = Colour(255, 255, 255)


def _linear(channel: int) -> float:
    value = channel / 255
    # WCAG 2.2 corrected 2.0's 0.03928 to sRGB's 0.04045; no 8-bit value lies between the two.
    return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4


def contrast(first: Colour, second: Colour) -> float:
    """The contrast ratio of two colours, 1 to 21, whichever is lighter."""
    lighter, darker = sorted((first.luminance, second.luminance), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def readable_on(background: Colour) -> Colour:
    """Black or white, whichever contrasts more with `background`.

    One of the two always reaches at least 4.58:1 (the worst background, of luminance
    about 0.18, is as far from one as from the other), so text on any fill passes AA.
    """
    return WHITE if contrast(WHITE, background) >= contrast(BLACK, background) else BLACK


def reaching(
    colour: Colour, backgrounds: Iterable[Colour], toward: Colour, minimum: float = AA_TEXT
) -> Colour:
    """The least change of `colour` toward `toward` (black or white) that contrasts at least
    `minimum` with every background; `colour` itself when it already does.

    Mixing toward black only darkens (toward white only lightens), so once the contrast with
    a background lighter than `toward`'s side is reached it stays reached. Raises ValueError
    when even `toward` itself falls short (a background too close to it).
    """
    grounds = list(backgrounds)
    steps = 256
    for step in range(steps + 1):
        candidate = colour.mix(toward, step / steps)
        if all(contrast(candidate, ground) >= minimum for ground in grounds):
            return candidate
    raise ValueError(f"no shade of {colour.hex} toward {toward.hex} reaches {minimum}:1")
