"""What live screens show, rendered once per room version for every viewer of the room.

The room fragment is the same for every viewer: controls a role may not use are hidden by the
page shell (and refused by the domain as always), the entry forms live in the page, and relative
times are written by the page from `<time datetime>` values. What changes with time alone (a
check-in falling due, the earliest discharge passing, a mute running out) is named as the
version's `next_change_at`, and the room's feed renders once more then.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from app.domain.escalation import DISTRESS_PRIORITY, START_STEP, reaches_beyond_the_room
from app.domain.events import EscalationPayload
from app.domain.model import TRANSITIONS, Phase
from app.domain.vocabulary import PROTECTIVE_PARTS, ROUTES, TOUCH_AREAS
from app.live.feeds import RoomVersion
from app.live.outbox import EventFrame
from app.live.presence import Presence
from app.services import Services
from app.store import people
from app.store.db import unit_of_work
from app.store.events import read_back
from app.store.tables import Room, User
from app.web.templating import clock_seconds, render_block
from app.web.views import escalation_view, followup_view, session_view, sort_alarms

ROOM_TEMPLATE = "pages/room.html"
OVERVIEW_TEMPLATE = "pages/overview.html"
ALARM_STRIP_TEMPLATE = "partials/alarm_strip.html"

# The distress levels whose alarm starts at step 3: the tap pages every lead and the medical on-call.
DISTRESS_PAGES_ALL = frozenset(level for level, priority in DISTRESS_PRIORITY.items() if START_STEP[priority] >= 3)

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


def _when(value: str | None) -> datetime | None:
    return None if not value else datetime.fromisoformat(value)


def next_change(view: dict[str, Any] | None, now: datetime, vitals_window: timedelta) -> datetime | None:
    """The next moment the room's fragment would read differently with no new event."""
    if view is None:
        return None
    moments: list[datetime | None] = []
    for p in view["participants"]:
        if p["phase"] in ("discharged", "transferred"):
            continue
        moments += [_when(p["checkin_due_at"]), _when(p["earliest_discharge_at"])]
        if p["phase"] == "grounding":
            moments += [_when(v["observed_at"]) + vitals_window for v in p["last_vitals"].values() if v["observed_at"]]
    moments += [_when(e["muted_until"]) for e in view["open_escalations"]]
    future = [m for m in moments if m is not None and m > now]
    return min(future) if future else None


def status_fragment(now: datetime, seq: int | None) -> str:
    """The heartbeat: server time and the room's seq, the same small frame for every socket."""
    return (
        f'<div id="live-status" hx-swap-oob="true" data-live="true" data-at="{now.isoformat()}" '
        f'data-seq="{seq if seq is not None else ""}">Live · updated {clock_seconds(now)}</div>'
    )


def _room_row(db: Any, room_id: str) -> tuple[Room, list[dict[str, str]]] | None:
    room = db.get(Room, room_id)
    if room is None:
        return None
    return room, [{"username": u.username, "role": u.role} for u in people.room_staff(db, room)]


def room_context(services: Services, room_id: str, user: User | None = None) -> dict[str, Any] | None:
    """Everything the room's tablet view needs, or None if `user` may not see the room. The live
    block reads nothing of the user: the page around it does."""
    with unit_of_work(services.engine) as db:
        room = db.get(Room, room_id)
        if room is None or (user is not None and not people.works_in(db, room, user)):
            return None
        live = people.live_session(db, room.id)
        staff = [{"username": u.username, "role": u.role} for u in people.room_staff(db, room)]
    now = services.clock()
    session = None
    if live is not None:
        session = session_view(services.state(live.id), services.policy, now)
    return _context(room, session, staff, now, services, user)


def _context(
    room: Room,
    session: dict[str, Any] | None,
    staff: list[dict[str, str]],
    now: datetime,
    services: Services,
    user: Any,
) -> dict[str, Any]:
    return {
        "room": {"id": room.id, "name": room.name, "lead": room.lead},
        "session": session,
        "staff": staff,
        "leads": [u for u in staff if u["role"] == "lead"],
        "user": {"username": user.username, "role": user.role} if user is not None else None,
        "now": now,
        "policy": services.policy,
        "next_phases": next_phases,
        "routes": ROUTES,
        "touch_areas": TOUCH_AREAS,
        "parts": PROTECTIVE_PARTS,
        "distress_pages_all": DISTRESS_PAGES_ALL,
    }


_INDENT = re.compile(r"\n\s+")


def render_room_live(context: dict[str, Any]) -> str:
    """The room's live block, without the template's indentation (a fifth of its bytes)."""
    return _INDENT.sub("\n", render_block(ROOM_TEMPLATE, "room_live", context))


class LiveRenderer:
    """Reads and renders for the room feeds (app.live.feeds): once per room version."""

    def __init__(self, services: Services, presence: Presence) -> None:
        self.services = services
        self.presence = presence

    def room(self, room_id: str, previous: RoomVersion | None, force: bool, render: bool = True) -> RoomVersion:
        services = self.services
        with unit_of_work(services.engine) as db:
            live = people.live_session(db, room_id)
            found = _room_row(db, room_id) if render else None
        if render and found is None:
            return RoomVersion(None, 0, "", None)
        state = services.state(live.id) if live is not None else None
        session_id = state.session_id if state is not None else None
        seq = state.seq if state is not None else 0
        unchanged = previous is not None and previous.session_id == session_id and previous.seq == seq
        if unchanged and not force and (previous.frame is not None or not render):  # type: ignore[union-attr]
            return previous  # type: ignore[return-value]
        if found is None:  # only JSON streams follow the room: the seq is all they need
            return RoomVersion(session_id, seq, None)
        room, staff = found
        now = services.clock()
        view = session_view(state, services.policy, now) if state is not None else None
        html = render_room_live(_context(room, view, staff, now, services, None))
        window = timedelta(minutes=services.policy.vitals_interval_minutes)
        return RoomVersion(session_id, seq, html + status_fragment(now, seq), view, next_change(view, now, window), now)

    def event_frames(self, session_id: str, after: int) -> list[EventFrame]:
        events = self.services.events(session_id, after=after)
        if not events:
            return []
        touched = any(isinstance(e.payload, EscalationPayload) for e in events)
        return self._frames(session_id, events, self.services.state(session_id) if touched else None)

    def frames(self, session_id: str, events: list[Any], state: Any) -> list[EventFrame]:
        """The frames of events this process just committed, byte for byte what a read of the
        log would make of them, from the events and the session's state after them: no read."""
        return self._frames(session_id, [read_back(e) for e in events], state)

    def _frames(self, session_id: str, events: list[Any], state: Any) -> list[EventFrame]:
        """Each event once as the stream sends it, then each alarm its events changed."""
        messages = [event_message(session_id, e) for e in events]
        frames = [EventFrame(session_id, m["seq"], json.dumps(m)) for m in messages]
        changed = list(
            dict.fromkeys(e.payload.escalation_id for e in events if isinstance(e.payload, EscalationPayload))
        )
        if changed and state is not None:
            now = self.services.clock()
            for eid in changed:
                if eid in state.escalations:
                    message = {"type": "escalation", **escalation_view(state, state.escalations[eid], now)}
                    frames.append(EventFrame(session_id, messages[-1]["seq"], json.dumps(message), follows=True))
        return frames

    def heartbeat(self, now: datetime, seq: int | None) -> str:
        return status_fragment(now, seq)

    def json_heartbeat(self, now: datetime) -> str:
        return json.dumps({"type": "heartbeat", "at": now.isoformat()})

    def alarms_heartbeat(self, now: datetime) -> str:
        return alarm_strip_beat(now)

    def tile(self, room_id: str, version: RoomVersion) -> str:
        with unit_of_work(self.services.engine) as db:
            room = db.get(Room, room_id)
        if room is None:
            return ""
        now = self.services.clock()
        r = {
            "room": {"id": room.id, "name": room.name, "lead": room.lead},
            "session": version.view,
            "tablets": self.presence.for_room(room.id, now),
        }
        return render_block(OVERVIEW_TEMPLATE, "tile", {"r": r, "now": now})


def event_message(session_id: str, event: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "event",
        "session_id": session_id,
        "seq": event.seq,
        "kind": event.kind,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "data": event.data,
    }
    if event.participant_id is not None:
        message["participant_id"] = event.participant_id
    return message


# ------------------------------------------------------------------ the lead's overview


def step_three_elsewhere(
    services: Services, user: User, now: Any, own: list[str] | None = None
) -> list[dict[str, Any]]:
    """Open step-3 alarms from rooms the user does not work in, for leads and prescribers (from the
    open-items projection: the cost does not grow with the clinic's past)."""
    if not reaches_beyond_the_room(3, user.role):
        return []
    if own is None:
        with unit_of_work(services.engine) as db:
            own = [room.id for room in people.rooms_for(db, user)]
    out = []
    items = services.open_items("escalation", min_step=3, exclude_rooms=own)
    for session_id in dict.fromkeys(item.session_id for item in items):
        state = services.state(session_id)
        out.extend(
            escalation_view(state, e, now) for e in state.open_escalations if reaches_beyond_the_room(e.step, user.role)
        )
    return out


def open_followups(services: Services, room_ids: list[str], now: datetime) -> list[dict[str, Any]]:
    out = []
    items = services.open_items("followup", room_ids=room_ids)
    for session_id in dict.fromkeys(item.session_id for item in items):
        state = services.state(session_id)
        out.extend(followup_view(state, f, now) for f in state.followups.values() if f.open)
    out.sort(key=lambda f: (not f["overdue"], f["due_at"]))
    return out


def overview_lists(
    services: Services, user: User, rooms: list[Room], sessions: dict[str, dict[str, Any] | None], now: datetime
) -> dict[str, Any]:
    """The alarm list and the follow-ups of a lead's overview (the tiles are the rooms' own)."""
    alarms = [e for view in sessions.values() if view for e in view["open_escalations"]]
    own = [room.id for room in rooms]
    elsewhere = step_three_elsewhere(services, user, now, own)
    alarms.extend(elsewhere)
    room_names = {room.id: room.name for room in rooms}
    if elsewhere:
        with unit_of_work(services.engine) as db:
            for e in elsewhere:
                other = db.get(Room, e["room_id"])
                room_names[e["room_id"]] = f"{other.name if other else e['room_id']} (not your room)"
    alarms = sort_alarms(alarms)
    followups = open_followups(services, own, now)
    return {
        "room_names": room_names,
        "alarms": alarms,
        "followups": followups,
        "overdue_count": sum(1 for f in followups if f["overdue"]),
        "now": now,
        "user": {"username": user.username, "role": user.role},
        # An alarm of the user's own rooms links to the person's card.
        "own_room_ids": set(own),
    }


def overview_rooms(services: Services, user: User) -> list[Room]:
    with unit_of_work(services.engine) as db:
        return list(people.rooms_for(db, user))


def overview_context(services: Services, user: User, presence: Presence) -> dict[str, Any]:
    """Every room the user works in or leads, with open alarms first (most urgent, then oldest)."""
    now = services.clock()
    rooms = overview_rooms(services, user)
    with unit_of_work(services.engine) as db:
        live = {room.id: people.live_session(db, room.id) for room in rooms}
    sessions: dict[str, dict[str, Any] | None] = {}
    tiles = []
    for room in rooms:
        row = live[room.id]
        view = session_view(services.state(row.id), services.policy, now) if row is not None else None
        sessions[room.id] = view
        tiles.append(
            {
                "room": {"id": room.id, "name": room.name, "lead": room.lead},
                "session": view,
                "tablets": presence.for_room(room.id, now),
            }
        )
    return {"rooms": tiles, **overview_lists(services, user, rooms, sessions, now)}


def render_overview_live(context: dict[str, Any]) -> str:
    return render_block(OVERVIEW_TEMPLATE, "overview_live", context)


def render_overview_lists(context: dict[str, Any]) -> str:
    """The alarm list and the follow-ups, each a top-level element swapped by its id."""
    return render_block(OVERVIEW_TEMPLATE, "alarms", context) + render_block(OVERVIEW_TEMPLATE, "followups", context)


# ------------------------------------------------------------------ the alarm list on every page


def alarm_strip_context(
    services: Services,
    user: User,
    rooms: list[Room],
    sessions: dict[str, dict[str, Any] | None],
    except_room: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The open alarms of every room the user works in (from the rooms' feeds) and, for leads and
    prescribers, step-3 alarms elsewhere, most urgent first, for the list every signed-in page
    carries. The room whose own page already lists its alarms is left out."""
    alarms = [
        e for room_id, view in sessions.items() if view and room_id != except_room for e in view["open_escalations"]
    ]
    names = {room.id: room.name for room in rooms}
    elsewhere = [e for e in step_three_elsewhere(services, user, now, list(names)) if e["room_id"] != except_room]
    if elsewhere:
        with unit_of_work(services.engine) as db:
            for e in elsewhere:
                if e["room_id"] not in names:
                    other = db.get(Room, e["room_id"])
                    names[e["room_id"]] = f"{other.name if other else e['room_id']} (not your room)"
        alarms.extend({**e, "elsewhere": True} for e in elsewhere)
    return {"alarms": sort_alarms(alarms), "room_names": names, "now": now, "except_room": except_room}


def render_alarm_strip(context: dict[str, Any]) -> str:
    return render_block(ALARM_STRIP_TEMPLATE, "alarm_strip", context)


def alarm_strip_beat(now: datetime) -> str:
    """The alarm list's heartbeat: it says only that its own link is alive."""
    return f'<span id="alarm-strip-beat" hx-swap-oob="true" hidden>{now.isoformat()}</span>'
