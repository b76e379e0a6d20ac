"""What a live screen shows: the context of a room's tablet view, rendered whole or as its block."""

from __future__ import annotations

from typing import Any

from app.domain.decide import PROTECTIVE_PARTS, TOUCH_AREAS
from app.domain.model import TRANSITIONS, Phase
from app.domain.policy import ROUTES
from app.services import Services
from app.store import people
from app.store.db import unit_of_work
from app.store.tables import Room, User
from app.web.templating import render_block
from app.web.views import session_view

ROOM_TEMPLATE = "pages/room.html"

# The forward moves a facilitator makes with the phase button, in the order they are offered.
FORWARD = {
    "dosed": ["journeying"],
    "journeying": ["re_entry"],
    "re_entry": ["grounding"],
    "stopped": ["grounding"],
}


def next_phases(phase: str) -> list[str]:
    allowed = TRANSITIONS[Phase(phase)]
    return [p for p in FORWARD.get(phase, []) if Phase(p) in allowed]


def room_context(services: Services, room_id: str, user: User) -> dict[str, Any] | None:
    """Everything the room's tablet view needs, or None if `user` may not see the room."""
    with unit_of_work(services.engine) as db:
        room = db.get(Room, room_id)
        if room is None or not people.works_in(db, room, user):
            return None
        live = people.live_session(db, room.id)
        staff = [{"username": u.username, "role": u.role} for u in people.room_staff(db, room)]
        leads = [u for u in staff if u["role"] == "lead"]
    now = services.clock()
    session = None
    if live is not None:
        session = session_view(services.state(live.id), services.policy, now)
    return {
        "room": {"id": room.id, "name": room.name, "lead": room.lead},
        "session": session,
        "staff": staff,
        "leads": leads,
        "user": {"username": user.username, "role": user.role},
        "now": now,
        "policy": services.policy,
        "next_phases": next_phases,
        "routes": ROUTES,
        "touch_areas": TOUCH_AREAS,
        "parts": PROTECTIVE_PARTS,
    }


def render_room_live(context: dict[str, Any]) -> str:
    return render_block(ROOM_TEMPLATE, "room_live", context)
