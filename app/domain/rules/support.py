"""Support persons (invariant 1): who may support whom, who is still available, and the dyad lock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import commands as c
from ..errors import InvalidInput, RuleViolation
from ..escalation import open_followup
from ..events import SupportAssigned, SupportHandedOver, SupportRef, SupportRemoved
from ..model import ParticipantState, SessionState
from ..vocabulary import SUPPORT_KINDS, TEXT_LIMITS
from .base import Decision, active_participant, participant_of, refuse, required_text


def support_label(state: SessionState, ref: SupportRef) -> str:
    if ref.kind == "participant":
        partner = state.participant(ref.id)
        return partner.display_name if partner else ref.id
    return ref.id


def check_support_candidate(state: SessionState, participant: ParticipantState, ref: SupportRef) -> None:
    if ref.kind not in SUPPORT_KINDS:
        raise InvalidInput("A support person is either staff or a participant.", {"field": "kind"})
    if any(s.id == ref.id for s in participant.support):
        raise refuse("already_assigned", f"{support_label(state, ref)} already supports {participant.display_name}.")
    if ref.kind == "staff":
        if ref.id not in state.staff:
            raise refuse(
                "not_found",
                f"{ref.id} is not on this session's staff. Check them in to the room first.",
                support_id=ref.id,
            )
        return
    partner = state.participant(ref.id)
    if partner is None:
        raise refuse("not_found", "The partner is not a participant of this session.", support_id=ref.id)
    if state.kind != "dyad_training":
        raise refuse(
            "support_unavailable",
            "A fellow participant can be a support person only in a training dyad; assign staff instead.",
            support_id=ref.id,
        )
    if partner.id == participant.id:
        raise refuse("support_unavailable", "A participant cannot be their own support person.")
    if partner.altered or partner.phase.final:
        raise refuse(
            "support_unavailable",
            f"{partner.display_name} cannot support anyone while {partner.phase.label.lower()}.",
            support_id=ref.id,
            phase=partner.phase.value,
        )


def support_available(state: SessionState, ref: SupportRef, in_room: bool = True) -> bool:
    """Whether a support person can actually be with the journeyer: staff on the session (checked
    into the room, when `in_room`), or a partner who is neither altered nor gone."""
    if ref.kind == "staff":
        return ref.id in (state.present if in_room else state.staff)
    partner = state.participant(ref.id)
    return partner is not None and not partner.altered and not partner.phase.final


def locked_dependants(state: SessionState, support_id: str) -> tuple[ParticipantState, ...]:
    """Altered participants for whom `support_id` is the only support person still available."""
    return tuple(
        p
        for p in state.supported_by(support_id)
        if p.altered and not any(s.id != support_id and support_available(state, s) for s in p.support)
    )


def dyad_locked(state: SessionState, support_id: str, leaving: str) -> RuleViolation:
    names = ", ".join(p.display_name for p in locked_dependants(state, support_id))
    return refuse(
        "dyad_locked",
        f"{leaving} is the only support person of {names}, who is in an altered phase and must not be left "
        "alone. Only a lead's emergency handover that names a replacement can change this.",
        support_id=support_id,
        participants=[p.id for p in locked_dependants(state, support_id)],
    )


def _assign_support(state: SessionState, cmd: c.AssignSupport, ev: Decision) -> None:
    p = active_participant(state, cmd.participant_id)
    check_support_candidate(state, p, cmd.support)
    ev.add(SupportAssigned(support=cmd.support), p.id)


def _remove_support(state: SessionState, cmd: c.RemoveSupport, ev: Decision) -> None:
    p = participant_of(state, cmd.participant_id)
    if not any(s.id == cmd.support_id for s in p.support):
        raise refuse("not_found", "That person is not assigned as support.", support_id=cmd.support_id)
    if p.altered:
        raise refuse(
            "dyad_locked",
            f"{p.display_name} is in an altered phase ({p.phase.label.lower()}): their support person stays "
            "until discharge. Their agreement cannot be asked for now. Only a lead's emergency handover "
            "that names a replacement can change this.",
            support_id=cmd.support_id,
            phase=p.phase.value,
        )
    ev.add(SupportRemoved(support_id=cmd.support_id), p.id)


def _hand_over(state: SessionState, cmd: c.HandOverSupport, ev: Decision) -> None:
    p = active_participant(state, cmd.participant_id)
    reason = required_text(cmd.reason, "reason", TEXT_LIMITS["reason"])
    if ev.ctx.actor.role != "lead":
        raise refuse("forbidden", "Only a lead can make an emergency handover of a support person.")
    if cmd.replaces is not None and not any(s.id == cmd.replaces for s in p.support):
        raise refuse("not_found", "That person is not assigned as support.", support_id=cmd.replaces)
    check_support_candidate(state, p, cmd.replacement)
    if not support_available(state, cmd.replacement):
        raise refuse(
            "support_unavailable",
            f"{support_label(state, cmd.replacement)} must be in the room to take over at once; check them in first.",
            support_id=cmd.replacement.id,
        )
    released = [cmd.replaces] if cmd.replaces is not None else [s.id for s in p.support]
    ev.add(SupportHandedOver(replacement=cmd.replacement, released=tuple(released), reason=reason), p.id)
    open_followup(ev, p.id, f"Emergency handover of {p.display_name}'s support: {reason}", ev.next_seq() - 1)


HANDLERS: dict[type, Callable[[SessionState, Any, Decision], None]] = {
    c.AssignSupport: _assign_support,
    c.RemoveSupport: _remove_support,
    c.HandOverSupport: _hand_over,
}
