"""Finding out whether LTIAAS registered the tool when its answer to `complete` was lost.

When the registration arrived, the portal stored the platforms LTIAAS already
held for the LMS's url (`Registration.known_platforms`). A platform that holds
that url now, was not known then, and carries the name this registration sent
is the one its completion created. Anything less certain is "not found".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from portal.ltiaas import LtiaasClient, LtiaasError, Platform
from portal.models import Registration

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lookup:
    """What LTIAAS's platform list says about a registration whose outcome was lost.

    `created` is the platform its completion made, when exactly one fits;
    `candidates` every new platform from the LMS's url (for the staff to see);
    `looked_up` is False when LTIAAS could not be asked (then nothing is known), and
    `failure` says why.
    """

    looked_up: bool
    created: Platform | None = None
    candidates: tuple[Platform, ...] = ()
    # The baseline was never taken (the lookup at receipt failed): new and old cannot be told apart.
    baseline_missing: bool = False
    failure: LtiaasError | None = None


def platform_summary(platform: Platform) -> dict[str, Any]:
    """What the portal keeps of a platform it saw: enough to recognise it and show it."""
    return {
        "id": platform.id,
        "name": platform.name,
        "clientId": platform.client_id,
        "active": platform.active,
    }


def find_new_platforms(ltiaas: LtiaasClient, registration: Registration) -> Lookup:
    """Look up LTIAAS's platforms for the registration's LMS and say which one its completion made.

    Never raises for LTIAAS trouble: a failed lookup is `Lookup(looked_up=False)`.
    """
    try:
        platforms = ltiaas.list_platforms(url=registration.platform_url)
    except LtiaasError as error:
        logger.warning(
            "could not look up platforms after a lost answer (%s): %s", type(error).__name__, error
        )
        return Lookup(looked_up=False, failure=error)
    if registration.known_platforms is None:
        return Lookup(looked_up=True, candidates=tuple(platforms), baseline_missing=True)
    known = {entry.get("id") for entry in registration.known_platforms}
    new = tuple(platform for platform in platforms if platform.id not in known)
    sent_name = (registration.overrides or {}).get("platformName")
    matching = [platform for platform in new if sent_name and platform.name == sent_name]
    created = matching[0] if len(matching) == 1 else None
    return Lookup(looked_up=True, created=created, candidates=new)
