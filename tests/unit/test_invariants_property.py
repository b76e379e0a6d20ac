"""The invariants of PRODUCT.md under random use: two facilitators' tablets, a prescriber and a lead
send commands in any order against one session while the clock moves on by random amounts.

Every step goes through `decide`; an accepted command's events are folded with `evolve`, a refused or
malformed one must leave the state exactly as it was; as in the service, a refusal is then put on the
record (`refusal`), which for a dyad lock also opens a follow-up. After every step the invariants are
checked against the state before and after it and the events it produced.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field, replace
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from app.domain import commands as c
from app.domain.decide import WITHDRAWABLE, Context, consent_missing, decide, next_deadline, refusal
from app.domain.errors import InvalidInput, RuleViolation
from app.domain.escalation import START_STEP
from app.domain.events import upcast
from app.domain.evolve import evolve, fold
from app.domain.model import COVERING_ROLES, Actor, Event, Phase, SessionState, SupportRef
from app.domain.policy import DEFAULT_POLICY

from .conftest import T0, consent_cmd, screening_cmd

ACTORS = {
    "fay": Actor("fay", "facilitator"),
    "finn": Actor("finn", "facilitator"),
    "doc": Actor("doc", "prescriber"),
    "lee": Actor("lee", "lead"),
}
# fay and finn each hold a tablet; the prescriber and the lead have their own devices.
DEVICES = {"fay": "tablet-1", "finn": "tablet-2", "doc": "phone-doc", "lee": "laptop-lee"}
PARTICIPANTS = ("p1", "p2", "p3", "p4")
PAUSABLE = frozenset({Phase.DOSED, Phase.JOURNEYING, Phase.RE_ENTRY})
STOPPABLE = PAUSABLE | {Phase.PAUSED}
MEDICINE = frozenset({Phase.DOSED, Phase.JOURNEYING, Phase.RE_ENTRY})

# How the warm start walks a dosed participant on to each altered phase.
WALKS = {
    "dosed": lambda pid: [],
    "journeying": lambda pid: [c.ChangePhase(pid, "journeying")],
    "paused": lambda pid: [c.ChangePhase(pid, "journeying"), c.Pause(pid, requested_by="participant")],
    "re_entry": lambda pid: [c.ChangePhase(pid, "journeying"), c.ChangePhase(pid, "re_entry")],
    "grounding": lambda pid: [c.ChangePhase(pid, "re_entry"), c.ChangePhase(pid, "grounding")],
    "stopped": lambda pid: [c.Stop(pid, requested_by="participant")],
}

tablets = st.sampled_from(["fay", "finn"])
anyone = st.sampled_from(["fay", "finn", "doc", "lee"])
not_a_lead = st.sampled_from(["fay", "finn", "doc"])
not_a_prescriber = st.sampled_from(["fay", "finn", "lee"])
# A participant is drawn by position and resolved against whoever is in the session (2 to 4 people).
participant_ids = st.integers(min_value=0, max_value=len(PARTICIPANTS) - 1)
support_refs = st.one_of(
    st.builds(SupportRef, st.just("staff"), st.sampled_from(["fay", "finn", "lee", "doc", "stranger"])),
    st.builds(SupportRef, st.just("participant"), st.sampled_from(PARTICIPANTS)),
)
support_ids = st.sampled_from(["fay", "finn", "lee", "doc", *PARTICIPANTS])
maybe = st.one_of
# Scales as staff might record them: any value of each scale, or not observed this time.
distress_levels = maybe(st.none(), st.integers(0, 4))
moaa_s_levels = maybe(st.none(), st.integers(0, 5))
rass_levels = maybe(st.none(), st.integers(-5, 4))
suds_levels = maybe(st.none(), st.integers(0, 10))
# Resolutions as typed: often complete, at times missing what was done or how it ended.
actions = st.sampled_from(["sat with them", "moved to the quiet room", "called the prescriber", "", "   "])
outcomes = st.sampled_from(["settled", "transferred", "calmer", "", " "])
touch_sets = st.lists(st.sampled_from(["hand", "shoulder", "feet", "hug"]), max_size=4, unique=True).map(tuple)


@dataclass
class Step:
    """One command as it went: the state before and after, what it yielded or why it was refused."""

    actor: str
    command: c.Command
    before: SessionState
    after: SessionState
    events: list[Event] = field(default_factory=list)
    error: Exception | None = None


class TwoTabletSession(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state = SessionState(session_id="s-prop")
        self.log: list[Event] = []
        self.now = T0
        self.step: Step | None = None
        self.pids: tuple[str, ...] = ()

    # ---------------------------------------------------------------- the one way anything happens

    def pid(self, index: int) -> str:
        return self.pids[index % len(self.pids)]

    def support_of(self, pid: str, which: int, other: str) -> str:
        """Mostly one of the participant's own support people; otherwise `other`, whoever that is."""
        support = self.state.participants[pid].support
        return support[which % len(support)].id if support and which < 4 else other

    def send(self, actor: str, command: c.Command) -> list[Event] | None:
        before = self.state
        # The record of refusals is a tuple of frozen values: checked by identity, not copied (it only grows).
        refusals = before.refusals
        snapshot = copy.deepcopy(replace(before, refusals=()))
        ctx = Context(ACTORS[actor], self.now, DEFAULT_POLICY, device=DEVICES[actor])
        try:
            events = decide(before, command, ctx)
        except (RuleViolation, InvalidInput) as exc:
            assert self.state is before and self.state.seq == snapshot.seq
            assert replace(before, refusals=()) == snapshot and before.refusals is refusals, (
                f"a refused {command.name} changed the state it was judged on"
            )
            record: list[Event] = []
            if isinstance(exc, RuleViolation) and before.opened:
                # As the service does: the attempt itself goes on the record.
                record = refusal(before, command, exc, ctx)
                assert record and record[0].kind == "command_refused"
            self.step = Step(actor, command, before, self.apply(before, actor, record), record, exc)
            self.check_step(self.step)
            return None
        assert replace(before, refusals=()) == snapshot and before.refusals is refusals, (
            f"deciding {command.name} changed the state it was judged on"
        )
        self.step = Step(actor, command, before, self.apply(before, actor, events), events)
        self.check_step(self.step)
        return events

    def apply(self, state: SessionState, actor: str, events: list[Event]) -> SessionState:
        for event in events:
            assert event.at == self.now and event.device == DEVICES[actor]
            state = evolve(state, event)
        self.state = state
        self.log.extend(events)
        return state

    def must(self, actor: str, command: c.Command) -> None:
        events = self.send(actor, command)
        assert events is not None, f"set-up command {command!r} was refused: {self.step.error!r}"

    # ---------------------------------------------------------------- set-up

    @initialize(
        kind=st.sampled_from(["dyad_training", "group"]),
        count=st.integers(min_value=2, max_value=4),
        present=st.lists(st.sampled_from(["fay", "finn", "lee", "doc"]), unique=True, max_size=4),
        ready=st.integers(min_value=0, max_value=4),
        supporters=st.lists(st.sampled_from(["fay", "finn", "lee", "partner"]), min_size=4, max_size=4),
        dosed=st.integers(min_value=0, max_value=4),
        journeys=st.lists(st.sampled_from(sorted(WALKS)), min_size=4, max_size=4),
    )
    def open_session(
        self,
        kind: str,
        count: int,
        present: list[str],
        ready: int,
        supporters: list[str],
        dosed: int,
        journeys: list[str],
    ) -> None:
        self.must("lee", c.OpenSession(room_id="room-1", kind=kind, facilitators=("fay", "finn"), lead="lee"))
        pids = self.pids = PARTICIPANTS[:count]
        for pid in pids:
            self.must("fay", c.AddParticipant(pid, f"Participant {pid}", f"chart-{pid}"))
        # Often a warm start: some staff in the room, some participants screened, consented and supported,
        # and some of those dosed. Every one of these commands goes through `decide` and the step checks too.
        for username in present:
            self.must(username, c.CheckIn(username, ACTORS[username].role))
        for index, pid in enumerate(pids[:ready]):
            self.must("fay", screening_cmd(pid))
            self.must("finn", consent_cmd(pid))
            who = supporters[index]
            if who == "partner" and kind == "dyad_training":
                support = SupportRef("participant", pids[(index + 1) % count])
            else:
                support = SupportRef("staff", "fay" if who == "partner" else who)
            self.send("fay", c.AssignSupport(pid, support))
        for pid in pids[: min(ready, dosed)]:
            self.now += timedelta(minutes=2)
            self.send("doc", c.AdministerDose(pid, "sublingual", 50.0))
        # ... and each dosed participant walked on to some altered phase by the ordinary commands.
        for index, pid in enumerate(pids):
            for command in WALKS[journeys[index]](pid):
                if self.state.participants[pid].altered:
                    self.now += timedelta(minutes=5)
                    self.send("fay", command)

    # ---------------------------------------------------------------- the clock

    @rule(minutes=st.integers(min_value=0, max_value=45), seconds=st.integers(min_value=0, max_value=59))
    def time_passes(self, minutes: int, seconds: int) -> None:
        self.now += timedelta(minutes=minutes, seconds=seconds)

    @rule(seconds=st.integers(min_value=1, max_value=75))
    def seconds_pass(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule(actor=anyone)
    def clock_ticks(self, actor: str) -> None:
        # A tick yields something exactly when the next deadline the state names has come.
        due = next_deadline(self.state, DEFAULT_POLICY)
        events = self.send(actor, c.Tick())
        if events is not None:
            assert bool(events) == (due is not None and due <= self.now), (
                f"next deadline {due}, now {self.now}, a tick yielded {[e.kind for e in events]}"
            )

    @rule(early=st.sampled_from([timedelta(0), timedelta(0), timedelta(microseconds=1)]))
    def clock_jumps_to_the_next_deadline(self, early: timedelta) -> None:
        # Exactly at the deadline something follows; a moment before it, nothing does.
        due = next_deadline(self.state, DEFAULT_POLICY)
        if due is None or due - early < self.now:
            return
        self.now = due - early
        events = self.send("fay", c.Tick())
        assert events is not None and bool(events) == (early == timedelta(0))

    # ---------------------------------------------------------------- staff in the room

    @rule(who=anyone)
    def check_in(self, who: str) -> None:
        self.send(who, c.CheckIn(who, ACTORS[who].role))

    @rule(who=st.integers(min_value=0, max_value=7), by=tablets)
    def check_out(self, who: int, by: str) -> None:
        # Mostly someone who is in the room (so the rules about leaving are what answers), at times not.
        names = sorted(self.state.present) or ["fay"]
        username = names[who % len(names)] if who < 6 else ["finn", "doc"][who - 6]
        self.send(by, c.CheckOut(username))

    # ---------------------------------------------------------------- before the dose

    @rule(
        seat=participant_ids,
        by=tablets,
        sbp=st.sampled_from([118, 140, 141, 165]),
        dbp=st.sampled_from([76, 90, 91]),
        flagged=st.sampled_from([False, False, True]),
    )
    def screen(self, seat: int, by: str, sbp: int, dbp: int, flagged: bool) -> None:
        pid = self.pid(seat)
        self.send(by, screening_cmd(pid, sbp, dbp, cardiac_history=flagged))

    @rule(seat=participant_ids, by=anyone)
    def clear_screening(self, seat: int, by: str) -> None:
        pid = self.pid(seat)
        self.send(by, c.ClearScreening(pid, "reviewed"))

    @rule(
        seat=participant_ids,
        by=tablets,
        touch=touch_sets,
        music=st.booleans(),
        eyeshades=st.booleans(),
        stop_signal=st.sampled_from(["the word 'enough'", "say red", ""]),
        signed=st.booleans(),
    )
    def record_consent(
        self, seat: int, by: str, touch: tuple[str, ...], music: bool, eyeshades: bool, stop_signal: str, signed: bool
    ) -> None:
        pid = self.pid(seat)
        self.send(
            by,
            consent_cmd(
                pid,
                touch=touch,
                music=music,
                eyeshades=eyeshades,
                stop_signal=stop_signal,
                signed_by_participant=signed,
            ),
        )

    @rule(seat=participant_ids, by=tablets, items=st.lists(st.sampled_from(WITHDRAWABLE), min_size=1, max_size=3))
    def withdraw_consent(self, seat: int, by: str, items: list[str]) -> None:
        pid = self.pid(seat)
        self.send(by, c.WithdrawConsent(pid, tuple(items)))

    @rule(seat=participant_ids, by=tablets, support=support_refs)
    def assign_support(self, seat: int, by: str, support: SupportRef) -> None:
        pid = self.pid(seat)
        self.send(by, c.AssignSupport(pid, support))

    @rule(seat=participant_ids, by=anyone, which=st.integers(min_value=0, max_value=5), other=support_ids)
    def remove_support(self, seat: int, by: str, which: int, other: str) -> None:
        pid = self.pid(seat)
        self.send(by, c.RemoveSupport(pid, self.support_of(pid, which, other)))

    @rule(
        seat=participant_ids,
        replacement=support_refs,
        replaces=st.one_of(st.none(), st.integers(min_value=0, max_value=5)),
        other=support_ids,
        reason=st.sampled_from(["fay is unwell", "  "]),
    )
    def leads_emergency_handover(
        self, seat: int, replacement: SupportRef, replaces: int | None, other: str, reason: str
    ) -> None:
        pid = self.pid(seat)
        named = None if replaces is None else self.support_of(pid, replaces, other)
        self.send("lee", c.HandOverSupport(pid, replacement=replacement, reason=reason, replaces=named))

    @rule(seat=participant_ids, by=not_a_lead, replacement=support_refs)
    def handover_by_someone_else(self, seat: int, by: str, replacement: SupportRef) -> None:
        self.send(by, c.HandOverSupport(self.pid(seat), replacement=replacement, reason="I need to go"))

    @rule(seat=participant_ids, route=st.sampled_from(["sublingual", "intramuscular", "intranasal"]))
    def prescriber_doses(self, seat: int, route: str) -> None:
        self.send("doc", c.AdministerDose(self.pid(seat), route, 50.0))

    @rule(seat=participant_ids, by=not_a_prescriber)
    def dose_by_someone_else(self, seat: int, by: str) -> None:
        self.send(by, c.AdministerDose(self.pid(seat), "sublingual", 50.0))

    # ---------------------------------------------------------------- the journey

    @rule(seat=participant_ids, by=tablets, to=st.sampled_from(["journeying", "re_entry", "grounding"]))
    def change_phase(self, seat: int, by: str, to: str) -> None:
        pid = self.pid(seat)
        self.send(by, c.ChangePhase(pid, to))

    @rule(
        seat=participant_ids,
        by=anyone,
        requested_by=st.sampled_from(["participant", "participant", "staff"]),
        response=st.sampled_from([None, "agrees", "declines", "cannot_answer"]),
    )
    def pause(self, seat: int, by: str, requested_by: str, response: str | None) -> None:
        pid = self.pid(seat)
        self.send(by, c.Pause(pid, requested_by=requested_by, participant_response=response))

    @rule(seat=participant_ids, by=anyone, wish=st.booleans())
    def resume(self, seat: int, by: str, wish: bool) -> None:
        pid = self.pid(seat)
        self.send(by, c.Resume(pid, participant_wishes_to_continue=wish))

    @rule(
        seat=participant_ids,
        by=anyone,
        requested_by=st.sampled_from(["participant", "participant", "staff"]),
        response=st.sampled_from([None, "agrees", "declines", "cannot_answer"]),
    )
    def stop(self, seat: int, by: str, requested_by: str, response: str | None) -> None:
        pid = self.pid(seat)
        self.send(by, c.Stop(pid, requested_by=requested_by, participant_response=response))

    @rule(seat=participant_ids, by=tablets, ok=st.booleans())
    def answer_checkin(self, seat: int, by: str, ok: bool) -> None:
        pid = self.pid(seat)
        self.send(by, c.AnswerCheckin(pid, ok=ok))

    @rule(
        seat=participant_ids, by=tablets, sbp=st.integers(90, 210), spo2=st.integers(88, 100), late=st.integers(0, 20)
    )
    def record_vitals(self, seat: int, by: str, sbp: int, spo2: int, late: int) -> None:
        pid = self.pid(seat)
        observed = self.now - timedelta(minutes=late)
        self.send(by, c.RecordVitals(pid, {"sbp": sbp, "dbp": 80, "hr": 72, "spo2": spo2}, observed_at=observed))

    @rule(
        seat=participant_ids, by=tablets, distress=st.integers(0, 4), moaa_s=st.integers(3, 5), rass=st.integers(-1, 1)
    )
    def record_observation(self, seat: int, by: str, distress: int, moaa_s: int, rass: int) -> None:
        pid = self.pid(seat)
        self.send(by, c.RecordObservation(pid, distress=distress, moaa_s=moaa_s, rass=rass))

    @rule(
        seat=participant_ids,
        by=anyone,
        distress=distress_levels,
        moaa_s=moaa_s_levels,
        rass=rass_levels,
        suds=suds_levels,
    )
    def record_scales(
        self, seat: int, by: str, distress: int | None, moaa_s: int | None, rass: int | None, suds: int | None
    ) -> None:
        pid = self.pid(seat)
        self.send(by, c.RecordObservation(pid, distress=distress, moaa_s=moaa_s, rass=rass, suds=suds))

    # ---------------------------------------------------------------- alarms and follow-ups

    def escalation_id(self, which: int) -> str:
        """Mostly an existing escalation (open or not); at times one that does not exist."""
        ids = sorted(self.state.escalations)
        return ids[which % len(ids)] if ids and which < 8 else f"{self.state.session_id}-e999"

    @rule(which=st.integers(min_value=0, max_value=9), by=anyone)
    def acknowledge(self, which: int, by: str) -> None:
        self.send(by, c.AcknowledgeEscalation(self.escalation_id(which)))

    @rule(which=st.integers(min_value=0, max_value=9), by=anyone, action=actions, outcome=outcomes)
    def resolve(self, which: int, by: str, action: str, outcome: str) -> None:
        self.send(by, c.ResolveEscalation(self.escalation_id(which), action=action, outcome=outcome))

    @rule(which=st.integers(min_value=0, max_value=9), by=anyone)
    def mute(self, which: int, by: str) -> None:
        self.send(by, c.MuteAlarm(self.escalation_id(which)))

    @rule(which=st.integers(min_value=0, max_value=9), by=anyone, note=st.sampled_from(["called, doing well", " "]))
    def close_followup(self, which: int, by: str, note: str) -> None:
        ids = sorted(self.state.followups)
        followup_id = ids[which % len(ids)] if ids and which < 8 else "no-such-followup"
        self.send(by, c.CloseFollowup(followup_id, contact_note=note))

    @rule(seat=participant_ids, by=anyone, username=anyone)
    def dedicate_a_facilitator(self, seat: int, by: str, username: str) -> None:
        self.send(by, c.AssignDedicatedFacilitator(self.pid(seat), username))

    @rule(by=anyone, everyone_leaves=st.integers(min_value=0, max_value=5))
    def close_session(self, by: str, everyone_leaves: int) -> None:
        # Now and then everyone still here is transferred first, so that closing is judged on escalations.
        if everyone_leaves == 0:
            for p in self.state.active_participants:
                self.send("lee", c.Transfer(p.id, reason="end of the evening", destination="City ED"))
        self.send(by, c.CloseSession())

    @rule(seat=participant_ids, by=tablets, item=st.sampled_from([i.key for i in DEFAULT_POLICY.checklist]))
    def tick_checklist_item(self, seat: int, by: str, item: str) -> None:
        pid = self.pid(seat)
        self.send(by, c.TickChecklistItem(pid, item))

    @rule(seat=participant_ids, by=tablets, escort=anyone)
    def step_out(self, seat: int, by: str, escort: str) -> None:
        self.send(by, c.StepOut(self.pid(seat), accompanied_by=escort))

    @rule(seat=participant_ids, by=tablets)
    def return_to_room(self, seat: int, by: str) -> None:
        self.send(by, c.ReturnToRoom(self.pid(seat)))

    @rule(seat=participant_ids, by=anyone, how=st.sampled_from(["discharge", "discharge", "transfer"]))
    def leave(self, seat: int, by: str, how: str) -> None:
        # Discharge and transfer share one rule so that people do not leave before much has happened.
        pid = self.pid(seat)
        if how == "discharge":
            self.send(by, c.Discharge(pid))
        else:
            self.send(by, c.Transfer(pid, reason="unresponsive", destination="City ED"))

    # ---------------------------------------------------------------- what every step must respect

    def check_step(self, step: Step) -> None:
        """Invariants about one command: judged from the state before it, the state after and its events."""
        self.consent_is_never_recorded_or_widened_while_altered(step)
        self.the_participant_is_in_charge_of_pause_stop_and_resume(step)
        self.every_dose_had_everything_in_place_at_that_moment(step)
        self.a_support_person_is_never_removed_from_someone_altered(step)
        self.a_handover_is_a_leads_and_the_replacement_takes_over_at_once(step)
        self.discharge_comes_only_before_the_dose_or_after_grounding_and_the_checklist(step)
        self.an_escalation_closes_only_by_a_resolution_with_what_was_done(step)
        self.alarms_are_raised_and_climb_only_as_the_policy_says(step)
        self.stops_handovers_and_dyad_lock_attempts_open_follow_ups(step)
        self.a_follow_up_closes_only_with_a_contact_note(step)
        self.nobody_leaves_and_no_session_closes_with_an_alarm_open(step)
        self.every_event_reads_back_as_it_was_written(step)

    def every_event_reads_back_as_it_was_written(self, step: Step) -> None:
        """What the store writes (JSON, with the schema version) reads back as the same typed payload."""
        for event in step.events:
            stored = json.loads(json.dumps(event.payload.stored(), sort_keys=True))
            assert upcast(event.kind, stored) == event.payload, event.kind
            assert stored == {**event.data, "schema": type(event.payload).SCHEMA}

    def consent_is_never_recorded_or_widened_while_altered(self, step: Step) -> None:
        for event in step.events:
            if event.kind == "consent_recorded":
                assert not step.before.participants[event.participant_id].altered, "consent recorded while altered"
        for pid, before in step.before.participants.items():
            after = step.after.participants[pid]
            if not before.altered or before.active_consent is None:
                continue
            old, new = before.active_consent.to_data(), after.active_consent.to_data()
            assert set(new["touch"]) <= set(old["touch"]), f"touch widened while {before.phase.value}"
            for item in ("music", "eyeshades"):
                assert new[item] <= old[item], f"{item} widened while {before.phase.value}"
            for key in ("pause_signal", "stop_signal", "if_stop_requested", "emergency_contact", "transport_plan"):
                assert new[key] == old[key], f"{key} changed while {before.phase.value}"
            assert after.consent == before.consent, "the signed agreement was replaced while altered"

    def the_participant_is_in_charge_of_pause_stop_and_resume(self, step: Step) -> None:
        cmd = step.command
        if isinstance(cmd, (c.Pause, c.Stop)) and cmd.requested_by == "participant":
            before = step.before.participant(cmd.participant_id)
            allowed = PAUSABLE if isinstance(cmd, c.Pause) else STOPPABLE
            if before is not None and before.phase in allowed:
                assert step.error is None, f"the participant's own {cmd.name} was refused: {step.error!r}"
                kind = "paused" if isinstance(cmd, c.Pause) else "stopped"
                assert [(e.kind, e.data["requested_by"]) for e in step.events[:1]] == [(kind, "participant")]
                # A stop also opens a follow-up (repair) item; nothing else follows from either.
                assert [e.kind for e in step.events[1:]] == ([] if kind == "paused" else ["followup_opened"])
                expected = Phase.PAUSED if isinstance(cmd, c.Pause) else Phase.STOPPED
                assert step.after.participants[cmd.participant_id].phase is expected
        for event in step.events:
            if event.kind == "resumed":
                assert isinstance(cmd, c.Resume) and cmd.participant_wishes_to_continue
                assert event.data["participant_wishes_to_continue"] is True
                assert event.data["to"] == step.before.participants[event.participant_id].paused_from.value
        for pid, before in step.before.participants.items():
            after = step.after.participants[pid]
            if before.phase is Phase.PAUSED and after.phase in MEDICINE:
                assert any(e.kind == "resumed" and e.participant_id == pid for e in step.events), (
                    f"{pid} left the pause for {after.phase.value} without a recorded wish to continue"
                )

    def a_support_person_is_never_removed_from_someone_altered(self, step: Step) -> None:
        for event in step.events:
            if event.kind == "support_removed":
                assert not step.before.participants[event.participant_id].altered, "support removed while altered"

    def every_dose_had_everything_in_place_at_that_moment(self, step: Step) -> None:
        for event in step.events:
            if event.kind != "dose_administered":
                continue
            p = step.before.participants[event.participant_id]
            assert ACTORS[event.actor].role == "prescriber"
            assert p.phase is Phase.SCREENED
            assert p.screening is not None, "dosed without a screening"
            flags = p.screening.flags
            assert not flags or p.screening_cleared_by is not None, f"dosed with {flags} nobody cleared"
            if p.screening_cleared_by is not None:
                assert ACTORS[p.screening_cleared_by].role == "prescriber"
            agreement = p.consent.to_data() if p.consent is not None else None
            assert agreement is not None and agreement["signed_by_participant"] is True, "dosed without consent"
            for key in ("pause_signal", "stop_signal", "emergency_contact", "transport_plan"):
                assert agreement[key], f"dosed with the agreement missing {key}"
            assert consent_missing(p.consent) == []
            assert p.support, "dosed with no support person"
            assert step.before.covering_present, "dosed with no facilitator in the room"

    def a_handover_is_a_leads_and_the_replacement_takes_over_at_once(self, step: Step) -> None:
        for event in step.events:
            if event.kind != "support_handed_over":
                continue
            assert ACTORS[event.actor].role == "lead" and event.data["reason"].strip()
            before = step.before.participants[event.participant_id].support
            after = step.after.participants[event.participant_id].support
            replacement = SupportRef(**event.data["replacement"])
            assert replacement in after and replacement not in before
            released = set(event.data["released"])
            assert released <= {s.id for s in before}
            assert set(after) == {s for s in before if s.id not in released} | {replacement}

    def discharge_comes_only_before_the_dose_or_after_grounding_and_the_checklist(self, step: Step) -> None:
        for event in step.events:
            if event.kind == "discharged":
                before = step.before.participants[event.participant_id]
                assert before.phase in (Phase.ARRIVED, Phase.SCREENED, Phase.GROUNDING)
                if before.dosed_at is not None:
                    assert all(item["done"] for item in event.data["checklist"] if item["required"])

    def an_escalation_closes_only_by_a_resolution_with_what_was_done(self, step: Step) -> None:
        """Invariant 7: open until resolved with a recorded action and outcome; acknowledging closes nothing."""
        before, after = step.before.escalations, step.after.escalations
        assert set(before) <= set(after), "an escalation disappeared from the record"
        resolutions = {e.data["escalation_id"]: e for e in step.events if e.kind == "escalation_resolved"}
        for eid, old in before.items():
            new = after[eid]
            if not old.open:
                assert not new.open, f"{eid} was reopened"
                assert (new.resolved_at, new.action, new.outcome) == (old.resolved_at, old.action, old.outcome)
                assert eid not in resolutions, f"{eid} was resolved twice"
            elif not new.open:
                resolved = resolutions.get(eid)
                assert resolved is not None, f"{eid} closed without an escalation_resolved event"
                assert resolved.data["action"].strip() and resolved.data["outcome"].strip()
                assert (new.action, new.outcome) == (resolved.data["action"], resolved.data["outcome"])
                assert new.resolved_by == resolved.actor and new.deadline is None
        for event in step.events:
            if event.kind == "escalation_acknowledged":
                eid = event.data["escalation_id"]
                assert eid in before and before[eid].open and before[eid].acknowledged_at is None
                assert after[eid].open, "acknowledging closed an escalation"
                assert after[eid].deadline is None and after[eid].acknowledged_by == event.actor
            elif event.kind == "escalation_resolved" and not event.data.get("automatic"):
                assert isinstance(step.command, c.ResolveEscalation)
            elif event.kind == "escalation_resolved":
                # Only recorded vitals close a vitals-due reminder by themselves.
                assert isinstance(step.command, c.RecordVitals)
                assert before[event.data["escalation_id"]].condition == "vitals_due"
        if isinstance(step.command, c.ResolveEscalation) and step.error is None:
            assert not after[step.command.escalation_id].open

    def alarms_are_raised_and_climb_only_as_the_policy_says(self, step: Step) -> None:
        before, after = step.before.escalations, step.after.escalations
        for event in step.events:
            kind = event.kind
            if not kind.startswith("escalation_") or kind in ("escalation_acknowledged", "escalation_resolved"):
                continue
            eid = event.data["escalation_id"]
            new = after[eid]
            if kind == "escalation_raised":
                assert eid not in before and new.step == START_STEP[new.priority]
                assert isinstance(step.command, (c.RecordObservation, c.RecordVitals, c.Tick))
                assert (new.condition == "vitals_due") == isinstance(step.command, c.Tick)
                assert step.before.open_escalation(event.participant_id, new.condition) is None, "a duplicate alarm"
            elif kind == "escalation_updated":
                old = before[eid]
                assert old.open and new.rank > old.rank, "an update only ever raises the priority"
                assert new.step == max(old.step, START_STEP[new.priority]) and new.acknowledged_at is None
            else:
                old = before[eid]
                assert isinstance(step.command, c.Tick) and event.actor == "system"
                assert old.open and old.acknowledged_at is None, "an acknowledged alarm climbed or sounded"
                assert old.deadline is not None and old.deadline <= self.now, "an alarm climbed or sounded early"
                assert old.priority != "low" and new.step == 3
                # Medium climbs from step 2 to 3; at step 3 an alarm sounds again.
                assert kind == ("escalation_climbed" if old.step == 2 else "escalation_resounded")
                assert new.deadline == self.now + timedelta(seconds=DEFAULT_POLICY.ack_timeout_seconds.high)

    def stops_handovers_and_dyad_lock_attempts_open_follow_ups(self, step: Step) -> None:
        for event in step.events:
            pointing = [f for f in step.after.followups.values() if f.source_seq == event.seq]
            if event.kind in ("stopped", "support_handed_over"):
                assert [f.participant_id for f in pointing] == [event.participant_id], f"{event.kind} opened none"
            elif event.kind == "command_refused" and event.data["code"] == "dyad_locked":
                assert isinstance(step.error, RuleViolation)
                affected = step.error.details.get("participants") or [step.command.target]
                # One follow-up for each journeyer whose support was at stake, pointing at the attempt.
                assert sorted(f.participant_id for f in pointing) == sorted(affected), "a journeyer got no follow-up"
            elif event.kind == "command_refused":
                assert pointing == [], "only an attempt to break a dyad lock opens a follow-up"
        opened = set(step.after.followups) - set(step.before.followups)
        for fid in opened:
            f = step.after.followups[fid]
            # The lead owns the repair, except of her own attempt to break a dyad lock: the admins do.
            own_attempt = step.actor == step.after.lead and isinstance(step.error, RuleViolation)
            assert f.open and f.owner == ("@admins" if own_attempt else step.after.lead) and f.opened_at == self.now
            assert f.due_at == self.now + timedelta(hours=DEFAULT_POLICY.followup_due_hours)
            assert any(e.seq == f.source_seq for e in step.events), "a follow-up must point at what opened it"

    def a_follow_up_closes_only_with_a_contact_note(self, step: Step) -> None:
        before, after = step.before.followups, step.after.followups
        assert set(before) <= set(after), "a follow-up disappeared from the record"
        for fid, old in before.items():
            new = after[fid]
            if not old.open:
                assert new == old, f"closed follow-up {fid} changed"
            elif not new.open:
                assert isinstance(step.command, c.CloseFollowup) and step.command.followup_id == fid
                assert new.contact_note and new.contact_note.strip() and new.closed_by == step.actor

    def nobody_leaves_and_no_session_closes_with_an_alarm_open(self, step: Step) -> None:
        for event in step.events:
            if event.kind == "discharged":
                assert not [e for e in step.before.open_escalations if e.participant_id == event.participant_id]
            if event.kind == "session_closed":
                assert step.before.open_escalations == ()

    # ---------------------------------------------------------------- invariants of the state, after every step

    @invariant()
    def every_escalation_that_reached_the_lead_has_one_follow_up_pointing_at_that_moment(self) -> None:
        # Where each escalation first reached step 2 or more (raised there, or raised to it by an update;
        # climbing from 2 to 3 does not count), and which log entry belongs to which escalation.
        reached: dict[str, int] = {}
        owner_of: dict[int, str] = {}
        for e in self.log:
            if e.kind.startswith("escalation_"):
                eid = e.data["escalation_id"]
                owner_of[e.seq] = eid
                if e.kind in ("escalation_raised", "escalation_updated") and e.data["step"] >= 2:
                    reached.setdefault(eid, e.seq)
        pointing: dict[str, list[int]] = {}
        for f in self.state.followups.values():
            if f.source_seq in owner_of:
                pointing.setdefault(owner_of[f.source_seq], []).append(f.source_seq)
                assert f.participant_id == self.state.escalations[owner_of[f.source_seq]].participant_id
        for eid, escalation in self.state.escalations.items():
            if escalation.step >= 2:
                assert eid in reached, f"{eid} reached step {escalation.step} by climbing alone"
                assert pointing.get(eid) == [reached[eid]], (
                    f"{eid} reached the lead at seq {reached[eid]}; follow-ups point at {pointing.get(eid)}"
                )
            else:
                assert eid not in pointing, f"{eid} never reached the lead yet opened a follow-up"

    @invariant()
    def at_most_one_open_escalation_per_participant_and_condition(self) -> None:
        seen = [(e.participant_id, e.condition) for e in self.state.open_escalations]
        assert len(seen) == len(set(seen)), f"duplicate open escalations: {seen}"

    @invariant()
    def an_escalation_has_a_clock_exactly_while_it_is_open_unacknowledged_and_not_low(self) -> None:
        for e in self.state.escalations.values():
            running = e.open and e.acknowledged_at is None and e.priority != "low"
            assert (e.deadline is not None) == running, f"{e.id}: deadline {e.deadline}, {e}"
            assert e.step >= START_STEP[e.priority] and (e.priority != "low" or e.step == 1)

    @invariant()
    def every_altered_participant_has_a_support_person(self) -> None:
        for p in self.state.participants.values():
            if p.altered:
                assert p.support, f"{p.id} is {p.phase.value} with no support person"

    @invariant()
    def every_altered_participant_has_a_support_person_who_can_be_with_them(self) -> None:
        # Staff of this session, or a partner who is neither altered nor gone: never only an altered partner.
        for p in self.state.participants.values():
            if not p.altered:
                continue
            available = [
                s
                for s in p.support
                if (s.kind == "staff" and s.id in self.state.staff)
                or (
                    s.kind == "participant"
                    and not self.state.participants[s.id].altered
                    and not self.state.participants[s.id].phase.final
                )
            ]
            assert available, f"{p.id} is {p.phase.value} and every support person of theirs is unavailable"

    @invariant()
    def a_facilitator_covers_the_room_while_anyone_is_altered(self) -> None:
        state = self.state
        if state.anyone_altered:
            assert any(role in COVERING_ROLES for role in state.present.values()), "no facilitator checked in"
        # Everyone altered is either in the room with a facilitator in it, or out of it with one.
        if state.altered_in_room:
            assert state.covering_present, "someone altered is in the room and no facilitator is"
        for p in state.participants.values():
            if p.away_with is not None:
                assert state.present.get(p.away_with) in COVERING_ROLES, f"{p.id} is out of the room unaccompanied"

    @invariant()
    def the_log_is_contiguous_and_refolds_to_the_same_state(self) -> None:
        assert [e.seq for e in self.log] == list(range(1, len(self.log) + 1))
        assert self.state.seq == len(self.log)
        if self.log:
            assert fold(self.state.session_id, self.log) == self.state


TwoTabletSession.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_invariants_hold_for_any_sequence_of_commands_from_two_tablets = TwoTabletSession.TestCase
