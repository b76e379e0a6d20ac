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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from app import localtime
from app.domain import (
    ALTERED_PHASES,
    Event,
    ParticipantState,
    Policy,
    SessionState,
    earliest_discharge,
    evaluate_checklist,
    evolve,
)
from app.domain import events as ev
from app.domain.checklist import VITALS_FOR_DISCHARGE, missing_items, vitals_out_of_range
from app.domain.escalation import BP_CHECK_REPORT_WINDOW_MINUTES, vitals_flags
from app.domain.events import SupportRef
from app.domain.followups import closed_late
from app.domain.outcome import Outcome, outcome_of
from app.domain.vocabulary import SCALE_RANGES, VITAL_RANGES
from app.store.db import unit_of_work
from app.store.events import GENESIS, read_records, to_event, verify_chain
from app.store.tables import CareSession, Room

FORMAT = "holdspace-chart-record/1"
PARTNER = "training partner"
OTHER = "another participant"
DISCLAIMER = "Holdspace supports clinical judgement; it does not replace it."
VITAL_NAMES = tuple(VITAL_RANGES)
SCALE_NAMES = tuple(SCALE_RANGES)
# Events that carry no participant but belong on every participant's timeline.
SESSION_EVENTS_ON_TIMELINE = (ev.SessionOpened, ev.SessionClosed, ev.FacilitatorCheckedIn, ev.FacilitatorCheckedOut)


class RecordNotFound(LookupError):
    """The session or the participant is not on the record."""


@dataclass(frozen=True)
class Snapshot:
    """One consistent read of a session's log: its events, the state they fold into, the hash
    of its last event, and the first break in its hash chain (if any)."""

    session_id: str
    events: tuple[Event, ...]
    state: SessionState
    last_event_seq: int
    last_event_hash: str
    chain_problem: tuple[int, str] | None
    room_name: str | None = None
    unreadable: tuple[int, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ChartRecord:
    """A participant's chart record: `data` is the JSON-ready whole (treat it as read-only)."""

    data: dict[str, Any]

    @property
    def chart_id(self) -> str:
        return str(self.data["participant"]["chart_id"])

    @property
    def session_id(self) -> str:
        return str(self.data["session"]["id"])

    @property
    def last_event_hash(self) -> str:
        return str(self.data["last_event_hash"])

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


# ---------------------------------------------------------------- reading the store


def load_snapshot(engine: Engine, session_id: str) -> Snapshot:
    """Read the session's whole log once and fold it. Raises RecordNotFound for an empty log."""
    with unit_of_work(engine) as db:
        records = list(read_records(db, session_id))
        events: list[Event] = []
        unreadable: list[int] = []
        for record in records:
            try:
                event = to_event(record)
            except ValueError:
                unreadable.append(record.seq)
                continue
            if not unreadable:  # the record ends at the first event that no longer reads
                events.append(event)
        row = db.get(CareSession, session_id)
        head = (row.head_seq, row.head_hash) if row is not None else None
        problem = verify_chain(records, head) if records else None
        if unreadable and problem is None:  # pragma: no cover - verify_chain reports these itself
            problem = (unreadable[0], "its data is not readable (edited)")
        last = records[-1] if records else None
        state = SessionState(session_id=session_id)
        folded: list[Event] = []
        for event in events:  # an edited event that no longer folds ends the readable record
            try:
                state = evolve(state, event)
            except (KeyError, TypeError, ValueError):
                problem = problem or (event.seq, "its data no longer fits the record (edited)")
                break
            folded.append(event)
        events = folded
        room = db.get(Room, state.room_id) if state.room_id else None
        room_name = room.name if room is not None else None
    if last is None or not state.opened:
        raise RecordNotFound(f"session {session_id} has no record")
    return Snapshot(
        session_id=session_id,
        events=tuple(events),
        state=state,
        last_event_seq=last.seq,
        last_event_hash=last.hash or GENESIS,
        chain_problem=problem,
        room_name=room_name,
        unreadable=tuple(unreadable),
    )


# ---------------------------------------------------------------- small helpers


def _iso(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return value.isoformat()


def _when(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _num(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _minutes(earlier: datetime | None, later: datetime | None) -> float | None:
    if earlier is None or later is None:
        return None
    return round((later - earlier) / timedelta(minutes=1), 1)


def _plain(value: Any) -> Any:
    """Anything from the state (mappings, tuples, datetimes, sets) as JSON-ready values."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, float):
        return _num(value)
    return value


def _words(value: str) -> str:
    return value.replace("_", " ")


def _vitals_text(values: Mapping[str, Any]) -> str:
    parts = []
    if values.get("sbp") is not None or values.get("dbp") is not None:
        parts.append(f"BP {_fmt(values.get('sbp'))}/{_fmt(values.get('dbp'))} mmHg")
    if values.get("hr") is not None:
        parts.append(f"HR {_fmt(values['hr'])}/min")
    if values.get("spo2") is not None:
        parts.append(f"SpO2 {_fmt(values['spo2'])}%")
    if values.get("rr") is not None:
        parts.append(f"RR {_fmt(values['rr'])}/min")
    for name, value in values.items():
        if name not in VITAL_NAMES and value is not None:
            parts.append(f"{name} {_fmt(value)}")
    return ", ".join(parts)


def _at(value: Any) -> str:
    """A moment inside a summary line, in the clinic's time zone (HOLDSPACE_TIMEZONE)."""
    moment = localtime.local(_when(value))
    return "-" if moment is None else moment.strftime("%d %b %Y %H:%M")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _scales_text(values: Mapping[str, Any]) -> str:
    parts = []
    if values.get("distress") is not None:
        parts.append(f"distress {values['distress']}")
    if values.get("moaa_s") is not None:
        parts.append(f"MOAA/S {values['moaa_s']}")
    if values.get("rass") is not None:
        parts.append(f"RASS {int(values['rass']):+d}")
    if values.get("suds") is not None:
        parts.append(f"SUDS {values['suds']}")
    return ", ".join(parts)


# ---------------------------------------------------------------- privacy


# Keys of event data whose string values name a participant by id (a support person, the target
# of an attempt, the participants a dyad lock protects, the participant a follow-up is for).
PARTICIPANT_KEYS = frozenset(
    {"participant_id", "target_participant_id", "support_id", "replaces", "released", "participants"}
)


def _references(value: Any, others: Mapping[str, str], key: str | None = None) -> Any:
    """Structured data (already JSON-ready) with every reference to another participant by id
    replaced by their role ("training partner" or "another participant"). Only whole values under
    the keys that hold participant ids, and the id of a support reference to a participant, are
    compared, and only for equality: free text is never searched or changed."""
    if isinstance(value, Mapping):
        is_partner_ref = value.get("kind") == "participant"
        out: dict[str, Any] = {}
        for k, v in value.items():
            if is_partner_ref and k == "id" and isinstance(v, str) and v in others:
                out["role"] = others[v]
                continue
            out[k] = _references(v, others, k)
        return out
    if isinstance(value, list):
        return [_references(v, others, key) for v in value]
    if isinstance(value, str) and key in PARTICIPANT_KEYS and value in others:
        return others[value]
    return value


def _partner_ids(events: Sequence[Event], participant_id: str) -> set[str]:
    """Participants linked to this one as a support partner, in either direction."""
    partners: set[str] = set()
    for event in events:
        match event.payload:
            case ev.SupportAssigned(support=ref) | ev.SupportHandedOver(replacement=ref):
                pass
            case _:
                continue
        if ref.kind != "participant":
            continue
        if event.participant_id == participant_id:
            partners.add(ref.id)
        elif ref.id == participant_id and event.participant_id:
            partners.add(event.participant_id)
    return partners


def _belongs(event: Event, participant_id: str) -> bool:
    if event.participant_id == participant_id:
        return True
    if isinstance(event.payload, ev.CommandRefused):
        # A refused attempt that opened a follow-up for this participant (one of one, or of several).
        return any(item.participant_id == participant_id for item in event.payload.followups)
    return event.participant_id is None and isinstance(event.payload, SESSION_EVENTS_ON_TIMELINE)


# ---------------------------------------------------------------- summaries of events


def _support_label(ref: SupportRef | None) -> str:
    if ref is None:
        return "-"
    if ref.kind == "participant":
        return PARTNER
    return ref.id


def _person(value: str, others: Mapping[str, str]) -> str:
    """A support person named by id: staff by username, another participant by role."""
    return others.get(value, value)


def _discharge_summary(discharged: ev.Discharged) -> str:
    """A discharge, in what it was: leaving before any dose, or leaving after grounding (with the
    checklist as the domain evaluated it at the time)."""
    phase = discharged.from_
    if not discharged.checklist:
        if phase in {ph.value for ph in ALTERED_PHASES}:
            return f"Discharged from {_words(phase)} (no grounding checklist on the record)"
        return f"Left before dosing (discharged from {_words(phase or 'the session')})"
    missing = missing_items(list(discharged.checklist))
    if missing:
        return "Discharged after grounding; checklist at discharge missing: " + ", ".join(_words(m) for m in missing)
    return "Discharged after grounding (grounding checklist complete)"


def summarize(event: Event, others: Mapping[str, str] | None = None) -> str:
    """One line of plain words for an event. `others` maps other participants' ids to their role
    in this record; a structured reference to one of them is said by that role, never by id."""
    others = others or {}
    match event.payload:
        case ev.SessionOpened() as d:
            return f"Session opened ({_words(d.kind)}), lead {d.lead}, facilitators " + (
                ", ".join(d.facilitators) or "none"
            )
        case ev.SessionClosed():
            return "Session closed"
        case ev.FacilitatorCheckedIn() as d:
            return f"{d.username} ({d.role}) checked in to the room"
        case ev.FacilitatorCheckedOut() as d:
            return f"{d.username} checked out of the room"
        case ev.CommandRefused() as d:
            return f"Refused: {_words(d.command)} ({d.code}): {d.message}"
        case ev.ParticipantAdded() as d:
            return f"Arrived: {d.display_name} (chart {d.chart_id})"
        case ev.ScreeningRecorded() as d:
            flags = ", ".join(d.flags) or "none"
            sedatives = ", ".join(d.concomitant_sedatives) or "none"
            return f"Screening: BP {d.bp.sbp}/{d.bp.dbp} mmHg; flags: {flags}; concomitant sedatives: {sedatives}"
        case ev.ScreeningCleared() as d:
            return f"Screening cleared by prescriber: {d.note}"
        case ev.ConsentRecorded() as d:
            touch = ", ".join(d.agreement.touch) or "none"
            return f"Pre-session agreement signed (touch: {touch}), attested by {d.attested_by}"
        case ev.ConsentWithdrawn() as d:
            return "Consent withdrawn: " + ", ".join(d.items)
        case ev.ConsentCheckinAnswered() as d:
            answer = "all right to continue" if d.ok else "NOT all right"
            note = f": {d.note}" if d.note else ""
            return f"Consent check-in answered, {answer}{note}"
        case ev.ConsentCheckinMissed() as d:
            return f"Consent check-in due {_at(d.due_at)} missed"
        case ev.SupportAssigned() as d:
            return f"Support person assigned: {_support_label(d.support)}"
        case ev.SupportRemoved() as d:
            return f"Support person removed: {_person(d.support_id, others)}"
        case ev.SupportHandedOver() as d:
            return f"Emergency handover of support to {_support_label(d.replacement)}: {d.reason}"
        case ev.DoseAdministered() as d:
            return (
                f"Ketamine {_fmt(d.dose_mg)} mg {d.route} administered at {_at(d.administered_at)} "
                f"(prescriber {d.prescriber})"
            )
        case ev.PhaseChanged() as d:
            return f"Phase: {_words(d.from_)} to {_words(d.to)}"
        case ev.Paused() as d:
            reason = f": {d.reason}" if d.reason else ""
            return f"Paused at the {d.requested_by}'s request{reason}"
        case ev.Resumed() as d:
            return f"Resumed ({_words(d.to)}) at the participant's wish to continue"
        case ev.Stopped() as d:
            reason = f": {d.reason}" if d.reason else ""
            return f"Stopped at the {d.requested_by}'s request{reason}"
        case ev.PauseOrStopDeclined() as d:
            return f"Staff proposed a {d.proposal}; the participant declined"
        case ev.VitalsRecorded() as d:
            return "Vitals: " + _vitals_text(d.vitals)
        case ev.ObservationRecorded() as d:
            parts = [_scales_text(d.scales)]
            if d.signs:
                parts.append("signs: " + ", ".join(d.signs))
            if d.parts:
                parts.append("parts: " + ", ".join(d.parts))
            if d.note:
                parts.append(d.note)
            return "Observation: " + "; ".join(p for p in parts if p)
        case ev.ChecklistItemTicked() as d:
            note = f" ({d.note})" if d.note else ""
            return f"Checklist: {_words(d.item)} done{note}"
        case ev.NoteRecorded() as d:
            return f"{(d.kind or 'note').capitalize()} note: {d.text}"
        case ev.Amended() as d:
            return f"Amends entry {d.event_seq}: {d.correction} (reason: {d.reason})"
        case ev.DedicatedFacilitatorAssigned() as d:
            return f"Dedicated facilitator: {d.username}"
        case ev.ParticipantSteppedOut() as d:
            return f"Stepped out of the room with {d.accompanied_by}"
        case ev.ParticipantReturned() as d:
            return f"Returned to the room with {d.accompanied_by}"
        case ev.Discharged() as d:
            return _discharge_summary(d)
        case ev.Transferred() as d:
            return f"Transferred to {d.destination}: {d.reason}"
        case ev.EscalationRaised() as d:
            return f"Escalation raised ({d.priority}, step {d.step}): {d.reason}"
        case ev.EscalationUpdated() as d:
            return f"Escalation raised to {d.priority} (step {d.step}): {d.reason}"
        case ev.EscalationClimbed() as d:
            return f"Escalation climbed to step {d.step} (not acknowledged in time)"
        case ev.EscalationResounded():
            return "Escalation sounded again (not acknowledged)"
        case ev.EscalationAcknowledged() as d:
            return f"Escalation acknowledged at step {d.step}"
        case ev.EscalationResolved() as d:
            return f"Escalation resolved. Action: {d.action}. Outcome: {d.outcome}"
        case ev.AlarmMuted() as d:
            return f"Alarm muted until {_at(d.until)}"
        case ev.FollowupOpened() as d:
            return f"Follow-up opened for {d.owner}, due {_at(d.due_at)}: {d.reason}"
        case ev.FollowupClosed() as d:
            return f"Follow-up closed: {d.contact_note}"
        case ev.EscalationSeen():
            return "Alarm on a visible screen (first time for this person)"
    shown = ", ".join(f"{k} {v}" for k, v in event.data.items() if isinstance(v, (str, int, float, bool)))
    return _words(event.kind).capitalize() + (f": {shown}" if shown else "")


# ---------------------------------------------------------------- building the record


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
    events = [e for e in snapshot.events if _belongs(e, participant_id)]
    own = [e for e in events if e.participant_id == participant_id]
    partners = _partner_ids(snapshot.events, participant_id)
    # Other participants by id -> the role by which this record refers to them (never by name or
    # chart id). Only structured references are looked up; free text stays exactly as recorded.
    others = {q.id: PARTNER if q.id in partners else OTHER for q in state.participants.values() if q.id != p.id}

    amendments = _amendments(own)
    dose = _dose(p)
    vitals = _vitals(own, p, policy)
    bp = _bp_readings(p, vitals, policy)
    ended = p.ended_at
    checklist = _checklist(own, p, policy, exported_at)
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
            "arrived_at": _iso(p.added_at),
        },
        "session": {
            "id": state.session_id,
            "kind": state.kind,
            "room_id": state.room_id,
            "room": snapshot.room_name or state.room_id,
            "lead": state.lead,
            "facilitators": list(state.facilitators),
            "opened_at": _iso(state.opened_at),
            "closed_at": _iso(state.closed_at),
        },
        "support": _support(own, p, others),
        "screening": _screening(own, p, policy),
        "concomitant_sedatives": list(p.screening.concomitant_sedatives) if p.screening else [],
        "consent": _consent(own, p),
        "dose": dose,
        "monitoring": {
            "arrived_at": _iso(p.added_at),
            "start": _iso(p.dosed_at),
            "end": _iso(ended),
            "minutes": _minutes(p.dosed_at, ended),
            "earliest_discharge_at": _iso(earliest_discharge(p, policy)),
            "ongoing": p.dosed_at is not None and ended is None,
        },
        "blood_pressure": bp,
        "vitals_in_range": {
            "before_dosing": _in_range_before_dosing(p, bp, policy),
            "before_leaving": _in_range_before_leaving(own, p, vitals, policy, exported_at),
        },
        "vitals": vitals,
        "scales": _scales(own),
        "adverse_events": _adverse_events(state, p),
        "followups": _followups(state, p),
        "pauses_and_stops": _pauses(own),
        "consent_checkins": _checkins(own),
        "transport": _transport(p),
        "checklist": checklist,
        "checklist_ticks": [
            {"seq": e.seq, "item": e.payload.item, "by": e.actor, "at": _iso(e.at), "note": e.payload.note}
            for e in own
            if isinstance(e.payload, ev.ChecklistItemTicked)
        ],
        "outcome": _outcome(own, p, checklist),
        "notes": _notes(own, amendments),
        "amendments": [a for seqs in amendments.values() for a in seqs],
        "refusals": [
            {
                "seq": e.seq,
                "at": _iso(e.at),
                "actor": e.actor,
                "command": e.payload.command,
                "code": e.payload.code,
                "message": e.payload.message,
            }
            for e in events
            if isinstance(e.payload, ev.CommandRefused)
        ],
        "timeline": _timeline(events, amendments, others, policy),
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


def _amendments(own: Sequence[Event]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for e in own:
        if not isinstance(e.payload, ev.Amended):
            continue
        target = e.payload.event_seq
        out.setdefault(target, []).append(
            {
                "seq": e.seq,
                "event_seq": target,
                "correction": e.payload.correction,
                "reason": e.payload.reason,
                "at": _iso(e.at),
                "by": e.actor,
            }
        )
    return out


def _support(own: Sequence[Event], p: ParticipantState, others: Mapping[str, str]) -> dict[str, Any]:
    current = [{"kind": s.kind, "name": _support_label(s)} for s in p.support]
    history = []
    for e in own:
        entry = {"seq": e.seq, "at": _iso(e.at), "by": e.actor}
        match e.payload:
            case ev.SupportAssigned() as assigned:
                history.append({**entry, "what": "assigned", "support": _support_label(assigned.support)})
            case ev.SupportRemoved() as removed:
                history.append({**entry, "what": "removed", "support": _person(removed.support_id, others)})
            case ev.SupportHandedOver() as handover:
                replacement = _support_label(handover.replacement)
                history.append(
                    {**entry, "what": "emergency handover", "support": replacement, "reason": handover.reason}
                )
    return {"current": current, "history": history, "dedicated_facilitator": p.dedicated_facilitator}


def _screening(own: Sequence[Event], p: ParticipantState, policy: Policy) -> dict[str, Any] | None:
    if p.screening is None:
        return None
    screening = p.screening
    cleared = [e.payload for e in own if isinstance(e.payload, ev.ScreeningCleared)]
    cleared_at = [e.at for e in own if isinstance(e.payload, ev.ScreeningCleared)]
    last_clear = cleared[-1] if cleared else None
    clearance = policy.vitals.predose_clearance
    return {
        "at": _iso(p.screened_at),
        "bp": {"sbp": screening.bp.sbp, "dbp": screening.bp.dbp},
        "contraindications": dict(screening.contraindications),
        "concomitant_sedatives": list(screening.concomitant_sedatives),
        "notes": screening.notes,
        "flags": list(p.screening_flags),
        "cleared": p.screening_cleared,
        "needed_clearance": bool(p.screening_flags),
        "cleared_by": p.screening_cleared_by,
        "cleared_at": _iso(cleared_at[-1]) if cleared_at else None,
        "clearance_note": last_clear.note if last_clear else None,
        "predose_clearance_threshold": f"{clearance.sbp}/{clearance.dbp}",
    }


def _consent(own: Sequence[Event], p: ParticipantState) -> dict[str, Any] | None:
    recorded = [e.payload for e in own if isinstance(e.payload, ev.ConsentRecorded)]
    withdrawals = [
        {"seq": e.seq, "at": _iso(e.at), "by": e.actor, "items": list(e.payload.items)}
        for e in own
        if isinstance(e.payload, ev.ConsentWithdrawn)
    ]
    if p.consent is None and not withdrawals:
        return None
    last = recorded[-1] if recorded else None
    as_it_stands = p.active_consent
    return {
        "signed_at": _iso(p.consented_at),
        "attested_by": last.attested_by if last else None,
        "agreement": p.consent.to_data() if p.consent is not None else None,
        "as_it_stands": as_it_stands.to_data() if as_it_stands is not None else None,
        "withdrawn": sorted(p.consent_withdrawn),
        "withdrawals": withdrawals,
    }


def _dose(p: ParticipantState) -> dict[str, Any] | None:
    if p.dose is None:
        return None
    return {
        "medication": "ketamine",
        "route": p.dose.route,
        "dose_mg": _num(p.dose.dose_mg),
        "administered_at": _iso(p.dosed_at),
        "prescriber": p.dose.prescriber,
    }


def _vitals(own: Sequence[Event], p: ParticipantState, policy: Policy) -> list[dict[str, Any]]:
    out = []
    for e in own:
        if not isinstance(e.payload, ev.VitalsRecorded):
            continue
        observed = e.payload.observed_at
        values = {k: _num(v) for k, v in e.payload.vitals.items()}
        out.append(
            {
                "seq": e.seq,
                "observed_at": _iso(observed),
                "recorded_at": _iso(e.at),
                "late": e.payload.late,
                "minutes_after_dose": _minutes(p.dosed_at, observed),
                "by": e.actor,
                **{name: values.get(name) for name in VITAL_NAMES},
                # Each reading past the clinic's alarm thresholds, with the alarm's priority.
                "out_of_range": vitals_flags(values, policy),
            }
        )
    out.sort(key=lambda v: (_when(v["observed_at"]), v["seq"]))
    return out


def _bp_readings(p: ParticipantState, vitals: list[dict[str, Any]], policy: Policy) -> dict[str, Any]:
    """Blood pressure at the times an esketamine-style monitoring form asks for: before dosing, at
    the clinic's BP check after dosing (about 40 minutes by default), and before the end of
    monitoring (the readings nearest those times)."""
    target = policy.bp_check_after_dose_minutes
    window = BP_CHECK_REPORT_WINDOW_MINUTES
    dosed_at = p.dosed_at
    with_bp = [v for v in vitals if v.get("sbp") is not None or v.get("dbp") is not None]

    def reading(v: dict[str, Any], source: str) -> dict[str, Any]:
        return {
            "sbp": v.get("sbp"),
            "dbp": v.get("dbp"),
            "observed_at": v.get("observed_at"),
            "minutes_after_dose": v.get("minutes_after_dose"),
            "source": source,
            "seq": v.get("seq"),
        }

    before: dict[str, Any] | None = None
    if p.screening is not None:
        bp = p.screening.bp
        before = {
            "sbp": _num(bp.sbp),
            "dbp": _num(bp.dbp),
            "observed_at": _iso(p.screened_at),
            "minutes_after_dose": _minutes(dosed_at, p.screened_at),
            "source": "screening",
            "seq": None,
        }
    pre = [v for v in with_bp if dosed_at is None or (_when(v["observed_at"]) or dosed_at) <= dosed_at]
    screened_at = _when(before["observed_at"]) if before is not None else None
    if pre and (screened_at is None or (_when(pre[-1]["observed_at"]) or screened_at) >= screened_at):
        before = reading(pre[-1], "vitals")
    at_40: dict[str, Any] | None = None
    before_end: dict[str, Any] | None = None
    if dosed_at is not None:
        post = [v for v in with_bp if (_when(v["observed_at"]) or dosed_at) > dosed_at]
        if post:
            nearest = min(post, key=lambda v: (abs((v["minutes_after_dose"] or 0) - target), v["seq"]))
            if abs((nearest["minutes_after_dose"] or 0) - target) <= window:
                at_40 = reading(nearest, "vitals")
            end = p.ended_at
            last = [v for v in post if end is None or (_when(v["observed_at"]) or end) <= end]
            if last:
                before_end = reading(last[-1], "vitals")
    return {
        "before_dosing": before,
        "about_40_min": at_40,
        "before_end": before_end,
        "target_minutes": target,
        "target_window_minutes": window,
    }


def _in_range_before_dosing(p: ParticipantState, bp: dict[str, Any], policy: Policy) -> dict[str, Any] | None:
    reading = bp.get("before_dosing")
    if reading is None:
        return None
    limit = policy.vitals.predose_clearance
    sbp, dbp = reading.get("sbp"), reading.get("dbp")
    above = (sbp is not None and sbp > limit.sbp) or (dbp is not None and dbp > limit.dbp)
    detail = f"BP {_fmt(sbp)}/{_fmt(dbp)} mmHg "
    detail += f"above {limit.sbp}/{limit.dbp}" if above else f"within {limit.sbp}/{limit.dbp}"
    if above and p.screening_cleared_by:
        detail += f"; cleared by prescriber {p.screening_cleared_by}"
    elif above:
        detail += "; not cleared by a prescriber"
    return {"in_range": not above, "detail": detail, "cleared_by": p.screening_cleared_by if above else None}


def _in_range_before_leaving(
    own: Sequence[Event], p: ParticipantState, vitals: list[dict[str, Any]], policy: Policy, now: datetime
) -> dict[str, Any] | None:
    if p.dosed_at is None:
        return None
    end = p.ended_at or now
    latest: dict[str, Any] = {}
    latest_at: dict[str, str] = {}
    for v in vitals:
        observed = _when(v["observed_at"])
        if observed is None or observed > end:
            continue
        for name in VITALS_FOR_DISCHARGE:
            if v.get(name) is not None:
                latest[name] = v[name]
                latest_at[name] = v["observed_at"]
    if not latest:
        return {"in_range": False, "detail": "no vitals recorded after the dose", "values": {}}
    missing = [n for n in VITALS_FOR_DISCHARGE if n not in latest]
    out = vitals_out_of_range({k: float(v) for k, v in latest.items()}, policy)
    checked = next(
        (
            item
            for e in own
            if isinstance(e.payload, ev.Discharged)
            for item in (e.payload.checklist or ())
            if item.key == "vitals_in_range"
        ),
        None,
    )
    if out:
        detail = "out of range: " + ", ".join(n.upper() for n in out)
    elif missing:
        detail = "not all taken: " + ", ".join(n.upper() for n in missing)
    else:
        detail = "last readings in range"
    detail = f"{_vitals_text(latest)}; {detail}"
    if checked is not None:
        detail += f" (checklist at discharge: {checked.detail})"
    in_range = not out and not missing and (checked is None or checked.done)
    return {"in_range": in_range, "detail": detail, "values": latest, "observed_at": latest_at}


def _scales(own: Sequence[Event]) -> list[dict[str, Any]]:
    out = []
    for e in own:
        if not isinstance(e.payload, ev.ObservationRecorded):
            continue
        d = e.payload
        out.append(
            {
                "seq": e.seq,
                "observed_at": _iso(d.observed_at),
                "recorded_at": _iso(e.at),
                "late": d.late,
                "by": e.actor,
                **{name: d.scales.get(name) for name in SCALE_NAMES},
                "signs": list(d.signs),
                "parts": list(d.parts),
                "note": d.note,
            }
        )
    out.sort(key=lambda s: (_when(s["observed_at"]), s["seq"]))
    return out


def _adverse_events(state: SessionState, p: ParticipantState) -> list[dict[str, Any]]:
    out = []
    for e in sorted(state.escalations.values(), key=lambda x: x.raised_at):
        if e.participant_id != p.id:
            continue
        out.append(
            {
                "id": e.id,
                "condition": e.condition,
                "priority": e.priority,
                "step": e.step,
                "reason": e.reason,
                "raised_at": _iso(e.raised_at),
                "acknowledged_at": _iso(e.acknowledged_at),
                "acknowledged_by": e.acknowledged_by,
                "status": "open" if e.open else "resolved",
                "resolved_at": _iso(e.resolved_at),
                "resolved_by": e.resolved_by,
                "action": e.action,
                "outcome": e.outcome,
                "history": [_escalation_step(step) for step in e.history],
            }
        )
    return out


def _escalation_step(event: Event) -> dict[str, Any]:
    """One step of an escalation's history: what happened, when and by whom, and its details."""
    details = {k: v for k, v in event.data.items() if k not in ("escalation_id", "deadline")}
    return {"kind": event.kind, "at": _iso(event.at), "by": event.actor, **details}


def _followups(state: SessionState, p: ParticipantState) -> list[dict[str, Any]]:
    return [
        {
            "id": f.id,
            "reason": f.reason,
            "owner": f.owner,
            "opened_at": _iso(f.opened_at),
            "due_at": _iso(f.due_at),
            "status": "open" if f.open else "closed",
            "closed_at": _iso(f.closed_at),
            "closed_by": f.closed_by,
            "contact_note": f.contact_note,
            "opened_by": f.opened_by,
            "account": f.account,
            "concerns_lead": f.concerns_lead,
            "closed_late": closed_late(f),
        }
        for f in sorted(state.followups.values(), key=lambda x: x.opened_at)
        if f.participant_id == p.id
    ]


def _pauses(own: Sequence[Event]) -> list[dict[str, Any]]:
    out = []
    for e in own:
        entry: dict[str, Any] = {"seq": e.seq, "at": _iso(e.at), "recorded_by": e.actor, "to": None}
        match e.payload:
            case ev.Paused() | ev.Stopped() as d:
                what = "pause" if isinstance(d, ev.Paused) else "stop"
                entry.update(what=what, requested_by=d.requested_by, participant_response=d.participant_response)
                entry.update({"reason": d.reason, "from": d.from_})
            case ev.PauseOrStopDeclined() as d:
                entry.update(what=f"{d.proposal} declined", requested_by=d.requested_by)
                entry.update(participant_response=d.participant_response, reason=d.reason)
                entry["from"] = d.from_
            case ev.Resumed() as d:
                entry.update(what="resume", requested_by="participant", participant_response=None, reason=d.reason)
                entry.update({"from": None, "to": d.to})
            case _:
                continue
        out.append(entry)
    return out


def _checkins(own: Sequence[Event]) -> list[dict[str, Any]]:
    out = []
    for e in own:
        entry = {"seq": e.seq, "at": _iso(e.at), "by": e.actor}
        match e.payload:
            case ev.ConsentCheckinAnswered() as answered:
                out.append({**entry, "answered": True, "ok": answered.ok, "note": answered.note})
            case ev.ConsentCheckinMissed() as missed:
                out.append({**entry, "answered": False, "ok": None, "note": f"due {_iso(missed.due_at)}, missed"})
    return out


def _transport(p: ParticipantState) -> dict[str, Any]:
    plan = p.consent.transport_plan if p.consent else None
    tick = p.checklist_ticks.get("transport_confirmed")
    return {
        "plan": plan,
        "confirmed": tick is not None,
        "confirmed_by": tick.by if tick else None,
        "confirmed_at": _iso(tick.at) if tick else None,
        "note": tick.note if tick else "",
    }


def _checklist(own: Sequence[Event], p: ParticipantState, policy: Policy, now: datetime) -> dict[str, Any] | None:
    if p.dosed_at is None:
        return None
    discharged = [e for e in own if isinstance(e.payload, ev.Discharged) and e.payload.checklist]
    if discharged:
        final = discharged[-1]
        assert isinstance(final.payload, ev.Discharged)
        results = list(final.payload.checklist or ())
        evaluated_at = final.at
        source = "as evaluated at discharge"
    else:
        evaluated_at = p.ended_at or now
        results = evaluate_checklist(p, policy, evaluated_at)
        source = "as evaluated at the end of monitoring" if p.ended_at else "as it stands at the export"
    items = [r.as_dict() for r in results]
    missing = missing_items(results)
    return {
        "evaluated_at": _iso(evaluated_at),
        "source": source,
        "items": _plain(items),
        "missing": missing,
        "complete": not missing,
    }


def _outcome(own: Sequence[Event], p: ParticipantState, checklist: Mapping[str, Any] | None) -> dict[str, Any]:
    """What happened, from the domain's rule (outcome_of), with the event that ended the stay."""
    status = outcome_of(p)
    final = [e for e in own if isinstance(e.payload, (ev.Discharged, ev.Transferred))]
    e = final[-1] if final and status.final else None
    ended = e.payload if e is not None else None
    assert ended is None or isinstance(ended, (ev.Discharged, ev.Transferred))
    out: dict[str, Any] = {
        "status": status.value,
        "text": status.label,
        "kind": e.kind if e is not None else None,
        "at": _iso(e.at) if e is not None else None,
        "by": e.actor if e is not None else None,
        "from_phase": ended.from_ if ended is not None else None,
        "checklist_complete": checklist["complete"] if checklist is not None else None,
    }
    if status is Outcome.DISCHARGED_AFTER_GROUNDING and checklist is not None:
        out["text"] += (
            ", grounding checklist complete"
            if checklist["complete"]
            else "; grounding checklist incomplete: " + ", ".join(_words(m) for m in checklist["missing"])
        )
    if isinstance(ended, ev.Transferred):
        out.update(reason=ended.reason, destination=ended.destination)
        out["text"] += f" ({ended.destination}): {ended.reason}"
    return out


def _notes(own: Sequence[Event], amendments: Mapping[int, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    out = []
    for e in own:
        match e.payload:
            case ev.NoteRecorded() as note:
                kind, text, somatic = note.kind, note.text, note.somatic
            case ev.ObservationRecorded() as observation if observation.note.strip():
                kind, text, somatic = "observation", observation.note, ", ".join(observation.signs)
            case _:
                continue
        entry = e.payload
        assert isinstance(entry, (ev.NoteRecorded, ev.ObservationRecorded))
        out.append(
            {
                "seq": e.seq,
                "kind": kind,
                "text": text,
                "parts": list(entry.parts),
                "somatic": somatic,
                "observed_at": _iso(entry.observed_at),
                "recorded_at": _iso(e.at),
                "late": entry.late,
                "by": e.actor,
                "amendments": amendments.get(e.seq, []),
            }
        )
    return out


def _out_of_range_text(flags: Mapping[str, str]) -> str:
    names = {"sbp": "systolic BP", "dbp": "diastolic BP", "hr": "HR", "spo2": "SpO2", "rr": "RR"}
    return "; out of range: " + ", ".join(f"{names.get(k, k)} ({v} alarm)" for k, v in flags.items())


def _timeline(
    events: Sequence[Event],
    amendments: Mapping[int, list[dict[str, Any]]],
    others: Mapping[str, str],
    policy: Policy,
) -> list[dict[str, Any]]:
    out = []
    for e in events:
        observed_at, late = ev.observed(e.payload)
        summary = summarize(e, others)
        flags: dict[str, str] = {}
        if isinstance(e.payload, ev.VitalsRecorded):
            flags = vitals_flags(e.payload.vitals, policy)
            if flags:
                summary += _out_of_range_text(flags)
        out.append(
            {
                "seq": e.seq,
                "at": _iso(e.at),
                "kind": e.kind,
                "actor": e.actor,
                "device": e.device,
                "summary": summary,
                "out_of_range": flags,
                "observed_at": _iso(observed_at),
                "late": late,
                "amends_seq": e.payload.event_seq if isinstance(e.payload, ev.Amended) else None,
                "amended_by_seq": [a["seq"] for a in amendments.get(e.seq, [])],
                "data": _references(e.data, others),
            }
        )
    return out
