"""What a live screen shows: the context of a room's tablet view, rendered whole or as its block."""

from __future__ import annotations

from typing import Any

from app.domain.escalation import DISTRESS_PRIORITY, START_STEP, reaches_beyond_the_room
from app.domain.model import TRANSITIONS, Phase
from app.domain.vocabulary import PROTECTIVE_PARTS, ROUTES, TOUCH_AREAS
from app.services import Services
from app.store import people
from app.store.db import unit_of_work
from app.store.tables import Room, User
from app.web.templating import render_block
from app.web.views import escalation_view, followup_view, session_view, sort_alarms

ROOM_TEMPLATE = "pages/room.html"

# The levels whose alarm starts at step 3: the tap pages every lead and the medical on-call.
DISTRESS_PAGES_ALL = frozenset(level for level, priority in DISTRESS_PRIORITY.items() if START_STEP[priority] >= 3)
OVERVIEW_TEMPLATE = "pages/overview.html"

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
        "distress_pages_all": DISTRESS_PAGES_ALL,
    }


def render_room_live(context: dict[str, Any]) -> str:
    return render_block(ROOM_TEMPLATE, "room_live", context)


def step_three_elsewhere(services: Services, user: User, now: Any) -> list[dict[str, Any]]:
    """Open step-3 alarms from rooms the user does not work in, for leads and prescribers."""
    if not reaches_beyond_the_room(3, user.role):
        return []
    with unit_of_work(services.engine) as db:
        own = {room.id for room in people.rooms_for(db, user)}
    out = []
    for row in services.live_sessions():
        if row.room_id in own:
            continue
        state = services.state(row.id)
        out.extend(
            escalation_view(state, e, now) for e in state.open_escalations if reaches_beyond_the_room(e.step, user.role)
        )
    return out


def _attention(p: dict[str, Any]) -> tuple[int, int, int]:
    prio = {"high": 0, "medium": 1, "low": 2}
    top = min((prio[e["priority"]] for e in p["alarms"]), default=3)
    return (top, -(p["distress"] or 0), 0 if not p["support"] and not p["supporting"] else 1)


def overview_context(services: Services, user: User, presence: Any) -> dict[str, Any]:
    """Every room the user works in or leads, with open alarms first (most urgent, then oldest)."""
    now = services.clock()
    with unit_of_work(services.engine) as db:
        rooms = people.rooms_for(db, user)
        live = {room.id: people.live_session(db, room.id) for room in rooms}
        room_ids = [room.id for room in rooms]
    tiles, alarms, followups = [], [], []
    for room in rooms:
        session = None
        row = live[room.id]
        if row is not None:
            session = session_view(services.state(row.id), services.policy, now)
            alarms.extend(session["open_escalations"])
            # What needs attention first: people with an open alarm, then by distress.
            session["participants"].sort(key=_attention)
        tiles.append(
            {
                "room": {"id": room.id, "name": room.name, "lead": room.lead},
                "session": session,
                "tablets": presence.for_room(room.id, now),
            }
        )
    elsewhere = step_three_elsewhere(services, user, now)
    alarms.extend(elsewhere)
    room_names = {room.id: room.name for room in rooms}
    if elsewhere:
        with unit_of_work(services.engine) as db:
            for e in elsewhere:
                other = db.get(Room, e["room_id"])
                room_names[e["room_id"]] = f"{other.name if other else e['room_id']} (not your room)"
    for row in services.sessions_in_rooms(room_ids, live_only=False):
        state = services.state(row.id)
        followups.extend(followup_view(state, f, now) for f in state.followups.values() if f.open)
    alarms = sort_alarms(alarms)
    followups.sort(key=lambda f: (not f["overdue"], f["due_at"]))
    return {
        "rooms": tiles,
        "room_names": room_names,
        "own_room_ids": set(room_ids),
        "alarms": alarms,
        "followups": followups,
        "overdue_count": sum(1 for f in followups if f["overdue"]),
        "now": now,
        "user": {"username": user.username, "role": user.role},
    }


def render_overview_live(context: dict[str, Any]) -> str:
    return render_block(OVERVIEW_TEMPLATE, "overview_live", context)


ALARM_STRIP_TEMPLATE = "partials/alarm_strip.html"


def alarm_strip_context(services: Services, user: User, except_room: str | None) -> dict[str, Any]:
    """The open alarms of every room the user works in (and step-3 alarms elsewhere for leads and
    prescribers), most urgent first, for the strip every signed-in page carries. The room whose own
    page already lists its alarms is left out."""
    now = services.clock()
    with unit_of_work(services.engine) as db:
        rooms = people.rooms_for(db, user)
        names = {room.id: room.name for room in rooms}
        live = [(room.id, people.live_session(db, room.id)) for room in rooms]
    alarms = []
    for room_id, row in live:
        if row is None or room_id == except_room:
            continue
        state = services.state(row.id)
        alarms.extend(escalation_view(state, e, now) for e in state.open_escalations)
    for e in step_three_elsewhere(services, user, now):
        if e["room_id"] != except_room:
            alarms.append({**e, "elsewhere": True})
    if any(e.get("elsewhere") for e in alarms):
        with unit_of_work(services.engine) as db:
            for e in alarms:
                if e.get("elsewhere") and e["room_id"] not in names:
                    other = db.get(Room, e["room_id"])
                    names[e["room_id"]] = f"{other.name if other else e['room_id']} (not your room)"
    alarms = sort_alarms(alarms)
    return {"alarms": alarms, "room_names": names, "now": now, "except_room": except_room}


def render_alarm_strip(context: dict[str, Any]) -> str:
    return render_block(ALARM_STRIP_TEMPLATE, "alarm_strip", context)
