"""Which page of the flow belongs to each state of a registration."""

from __future__ import annotations

from portal.models import OPEN_STATES, Registration, RegistrationState

# Pages allowed in each state; anything else is redirected to the state's own page.
_PAGE_STATES: dict[str, frozenset[RegistrationState]] = {
    "review": OPEN_STATES,
    "configure": OPEN_STATES,
    "confirm": frozenset({RegistrationState.REVIEWED}),
    "waiting": frozenset({RegistrationState.REVIEWED}),
    "done": frozenset({RegistrationState.COMPLETING, RegistrationState.COMPLETED}),
}
_HOME_PAGE: dict[RegistrationState, str] = {
    RegistrationState.RECEIVED: "review",
    RegistrationState.REVIEWED: "confirm",
    RegistrationState.COMPLETING: "done",
    RegistrationState.COMPLETED: "done",
}


def page_to_redirect_to(registration: Registration, page: str) -> str | None:
    """The page to show instead of `page` in the registration's state, or None to show `page`."""
    if registration.current_state in _PAGE_STATES[page]:
        return None
    if page == "confirm" and registration.current_state is RegistrationState.RECEIVED:
        return "configure"
    return _HOME_PAGE[registration.current_state]


def page_for(registration: Registration, page: str) -> str:
    """`page`, or the page the registration's state calls for instead."""
    return page_to_redirect_to(registration, page) or page
