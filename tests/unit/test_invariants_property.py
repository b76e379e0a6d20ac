"""The invariants of PRODUCT.md under random use: two facilitators' tablets, a prescriber and a lead
send commands in any order against one session while the clock moves on by random amounts.

Every step goes through `decide`; an accepted command's events are folded with `evolve`, a refused or
malformed one must leave the state exactly as it was. After every step the invariants are checked
against the state before and after it and the events it produced.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from app.domain import commands as c
from app.domain.decide import WITHDRAWABLE, Context, consent_missing, decide
from app.domain.errors import InvalidInput, RuleViolation
from app.domain.model import COVERING_ROLES, Actor, Event, Phase, SessionState, SupportRef, evolve, fold
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
        snapshot = copy.deepcopy(before)
        ctx = Context(ACTORS[actor], self.now, DEFAULT_POLICY, device=DEVICES[actor])
        try:
            events = decide(before, command, ctx)
        except (RuleViolation, InvalidInput) as exc:
            assert self.state is before and self.state.seq == snapshot.seq
            assert before == snapshot, f"a refused {command.name} changed the state it was judged on"
            self.step = Step(actor, command, before, before, [], exc)
            self.check_step(self.step)
            return None
        assert before == snapshot, f"deciding {command.name} changed the state it was judged on"
        state = before
        for event in events:
            assert event.at == self.now and event.device == DEVICES[actor]
            state = evolve(state, event)
        self.state = state
        self.log.extend(events)
        self.step = Step(actor, command, before, state, events)
        self.check_step(self.step)
        return events

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

    @rule(actor=anyone)
    def clock_ticks(self, actor: str) -> None:
        self.send(actor, c.Tick())

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

    def consent_is_never_recorded_or_widened_while_altered(self, step: Step) -> None:
        for event in step.events:
            if event.kind == "consent_recorded":
                assert not step.before.participants[event.participant_id].altered, "consent recorded while altered"
        for pid, before in step.before.participants.items():
            after = step.after.participants[pid]
            if not before.altered or before.active_consent is None:
                continue
            old, new = before.active_consent, after.active_consent
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
                assert [(e.kind, e.data["requested_by"]) for e in step.events] == [(kind, "participant")]
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
            flags = p.screening["flags"]
            assert not flags or p.screening_cleared_by is not None, f"dosed with {flags} nobody cleared"
            if p.screening_cleared_by is not None:
                assert ACTORS[p.screening_cleared_by].role == "prescriber"
            agreement = p.consent
            assert agreement is not None and agreement["signed_by_participant"] is True, "dosed without consent"
            for key in ("pause_signal", "stop_signal", "emergency_contact", "transport_plan"):
                assert agreement[key], f"dosed with the agreement missing {key}"
            assert consent_missing(dict(agreement)) == []
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

    # ---------------------------------------------------------------- invariants of the state, after every step

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
