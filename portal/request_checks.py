"""What every request must pass before a view sees it: no control characters in the URL, and a
bounded body.

- A query parameter (`registrationId`, `next`, `session_id`, ... and any added later) whose name
  or value holds a control character or a lone surrogate is answered 400 (`UnacceptableInput`,
  a page saying what was wrong); a path segment that holds one names nothing, so 404. Forms check
  their own fields (`portal.forms`), to answer beside the field.
- A request body is read up to `MAX_CONTENT_LENGTH` bytes: a larger declared length is refused
  (413) without reading any of it, and a streamed (chunked) body with one byte more is refused
  there (`PortalRequest`). A view that needs more (Stripe's webhook) raises its own limit with
  `allow_body_up_to` before it reads the body.
"""

from __future__ import annotations

from typing import IO, cast

from flask import Flask, Request, current_app, request
from werkzeug.exceptions import BadRequest, NotFound, RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_input_stream

from portal.text import describe_characters, unacceptable_characters


class UnacceptableInput(BadRequest):
    """A link or form held a control character (or a lone surrogate): refused before any use."""

    description = "The link or form held an invisible control character, which is never part of a valid one."


def refuse_unacceptable_text(texts: list[str]) -> None:
    """:raise UnacceptableInput: one of `texts` holds a control character or a lone surrogate."""
    found = [character for text in texts for character in unacceptable_characters(text)]
    if found:
        raise UnacceptableInput(
            f"The link or form held an invisible control character ({describe_characters(found)})."
        )


def _check_url() -> None:
    for value in (request.view_args or {}).values():
        if isinstance(value, str) and unacceptable_characters(value):
            raise NotFound()
    refuse_unacceptable_text([text for pair in request.args.items(multi=True) for text in pair])


class _CappedStream(LimitedStream):
    """A streamed body read up to `cap` bytes, refused (413) as soon as it proves longer.

    Werkzeug's own limit on a stream without a length stops quietly at the cap, and the form
    parser then reads a truncated form as if it were whole.
    """

    def __init__(self, stream: IO[bytes], cap: int) -> None:
        super().__init__(stream, cap + 1, is_max=True)
        self._cap = cap

    def readinto(self, buffer: bytearray) -> int | None:  # type: ignore[override]
        count = super().readinto(buffer)
        if self._pos > self._cap:
            raise RequestEntityTooLarge()
        return count


class PortalRequest(Request):
    """Flask's request, whose streamed (chunked) body is refused beyond `max_content_length`."""

    @cached_property
    def stream(self) -> IO[bytes]:
        if self.shallow:
            raise RuntimeError("a shallow request may not read its body")
        cap = self.max_content_length
        streamed = self.content_length is None and "wsgi.input_terminated" in self.environ
        if cap is None or not streamed:
            return get_input_stream(self.environ, max_content_length=cap)
        return cast(IO[bytes], _CappedStream(self.environ["wsgi.input"], cap))


def allow_body_up_to(setting: str) -> None:
    """Let this request's body be as large as the setting `setting` says (bytes); call it before
    anything reads the body."""
    request.max_content_length = int(current_app.config[setting])


def init_request_checks(app: Flask) -> None:
    """Call before the extensions: the URL is checked before Flask-WTF's CSRF check reads a form."""
    app.request_class = PortalRequest
    app.before_request(_check_url)
