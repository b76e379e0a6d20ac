"""The chart record as a printable clinical note (reportlab), with a drawn vitals chart.

Every page carries the participant's chart id, the page number, the hash of the session's last
event and the reminder that Holdspace supports clinical judgement and does not replace it.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, Line, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    CondPageBreak,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from app import localtime
from app.domain.followups import owner_words

from .record import DISCLAIMER, ChartRecord

INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#5f6b7a")
RULE = colors.HexColor("#c9d1da")
SHADE = colors.HexColor("#eef2f6")
ALERT = colors.HexColor("#b42318")
SERIES = {
    "sbp": ("Systolic BP (mmHg)", colors.HexColor("#c0392b")),
    "dbp": ("Diastolic BP (mmHg)", colors.HexColor("#e59866")),
    "hr": ("Heart rate (/min)", colors.HexColor("#2471a3")),
    "spo2": ("SpO2 (%)", colors.HexColor("#1e8449")),
}

_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts"),
)
_FONTS: tuple[str, str] | None = None


def _fonts() -> tuple[str, str]:
    """DejaVu Sans when the system has it (wide coverage of names in any script), else the Vera
    fonts reportlab ships, else Helvetica."""
    global _FONTS
    if _FONTS is not None:
        return _FONTS
    candidates: list[tuple[Path, Path]] = [(d / "DejaVuSans.ttf", d / "DejaVuSans-Bold.ttf") for d in _FONT_DIRS]
    import reportlab

    bundled = Path(reportlab.__file__).parent / "fonts"
    candidates.append((bundled / "Vera.ttf", bundled / "VeraBd.ttf"))
    for regular, bold in candidates:
        if regular.is_file() and bold.is_file():
            # Named after the file, so a fallback never takes over the name of a font registered before.
            family = f"HS-{regular.stem}"
            names = (f"{family}-Regular", f"{family}-Bold")
            try:
                pdfmetrics.registerFont(TTFont(names[0], str(regular)))
                pdfmetrics.registerFont(TTFont(names[1], str(bold)))
            except Exception:  # pragma: no cover - an unreadable font file: try the next
                continue
            pdfmetrics.registerFontFamily(family, normal=names[0], bold=names[1], italic=names[0], boldItalic=names[1])
            _FONTS = names
            return _FONTS
    _FONTS = ("Helvetica", "Helvetica-Bold")  # pragma: no cover
    return _FONTS


def _styles() -> dict[str, ParagraphStyle]:
    regular, bold = _fonts()
    base = ParagraphStyle("body", fontName=regular, fontSize=8.6, leading=11, textColor=INK, alignment=TA_LEFT)
    return {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.4, leading=9.2, textColor=MUTED),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.8, leading=9.6),
        "cellb": ParagraphStyle("cellb", parent=base, fontName=bold, fontSize=7.8, leading=9.6),
        "head": ParagraphStyle("head", parent=base, fontName=bold, fontSize=7.6, leading=9.4, textColor=MUTED),
        "title": ParagraphStyle("title", parent=base, fontName=bold, fontSize=16, leading=20),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=9.5, leading=13, textColor=MUTED),
        "h2": ParagraphStyle(
            "h2", parent=base, fontName=bold, fontSize=10.5, leading=13, spaceBefore=9, spaceAfter=4, textColor=INK
        ),
        "alert": ParagraphStyle("alert", parent=base, fontName=bold, textColor=ALERT),
    }


# ---------------------------------------------------------------- formatting


def _t(value: Any) -> datetime | None:
    """A stored moment in the clinic's time zone (HOLDSPACE_TIMEZONE)."""
    if not value:
        return None
    return localtime.local(value)


def hm(value: Any) -> str:
    moment = _t(value)
    return moment.strftime("%H:%M") if moment else "-"


def hms(value: Any) -> str:
    moment = _t(value)
    return moment.strftime("%H:%M:%S") if moment else "-"


def day(value: Any) -> str:
    moment = _t(value)
    return moment.strftime("%d %b %Y %H:%M") if moment else "-"


def _n(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _signed(value: Any) -> str:
    return "-" if value is None else f"{int(value):+d}" if int(value) else "0"


def _mins(value: Any) -> str:
    if value is None:
        return ""
    value = float(value)
    sign = "-" if value < 0 else "+"
    return f"{sign}{abs(value):.0f} min"


def _relative(value: Any) -> str:
    """Minutes from the dose in words: "5 min before", "40 min after"."""
    if value is None:
        return ""
    value = float(value)
    if abs(value) < 0.5:
        return "at the dose"
    return f"{abs(value):.0f} min {'before' if value < 0 else 'after'}"


def _yes(value: Any) -> str:
    return "yes" if value else "no"


class Markup(str):
    """Text that is already reportlab paragraph markup (escaped where it holds record text)."""


class _Doc:
    """Collects the flowables of the note."""

    def __init__(self, width: float) -> None:
        self.width = width
        self.s = _styles()
        self.items: list[Any] = []

    def p(self, text: str, style: str = "body") -> Paragraph:
        return Paragraph(text, self.s[style])

    def e(self, value: Any) -> str:
        return escape("" if value is None else str(value))

    def section(self, title: str, *flowables: Any) -> None:
        heading = self.p(self.e(title), "h2")
        body = [f for f in flowables if f is not None]
        if not body:
            body = [self.p("Nothing recorded.", "small")]
        self.items.append(CondPageBreak(35 * mm))
        first = body[0]
        if isinstance(first, Table) and len(first._cellvalues) > 14:
            # A long table splits across pages (its header repeats); the heading stays with its first rows.
            self.items.append(heading)
            self.items.extend(body)
        else:
            self.items.append(KeepTogether([heading, first]))
            self.items.extend(body[1:])

    def fields(self, rows: Sequence[tuple[str, Any]], label_width: float = 44 * mm) -> Table:
        data = [
            [self.p(self.e(label), "head"), self.p(value if isinstance(value, Markup) else self.e(value), "cell")]
            for label, value in rows
        ]
        # splitInRow: a row taller than a page (a long note) breaks across pages instead of failing.
        table = Table(data, colWidths=[label_width, self.width - label_width], hAlign="LEFT", splitInRow=1)
        table.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LINEBELOW", (0, 0), (-1, -2), 0.25, RULE),
                    ("TOPPADDING", (0, 0), (-1, -1), 2.2),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 2.2),
                    ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ]
            )
        )
        return table

    def grid(self, header: Sequence[str], rows: Iterable[Sequence[Any]], widths: Sequence[float]) -> Table | Paragraph:
        body = [list(r) for r in rows]
        if not body:
            return self.p("Nothing recorded.", "small")
        total = sum(widths)
        cols = [w * self.width / total for w in widths]
        data = [[self.p(self.e(h), "head") for h in header]]
        for row in body:
            data.append([c if isinstance(c, Paragraph) else self.p(self.e(c), "cell") for c in row])
        table = Table(data, colWidths=cols, repeatRows=1, hAlign="LEFT", splitInRow=1)
        table.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("BACKGROUND", (0, 0), (-1, 0), SHADE),
                    ("LINEBELOW", (0, 0), (-1, 0), 0.6, RULE),
                    ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE),
                    ("TOPPADDING", (0, 0), (-1, -1), 2),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                    ("LEFTPADDING", (0, 0), (-1, -1), 3),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 3),
                ]
            )
        )
        return table


# ---------------------------------------------------------------- the vitals chart


def _nice_step(span: float, target: int = 8) -> float:
    raw = max(span / target, 1)
    for step in (5, 10, 15, 20, 30, 60, 90, 120, 180, 240):
        if step >= raw:
            return step
    step = 360
    while step < raw:  # a long window still gets about `target` grid lines, never thousands
        step *= 2
    return step


# The vitals chart spans the participant's time in the session: from an hour before arrival (late
# entries of readings taken before the participant was entered) to the end of monitoring or the
# export. A reading dated outside it (a mistyped year, say) is listed in the table, not drawn.
CHART_LEAD_MINUTES = 60.0
CHART_TAIL_MINUTES = 5.0


def _chart_window(data: dict[str, Any], start: datetime) -> tuple[float, float]:
    """The chart's time axis in minutes from `start` (the dose, or arrival)."""
    arrived = _t(data["participant"].get("arrived_at")) or start
    until = _t(data["monitoring"].get("end")) or _t(data.get("generated_at")) or start
    low = _minutes_between(start, arrived) - CHART_LEAD_MINUTES
    high = max(_minutes_between(start, until), 0.0) + CHART_TAIL_MINUTES
    return min(low, 0.0), max(high, low + 10)


def _minutes_between(earlier: datetime, later: datetime) -> float:
    return (later - earlier).total_seconds() / 60


def in_chart_window(data: dict[str, Any], value: Any) -> bool:
    """Whether a reading taken at `value` falls inside the vitals chart's time axis."""
    start = _t(data["monitoring"].get("start")) or _t(data["participant"].get("arrived_at"))
    moment = _t(value)
    if start is None or moment is None:
        return False
    low, high = _chart_window(data, start)
    return low <= _minutes_between(start, moment) <= high


def _plot(
    drawing: Drawing,
    y0: float,
    width: float,
    height: float,
    series: list[tuple[str, list[tuple[float, float]]]],
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    y_step: float,
    title: str,
    marks: Sequence[tuple[float, str]],
) -> None:
    regular, bold = _fonts()
    left, bottom, right_pad, top_pad = 34, 26, 118, 18
    plot = LinePlot()
    plot.x, plot.y = left, y0 + bottom
    plot.width = width - left - right_pad
    plot.height = height - bottom - top_pad
    plot.data = [points for _, points in series]
    plot.joinedLines = 1
    for i, (name, _points) in enumerate(series):
        color = SERIES[name][1]
        plot.lines[i].strokeColor = color
        plot.lines[i].strokeWidth = 1.4
        plot.lines[i].symbol = makeMarker("FilledCircle", size=3.2, fillColor=color, strokeColor=color)
    x0, x1 = x_range
    step = _nice_step(x1 - x0)
    plot.xValueAxis.valueMin = x0
    plot.xValueAxis.valueMax = x1
    plot.xValueAxis.valueStep = step
    plot.xValueAxis.labels.fontName = regular
    plot.xValueAxis.labels.fontSize = 6.5
    plot.xValueAxis.labels.fillColor = MUTED
    plot.xValueAxis.labelTextFormat = lambda v: f"{v:+.0f}" if v else "0"
    plot.xValueAxis.strokeColor = RULE
    plot.xValueAxis.visibleGrid = 1
    plot.xValueAxis.gridStrokeColor = colors.HexColor("#edf0f3")
    plot.xValueAxis.gridStrokeWidth = 0.4
    plot.yValueAxis.valueMin, plot.yValueAxis.valueMax = y_range
    plot.yValueAxis.valueStep = y_step
    plot.yValueAxis.labels.fontName = regular
    plot.yValueAxis.labels.fontSize = 6.5
    plot.yValueAxis.labels.fillColor = MUTED
    plot.yValueAxis.strokeColor = RULE
    plot.yValueAxis.visibleGrid = 1
    plot.yValueAxis.gridStrokeColor = colors.HexColor("#edf0f3")
    plot.yValueAxis.gridStrokeWidth = 0.4
    drawing.add(plot)
    scale = plot.width / (x1 - x0)
    for at, label in marks:
        if x0 <= at <= x1:
            x = plot.x + (at - x0) * scale
            drawing.add(
                Line(x, plot.y, x, plot.y + plot.height, strokeColor=MUTED, strokeWidth=0.6, strokeDashArray=[2, 2])
            )
            drawing.add(String(x + 2, plot.y + plot.height - 7, label, fontName=regular, fontSize=6, fillColor=MUTED))
    drawing.add(String(left, y0 + height - 11, title, fontName=bold, fontSize=8, fillColor=INK))
    drawing.add(
        String(
            plot.x + plot.width / 2,
            y0 + 4,
            "minutes from the dose",
            fontName=regular,
            fontSize=6.5,
            fillColor=MUTED,
            textAnchor="middle",
        )
    )
    legend = Legend()
    legend.x = plot.x + plot.width + 12
    legend.y = plot.y + plot.height - 4
    legend.fontName = regular
    legend.fontSize = 7
    legend.alignment = "right"
    legend.dx = 8
    legend.dy = 3
    legend.deltay = 12
    legend.columnMaximum = 4
    legend.colorNamePairs = [(SERIES[name][1], SERIES[name][0]) for name, _ in series]
    drawing.add(legend)


def vitals_chart(record: ChartRecord, width: float) -> Drawing | None:
    """BP (systolic and diastolic) and heart rate on one panel, SpO2 on its own scale below."""
    data = record.data
    start = _t(data["monitoring"].get("start")) or _t(data["participant"].get("arrived_at"))
    if start is None:
        return None
    points: dict[str, list[tuple[float, float]]] = {name: [] for name in SERIES}
    low, high = _chart_window(data, start)
    screening = data.get("screening") or {}
    screened = _t(screening.get("at"))
    if screening.get("bp") and screened is not None:
        minute = _minutes_between(start, screened)
        for name in ("sbp", "dbp"):
            if screening["bp"].get(name) is not None and low <= minute <= high:
                points[name].append((minute, float(screening["bp"][name])))
    for reading in data["vitals"]:
        observed = _t(reading["observed_at"])
        if observed is None:
            continue
        minute = _minutes_between(start, observed)
        if not low <= minute <= high:
            continue
        for name in SERIES:
            if reading.get(name) is not None:
                points[name].append((minute, float(reading[name])))
    for name in points:
        points[name].sort()
    every = [x for pts in points.values() for x, _ in pts]
    if not every:
        return None
    x0, x1 = min(every + [0.0]), max(every + [0.0])
    pad = max(5.0, (x1 - x0) * 0.04)
    x_range = (x0 - pad, x1 + pad)
    marks = [(0.0, "dose")] if data.get("dose") else []
    if data.get("dose"):
        target = data["blood_pressure"]["target_minutes"]
        marks.append((float(target), f"{target} min"))
    end = _t(data["monitoring"].get("end"))
    if end is not None:
        marks.append((_minutes_between(start, end), "end"))
    upper = [(name, points[name]) for name in ("sbp", "dbp", "hr") if points[name]]
    upper_height, lower_height = (62 * mm if upper else 0), (36 * mm if points["spo2"] else 0)
    drawing = Drawing(width, upper_height + lower_height)
    if upper:
        values = [v for _, pts in upper for _, v in pts]
        low = max(0, (min(values) // 20) * 20 - 20)
        high = (max(values) // 20) * 20 + 20
        _plot(
            drawing,
            lower_height,
            width,
            upper_height,
            upper,
            x_range,
            (low, high),
            20,
            "Blood pressure and heart rate",
            marks,
        )
    if points["spo2"]:
        values = [v for _, v in points["spo2"]]
        low = min(90.0, (min(values) // 2) * 2 - 2)
        _plot(
            drawing,
            0,
            width,
            lower_height,
            [("spo2", points["spo2"])],
            x_range,
            (low, 100),
            2 if 100 - low <= 12 else 5,
            "Oxygen saturation",
            marks,
        )
    return drawing


# ---------------------------------------------------------------- the note


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
    d = _Doc(doc.width)
    e = d.e
    regular, bold = _fonts()

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

    _summary(d, data)
    _identity(d, data)
    _screening(d, data)
    _consent(d, data)
    _dose(d, data)
    _blood_pressure(d, data)
    chart = vitals_chart(record, d.width)
    d.section("Vitals over time", chart, _vitals_table(d, data), _vitals_legend(d, data))
    _scales(d, data)
    _adverse(d, data)
    _pauses(d, data)
    _checklist(d, data)
    _outcome(d, data)
    _notes(d, data)
    _refusals(d, data)
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


def _monitoring_text(monitoring: dict[str, Any], show: Any) -> str:
    if not monitoring.get("start"):
        return "not started (no dose recorded)"
    text = f"from {show(monitoring['start'])} to "
    text += show(monitoring["end"]) if monitoring.get("end") else "(still being monitored)"
    if monitoring.get("minutes") is not None:
        text += f" ({monitoring['minutes']:.0f} min)"
    return text


def _summary(d: _Doc, data: dict[str, Any]) -> None:
    """The facts a monitoring form asks for first, on one table at the top of page one."""
    dose, monitoring, bp = data.get("dose"), data["monitoring"], data["blood_pressure"]
    in_range = data["vitals_in_range"]

    def bp_text(reading: dict[str, Any] | None, relative: bool = True) -> str:
        if not reading:
            return "not recorded"
        text = f"{_n(reading.get('sbp'))}/{_n(reading.get('dbp'))}"
        if relative and reading.get("minutes_after_dose") is not None:
            text += f" (at {float(reading['minutes_after_dose']):.0f} min)"
        elif reading.get("source") == "screening":
            text += " (screening)"
        return text

    def verdict(item: dict[str, Any] | None) -> str:
        if not item:
            return "not assessed"
        if item["in_range"]:
            return "<font color='#2f6f4f'><b>yes</b></font>"
        extra = f", cleared by prescriber {d.e(item['cleared_by'])}" if item.get("cleared_by") else ""
        return f"<font color='#b42318'><b>no</b></font>{extra}"

    scales = data["scales"]

    def extreme(name: str, pick: Any) -> str:
        values = [s[name] for s in scales if s.get(name) is not None]
        return "-" if not values else (_signed(pick(values)) if name == "rass" else _n(pick(values)))

    events = data["adverse_events"]
    open_count = sum(1 for e in events if e["status"] == "open")
    adverse = "none"
    if events:
        adverse = f"{len(events)} escalation(s): " + "; ".join(f"{e['priority']}, {e['condition']}" for e in events)
        adverse += f"; {open_count} OPEN" if open_count else "; all resolved with action and outcome"
    pauses = data["pauses_and_stops"]
    pause_text = ", ".join(f"{p['what']} ({p.get('requested_by') or '-'}) {hm(p['at'])}" for p in pauses) or "none"
    outcome_text = _outcome_text(data.get("outcome"))
    consent = data.get("consent") or {}
    standing = consent.get("as_it_stands") or {}
    touch = ", ".join(standing.get("touch") or []) or "none"
    if consent.get("withdrawn"):
        touch += f" (withdrawn: {', '.join(consent['withdrawn'])})"
    rows = [
        (
            "Dose",
            f"ketamine {_n(dose['dose_mg'])} mg {dose['route']} at {hm(dose['administered_at'])}, "
            f"prescriber {dose.get('prescriber')}"
            if dose
            else "no dose recorded",
        ),
        (
            "Monitoring",
            _monitoring_text(monitoring, hm),
        ),
        (
            "Blood pressure (mmHg)",
            f"before dosing {bp_text(bp.get('before_dosing'), False)}; "
            f"about {bp['target_minutes']} min after {bp_text(bp.get('about_40_min'))}; "
            f"before the end {bp_text(bp.get('before_end'))}",
        ),
        (
            "Vitals in range",
            Markup(
                f"before dosing: {verdict(in_range.get('before_dosing'))}; "
                f"before leaving: {verdict(in_range.get('before_leaving'))}"
            ),
        ),
        (
            "Sedation, dissociation",
            f"lowest MOAA/S {extreme('moaa_s', min)}; highest RASS {extreme('rass', max)}; "
            f"highest distress {extreme('distress', max)}",
        ),
        ("Adverse events", adverse),
        ("Pause / stop", pause_text),
        ("Concomitant sedatives", ", ".join(data["concomitant_sedatives"]) or "none"),
        ("Touch agreement", touch),
        ("Transport plan", (data.get("transport") or {}).get("plan") or "-"),
        ("Outcome", outcome_text),
    ]
    table = d.fields(rows)
    table.setStyle(
        TableStyle([("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#f6f8fa")), ("BOX", (0, 0), (-1, -1), 0.6, RULE)])
    )
    d.section("Summary", table)


def _identity(d: _Doc, data: dict[str, Any]) -> None:
    participant, session, support = data["participant"], data["session"], data["support"]
    monitoring = data["monitoring"]
    current = (
        ", ".join(s["name"] if s["kind"] == "participant" else f"{s['name']} (staff)" for s in support["current"])
        or "none"
    )
    d.section(
        "Participant and session",
        d.fields(
            [
                ("Name", participant["display_name"]),
                ("Chart id", participant["chart_id"]),
                ("Session", f"{session['kind'].replace('_', ' ')}, {session['room']} (session {session['id']})"),
                ("Lead facilitator", session["lead"]),
                ("Facilitators", ", ".join(session["facilitators"]) or "none"),
                (
                    "Support person(s)",
                    current
                    + (
                        f"; dedicated facilitator {support['dedicated_facilitator']}"
                        if support.get("dedicated_facilitator")
                        else ""
                    ),
                ),
                ("Arrived", day(participant["arrived_at"])),
                (
                    "Monitoring",
                    _monitoring_text(monitoring, day),
                ),
                ("Phase at export", participant["phase"].replace("_", " ")),
            ]
        ),
    )


def _screening(d: _Doc, data: dict[str, Any]) -> None:
    s = data.get("screening")
    if not s:
        d.section("Screening and clearance", None)
        return
    contraindications = s.get("contraindications") or {}
    present = [k.replace("_", " ") for k, v in contraindications.items() if v]
    absent = [k.replace("_", " ") for k, v in contraindications.items() if not v]
    clearance = "not needed (nothing flagged)"
    if s.get("needed_clearance"):
        clearance = (
            f"cleared by prescriber {s['cleared_by']} at {hm(s.get('cleared_at'))}: {s.get('clearance_note')}"
            if s.get("cleared")
            else "NOT cleared"
        )
    bp = s.get("bp") or {}
    d.section(
        "Screening and clearance",
        d.fields(
            [
                ("Screened", day(s["at"])),
                (
                    "Blood pressure",
                    f"{_n(bp.get('sbp'))}/{_n(bp.get('dbp'))} mmHg (clearance needed above "
                    f"{s['predose_clearance_threshold']})",
                ),
                ("Contraindications present", ", ".join(present) or "none"),
                ("Checked and absent", ", ".join(absent) or "-"),
                ("Concomitant sedatives", ", ".join(data["concomitant_sedatives"]) or "none"),
                ("Flags", ", ".join(s.get("flags") or []) or "none"),
                ("Prescriber clearance", clearance),
                ("Notes", s.get("notes") or "-"),
            ]
        ),
    )


def _consent(d: _Doc, data: dict[str, Any]) -> None:
    c = data.get("consent")
    if not c:
        d.section("Consent and touch agreement", None)
        return
    a = c.get("agreement") or {}
    now = c.get("as_it_stands") or {}
    rows = [
        (
            "Signed",
            f"{day(c.get('signed_at'))} by the participant"
            + (f", attested by {c['attested_by']}" if c.get("attested_by") else ""),
        ),
        ("Supportive touch agreed", ", ".join(a.get("touch") or []) or "none"),
        ("Supportive touch now", ", ".join(now.get("touch") or []) or "none"),
        ("Pause / stop signals", f"pause: {a.get('pause_signal') or '-'}; stop: {a.get('stop_signal') or '-'}"),
        ("Music / eyeshades", f"music {_yes(now.get('music'))}, eyeshades {_yes(now.get('eyeshades'))}"),
        ("If they ask to stop", a.get("if_stop_requested") or "-"),
        ("Emergency contact", a.get("emergency_contact") or "-"),
        ("Transport plan", a.get("transport_plan") or "-"),
    ]
    transport = data.get("transport") or {}
    rows.append(
        (
            "Transport confirmed",
            f"yes, by {transport['confirmed_by']} at {hm(transport['confirmed_at'])}"
            + (f" ({transport['note']})" if transport.get("note") else "")
            if transport.get("confirmed")
            else "no",
        )
    )
    for w in c.get("withdrawals") or []:
        rows.append(("Withdrawn", f"{hm(w['at'])}: {', '.join(w['items'])} (recorded by {w['by']})"))
    checkins = data.get("consent_checkins") or []
    if checkins:
        rows.append(
            (
                "Consent check-ins",
                "; ".join(
                    f"{hm(ci['at'])} "
                    + (("ok" if ci["ok"] else "NOT ok") if ci["answered"] else "missed")
                    + (f" ({ci['note']})" if ci.get("note") and ci["answered"] else "")
                    for ci in checkins
                ),
            )
        )
    d.section("Consent and touch agreement", d.fields(rows))


def _dose(d: _Doc, data: dict[str, Any]) -> None:
    dose = data.get("dose")
    if not dose:
        d.section("Dose", None)
        return
    d.section(
        "Dose",
        d.fields(
            [
                ("Medication", "Ketamine"),
                ("Dose", f"{_n(dose['dose_mg'])} mg"),
                ("Route", str(dose["route"])),
                ("Administered", day(dose["administered_at"])),
                ("Prescriber", dose.get("prescriber") or "-"),
                ("Earliest discharge", day(data["monitoring"].get("earliest_discharge_at"))),
            ]
        ),
    )


def _bp_cell(reading: dict[str, Any] | None, missing: str = "not recorded") -> list[str]:
    if not reading:
        return ["-", "-", missing]
    return [
        f"{_n(reading.get('sbp'))}/{_n(reading.get('dbp'))}",
        f"{hm(reading.get('observed_at'))} ({_relative(reading.get('minutes_after_dose'))})"
        if reading.get("minutes_after_dose") is not None
        else hm(reading.get("observed_at")),
        reading.get("source", ""),
    ]


def _blood_pressure(d: _Doc, data: dict[str, Any]) -> None:
    bp = data["blood_pressure"]
    in_range = data["vitals_in_range"]
    rows = [
        ["Before dosing", *_bp_cell(bp.get("before_dosing"))],
        [
            f"About {bp['target_minutes']} min after the dose",
            *_bp_cell(
                bp.get("about_40_min"),
                f"no reading {bp['target_minutes'] - bp['target_window_minutes']}-"
                f"{bp['target_minutes'] + bp['target_window_minutes']} min after",
            ),
        ],
        ["Before the end of monitoring", *_bp_cell(bp.get("before_end"))],
    ]

    def verdict(item: dict[str, Any] | None) -> Markup:
        if not item:
            return Markup("not assessed")
        color = "#2f6f4f" if item["in_range"] else "#b42318"
        word = "In range" if item["in_range"] else "NOT in range"
        return Markup(f"<font color='{color}'><b>{word}</b></font>: {d.e(item['detail'])}")

    d.section(
        "Blood pressure at the required times",
        d.grid(["when", "BP (mmHg)", "time (from the dose)", "source"], rows, [32, 14, 30, 24]),
        Spacer(0, 4),
        d.fields(
            [
                ("Vitals before dosing", verdict(in_range.get("before_dosing"))),
                ("Vitals before leaving", verdict(in_range.get("before_leaving"))),
            ]
        ),
    )


def _vitals_table(d: _Doc, data: dict[str, Any]) -> Any:
    rows = []
    for v in data["vitals"]:
        flags = v.get("out_of_range") or {}

        def shown(name: str, flags: dict[str, str] = flags, v: dict[str, Any] = v) -> str:
            return _n(v.get(name)) + (" !" if name in flags else "")

        inside = in_chart_window(data, v["observed_at"])
        observed = hm(v["observed_at"]) if inside else f"{day(v['observed_at'])} (not on the chart)"
        rows.append(
            [
                observed + (f" (late, rec. {hm(v['recorded_at'])})" if v.get("late") else ""),
                _mins(v.get("minutes_after_dose")),
                f"{shown('sbp')}/{shown('dbp')}" if v.get("sbp") is not None or v.get("dbp") is not None else "-",
                shown("hr"),
                shown("spo2"),
                shown("rr"),
                v.get("by") or "",
            ]
        )
    table = d.grid(
        ["observed", "from dose", "BP mmHg", "HR /min", "SpO2 %", "RR /min", "by"], rows, [22, 12, 14, 10, 10, 10, 14]
    )
    return table


def _vitals_legend(d: _Doc, data: dict[str, Any]) -> Any:
    if not any(v.get("out_of_range") for v in data["vitals"]):
        return None
    return d.p(d.e("! out of range: past the clinic's alarm threshold"), "small")


def _scales(d: _Doc, data: dict[str, Any]) -> None:
    rows = []
    for s in data["scales"]:
        extra = "; ".join(
            x for x in (", ".join(s.get("signs") or []), ", ".join(s.get("parts") or []), s.get("note") or "") if x
        )
        rows.append(
            [
                hm(s["observed_at"]) + (" (late)" if s.get("late") else ""),
                _n(s.get("distress")),
                _n(s.get("moaa_s")),
                _signed(s.get("rass")) if s.get("rass") is not None else "-",
                _n(s.get("suds")),
                extra or "",
                s.get("by") or "",
            ]
        )
    d.section(
        "Sedation, dissociation and distress",
        d.p(
            "MOAA/S: 5 responds readily to name ... 0 no response to painful stimulus. "
            "RASS: +4 combative ... 0 alert and calm ... -5 unrousable. "
            "Distress: 0 settled ... 4 emergency. SUDS: the participant's own 0-10.",
            "small",
        ),
        Spacer(0, 2),
        d.grid(
            ["observed", "distress", "MOAA/S", "RASS", "SUDS", "signs, parts, note", "by"],
            rows,
            [12, 9, 9, 8, 8, 42, 12],
        ),
    )


def _adverse(d: _Doc, data: dict[str, Any]) -> None:
    rows = []
    for a in data["adverse_events"]:
        ack = f"{hm(a['acknowledged_at'])} {a['acknowledged_by']}" if a.get("acknowledged_at") else "-"
        resolved = (
            f"{hm(a['resolved_at'])} by {a['resolved_by']}. Action: {a['action']}. Outcome: {a['outcome']}"
            if a["status"] == "resolved"
            else "OPEN: no action recorded yet"
        )
        rows.append([hm(a["raised_at"]), f"{a['priority']} (step {a['step']})", a["reason"], ack, resolved])
    followups = [
        [
            hm(f["opened_at"]),
            owner_words(f["owner"]),
            f["reason"] + (f" (in the participant's words: {f['account']})" if f.get("account") else ""),
            f"closed {day(f['closed_at'])} by {f['closed_by']}: {f['contact_note']}"
            if f["status"] == "closed"
            else f"open, due {day(f['due_at'])}",
        ]
        for f in data["followups"]
    ]
    follow = (
        KeepTogether(
            [
                Spacer(0, 5),
                d.p("<b>Follow-up (repair) items</b>", "body"),
                Spacer(0, 2),
                d.grid(["opened", "owner", "reason", "status"], followups, [8, 8, 56, 28]),
            ]
        )
        if followups
        else None
    )
    d.section(
        "Adverse events and escalations",
        d.grid(
            ["raised", "priority", "what", "acknowledged", "what was done, and the outcome"], rows, [8, 11, 25, 15, 41]
        ),
        follow,
    )


def _pauses(d: _Doc, data: dict[str, Any]) -> None:
    rows = [
        [
            hm(x["at"]),
            x["what"],
            x.get("requested_by") or "-",
            (x.get("reason") or "")
            + (f" (participant's answer: {x['participant_response']})" if x.get("participant_response") else ""),
            x["recorded_by"],
        ]
        for x in data["pauses_and_stops"]
    ]
    d.section(
        "Pause and stop", d.grid(["time", "what", "asked by", "reason", "recorded by"], rows, [9, 14, 13, 50, 14])
    )


def _checklist(d: _Doc, data: dict[str, Any]) -> None:
    checklist = data.get("checklist")
    if not checklist:
        d.section("Grounding checklist", None)
        return
    rows = []
    for item in checklist["items"]:
        mark = "done" if item.get("done") else ("MISSING" if item.get("required") else "not done")
        if item.get("automatic"):
            who = f"from the record: {item.get('detail') or ''}"
        elif item.get("done"):
            who = f"{item.get('by')} at {hm(item.get('at'))}" + (f" ({item['detail']})" if item.get("detail") else "")
        else:
            who = "-"
        rows.append([item["label"], mark, who])
    d.section(
        "Grounding checklist",
        d.p(
            f"{checklist['source'].capitalize()}, {day(checklist['evaluated_at'])}. "
            + ("Complete." if checklist["complete"] else "Incomplete: " + ", ".join(checklist["missing"]) + "."),
            "small",
        ),
        Spacer(0, 2),
        d.grid(["item", "status", "who and when"], rows, [48, 10, 42]),
    )


def _outcome_text(outcome: dict[str, Any] | None) -> str:
    """The record's outcome (the domain's words), with when it happened."""
    if not outcome or not outcome.get("kind"):
        return ((outcome or {}).get("text") or "still in the session") + " at the time of this export"
    text = str(outcome["text"])
    if outcome["kind"] == "transferred":
        text = text[:1].upper() + text[1:]
        text = text.replace("Transferred", "TRANSFERRED", 1)
    return f"{text}, at {hm(outcome['at'])}"


def _outcome(d: _Doc, data: dict[str, Any]) -> None:
    outcome = data.get("outcome")
    if not outcome or not outcome.get("kind"):
        d.section("Discharge or transfer", d.p(d.e(_outcome_text(outcome).capitalize()) + ".", "body"))
        return
    rows = [("Outcome", str(outcome["text"])[:1].upper() + str(outcome["text"])[1:])]
    if outcome["kind"] == "transferred":
        rows += [
            ("Destination", outcome.get("destination") or "-"),
            ("Reason", outcome.get("reason") or "-"),
        ]
    rows += [
        ("At", day(outcome["at"])),
        ("Recorded by", outcome["by"]),
        ("Transport plan", (data.get("transport") or {}).get("plan") or "-"),
    ]
    d.section("Discharge or transfer", d.fields(rows))


def _notes(d: _Doc, data: dict[str, Any]) -> None:
    flow: list[Any] = []
    for n in data["notes"]:
        head = f"<b>{d.e(str(n['kind']).capitalize())}</b> · {hm(n['observed_at'])} · {d.e(n['by'])}"
        if n.get("late"):
            head += f" (recorded late, at {hm(n['recorded_at'])})"
        text = d.e(n["text"])
        tags = []
        if n.get("parts"):
            tags.append("parts: " + ", ".join(n["parts"]))
        if n.get("somatic"):
            tags.append("somatic: " + n["somatic"])
        if tags:
            text += f" <font color='#5f6b7a'>[{d.e('; '.join(tags))}]</font>"
        flow.append(d.p(f"{head}<br/>{text}", "body"))
        for a in n.get("amendments") or []:
            flow.append(
                d.p(
                    f"&nbsp;&nbsp;&nbsp;Amended at {hm(a['at'])} by {d.e(a['by'])} (#{a['seq']}): "
                    f"{d.e(a['correction'])} <font color='#5f6b7a'>(reason: {d.e(a['reason'])})</font>",
                    "body",
                )
            )
        flow.append(Spacer(0, 3))
    other = [a for a in data["amendments"] if a["event_seq"] not in {n["seq"] for n in data["notes"]}]
    for a in other:
        flow.append(
            d.p(
                f"Entry #{a['event_seq']} amended at {hm(a['at'])} by {d.e(a['by'])}: {d.e(a['correction'])} "
                f"<font color='#5f6b7a'>(reason: {d.e(a['reason'])})</font>",
                "body",
            )
        )
    d.section("Session notes and amendments", *flow)


def _refusals(d: _Doc, data: dict[str, Any]) -> None:
    if not data["refusals"]:
        return
    rows = [
        [
            hm(r["at"]),
            r["actor"],
            str(r.get("command") or "").replace("_", " "),
            r.get("code") or "",
            r.get("message") or "",
        ]
        for r in data["refusals"]
    ]
    d.section("Refused attempts", d.grid(["time", "by", "attempt", "rule", "why"], rows, [8, 10, 15, 17, 50]))
