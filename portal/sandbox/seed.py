"""What the sandbox starts with, so every page has something to show (`flask sandbox seed`).

Idempotent: each seeded row is found by its natural key (a platform by issuer and
client id) and created only when missing; nothing the developer changed is reset.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.sandbox.models import SandboxPlatform
from portal.sandbox.platforms import new_platform_id, placeholder_public_key

# A Moodle that an operator registered by hand in LTIAAS's dashboard: no portal
# registration created it, so the staff console shows it as "registered by hand".
MANUAL_PLATFORM: dict[str, Any] = {
    "url": "https://moodle.shelbyville.example",
    "client_id": "manual-3f9c2a71d84e",
    "name": "Shelbyville College Moodle (registered by hand)",
    "authentication_endpoint": "https://moodle.shelbyville.example/mod/lti/auth.php",
    "accesstoken_endpoint": "https://moodle.shelbyville.example/mod/lti/token.php",
    "auth_config": {"method": "JWK_SET", "key": "https://moodle.shelbyville.example/mod/lti/certs.php"},
}


def seed_manual_platform(session: Session) -> bool:
    """Add the hand-registered platform unless LTIAAS's stand-in has it; True if it was added (commits)."""
    existing = session.scalar(
        select(SandboxPlatform.id).where(
            SandboxPlatform.url == MANUAL_PLATFORM["url"],
            SandboxPlatform.client_id == MANUAL_PLATFORM["client_id"],
        )
    )
    if existing is not None:
        return False
    session.add(
        SandboxPlatform(
            id=new_platform_id(),
            public_key=placeholder_public_key(),
            active=True,
            **MANUAL_PLATFORM,
        )
    )
    session.commit()
    return True
