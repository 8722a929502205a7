"""Plain words for what an LMS reports: families, scopes, message types and placements."""

from __future__ import annotations

import pytest

from portal.registration import labels


@pytest.mark.parametrize(
    ("code", "name", "initials"),
    [
        ("moodle", "Moodle", "M"),
        ("canvas", "Canvas", "C"),
        ("sakailms.org", "Sakai", "S"),
        ("desire2learn", "Brightspace (D2L)", "D2L"),
        ("BlackboardLearn", "Blackboard Learn", "Bb"),
        ("schoology", "Schoology", "Sc"),
        ("openlearning", "openlearning", "OP"),
        ("", "Unknown LMS", "UN"),
    ],
)
def test_each_lms_family_gets_a_friendly_name_and_badge(code: str, name: str, initials: str) -> None:
    family = labels.family(code)
    assert (family.name, family.initials, family.code) == (name, initials, code)


@pytest.mark.parametrize(
    ("scope", "words"),
    [
        ("https://purl.imsglobal.org/spec/lti-ags/scope/score", "grades"),
        ("https://purl.imsglobal.org/spec/lti-ags/scope/lineitem", "gradebook"),
        ("https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly", "grades"),
        ("https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly", "class rosters"),
        ("https://purl.imsglobal.org/spec/lti-bo/scope/basicoutcome", "Grade passback (LTI 1.1)"),
        ("https://purl.imsglobal.org/spec/lti-ts/scope/toolsetting", "settings"),
        ("openid", "Sign people in"),
        # Blackboard's developer portal prefixes its scopes with "URL/".
        ("URL/https://purl.imsglobal.org/spec/lti-ags/scope/score", "grades"),
    ],
)
def test_known_scopes_are_explained_in_plain_words(scope: str, words: str) -> None:
    assert words in labels.scope_label(scope)


def test_an_unknown_scope_is_shown_as_given() -> None:
    assert labels.scope_label("https://example.com/scope/x") == "https://example.com/scope/x"


@pytest.mark.parametrize(
    ("placement", "label"),
    [
        ("https://canvas.instructure.com/lti/course_navigation", "Course navigation"),
        ("https://canvas.instructure.com/lti/account_navigation", "Account navigation"),
        ("https://canvas.instructure.com/lti/editor_button", "Rich text editor button"),
        ("ContentArea", "Content area / activity chooser"),
        ("RichTextEditor", "Rich text editor"),
        ("AddContentMenu", "Add content menu"),
        ("SomethingNew", "SomethingNew"),
        ("https://canvas.instructure.com/lti/a/b", "https://canvas.instructure.com/lti/a/b"),
    ],
)
def test_placements_get_friendly_labels(placement: str, label: str) -> None:
    assert labels.placement_label(placement) == label


@pytest.mark.parametrize(
    ("message_type", "label"),
    [
        ("LtiResourceLinkRequest", "Launch the tool (resource link)"),
        ("LtiDeepLinkingRequest", "Pick content (deep linking)"),
        ("LtiEulaRequest", "End-user licence agreement"),
        ("LtiBrandNewRequest", "LtiBrandNewRequest"),
    ],
)
def test_message_types_get_friendly_labels(message_type: str, label: str) -> None:
    assert labels.message_type_label(message_type) == label


def test_the_proposed_platform_name_is_host_and_family_within_255_characters() -> None:
    assert (
        labels.default_platform_name("https://moodle.example.edu/", "moodle") == "moodle.example.edu (Moodle)"
    )
    assert len(labels.default_platform_name("https://" + "a" * 300 + ".edu", "moodle")) == 255


def test_canvas_cloud_and_blackboard_issuers_are_shared_by_many_schools() -> None:
    assert labels.is_shared_issuer("https://canvas.instructure.com/")
    assert labels.is_shared_issuer("https://blackboard.com")
    assert not labels.is_shared_issuer("https://canvas.example.edu")


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("https://lms.example.edu/moodle-a", "lms.example.edu/moodle-a"),
        ("https://lms.example.edu/moodle-b/", "lms.example.edu/moodle-b"),
        ("https://Moodle.Springfield.edu/", "moodle.springfield.edu"),
        ("https://moodle.springfield.edu", "moodle.springfield.edu"),
        ("not a url", "not a url"),
    ],
)
def test_an_lms_address_keeps_its_path_without_scheme_or_trailing_slash(url: str, address: str) -> None:
    assert labels.lms_address(url) == address


def test_a_long_lms_address_is_cut_in_the_middle() -> None:
    address = labels.lms_address("https://lms.example.edu/" + "a" * 80 + "/moodle-b")

    assert len(address) == labels.LMS_ADDRESS_LENGTH
    assert address.startswith("lms.example.edu/") and address.endswith("/moodle-b") and "…" in address
