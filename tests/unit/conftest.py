"""Builders for the domain's unit tests: a fixed clock, the cast, and a session built step by step.

Every step goes through `decide` and `evolve`, exactly as the service does, so a builder can never
produce a state the rules would not allow. Time is a constant advanced explicitly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.domain import commands as c
from app.domain.decide import Context, decide, refusal
from app.domain.errors import InvalidInput, RuleViolation
from app.domain.evolve import evolve, fold
from app.domain.model import Actor, Event, ParticipantState, Phase, SessionState, SupportRef
from app.domain.policy import DEFAULT_POLICY, Policy

# A fixed, aware instant: the whole suite measures time from here.
T0 = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)

FAY = Actor("fay", "facilitator")
FINN = Actor("finn", "facilitator")
LEE = Actor("lee", "lead")
DOC = Actor("doc", "prescriber")
ADA = Actor("ada", "admin")

ROLES = {"fay": "facilitator", "finn": "facilitator", "lee": "lead", "doc": "prescriber"}

# Altered phases and how a dosed participant reaches each of them.
ALTERED = ("dosed", "journeying", "paused", "re_entry", "grounding", "stopped")


def staff(username: str) -> SupportRef:
    return SupportRef("staff", username)


def partner(participant_id: str) -> SupportRef:
    return SupportRef("participant", participant_id)


def screening_cmd(pid: str = "p1", sbp: int = 120, dbp: int = 80, **contraindications: bool) -> c.RecordScreening:
    return c.RecordScreening(participant_id=pid, contraindications=contraindications, sbp=sbp, dbp=dbp)


def consent_cmd(pid: str = "p1", **overrides: Any) -> c.RecordConsent:
    fields: dict[str, Any] = {
        "participant_id": pid,
        "touch": ("hand", "shoulder"),
        "pause_signal": "hand on heart",
        "stop_signal": "the word 'enough'",
        "music": True,
        "eyeshades": True,
        "emergency_contact": "Sam, 555-0100",
        "transport_plan": "Sam drives me home",
        "signed_by_participant": True,
        "if_stop_requested": "sit with me until I am steady",
    }
    fields.update(overrides)
    return c.RecordConsent(**fields)


def dose_cmd(pid: str = "p1", route: str = "sublingual", dose_mg: float = 50.0, **kw: Any) -> c.AdministerDose:
    return c.AdministerDose(participant_id=pid, route=route, dose_mg=dose_mg, **kw)


def kinds(events: list[Event]) -> list[str]:
    return [e.kind for e in events]


class SessionBuilder:
    """One session, driven command by command through the domain with a clock that only moves when told."""

    def __init__(
        self,
        kind: str = "individual",
        policy: Policy = DEFAULT_POLICY,
        facilitators: tuple[str, ...] = ("fay", "finn"),
        lead: str = "lee",
        now: datetime = T0,
        session_id: str = "s1",
    ) -> None:
        self.kind = kind
        self.policy = policy
        self.facilitators = facilitators
        self.lead = lead
        self.now = now
        self.state = SessionState(session_id=session_id)
        self.log: list[Event] = []

    # ---------------------------------------------------------------- the clock and the rules

    def advance(self, **delta: float) -> SessionBuilder:
        self.now = self.now + timedelta(**delta)
        return self

    def ctx(self, actor: Actor = FAY, device: str | None = None) -> Context:
        return Context(actor=actor, now=self.now, policy=self.policy, device=device)

    def attempt(self, cmd: c.Command, actor: Actor = FAY) -> list[Event]:
        """What the domain would decide, without folding it."""
        return decide(self.state, cmd, self.ctx(actor))

    def run(self, cmd: c.Command, actor: Actor = FAY, device: str | None = None) -> list[Event]:
        """Decide and fold: the command is accepted (a refusal fails the test here)."""
        events = decide(self.state, cmd, self.ctx(actor, device))
        for event in events:
            self.state = evolve(self.state, event)
        self.log.extend(events)
        return events

    def refuse(self, cmd: c.Command, actor: Actor = FAY, code: str | None = None) -> RuleViolation:
        """The command must be refused by a rule, yield no events and leave the state as it was."""
        return self._rejected(RuleViolation, cmd, actor, code)  # type: ignore[return-value]

    def refused_on_record(self, cmd: c.Command, actor: Actor = FAY, code: str | None = None) -> list[Event]:
        """As the service does: the command is refused, and the record of the attempt is folded."""
        violation = self.refuse(cmd, actor, code)
        events = refusal(self.state, cmd, violation, self.ctx(actor))
        for event in events:
            self.state = evolve(self.state, event)
        self.log.extend(events)
        return events

    def invalid(self, cmd: c.Command, actor: Actor = FAY) -> InvalidInput:
        """The command must be rejected as malformed, yield no events and leave the state as it was."""
        return self._rejected(InvalidInput, cmd, actor, None)  # type: ignore[return-value]

    def _rejected(self, exc: type[Exception], cmd: c.Command, actor: Actor, code: str | None) -> Exception:
        before, seq, log_len = self.state, self.state.seq, len(self.log)
        events: list[Event] | None = None
        with pytest.raises(exc) as info:
            events = decide(self.state, cmd, self.ctx(actor))
        assert events is None, "a refused command must produce no events"
        assert self.state is before and self.state.seq == seq and len(self.log) == log_len
        if code is not None:
            assert info.value.code == code, f"expected {code}, got {info.value!r}"  # type: ignore[attr-defined]
        return info.value

    def p(self, pid: str = "p1") -> ParticipantState:
        participant = self.state.participant(pid)
        assert participant is not None, pid
        return participant

    def phase(self, pid: str = "p1") -> Phase:
        return self.p(pid).phase

    def refold(self) -> SessionState:
        return fold(self.state.session_id, self.log)

    # ---------------------------------------------------------------- fluent set-up

    def opened(self) -> SessionBuilder:
        self.run(c.OpenSession(room_id="room-1", kind=self.kind, facilitators=self.facilitators, lead=self.lead), LEE)
        return self

    def checked_in(self, username: str = "fay", role: str | None = None) -> SessionBuilder:
        role = role or ROLES.get(username, "facilitator")
        self.run(c.CheckIn(username=username, role=role), Actor(username, role))
        return self

    def with_participant(self, pid: str = "p1", name: str | None = None) -> SessionBuilder:
        self.run(
            c.AddParticipant(participant_id=pid, display_name=name or f"Participant {pid}", chart_id=f"chart-{pid}")
        )
        return self

    def screened(self, pid: str = "p1", sbp: int = 120, dbp: int = 80, **contraindications: bool) -> SessionBuilder:
        self.run(screening_cmd(pid, sbp, dbp, **contraindications))
        return self

    def consented(self, pid: str = "p1", **overrides: Any) -> SessionBuilder:
        self.run(consent_cmd(pid, **overrides))
        return self

    def supported(self, pid: str = "p1", by: SupportRef | None = None) -> SessionBuilder:
        self.run(c.AssignSupport(participant_id=pid, support=by or staff("fay")))
        return self

    def ready(self, pid: str = "p1", by: SupportRef | None = None) -> SessionBuilder:
        """Screened clear, agreement signed, a support person assigned: everything a dose needs."""
        return self.screened(pid).consented(pid).supported(pid, by)

    def dosed(self, pid: str = "p1", route: str = "sublingual", dose_mg: float = 50.0) -> SessionBuilder:
        self.run(dose_cmd(pid, route, dose_mg), DOC)
        return self

    def to_phase(self, pid: str, phase: str) -> SessionBuilder:
        """From `screened and ready`, dose and walk the participant to `phase` by the ordinary commands."""
        self.dosed(pid)
        steps: dict[str, list[Callable[[], object]]] = {
            "dosed": [],
            "journeying": [lambda: self.run(c.ChangePhase(pid, "journeying"))],
            "paused": [
                lambda: self.run(c.ChangePhase(pid, "journeying")),
                lambda: self.run(c.Pause(pid, requested_by="participant")),
            ],
            "re_entry": [
                lambda: self.run(c.ChangePhase(pid, "journeying")),
                lambda: self.run(c.ChangePhase(pid, "re_entry")),
            ],
            "grounding": [
                lambda: self.run(c.ChangePhase(pid, "journeying")),
                lambda: self.run(c.ChangePhase(pid, "re_entry")),
                lambda: self.run(c.ChangePhase(pid, "grounding")),
            ],
            "stopped": [
                lambda: self.run(c.ChangePhase(pid, "journeying")),
                lambda: self.run(c.Stop(pid, requested_by="participant")),
            ],
        }
        for step in steps[phase]:
            self.advance(minutes=10)
            step()
        assert self.phase(pid).value == phase
        return self

    def grounded_and_ready_to_leave(self, pid: str = "p1") -> SessionBuilder:
        """In grounding, with every item of the default checklist done."""
        self.to_phase(pid, "grounding")
        ready_at = self.p(pid).dosed_at + timedelta(minutes=self.policy.observation_minutes.for_route("sublingual"))
        if self.now < ready_at:
            self.now = ready_at
        self.run(c.RecordVitals(pid, {"sbp": 128, "dbp": 82, "hr": 74, "spo2": 98}))
        self.run(c.RecordObservation(pid, distress=0, moaa_s=5, rass=0))
        for item in (
            "oriented",
            "steady_gait",
            "nausea_settled",
            "transport_confirmed",
            "followup_scheduled",
            "belongings_returned",
        ):
            self.run(c.TickChecklistItem(pid, item))
        return self


@pytest.fixture
def session() -> SessionBuilder:
    """An open individual session with fay checked in and one participant, p1, who has just arrived."""
    return SessionBuilder().opened().checked_in("fay").with_participant("p1")


@pytest.fixture
def ready_session(session: SessionBuilder) -> SessionBuilder:
    """As `session`, with p1 screened clear, consented and supported by fay: ready for a dose."""
    return session.ready("p1")


@pytest.fixture
def dyad() -> SessionBuilder:
    """A dyad_training session: p1 journeys with partner p2 as sole support; fay is in the room."""
    b = SessionBuilder(kind="dyad_training").opened().checked_in("fay").with_participant("p1").with_participant("p2")
    return b.ready("p1", by=partner("p2"))


__all__ = [
    "ADA",
    "ALTERED",
    "DOC",
    "FAY",
    "FINN",
    "LEE",
    "T0",
    "SessionBuilder",
    "consent_cmd",
    "dose_cmd",
    "kinds",
    "partner",
    "screening_cmd",
    "staff",
]
