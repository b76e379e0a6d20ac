"""The session review as a printable PDF (reportlab), with the timeline drawn: for the debrief file.

Renders the figures of `app/domain/review.py` only; nothing here computes a figure of its own.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from app import localtime
from app.domain.followups import FOLLOWUP_STATES, owner_words
from app.domain.review import SessionReview, minutes

from .pdf.layout import INK, MUTED, RULE, SHADE
from .pdf.layout import styles as note_styles
from .record import DISCLAIMER

DISTRESS_COLOURS = {
    "0": colors.HexColor("#cfe8d5"),
    "1": colors.HexColor("#a8d5b5"),
    "2": colors.HexColor("#f2c94c"),
    "3": colors.HexColor("#f2994a"),
    "4": colors.HexColor("#eb5757"),
}
PRIORITY_COLOURS = {"low": colors.HexColor("#5b8def"), "medium": colors.HexColor("#d98a00"), "high": INK}


def _hm(value: datetime | None) -> str:
    shown = localtime.local(value)
    return "" if shown is None else shown.strftime("%H:%M:%S")


def _day(value: datetime | None) -> str:
    shown = localtime.local(value)
    return "" if shown is None else shown.strftime("%a %d %b %H:%M")


def _secs(value: float | None) -> str:
    if value is None:
        return "—"
    whole = int(round(value))
    return f"{whole // 60} min {whole % 60:02d} s" if whole >= 60 else f"{whole} s"


def _mins(value: float) -> str:
    return f"{minutes(value)} min"


def timeline_drawing(found: SessionReview, width: float) -> Drawing:
    lane, left = 16.0, 70.0
    height = 24 + lane * max(1, len(found.participants))
    drawing = Drawing(width, height)
    start = found.opened_at or found.until
    span = max((found.until - start).total_seconds(), 60.0)
    regular, _bold = note_styles()["body"].fontName, None

    def x(moment: datetime) -> float:
        return left + (width - left - 4) * max(0.0, min(1.0, (moment - start).total_seconds() / span))

    lanes = {p.id: i for i, p in enumerate(found.participants)}
    for i, p in enumerate(found.participants):
        y = height - 14 - (i + 1) * lane
        drawing.add(String(0, y + 4, p.display_name[:14], fontName=regular, fontSize=7, fillColor=INK))
        drawing.add(Rect(left, y, width - left - 4, lane - 4, fillColor=SHADE, strokeColor=None))
        for s in p.distress:
            drawing.add(
                Rect(
                    x(s.start),
                    y,
                    max(x(s.end) - x(s.start), 0.5),
                    lane - 4,
                    fillColor=DISTRESS_COLOURS.get(s.value, SHADE),
                    strokeColor=None,
                )
            )
    for a in found.alarms:
        i = lanes.get(a.participant_id, 0)
        y = height - 14 - (i + 1) * lane + (lane - 4) / 2
        colour = PRIORITY_COLOURS.get(a.priority, INK)
        drawing.add(Line(x(a.raised_at), y, x(a.resolved_at or found.until), y, strokeColor=colour, strokeWidth=2))
        if a.acknowledged_at:
            xa = x(a.acknowledged_at)
            drawing.add(Line(xa, y - 5, xa, y + 5, strokeColor=colour, strokeWidth=1.5))
    for fraction in (0.0, 0.5, 1.0):
        moment = datetime.fromtimestamp(start.timestamp() + span * fraction, tz=start.tzinfo)
        drawing.add(String(x(moment) - 10, 2, _hm(moment)[:5], fontName=regular, fontSize=7, fillColor=MUTED))
    return drawing


def review_pdf(found: SessionReview, room_name: str) -> bytes:
    styles = note_styles()
    buffer = io.BytesIO()
    page = landscape(A4)
    doc = SimpleDocTemplate(
        buffer,
        pagesize=page,
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=14 * mm,
        title=f"Session review {found.session_id}",
    )
    width = page[0] - 24 * mm
    story: list[Any] = []

    def para(text: str, style: str = "cell") -> Paragraph:
        return Paragraph(escape(text), styles[style])

    def table(head: list[str], rows: list[list[str]], empty: str) -> None:
        if not rows:
            story.append(para(empty, "body"))
            return
        data = [[para(h, "head") for h in head]] + [[para(cell) for cell in row] for row in rows]
        t = Table(data, repeatRows=1, colWidths=[width / len(head)] * len(head))
        t.setStyle(
            TableStyle(
                [
                    ("LINEBELOW", (0, 0), (-1, 0), 0.6, RULE),
                    ("LINEBELOW", (0, 1), (-1, -1), 0.3, RULE),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        story.append(t)

    story.append(para(f"Session review · {room_name}", "title"))
    story.append(
        para(
            f"{found.kind.replace('_', ' ')} session led by {found.lead}; opened {_hm(found.opened_at)}, "
            f"{'closed ' + _hm(found.closed_at) if found.closed_at else 'still open at ' + _hm(found.until)}. "
            f"Times are {localtime.zone_label(at=found.until)}. Every figure is derived from the session's log "
            f"(up to event {found.seq}).",
            "subtitle",
        )
    )
    story.append(Spacer(1, 4 * mm))
    story.append(timeline_drawing(found, width))
    story.append(
        para(
            "Lanes: distress level by participant (green settled … red emergency); lines: alarms from "
            "raised to resolved, a tick where acknowledged.",
            "small",
        )
    )

    story.append(para("Alarms", "h2"))
    table(
        ["Alarm", "Raised", "Steps", "Seen", "Acknowledged", "Resolved", "Action / outcome", "To seen / ack / resolve"],
        [
            [
                f"{a.priority} (raised {a.raised_priority}): {a.reason}",
                f"{_hm(a.raised_at)} by {a.raised_by}",
                ", ".join(f"{s.kind} {_hm(s.at)} step {s.step}" for s in a.steps),
                ", ".join(f"{s.username} {_hm(s.at)}{' on ' + s.device if s.device else ''}" for s in a.seen)
                or "nobody",
                f"{_hm(a.acknowledged_at)} by {a.acknowledged_by}" if a.acknowledged_at else "not acknowledged",
                f"{_hm(a.resolved_at)} by {a.resolved_by}" if a.resolved_at else "open",
                f"{a.action} / {a.outcome}" if a.action else "",
                f"{_secs(a.seconds_to_first_seen)} / {_secs(a.seconds_to_acknowledge)} / {_secs(a.seconds_to_resolve)}",
            ]
            for a in found.alarms
        ],
        "No alarms were raised.",
    )
    story.append(para("Participants", "h2"))
    table(
        [
            "Participant",
            "Outcome phase",
            "At distress 2+ without an acknowledged response",
            "Without an available support person",
        ],
        [
            [p.display_name, p.phase, _mins(p.unattended_distress_seconds), _mins(p.without_support_seconds)]
            for p in found.participants
        ],
        "No participants.",
    )
    story.append(para("Room", "h2"))
    story.append(
        para(
            "Uncovered (nobody checked in while someone was in an altered phase): "
            f"{_mins(found.room.uncovered_seconds)}. "
            f"Under the facilitator ratio: {_mins(found.room.under_ratio_seconds)}.",
            "body",
        )
    )
    names = {p.id: p.display_name for p in found.participants}
    story.append(para("Refused attempts", "h2"))
    table(
        ["When", "Who tried", "What", "Rule", "Words"],
        [
            [_hm(r.at), r.actor + (f" on {r.device}" if r.device else ""), r.command, r.code, r.message]
            for r in found.refusals
        ],
        "No attempt was refused.",
    )
    story.append(para("Consent check-ins missed", "h2"))
    table(
        ["Participant", "Due", "Recorded as missed"],
        [[names.get(m.participant_id, ""), _hm(m.due_at), _hm(m.recorded_at)] for m in found.missed_checkins],
        "No check-in was missed.",
    )
    story.append(para("Follow-ups", "h2"))
    table(
        ["Participant", "Reason", "Owner", "Due", "State", "Closed"],
        [
            [
                names.get(f.followup.participant_id, ""),
                f.followup.reason + (f" — in their words: {f.followup.account}" if f.followup.account else ""),
                owner_words(f.followup.owner),
                _day(f.followup.due_at),
                FOLLOWUP_STATES[f.state],
                f"{_day(f.followup.closed_at)} by {f.followup.closed_by}: {f.followup.contact_note}"
                if f.followup.closed_at
                else "",
            ]
            for f in found.followups
        ],
        "No follow-ups.",
    )
    story.append(Spacer(1, 4 * mm))
    story.append(para(DISCLAIMER, "small"))
    doc.build(story)
    return buffer.getvalue()
