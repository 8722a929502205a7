"""The prefilled platform name: the school's own name from Canvas, else the LMS's host."""

from __future__ import annotations

import pytest

from portal.registration.labels import default_platform_name


def test_canvas_names_the_school():
    name = default_platform_name("https://canvas.instructure.com", "canvas", "Springfield University")

    assert name == "Springfield University (Canvas)"


@pytest.mark.parametrize("account_name", [None, "", "   "])
def test_without_a_school_name_the_host_names_the_platform(account_name):
    name = default_platform_name("https://moodle.example.edu/", "moodle", account_name)

    assert name == "moodle.example.edu (Moodle)"


def test_a_url_without_a_host_is_used_as_given():
    assert default_platform_name("lms", "sakailms.org") == "lms (Sakai)"


def test_a_long_school_name_is_shortened_and_keeps_the_family():
    name = default_platform_name("https://canvas.instructure.com", "canvas", "S" * 300, max_length=40)

    assert name == "S" * 31 + " (Canvas)"
    assert len(name) == 40
