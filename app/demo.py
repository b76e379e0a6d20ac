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
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select

from app.domain import DEFAULT_POLICY, Actor, InvalidInput, ParticipantState, Phase, Policy, SupportRef
from app.domain import commands as c
from app.domain.vocabulary import CONTRAINDICATIONS
from app.live.broker import MemoryBroker
from app.services import ServiceError, Services
from app.store import people
from app.store.db import unit_of_work
from app.store.tables import CareSession, User

log = logging.getLogger("holdspace.demo")

PASSWORD_ENV = "HOLDSPACE_DEMO_PASSWORD"
DEMO_DEVICE = "holdspace-demo"
SIM_DEVICE = "holdspace-demo (simulated)"

CLINIC_FILE = Path(__file__).with_name("demo_clinic.toml")
CLINIC: dict[str, Any] = tomllib.loads(CLINIC_FILE.read_text(encoding="utf-8"))

# (username, role), in the order the logins are printed.
USERS: tuple[tuple[str, str], ...] = tuple((u["username"], u["role"]) for u in CLINIC["users"])
# (name, assigned staff).
ROOMS: tuple[tuple[str, tuple[str, ...]], ...] = tuple((r["name"], tuple(r["staff"])) for r in CLINIC["rooms"])
LEAD: str = CLINIC["lead"]

NO_CONTRAINDICATIONS = {key: False for key, _words in CONTRAINDICATIONS}


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
    checkin_notes: Sequence[str],
) -> None:
    """Dose, phases, vitals every 15 minutes, consent check-ins every ~19 minutes."""
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


# ---------------------------------------------------------------- a session from the clinic file


def _timeline(spec: dict[str, Any], rng: random.Random, now: datetime, staff: dict[str, Actor]) -> Timeline:
    """Every step of one session of the clinic file, each by the person the file names."""
    t = Timeline()
    pids = {p["key"]: _pid(rng) for p in spec["participants"]}
    for check_in in spec.get("check_ins", ()):
        who = staff[check_in["who"]]
        t.add(check_in["at"], who, c.CheckIn(who.username, who.role))
    prescriber = staff[spec["prescriber"]]
    for p in spec["participants"]:
        pid = pids[p["key"]]
        t.add(p["added"]["at"], staff[p["added"]["by"]], c.AddParticipant(pid, p["name"], p["chart"]))
        if screening := p.get("screening"):
            command = c.RecordScreening(
                pid,
                NO_CONTRAINDICATIONS,
                screening["sbp"],
                screening["dbp"],
                tuple(screening.get("medications", ())),
                notes=screening.get("notes", ""),
            )
            t.add(screening["at"], staff[screening["by"]], command)
        if clearance := p.get("clearance"):
            t.add(clearance["at"], staff[clearance["by"]], c.ClearScreening(pid, clearance["note"]))
        if consent := p.get("consent"):
            agreement = c.RecordConsent(
                participant_id=pid,
                touch=tuple(consent["touch"]),
                pause_signal=consent["pause"],
                stop_signal=consent["stop"],
                music=consent["music"],
                eyeshades=consent["eyeshades"],
                emergency_contact=consent["contact"],
                transport_plan=consent["transport"],
                signed_by_participant=True,
                if_stop_requested=consent["if_stop"],
            )
            t.add(consent["at"], staff[consent["by"]], agreement)
        if support := p.get("support"):
            who = support["who"] if support["kind"] == "staff" else pids[support["who"]]
            t.add(support["at"], staff[support["by"]], c.AssignSupport(pid, SupportRef(support["kind"], who)))
        journey = p.get("journey")
        if journey:
            times = {k: journey.get(k) for k in ("journeying_at", "re_entry_at", "grounding_at")}
            plan = Journey(journey["dose_at"], journey["route"], journey["dose_mg"], **times)
            base = Baseline(**journey["baseline"])
            _journey(t, rng, now, pid, plan, base, staff[journey["staff"]], prescriber, journey["checkin_notes"])
        for observation in p.get("observations", ()):
            values = {k: tuple(v) if isinstance(v, list) else v for k, v in observation.items()}
            at, by = values.pop("at"), values.pop("by", journey["staff"] if journey else None)
            t.add(at, staff[by], c.RecordObservation(pid, **values))
        for tick in p.get("checklist", ()):
            t.add(tick["at"], staff[tick["by"]], c.TickChecklistItem(pid, tick["item"], tick["note"]))
    return t


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
    for spec in CLINIC["sessions"]:
        room_name = spec["room"]
        clock.at = now + timedelta(minutes=spec["opened_at"])
        outcome = services.open_session(
            staff[LEAD], rooms[room_name], spec["kind"], list(spec["facilitators"]), LEAD, device=DEMO_DEVICE
        )
        if not outcome.ok or not outcome.events:
            raise DemoError(f"could not open the demo session in {room_name}: {outcome.body}")
        session_id = outcome.events[0].session_id
        _timeline(spec, rng, now, staff).run(services, clock, now, session_id)
        result.sessions[room_name] = session_id
    return result


# ---------------------------------------------------------------- the simulation

# Safe ranges for simulated readings: plausible drift that raises no alarm by itself.
_SIMULATION = CLINIC["simulation"]
SIM_RANGES: dict[str, tuple[int, int]] = {k: (v[0], v[1]) for k, v in _SIMULATION["ranges"].items()}
SIM_NOTES: tuple[str, ...] = tuple(_SIMULATION["notes"])
CHECKIN_NOTES: tuple[str, ...] = tuple(_SIMULATION["checkin_notes"])
SIM_RESTING: dict[str, int] = dict(_SIMULATION["resting"])
SIM_DRIFT: dict[str, int] = dict(_SIMULATION["drift"])


def demo_sessions(services: Services) -> list[CareSession]:
    """Live sessions the demo opened (their first event came from the demo device)."""
    out = []
    for row in services.live_sessions():
        first = services.events(row.id, after=0, limit=1)
        if first and first[0].device == DEMO_DEVICE:
            out.append(row)
    return out


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
