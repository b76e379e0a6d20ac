"""Escalations and follow-ups: acknowledging is not resolving (invariant 7), who saw an alarm,
and repair that someone must close."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from .. import commands as c
from ..errors import InvalidInput
from ..events import (
    AlarmMuted,
    DedicatedFacilitatorAssigned,
    EscalationAcknowledged,
    EscalationResolved,
    EscalationSeen,
    FollowupClosed,
    FollowupOpened,
    SupportAssigned,
    SupportRef,
)
from ..followups import reached_admins
from ..model import CLINIC_ADMINS, Escalation, SessionState
from ..vocabulary import TEXT_LIMITS
from .base import Decision, active_participant, participant_of, refuse, required_text


def _escalation(state: SessionState, escalation_id: str) -> Escalation:
    escalation = state.escalations.get(escalation_id)
    if escalation is None:
        raise refuse("not_found", "There is no such escalation.", escalation_id=escalation_id)
    if not escalation.open:
        raise refuse(
            "already_resolved",
            f"This escalation was resolved by {escalation.resolved_by}: {escalation.action}.",
            escalation_id=escalation_id,
        )
    return escalation


def _acknowledge(state: SessionState, cmd: c.AcknowledgeEscalation, ev: Decision) -> None:
    escalation = _escalation(state, cmd.escalation_id)
    if escalation.acknowledged_at is not None:
        raise refuse(
            "already_acknowledged",
            f"{escalation.acknowledged_by} already acknowledged this step; it stays open until resolved.",
            escalation_id=escalation.id,
        )
    ev.add(EscalationAcknowledged(escalation_id=escalation.id, step=escalation.step), escalation.participant_id)


def _resolve(state: SessionState, cmd: c.ResolveEscalation, ev: Decision) -> None:
    action = required_text(cmd.action, "action", TEXT_LIMITS["action"])
    outcome = required_text(cmd.outcome, "outcome", TEXT_LIMITS["outcome"])
    escalation = _escalation(state, cmd.escalation_id)
    ev.add(EscalationResolved(escalation_id=escalation.id, action=action, outcome=outcome), escalation.participant_id)


def _mute(state: SessionState, cmd: c.MuteAlarm, ev: Decision) -> None:
    escalation = _escalation(state, cmd.escalation_id)
    until = ev.ctx.now + timedelta(seconds=ev.ctx.policy.alarm_mute_seconds)
    ev.add(AlarmMuted(escalation_id=escalation.id, until=until), escalation.participant_id)


def _close_followup(state: SessionState, cmd: c.CloseFollowup, ev: Decision) -> None:
    note = required_text(cmd.contact_note, "contact_note", TEXT_LIMITS["contact_note"])
    followup = state.followups.get(cmd.followup_id)
    if followup is None:
        raise refuse("not_found", "There is no such follow-up item.", followup_id=cmd.followup_id)
    if not followup.open:
        raise refuse("already_closed", f"This follow-up was closed by {followup.closed_by}.")
    if ev.ctx.actor.role == "admin" and not reached_admins(followup, ev.now, ev.policy):
        raise refuse("forbidden", "This follow-up is the session's lead's to close; it has not climbed to the admins.")
    ev.add(FollowupClosed(followup_id=followup.id, contact_note=note), followup.participant_id)


def repair_owner(state: SessionState, acting: str) -> str:
    """Who owns the repair of something a person did: the session's lead, unless the lead did it
    (a follow-up about the lead's own conduct is owned by the clinic's admins)."""
    return CLINIC_ADMINS if acting == state.lead else state.lead


def _open_followup(state: SessionState, cmd: c.OpenFollowup, ev: Decision) -> None:
    p = participant_of(state, cmd.participant_id)
    reason = required_text(cmd.reason, "reason", TEXT_LIMITS["reason"])
    account = (cmd.account or "").strip()
    if len(account) > TEXT_LIMITS["account"]:
        raise InvalidInput(f"account is longer than {TEXT_LIMITS['account']} characters.", {"field": "account"})
    default = CLINIC_ADMINS if cmd.concerns_lead else state.lead
    owner = (cmd.owner or "").strip() or default
    if cmd.concerns_lead and owner == state.lead:
        raise refuse(
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


def _mark_seen(state: SessionState, cmd: c.MarkAlarmsSeen, ev: Decision) -> None:
    """The first time this person had each open alarm on a visible screen; repeats record nothing."""
    who = ev.ctx.actor.username
    for escalation_id in dict.fromkeys(cmd.escalation_ids):
        escalation = state.escalations.get(escalation_id)
        if escalation is None or not escalation.open or escalation.seen_by(who):
            continue
        ev.add(EscalationSeen(escalation_id=escalation.id), escalation.participant_id)


def _dedicate(state: SessionState, cmd: c.AssignDedicatedFacilitator, ev: Decision) -> None:
    p = active_participant(state, cmd.participant_id)
    if cmd.username not in state.covering_present:
        raise refuse(
            "not_checked_in", f"{cmd.username} is not a facilitator checked in to this room.", username=cmd.username
        )
    ev.add(DedicatedFacilitatorAssigned(username=cmd.username), p.id)
    if not any(s.id == cmd.username for s in p.support):
        ev.add(SupportAssigned(support=SupportRef("staff", cmd.username)), p.id)


HANDLERS: dict[type, Callable[[SessionState, Any, Decision], None]] = {
    c.AcknowledgeEscalation: _acknowledge,
    c.ResolveEscalation: _resolve,
    c.MuteAlarm: _mute,
    c.CloseFollowup: _close_followup,
    c.OpenFollowup: _open_followup,
    c.MarkAlarmsSeen: _mark_seen,
    c.AssignDedicatedFacilitator: _dedicate,
}
