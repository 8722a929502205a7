"""How the pages look to people: axe-core's checks in both colour schemes, and the README's pictures.

axe-core comes with axe-playwright-python (its `axe.min.js`, nothing is fetched): it runs inside
the page or frame given, so a portal page framed by the sandbox LMS is checked on its own.

Screenshot mode: with `PORTAL_SCREENSHOTS=<folder>` (`scripts/screenshots` sets `docs`), the
browser tests save the README's pictures there, palette-reduced to stay small.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Frame, Locator, Page

SCHEMES = ("light", "dark")
BLOCKING_IMPACTS = frozenset({"serious", "critical"})
# Only the page itself: frames inside it (Stripe's form) are another party's, and axe would
# otherwise wait for an answer from each of them.
AXE_OPTIONS: dict[str, Any] = {"resultTypes": ["violations"], "iframes": False}
PICTURES_ENV = "PORTAL_SCREENSHOTS"
ROOT = Path(__file__).resolve().parents[2]

_axe = Axe()


def blocking_violations(view: Page | Frame) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on `view` as it looks now."""
    results = _axe.run(view, options=AXE_OPTIONS)  # type: ignore[arg-type]
    return [found for found in results.response["violations"] if found.get("impact") in BLOCKING_IMPACTS]


def describe(violations: Sequence[dict[str, Any]]) -> str:
    """One line per rule and one per node: the rule id, what it wants, where, and why it failed."""
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:8]:
            target = " > ".join(str(part) for part in node["target"])
            why = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"    {target}: {why[:300]}")
    return "\n".join(lines)


def assert_accessible(page: Page, view: Page | Frame | None = None, name: str = "") -> None:
    """No serious or critical axe violation on `view` (default: `page`) in the light and the dark
    scheme; `page` is the top-level page whose media is emulated. Ends in the light scheme."""
    checked = view or page
    problems = []
    for scheme in ("dark", "light"):
        page.emulate_media(color_scheme=scheme)
        found = blocking_violations(checked)
        if found:
            problems.append(f"[{name or checked.url} in the {scheme} scheme]\n{describe(found)}")
    assert not problems, "axe-core found serious or critical violations:\n" + "\n".join(problems)


def content_frame(page: Page, selector: str = "#registration-frame") -> Frame:
    """The frame inside the iframe `selector` of `page`."""
    handle = page.locator(selector).element_handle()
    assert handle is not None
    frame = handle.content_frame()
    assert frame is not None
    frame.wait_for_load_state("load")
    return frame


def picture_folder() -> Path | None:
    """Where the README's pictures go in screenshot mode, or None when it is off."""
    folder = os.environ.get(PICTURES_ENV, "").strip()
    if not folder:
        return None
    path = Path(folder)
    return path if path.is_absolute() else ROOT / path


def small_png(png: bytes, colours: int = 128) -> bytes:
    """`png` reduced to a palette of at most `colours` colours, without dithering, optimised."""
    from PIL import Image  # only in screenshot mode: Pillow is a dev requirement for the pictures

    image = Image.open(io.BytesIO(png)).convert("RGB")
    reduced = image.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    reduced.save(out, format="PNG", optimize=True)
    return out.getvalue()


def take_picture(
    name: str, subject: Page | Locator, mask: Sequence[Locator] = (), hide: Sequence[Locator] = ()
) -> Path | None:
    """In screenshot mode, save `subject` as `<folder>/<name>.png` (small); else do nothing.

    `mask` and `hide` keep out what changes from run to run (ids, dates, ports), so that the
    committed pictures change only when the pages do: `mask` paints a plain box over it (on top
    of everything, a dialog included); `hide` blanks it in place for the picture (for what may
    lie under a dialog).
    """
    folder = picture_folder()
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    for element in hide:
        element.evaluate_all("all => all.forEach(element => { element.style.visibility = 'hidden'; })")
    try:
        png = subject.screenshot(animations="disabled", caret="hide", mask=list(mask), mask_color="#d5dbe4")
    finally:
        for element in hide:
            element.evaluate_all("all => all.forEach(element => { element.style.visibility = ''; })")
    path.write_bytes(small_png(png))
    return path
