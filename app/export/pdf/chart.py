"""The vitals chart: each vital sign over the stay, drawn to scale (readings outside the stay are
listed, not plotted)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, Line, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.units import mm

from ..record import ChartRecord
from .layout import INK, MUTED, RULE, SERIES, as_time, fonts


def nice_step(span: float, target: int = 8) -> float:
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
    arrived = as_time(data["participant"].get("arrived_at")) or start
    until = as_time(data["monitoring"].get("end")) or as_time(data.get("generated_at")) or start
    low = _minutes_between(start, arrived) - CHART_LEAD_MINUTES
    high = max(_minutes_between(start, until), 0.0) + CHART_TAIL_MINUTES
    return min(low, 0.0), max(high, low + 10)


def _minutes_between(earlier: datetime, later: datetime) -> float:
    return (later - earlier).total_seconds() / 60


def in_chart_window(data: dict[str, Any], value: Any) -> bool:
    """Whether a reading taken at `value` falls inside the vitals chart's time axis."""
    start = as_time(data["monitoring"].get("start")) or as_time(data["participant"].get("arrived_at"))
    moment = as_time(value)
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
    regular, bold = fonts()
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
    step = nice_step(x1 - x0)
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
    start = as_time(data["monitoring"].get("start")) or as_time(data["participant"].get("arrived_at"))
    if start is None:
        return None
    points: dict[str, list[tuple[float, float]]] = {name: [] for name in SERIES}
    low, high = _chart_window(data, start)
    screening = data.get("screening") or {}
    screened = as_time(screening.get("at"))
    if screening.get("bp") and screened is not None:
        minute = _minutes_between(start, screened)
        for name in ("sbp", "dbp"):
            if screening["bp"].get(name) is not None and low <= minute <= high:
                points[name].append((minute, float(screening["bp"][name])))
    for reading in data["vitals"]:
        observed = as_time(reading["observed_at"])
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
    end = as_time(data["monitoring"].get("end"))
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
