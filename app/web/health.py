"""Readiness for load balancers and orchestrators (`/healthz`, "alive", is in pages.py).

`/readyz` answers 200 only when the database answers and its schema is at the latest migration
this package carries; otherwise 503 `unavailable` with the reason, so a balancer sends tablets
to another process and an operator sees what to fix."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.services import error_body
from app.store.migrate import head_revision, revision_of
from app.web.errors import RETRY_AFTER_SECONDS

router = APIRouter()


def _not_ready(message: str, **details: Any) -> JSONResponse:
    return JSONResponse(
        error_body("unavailable", message, details), status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


@router.get("/readyz", include_in_schema=False)
def readyz(request: Request) -> JSONResponse:
    engine = request.app.state.services.engine
    head = head_revision()
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
            current = revision_of(connection)
    except sa.exc.SQLAlchemyError as err:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()
        return _not_ready(
            "The database does not answer.", reason=f"{type(err).__name__}: {reason[0] if reason else ''}"
        )
    if current != head:
        state = "has no schema" if current is None else f"is at schema {current}"
        return _not_ready(f"The database {state}, not {head}: run `holdspace migrate`.", schema=current, expected=head)
    return JSONResponse({"status": "ready", "schema": current})
