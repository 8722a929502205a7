"""The colours of every page, light and dark, derived from the vendor's accent: `theme.css`.

The neutral colours are fixed and checked (tests/app/test_theme.py); each colour made from the
accent is derived so that the text drawn with it or on it reaches WCAG AA whatever the accent:

- `--brand` is the accent itself, for filled buttons and the current step; the text on it
  (`--on-brand`) is black or white, whichever reads better (one always reaches 4.5:1).
- `--accent` is the accent darkened (light scheme) or lightened (dark scheme) just enough to
  read at 4.5:1 on every background it is drawn on: links, tags, focus rings, borders.
- `--accent-soft` is a tint of the card for notices and tags.

So no accent is refused: any `#rrggbb` yields a readable theme.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.colours import AA_NON_TEXT, AA_TEXT, BLACK, WHITE, Colour, contrast, reaching, readable_on

NEUTRALS: dict[str, dict[str, str]] = {
    "light": {
        "text": "#1d2430",
        "muted": "#5a6475",
        "bg": "#f4f6f9",
        "card": "#ffffff",
        "border": "#d5dbe4",
        "field-border": "#7b8597",
        "ok": "#1b7a43",
        "ok-soft": "#e6f4ec",
        "warn": "#8a5a00",
        "warn-soft": "#fff5dc",
        "error": "#b42318",
        "error-soft": "#fdecea",
    },
    "dark": {
        "text": "#e6e9ef",
        "muted": "#a7b0bf",
        "bg": "#0f1318",
        "card": "#181d25",
        "border": "#353d4a",
        "field-border": "#7c8698",
        "ok": "#6bcf94",
        "ok-soft": "#132a1d",
        "warn": "#e9b949",
        "warn-soft": "#2e250f",
        "error": "#ff8f85",
        "error-soft": "#3b1916",
    },
}

# How far the card colour moves toward the accent to make the soft tint.
_SOFT_TINT = {"light": 0.1, "dark": 0.2}
# How far a filled button moves when hovered: darker on light pages, lighter on dark ones.
_STRONG_SHIFT = 0.15

# (foreground, background) pairs the stylesheets draw text with: each must reach 4.5:1.
TEXT_PAIRS: list[tuple[str, str]] = [
    *[("text", ground) for ground in ("bg", "card", "accent-soft", "ok-soft", "warn-soft", "error-soft")],
    *[("muted", ground) for ground in ("bg", "card", "accent-soft", "ok-soft", "warn-soft", "error-soft")],
    *[("accent", ground) for ground in ("bg", "card", "accent-soft")],
    ("ok", "card"),
    ("ok", "ok-soft"),
    ("warn", "card"),
    ("warn", "warn-soft"),
    ("error", "card"),
    ("error", "error-soft"),
    ("on-brand", "brand"),
    ("on-brand-strong", "brand-strong"),
    ("on-accent", "accent"),
    ("on-error", "error"),
    ("on-error-strong", "error-strong"),
]
# (foreground, background) pairs of controls and focus rings: each must reach 3:1.
NON_TEXT_PAIRS: list[tuple[str, str]] = [
    ("field-border", "card"),
    ("focus-ring", "card"),
    ("focus-ring", "bg"),
]


@dataclass(frozen=True)
class Scheme:
    """One colour scheme ("light" or "dark"): custom property name (without `--`) -> colour."""

    name: str
    colours: dict[str, Colour]

    def ratio(self, foreground: str, background: str) -> float:
        return contrast(self.colours[foreground], self.colours[background])


def scheme(name: str, accent: Colour) -> Scheme:
    """The whole palette of scheme `name` for this accent."""
    colours = {key: Colour.parse(value) for key, value in NEUTRALS[name].items()}
    toward = BLACK if name == "light" else WHITE
    card, bg = colours["card"], colours["bg"]
    soft = _tint(card, accent, _SOFT_TINT[name], readable=[colours["text"], colours["muted"]])
    readable_accent = reaching(accent, [card, bg, soft], toward=toward, minimum=AA_TEXT)
    brand_strong = accent.mix(toward, _STRONG_SHIFT)
    error_strong = colours["error"].mix(toward, _STRONG_SHIFT)
    colours.update(
        {
            "brand": accent,
            "on-brand": readable_on(accent),
            "brand-strong": brand_strong,
            "on-brand-strong": readable_on(brand_strong),
            "accent": readable_accent,
            "on-accent": readable_on(readable_accent),
            "accent-soft": soft,
            "focus-ring": readable_accent,
            "on-error": readable_on(colours["error"]),
            "error-strong": error_strong,
            "on-error-strong": readable_on(error_strong),
        }
    )
    return Scheme(name, colours)


def _tint(card: Colour, accent: Colour, amount: float, readable: list[Colour]) -> Colour:
    """The card moved up to `amount` toward the accent, as far as the `readable` text allows."""
    for step in range(round(amount * 100), -1, -1):
        tint = card.mix(accent, step / 100)
        if all(contrast(text, tint) >= AA_TEXT for text in readable):
            return tint
    return card


def _declarations(palette: Scheme, indent: str) -> str:
    lines = [f"{indent}--{key}: {colour.hex};" for key, colour in palette.colours.items()]
    lines.append(f"{indent}--accent-dark: var(--accent);")  # the name older stylesheets use
    return "\n".join(lines)


def stylesheet(accent: Colour) -> str:
    """`theme.css`: the light palette, and the dark one under `prefers-color-scheme: dark`.

    A page that has no dark look (the sandbox's stand-ins for other services) sets
    `data-scheme="light"` on its `<html>`.
    """
    light, dark = scheme("light", accent), scheme("dark", accent)
    return (
        "/* Made by portal/theme.py from the accent colour " + accent.hex + ". */\n"
        ":root {\n  color-scheme: light dark;\n" + _declarations(light, "  ") + "\n}\n"
        ':root[data-scheme="light"] {\n  color-scheme: light;\n}\n'
        "@media (prefers-color-scheme: dark) {\n"
        '  :root:not([data-scheme="light"]) {\n' + _declarations(dark, "    ") + "\n  }\n}\n"
    )


def shortfalls(palette: Scheme) -> list[str]:
    """Every pair of `palette` below its WCAG minimum, in words (empty when all pass)."""
    found = []
    for pairs, minimum in ((TEXT_PAIRS, AA_TEXT), (NON_TEXT_PAIRS, AA_NON_TEXT)):
        for foreground, background in pairs:
            ratio = palette.ratio(foreground, background)
            if ratio < minimum:
                found.append(f"{palette.name}: {foreground} on {background} is {ratio:.2f}:1 < {minimum}")
    return found
