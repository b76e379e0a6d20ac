"""The JSON API of API.md, one module per resource. Handlers only translate: body -> command,
outcome -> response."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.web.deps import check_csrf

from . import auth, escalations, participants, presence, sessions
from .bodies import NOT_BLANK, required_text

__all__ = ["NOT_BLANK", "required_text", "router"]

router = APIRouter(dependencies=[Depends(check_csrf)])
for resource in (auth, sessions, presence, participants, escalations):
    router.include_router(resource.router)
