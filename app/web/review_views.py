"""The session review, the replay state and the response report as JSON, CSV and a drawn timeline.

Only shapes the domain's figures: every number here comes from `app/domain/review.py` and
`app/domain/report.py`. Durations are given in seconds (exact) and minutes (to a tenth).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from app import localtime
from app.domain.followups import FOLLOWUP_STATES
from app.domain.report import MEASURES, PRIORITIES, ResponseFigures, ResponseReport
from app.domain.review import AlarmReview, FollowupReview, SessionReview, minutes


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def alarm_view(alarm: AlarmReview) -> dict[str, Any]:
    return {
        "id": alarm.id,
        "participant_id": alarm.participant_id,
        "participant_name": alarm.participant_name,
        "condition": alarm.condition,
        "reason": alarm.reason,
        "raised_priority": alarm.raised_priority,
        "priority": alarm.priority,
        "raised_at": _iso(alarm.raised_at),
        "raised_by": alarm.raised_by,
        "highest_step": alarm.highest_step,
        "steps": [
            {"kind": s.kind, "at": _iso(s.at), "by": s.by, "priority": s.priority, "step": s.step} for s in alarm.steps
        ],
        "seen": [{"username": s.username, "at": _iso(s.at), "device": s.device} for s in alarm.seen],
        "first_seen_at": _iso(alarm.first_seen_at),
        "acknowledged_at": _iso(alarm.acknowledged_at),
        "acknowledged_by": alarm.acknowledged_by,
        "resolved_at": _iso(alarm.resolved_at),
        "resolved_by": alarm.resolved_by,
        "action": alarm.action,
        "outcome": alarm.outcome,
        "seconds_to_first_seen": alarm.seconds_to_first_seen,
        "seconds_to_acknowledge": alarm.seconds_to_acknowledge,
        "seconds_to_resolve": alarm.seconds_to_resolve,
    }


def followup_review_view(item: FollowupReview) -> dict[str, Any]:
    f = item.followup
    return {
        "id": f.id,
        "participant_id": f.participant_id,
        "reason": f.reason,
        "account": f.account,
        "concerns_lead": f.concerns_lead,
        "owner": f.owner,
        "opened_at": _iso(f.opened_at),
        "opened_by": f.opened_by,
        "due_at": _iso(f.due_at),
        "climbs_at": _iso(item.climbs_at),
        "state": item.state,
        "state_text": FOLLOWUP_STATES[item.state],
        "closed_at": _iso(f.closed_at),
        "closed_by": f.closed_by,
        "contact_note": f.contact_note,
    }


def review_view(found: SessionReview, room_name: str = "") -> dict[str, Any]:
    names = {p.id: p.display_name for p in found.participants}
    return {
        "session": {
            "id": found.session_id,
            "room_id": found.room_id,
            "room_name": room_name,
            "kind": found.kind,
            "lead": found.lead,
            "facilitators": list(found.facilitators),
            "opened_at": _iso(found.opened_at),
            "closed_at": _iso(found.closed_at),
            "until": _iso(found.until),
            "seq": found.seq,
        },
        "alarms": [alarm_view(a) for a in found.alarms],
        "participants": [
            {
                "id": p.id,
                "display_name": p.display_name,
                "phase": p.phase,
                "unattended_distress_seconds": p.unattended_distress_seconds,
                "unattended_distress_minutes": minutes(p.unattended_distress_seconds),
                "without_support_seconds": p.without_support_seconds,
                "without_support_minutes": minutes(p.without_support_seconds),
            }
            for p in found.participants
        ],
        "room": {
            "room_id": found.room.room_id,
            "uncovered_seconds": found.room.uncovered_seconds,
            "uncovered_minutes": minutes(found.room.uncovered_seconds),
            "under_ratio_seconds": found.room.under_ratio_seconds,
            "under_ratio_minutes": minutes(found.room.under_ratio_seconds),
        },
        "refusals": [
            {
                "seq": r.seq,
                "at": _iso(r.at),
                "actor": r.actor,
                "device": r.device,
                "command": r.command,
                "code": r.code,
                "message": r.message,
                "participant_id": r.participant_id,
                "participant_name": names.get(r.participant_id or "", None),
            }
            for r in found.refusals
        ],
        "missed_checkins": [
            {
                "participant_id": m.participant_id,
                "participant_name": names.get(m.participant_id, ""),
                "due_at": _iso(m.due_at),
                "recorded_at": _iso(m.recorded_at),
            }
            for m in found.missed_checkins
        ],
        "followups": [followup_review_view(f) for f in found.followups],
        "totals": {
            "alarms": len(found.alarms),
            "unattended_distress_minutes": minutes(found.unattended_distress_seconds),
            "dyad_lock_refusals": found.dyad_lock_refusals,
            "refusals": len(found.refusals),
            "missed_checkins": len(found.missed_checkins),
            "followups_open": sum(1 for f in found.followups if f.state != "closed"),
        },
    }


# ---------------------------------------------------------------- the timeline chart (inline SVG)

DISTRESS_FILL = {"0": "#2e4a3a", "1": "#3b5b46", "2": "#a07a1c", "3": "#c2571b", "4": "#b42318"}
PRIORITY_STROKE = {"low": "#8aa4c0", "medium": "#e0a030", "high": "#e5484d"}
LANE, LEFT, WIDTH = 34, 150, 900


def timeline_svg(found: SessionReview) -> str:
    """The shape of the session at a glance: one lane per participant, coloured by distress level,
    with each alarm marked from raised to resolved (a dot where it was first seen, a bar where it
    was acknowledged)."""
    start = found.opened_at or found.until
    span = max((found.until - start).total_seconds(), 60.0)

    def x(moment: datetime) -> float:
        return LEFT + (WIDTH - LEFT - 10) * max(0.0, min(1.0, (moment - start).total_seconds() / span))

    height = 40 + LANE * max(1, len(found.participants))
    parts = [
        f'<svg class="timeline" role="img" viewBox="0 0 {WIDTH} {height}" width="100%" '
        'xmlns="http://www.w3.org/2000/svg" aria-label="Session timeline: distress by participant, and alarms">'
    ]
    lane_of = {p.id: i for i, p in enumerate(found.participants)}
    for i, p in enumerate(found.participants):
        y = 10 + i * LANE
        parts.append(f'<text x="4" y="{y + 18}" fill="#c9d1da" font-size="13">{escape(p.display_name[:20])}</text>')
        parts.append(f'<rect x="{LEFT}" y="{y}" width="{WIDTH - LEFT - 10}" height="24" fill="#1b2631"/>')
        for s in p.distress:
            x0, x1 = x(s.start), x(s.end)
            parts.append(
                f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="24" '
                f'fill="{DISTRESS_FILL.get(s.value, "#555")}"><title>distress {escape(s.value)}</title></rect>'
            )
    for a in found.alarms:
        lane = lane_of.get(a.participant_id, 0)
        y = 10 + lane * LANE + 12
        end = a.resolved_at or found.until
        stroke = PRIORITY_STROKE.get(a.priority, "#ccc")
        parts.append(
            f'<line x1="{x(a.raised_at):.1f}" y1="{y}" x2="{x(end):.1f}" y2="{y}" stroke="{stroke}" '
            f'stroke-width="4"><title>{escape(a.priority)}: {escape(a.reason)}</title></line>'
        )
        if a.first_seen_at:
            parts.append(
                f'<circle cx="{x(a.first_seen_at):.1f}" cy="{y}" r="4" fill="#ffffff">'
                "<title>first seen</title></circle>"
            )
        if a.acknowledged_at:
            xa = x(a.acknowledged_at)
            parts.append(
                f'<line x1="{xa:.1f}" y1="{y - 9}" x2="{xa:.1f}" y2="{y + 9}" stroke="#ffffff" stroke-width="2"/>'
            )
    axis_y = height - 14
    shape = "%H:%M" if span >= 600 else "%H:%M:%S"
    for fraction, anchor in ((0.0, "start"), (0.25, "middle"), (0.5, "middle"), (0.75, "middle"), (1.0, "end")):
        moment = datetime.fromtimestamp(start.timestamp() + span * fraction, tz=start.tzinfo)
        label = localtime.local(moment)
        text = label.strftime(shape) if label else ""
        parts.append(
            f'<text x="{x(moment):.1f}" y="{axis_y + 10}" fill="#8b98a5" font-size="11" '
            f'text-anchor="{anchor}">{text}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------- the response report


def _figures_view(row: ResponseFigures, names: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "group": row.group,
        "key": row.key,
        "name": names.get(row.key, row.key) if row.group == "room" else row.key,
        "sessions": row.sessions,
        "alarms": {p: row.alarms.get(p, 0) for p in PRIORITIES},
        "unattended_distress_minutes": minutes(row.unattended_distress_seconds),
        "dyad_lock_refusals": row.dyad_lock_refusals,
        "followups_opened": row.followups_opened,
        "followups_closed": row.followups_closed,
        "followups_overdue": row.followups_overdue,
    }
    for measure in MEASURES:
        out[f"seconds_to_{measure}"] = {"median": row.median(measure), "p90": row.p90(measure)}
    return out


def report_view(report: ResponseReport, room_names: dict[str, str]) -> dict[str, Any]:
    return {
        "from": _iso(report.start),
        "to": _iso(report.end),
        "sessions": report.sessions,
        "by_lead": [_figures_view(r, room_names) for r in report.by_lead],
        "by_room": [_figures_view(r, room_names) for r in report.by_room],
        "percentile": "nearest rank",
    }


CSV_COLUMNS = (
    ["group", "key", "name", "sessions"]
    + [f"alarms_{p}" for p in PRIORITIES]
    + [f"seconds_to_{m}_{s}" for m in MEASURES for s in ("median", "p90")]
    + ["unattended_distress_minutes", "dyad_lock_refusals", "followups_opened", "followups_closed", "followups_overdue"]
)


def report_csv(report: ResponseReport, room_names: dict[str, str]) -> str:
    out = io.StringIO()
    out.write(f"# response report from={_iso(report.start)} to={_iso(report.end)} sessions={report.sessions}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in (*report.by_lead, *report.by_room):
        view = _figures_view(row, room_names)
        cells: list[Any] = [view["group"], view["key"], view["name"], view["sessions"]]
        cells += [view["alarms"][p] for p in PRIORITIES]
        for measure in MEASURES:
            pair = view[f"seconds_to_{measure}"]
            cells += ["" if pair["median"] is None else pair["median"], "" if pair["p90"] is None else pair["p90"]]
        cells += [
            view["unattended_distress_minutes"],
            view["dyad_lock_refusals"],
            view["followups_opened"],
            view["followups_closed"],
            view["followups_overdue"],
        ]
        writer.writerow(cells)
    return out.getvalue()


def bars_svg(rows: list[dict[str, Any]], label: str) -> str:
    """A small bar chart of median seconds to acknowledge per row (a simple chart for the report)."""
    values = [(r["name"], r["seconds_to_acknowledge"]["median"]) for r in rows]
    top = max([v for _, v in values if v is not None] or [1.0])
    height = 24 * max(1, len(values)) + 10
    parts = [
        f'<svg class="bars" role="img" viewBox="0 0 600 {height}" width="600" height="{height}" '
        'xmlns="http://www.w3.org/2000/svg" '
        f"aria-label={quoteattr(label)}>"
    ]
    for i, (name, value) in enumerate(values):
        y = 5 + i * 24
        parts.append(f'<text x="0" y="{y + 15}" fill="#c9d1da" font-size="12">{escape(str(name)[:24])}</text>')
        if value is not None:
            width = 380 * value / top if top else 0
            parts.append(f'<rect x="180" y="{y + 2}" width="{max(width, 1):.1f}" height="16" fill="#5b8def"/>')
            parts.append(f'<text x="{186 + width:.1f}" y="{y + 15}" fill="#c9d1da" font-size="12">{value:.0f} s</text>')
        else:
            parts.append(f'<text x="180" y="{y + 15}" fill="#8b98a5" font-size="12">no acknowledged alarm</text>')
    parts.append("</svg>")
    return "".join(parts)
