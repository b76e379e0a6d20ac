"""The rules: from the current state, a command, the time and the clinic policy, decide which
events follow, or refuse with a RuleViolation. Every invariant of PRODUCT.md lives here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from . import commands as c
from .checklist import evaluate_checklist, missing_items
from .errors import InvalidInput, RuleViolation
from .escalation import (
    escalation_deadlines,
    next_vitals_due,
    observation_alarms,
    open_followup,
    raise_alarm,
    tick_escalations,
    tick_vitals_due,
    vitals_alarm,
)
from .events import (
    Agreement,
    AlarmMuted,
    Amended,
    BloodPressure,
    ChecklistItemTicked,
    CommandRefused,
    ConsentCheckinAnswered,
    ConsentCheckinMissed,
    ConsentRecorded,
    ConsentWithdrawn,
    DedicatedFacilitatorAssigned,
    Discharged,
    DoseAdministered,
    EscalationAcknowledged,
    EscalationResolved,
    EscalationSeen,
    FacilitatorCheckedIn,
    FacilitatorCheckedOut,
    FollowupClosed,
    FollowupItem,
    FollowupOpened,
    ItemResult,
    NoteRecorded,
    ObservationRecorded,
    ParticipantAdded,
    ParticipantReturned,
    ParticipantSteppedOut,
    Paused,
    PauseOrStopDeclined,
    Payload,
    PhaseChanged,
    Resumed,
    ScreeningCleared,
    ScreeningRecorded,
    SessionClosed,
    SessionOpened,
    Stopped,
    SupportAssigned,
    SupportHandedOver,
    SupportRef,
    SupportRemoved,
    Transferred,
    VitalsRecorded,
)
from .followups import reached_admins
from .model import (
    CLINIC_ADMINS,
    CLOCK_SKEW,
    TRANSITIONS,
    Actor,
    Escalation,
    Event,
    ParticipantState,
    Phase,
    SessionState,
    entered_late,
)
from .policy import AUTO_CHECKLIST_KEYS, Policy
from .vocabulary import (
    DOSE_MG_MAX,
    FORWARD_PHASES,
    INFUSION_MINUTES,
    NOTE_KINDS,
    PARTICIPANT_RESPONSES,
    PROTECTIVE_PARTS,
    REQUESTERS,
    ROUTES,
    SCALE_RANGES,
    SESSION_KINDS,
    SUPPORT_KINDS,
    TEXT_LIMITS,
    TOUCH_AREAS,
    VITAL_RANGES,
    WITHDRAWABLE,
)


@dataclass(frozen=True)
class Context:
    """Who asks, from which device, and when (the time is an input: the domain reads no clock)."""

    actor: Actor
    now: datetime
    policy: Policy
    device: str | None = None


class _Events:
    """Collects the events a decision yields, numbering them after the state's last one."""

    def __init__(self, state: SessionState, ctx: Context) -> None:
        self.state = state
        self.ctx = ctx
        self.items: list[Event] = []

    def add(self, payload: Payload, participant_id: str | None = None, actor: str | None = None) -> None:
        self.items.append(
            Event(
                session_id=self.state.session_id,
                seq=self.state.seq + len(self.items) + 1,
                at=self.ctx.now,
                actor=actor if actor is not None else self.ctx.actor.username,
                payload=payload,
                participant_id=participant_id,
                device=self.ctx.device,
            )
        )

    def next_seq(self) -> int:
        return self.state.seq + len(self.items) + 1

    @property
    def now(self) -> datetime:
        return self.ctx.now

    @property
    def policy(self) -> Policy:
        return self.ctx.policy


def _refuse(code: str, message: str, **details: Any) -> RuleViolation:
    return RuleViolation(code, message, details)


def _require_text(value: str, field: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"{field} is required.", {"field": field})
    if len(value) > limit:
        raise InvalidInput(f"{field} is longer than {limit} characters.", {"field": field})
    return value


def _participant(state: SessionState, participant_id: str) -> ParticipantState:
    participant = state.participant(participant_id)
    if participant is None:
        raise _refuse("not_found", "There is no such participant in this session.", participant_id=participant_id)
    return participant


def _active(state: SessionState, participant_id: str) -> ParticipantState:
    participant = _participant(state, participant_id)
    if participant.phase.final:
        raise _refuse(
            "participant_inactive",
            f"{participant.display_name} has already left the session ({participant.phase.label.lower()}).",
            phase=participant.phase.value,
        )
    return participant


def _move(participant: ParticipantState, to: Phase) -> None:
    if to not in TRANSITIONS[participant.phase]:
        raise _refuse(
            "invalid_transition",
            f"{participant.display_name} cannot go from {participant.phase.label} to {to.label}.",
            current=participant.phase.value,
            to=to.value,
            allowed=sorted(p.value for p in TRANSITIONS[participant.phase]),
        )


def time_window(state: SessionState, ctx: Context) -> tuple[datetime, datetime]:
    """The earliest and latest time a client may give for something observed or done: from the
    session's start less the clinic's late-entry allowance, to now plus the clock-skew allowance."""
    start = state.opened_at or ctx.now
    earliest = start - timedelta(hours=ctx.policy.late_entry_allowance_hours)
    return earliest, ctx.now + CLOCK_SKEW


def _time(value: datetime | None, state: SessionState, ctx: Context, field: str) -> datetime:
    """A time sent by a client, checked against the window and stored in UTC (`now` if none given)."""
    if value is None:
        return ctx.now
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{field} needs a time zone offset.", {"field": field})
    try:
        moment = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidInput(f"{field} is not a time that can be recorded.", {"field": field}) from None
    earliest, latest = time_window(state, ctx)
    window = {"field": field, "earliest": earliest.isoformat(), "latest": latest.isoformat()}
    if moment > latest:
        raise InvalidInput(f"{field} is in the future.", window)
    if moment < earliest:
        hours = ctx.policy.late_entry_allowance_hours
        raise InvalidInput(
            f"{field} is too early: a late entry can be at most {hours} h before the session started.", window
        )
    return moment


def _support_label(state: SessionState, ref: SupportRef) -> str:
    if ref.kind == "participant":
        partner = state.participant(ref.id)
        return partner.display_name if partner else ref.id
    return ref.id


def _check_support_candidate(state: SessionState, participant: ParticipantState, ref: SupportRef) -> None:
    if ref.kind not in SUPPORT_KINDS:
        raise InvalidInput("A support person is either staff or a participant.", {"field": "kind"})
    if any(s.id == ref.id for s in participant.support):
        raise _refuse("already_assigned", f"{_support_label(state, ref)} already supports {participant.display_name}.")
    if ref.kind == "staff":
        if ref.id not in state.staff:
            raise _refuse(
                "not_found",
                f"{ref.id} is not on this session's staff. Check them in to the room first.",
                support_id=ref.id,
            )
        return
    partner = state.participant(ref.id)
    if partner is None:
        raise _refuse("not_found", "The partner is not a participant of this session.", support_id=ref.id)
    if state.kind != "dyad_training":
        raise _refuse(
            "support_unavailable",
            "A fellow participant can be a support person only in a training dyad; assign staff instead.",
            support_id=ref.id,
        )
    if partner.id == participant.id:
        raise _refuse("support_unavailable", "A participant cannot be their own support person.")
    if partner.altered or partner.phase.final:
        raise _refuse(
            "support_unavailable",
            f"{partner.display_name} cannot support anyone while {partner.phase.label.lower()}.",
            support_id=ref.id,
            phase=partner.phase.value,
        )


def _support_available(state: SessionState, ref: SupportRef, in_room: bool = True) -> bool:
    """Whether a support person can actually be with the journeyer: staff on the session (checked
    into the room, when `in_room`), or a partner who is neither altered nor gone."""
    if ref.kind == "staff":
        return ref.id in (state.present if in_room else state.staff)
    partner = state.participant(ref.id)
    return partner is not None and not partner.altered and not partner.phase.final


def _locked_dependants(state: SessionState, support_id: str) -> tuple[ParticipantState, ...]:
    """Altered participants for whom `support_id` is the only support person still available."""
    return tuple(
        p
        for p in state.supported_by(support_id)
        if p.altered and not any(s.id != support_id and _support_available(state, s) for s in p.support)
    )


def _dyad_locked(state: SessionState, support_id: str, leaving: str) -> RuleViolation:
    names = ", ".join(p.display_name for p in _locked_dependants(state, support_id))
    return _refuse(
        "dyad_locked",
        f"{leaving} is the only support person of {names}, who is in an altered phase and must not be left "
        "alone. Only a lead's emergency handover that names a replacement can change this.",
        support_id=support_id,
        participants=[p.id for p in _locked_dependants(state, support_id)],
    )


# ---------------------------------------------------------------- session-wide commands


def _open_session(state: SessionState, cmd: c.OpenSession, ev: _Events) -> None:
    if state.opened:
        raise _refuse("invalid_transition", "This session is already open.")
    if cmd.kind not in SESSION_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(SESSION_KINDS)}.", {"field": "kind"})
    if not cmd.lead:
        raise InvalidInput("A session needs a lead.", {"field": "lead"})
    ev.add(
        SessionOpened(
            room_id=cmd.room_id, kind=cmd.kind, facilitators=tuple(dict.fromkeys(cmd.facilitators)), lead=cmd.lead
        )
    )


def _close_session(state: SessionState, cmd: c.CloseSession, ev: _Events) -> None:
    active = state.active_participants
    if active:
        raise _refuse(
            "participants_active",
            "The session can close only when every participant has been discharged or transferred.",
            participants=[p.id for p in active],
        )
    if state.open_escalations:
        raise _refuse(
            "escalations_open",
            "The session can close only when every escalation has been resolved with what was done.",
            escalations=[e.id for e in state.open_escalations],
        )
    ev.add(SessionClosed())


def _attested_by_themselves(
    username: str, attested_by: str, credential_matched: bool, ev: _Events, *, leaving: bool = False
) -> bool:
    """Whether `username` showed it is them (invariant 4: presence is real). A wrong PIN or password
    is refused; a sign-in that is someone else's is not their attestation (False)."""
    if attested_by not in c.ATTESTATIONS:
        raise InvalidInput(f"attested_by must be one of {', '.join(c.ATTESTATIONS)}.", {"field": "attested_by"})
    if attested_by == "sign_in":
        return ev.ctx.actor.username == username
    if not credential_matched:
        what = "PIN" if attested_by == "pin" else "password"
        raise _refuse(
            f"wrong_{attested_by}",
            f"That {what} is not {username}'s; nobody was checked {'out' if leaving else 'in'}.",
            username=username,
        )
    return True


def _check_in(state: SessionState, cmd: c.CheckIn, ev: _Events) -> None:
    # Invariant 4: each person checks themselves in; nobody checks in someone else.
    if not _attested_by_themselves(cmd.username, cmd.attested_by, cmd.credential_matched, ev):
        raise _refuse(
            "presence_not_attested",
            f"Only {cmd.username} can check themselves in: from their own sign-in, or with their own PIN "
            "or password on this tablet.",
            username=cmd.username,
        )
    if cmd.username in state.present and cmd.username not in state.unattested:
        raise _refuse("already_checked_in", f"{cmd.username} is already checked in.")
    ev.add(FacilitatorCheckedIn(username=cmd.username, role=cmd.role, attested_by=cmd.attested_by))


def _check_out(state: SessionState, cmd: c.CheckOut, ev: _Events) -> None:
    if cmd.username not in state.present:
        raise _refuse("not_checked_in", f"{cmd.username} is not checked in to this room.")
    attested_by = cmd.attested_by
    if not _attested_by_themselves(cmd.username, cmd.attested_by, cmd.credential_matched, ev, leaving=True):
        # Someone else records that a person has left (they went without checking out): only a
        # colleague who is checked in here and in the room, since it is they who see the room.
        if ev.ctx.actor.username not in state.covering_present:
            raise _refuse(
                "presence_not_attested",
                f"Only {cmd.username} can check themselves out, or a facilitator checked in to this room "
                f"can record that {cmd.username} has left.",
                username=cmd.username,
            )
        attested_by = "colleague"
    if cmd.username in state.escorting:
        raise _refuse(
            "unaccompanied",
            f"{cmd.username} is accompanying a participant outside the room; they come back together first.",
            username=cmd.username,
        )
    covering_left = [u for u in state.covering_present if u != cmd.username]
    if state.altered_in_room and not covering_left:
        raise _refuse(
            "room_uncovered",
            f"{cmd.username} is the last facilitator in a room where someone is in an altered phase. "
            "Another facilitator must check in first.",
            username=cmd.username,
        )
    if _locked_dependants(state, cmd.username):
        raise _dyad_locked(state, cmd.username, cmd.username)
    ev.add(FacilitatorCheckedOut(username=cmd.username, attested_by=attested_by))


def _add_participant(state: SessionState, cmd: c.AddParticipant, ev: _Events) -> None:
    name = _require_text(cmd.display_name, "display_name", TEXT_LIMITS["display_name"])
    chart_id = _require_text(cmd.chart_id, "chart_id", TEXT_LIMITS["chart_id"])
    if cmd.participant_id in state.participants:
        raise _refuse("already_exists", "That participant is already in this session.")
    if any(p.chart_id == chart_id for p in state.participants.values()):
        raise _refuse("already_exists", f"Chart {chart_id} is already in this session.", chart_id=chart_id)
    ev.add(ParticipantAdded(id=cmd.participant_id, display_name=name, chart_id=chart_id), cmd.participant_id)


# ---------------------------------------------------------------- screening, consent, dose


def _record_screening(state: SessionState, cmd: c.RecordScreening, ev: _Events) -> None:
    p = _active(state, cmd.participant_id)
    _move(p, Phase.SCREENED)
    for field, value in (("sbp", cmd.sbp), ("dbp", cmd.dbp)):
        low, high = VITAL_RANGES[field]
        if not low <= value <= high:
            raise InvalidInput(f"bp.{field} must be between {low} and {high}.", {"field": f"bp.{field}"})
    observed = _time(cmd.observed_at, state, ev.ctx, "observed_at")
    clearance = ev.ctx.policy.vitals.predose_clearance
    flags = [f"contraindication:{key}" for key, present in sorted(cmd.contraindications.items()) if present]
    if cmd.sbp > clearance.sbp or cmd.dbp > clearance.dbp:
        flags.append(f"bp_above_{clearance.sbp}/{clearance.dbp}")
    ev.add(
        ScreeningRecorded(
            contraindications=dict(cmd.contraindications),
            bp=BloodPressure(sbp=cmd.sbp, dbp=cmd.dbp),
            concomitant_sedatives=tuple(cmd.concomitant_sedatives),
            notes=cmd.notes,
            flags=tuple(flags),
            observed_at=observed,
            late=entered_late(observed, ev.ctx.now),
        ),
        p.id,
    )


def _clear_screening(state: SessionState, cmd: c.ClearScreening, ev: _Events) -> None:
    p = _active(state, cmd.participant_id)
    note = _require_text(cmd.note, "note", TEXT_LIMITS["clearance_note"])
    if ev.ctx.actor.role != "prescriber":
        raise _refuse("forbidden", "Only a prescriber can clear a flagged screening.")
    if p.screening is None or p.phase is not Phase.SCREENED:
        raise _refuse("invalid_transition", f"{p.display_name} has no screening waiting to be cleared.")
    if not p.screening_flags:
        raise _refuse("invalid_transition", "This screening has nothing flagged; it needs no clearance.")
    ev.add(ScreeningCleared(note=note, flags=p.screening_flags), p.id)


def _agreement(cmd: c.RecordConsent) -> Agreement:
    unknown = [t for t in cmd.touch if t not in TOUCH_AREAS]
    if unknown:
        raise InvalidInput(f"touch areas are {', '.join(TOUCH_AREAS)}.", {"field": "touch", "unknown": unknown})
    return Agreement(
        touch=tuple(sorted(set(cmd.touch))),
        pause_signal=cmd.pause_signal.strip(),
        stop_signal=cmd.stop_signal.strip(),
        music=cmd.music,
        eyeshades=cmd.eyeshades,
        if_stop_requested=cmd.if_stop_requested.strip(),
        emergency_contact=cmd.emergency_contact.strip(),
        transport_plan=cmd.transport_plan.strip(),
        signed_by_participant=cmd.signed_by_participant,
    )


CONSENT_REQUIRED = ("pause_signal", "stop_signal", "emergency_contact", "transport_plan")
# What an agreement says beyond touch, music and eyeshades: changing any of these widens it.
CONSENT_TERMS = ("pause_signal", "stop_signal", "if_stop_requested", "emergency_contact", "transport_plan")


def consent_missing(agreement: Agreement | None) -> list[str]:
    """Which parts of the pre-session agreement are still missing (empty when complete)."""
    if agreement is None:
        return ["agreement"]
    missing = [key for key in CONSENT_REQUIRED if not getattr(agreement, key)]
    if not agreement.signed_by_participant:
        missing.append("signed_by_participant")
    return missing


def _widens(before: Agreement, after: Agreement) -> list[str]:
    widened = [f"touch:{area}" for area in after.touch if area not in before.touch]
    widened += [item for item in ("music", "eyeshades") if getattr(after, item) and not getattr(before, item)]
    widened += [key for key in CONSENT_TERMS if getattr(after, key) != getattr(before, key)]
    return widened


def _record_consent(state: SessionState, cmd: c.RecordConsent, ev: _Events) -> None:
    p = _active(state, cmd.participant_id)
    agreement = _agreement(cmd)
    observed = _time(cmd.observed_at, state, ev.ctx, "observed_at")
    if p.altered:
        before = p.active_consent
        widened = _widens(before, agreement) if before is not None else ["agreement"]
        if widened or before is None:
            raise _refuse(
                "consent_not_valid_in_altered_state",
                f"{p.display_name} is in an altered phase: consent given now cannot widen or change what was "
                "agreed beforehand. Withdrawing an item is always possible.",
                widened=widened,
            )
        narrowed = [f"touch:{a}" for a in before.touch if a not in agreement.touch]
        narrowed += [i for i in ("music", "eyeshades") if getattr(before, i) and not getattr(agreement, i)]
        if narrowed:
            ev.add(ConsentWithdrawn(items=tuple(narrowed)), p.id)
        return
    if not cmd.signed_by_participant:
        raise InvalidInput("The participant must sign the agreement.", {"field": "signed_by_participant"})
    missing = [key for key in CONSENT_REQUIRED if not getattr(agreement, key)]
    if missing:
        raise InvalidInput(f"The agreement is missing: {', '.join(missing)}.", {"missing": missing})
    ev.add(
        ConsentRecorded(
            agreement=agreement,
            attested_by=ev.ctx.actor.username,
            observed_at=observed,
            late=entered_late(observed, ev.ctx.now),
        ),
        p.id,
    )


def _withdraw_consent(state: SessionState, cmd: c.WithdrawConsent, ev: _Events) -> None:
    p = _participant(state, cmd.participant_id)
    unknown = [i for i in cmd.items if i not in WITHDRAWABLE]
    if not cmd.items or unknown:
        raise InvalidInput(
            f"items to withdraw are some of: {', '.join(WITHDRAWABLE)}.", {"field": "items", "unknown": unknown}
        )
    # Always accepted, even before an agreement exists or after the session: narrowing is never refused.
    ev.add(ConsentWithdrawn(items=tuple(sorted(set(cmd.items)))), p.id)


@dataclass(frozen=True)
class Gate:
    """One condition a step needs (invariant 5 for the dose): its key, the refusal code, plain words."""

    key: str
    code: str
    label: str


def dose_gates_unmet(state: SessionState, p: ParticipantState) -> list[Gate]:
    """Every condition of invariant 5 that is not yet met for dosing `p`, in the order they are
    usually met: screening (and a prescriber's clearance if it is flagged), the agreement, a support
    person, a facilitator in the room. Empty when the dose may be given."""
    unmet: list[Gate] = []
    if p.screening is None:
        unmet.append(Gate("screening", "screening_not_cleared", "a screening (blood pressure and contraindications)"))
    elif not p.screening_cleared:
        flags = ", ".join(p.screening_flags)
        unmet.append(
            Gate(
                "prescriber_clearance",
                "screening_not_cleared",
                f"a prescriber's clearance, with a note, of the flagged screening ({flags})",
            )
        )
    if consent_missing(p.consent):
        unmet.append(
            Gate("agreement", "consent_incomplete", "the complete pre-session agreement, signed by the participant")
        )
    if not p.support:
        unmet.append(Gate("support", "no_support_assigned", "a support person assigned"))
    elif not any(_support_available(state, s, in_room=False) for s in p.support):
        unmet.append(
            Gate(
                "support",
                "no_support_assigned",
                "a support person who can be with them now (staff on this session, or a partner who is not "
                "in an altered phase)",
            )
        )
    if not state.covering_present:
        unmet.append(Gate("facilitator_present", "room_uncovered", "a facilitator checked in to the room"))
    return unmet


def _administer_dose(state: SessionState, cmd: c.AdministerDose, ev: _Events) -> None:
    p = _active(state, cmd.participant_id)
    if cmd.route not in ROUTES:
        raise InvalidInput(f"route must be one of {', '.join(ROUTES)}.", {"field": "route"})
    if not 0 < cmd.dose_mg <= DOSE_MG_MAX:
        raise InvalidInput(f"dose_mg must be more than 0 and at most {DOSE_MG_MAX}.", {"field": "dose_mg"})
    administered_at = _time(cmd.administered_at, state, ev.ctx, "administered_at")
    if ev.ctx.actor.role != "prescriber":
        raise _refuse("forbidden", "Only a prescriber can record a dose.")
    if p.phase not in (Phase.ARRIVED, Phase.SCREENED):
        _move(p, Phase.DOSED)
    unmet = dose_gates_unmet(state, p)
    if unmet:
        details: dict[str, Any] = {"missing": [g.key for g in unmet]}
        if p.screening_flags and not p.screening_cleared:
            details["flags"] = list(p.screening_flags)
        agreement_missing = consent_missing(p.consent)
        if agreement_missing and agreement_missing != ["agreement"]:
            details["agreement_missing"] = agreement_missing
        raise RuleViolation(
            unmet[0].code,
            f"{p.display_name} cannot be dosed yet. Still missing: " + "; ".join(g.label for g in unmet) + ".",
            details,
        )
    _move(p, Phase.DOSED)
    if _locked_dependants(state, p.id):
        raise _dyad_locked(state, p.id, p.display_name)
    prerequisites = [t for t in (p.screened_at, p.consented_at) if t is not None]
    if prerequisites and administered_at < max(prerequisites):
        raise InvalidInput(
            "administered_at is before the screening was done or the agreement was signed (the times they "
            "were observed, which a late entry gives); a dose follows them.",
            {"field": "administered_at", "earliest": max(prerequisites).isoformat()},
        )
    shortest, longest = INFUSION_MINUTES
    if cmd.infusion_minutes is not None and (
        cmd.route != "intravenous" or not shortest <= cmd.infusion_minutes <= longest
    ):
        raise InvalidInput(
            f"infusion_minutes is for an intravenous dose, between {shortest} and {longest}.",
            {"field": "infusion_minutes"},
        )
    due = ev.ctx.now + timedelta(minutes=ev.ctx.policy.checkin_interval_minutes)
    vitals_due = next_vitals_due(administered_at, cmd.infusion_minutes, administered_at, ev.ctx.policy)
    ev.add(
        DoseAdministered(
            route=cmd.route,
            dose_mg=cmd.dose_mg,
            administered_at=administered_at,
            prescriber=ev.ctx.actor.username,
            infusion_minutes=cmd.infusion_minutes,
            checkin_due_at=due,
            vitals_due_at=vitals_due,
        ),
        p.id,
    )


# ---------------------------------------------------------------- support persons


def _assign_support(state: SessionState, cmd: c.AssignSupport, ev: _Events) -> None:
    p = _active(state, cmd.participant_id)
    _check_support_candidate(state, p, cmd.support)
    ev.add(SupportAssigned(support=cmd.support), p.id)


def _remove_support(state: SessionState, cmd: c.RemoveSupport, ev: _Events) -> None:
    p = _participant(state, cmd.participant_id)
    if not any(s.id == cmd.support_id for s in p.support):
        raise _refuse("not_found", "That person is not assigned as support.", support_id=cmd.support_id)
    if p.altered:
        raise _refuse(
            "dyad_locked",
            f"{p.display_name} is in an altered phase ({p.phase.label.lower()}): their support person stays "
            "until discharge. Their agreement cannot be asked for now. Only a lead's emergency handover "
            "that names a replacement can change this.",
            support_id=cmd.support_id,
            phase=p.phase.value,
        )
    ev.add(SupportRemoved(support_id=cmd.support_id), p.id)


def _hand_over(state: SessionState, cmd: c.HandOverSupport, ev: _Events) -> None:
    p = _active(state, cmd.participant_id)
    reason = _require_text(cmd.reason, "reason", TEXT_LIMITS["reason"])
    if ev.ctx.actor.role != "lead":
        raise _refuse("forbidden", "Only a lead can make an emergency handover of a support person.")
    if cmd.replaces is not None and not any(s.id == cmd.replaces for s in p.support):
        raise _refuse("not_found", "That person is not assigned as support.", support_id=cmd.replaces)
    _check_support_candidate(state, p, cmd.replacement)
    if not _support_available(state, cmd.replacement):
        raise _refuse(
            "support_unavailable",
            f"{_support_label(state, cmd.replacement)} must be in the room to take over at once; check them in first.",
            support_id=cmd.replacement.id,
        )
    released = [cmd.replaces] if cmd.replaces is not None else [s.id for s in p.support]
    ev.add(SupportHandedOver(replacement=cmd.replacement, released=tuple(released), reason=reason), p.id)
    open_followup(ev, p.id, f"Emergency handover of {p.display_name}'s support: {reason}", ev.next_seq() - 1)


# ---------------------------------------------------------------- phases, pause, stop


def _change_phase(state: SessionState, cmd: c.ChangePhase, ev: _Events) -> None:
    p = _active(state, cmd.participant_id)
    if cmd.to not in FORWARD_PHASES:
        raise InvalidInput(
            f"to must be one of {', '.join(FORWARD_PHASES)}; other moves have their own commands.", {"field": "to"}
        )
    _move(p, Phase(cmd.to))
    ev.add(PhaseChanged(from_=p.phase.value, to=cmd.to), p.id)


def _requester(value: str, response: str | None) -> None:
    if value not in REQUESTERS:
        raise InvalidInput("requested_by is participant or staff.", {"field": "requested_by"})
    if value == "staff" and response not in PARTICIPANT_RESPONSES:
        raise InvalidInput(
            "A pause or stop that staff propose needs the participant's answer: "
            f"participant_response is one of {', '.join(PARTICIPANT_RESPONSES)}.",
            {"field": "participant_response"},
        )


def _proposal_answer(cmd: c.Pause | c.Stop) -> tuple[str | None, str]:
    """The participant's answer to a pause or stop staff proposed (None when they asked), and the reason."""
    return (cmd.participant_response if cmd.requested_by == "staff" else None), cmd.reason.strip()


def _record_declined(ev: _Events, p: ParticipantState, requested_by: str, proposal: str, reason: str) -> None:
    """The participant declined what staff proposed: recorded, and nothing else changes."""
    ev.add(
        PauseOrStopDeclined(
            from_=p.phase.value,
            requested_by=requested_by,
            proposal=proposal,
            reason=reason,
            participant_response="declines",
        ),
        p.id,
    )


def _pause(state: SessionState, cmd: c.Pause, ev: _Events) -> None:
    p = _active(state, cmd.participant_id)
    _requester(cmd.requested_by, cmd.participant_response)
    _move(p, Phase.PAUSED)
    response, reason = _proposal_answer(cmd)
    if response == "declines":
        _record_declined(ev, p, cmd.requested_by, "pause", reason)
        return
    ev.add(
        Paused(from_=p.phase.value, requested_by=cmd.requested_by, reason=reason, participant_response=response), p.id
    )


def _resume(state: SessionState, cmd: c.Resume, ev: _Events) -> None:
    p = _active(state, cmd.participant_id)
    if p.phase is not Phase.PAUSED or p.paused_from is None:
        raise _refuse("invalid_transition", f"{p.display_name} is not paused.", current=p.phase.value)
    if not cmd.participant_wishes_to_continue:
        raise _refuse(
            "wish_to_continue_required",
            f"Resuming needs {p.display_name}'s own recorded wish to continue. If they do not wish to continue, "
            "record a stop instead.",
        )
    ev.add(Resumed(to=p.paused_from.value, participant_wishes_to_continue=True, reason=cmd.reason.strip()), p.id)


def _stop(state: SessionState, cmd: c.Stop, ev: _Events) -> None:
    p = _active(state, cmd.participant_id)
    _requester(cmd.requested_by, cmd.participant_response)
    _move(p, Phase.STOPPED)
    response, reason = _proposal_answer(cmd)
    if response == "declines":
        _record_declined(ev, p, cmd.requested_by, "stop", reason)
        return
    ev.add(
        Stopped(from_=p.phase.value, requested_by=cmd.requested_by, reason=reason, participant_response=response), p.id
    )
    who = "they asked" if cmd.requested_by == "participant" else "staff proposed it"
    open_followup(ev, p.id, f"{p.display_name} stopped the medicine phase ({who})", ev.next_seq() - 1)


def _answer_checkin(state: SessionState, cmd: c.AnswerCheckin, ev: _Events) -> None:
    p = _active(state, cmd.participant_id)
    if not p.altered:
        raise _refuse("invalid_transition", "Consent check-ins happen from the dose until discharge.")
    observed = _time(cmd.observed_at, state, ev.ctx, "observed_at")
    due = ev.ctx.now + timedelta(minutes=ev.ctx.policy.checkin_interval_minutes)
    late_entry: dict[str, Any] = {}
    if cmd.observed_at is not None:
        # Answered on a tablet that was offline: when it was asked is kept beside when it arrived.
        late_entry = {"observed_at": observed, "late": entered_late(observed, ev.ctx.now)}
    ev.add(
        ConsentCheckinAnswered(
            ok=cmd.ok, note=cmd.note.strip(), due_at=p.checkin_due_at, next_due_at=due, **late_entry
        ),
        p.id,
    )


# ---------------------------------------------------------------- vitals, observations


def _record_vitals(state: SessionState, cmd: c.RecordVitals, ev: _Events) -> None:
    p = _active(state, cmd.participant_id)
    if not cmd.vitals:
        raise InvalidInput("Record at least one vital sign.", {"field": "vitals"})
    for name, value in cmd.vitals.items():
        if name not in VITAL_RANGES:
            raise InvalidInput(f"Unknown vital sign {name!r}.", {"field": name})
        low, high = VITAL_RANGES[name]
        if not low <= value <= high:
            raise InvalidInput(f"{name} must be between {low} and {high}.", {"field": name})
    observed = _time(cmd.observed_at, state, ev.ctx, "observed_at")
    next_due: datetime | None = None
    if p.altered and p.dosed_at is not None and p.dose is not None:
        next_due = next_vitals_due(p.dosed_at, p.dose.infusion_minutes, observed, ev.ctx.policy)
        if p.vitals_due_at is not None and next_due <= p.vitals_due_at:
            next_due = None
    ev.add(
        VitalsRecorded(
            vitals=dict(cmd.vitals),
            observed_at=observed,
            late=entered_late(observed, ev.ctx.now),
            next_vitals_due_at=next_due,
        ),
        p.id,
    )
    reminder = state.open_escalation(p.id, "vitals_due")
    if reminder is not None:
        ev.add(
            EscalationResolved(
                escalation_id=reminder.id,
                action="Vitals recorded",
                outcome=_vitals_text(cmd.vitals),
                automatic=True,
            ),
            p.id,
        )
    alarm = vitals_alarm(cmd.vitals, ev.ctx.policy)
    if alarm is not None:
        raise_alarm(ev, p, alarm, state.open_escalation(p.id, alarm.condition))


def _vitals_text(vitals: Any) -> str:
    return ", ".join(f"{name.upper()} {value:g}" for name, value in vitals.items())


def _record_observation(state: SessionState, cmd: c.RecordObservation, ev: _Events) -> None:
    p = _active(state, cmd.participant_id)
    scales = {"distress": cmd.distress, "moaa_s": cmd.moaa_s, "rass": cmd.rass, "suds": cmd.suds}
    for name, value in scales.items():
        if value is None:
            continue
        low, high = SCALE_RANGES[name]
        if not low <= value <= high:
            raise InvalidInput(f"{name} must be between {low} and {high}.", {"field": name})
    unknown_parts = [x for x in cmd.parts if x not in PROTECTIVE_PARTS]
    if unknown_parts:
        raise InvalidInput(f"parts are some of {', '.join(PROTECTIVE_PARTS)}.", {"field": "parts"})
    if all(v is None for v in scales.values()) and not cmd.note.strip() and not cmd.signs and not cmd.parts:
        raise InvalidInput("An observation needs a scale, a sign, a part or a note.", {"field": "note"})
    observed = _time(cmd.observed_at, state, ev.ctx, "observed_at")
    ev.add(
        ObservationRecorded(
            distress=cmd.distress,
            moaa_s=cmd.moaa_s,
            rass=cmd.rass,
            suds=cmd.suds,
            signs=tuple(cmd.signs),
            note=cmd.note.strip(),
            parts=tuple(cmd.parts),
            observed_at=observed,
            late=entered_late(observed, ev.ctx.now),
        ),
        p.id,
    )
    for alarm in observation_alarms(scales):
        raise_alarm(ev, p, alarm, state.open_escalation(p.id, alarm.condition))


def _step_out(state: SessionState, cmd: c.StepOut, ev: _Events) -> None:
    p = _active(state, cmd.participant_id)
    if p.away_with is not None:
        raise _refuse("invalid_transition", f"{p.display_name} is already out of the room with {p.away_with}.")
    if cmd.accompanied_by not in state.covering_present:
        raise _refuse(
            "unaccompanied",
            f"{p.display_name} leaves the room only accompanied by a facilitator who is checked in here.",
            accompanied_by=cmd.accompanied_by,
        )
    others_altered = any(q.altered and q.away_with is None and q.id != p.id for q in state.participants.values())
    if others_altered and len(state.covering_present) < 2:
        raise _refuse(
            "room_uncovered",
            f"{cmd.accompanied_by} is the last facilitator in the room and others are in an altered phase. "
            f"Another facilitator must check in before they leave with {p.display_name}.",
            accompanied_by=cmd.accompanied_by,
        )
    ev.add(ParticipantSteppedOut(accompanied_by=cmd.accompanied_by), p.id)


def _return_to_room(state: SessionState, cmd: c.ReturnToRoom, ev: _Events) -> None:
    p = _active(state, cmd.participant_id)
    if p.away_with is None:
        raise _refuse("invalid_transition", f"{p.display_name} is in the room.")
    ev.add(ParticipantReturned(accompanied_by=p.away_with), p.id)


# ---------------------------------------------------------------- checklist, discharge, transfer


def _tick_checklist(state: SessionState, cmd: c.TickChecklistItem, ev: _Events) -> None:
    p = _active(state, cmd.participant_id)
    items = {item.key: item for item in ev.ctx.policy.checklist}
    if cmd.item not in items:
        raise _refuse("not_found", f"There is no checklist item {cmd.item!r}.", item=cmd.item)
    if cmd.item in AUTO_CHECKLIST_KEYS:
        raise InvalidInput(f"'{items[cmd.item].label}' is decided by the record, not ticked.", {"field": "item"})
    if not p.altered:
        raise _refuse("invalid_transition", "The grounding checklist applies after the dose.")
    observed = _time(cmd.observed_at, state, ev.ctx, "observed_at")
    late_entry: dict[str, Any] = {}
    if cmd.observed_at is not None:
        late_entry = {"observed_at": observed, "late": entered_late(observed, ev.ctx.now)}
    ev.add(ChecklistItemTicked(item=cmd.item, note=cmd.note.strip(), **late_entry), p.id)


def _discharge(state: SessionState, cmd: c.Discharge, ev: _Events) -> None:
    p = _active(state, cmd.participant_id)
    _move(p, Phase.DISCHARGED)
    if _locked_dependants(state, p.id):
        raise _dyad_locked(state, p.id, p.display_name)
    open_alarms = [e for e in state.open_escalations if e.participant_id == p.id]
    if open_alarms:
        raise _refuse(
            "escalations_open",
            f"{p.display_name} has an open escalation ({open_alarms[0].reason}); resolve it with what was done first.",
            escalations=[e.id for e in open_alarms],
        )
    checklist: tuple[ItemResult, ...] | None = None
    if p.dosed_at is not None:
        results = evaluate_checklist(p, ev.ctx.policy, ev.ctx.now)
        missing = missing_items(results)
        if missing:
            labels = [r.label for r in results if r.key in missing]
            raise _refuse(
                "checklist_incomplete",
                f"{p.display_name} cannot leave yet. Still missing: " + "; ".join(labels) + ".",
                missing=missing,
            )
        checklist = tuple(results)
    ev.add(Discharged(from_=p.phase.value, checklist=checklist), p.id)


def _transfer(state: SessionState, cmd: c.Transfer, ev: _Events) -> None:
    p = _active(state, cmd.participant_id)
    reason = _require_text(cmd.reason, "reason", TEXT_LIMITS["reason"])
    destination = _require_text(cmd.destination, "destination", TEXT_LIMITS["destination"])
    _move(p, Phase.TRANSFERRED)
    if _locked_dependants(state, p.id):
        raise _dyad_locked(state, p.id, p.display_name)
    ev.add(Transferred(from_=p.phase.value, reason=reason, destination=destination), p.id)


def _amend(state: SessionState, cmd: c.Amend, ev: _Events) -> None:
    p = _participant(state, cmd.participant_id)
    correction = _require_text(cmd.correction, "correction", TEXT_LIMITS["correction"])
    reason = _require_text(cmd.reason, "reason", TEXT_LIMITS["reason"])
    if not 0 < cmd.event_seq <= state.seq or cmd.target_participant_id != p.id:
        raise _refuse(
            "not_found",
            f"Entry {cmd.event_seq} is not on {p.display_name}'s record in this session.",
            event_seq=cmd.event_seq,
        )
    ev.add(Amended(event_seq=cmd.event_seq, correction=correction, reason=reason), p.id)


def _record_note(state: SessionState, cmd: c.RecordNote, ev: _Events) -> None:
    p = _participant(state, cmd.participant_id)
    if cmd.kind not in NOTE_KINDS:
        raise InvalidInput(f"kind is one of {', '.join(NOTE_KINDS)}.", {"field": "kind"})
    text = _require_text(cmd.text, "text", TEXT_LIMITS["note_text"])
    unknown_parts = [x for x in cmd.parts if x not in PROTECTIVE_PARTS]
    if unknown_parts:
        raise InvalidInput(f"parts are some of {', '.join(PROTECTIVE_PARTS)}.", {"field": "parts"})
    if cmd.kind != "integration" and p.phase.final:
        raise _refuse(
            "participant_inactive",
            f"{p.display_name} has left the session; add an integration theme, or amend an earlier entry.",
        )
    if state.closed_at is not None and cmd.kind != "integration":
        raise _refuse("session_closed", "This session is closed; only integration themes can still be added.")
    observed = _time(cmd.observed_at, state, ev.ctx, "observed_at")
    ev.add(
        NoteRecorded(
            kind=cmd.kind,
            text=text,
            parts=tuple(sorted(set(cmd.parts))),
            somatic=cmd.somatic.strip(),
            observed_at=observed,
            late=entered_late(observed, ev.ctx.now),
        ),
        p.id,
    )


# ---------------------------------------------------------------- escalations and follow-ups


def _escalation(state: SessionState, escalation_id: str) -> Escalation:
    escalation = state.escalations.get(escalation_id)
    if escalation is None:
        raise _refuse("not_found", "There is no such escalation.", escalation_id=escalation_id)
    if not escalation.open:
        raise _refuse(
            "already_resolved",
            f"This escalation was resolved by {escalation.resolved_by}: {escalation.action}.",
            escalation_id=escalation_id,
        )
    return escalation


def _acknowledge(state: SessionState, cmd: c.AcknowledgeEscalation, ev: _Events) -> None:
    escalation = _escalation(state, cmd.escalation_id)
    if escalation.acknowledged_at is not None:
        raise _refuse(
            "already_acknowledged",
            f"{escalation.acknowledged_by} already acknowledged this step; it stays open until resolved.",
            escalation_id=escalation.id,
        )
    ev.add(EscalationAcknowledged(escalation_id=escalation.id, step=escalation.step), escalation.participant_id)


def _resolve(state: SessionState, cmd: c.ResolveEscalation, ev: _Events) -> None:
    action = _require_text(cmd.action, "action", TEXT_LIMITS["action"])
    outcome = _require_text(cmd.outcome, "outcome", TEXT_LIMITS["outcome"])
    escalation = _escalation(state, cmd.escalation_id)
    ev.add(EscalationResolved(escalation_id=escalation.id, action=action, outcome=outcome), escalation.participant_id)


def _mute(state: SessionState, cmd: c.MuteAlarm, ev: _Events) -> None:
    escalation = _escalation(state, cmd.escalation_id)
    until = ev.ctx.now + timedelta(seconds=ev.ctx.policy.alarm_mute_seconds)
    ev.add(AlarmMuted(escalation_id=escalation.id, until=until), escalation.participant_id)


def _close_followup(state: SessionState, cmd: c.CloseFollowup, ev: _Events) -> None:
    note = _require_text(cmd.contact_note, "contact_note", TEXT_LIMITS["contact_note"])
    followup = state.followups.get(cmd.followup_id)
    if followup is None:
        raise _refuse("not_found", "There is no such follow-up item.", followup_id=cmd.followup_id)
    if not followup.open:
        raise _refuse("already_closed", f"This follow-up was closed by {followup.closed_by}.")
    if ev.ctx.actor.role == "admin" and not reached_admins(followup, ev.now, ev.policy):
        raise _refuse("forbidden", "This follow-up is the session's lead's to close; it has not climbed to the admins.")
    ev.add(FollowupClosed(followup_id=followup.id, contact_note=note), followup.participant_id)


def repair_owner(state: SessionState, acting: str) -> str:
    """Who owns the repair of something a person did: the session's lead, unless the lead did it
    (a follow-up about the lead's own conduct is owned by the clinic's admins)."""
    return CLINIC_ADMINS if acting == state.lead else state.lead


ACCOUNT_LIMIT = 8000


def _open_followup(state: SessionState, cmd: c.OpenFollowup, ev: _Events) -> None:
    p = _participant(state, cmd.participant_id)
    reason = _require_text(cmd.reason, "reason", TEXT_LIMITS["reason"])
    account = (cmd.account or "").strip()
    if len(account) > ACCOUNT_LIMIT:
        raise InvalidInput(f"account is longer than {ACCOUNT_LIMIT} characters.", {"field": "account"})
    default = CLINIC_ADMINS if cmd.concerns_lead else state.lead
    owner = (cmd.owner or "").strip() or default
    if cmd.concerns_lead and owner == state.lead:
        raise _refuse(
            "owner_is_subject",
            f"This follow-up is about the conduct of {state.lead}, the session's lead, so someone else must own it.",
            owner=owner,
        )
    seq = ev.next_seq()
    opened = FollowupOpened(
        followup_id=f"{state.session_id}-f{seq}",
        reason=reason,
        owner=owner,
        due_at=ev.now + timedelta(hours=ev.policy.followup_due_hours),
        source_seq=seq,
        account=account,
        concerns_lead=cmd.concerns_lead,
    )
    ev.add(opened, p.id)


def _mark_seen(state: SessionState, cmd: c.MarkAlarmsSeen, ev: _Events) -> None:
    """The first time this person had each open alarm on a visible screen; repeats record nothing."""
    who = ev.ctx.actor.username
    for escalation_id in dict.fromkeys(cmd.escalation_ids):
        escalation = state.escalations.get(escalation_id)
        if escalation is None or not escalation.open or escalation.seen_by(who):
            continue
        ev.add(EscalationSeen(escalation_id=escalation.id), escalation.participant_id)


def _dedicate(state: SessionState, cmd: c.AssignDedicatedFacilitator, ev: _Events) -> None:
    p = _active(state, cmd.participant_id)
    if cmd.username not in state.covering_present:
        raise _refuse(
            "not_checked_in", f"{cmd.username} is not a facilitator checked in to this room.", username=cmd.username
        )
    ev.add(DedicatedFacilitatorAssigned(username=cmd.username), p.id)
    if not any(s.id == cmd.username for s in p.support):
        ev.add(SupportAssigned(support=SupportRef("staff", cmd.username)), p.id)


# ---------------------------------------------------------------- the clock


def _tick(state: SessionState, cmd: c.Tick, ev: _Events) -> None:
    policy = ev.ctx.policy
    grace = timedelta(minutes=policy.checkin_grace_minutes)
    interval = timedelta(minutes=policy.checkin_interval_minutes)
    for p in state.participants.values():
        due = p.checkin_due_at
        if not p.altered or due is None:
            continue
        missed = 0
        while due + grace <= ev.ctx.now and missed < 50:
            next_due = due + interval
            ev.add(ConsentCheckinMissed(due_at=due, next_due_at=next_due), p.id, actor="system")
            due = next_due
            missed += 1
    tick_escalations(ev)
    tick_vitals_due(ev)


def next_deadline(state: SessionState, policy: Policy) -> datetime | None:
    """The earliest moment at which a Tick would yield something, or None."""
    grace = timedelta(minutes=policy.checkin_grace_minutes)
    deadlines = [p.checkin_due_at + grace for p in state.participants.values() if p.altered and p.checkin_due_at]
    deadlines += escalation_deadlines(state)
    return min(deadlines) if deadlines else None


_HANDLERS: dict[type, Callable[[SessionState, Any, _Events], None]] = {
    c.OpenSession: _open_session,
    c.CloseSession: _close_session,
    c.CheckIn: _check_in,
    c.CheckOut: _check_out,
    c.AddParticipant: _add_participant,
    c.RecordScreening: _record_screening,
    c.ClearScreening: _clear_screening,
    c.RecordConsent: _record_consent,
    c.WithdrawConsent: _withdraw_consent,
    c.AssignSupport: _assign_support,
    c.RemoveSupport: _remove_support,
    c.HandOverSupport: _hand_over,
    c.AdministerDose: _administer_dose,
    c.ChangePhase: _change_phase,
    c.Pause: _pause,
    c.Resume: _resume,
    c.Stop: _stop,
    c.AnswerCheckin: _answer_checkin,
    c.RecordVitals: _record_vitals,
    c.RecordObservation: _record_observation,
    c.TickChecklistItem: _tick_checklist,
    c.Discharge: _discharge,
    c.Transfer: _transfer,
    c.Amend: _amend,
    c.Tick: _tick,
    c.StepOut: _step_out,
    c.AcknowledgeEscalation: _acknowledge,
    c.ResolveEscalation: _resolve,
    c.MuteAlarm: _mute,
    c.CloseFollowup: _close_followup,
    c.OpenFollowup: _open_followup,
    c.MarkAlarmsSeen: _mark_seen,
    c.AssignDedicatedFacilitator: _dedicate,
    c.RecordNote: _record_note,
    c.ReturnToRoom: _return_to_room,
}

# Commands the session accepts once it is closed (withdrawing consent is always accepted).
_AFTER_CLOSE = (c.WithdrawConsent, c.Tick, c.Amend, c.CloseFollowup, c.RecordNote, c.OpenFollowup, c.MarkAlarmsSeen)
# What the clinic's admins may do on a session's record: open a follow-up and close one that is theirs.
_ADMIN_COMMANDS = (c.Tick, c.OpenFollowup, c.CloseFollowup)


def decide(state: SessionState, command: c.Command, ctx: Context) -> list[Event]:
    """The events that follow from `command`, or a RuleViolation / InvalidInput saying why not."""
    if not isinstance(command, c.OpenSession):
        if not state.opened:
            raise _refuse("not_found", "There is no such session.")
        if state.closed_at is not None and not isinstance(command, _AFTER_CLOSE):
            raise _refuse("session_closed", "This session is closed; its record can no longer change.")
    if ctx.actor.role == "admin" and not isinstance(command, _ADMIN_COMMANDS):
        raise _refuse("forbidden", "Admins manage users and rooms, not clinical records.")
    ev = _Events(state, ctx)
    _HANDLERS[type(command)](state, command, ev)
    return ev.items


def refusal(state: SessionState, command: c.Command, violation: RuleViolation, ctx: Context) -> list[Event]:
    """The record of a refused attempt: who tried what, and which rule said no. An attempt to
    break a dyad lock also opens a follow-up item, so it reaches someone who must answer it."""
    ev = _Events(state, ctx)
    participant_id = command.target if command.target in state.participants else None
    followups: tuple[FollowupItem, ...] = ()
    if violation.code == "dyad_locked":
        # The follow-ups are part of this one record (so a refusal still appends a single event):
        # one per journeyer whose support was at stake.
        affected = list(violation.details.get("participants") or ([participant_id] if participant_id else []))
        due = ctx.now + timedelta(hours=ctx.policy.followup_due_hours)
        reason = f"Attempt to break a dyad lock by {ctx.actor.username}: {violation.message}"
        followups = tuple(
            FollowupItem(participant_id=pid, reason=reason, owner=repair_owner(state, ctx.actor.username), due_at=due)
            for pid in affected
        )
    refused = CommandRefused(
        command=command.name,
        code=violation.code,
        message=violation.message,
        attempt=command.summary(),
        followups=followups,
    )
    ev.add(refused, participant_id)
    return ev.items


# One rule, read by the session review too: whether a support person can be with the journeyer now.
support_available = _support_available
