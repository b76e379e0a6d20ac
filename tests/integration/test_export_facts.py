"""The chart record states facts as they were recorded (issue 9, items 4 and 6).

A group session whose participants have names that overlap ("Robin T." and "Morgan T.", "Ann"
inside "Anna Ann-Marie") and chart ids that are short digit strings also found in every timestamp
("00", "11", "2026"). Each participant's record keeps their notes word for word, every time exactly
as on the log, and every format (and the lead's zip) comes out. And a record says what happened:
left before dosing, still in the session, discharged after grounding, transferred.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from pypdf import PdfReader

from tests.conftest import Clock
from tests.integration.helpers import (
    CONSENT,
    NORMAL_VITALS,
    add_participant,
    check_in,
    ok,
    open_session,
    part,
    screen,
    sess,
)

Clients = Callable[[str], TestClient]
FORMATS = ("pdf", "csv", "json", "fhir.json")
PEOPLE = {
    "robin": ("Robin T.", "00"),
    "morgan": ("Morgan T.", "11"),
    "ann": ("Ann", "2026"),
    "anna": ("Anna Ann-Marie", "T."),
}
ROBIN_NOTE = "Partner: Robin T., 555-0100. Morgan T. sat beside Ann at 11:00; chart 00 and 11 checked 2026."


def _pdf_text(content: bytes) -> str:
    return " ".join(" ".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(content)).pages).split())


def _every_format(client: TestClient, sid: str, pid: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for suffix in FORMATS:
        response = client.get(part(sid, pid, f"/export.{suffix}"))
        assert response.status_code == 200, (suffix, response.text)
        out[suffix] = response
    Bundle.model_validate(json.loads(out["fhir.json"].text))
    return out


def test_no_export_rewrites_text_or_times_for_overlapping_names_and_digit_chart_ids(
    client_for: Clients, clock: Clock
) -> None:
    farah, lena = client_for("farah"), client_for("lena")
    sid = open_session(farah, kind="group")
    ids = {key: add_participant(farah, sid, name, chart) for key, (name, chart) in PEOPLE.items()}
    check_in(farah, sid, "farah")
    texts: dict[str, str] = {}
    for key, pid in ids.items():
        clock.advance(minutes=11)
        screen(farah, sid, pid, notes=f"{PEOPLE[key][0]} screened; others: Robin T., Morgan T., Ann, 00, 11, 2026")
        text = ROBIN_NOTE if key == "robin" else f"{PEOPLE[key][0]} spoke with Robin T. and Ann (chart 2026) at 00:11"
        texts[key] = text
        ok(farah.post(part(sid, pid, "/notes"), json={"kind": "intention", "text": text}), 201)
        ok(farah.post(part(sid, pid, "/observations"), json={"note": f"Observed {text}"}))

    log = ok(farah.get(sess(sid, "/events")))
    for key, pid in ids.items():
        name, chart = PEOPLE[key]
        formats = _every_format(farah, sid, pid)
        record = json.loads(formats["json"].text)
        assert record["participant"]["display_name"] == name and record["participant"]["chart_id"] == chart
        # the free text is exactly as written, in the notes, the screening and the timeline
        [intention] = [n for n in record["notes"] if n["kind"] == "intention"]
        assert intention["text"] == texts[key]
        assert record["screening"]["notes"].endswith("others: Robin T., Morgan T., Ann, 00, 11, 2026")
        assert any(row["summary"] == f"Intention note: {texts[key]}" for row in record["timeline"])
        # every time is the log's own, and only this participant's (and session-wide) events are here
        by_seq = {e["seq"]: e for e in log}
        for row in record["timeline"]:
            assert row["at"] == by_seq[row["seq"]]["at"] or row["at"].replace("+00:00", "Z") == by_seq[row["seq"]]["at"]
            assert by_seq[row["seq"]].get("participant_id") in (pid, None)
        assert record["generated_at"].startswith("2026") or record["generated_at"][:4].isdigit()
        rows = list(csv.DictReader(line for line in formats["csv"].text.splitlines() if not line.startswith("#")))
        assert any(r["summary"] == f"Intention note: {texts[key]}" for r in rows)
        assert [r["at"] for r in rows] == [r["at"] for r in record["timeline"]]
        assert texts[key] in _pdf_text(formats["pdf"].content)

    zipped = lena.get(sess(sid, "/export.zip"))
    assert zipped.status_code == 200, zipped.text
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        bundles = [n for n in archive.namelist() if n.endswith(".fhir.json")]
        assert len(bundles) == len(PEOPLE)
        for name in bundles:
            Bundle.model_validate(json.loads(archive.read(name)))


def test_a_training_partner_is_named_by_role_in_structured_fields_and_as_written_in_text(
    client_for: Clients, clock: Clock
) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    sid = open_session(farah, kind="dyad_training")
    ada = add_participant(farah, sid, "Ada", "A1")
    bea = add_participant(farah, sid, "Bea", "B2")
    check_in(farah, sid, "farah")
    screen(farah, sid, ada)
    ok(farah.put(part(sid, ada, "/consent"), json=CONSENT))
    ok(farah.post(part(sid, ada, "/support"), json={"kind": "participant", "id": bea}))
    ok(doc.post(part(sid, ada, "/dose"), json={"route": "sublingual", "dose_mg": 100}))
    ok(farah.post(part(sid, ada, "/notes"), json={"kind": "observation", "text": "Bea (B2) held her hand"}), 201)

    record = json.loads(farah.get(part(sid, ada, "/export.json")).text)
    assert record["support"]["current"] == [{"kind": "participant", "name": "training partner"}]
    [assigned] = [row for row in record["timeline"] if row["kind"] == "support_assigned"]
    assert assigned["data"]["support"] == {"kind": "participant", "role": "training partner"}
    assert assigned["summary"] == "Support person assigned: training partner"
    [note] = [n for n in record["notes"] if n["kind"] == "observation"]
    assert note["text"] == "Bea (B2) held her hand"  # this participant's note, kept as written
    structured = json.dumps({k: v for k, v in record.items() if k not in ("notes", "timeline")})
    assert bea not in json.dumps(record) and "B2" not in structured
    assert "training partner" in _pdf_text(farah.get(part(sid, ada, "/export.pdf")).content)


# ------------------------------------------------------------------ item 6: the outcome


def test_the_outcome_says_what_happened_in_every_format(client_for: Clients, clock: Clock) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    sid = open_session(farah, kind="group")
    left = add_participant(farah, sid, "Lou Left", "L-1")
    here = add_participant(farah, sid, "Hal Here", "H-1")
    done = add_participant(farah, sid, "Dana Done", "D-1")
    check_in(farah, sid, "farah")
    screen(farah, sid, left)
    ok(farah.post(part(sid, left, "/discharge")))  # changed their mind after screening

    screen(farah, sid, done)
    ok(farah.put(part(sid, done, "/consent"), json=CONSENT))
    ok(farah.post(part(sid, done, "/support"), json={"kind": "staff", "id": "farah"}))
    ok(doc.post(part(sid, done, "/dose"), json={"route": "sublingual", "dose_mg": 100}))
    ok(farah.post(part(sid, done, "/phase"), json={"to": "re_entry"}))
    ok(farah.post(part(sid, done, "/phase"), json={"to": "grounding"}))
    clock.advance(minutes=121)
    ok(farah.post(part(sid, done, "/vitals"), json=NORMAL_VITALS))
    ok(farah.post(part(sid, done, "/observations"), json={"distress": 0, "moaa_s": 5, "rass": 0}))
    state = ok(farah.get(part(sid, done)))
    for item in state["checklist"]:
        if not item["automatic"] and not item["done"]:
            ok(farah.post(part(sid, done, f"/checklist/{item['key']}"), json={"done": True}))
    ok(farah.post(part(sid, done, "/discharge")))

    expected = {
        left: ("left_before_dosing", "left before dosing", "finished"),
        here: ("in_session", "still in the session", "arrived"),
        done: ("discharged_after_grounding", "discharged after grounding, grounding checklist complete", "finished"),
    }
    for pid, (status, words, encounter_status) in expected.items():
        formats = _every_format(farah, sid, pid)
        record = json.loads(formats["json"].text)
        assert record["outcome"]["status"] == status and record["outcome"]["text"] == words
        pdf = _pdf_text(formats["pdf"].content)
        assert words in pdf.lower()
        assert f"# outcome={status}: {words}" in formats["csv"].text.splitlines()
        bundle = json.loads(formats["fhir.json"].text)
        [encounter] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter"]
        assert encounter["status"] == encounter_status
        if status == "in_session":
            assert "hospitalization" not in encounter and record["outcome"]["kind"] is None
            continue
        assert encounter["hospitalization"]["dischargeDisposition"]["text"].lower() == words
        rows = list(csv.DictReader(x for x in formats["csv"].text.splitlines() if not x.startswith("#")))
        [discharged] = [r for r in rows if r["kind"] == "discharged"]
        if pid == left:
            assert discharged["summary"] == "Left before dosing (discharged from screened)"
            assert "checklist complete" not in pdf and record["checklist"] is None
        else:
            assert discharged["summary"] == "Discharged after grounding (grounding checklist complete)"
            assert record["checklist"]["complete"] is True and record["outcome"]["checklist_complete"] is True


def test_the_checklist_summary_is_the_discharge_rule(client_for: Clients, clock: Clock) -> None:
    """A dosed participant still in the session: the record's missing items are exactly those the
    discharge rule would refuse with."""
    farah, doc = client_for("farah"), client_for("dr.ade")
    sid = open_session(farah, kind="group")
    pid = add_participant(farah, sid, "Cy", "C-9")
    check_in(farah, sid, "farah")
    screen(farah, sid, pid)
    ok(farah.put(part(sid, pid, "/consent"), json=CONSENT))
    ok(farah.post(part(sid, pid, "/support"), json={"kind": "staff", "id": "farah"}))
    ok(doc.post(part(sid, pid, "/dose"), json={"route": "sublingual", "dose_mg": 100}))
    ok(farah.post(part(sid, pid, "/phase"), json={"to": "re_entry"}))
    ok(farah.post(part(sid, pid, "/phase"), json={"to": "grounding"}))
    clock.advance(minutes=30)
    refused = farah.post(part(sid, pid, "/discharge"))
    assert refused.status_code == 409
    missing = refused.json()["error"]["details"]["missing"]
    record = json.loads(farah.get(part(sid, pid, "/export.json")).text)
    assert record["checklist"]["missing"] == missing and record["checklist"]["complete"] is False
    assert record["outcome"]["status"] == "in_session"
    assert "still in the session" in _pdf_text(farah.get(part(sid, pid, "/export.pdf")).content)


def test_a_note_at_the_api_limit_in_every_format_and_the_zip(client_for: Clients, clock: Clock) -> None:
    """Issue 9, item 5, through the API: the longest observation note and session note the API
    accepts, with markup-special characters and scripts the built-in PDF fonts cannot draw."""
    farah, lena = client_for("farah"), client_for("lena")
    sid = open_session(farah, kind="group")
    pid = add_participant(farah, sid, "Zoë <b>&amp; \u05e9\u05dc\u05d5\u05dd", "K&<1>")
    note = ("Quiet; then <tears> & laughter \u6f22\u5b57 e\u0301 \U0001f600. " * 100)[:4000]
    ok(farah.post(part(sid, pid, "/observations"), json={"distress": 1, "note": note}))
    long_note = ("Integration & <theme> \u0645\u0631\u062d\u0628\u0627 " * 300)[:8000].strip()
    ok(farah.post(part(sid, pid, "/notes"), json={"kind": "integration", "text": long_note}), 201)
    formats = _every_format(farah, sid, pid)
    record = json.loads(formats["json"].text)
    assert {n["text"] for n in record["notes"]} == {note.strip(), long_note}
    assert len(PdfReader(io.BytesIO(formats["pdf"].content)).pages) >= 2
    assert "<tears> & laughter" in _pdf_text(formats["pdf"].content)
    zipped = lena.get(sess(sid, "/export.zip"))
    assert zipped.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(zipped.content)).testzip() is None


def test_chart_ids_that_make_the_same_folder_name_both_reach_the_zip(client_for: Clients) -> None:
    farah, lena = client_for("farah"), client_for("lena")
    sid = open_session(farah, kind="group")
    first = add_participant(farah, sid, "First", "KAP/4")
    second = add_participant(farah, sid, "Second", "KAP_4")
    response = lena.get(sess(sid, "/export.zip"))
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = archive.namelist()
        assert len(names) == len(set(names)) == 8
        records = [n for n in names if n.endswith(".json") and not n.endswith(".fhir.json")]
        found = {json.loads(archive.read(n))["participant"]["id"] for n in records}
    assert found == {first, second}
