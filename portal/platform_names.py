"""The platform name the review form starts with: the school's own name when the LMS gives one.

Canvas names the school's account in its OpenID configuration
(`RegistrationDetails.account_name`): "Springfield University (Canvas)". Other
LMSes name no school, and Canvas Cloud's issuer (canvas.instructure.com) is the
same for every school, so they get the LMS's host: "moodle.example.edu (Moodle)".
"""

from __future__ import annotations

from urllib.parse import urlsplit


def prefilled_platform_name(
    url: str, family_name: str, account_name: str | None = None, max_length: int = 255
) -> str:
    """`account_name (family)` when the LMS names the school, else `host of url (family)`.

    `family_name` is the LMS family's display name (e.g. `labels.family(code).name`).
    At most `max_length` characters; a long name is shortened before the family.
    """
    suffix = f" ({family_name})"
    name = (account_name or "").strip() or urlsplit(url).hostname or url
    return name[: max(max_length - len(suffix), 0)] + suffix[:max_length]
