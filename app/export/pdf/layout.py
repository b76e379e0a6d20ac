"""The note's look: colours, fonts (DejaVu when installed, for every script), paragraph styles,
time and number formatting in the clinic's zone, and the document builder the sections write to."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import CondPageBreak, KeepTogether, Paragraph, Table, TableStyle

from app import localtime

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

FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts"),
)
FONTS: tuple[str, str] | None = None


def fonts() -> tuple[str, str]:
    """DejaVu Sans when the system has it (wide coverage of names in any script), else the Vera
    fonts reportlab ships, else Helvetica."""
    global FONTS
    if FONTS is not None:
        return FONTS
    candidates: list[tuple[Path, Path]] = [(d / "DejaVuSans.ttf", d / "DejaVuSans-Bold.ttf") for d in FONT_DIRS]
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
            FONTS = names
            return FONTS
    FONTS = ("Helvetica", "Helvetica-Bold")  # pragma: no cover
    return FONTS


def styles() -> dict[str, ParagraphStyle]:
    regular, bold = fonts()
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


def as_time(value: Any) -> datetime | None:
    """A stored moment in the clinic's time zone (HOLDSPACE_TIMEZONE)."""
    if not value:
        return None
    return localtime.local(value)


def hm(value: Any) -> str:
    moment = as_time(value)
    return moment.strftime("%H:%M") if moment else "-"


def hms(value: Any) -> str:
    moment = as_time(value)
    return moment.strftime("%H:%M:%S") if moment else "-"


def day(value: Any) -> str:
    moment = as_time(value)
    return moment.strftime("%d %b %Y %H:%M") if moment else "-"


def num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def signed(value: Any) -> str:
    return "-" if value is None else f"{int(value):+d}" if int(value) else "0"


def mins(value: Any) -> str:
    if value is None:
        return ""
    value = float(value)
    sign = "-" if value < 0 else "+"
    return f"{sign}{abs(value):.0f} min"


def relative(value: Any) -> str:
    """Minutes from the dose in words: "5 min before", "40 min after"."""
    if value is None:
        return ""
    value = float(value)
    if abs(value) < 0.5:
        return "at the dose"
    return f"{abs(value):.0f} min {'before' if value < 0 else 'after'}"


def yes(value: Any) -> str:
    return "yes" if value else "no"


class Markup(str):
    """Text that is already reportlab paragraph markup (escaped where it holds record text)."""


class Doc:
    """Collects the flowables of the note."""

    def __init__(self, width: float) -> None:
        self.width = width
        self.s = styles()
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
