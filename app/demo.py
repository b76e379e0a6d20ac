"""A demo clinic: staff, rooms and two sessions under way, written through the real domain commands.

`seed` fills an empty database: six users, three rooms, a group session in Cedar Room and a
dyad-training session in Willow Room whose records start up to two hours ago (the seeding runs on a
clock that steps through the past, so every event carries a plausible time). `simulate` then keeps
the demo rooms alive: every 20-40 s it records a new vitals reading, an observation, a consent
check-in or a phase change for someone in an altered phase.

Every demo event is recorded from the device `DEMO_DEVICE`; the simulation touches only sessions
whose opening event carries it, so it never writes into a real clinic's records.
"""

from __future__ import annotations

import logging
import math
import os
import random
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import select

from app.domain import DEFAULT_POLICY, Actor, InvalidInput, ParticipantState, Phase, Policy, SupportRef
from app.domain import commands as c
from app.live.broker import MemoryBroker
from app.services import ServiceError, Services
from app.store import people
from app.store.db import unit_of_work
from app.store.tables import CareSession, User

log = logging.getLogger("holdspace.demo")

PASSWORD_ENV = "HOLDSPACE_DEMO_PASSWORD"
DEMO_DEVICE = "holdspace-demo"
SIM_DEVICE = "holdspace-demo (simulated)"

# (username, role), in the order the logins are printed.
USERS: tuple[tuple[str, str], ...] = (
    ("lena", "lead"),
    ("farah", "facilitator"),
    ("theo", "facilitator"),
    ("mika", "facilitator"),
    ("dr.ade", "prescriber"),
    ("admin", "admin"),
)

# (name, assigned staff). Every room is led by lena. The prescriber is assigned to every room so
# that she can see screenings and record doses there.
ROOMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Cedar Room", ("farah", "theo", "dr.ade")),
    ("Willow Room", ("mika", "farah", "dr.ade")),
    ("Juniper Room", ("dr.ade",)),
)
LEAD = "lena"

NO_CONTRAINDICATIONS = {
    "uncontrolled_hypertension": False,
    "psychosis_history": False,
    "pregnancy": False,
    "active_substance_use": False,
    "recent_cardiac_event": False,
}


class DemoError(RuntimeError):
    """The demo could not be written (a domain rule refused a seeding step)."""


@dataclass
class SeedResult:
    created: bool
    usernames: list[str]
    # username -> password, only when this call created the users (and so knows them).
    passwords: dict[str, str] = field(default_factory=dict)
    # username -> the PIN to check oneself in on a shared room tablet (staff who work in rooms).
    pins: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)  # room name -> session id


# ---------------------------------------------------------------- the clock that steps through the past


class SteppingClock:
    """A clock the seeding sets to each step's moment, so events carry the time they describe."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@dataclass(order=True)
class Step:
    minutes: float  # relative to "now" (negative: in the past)
    order: int
    actor: Actor = field(compare=False)
    command: c.Command = field(compare=False)


class Timeline:
    """The steps of one session, collected in any order and run in time order."""

    def __init__(self) -> None:
        self.steps: list[Step] = []

    def add(self, minutes: float, actor: Actor, command: c.Command) -> None:
        self.steps.append(Step(minutes, len(self.steps), actor, command))

    def run(self, services: Services, clock: SteppingClock, now: datetime, session_id: str) -> None:
        for step in sorted(self.steps):
            clock.at = now + timedelta(minutes=step.minutes)
            try:
                outcome = services.execute(session_id, step.command, step.actor, device=DEMO_DEVICE)
            except (InvalidInput, ServiceError) as err:
                raise DemoError(f"seeding step {step.command.name} was refused: {err}") from None
            if not outcome.ok:
                raise DemoError(f"seeding step {step.command.name} was refused: {outcome.body}")


# ---------------------------------------------------------------- plausible numbers


@dataclass(frozen=True)
class Baseline:
    sbp: int
    dbp: int
    hr: int
    spo2: int
    rr: int


def vitals_at(base: Baseline, minutes_after_dose: float, rng: random.Random) -> dict[str, float]:
    """A reading that rises to a modest peak about 40 minutes after the dose, then settles."""
    rise = math.exp(-(((minutes_after_dose - 40.0) / 28.0) ** 2)) if minutes_after_dose >= 0 else 0.0
    return {
        "sbp": base.sbp + round(18 * rise) + rng.randint(-3, 3),
        "dbp": base.dbp + round(9 * rise) + rng.randint(-2, 2),
        "hr": base.hr + round(10 * rise) + rng.randint(-3, 3),
        "spo2": min(100, base.spo2 + rng.randint(-1, 1)),
        "rr": base.rr + rng.randint(-1, 1),
    }


def _pid(rng: random.Random) -> str:
    return f"{rng.getrandbits(48):012x}"


def _consent(
    pid: str,
    *,
    touch: tuple[str, ...],
    pause: str,
    stop: str,
    music: bool,
    eyeshades: bool,
    contact: str,
    transport: str,
    if_stop: str,
) -> c.RecordConsent:
    return c.RecordConsent(
        participant_id=pid,
        touch=touch,
        pause_signal=pause,
        stop_signal=stop,
        music=music,
        eyeshades=eyeshades,
        emergency_contact=contact,
        transport_plan=transport,
        signed_by_participant=True,
        if_stop_requested=if_stop,
    )


@dataclass(frozen=True)
class Journey:
    """When one participant's journey went where, in minutes relative to now."""

    dose_at: float
    route: str
    dose_mg: float
    journeying_at: float
    re_entry_at: float | None = None
    grounding_at: float | None = None


def _journey(
    t: Timeline,
    rng: random.Random,
    now: datetime,
    pid: str,
    j: Journey,
    base: Baseline,
    staff: Actor,
    prescriber: Actor,
    *,
    checkin_notes: tuple[str, ...],
    observations: list[tuple[float, dict]],
) -> None:
    """Dose, phases, vitals every 15 minutes, consent check-ins every ~19 minutes, observations."""
    # The prescriber records the dose two minutes after giving it.
    given = now + timedelta(minutes=j.dose_at)
    t.add(j.dose_at + 2, prescriber, c.AdministerDose(pid, j.route, j.dose_mg, administered_at=given))
    t.add(j.journeying_at, staff, c.ChangePhase(pid, "journeying"))
    if j.re_entry_at is not None:
        t.add(j.re_entry_at, staff, c.ChangePhase(pid, "re_entry"))
    if j.grounding_at is not None:
        t.add(j.grounding_at, staff, c.ChangePhase(pid, "grounding"))
    minute = j.dose_at + 10
    while minute < -0.5:
        t.add(minute, staff, c.RecordVitals(pid, vitals_at(base, minute - j.dose_at, rng)))
        minute += 15
    minute, index = j.dose_at + 2 + 19, 0
    while minute < -0.5:
        t.add(minute, staff, c.AnswerCheckin(pid, ok=True, note=checkin_notes[index % len(checkin_notes)]))
        minute += 19
        index += 1
    for at, values in observations:
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        t.add(at, staff, c.RecordObservation(pid, **values))


# ---------------------------------------------------------------- the two sessions


def _cedar(rng: random.Random, now: datetime, staff: dict[str, Actor]) -> tuple[Timeline, dict[str, str]]:
    """A group session: four participants at different points of their journey."""
    farah, theo, ade = staff["farah"], staff["theo"], staff["dr.ade"]
    t = Timeline()
    rowan, jules, sam, ines = (_pid(rng) for _ in range(4))
    t.add(-124, farah, c.CheckIn("farah", "facilitator"))
    t.add(-123, theo, c.CheckIn("theo", "facilitator"))
    for minute, pid, name, chart in (
        (-120, rowan, "Rowan A.", "C-1042"),
        (-119, jules, "Jules M.", "C-1057"),
        (-117, sam, "Sam K.", "C-1063"),
        (-116, ines, "Ines P.", "C-1071"),
    ):
        t.add(minute, farah, c.AddParticipant(pid, name, chart))

    # Screening. Jules's blood pressure is above the pre-dose line: the prescriber clears it.
    t.add(-112, farah, c.RecordScreening(rowan, NO_CONTRAINDICATIONS, 124, 78, notes="Second session; slept well."))
    t.add(
        -110,
        theo,
        c.RecordScreening(
            jules, NO_CONTRAINDICATIONS, 146, 92, ("sertraline 50 mg daily",), notes="Anxious about the group setting."
        ),
    )
    t.add(-108, theo, c.RecordScreening(sam, NO_CONTRAINDICATIONS, 118, 76, notes="First group session."))
    t.add(-107, farah, c.RecordScreening(ines, NO_CONTRAINDICATIONS, 128, 82))
    t.add(
        -101,
        ade,
        c.ClearScreening(
            jules,
            "Repeat BP 136/86 after ten minutes' rest; white-coat pattern documented at intake. "
            "Cleared for a reduced sublingual dose; recheck BP at 40 minutes.",
        ),
    )

    # The pre-session agreements, attested by the facilitator who went through them.
    t.add(
        -106,
        farah,
        _consent(
            rowan,
            touch=("hand", "shoulder"),
            pause="Hand raised, palm out",
            stop="Says 'red'",
            music=True,
            eyeshades=True,
            contact="Partner: Alex A., 555-0142",
            transport="Partner collects at 16:30",
            if_stop="Lights up a little, water, stay close",
        ),
    )
    t.add(
        -105,
        theo,
        _consent(
            jules,
            touch=("hand",),
            pause="Taps the mat twice",
            stop="Says 'stop'",
            music=True,
            eyeshades=False,
            contact="Sister: Dana M., 555-0178",
            transport="Taxi booked for 16:45, escorted to the car",
            if_stop="Sit up with support, talk me through it",
        ),
    )
    t.add(
        -104,
        theo,
        _consent(
            sam,
            touch=(),
            pause="Says 'pause'",
            stop="Says 'stop' or removes eyeshades",
            music=True,
            eyeshades=True,
            contact="Friend: Chris L., 555-0119",
            transport="Friend collects at 17:00",
            if_stop="No touch, just stay beside me",
        ),
    )
    t.add(
        -103,
        farah,
        _consent(
            ines,
            touch=("hand", "hug"),
            pause="Hand on heart",
            stop="Says 'enough'",
            music=True,
            eyeshades=True,
            contact="Husband: Marco P., 555-0163",
            transport="Husband collects at 17:15",
            if_stop="Hold my hand, help me breathe",
        ),
    )

    # Support persons: each facilitator holds two participants.
    t.add(-100, farah, c.AssignSupport(rowan, SupportRef("staff", "farah")))
    t.add(-100, farah, c.AssignSupport(ines, SupportRef("staff", "farah")))
    t.add(-99, theo, c.AssignSupport(jules, SupportRef("staff", "theo")))
    t.add(-99, theo, c.AssignSupport(sam, SupportRef("staff", "theo")))

    rowan_journey = Journey(-88, "sublingual", 200, journeying_at=-81, re_entry_at=-36, grounding_at=-13)
    _journey(
        t,
        rng,
        now,
        rowan,
        rowan_journey,
        Baseline(122, 78, 72, 98, 14),
        farah,
        ade,
        checkin_notes=("Nods, thumbs up", "'I'm okay, keep going'", "Smiles, says all good", "Clear yes"),
        observations=[
            (-70, {"distress": 1, "moaa_s": 4, "rass": -1, "note": "Quiet tears, relaxed breathing."}),
            (
                -50,
                {
                    "distress": 1,
                    "moaa_s": 4,
                    "rass": 0,
                    "signs": ["tearful"],
                    "parts": ["critic"],
                    "note": "Spoke of an inner critic softening.",
                },
            ),
            (-25, {"distress": 0, "moaa_s": 5, "rass": 0, "suds": 2, "note": "Talking, oriented, calm."}),
            (-9, {"distress": 0, "moaa_s": 5, "rass": 0, "suds": 1, "note": "Sitting up; sipping water."}),
        ],
    )
    t.add(-8, farah, c.TickChecklistItem(rowan, "oriented", "Knows day, place and who is with her."))
    t.add(-5, farah, c.TickChecklistItem(rowan, "transport_confirmed", "Partner on the way; no driving today."))

    _journey(
        t,
        rng,
        now,
        jules,
        Journey(-80, "sublingual", 150, -73, -21),
        Baseline(128, 84, 80, 97, 15),
        theo,
        ade,
        checkin_notes=("Thumbs up", "'Still here, it's okay'", "Nods"),
        observations=[
            (-62, {"distress": 1, "moaa_s": 4, "rass": 0, "note": "Restless hands, settles with music."}),
            (
                -40,
                {
                    "distress": 1,
                    "moaa_s": 4,
                    "rass": -1,
                    "signs": ["nausea"],
                    "note": "Mild nausea; sipping water, passed.",
                },
            ),
            (-15, {"distress": 0, "moaa_s": 5, "rass": 0, "note": "Eyes open, talking softly."}),
        ],
    )

    _journey(
        t,
        rng,
        now,
        sam,
        Journey(-62, "intramuscular", 50, -58),
        Baseline(118, 76, 70, 98, 14),
        theo,
        ade,
        checkin_notes=("Squeezes hand once: okay", "Nods"),
        observations=[
            (-45, {"distress": 1, "moaa_s": 4, "rass": -1, "note": "Still, breathing slowly."}),
            (-25, {"distress": 1, "moaa_s": 4, "rass": 0, "signs": ["tearful"], "note": "Quiet crying."}),
            (
                -6,
                {
                    "distress": 2,
                    "moaa_s": 4,
                    "rass": 1,
                    "suds": 7,
                    "signs": ["tearful", "restless"],
                    "parts": ["isolator"],
                    "note": "Crying and curling up; says 'I don't want to be alone'. Theo sitting close, "
                    "breathing together.",
                },
            ),
        ],
    )

    _journey(
        t,
        rng,
        now,
        ines,
        Journey(-45, "sublingual", 200, -39),
        Baseline(126, 80, 76, 99, 13),
        farah,
        ade,
        checkin_notes=("Hand on heart, smiles", "Thumbs up"),
        observations=[
            (-30, {"distress": 1, "moaa_s": 4, "rass": -1, "note": "Swaying to the music."}),
            (-12, {"distress": 0, "moaa_s": 4, "rass": -1, "note": "Peaceful, still."}),
        ],
    )
    return t, {"Rowan A.": rowan, "Jules M.": jules, "Sam K.": sam, "Ines P.": ines}


def _willow(rng: random.Random, now: datetime, staff: dict[str, Actor]) -> tuple[Timeline, dict[str, str]]:
    """A training cohort in dyads: each journeyer is supported by their partner."""
    mika, ade = staff["mika"], staff["dr.ade"]
    t = Timeline()
    noor, eli, tess, kai = (_pid(rng) for _ in range(4))
    t.add(-78, mika, c.CheckIn("mika", "facilitator"))
    for minute, pid, name, chart in (
        (-76, noor, "Noor H.", "C-2011"),
        (-76, eli, "Eli B.", "C-2014"),
        (-75, tess, "Tess W.", "C-2020"),
        (-75, kai, "Kai D.", "C-2023"),
    ):
        t.add(minute, mika, c.AddParticipant(pid, name, chart))
    # Everyone is screened, journeyers and partners alike; only the journeyers are dosed today.
    t.add(-72, mika, c.RecordScreening(noor, NO_CONTRAINDICATIONS, 120, 76, notes="Journeying today; Eli supports."))
    t.add(-71, mika, c.RecordScreening(eli, NO_CONTRAINDICATIONS, 126, 80, notes="Supporting partner today."))
    t.add(-70, mika, c.RecordScreening(tess, NO_CONTRAINDICATIONS, 116, 74, notes="Journeying today; Kai supports."))
    t.add(-69, mika, c.RecordScreening(kai, NO_CONTRAINDICATIONS, 130, 84, notes="Supporting partner today."))
    t.add(
        -66,
        mika,
        _consent(
            noor,
            touch=("hand",),
            pause="Raises a hand",
            stop="Says 'stop'",
            music=True,
            eyeshades=True,
            contact="Mother: Samira H., 555-0131",
            transport="Eli drives her home",
            if_stop="Eli stays, facilitator checks in",
        ),
    )
    t.add(
        -65,
        mika,
        _consent(
            tess,
            touch=("hand", "shoulder"),
            pause="Says 'pause'",
            stop="Says 'red'",
            music=True,
            eyeshades=False,
            contact="Partner: Jo W., 555-0187",
            transport="Partner collects at 16:00",
            if_stop="Kai stays, lights up",
        ),
    )
    t.add(-63, mika, c.AssignSupport(noor, SupportRef("participant", eli)))
    t.add(-63, mika, c.AssignSupport(tess, SupportRef("participant", kai)))

    _journey(
        t,
        rng,
        now,
        noor,
        Journey(-52, "sublingual", 150, -46, -9),
        Baseline(120, 76, 74, 98, 14),
        mika,
        ade,
        checkin_notes=("Thumbs up to Eli", "'Yes, okay'"),
        observations=[
            (-35, {"distress": 1, "moaa_s": 4, "rass": -1, "note": "Holding Eli's hand, calm."}),
            (-7, {"distress": 0, "moaa_s": 5, "rass": 0, "suds": 2, "note": "Coming back, talking with Eli."}),
        ],
    )
    _journey(
        t,
        rng,
        now,
        tess,
        Journey(-34, "sublingual", 150, -28),
        Baseline(116, 74, 68, 99, 13),
        mika,
        ade,
        checkin_notes=("Nods",),
        observations=[
            (
                -18,
                {
                    "distress": 1,
                    "moaa_s": 4,
                    "rass": 0,
                    "signs": ["laughing"],
                    "note": "Laughing softly; Kai sitting beside her.",
                },
            ),
        ],
    )
    t.add(-20, mika, c.RecordObservation(eli, note="Holding space well; reminded to drink water too."))
    return t, {"Noor H.": noor, "Eli B.": eli, "Tess W.": tess, "Kai D.": kai}


# ---------------------------------------------------------------- seeding


def _as_services(target: Services | Engine, policy: Policy | None, clock: SteppingClock) -> Services:
    if isinstance(target, Services):
        return Services(target.engine, target.write_engine, policy or target.policy, target.broker, clock)
    return Services(target, target, policy or DEFAULT_POLICY, MemoryBroker(), clock)


def demo_password() -> str | None:
    return os.environ.get(PASSWORD_ENV) or None


def seed(
    target: Services | Engine,
    *,
    policy: Policy | None = None,
    password: str | None = None,
    now: datetime | None = None,
    rng_seed: int = 20240611,
) -> SeedResult:
    """Write the demo clinic into an empty database (one with no users yet); otherwise do nothing.

    `password` (default: HOLDSPACE_DEMO_PASSWORD) is every demo user's password; without it each
    user gets a random one, returned in the result so the caller can print it.
    """
    engine = target.write_engine if isinstance(target, Services) else target
    rng = random.Random(rng_seed)
    password = password if password is not None else demo_password()
    now = now or datetime.now(UTC)

    with unit_of_work(engine) as db:
        existing = list(db.exec(select(User).order_by(User.id)))  # type: ignore[arg-type]
        if existing:
            return SeedResult(
                created=False,
                usernames=[u.username for u in existing],
                roles={u.username: u.role for u in existing},
            )
        passwords: dict[str, str] = {}
        pins: dict[str, str] = {}
        for username, role in USERS:
            passwords[username] = password or secrets.token_urlsafe(9)
            people.create_user(db, username, role, passwords[username])
            if role != "admin":  # admins do not work in rooms, so never check in to one
                pins[username] = f"{secrets.randbelow(10_000):04d}"
                people.set_pin(db, username, pins[username])
        rooms = {}
        for name, assigned in ROOMS:
            room = people.create_room(db, name, lead=LEAD)
            for username in assigned:
                people.assign(db, room, username)
            rooms[name] = room
        db.commit()

    clock = SteppingClock(now)
    services = _as_services(target, policy, clock)
    staff = {username: Actor(username, role) for username, role in USERS}
    result = SeedResult(
        created=True,
        usernames=[u for u, _ in USERS],
        passwords=passwords,
        pins=pins,
        roles=dict(USERS),
    )
    for room_name, kind, facilitators, opened, build in (
        ("Cedar Room", "group", ("farah", "theo"), -125, _cedar),
        ("Willow Room", "dyad_training", ("mika", "farah"), -80, _willow),
    ):
        clock.at = now + timedelta(minutes=opened)
        outcome = services.open_session(
            staff[LEAD], rooms[room_name], kind, list(facilitators), LEAD, device=DEMO_DEVICE
        )
        if not outcome.ok or not outcome.events:
            raise DemoError(f"could not open the demo session in {room_name}: {outcome.body}")
        session_id = outcome.events[0].session_id
        timeline, _names = build(rng, now, staff)
        timeline.run(services, clock, now, session_id)
        result.sessions[room_name] = session_id
    return result


# ---------------------------------------------------------------- the simulation

# Safe ranges for simulated readings: plausible drift that raises no alarm by itself.
SIM_RANGES = {"sbp": (105, 165), "dbp": (64, 98), "hr": (56, 110), "spo2": (95, 100), "rr": (10, 18)}
SIM_NOTES = (
    "Breathing slow and even.",
    "Shifted position; settled again.",
    "Quiet, eyes closed, music on.",
    "Asked for water; sipped some.",
    "Soft smile; hand relaxed.",
    "Brief tears, then calm.",
    "Murmuring; calm when support spoke.",
)
CHECKIN_NOTES = ("Thumbs up", "Nods", "'I'm okay'", "Squeezes hand: okay")


def demo_sessions(services: Services) -> list[CareSession]:
    """Live sessions the demo opened (their first event came from the demo device)."""
    out = []
    for row in services.live_sessions():
        first = services.events(row.id, after=0, limit=1)
        if first and first[0].device == DEMO_DEVICE:
            out.append(row)
    return out


SIM_RESTING = {"sbp": 122, "dbp": 78, "hr": 74, "spo2": 98, "rr": 14}
SIM_DRIFT = {"sbp": 4, "dbp": 3, "hr": 4, "spo2": 1, "rr": 1}


def _next_vitals(p: ParticipantState, rng: random.Random) -> dict[str, float]:
    out = {}
    for name, (low, high) in SIM_RANGES.items():
        last = p.vitals.get(name)
        centre = SIM_RESTING[name] if last is None else last.value
        # A little drift, leaning back toward rest so a long demo does not wander to the edges.
        value = centre + rng.randint(-SIM_DRIFT[name], SIM_DRIFT[name]) + (SIM_RESTING[name] - centre) * 0.2
        out[name] = min(high, max(low, round(value)))
    return out


def _next_observation(p: ParticipantState, rng: random.Random) -> c.RecordObservation:
    current = p.distress if p.distress is not None else 1
    distress = min(2, max(0, current + rng.choice((-1, 0, 0, 0, 1))))
    if p.phase in (Phase.GROUNDING, Phase.RE_ENTRY):
        distress = min(distress, 1)
        moaa_s, rass = 5, 0
    else:
        moaa_s, rass = rng.choice((4, 4, 5)), rng.choice((-1, 0, 0))
    return c.RecordObservation(p.id, distress=distress, moaa_s=moaa_s, rass=rass, note=rng.choice(SIM_NOTES))


def simulate_step(services: Services, rng: random.Random, now: datetime | None = None) -> str | None:
    """Record one plausible entry for a random altered participant of a demo session. Returns a
    short description of what was recorded, or None when there was nobody to record for."""
    now = now or services.clock()
    candidates: list[tuple[str, ParticipantState, Actor]] = []
    for row in demo_sessions(services):
        state = services.state(row.id)
        present = {u: role for u, role in state.present.items() if role in ("facilitator", "lead")}
        if not present:
            continue
        for p in state.participants.values():
            if not p.altered:
                continue
            # Prefer the participant's own staff support person when they are in the room.
            staff_support = [s.id for s in p.support if s.kind == "staff" and s.id in present]
            username = staff_support[0] if staff_support else sorted(present)[0]
            candidates.append((row.id, p, Actor(username, present[username])))
    if not candidates:
        return None
    session_id, p, actor = rng.choice(candidates)
    minutes = (now - p.dosed_at).total_seconds() / 60 if p.dosed_at else 0.0
    command: c.Command
    if p.checkin_due_at is not None and p.checkin_due_at - now <= timedelta(minutes=2):
        command = c.AnswerCheckin(p.id, ok=True, note=rng.choice(CHECKIN_NOTES))
    elif p.phase is Phase.JOURNEYING and minutes >= 50 and rng.random() < 0.3:
        command = c.ChangePhase(p.id, "re_entry")
    elif p.phase is Phase.RE_ENTRY and minutes >= 80 and rng.random() < 0.3:
        command = c.ChangePhase(p.id, "grounding")
    elif rng.random() < 0.6:
        command = c.RecordVitals(p.id, _next_vitals(p, rng))
    else:
        command = _next_observation(p, rng)
    outcome = services.execute(session_id, command, actor, device=SIM_DEVICE)
    return f"{command.name} for {p.display_name}: {outcome.status}"


def simulate(
    services: Services,
    stop_event: threading.Event,
    *,
    rng: random.Random | None = None,
    interval: tuple[float, float] = (20.0, 40.0),
    on_step: Callable[[str], None] | None = None,
) -> None:
    """Until `stop_event` is set: every 20-40 s, one simulated entry in a demo room (see simulate_step)."""
    rng = rng or random.Random(7)
    while not stop_event.wait(rng.uniform(*interval)):
        try:
            done = simulate_step(services, rng)
        except Exception:  # the demo must outlive a passing error (a locked database, a refusal)
            log.exception("demo simulation step failed")
            continue
        if done and on_step is not None:
            on_step(done)


def start_simulation(services: Services, **kwargs: object) -> tuple[threading.Thread, threading.Event]:
    stop_event = threading.Event()
    thread = threading.Thread(
        target=simulate, args=(services, stop_event), kwargs=kwargs, name="holdspace-demo-sim", daemon=True
    )
    thread.start()
    return thread, stop_event
