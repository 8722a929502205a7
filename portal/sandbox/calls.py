"""A log of the calls made to the LTIAAS and Stripe stand-ins, for tests and for curious developers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from portal.sandbox.models import SandboxApiCall


def record_call(make_session: sessionmaker[Session], method: str, path: str, status: int) -> None:
    """Write one line in its own transaction, apart from the request's session."""
    with make_session() as session:
        session.add(SandboxApiCall(method=method, path=path, status=status))
        session.commit()


def list_calls(
    session: Session, path_contains: str | None = None, method: str | None = None
) -> list[dict[str, Any]]:
    """Recorded calls, oldest first, optionally filtered by a path fragment and method."""
    query = select(SandboxApiCall).order_by(SandboxApiCall.id)
    if path_contains:
        query = query.where(SandboxApiCall.path.contains(path_contains, autoescape=True))
    if method:
        query = query.where(SandboxApiCall.method == method.upper())
    return [
        {
            "method": call.method,
            "path": call.path,
            "status": call.status,
            "created_at": call.created_at.isoformat(),
        }
        for call in session.scalars(query)
    ]
