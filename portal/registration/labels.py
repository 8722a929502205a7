"""Plain-words labels for what an LMS reports: its family, scopes, message types, placements.

Every function accepts values it has never seen and returns them as given, so a
new LMS or a new LTI service is shown, never rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from portal.text import as_one_line_name


@dataclass(frozen=True)
class Family:
    """An LMS family as people read it. `slug` is the one canonical name templates and CSS use
    (every alias of a family has the same slug; an unknown family's slug is "other")."""

    code: str
    slug: str
    name: str
    initials: str


OTHER_FAMILY = "other"

# slug: (name, initials, the product_family_code values LMSes send for it)
_FAMILIES: dict[str, tuple[str, str, frozenset[str]]] = {
    "moodle": ("Moodle", "M", frozenset({"moodle"})),
    "canvas": ("Canvas", "C", frozenset({"canvas"})),
    "sakai": ("Sakai", "S", frozenset({"sakailms.org", "sakai"})),
    "brightspace": ("Brightspace (D2L)", "D2L", frozenset({"desire2learn", "brightspace", "d2l"})),
    "blackboard": ("Blackboard Learn", "Bb", frozenset({"blackboardlearn", "blackboard"})),
    "schoology": ("Schoology", "Sc", frozenset({"schoology"})),
}
_SLUG_OF_CODE: dict[str, str] = {code: slug for slug, (_, _, codes) in _FAMILIES.items() for code in codes}

_SCOPES: dict[str, str] = {
    "openid": "Sign people in to the tool (OpenID Connect)",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score": "Send grades to the gradebook",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem": "Create and change gradebook columns",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly": "See gradebook columns",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly": "Read grades from the gradebook",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly": (
        "Read class rosters (names and roles of course members)"
    ),
    "https://purl.imsglobal.org/spec/lti-gs/scope/contextgroup.readonly": "Read course groups",
    "https://purl.imsglobal.org/spec/lti-bo/scope/basicoutcome": "Grade passback (LTI 1.1)",
    "https://purl.imsglobal.org/spec/lti-ts/scope/toolsetting": "Store the tool's settings in the LMS",
    "https://purl.imsglobal.org/spec/lti-reg/scope/registration": "Update its own registration",
    "https://purl.imsglobal.org/spec/lti-reg/scope/registration.readonly": "Read its own registration",
    "https://purl.imsglobal.org/spec/lti/scope/noticehandlers": "Receive notices from the LMS",
    "https://purl.imsglobal.org/spec/lti/scope/asset.readonly": "Read submitted files",
    "https://purl.imsglobal.org/spec/lti/scope/report": "Send reports about submitted files",
    "https://purl.imsglobal.org/spec/lti/scope/eula/deployment": "Manage its licence agreement",
    "https://purl.imsglobal.org/spec/lti/scope/eula/user": "Record who accepted its licence agreement",
    "https://canvas.instructure.com/lti/public_jwk/scope/update": "Rotate its own signing key",
    "https://canvas.instructure.com/lti/account_lookup/scope/show": "Look up account details",
    "https://canvas.instructure.com/lti-ags/progress/scope/show": "See the progress of grade submissions",
    "https://canvas.instructure.com/lti/page_content/show": "Read page content",
}

_MESSAGE_TYPES: dict[str, str] = {
    "LtiResourceLinkRequest": "Launch the tool (resource link)",
    "LtiDeepLinkingRequest": "Pick content (deep linking)",
    "LtiEulaRequest": "End-user licence agreement",
    "LtiSubmissionReviewRequest": "Review a submission",
}

_PLACEMENTS: dict[str, str] = {
    "ContentArea": "Content area / activity chooser",
    "RichTextEditor": "Rich text editor",
    "AddContentMenu": "Add content menu",
}

CANVAS_PLACEMENT_PREFIX = "https://canvas.instructure.com/lti/"

_CANVAS_PLACEMENTS: dict[str, str] = {
    "editor_button": "Rich text editor button",
    "link_selection": "Link selection (modules)",
    "assignment_selection": "Assignment selection",
    "homework_submission": "Homework submission",
    "migration_selection": "Course import",
}

# Issuers that many separate schools share: platforms with this url are not
# "the same LMS", so earlier registrations cannot be told apart by url alone.
SHARED_ISSUERS = frozenset(
    {
        "https://canvas.instructure.com",
        "https://canvas.beta.instructure.com",
        "https://canvas.test.instructure.com",
        "https://blackboard.com",
    }
)


def family_slug(code: str) -> str:
    """The canonical slug of a `product_family_code` (aliases included), or "other"."""
    return _SLUG_OF_CODE.get(code.strip().lower(), OTHER_FAMILY)


def family(code: str) -> Family:
    """The LMS family for a `product_family_code`; unknown codes keep their own name."""
    slug = family_slug(code)
    if slug != OTHER_FAMILY:
        name, initials, _ = _FAMILIES[slug]
        return Family(code=code, slug=slug, name=name, initials=initials)
    name = code.strip() or "Unknown LMS"
    letters = [c for c in name if c.isalnum()]
    return Family(code=code, slug=OTHER_FAMILY, name=name, initials="".join(letters[:2]).upper() or "?")


def known_families() -> list[tuple[str, str]]:
    """(slug, name) of every family the portal knows, for filters and legends."""
    return [(slug, name) for slug, (name, _, _) in _FAMILIES.items()]


def scope_label(scope: str) -> str:
    """Plain words for a scope; Blackboard's `URL/` prefix is ignored; unknown scopes as given."""
    bare = scope.removeprefix("URL/")
    return _SCOPES.get(bare, scope)


def message_type_label(message_type: str) -> str:
    return _MESSAGE_TYPES.get(message_type, message_type)


def placement_label(placement: str) -> str:
    """Plain words for a placement: Canvas's URIs become e.g. "Course navigation"."""
    if placement in _PLACEMENTS:
        return _PLACEMENTS[placement]
    if placement.startswith(CANVAS_PLACEMENT_PREFIX):
        suffix = placement.removeprefix(CANVAS_PLACEMENT_PREFIX).strip("/")
        if suffix and "/" not in suffix:
            return _CANVAS_PLACEMENTS.get(suffix, suffix.replace("_", " ").capitalize())
    return placement


def lms_host(url: str) -> str:
    """The host name of an LMS url, or the url itself when it has none."""
    return urlsplit(url).hostname or url


# An address longer than this is cut in the middle of its path, with an ellipsis.
LMS_ADDRESS_LENGTH = 60


def lms_address(url: str) -> str:
    """An LMS url without its scheme or trailing slash, cut to `LMS_ADDRESS_LENGTH`: host and path,
    so two LMSs on one host ("lms.example.edu/moodle-a", ".../moodle-b") are told apart."""
    parts = urlsplit(url)
    if not parts.hostname:
        return url
    address = f"{parts.hostname}{parts.path.rstrip('/')}"
    if len(address) <= LMS_ADDRESS_LENGTH:
        return address
    keep = LMS_ADDRESS_LENGTH - 1
    return f"{address[: keep - keep // 2]}…{address[-(keep // 2) :]}"


def lms_of(family_code: str, url: str) -> str:
    """An LMS in a sentence: "Moodle at moodle.example.edu"."""
    return f"{family(family_code).name} at {lms_host(url)}"


def default_platform_name(
    url: str, family_code: str, account_name: str | None = None, max_length: int = 255
) -> str:
    """The prefilled platform name: the school's own name when the LMS gives one (Canvas's account
    name: "Springfield University (Canvas)"), else the LMS's host ("moodle.example.edu (Moodle)").

    At most `max_length` characters; a long name is shortened before the family.
    """
    suffix = f" ({family(family_code).name})"
    name = as_one_line_name(account_name or "").strip() or lms_host(url)
    return name[: max(max_length - len(suffix), 0)] + suffix[:max_length]


def is_shared_issuer(url: str) -> bool:
    return url.rstrip("/").lower() in SHARED_ISSUERS
