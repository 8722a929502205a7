"""Which characters text from outside may hold: no control characters, no lone surrogates.

PostgreSQL refuses a NUL in any text column (and a lone surrogate cannot even be encoded
to send it), while SQLite stores both: so text from a form, a link or another service is
checked here before it can reach the database or a page. Control characters are Unicode's
category Cc (U+0000-U+001F, U+007F-U+009F); a multi-line field may also take tabs and line
breaks (`MULTILINE`).
"""

from __future__ import annotations

import re

# Category Cc, and the surrogate code points (which only ever arrive alone in a str).
_UNACCEPTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
MULTILINE = frozenset("\t\n\r")


# A name on one line (an LMS's platform name) also takes no line or paragraph separator and no
# bidirectional embedding, override or isolate, which would turn the text after it around on a
# page; the joiners and direction marks (U+200C-U+200F) stay: Persian and Hindi spell with them.
_NOT_IN_A_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
NAME_RULE = "Use letters, numbers and punctuation only: no line breaks, tabs or text-direction controls."


def is_one_line_name(text: str) -> bool:
    """Whether `text` may be a name on one line (`_NOT_IN_A_NAME`)."""
    return _NOT_IN_A_NAME.search(text) is None


def as_one_line_name(text: str) -> str:
    """`text` without what a name on one line may not hold, so a form accepts it as prefilled."""
    return _NOT_IN_A_NAME.sub("", text)


def unacceptable_characters(text: str, allowed: frozenset[str] = frozenset()) -> list[str]:
    """The control characters and lone surrogates in `text`, except those `allowed`, in order."""
    return [found for found in _UNACCEPTABLE.findall(text) if found not in allowed]


def is_acceptable(text: str, allowed: frozenset[str] = frozenset()) -> bool:
    """Whether `text` holds no control character or lone surrogate (other than `allowed`)."""
    return not unacceptable_characters(text, allowed)


def one_line(text: str, max_chars: int) -> str:
    """`text` as a label: control characters and lone surrogates become spaces, runs of white
    space one space, and at most `max_chars` characters are kept."""
    return " ".join(_UNACCEPTABLE.sub(" ", text).split())[:max_chars]


def without_unacceptable(text: str, allowed: frozenset[str] = MULTILINE) -> str:
    """`text` with its control characters and lone surrogates (other than `allowed`) removed."""
    return _UNACCEPTABLE.sub(lambda found: found.group() if found.group() in allowed else "", text)


def describe_characters(found: list[str]) -> str:
    """The characters `found`, as a person reads them: "U+0000, U+001B"."""
    names = dict.fromkeys(f"U+{ord(character):04X}" for character in found)
    return ", ".join(names)
