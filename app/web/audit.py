"""The access log for admins: sign-ins (failed and throttled too), chart views and exports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from app.store import access
from app.store.db import unit_of_work
from app.store.tables import AccessLog
from app.web.deps import CurrentUser, ServicesDep, check_csrf
from app.web.errors import ApiError

router = APIRouter(prefix="/api/v1", dependencies=[Depends(check_csrf)], tags=["access log"])


def entry_view(entry: AccessLog) -> dict[str, Any]:
    return {
        "at": entry.at.isoformat(),
        "username": entry.username,
        "action": entry.action,
        "outcome": entry.outcome,
        "client": entry.client,
        "session_id": entry.session_id,
        "participant_id": entry.participant_id,
        "detail": entry.detail,
    }


@router.get("/access-log", responses={403: {"description": "Only admins read the access log."}})
def access_log(
    user: CurrentUser,
    services: ServicesDep,
    username: Annotated[str | None, Query(alias="user", max_length=64)] = None,
    participant: Annotated[str | None, Query(max_length=40)] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601 with offset")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[dict[str, Any]]:
    """Who signed in or failed to, and who viewed or exported which participant's chart record
    (newest `limit` entries, oldest first). Admins only."""
    if user.role != "admin":
        raise ApiError(403, "forbidden", "Only an admin can read the access log.")
    if since is not None and since.tzinfo is None:
        raise ApiError(422, "validation_error", "since: give the time with its offset", {"field": "since"})
    with unit_of_work(services.engine) as db:
        rows = access.entries(db, username=username, participant_id=participant, since=since, limit=limit)
        return [entry_view(row) for row in rows]
