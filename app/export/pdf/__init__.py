"""The chart record as a printable clinical note (reportlab), with a drawn vitals chart.

Every page carries the participant's chart id, the page number, the hash of the session's last
event and the reminder that Holdspace supports clinical judgement and does not replace it.
"""

from __future__ import annotations

import io
from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import SimpleDocTemplate, Spacer

from app import localtime

from ..record import DISCLAIMER, ChartRecord
from . import course, sections
from .chart import vitals_chart
from .layout import INK, MUTED, RULE, Doc, day, fonts, hm, hms


def pdf_export(record: ChartRecord) -> bytes:
    data = record.data
    buffer = io.BytesIO()
    participant, session = data["participant"], data["session"]
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=16 * mm,
        rightMargin=16 * mm,
        topMargin=15 * mm,
        bottomMargin=20 * mm,
        title=f"Chart record {participant['chart_id']}",
        author="Holdspace",
        subject=f"Session {session['id']}",
        creator="Holdspace",
    )
    d = Doc(doc.width)
    e = d.e
    regular, bold = fonts()

    d.items.append(d.p("Chart record: ketamine-assisted session", "title"))
    d.items.append(
        d.p(
            f"<b>{e(participant['display_name'])}</b> &nbsp; chart <b>{e(participant['chart_id'])}</b> &nbsp; "
            f"{e(session['kind'].replace('_', ' '))} session in {e(session['room'])} on {e(day(session['opened_at']))}",
            "subtitle",
        )
    )
    zone = localtime.zone_label(at=localtime.parse(data["generated_at"]))
    d.items.append(
        d.p(
            f"Exported {e(day(data['generated_at']))}"
            + (f" by {e(data['generated_by'])}" if data.get("generated_by") else "")
            + f". Times are {e(zone)}.",
            "small",
        )
    )
    if not data["chain"]["intact"]:
        d.items.append(Spacer(0, 3))
        d.items.append(
            d.p(
                f"WARNING: the session's event log is broken at event {e(data['chain']['broken_at_seq'])} "
                f"({e(data['chain']['problem'])}). This record may not be what was recorded.",
                "alert",
            )
        )
    d.items.append(Spacer(0, 4))

    sections.summary(d, data)
    sections.identity(d, data)
    sections.screening(d, data)
    sections.consent(d, data)
    sections.dose(d, data)
    sections.blood_pressure(d, data)
    chart = vitals_chart(record, d.width)
    d.section("Vitals over time", chart, sections.vitals_table(d, data), sections.vitals_legend(d, data))
    sections.scales(d, data)
    course.adverse(d, data)
    course.pauses(d, data)
    course.checklist(d, data)
    course.outcome(d, data)
    course.notes(d, data)
    course.refusals(d, data)
    d.section(
        "Timeline",
        d.grid(
            ["#", "time", "what", "by", "entry"],
            (
                [
                    str(row["seq"]),
                    hms(row["at"]),
                    row["kind"].replace("_", " "),
                    row["actor"],
                    row["summary"]
                    + (f" (observed {hm(row['observed_at'])})" if row.get("late") and row.get("observed_at") else "")
                    + (
                        f" [amended by #{', #'.join(map(str, row['amended_by_seq']))}]" if row["amended_by_seq"] else ""
                    ),
                ]
                for row in data["timeline"]
            ),
            [5, 9, 20, 9, 57],
        ),
    )
    d.section(
        "Record integrity",
        d.fields(
            [
                ("Last event", f"#{data['last_event_seq']} of session {session['id']}"),
                ("Last event hash (SHA-256)", data["last_event_hash"]),
                (
                    "Hash chain",
                    "intact: every event follows the one before it"
                    if data["chain"]["intact"]
                    else f"BROKEN at event {data['chain']['broken_at_seq']}: {data['chain']['problem']}",
                ),
            ]
        ),
        d.p(
            "Nothing on the record is edited or deleted: corrections are amendments that point at what they correct. "
            "Run <font face='" + regular + "'>holdspace verify</font> to check every session's log.",
            "small",
        ),
    )

    footer_hash = data["last_event_hash"]
    chart_id = participant["chart_id"]

    def decorate(canvas: Any, document: Any) -> None:
        canvas.saveState()
        width, _height = A4
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        canvas.line(16 * mm, 15 * mm, width - 16 * mm, 15 * mm)
        canvas.setFillColor(INK)
        canvas.setFont(bold, 7.2)
        canvas.drawString(16 * mm, 11 * mm, DISCLAIMER)
        canvas.setFont(regular, 7)
        canvas.drawRightString(width - 16 * mm, 11 * mm, f"Chart {chart_id} · page {document.page}")
        canvas.setFillColor(MUTED)
        canvas.setFont(regular, 6.4)
        canvas.drawString(16 * mm, 7.5 * mm, f"Last event #{data['last_event_seq']} hash {footer_hash}")
        canvas.restoreState()

    doc.build(d.items, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()
