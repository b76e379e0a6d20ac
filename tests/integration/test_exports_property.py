"""No chart export ever fails (issue 9, item 5): every format of generated records comes out and
parses, whatever the text (up to the API's longest allowed lengths, any Unicode, markup-special
characters), however many entries, and whatever absurd dates an old log already holds.

Records are built through the domain (`decide` and `evolve`, as the service does) with the unit
tests' session builder; readings with absurd times are then appended as stored events, because a
log written before today's input checks may hold them and records are forever.
"""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from app.domain import commands as c
from app.domain.events import upcast
from app.domain.evolve import evolve
from app.domain.model import Event
from app.export import ChartRecord, Snapshot, build_record, csv_export, fhir_export, json_export, pdf_export
from app.export.formats import CSV_COLUMNS
from app.web.exports import archive
from tests.unit.conftest import DOC, LEE, SessionBuilder, staff

# The API's longest allowed texts (app/web/api.py).
LIMITS = {"name": 80, "chart": 64, "note": 4000, "session_note": 8000, "reason": 2000, "signal": 200, "plan": 400}
SPECIAL = [
    "<b>&amp;</b> < & > \" '",
    "e\u0301 a\u0308 \u0915\u094d\u0937",  # combining marks, a Devanagari conjunct
    "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 \u200f",  # Hebrew, Arabic, a right-to-left mark
    "\U0001f600\U0001f9d8\u200d\u2640\ufe0f \U0001f1e9\U0001f1ea",  # emoji, a ZWJ sequence, a flag
    "\u6f22\u5b57\u304b\u306a\ud55c\uae00",  # CJK without spaces
    "=SUM(A1) +1 -1 @x",  # spreadsheet formula starts
    "\t\u00a0\u2028line\nbreak\r\n",
    "word" * 300,  # one unbroken word far wider than a column
]
# Times stored in logs before the input checks: year 1 (with an offset that leaves the calendar when
# converted to UTC), 1970, and the far future.
ABSURD = [
    "0001-01-01T00:30:00+01:00",
    "0001-01-01T00:00:00+00:00",
    "1970-01-01T00:00:00+00:00",
    "9999-12-31T23:00:00-01:00",
]

characters = st.characters(exclude_categories=("Cs",))  # any code point UTF-8 can store
pieces = st.one_of(st.sampled_from(SPECIAL), st.text(characters, min_size=1, max_size=30))


@st.composite
def texts(draw: st.DrawFn, limit: str) -> str:
    """Non-blank text of random Unicode, often stretched to the field's longest allowed length."""
    size = LIMITS[limit]
    text = "x" + "".join(draw(st.lists(pieces, min_size=1, max_size=4)))
    if draw(st.booleans()):
        text = (text * (size // len(text) + 1))[:size]
    return text[:size]


@st.composite
def plans(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "name": draw(texts("name")),
        "chart": draw(texts("chart")),
        "other_name": draw(texts("name")),
        "other_chart": draw(texts("chart")),
        "screening_notes": draw(texts("note")),
        "sedative": draw(texts("signal")),
        "signal": draw(texts("signal")),
        "if_stop": draw(texts("note").map(lambda t: t[:1000])),
        "plan": draw(texts("plan")),
        "dosed": draw(st.booleans()),
        "readings": draw(st.integers(0, 80)),
        "observation_note": draw(texts("note")),
        "session_note": draw(texts("session_note")),
        "somatic": draw(texts("reason")),
        "reason": draw(texts("reason")),
        "correction": draw(texts("reason")),
        "absurd": draw(st.lists(st.sampled_from(ABSURD), max_size=4)),
        "outcome": draw(st.sampled_from(["in_session", "transferred", "discharged"])),
    }


PIDS = ("p1", "p2")


def build(plan: dict[str, Any]) -> tuple[SessionBuilder, list[ChartRecord]]:
    s = SessionBuilder(kind="group").opened().checked_in("fay")
    s.run(c.AddParticipant("p1", plan["name"], plan["chart"]))
    s.run(c.AddParticipant("p2", plan["other_name"], ("2" + plan["other_chart"])[: LIMITS["chart"]]))
    s.run(
        c.RecordScreening(
            "p1", {"psychosis_history": False}, 120, 80, (plan["sedative"],), notes=plan["screening_notes"]
        )
    )
    s.run(
        c.RecordConsent(
            "p1",
            ("hand",),
            plan["signal"],
            plan["signal"],
            True,
            False,
            plan["signal"],
            plan["plan"],
            True,
            plan["if_stop"],
        )
    )
    s.run(c.AssignSupport("p1", staff("fay")))
    s.run(c.RecordNote("p1", "intention", plan["session_note"], somatic=plan["somatic"]))
    if plan["dosed"]:
        s.run(c.AdministerDose("p1", "intramuscular", 35.5), DOC)
        s.run(c.ChangePhase("p1", "journeying"))
        s.run(c.Pause("p1", requested_by="participant", reason=plan["reason"]))
        s.run(c.Resume("p1", participant_wishes_to_continue=True))
    for i in range(plan["readings"]):
        s.advance(minutes=1)
        s.run(c.RecordVitals("p1", {"sbp": 100 + i % 60, "dbp": 70, "hr": 60 + i % 40, "spo2": 95 + i % 5}))
        if i % 10 == 0:
            s.run(c.RecordObservation("p1", distress=i % 3, moaa_s=5, rass=0, note=plan["observation_note"]))
    note = s.run(c.RecordNote("p1", "observation", plan["session_note"], somatic=plan["somatic"]))[-1]
    s.run(c.Amend("p1", note.seq, plan["correction"], plan["reason"], target_participant_id="p1"))
    s.run(c.RecordObservation("p1", distress=3, moaa_s=4, rass=1, note=plan["observation_note"]))
    for escalation in list(s.state.open_escalations):
        s.run(c.ResolveEscalation(escalation.id, plan["reason"], plan["reason"]), LEE)
    # Readings with absurd times, as an old log may hold them.
    template = next((e for e in s.log if e.kind == "vitals_recorded"), None)
    for when in plan["absurd"]:
        data = {"vitals": {"sbp": 130, "dbp": 85, "hr": 70, "spo2": 97}, "observed_at": when, "late": True}
        if template is not None:
            data = {**template.data, **data}
        event = Event("s1", s.state.seq + 1, s.now, "fay", upcast("vitals_recorded", data), "p1")
        s.state = evolve(s.state, event)
        s.log.append(event)
    if plan["outcome"] == "transferred":
        s.run(c.Transfer("p1", plan["reason"], plan["signal"]))
    elif plan["outcome"] == "discharged" and not plan["dosed"]:
        s.run(c.Discharge("p1"))
    snapshot = Snapshot(
        session_id="s1",
        events=tuple(s.log),
        state=s.state,
        last_event_seq=s.state.seq,
        last_event_hash="0" * 64,
        chain_problem=None,
        room_name=plan["signal"],
    )
    exported_at = s.now + timedelta(minutes=1)
    records = [
        build_record(snapshot, pid, s.policy, exported_at=exported_at, exported_by="lee") for pid in ("p1", "p2")
    ]
    return s, records


def check_every_format(record: ChartRecord) -> None:
    pdf = pdf_export(record)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 1
    for page in reader.pages:
        page.extract_text()

    data = json_export(record)
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data

    text = csv_export(record)
    lines = text.split("\r\n")
    comments = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    assert lines[comments - 1].startswith(f"# outcome={data['outcome']['status']}: ")
    body = io.StringIO("\r\n".join(lines[comments:]))  # the `#` lines, then the table
    rows = list(csv.reader(body))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == len(data["timeline"]) + 1
    for row, entry in zip(rows[1:], data["timeline"], strict=True):
        assert int(row[0]) == entry["seq"] and row[5].lstrip("'") == entry["summary"].lstrip("'")

    bundle = Bundle.model_validate(fhir_export(record))
    assert bundle.type == "collection"


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(plans())
def test_every_format_of_any_record_comes_out_and_parses(plan: dict[str, Any]) -> None:
    s, records = build(plan)
    for record in records:
        check_every_format(record)
    mine = records[0].data
    # Facts as recorded: the domain trims surrounding white space at input; the export changes nothing.
    assert mine["participant"]["display_name"] == plan["name"].strip()
    assert mine["participant"]["chart_id"] == plan["chart"].strip()
    assert mine["screening"]["notes"] == plan["screening_notes"]
    [intention] = [n for n in mine["notes"] if n["kind"] == "intention"]
    assert intention["text"] == plan["session_note"].strip() and intention["somatic"] == plan["somatic"].strip()
    assert len(mine["vitals"]) == plan["readings"] + len(plan["absurd"])
    zipped = zipfile.ZipFile(io.BytesIO(archive(records, datetime.now(UTC))))
    assert zipped.testzip() is None and len(zipped.namelist()) == 8


def test_the_longest_texts_and_hundreds_of_entries_export_in_good_time() -> None:
    """The worst case the API allows, every field at its limit, 300 readings, absurd dates."""
    long = "\u6f22\u5b57 <&> e\u0301 \U0001f600 " * 2000
    plan = {
        "name": long[: LIMITS["name"]],
        "chart": long[: LIMITS["chart"]],
        "other_name": "x" + long[: LIMITS["name"] - 1],
        "other_chart": "00",
        "screening_notes": long[: LIMITS["note"]],
        "sedative": long[: LIMITS["signal"]],
        "signal": long[: LIMITS["signal"]],
        "if_stop": long[:1000],
        "plan": long[: LIMITS["plan"]],
        "dosed": True,
        "readings": 300,
        "observation_note": ("A" * LIMITS["note"]),
        "session_note": long[: LIMITS["session_note"]],
        "somatic": long[: LIMITS["reason"]],
        "reason": long[: LIMITS["reason"]],
        "correction": long[: LIMITS["reason"]],
        "absurd": ABSURD,
        "outcome": "transferred",
    }
    started = time.monotonic()
    _s, records = build(plan)
    check_every_format(records[0])
    assert time.monotonic() - started < 120  # a chart that spins on a year-1 reading never gets here
    chart = records[0].data
    assert chart["outcome"]["status"] == "transferred"
    assert sorted(
        v["observed_at"] for v in chart["vitals"] if v["observed_at"][:4] in ("0001", "1970", "9999")
    ) == sorted(ABSURD)


def test_an_observation_note_at_the_length_limit_makes_a_pdf() -> None:
    """The report that started this: reportlab's LayoutError for one long observation note (a table
    row taller than a page)."""
    s = SessionBuilder().opened().checked_in("fay").with_participant("p1").ready("p1").dosed("p1")
    s.run(c.RecordObservation("p1", distress=1, note=("Sat quietly, then spoke at length. " * 120)[: LIMITS["note"]]))
    snapshot = Snapshot("s1", tuple(s.log), s.state, s.state.seq, "0" * 64, None)
    record = build_record(snapshot, "p1", s.policy, exported_at=s.now)
    assert len(PdfReader(io.BytesIO(pdf_export(record))).pages) >= 2


def test_without_dejavu_the_pdf_falls_back_to_a_bundled_font(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.export.pdf import layout

    monkeypatch.setattr(layout, "FONT_DIRS", ())
    monkeypatch.setattr(layout, "FONTS", None)
    s = SessionBuilder().opened().checked_in("fay").with_participant("p1", "Zoë \u05e9\u05dc\u05d5\u05dd \U0001f600")
    snapshot = Snapshot("s1", tuple(s.log), s.state, s.state.seq, "0" * 64, None)
    record = build_record(snapshot, "p1", s.policy, exported_at=s.now)
    content = pdf_export(record)
    assert layout.fonts()[0] == "HS-Vera-Regular"
    assert "Zoë" in PdfReader(io.BytesIO(content)).pages[0].extract_text()
