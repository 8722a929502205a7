"""Everything that can stop the registration flow, each with words for the LMS admin.

Service code raises `RegistrationProblem(kind)`; one handler (in views) renders
`registration/problem.html` with the kind's status code, or JSON for the
status endpoint. No message blames the admin for a vendor or LTIAAS fault.
"""

from __future__ import annotations

from dataclasses import dataclass

START_AGAIN = (
    "Start the registration again from your LMS's tool registration page (in the LMS, "
    "add the tool again with the same registration URL)."
)


@dataclass(frozen=True)
class ProblemText:
    status: int
    heading: str
    explanation: str
    next_step: str
    # False for what is told as it is, not as an error (no error styling, no "Error <status>" line): a
    # registration most likely registered, a decision, a withdrawal, a session that ended.
    is_error: bool = True


PROBLEMS: dict[str, ProblemText] = {
    "missing_id": ProblemText(
        400,
        "The registration link is incomplete",
        "This page was opened without a registration ID, so we cannot tell which LMS is registering.",
        START_AGAIN,
    ),
    "malformed_id": ProblemText(
        400,
        "The registration link is not valid",
        "The registration ID in the link is damaged or not one we could have issued.",
        START_AGAIN,
    ),
    "unknown_registration": ProblemText(
        404,
        "This registration is no longer available",
        "The registration was not found: it may have expired, been used already, or been "
        "started in another window.",
        START_AGAIN,
    ),
    "expired": ProblemText(
        410,
        "This registration has expired",
        "Registrations must be finished within a limited time, and this one is too old. "
        "Nothing was registered.",
        START_AGAIN,
    ),
    "declined": ProblemText(
        410,
        "Your request was declined",
        "The tool's vendor decided not to register the tool with this LMS. Nothing was registered.",
        "If you have questions, contact the tool's vendor. To ask again, start the registration again "
        "from your LMS.",
        is_error=False,
    ),
    "gone_at_ltiaas": ProblemText(
        410,
        "LTIAAS no longer accepts this registration",
        "LTIAAS, the service that registers this tool, answered that it no longer knows this "
        "registration (it may have expired there, or been used already), so nothing was registered.",
        START_AGAIN,
    ),
    "not_in_session": ProblemText(
        404,
        "This registration isn't open in this window",
        "The registration was started in another browser window, or this window's session ended.",
        START_AGAIN,
    ),
    "session_ended": ProblemText(
        404,
        "Your session in this window ended",
        "The portal signed this window out, so it no longer knows which registration it showed.",
        "If you had signed in to continue the registration, sign in again to pick it up where you left "
        "it. Otherwise start the registration again from your LMS's tool registration page.",
        is_error=False,
    ),
    "sign_in_to_continue": ProblemText(
        401,
        "Sign in to continue this registration",
        "Someone signed in to continue this registration, so only their account may go on with it, and "
        "this window is not signed in.",
        "If it was you, sign in to pick it up where you left it. Otherwise start a new registration from "
        "your LMS's tool registration page.",
        is_error=False,
    ),
    "another_account": ProblemText(
        403,
        "This registration belongs to another account",
        "Someone signed in with a different account has already taken this registration on (they "
        "signed in to continue it, and may have chosen its settings or paid for it), so it cannot go on "
        "under the account you are signed in with. Nothing was changed.",
        "If you started it under your other account, sign out below and sign in with that one. Otherwise ask "
        "the person who started it to finish it, or register the tool with your own account by starting "
        "a new registration from your LMS's tool registration page.",
    ),
    "failed": ProblemText(
        409,
        "The registration could not be completed",
        "The tool's registration service refused this registration.",
        START_AGAIN + " If it happens again, contact the tool's vendor and quote the message above.",
    ),
    "outcome_unknown": ProblemText(
        409,
        "We don't know whether the tool was registered",
        "LTIAAS, the service that registers this tool, was interrupted while registering it, or "
        "answered in a way we could not read, so the tool may or may not have been registered.",
        "Check your LMS's list of tools before starting again. The tool's vendor sees this registration "
        "in their console and can check LTIAAS's list of registered platforms: contact them if you are "
        "not sure.",
    ),
    "already_used": ProblemText(
        409,
        "This registration was already used",
        "Your earlier attempt most likely registered the tool, but LTIAAS's answer to it was lost, so "
        "we cannot confirm it here.",
        "Look for the tool in your LMS's list of tools: if it is there, you are done and can close this "
        "window. If it is not, start the registration again from your LMS. The tool's vendor sees this "
        "registration in their console and can confirm what happened.",
        is_error=False,
    ),
    "lms_refused": ProblemText(
        422,
        "Your LMS refused the registration",
        "Your LMS answered that it does not accept this registration, so nothing was registered. "
        "Its own words are below.",
        "Check your LMS's settings for this tool (for example which tool domains it accepts), or ask "
        "whoever administers it, then start the registration again from your LMS. If the message "
        "points at the tool, contact the tool's vendor and quote it.",
    ),
    "replaced": ProblemText(
        410,
        "This registration was replaced by a newer one",
        "You started a newer registration of this LMS, and your payment counts for that one instead, "
        "so this one was closed. Nothing was registered from it.",
        "Finish the newer registration in the window it opened in. If that window is closed too, start "
        "again from your LMS: your payment still counts.",
        is_error=False,
    ),
    "withdrawn": ProblemText(
        410,
        "You withdrew your request",
        "You took back your request for approval, so the tool's vendor will not decide on it and "
        "nothing was registered.",
        "To register the tool after all, start again from your LMS (add the tool again with the same "
        "registration URL): that makes a new request.",
        is_error=False,
    ),
    "ltiaas_unavailable": ProblemText(
        503,
        "The registration service could not be reached",
        "LTIAAS, the service that registers this tool, could not be reached. This is usually "
        "temporary. Nothing was registered.",
        "Try again in a minute. If it keeps happening, contact the tool's vendor.",
    ),
    "vendor_setup": ProblemText(
        502,
        "The tool's registration service is not set up correctly",
        "The tool's vendor has a problem in their setup with LTIAAS, the service that registers "
        "this tool. This is not caused by anything you did, and nothing was registered.",
        "Contact the tool's vendor and tell them registration failed on their side. Once they "
        "have fixed it, start the registration again from your LMS.",
    ),
}


class RegistrationProblem(Exception):
    """Stops the flow with the page for `kind` (a key of PROBLEMS).

    `detail` is an extra sentence to show (e.g. LTIAAS's refusal reason);
    `retry_url` offers a "Try again" link when trying again can help; `sign_in_url` a "Sign in" button.
    """

    def __init__(
        self,
        kind: str,
        *,
        detail: str | None = None,
        retry_url: str | None = None,
        sign_in_url: str | None = None,
    ) -> None:
        if kind not in PROBLEMS:
            raise ValueError(f"unknown registration problem {kind!r}")
        super().__init__(kind)
        self.kind = kind
        self.detail = detail
        self.retry_url = retry_url
        self.sign_in_url = sign_in_url  # a "Sign in" button, back to the registration afterwards

    @property
    def text(self) -> ProblemText:
        return PROBLEMS[self.kind]
