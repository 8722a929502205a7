"""The configure form as its pieces build it: a checkbox per message type and placement, and one
form class per shape of what an LMS supports."""

from __future__ import annotations

from typing import Any

from flask import Flask

from portal.registration.forms import ConfigureForm, build_configure_form, checkbox_option

CANVAS_LIKE = [
    {"type": "LtiResourceLinkRequest", "placements": ["course_navigation", "link_selection"]},
    {"type": "LtiDeepLinkingRequest", "placements": ["editor_button"]},
]
MOODLE_LIKE = [{"type": "LtiDeepLinkingRequest", "placements": ["ContentArea"]}]


def _form(app: Flask, messages: list[dict[str, Any]], data: dict[str, str] | None = None) -> ConfigureForm:
    with app.test_request_context("/", method="POST", data=data or {}):
        form = build_configure_form(messages, {}, {}, allow_auto_activate_choice=True)
        form.validate()
        return form


def test_a_checkbox_escapes_every_value_an_lms_sent() -> None:
    hostile = '"><img src=x onerror=alert(1)>'

    html = str(checkbox_option(hostile, hostile, hostile, hostile, [hostile], hint=hostile, controls=hostile))

    assert "<img" not in html
    # name, value, id, aria-describedby, data-controls, the label's for and text, the hint's id and text
    assert html.count("&#34;&gt;&lt;img src=x onerror=alert(1)&gt;") == 9
    assert " checked" in html


def test_a_checkbox_is_ticked_only_when_chosen_and_names_its_hint_and_what_it_controls() -> None:
    ticked = str(
        checkbox_option(
            "messages",
            "LtiDeepLinkingRequest",
            "Pick content",
            "message-1",
            ["LtiDeepLinkingRequest"],
            hint="LtiDeepLinkingRequest",
            technical=True,
            controls="placements-1",
        )
    )
    plain = str(checkbox_option("placements_0", "ContentArea", "Content area", "placement-0-0", None))

    assert (
        '<input type="checkbox" name="messages" value="LtiDeepLinkingRequest" id="message-1" checked'
        in ticked
    )
    assert 'aria-describedby="message-1-hint" data-controls="placements-1">' in ticked
    assert '<label for="message-1">Pick content</label>' in ticked
    assert '<p class="hint tech" id="message-1-hint">LtiDeepLinkingRequest</p>' in ticked
    assert " checked" not in plain
    assert "aria-describedby" not in plain
    assert "hint" not in plain


def test_lmss_of_one_shape_share_a_form_class_and_each_form_keeps_its_own_data(app: Flask) -> None:
    first = _form(app, CANVAS_LIKE, {"placements_0": "course_navigation"})
    second = _form(app, [dict(message) for message in CANVAS_LIKE], {"placements_0": "link_selection"})
    other = _form(app, MOODLE_LIKE)

    assert type(first) is type(second)
    assert type(other) is not type(first)
    assert first.placement_field(0).data == ["course_navigation"]
    assert second.placement_field(0).data == ["link_selection"]
    assert not hasattr(other, "placements_1")


def test_a_placement_of_another_lms_shape_is_still_refused(app: Flask) -> None:
    _form(app, CANVAS_LIKE)  # the Canvas-like class exists already

    form = _form(app, MOODLE_LIKE, {"placements_0": "course_navigation"})

    assert form.placement_field(0).errors
    assert form.to_overrides()["messages"] == []
