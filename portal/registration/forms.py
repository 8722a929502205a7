"""The override form: platform name, activation, and which messages/placements to send.

The form is built per registration, because its choices are exactly what that
LMS supports: a forged POST with any other message type or placement fails
validation ("not a valid choice") instead of reaching LTIAAS.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import Any, cast

from markupsafe import Markup, escape
from wtforms import BooleanField, Field, SelectChoice, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from portal.forms import PortalForm, one_line_name, stripped
from portal.registration import labels

PLATFORM_NAME_MAX = 255


def _at_least_one(_form: PortalForm, field: Field) -> None:
    if field.choices and not field.data:
        raise ValidationError("Choose at least one way the LMS can use the tool.")


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes; every submitted value must be one of `choices`."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ConfigureForm(PortalForm):
    platform_name = StringField(
        "Name of this LMS in the tool",
        validators=[
            DataRequired("Enter a name for this LMS."),
            Length(max=PLATFORM_NAME_MAX, message="Use at most 255 characters."),
            one_line_name,
        ],
        filters=[stripped],
    )
    auto_activate = BooleanField("Activate the tool right away")
    messages = MultiCheckboxField("What the LMS may do with the tool", validators=[_at_least_one])

    supported_messages: list[dict[str, Any]]

    def placement_field(self, index: int) -> MultiCheckboxField:
        return cast(MultiCheckboxField, self[f"placements_{index}"])

    def to_overrides(self, fixed_auto_activate: bool | None = None) -> dict[str, Any]:
        """The LTIAAS complete body: included types in the LMS's order, with their chosen placements.

        `fixed_auto_activate` is used when the admin may not choose activation.
        """
        included = set(self.messages.data or [])
        messages = []
        for index, message in enumerate(self.supported_messages):
            if message["type"] not in included:
                continue
            chosen = set(self.placement_field(index).data or [])
            placements = [p for p in message.get("placements") or [] if p in chosen]
            messages.append({"type": message["type"], "placements": placements})
        auto_activate = self.auto_activate.data if fixed_auto_activate is None else fixed_auto_activate
        return {
            "platformName": self.platform_name.data,
            "autoActivate": bool(auto_activate),
            "messages": messages,
        }


MessageShape = tuple[tuple[str, tuple[str, ...]], ...]


# Made once per shape (a few hundred kept at most), not per request: building a WTForms class
# costs about as much as rendering the form, and the LMSs of one family send the same few shapes.
@functools.lru_cache(maxsize=256)
def _form_class_for(form_class: type[ConfigureForm], shape: MessageShape) -> type[ConfigureForm]:
    """`form_class` with a placements field per message type of `shape` ((type, placements), ...)."""

    class _Form(form_class):  # type: ignore[valid-type,misc]
        pass

    for index, (kind, placements) in enumerate(shape):
        options = [SelectChoice(p, labels.placement_label(p)) for p in placements]
        field = MultiCheckboxField(f"Where {labels.message_type_label(kind)} appears", choices=options)
        setattr(_Form, f"placements_{index}", field)
    return _Form


def build_configure_form(
    supported_messages: list[dict[str, Any]],
    choices: dict[str, Any],
    default_placements: dict[str, list[str]],
    *,
    allow_auto_activate_choice: bool,
    form_class: type[ConfigureForm] = ConfigureForm,
    from_request: bool = True,
) -> ConfigureForm:
    """A `form_class` form for these supported messages, prefilled from `choices` (a complete body).

    Placements of a type not in `choices` are prefilled from `default_placements`,
    so that ticking the type later starts from sensible placements. On POST the
    submitted data replaces the prefill, unless not `from_request` (the form is shown beside
    another form's POST).
    """

    shape = tuple((m["type"], tuple(m.get("placements") or [])) for m in supported_messages)
    # mypy reads WTForms' form metaclass as unhashable; classes hash by identity.
    form_with_placements = _form_class_for(form_class, shape)  # type: ignore[arg-type]
    chosen = {m["type"]: list(m.get("placements") or []) for m in choices.get("messages") or []}
    data: dict[str, Any] = {
        "platform_name": choices.get("platformName", ""),
        "auto_activate": bool(choices.get("autoActivate")),
        "messages": list(chosen),
    }
    for index, message in enumerate(supported_messages):
        kind = message["type"]
        data[f"placements_{index}"] = chosen.get(kind, default_placements.get(kind, []))

    form = form_with_placements(data=data) if from_request else form_with_placements(formdata=None, data=data)
    form.supported_messages = supported_messages
    form.messages.choices = [
        SelectChoice(m["type"], labels.message_type_label(m["type"])) for m in supported_messages
    ]
    if not allow_auto_activate_choice:
        del form.auto_activate
    return form


def checkbox_option(
    name: str,
    value: str,
    label: str,
    element_id: str,
    selected: Collection[str] | None,
    *,
    hint: str | None = None,
    technical: bool = False,
    controls: str | None = None,
) -> Markup:
    """One checkbox of the multi-valued field `name`, ticked when `value` is in `selected`; `hint`
    below it (shown as a technical name with `technical`), `controls` the id of what it shows.

    Built here rather than by a template macro: the configure page shows one per message type and
    placement (dozens), and a macro call costs several times this.
    """
    box_id, hint_id = escape(element_id), escape(f"{element_id}-hint")
    attributes = " checked" if value in (selected or ()) else ""
    note = ""
    if hint:
        attributes += f' aria-describedby="{hint_id}"'
        kind = "hint tech" if technical else "hint"
        note = f'\n    <p class="{kind}" id="{hint_id}">{escape(hint)}</p>'
    if controls:
        attributes += f' data-controls="{escape(controls)}"'
    return Markup(  # noqa: S704 - every value in it is escaped
        f'<div class="check">\n    <input type="checkbox" name="{escape(name)}" value="{escape(value)}"'
        f' id="{box_id}"{attributes}>\n    <label for="{box_id}">{escape(label)}</label>{note}\n  </div>'
    )
