"""Before the medicine: screening and its clearance, the pre-session agreement (invariant 2:
never widened in an altered phase), and what a dose needs (invariant 5)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .. import commands as c
from ..errors import InvalidInput, RuleViolation
from ..escalation import next_vitals_due
from ..events import (
    Agreement,
    BloodPressure,
    ConsentRecorded,
    ConsentWithdrawn,
    DoseAdministered,
    ScreeningCleared,
    ScreeningRecorded,
)
from ..model import ParticipantState, Phase, SessionState, entered_late
from ..vocabulary import DOSE_MG_MAX, INFUSION_MINUTES, ROUTES, TEXT_LIMITS, TOUCH_AREAS, VITAL_RANGES, WITHDRAWABLE
from .base import Decision, active_participant, check_move, client_time, participant_of, refuse, required_text
from .support import dyad_locked, locked_dependants, support_available


def _record_screening(state: SessionState, cmd: c.RecordScreening, ev: Decision) -> None:
    p = active_participant(state, cmd.participant_id)
    check_move(p, Phase.SCREENED)
    for field, value in (("sbp", cmd.sbp), ("dbp", cmd.dbp)):
        low, high = VITAL_RANGES[field]
        if not low <= value <= high:
            raise InvalidInput(f"bp.{field} must be between {low} and {high}.", {"field": f"bp.{field}"})
    observed = client_time(cmd.observed_at, state, ev.ctx, "observed_at")
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


def _clear_screening(state: SessionState, cmd: c.ClearScreening, ev: Decision) -> None:
    p = active_participant(state, cmd.participant_id)
    note = required_text(cmd.note, "note", TEXT_LIMITS["clearance_note"])
    if ev.ctx.actor.role != "prescriber":
        raise refuse("forbidden", "Only a prescriber can clear a flagged screening.")
    if p.screening is None or p.phase is not Phase.SCREENED:
        raise refuse("invalid_transition", f"{p.display_name} has no screening waiting to be cleared.")
    if not p.screening_flags:
        raise refuse("invalid_transition", "This screening has nothing flagged; it needs no clearance.")
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


def _record_consent(state: SessionState, cmd: c.RecordConsent, ev: Decision) -> None:
    p = active_participant(state, cmd.participant_id)
    agreement = _agreement(cmd)
    observed = client_time(cmd.observed_at, state, ev.ctx, "observed_at")
    if p.altered:
        before = p.active_consent
        widened = _widens(before, agreement) if before is not None else ["agreement"]
        if widened or before is None:
            raise refuse(
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


def _withdraw_consent(state: SessionState, cmd: c.WithdrawConsent, ev: Decision) -> None:
    p = participant_of(state, cmd.participant_id)
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
    elif not any(support_available(state, s, in_room=False) for s in p.support):
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


def _administer_dose(state: SessionState, cmd: c.AdministerDose, ev: Decision) -> None:
    p = active_participant(state, cmd.participant_id)
    if cmd.route not in ROUTES:
        raise InvalidInput(f"route must be one of {', '.join(ROUTES)}.", {"field": "route"})
    if not 0 < cmd.dose_mg <= DOSE_MG_MAX:
        raise InvalidInput(f"dose_mg must be more than 0 and at most {DOSE_MG_MAX}.", {"field": "dose_mg"})
    administered_at = client_time(cmd.administered_at, state, ev.ctx, "administered_at")
    if ev.ctx.actor.role != "prescriber":
        raise refuse("forbidden", "Only a prescriber can record a dose.")
    if p.phase not in (Phase.ARRIVED, Phase.SCREENED):
        check_move(p, Phase.DOSED)
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
    check_move(p, Phase.DOSED)
    if locked_dependants(state, p.id):
        raise dyad_locked(state, p.id, p.display_name)
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


HANDLERS: dict[type, Callable[[SessionState, Any, Decision], None]] = {
    c.RecordScreening: _record_screening,
    c.ClearScreening: _clear_screening,
    c.RecordConsent: _record_consent,
    c.WithdrawConsent: _withdraw_consent,
    c.AdministerDose: _administer_dose,
}
