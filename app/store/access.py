"""The access log: who signed in (or failed to), and who read or exported which participant's
chart record. Rows are only ever added; `holdspace audit` and the admins' endpoint read them."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from .tables import AccessLog

SIGN_IN = "sign_in"
SIGN_OUT = "sign_out"
CHART_VIEW = "chart_view"
CHART_EXPORT = "chart_export"
ACTIONS = (SIGN_IN, SIGN_OUT, CHART_VIEW, CHART_EXPORT)


def record(
    db: Session,
    *,
    username: str,
    action: str,
    outcome: str,
    client: str | None = None,
    session_id: str | None = None,
    participant_id: str | None = None,
    detail: str | None = None,
    at: datetime | None = None,
) -> AccessLog:
    """Add one entry (the caller commits). Text is cut to the columns' sizes: a failed sign-in
    records what was typed as the username, which may be anything."""
    entry = AccessLog(
        username=username.strip().lower()[:64],
        action=action[:32],
        outcome=outcome[:16],
        client=client[:64] if client else None,
        session_id=session_id[:40] if session_id else None,
        participant_id=participant_id[:40] if participant_id else None,
        detail=detail[:200] if detail else None,
    )
    if at is not None:
        entry.at = at
    db.add(entry)
    return entry


def entries(
    db: Session,
    *,
    username: str | None = None,
    participant_id: str | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> list[AccessLog]:
    """The newest `limit` entries that match, oldest first."""
    query = select(AccessLog)
    if username:
        query = query.where(AccessLog.username == username.strip().lower())
    if participant_id:
        query = query.where(AccessLog.participant_id == participant_id)
    if since is not None:
        query = query.where(col(AccessLog.at) >= since)
    rows = db.exec(query.order_by(col(AccessLog.at).desc(), col(AccessLog.id).desc()).limit(limit)).all()
    return list(reversed(rows))
