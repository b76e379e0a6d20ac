"""The record's sections, each built from this participant's own events and state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from app.domain import Event, ParticipantState, Policy, SessionState, evaluate_checklist
from app.domain import events as ev
from app.domain.checklist import VITALS_FOR_DISCHARGE, missing_items, vitals_out_of_range
from app.domain.escalation import BP_CHECK_REPORT_WINDOW_MINUTES, vitals_flags
from app.domain.followups import closed_late
from app.domain.outcome import Outcome, outcome_of

from .formatting import fmt, iso, minutes_between, num, plain, vitals_text, when, words
from .selection import references
from .snapshot import SCALE_NAMES, VITAL_NAMES
from .summaries import person, summarize, support_label


def amendments(own: Sequence[Event]) -> dict[int, list[dict[str, Any]]]:
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
                "at": iso(e.at),
                "by": e.actor,
            }
        )
    return out


def support(own: Sequence[Event], p: ParticipantState, others: Mapping[str, str]) -> dict[str, Any]:
    current = [{"kind": s.kind, "name": support_label(s)} for s in p.support]
    history = []
    for e in own:
        entry = {"seq": e.seq, "at": iso(e.at), "by": e.actor}
        match e.payload:
            case ev.SupportAssigned() as assigned:
                history.append({**entry, "what": "assigned", "support": support_label(assigned.support)})
            case ev.SupportRemoved() as removed:
                history.append({**entry, "what": "removed", "support": person(removed.support_id, others)})
            case ev.SupportHandedOver() as handover:
                replacement = support_label(handover.replacement)
                history.append(
                    {**entry, "what": "emergency handover", "support": replacement, "reason": handover.reason}
                )
    return {"current": current, "history": history, "dedicated_facilitator": p.dedicated_facilitator}


def screening(own: Sequence[Event], p: ParticipantState, policy: Policy) -> dict[str, Any] | None:
    if p.screening is None:
        return None
    screening = p.screening
    cleared = [e.payload for e in own if isinstance(e.payload, ev.ScreeningCleared)]
    cleared_at = [e.at for e in own if isinstance(e.payload, ev.ScreeningCleared)]
    last_clear = cleared[-1] if cleared else None
    clearance = policy.vitals.predose_clearance
    return {
        "at": iso(p.screened_at),
        "bp": {"sbp": screening.bp.sbp, "dbp": screening.bp.dbp},
        "contraindications": dict(screening.contraindications),
        "concomitant_sedatives": list(screening.concomitant_sedatives),
        "notes": screening.notes,
        "flags": list(p.screening_flags),
        "cleared": p.screening_cleared,
        "needed_clearance": bool(p.screening_flags),
        "cleared_by": p.screening_cleared_by,
        "cleared_at": iso(cleared_at[-1]) if cleared_at else None,
        "clearance_note": last_clear.note if last_clear else None,
        "predose_clearance_threshold": f"{clearance.sbp}/{clearance.dbp}",
    }


def consent(own: Sequence[Event], p: ParticipantState) -> dict[str, Any] | None:
    recorded = [e.payload for e in own if isinstance(e.payload, ev.ConsentRecorded)]
    withdrawals = [
        {"seq": e.seq, "at": iso(e.at), "by": e.actor, "items": list(e.payload.items)}
        for e in own
        if isinstance(e.payload, ev.ConsentWithdrawn)
    ]
    if p.consent is None and not withdrawals:
        return None
    last = recorded[-1] if recorded else None
    as_it_stands = p.active_consent
    return {
        "signed_at": iso(p.consented_at),
        "attested_by": last.attested_by if last else None,
        "agreement": p.consent.to_data() if p.consent is not None else None,
        "as_it_stands": as_it_stands.to_data() if as_it_stands is not None else None,
        "withdrawn": sorted(p.consent_withdrawn),
        "withdrawals": withdrawals,
    }


def dose(p: ParticipantState) -> dict[str, Any] | None:
    if p.dose is None:
        return None
    return {
        "medication": "ketamine",
        "route": p.dose.route,
        "dose_mg": num(p.dose.dose_mg),
        "administered_at": iso(p.dosed_at),
        "prescriber": p.dose.prescriber,
    }


def vitals(own: Sequence[Event], p: ParticipantState, policy: Policy) -> list[dict[str, Any]]:
    out = []
    for e in own:
        if not isinstance(e.payload, ev.VitalsRecorded):
            continue
        observed = e.payload.observed_at
        values = {k: num(v) for k, v in e.payload.vitals.items()}
        out.append(
            {
                "seq": e.seq,
                "observed_at": iso(observed),
                "recorded_at": iso(e.at),
                "late": e.payload.late,
                "minutes_after_dose": minutes_between(p.dosed_at, observed),
                "by": e.actor,
                **{name: values.get(name) for name in VITAL_NAMES},
                # Each reading past the clinic's alarm thresholds, with the alarm's priority.
                "out_of_range": vitals_flags(values, policy),
            }
        )
    out.sort(key=lambda v: (when(v["observed_at"]), v["seq"]))
    return out


def bp_readings(p: ParticipantState, vitals: list[dict[str, Any]], policy: Policy) -> dict[str, Any]:
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
            "sbp": num(bp.sbp),
            "dbp": num(bp.dbp),
            "observed_at": iso(p.screened_at),
            "minutes_after_dose": minutes_between(dosed_at, p.screened_at),
            "source": "screening",
            "seq": None,
        }
    pre = [v for v in with_bp if dosed_at is None or (when(v["observed_at"]) or dosed_at) <= dosed_at]
    screened_at = when(before["observed_at"]) if before is not None else None
    if pre and (screened_at is None or (when(pre[-1]["observed_at"]) or screened_at) >= screened_at):
        before = reading(pre[-1], "vitals")
    at_40: dict[str, Any] | None = None
    before_end: dict[str, Any] | None = None
    if dosed_at is not None:
        post = [v for v in with_bp if (when(v["observed_at"]) or dosed_at) > dosed_at]
        if post:
            nearest = min(post, key=lambda v: (abs((v["minutes_after_dose"] or 0) - target), v["seq"]))
            if abs((nearest["minutes_after_dose"] or 0) - target) <= window:
                at_40 = reading(nearest, "vitals")
            end = p.ended_at
            last = [v for v in post if end is None or (when(v["observed_at"]) or end) <= end]
            if last:
                before_end = reading(last[-1], "vitals")
    return {
        "before_dosing": before,
        "about_40_min": at_40,
        "before_end": before_end,
        "target_minutes": target,
        "target_window_minutes": window,
    }


def in_range_before_dosing(p: ParticipantState, bp: dict[str, Any], policy: Policy) -> dict[str, Any] | None:
    reading = bp.get("before_dosing")
    if reading is None:
        return None
    limit = policy.vitals.predose_clearance
    sbp, dbp = reading.get("sbp"), reading.get("dbp")
    above = (sbp is not None and sbp > limit.sbp) or (dbp is not None and dbp > limit.dbp)
    detail = f"BP {fmt(sbp)}/{fmt(dbp)} mmHg "
    detail += f"above {limit.sbp}/{limit.dbp}" if above else f"within {limit.sbp}/{limit.dbp}"
    if above and p.screening_cleared_by:
        detail += f"; cleared by prescriber {p.screening_cleared_by}"
    elif above:
        detail += "; not cleared by a prescriber"
    return {"in_range": not above, "detail": detail, "cleared_by": p.screening_cleared_by if above else None}


def in_range_before_leaving(
    own: Sequence[Event], p: ParticipantState, vitals: list[dict[str, Any]], policy: Policy, now: datetime
) -> dict[str, Any] | None:
    if p.dosed_at is None:
        return None
    end = p.ended_at or now
    latest: dict[str, Any] = {}
    latest_at: dict[str, str] = {}
    for v in vitals:
        observed = when(v["observed_at"])
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
    detail = f"{vitals_text(latest)}; {detail}"
    if checked is not None:
        detail += f" (checklist at discharge: {checked.detail})"
    in_range = not out and not missing and (checked is None or checked.done)
    return {"in_range": in_range, "detail": detail, "values": latest, "observed_at": latest_at}


def scales(own: Sequence[Event]) -> list[dict[str, Any]]:
    out = []
    for e in own:
        if not isinstance(e.payload, ev.ObservationRecorded):
            continue
        d = e.payload
        out.append(
            {
                "seq": e.seq,
                "observed_at": iso(d.observed_at),
                "recorded_at": iso(e.at),
                "late": d.late,
                "by": e.actor,
                **{name: d.scales.get(name) for name in SCALE_NAMES},
                "signs": list(d.signs),
                "parts": list(d.parts),
                "note": d.note,
            }
        )
    out.sort(key=lambda s: (when(s["observed_at"]), s["seq"]))
    return out


def adverse_events(state: SessionState, p: ParticipantState) -> list[dict[str, Any]]:
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
                "raised_at": iso(e.raised_at),
                "acknowledged_at": iso(e.acknowledged_at),
                "acknowledged_by": e.acknowledged_by,
                "status": "open" if e.open else "resolved",
                "resolved_at": iso(e.resolved_at),
                "resolved_by": e.resolved_by,
                "action": e.action,
                "outcome": e.outcome,
                "history": [escalation_step(step) for step in e.history],
            }
        )
    return out


def escalation_step(event: Event) -> dict[str, Any]:
    """One step of an escalation's history: what happened, when and by whom, and its details."""
    details = {k: v for k, v in event.data.items() if k not in ("escalation_id", "deadline")}
    return {"kind": event.kind, "at": iso(event.at), "by": event.actor, **details}


def followups(state: SessionState, p: ParticipantState) -> list[dict[str, Any]]:
    return [
        {
            "id": f.id,
            "reason": f.reason,
            "owner": f.owner,
            "opened_at": iso(f.opened_at),
            "due_at": iso(f.due_at),
            "status": "open" if f.open else "closed",
            "closed_at": iso(f.closed_at),
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


def pauses(own: Sequence[Event]) -> list[dict[str, Any]]:
    out = []
    for e in own:
        entry: dict[str, Any] = {"seq": e.seq, "at": iso(e.at), "recorded_by": e.actor, "to": None}
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


def checkins(own: Sequence[Event]) -> list[dict[str, Any]]:
    out = []
    for e in own:
        entry = {"seq": e.seq, "at": iso(e.at), "by": e.actor}
        match e.payload:
            case ev.ConsentCheckinAnswered() as answered:
                out.append({**entry, "answered": True, "ok": answered.ok, "note": answered.note})
            case ev.ConsentCheckinMissed() as missed:
                out.append({**entry, "answered": False, "ok": None, "note": f"due {iso(missed.due_at)}, missed"})
    return out


def transport(p: ParticipantState) -> dict[str, Any]:
    plan = p.consent.transport_plan if p.consent else None
    tick = p.checklist_ticks.get("transport_confirmed")
    return {
        "plan": plan,
        "confirmed": tick is not None,
        "confirmed_by": tick.by if tick else None,
        "confirmed_at": iso(tick.at) if tick else None,
        "note": tick.note if tick else "",
    }


def checklist(own: Sequence[Event], p: ParticipantState, policy: Policy, now: datetime) -> dict[str, Any] | None:
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
        "evaluated_at": iso(evaluated_at),
        "source": source,
        "items": plain(items),
        "missing": missing,
        "complete": not missing,
    }


def outcome(own: Sequence[Event], p: ParticipantState, checklist: Mapping[str, Any] | None) -> dict[str, Any]:
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
        "at": iso(e.at) if e is not None else None,
        "by": e.actor if e is not None else None,
        "from_phase": ended.from_ if ended is not None else None,
        "checklist_complete": checklist["complete"] if checklist is not None else None,
    }
    if status is Outcome.DISCHARGED_AFTER_GROUNDING and checklist is not None:
        out["text"] += (
            ", grounding checklist complete"
            if checklist["complete"]
            else "; grounding checklist incomplete: " + ", ".join(words(m) for m in checklist["missing"])
        )
    if isinstance(ended, ev.Transferred):
        out.update(reason=ended.reason, destination=ended.destination)
        out["text"] += f" ({ended.destination}): {ended.reason}"
    return out


def notes(own: Sequence[Event], amendments: Mapping[int, list[dict[str, Any]]]) -> list[dict[str, Any]]:
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
                "observed_at": iso(entry.observed_at),
                "recorded_at": iso(e.at),
                "late": entry.late,
                "by": e.actor,
                "amendments": amendments.get(e.seq, []),
            }
        )
    return out


def _out_of_range_text(flags: Mapping[str, str]) -> str:
    names = {"sbp": "systolic BP", "dbp": "diastolic BP", "hr": "HR", "spo2": "SpO2", "rr": "RR"}
    return "; out of range: " + ", ".join(f"{names.get(k, k)} ({v} alarm)" for k, v in flags.items())


def timeline(
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
                "at": iso(e.at),
                "kind": e.kind,
                "actor": e.actor,
                "device": e.device,
                "summary": summary,
                "out_of_range": flags,
                "observed_at": iso(observed_at),
                "late": late,
                "amends_seq": e.payload.event_seq if isinstance(e.payload, ev.Amended) else None,
                "amended_by_seq": [a["seq"] for a in amendments.get(e.seq, [])],
                "data": references(e.data, others),
            }
        )
    return out
