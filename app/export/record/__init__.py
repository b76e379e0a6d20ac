"""One participant's chart record, built from the session's event log.

The record is a plain, JSON-ready dict (times are ISO 8601 strings with an offset) so the four
exports (JSON, CSV, FHIR, PDF) all render the same facts. It is built only from events about this
participant, session-wide events that name staff and nobody else (opening, closing, facilitators
checking in and out), and refused attempts that opened a follow-up for this participant. Nothing
recorded is rewritten: free text (notes, reasons, refusal messages) appears exactly as it was
written, even where it names someone else. A structured reference to another participant (a
training partner as support person, say) is given by role, "training partner" or "another
participant", never by their name, chart id or id.

The record is built from one consistent read of the event table: the events are folded into the
state here (not taken from a cache), the hash chain is checked, and `last_event_seq` and
`last_event_hash` name the session's last event at the time of the export.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from app import localtime
from app.domain import Policy, earliest_discharge
from app.domain import events as ev

from . import sections
from .formatting import iso, minutes_between
from .selection import belongs, partner_ids
from .snapshot import DISCLAIMER, FORMAT, OTHER, PARTNER, ChartRecord, RecordNotFound, Snapshot, load_snapshot

__all__ = ["DISCLAIMER", "ChartRecord", "RecordNotFound", "Snapshot", "build_record", "load_snapshot", "record_for"]


def build_record(
    snapshot: Snapshot,
    participant_id: str,
    policy: Policy,
    *,
    exported_at: datetime,
    exported_by: str | None = None,
) -> ChartRecord:
    state = snapshot.state
    p = state.participant(participant_id)
    if p is None:
        raise RecordNotFound(f"participant {participant_id} is not in session {snapshot.session_id}")
    events = [e for e in snapshot.events if belongs(e, participant_id)]
    own = [e for e in events if e.participant_id == participant_id]
    partners = partner_ids(snapshot.events, participant_id)
    # Other participants by id -> the role by which this record refers to them (never by name or
    # chart id). Only structured references are looked up; free text stays exactly as recorded.
    others = {q.id: PARTNER if q.id in partners else OTHER for q in state.participants.values() if q.id != p.id}

    amendments = sections.amendments(own)
    dose = sections.dose(p)
    vitals = sections.vitals(own, p, policy)
    bp = sections.bp_readings(p, vitals, policy)
    ended = p.ended_at
    checklist = sections.checklist(own, p, policy, exported_at)
    data: dict[str, Any] = {
        "format": FORMAT,
        "generated_at": exported_at.isoformat(),
        "generated_by": exported_by,
        # Times in the record are UTC instants; people read them in this zone (the PDF and the
        # CSV's *_local columns show them so).
        "time_zone": localtime.clinic_zone().key,
        "disclaimer": DISCLAIMER,
        "participant": {
            "id": p.id,
            "display_name": p.display_name,
            "chart_id": p.chart_id,
            "phase": p.phase.value,
            "arrived_at": iso(p.added_at),
        },
        "session": {
            "id": state.session_id,
            "kind": state.kind,
            "room_id": state.room_id,
            "room": snapshot.room_name or state.room_id,
            "lead": state.lead,
            "facilitators": list(state.facilitators),
            "opened_at": iso(state.opened_at),
            "closed_at": iso(state.closed_at),
        },
        "support": sections.support(own, p, others),
        "screening": sections.screening(own, p, policy),
        "concomitant_sedatives": list(p.screening.concomitant_sedatives) if p.screening else [],
        "consent": sections.consent(own, p),
        "dose": dose,
        "monitoring": {
            "arrived_at": iso(p.added_at),
            "start": iso(p.dosed_at),
            "end": iso(ended),
            "minutes": minutes_between(p.dosed_at, ended),
            "earliest_discharge_at": iso(earliest_discharge(p, policy)),
            "ongoing": p.dosed_at is not None and ended is None,
        },
        "blood_pressure": bp,
        "vitals_in_range": {
            "before_dosing": sections.in_range_before_dosing(p, bp, policy),
            "before_leaving": sections.in_range_before_leaving(own, p, vitals, policy, exported_at),
        },
        "vitals": vitals,
        "scales": sections.scales(own),
        "adverse_events": sections.adverse_events(state, p),
        "followups": sections.followups(state, p),
        "pauses_and_stops": sections.pauses(own),
        "consent_checkins": sections.checkins(own),
        "transport": sections.transport(p),
        "checklist": checklist,
        "checklist_ticks": [
            {"seq": e.seq, "item": e.payload.item, "by": e.actor, "at": iso(e.at), "note": e.payload.note}
            for e in own
            if isinstance(e.payload, ev.ChecklistItemTicked)
        ],
        "outcome": sections.outcome(own, p, checklist),
        "notes": sections.notes(own, amendments),
        "amendments": [a for seqs in amendments.values() for a in seqs],
        "refusals": [
            {
                "seq": e.seq,
                "at": iso(e.at),
                "actor": e.actor,
                "command": e.payload.command,
                "code": e.payload.code,
                "message": e.payload.message,
            }
            for e in events
            if isinstance(e.payload, ev.CommandRefused)
        ],
        "timeline": sections.timeline(events, amendments, others, policy),
        "last_event_seq": snapshot.last_event_seq,
        "last_event_hash": snapshot.last_event_hash,
        "chain": {
            "intact": snapshot.chain_problem is None,
            "broken_at_seq": snapshot.chain_problem[0] if snapshot.chain_problem else None,
            "problem": snapshot.chain_problem[1] if snapshot.chain_problem else None,
        },
    }
    ordered = {"format": data.pop("format"), "participant": data.pop("participant"), **data}
    return ChartRecord(ordered)


def record_for(
    snapshot: Snapshot,
    participant_id: str,
    policy: Policy,
    exported_by: str | None = None,
    clock: Callable[[], datetime] | None = None,
) -> ChartRecord:
    now = clock() if clock is not None else datetime.now(UTC)
    return build_record(snapshot, participant_id, policy, exported_at=now, exported_by=exported_by)
