"""Read models: the folded state turned into plain dicts for the JSON API, the stream and pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.domain import (
    DEFAULT_POLICY,
    Event,
    ParticipantState,
    Policy,
    SessionState,
    consent_missing,
    earliest_discharge,
    evaluate_checklist,
)
from app.domain.coverage import coverage_warnings
from app.domain.decide import dose_gates_unmet
from app.domain.escalation import STEP_WORDS, vitals_flags
from app.domain.followups import climbs_at, followup_owners, followup_state
from app.domain.model import PRIORITY_RANK, Escalation, Followup, Phase, alarm_order


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _readings(readings: Any) -> dict[str, Any]:
    return {name: {"value": _num(r.value), "observed_at": _iso(r.observed_at)} for name, r in readings.items()}


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def support_view(state: SessionState, p: ParticipantState) -> list[dict[str, Any]]:
    out = []
    for ref in p.support:
        name = ref.id
        if ref.kind == "participant" and ref.id in state.participants:
            name = state.participants[ref.id].display_name
        out.append({"kind": ref.kind, "id": ref.id, "name": name})
    return out


def participant_view(state: SessionState, p: ParticipantState, policy: Policy, now: datetime) -> dict[str, Any]:
    checklist = [r.as_dict() for r in evaluate_checklist(p, policy, now)] if p.dosed_at else []
    ready_at = earliest_discharge(p, policy)
    consent = p.active_consent
    # The person's own open alarms, most urgent first: shown on their card, not only in a list.
    own_alarms = sorted(
        (e for e in state.open_escalations if e.participant_id == p.id),
        key=lambda e: (-PRIORITY_RANK[e.priority], e.raised_at),
    )
    return {
        "id": p.id,
        "display_name": p.display_name,
        "chart_id": p.chart_id,
        "phase": p.phase.value,
        "altered": p.altered,
        "paused_from": p.paused_from.value if p.paused_from else None,
        "support": support_view(state, p),
        "supporting": [q.id for q in state.supported_by(p.id)],
        # Whom this participant supports (a training-dyad partner): a supporter is not "without support".
        "supporting_names": [q.display_name for q in state.supported_by(p.id)],
        "distress": p.distress,
        "scales": _readings(p.scales),
        "last_vitals": _readings(p.vitals),
        "vitals_flags": vitals_flags({name: r.value for name, r in p.vitals.items()}, policy),
        "alarms": [escalation_view(state, e, now) for e in own_alarms],
        "screening": p.screening.to_data() if p.screening else None,
        "screening_cleared": p.screening_cleared,
        # When the screening was done and the agreement signed, when each was typed in, and whether
        # that was a late entry (invariant 8: both times are kept).
        "screening_observed_at": _iso(p.screened_at),
        "screening_recorded_at": _iso(p.screening_recorded_at),
        "screening_late": p.screening_late,
        "consent_observed_at": _iso(p.consented_at),
        "consent_recorded_at": _iso(p.consent_recorded_at),
        "consent_late": p.consent_late,
        # What a dose still needs (invariant 5), in the words a refusal would use.
        "dose_missing": (
            [{"key": g.key, "label": g.label} for g in dose_gates_unmet(state, p)]
            if p.phase in (Phase.ARRIVED, Phase.SCREENED)
            else []
        ),
        "consent": consent.to_data() if consent else None,
        "consent_withdrawn": sorted(p.consent_withdrawn),
        "consent_missing": consent_missing(p.consent),
        "dose": p.dose.to_data() if p.dose else None,
        "dosed_at": _iso(p.dosed_at),
        "stopped_by": p.stopped_by,
        "dedicated_facilitator": p.dedicated_facilitator,
        "notes": [
            {
                "seq": n.seq,
                "kind": n.note.kind,
                "text": n.note.text,
                "parts": list(n.note.parts),
                "somatic": n.note.somatic,
                "observed_at": _iso(n.note.observed_at),
                "recorded_at": _iso(n.recorded_at),
                "late": n.note.late,
                "by": n.by,
            }
            for n in p.notes
        ],
        "amendments": {
            str(seq): [
                {
                    "seq": a.seq,
                    "correction": a.amendment.correction,
                    "reason": a.amendment.reason,
                    "at": _iso(a.at),
                    "by": a.by,
                }
                for a in entries
            ]
            for seq, entries in p.amendments.items()
        },
        "vitals_due_at": _iso(p.vitals_due_at),
        "away_with": p.away_with,
        "checkin_due_at": _iso(p.checkin_due_at),
        "last_checkin": p.last_checkin.to_data() if p.last_checkin else None,
        "checklist": checklist,
        "earliest_discharge_at": _iso(ready_at),
        "ended_at": _iso(p.ended_at),
        "outcome": p.outcome.to_data() if p.outcome else None,
    }


def session_view(state: SessionState, policy: Policy, now: datetime) -> dict[str, Any]:
    return {
        "id": state.session_id,
        "room_id": state.room_id,
        "kind": state.kind,
        "lead": state.lead,
        "facilitators": list(state.facilitators),
        "facilitators_present": sorted(state.present),
        "participants": [participant_view(state, p, policy, now) for p in state.participants.values()],
        "open_escalations": [escalation_view(state, e, now) for e in state.open_escalations],
        "followups": [followup_view(state, f, now, policy) for f in state.followups.values() if f.open],
        "disrupted_by": [
            {"id": p.id, "display_name": p.display_name, "distress": p.distress} for p in state.disrupted_by
        ],
        "refusals": [
            {
                "seq": r.seq,
                "at": _iso(r.at),
                "actor": r.actor,
                "command": r.command,
                "code": r.code,
                "message": r.message,
                "participant_id": r.participant_id,
            }
            for r in state.refusals
        ],
        "warnings": coverage_warnings(state, policy),
        "opened_at": _iso(state.opened_at),
        "closed_at": _iso(state.closed_at),
        "seq": state.seq,
    }


def event_view(event: Event) -> dict[str, Any]:
    view: dict[str, Any] = {
        "seq": event.seq,
        "kind": event.kind,
        "at": _iso(event.at),
        "actor": event.actor,
        "data": event.data,
    }
    if event.participant_id is not None:
        view["participant_id"] = event.participant_id
    if event.device is not None:
        view["device"] = event.device
    return view


def _name(state: SessionState, participant_id: str) -> str:
    p = state.participants.get(participant_id)
    return p.display_name if p else participant_id


def escalation_view(state: SessionState, e: Escalation, now: datetime) -> dict[str, Any]:
    muted = e.muted(now)
    return {
        "id": e.id,
        "session_id": state.session_id,
        "room_id": state.room_id,
        "participant_id": e.participant_id,
        "participant_name": _name(state, e.participant_id),
        "condition": e.condition,
        "priority": e.priority,
        "step": e.step,
        "step_reaches": STEP_WORDS[e.step],
        "reason": e.reason,
        # What the alarm is about, without the name in front: the card it sits on already says whose.
        "what": e.reason.removeprefix(f"{_name(state, e.participant_id)}: "),
        "raised_at": _iso(e.raised_at),
        # When it became the priority it has now, and the priority it was raised with: a low alarm
        # raised to medium a minute ago is a one-minute-old medium, not an eleven-minute-old one.
        "priority_since": _iso(e.priority_since or e.raised_at),
        "raised_priority": e.raised_priority or e.priority,
        "deadline": _iso(e.deadline),
        "acknowledged_at": _iso(e.acknowledged_at),
        "acknowledged_by": e.acknowledged_by,
        "sounding": e.sounding(now),
        "muted_until": _iso(e.muted_until) if muted else None,
        "status": "open" if e.open else "resolved",
        "resolved_at": _iso(e.resolved_at),
        "resolved_by": e.resolved_by,
        "action": e.action,
        "outcome": e.outcome,
    }


def sort_alarms(views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Escalation views in the domain's alarm order (open first, most urgent, then oldest)."""
    return sorted(
        views,
        key=lambda v: alarm_order(v["status"] == "open", v["priority"], datetime.fromisoformat(v["raised_at"])),
    )


def followup_view(state: SessionState, f: Followup, now: datetime, policy: Policy = DEFAULT_POLICY) -> dict[str, Any]:
    status = followup_state(f, now, policy)
    return {
        "id": f.id,
        "session_id": state.session_id,
        "room_id": state.room_id,
        "participant_id": f.participant_id,
        "participant_name": _name(state, f.participant_id),
        "reason": f.reason,
        "owner": f.owner,
        "opened_at": _iso(f.opened_at),
        "due_at": _iso(f.due_at),
        "overdue": f.open and f.due_at < now,
        "status": "open" if f.open else "closed",
        "closed_at": _iso(f.closed_at),
        "closed_by": f.closed_by,
        "contact_note": f.contact_note,
        # Beyond API.md: the repair's full story (who opened it, the participant's own words, whether
        # it is about the lead's conduct) and when an overdue one climbs to the clinic's admins.
        "opened_by": f.opened_by,
        "account": f.account,
        "concerns_lead": f.concerns_lead,
        "state": status,
        "climbs_at": _iso(climbs_at(f, policy)),
        "owners": list(followup_owners(f, now, policy)),
    }


def record_timeline(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The chart record's timeline for the participant page: each amendment shown beside the entry
    it corrects, not as an entry of its own (its seq still appears on the entry it amends)."""
    rows = record.get("timeline") or []
    amendments: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("amends_seq") is not None:
            amendments.setdefault(int(row["amends_seq"]), []).append(row)
    shown = []
    for row in rows:
        if row.get("amends_seq") is not None and int(row["amends_seq"]) in {r["seq"] for r in rows}:
            continue
        flags = row.get("out_of_range") or {}
        shown.append(
            {
                **row,
                "amendments": amendments.get(row["seq"], []),
                "worst": "high" if "high" in flags.values() else ("medium" if flags else None),
            }
        )
    return shown


def attention_order(participants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A room tile's people, what needs attention first: an open alarm (the most urgent first), then
    the highest distress, then anyone without support. A new list: the room's own view keeps its
    order (the tablet's cards stay where the facilitator expects them)."""

    def key(p: dict[str, Any]) -> tuple[int, int, int]:
        top = max((PRIORITY_RANK[e["priority"]] for e in p.get("alarms") or []), default=-1)
        unsupported = not p["support"] and not p["supporting"]
        return (-top, -(p["distress"] or 0), 0 if unsupported else 1)

    return sorted(participants, key=key)
