"""Signing in and out, and who the caller is."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.web.deps import CurrentUser, ServicesDep, attempt_sign_in, sign_out

from .bodies import LoginBody
from .running import PREFIX

router = APIRouter(prefix=PREFIX)


@router.post("/auth/login")
async def login(body: LoginBody, request: Request, services: ServicesDep) -> dict[str, str]:
    user = await attempt_sign_in(request, services, body.username, body.password)
    return {"username": user.username, "role": user.role}


@router.post("/auth/logout")
def logout(request: Request, services: ServicesDep) -> dict[str, bool]:
    sign_out(request, services)
    return {"signed_out": True}


@router.get("/me")
def me(user: CurrentUser) -> dict[str, str]:
    return {"username": user.username, "role": user.role}
