"""The chart record: PDF, CSV, JSON and FHIR exports of one participant, the lead's session
archive, and the tamper-evident log behind them.

One training-dyad session is built through the JSON API with the hand-moved clock: Ada journeys,
her partner Bea supports her. Ada's record must say everything a monitoring form asks for, hold
none of Bea's entries, refer to Bea in structured fields only as "training partner" (never by
chart id or id), and keep free text that names Bea exactly as it was written."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from pypdf import PdfReader
from sqlalchemy.engine import make_url

from app.store.db import make_engine, unit_of_work
from app.store.events import read_records, verify_chain
from tests.conftest import Clock
from tests.integration.helpers import (
    API,
    CONSENT,
    NORMAL_VITALS,
    add_participant,
    assert_error,
    check_in,
    ok,
    open_session,
    part,
    screen,
    sess,
)

Clients = Callable[[str], TestClient]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
MANUAL_ITEMS = ("oriented", "steady_gait", "nausea_settled", "followup_scheduled", "belongings_returned")
DISCLAIMER = "Holdspace supports clinical judgement; it does not replace it."
ACTION = "Lead sat with her and slowed the breath together; hand touch as agreed"
OUTCOME = "Settled to distress 1 within ten minutes"
LOINC_VITALS = {"8480-6", "8462-4", "8867-4", "59408-5", "9279-1"}


@dataclass
class Dyad:
    sid: str
    ada: str
    bea: str
    dose_seq: int
    note_seq: int
    dosed_at: datetime


ADA = {"name": "Ada Lindqvist", "chart": "KAP-1001"}
BEA = {"name": "Bea Okonkwo", "chart": "KAP-2002"}


def _seq(client: TestClient, sid: str, kind: str, pid: str) -> int:
    found = [
        e["seq"] for e in ok(client.get(sess(sid, "/events"))) if e["kind"] == kind and e.get("participant_id") == pid
    ]
    assert found, kind
    return found[-1]


@pytest.fixture
def dyad(client_for: Clients, clock: Clock) -> Dyad:
    farah, doc, lena = client_for("farah"), client_for("dr.ade"), client_for("lena")
    sid = open_session(farah, kind="dyad_training")
    ada = add_participant(farah, sid, ADA["name"], ADA["chart"])
    bea = add_participant(farah, sid, BEA["name"], BEA["chart"])
    check_in(farah, sid, "farah")

    # Screening: a raised BP that the prescriber clears; a concomitant sedative.
    flagged = screen(farah, sid, ada, sbp=144, dbp=92, concomitant_sedatives=["lorazepam 0.5 mg"], notes="slept well")
    assert flagged["screening_cleared"] is False
    ok(doc.post(part(sid, ada, "/screening/clear"), json={"note": "Rechecked 132/84 after rest"}))
    ok(farah.put(part(sid, ada, "/consent"), json=CONSENT))
    ok(farah.post(part(sid, ada, "/notes"), json={"kind": "intention", "text": "To meet grief with curiosity"}), 201)
    ok(farah.post(part(sid, ada, "/support"), json={"kind": "participant", "id": bea}))
    screen(farah, sid, bea, sbp=117, dbp=71)
    ok(farah.post(part(sid, bea, "/vitals"), json={"sbp": 117, "dbp": 71, "hr": 66, "spo2": 99}))
    ok(farah.post(part(sid, bea, "/observations"), json={"note": "Bea-only remark: calm and ready"}))

    clock.advance(minutes=5)
    dosed_at = clock.now
    ok(doc.post(part(sid, ada, "/dose"), json={"route": "sublingual", "dose_mg": 200}))
    dose_seq = _seq(farah, sid, "dose_administered", ada)

    def at(minutes: float) -> None:
        clock.now = dosed_at + timedelta(minutes=minutes)

    at(5)
    ok(farah.post(part(sid, ada, "/phase"), json={"to": "journeying"}))
    at(15)
    ok(farah.post(part(sid, ada, "/vitals"), json={"sbp": 134, "dbp": 86, "hr": 84, "spo2": 98, "rr": 14}))
    at(20)
    distress = {"distress": 3, "moaa_s": 4, "rass": 1, "note": "Crying, calling out", "parts": ["critic"]}
    ok(farah.post(part(sid, ada, "/observations"), json=distress))
    [alarm] = [e for e in ok(lena.get(f"{API}/escalations")) if e["participant_id"] == ada]
    at(21)
    ok(lena.post(f"{API}/escalations/{alarm['id']}/ack"))
    at(24)
    ok(lena.post(f"{API}/escalations/{alarm['id']}/resolve", json={"action": ACTION, "outcome": OUTCOME}))
    at(25)
    ok(farah.post(part(sid, ada, "/pause"), json={"requested_by": "participant", "reason": "Needs a moment"}))
    at(28)
    resume = {"requested_by": "participant", "participant_wishes_to_continue": True}
    ok(farah.post(part(sid, ada, "/resume"), json=resume))
    at(30)
    settled = {"distress": 1, "moaa_s": 4, "rass": 0, "note": "Bea held the space well"}
    ok(farah.post(part(sid, ada, "/observations"), json=settled))
    ok(farah.post(part(sid, ada, "/consent/checkin"), json={"ok": True, "note": "nods, wants to go on"}))
    at(40)
    ok(farah.post(part(sid, ada, "/vitals"), json={"sbp": 152, "dbp": 94, "hr": 92, "spo2": 97, "rr": 16}))
    at(45)
    # Attempts to take Bea away from Ada while Ada is altered: refused, and on the record.
    assert_error(farah.delete(part(sid, ada, f"/support/{bea}")), 409, "dyad_locked")
    assert_error(farah.post(part(sid, bea, "/discharge")), 409, "dyad_locked")
    ok(farah.post(part(sid, ada, "/consent/withdraw"), json={"items": ["touch:shoulder"]}))
    at(55)
    late = (dosed_at + timedelta(minutes=50)).isoformat()
    ok(farah.post(part(sid, ada, "/vitals"), json={"sbp": 138, "dbp": 88, "hr": 80, "spo2": 98, "observed_at": late}))
    at(60)
    note = {"kind": "observation", "text": "Spoke about her father; long silence", "somatic": "warmth in chest"}
    ok(farah.post(part(sid, ada, "/notes"), json=note), 201)
    note_seq = _seq(farah, sid, "note_recorded", ada)
    at(62)
    amend = {"event_seq": note_seq, "correction": "Spoke about her grandfather", "reason": "Misheard at the time"}
    ok(farah.post(part(sid, ada, "/amend"), json=amend))
    at(70)
    ok(farah.post(part(sid, ada, "/phase"), json={"to": "re_entry"}))
    at(90)
    ok(farah.post(part(sid, ada, "/vitals"), json={"sbp": 128, "dbp": 82, "hr": 76, "spo2": 98}))
    at(100)
    ok(farah.post(part(sid, ada, "/phase"), json={"to": "grounding"}))
    at(121)
    ok(farah.post(part(sid, ada, "/vitals"), json=NORMAL_VITALS))
    ok(farah.post(part(sid, ada, "/observations"), json={"distress": 0, "moaa_s": 5, "rass": 0}))
    for item in MANUAL_ITEMS:
        ok(farah.post(part(sid, ada, f"/checklist/{item}"), json={"done": True}))
    transport = {"done": True, "note": "Partner collects her at the door"}
    ok(farah.post(part(sid, ada, "/checklist/transport_confirmed"), json=transport))
    at(122)
    assert ok(farah.post(part(sid, ada, "/discharge")))["phase"] == "discharged"
    ok(farah.post(part(sid, bea, "/discharge")))
    at(130)
    integration = {"kind": "integration", "text": "Theme: letting the grief be witnessed"}
    ok(farah.post(part(sid, ada, "/notes"), json=integration), 201)
    return Dyad(sid, ada, bea, dose_seq, note_seq, dosed_at)


def export(client: TestClient, d: Dyad, pid: str, suffix: str, media: str) -> Any:
    response = client.get(part(d.sid, pid, f"/export.{suffix}"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media)
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and disposition.endswith(f'.{suffix}"')
    return response


def last_hash(db_url: str, sid: str) -> tuple[int, str]:
    engine = make_engine(db_url)
    try:
        with unit_of_work(engine) as db:
            last = read_records(db, sid)[-1]
            return last.seq, last.hash
    finally:
        engine.dispose()


def flat(text: str) -> str:
    return " ".join(text.split())


def assert_private(text: str, other: dict[str, str], other_id: str) -> None:
    """Another participant's chart id and id never appear (no free text in these records names them)."""
    for secret in (other["chart"], other_id):
        assert secret not in text, secret


# ------------------------------------------------------------------ PDF


def test_the_pdf_is_a_readable_clinical_note(client_for: Clients, dyad: Dyad, db_url: str) -> None:
    farah = client_for("farah")
    response = export(farah, dyad, dyad.ada, "pdf", "application/pdf")
    disposition = response.headers["content-disposition"]
    assert ADA["chart"] in disposition and "Ada" not in disposition and "Lindqvist" not in disposition
    seq, digest = last_hash(db_url, dyad.sid)
    assert response.headers["x-holdspace-last-event-hash"] == digest

    reader = PdfReader(io.BytesIO(response.content))
    pages = [page.extract_text() or "" for page in reader.pages]
    text = flat("\n".join(pages))
    for expected in (
        ADA["name"],
        ADA["chart"],
        "200 mg",
        "sublingual",
        "dr.ade",
        "lorazepam 0.5 mg",
        "Rechecked 132/84 after rest",  # the prescriber's clearance
        "144/92",  # BP before dosing (screening)
        "152/94",  # BP about 40 min after the dose
        "122/78",  # BP before the end
        "MOAA/S",
        "RASS",
        ACTION,
        OUTCOME,
        "Partner drives her home",  # transport plan
        "Spoke about her grandfather",  # the amendment
        "training partner",  # the support person, by role
        "Bea held the space well",  # a note naming the partner, kept as written
        "Discharged",
        digest,
        f"#{seq}",
    ):
        assert expected in text, expected
    # the footer is on every page
    for page in pages:
        assert DISCLAIMER in flat(page) and digest in flat(page)
    assert_private(text, BEA, dyad.bea)
    assert "Bea-only remark" not in text and "117/71" not in text

    # The first page as a picture, for people to look at.
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = ARTIFACTS / "chart-record.pdf"
    pdf.write_bytes(response.content)
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed: no PNG of the first page")
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "110",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(pdf),
            str(ARTIFACTS / "chart-record"),
        ],
        check=True,
        timeout=60,
    )
    png = ARTIFACTS / "chart-record.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


# ------------------------------------------------------------------ CSV and JSON


def test_the_csv_is_the_timeline_with_the_last_event_hash(client_for: Clients, dyad: Dyad, db_url: str) -> None:
    farah = client_for("farah")
    text = export(farah, dyad, dyad.ada, "csv", "text/csv").text
    seq, digest = last_hash(db_url, dyad.sid)
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert f"# last_event_hash={digest}" in comments and f"# last_event_seq={seq}" in comments
    assert f"# chart_id={ADA['chart']}" in comments and "# chain_intact=true" in comments
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    assert list(rows[0]) == [
        "seq",
        "at",
        "kind",
        "actor",
        "device",
        "summary",
        "observed_at",
        "late",
        "amends_seq",
        "amended_by_seq",
        "at_local",
        "observed_at_local",
    ]
    by_seq = {int(r["seq"]): r for r in rows}
    assert [int(r["seq"]) for r in rows] == sorted(by_seq)
    dose = by_seq[dyad.dose_seq]
    assert dose["kind"] == "dose_administered" and dose["actor"] == "dr.ade" and "200 mg sublingual" in dose["summary"]
    note = by_seq[dyad.note_seq]
    [amendment] = [r for r in rows if r["kind"] == "amended"]
    assert note["amended_by_seq"] == amendment["seq"] and amendment["amends_seq"] == str(dyad.note_seq)
    late = [r for r in rows if r["kind"] == "vitals_recorded" and r["late"] == "yes"]
    assert len(late) == 1 and late[0]["observed_at"] == (dyad.dosed_at + timedelta(minutes=50)).isoformat()
    kinds = {r["kind"] for r in rows}
    assert {"session_opened", "escalation_raised", "escalation_resolved", "paused", "resumed", "discharged"} <= kinds
    refusals = [r for r in rows if r["kind"] == "command_refused"]
    assert len(refusals) == 2 and all("dyad_locked" in r["summary"] for r in refusals)
    # the refusal's words as recorded (the dyad lock that refused it is about both of them)
    assert any(f"{BEA['name']} is the only support person of {ADA['name']}" in r["summary"] for r in refusals)
    # only Ada's events: none of Bea's vitals or observations
    assert "117/71" not in text and "Bea-only remark" not in text
    assert_private(text, BEA, dyad.bea)


def test_the_json_record_covers_the_monitoring_form(client_for: Clients, dyad: Dyad, db_url: str) -> None:
    farah = client_for("farah")
    record = json.loads(export(farah, dyad, dyad.ada, "json", "application/json").text)
    seq, digest = last_hash(db_url, dyad.sid)
    assert (record["last_event_seq"], record["last_event_hash"]) == (seq, digest)
    assert record["chain"] == {"intact": True, "broken_at_seq": None, "problem": None}
    assert record["participant"]["display_name"] == ADA["name"] and record["participant"]["chart_id"] == ADA["chart"]
    session = record["session"]
    assert session["kind"] == "dyad_training" and session["room"] == "Cedar Room" and session["lead"] == "lena"
    assert session["facilitators"] == ["farah", "theo"]
    assert record["support"]["current"] == [{"kind": "participant", "name": "training partner"}]
    [assigned] = [e for e in record["timeline"] if e["kind"] == "support_assigned"]
    assert assigned["data"]["support"] == {"kind": "participant", "role": "training partner"}
    assert "training partner" in assigned["summary"]
    assert record["concomitant_sedatives"] == ["lorazepam 0.5 mg"]
    screening = record["screening"]
    assert screening["cleared_by"] == "dr.ade" and screening["clearance_note"] == "Rechecked 132/84 after rest"
    assert record["dose"] == {
        "medication": "ketamine",
        "route": "sublingual",
        "dose_mg": 200,
        "administered_at": dyad.dosed_at.isoformat(),
        "prescriber": "dr.ade",
    }
    monitoring = record["monitoring"]
    assert monitoring["start"] == dyad.dosed_at.isoformat() and monitoring["minutes"] == 122
    bp = record["blood_pressure"]
    assert (bp["before_dosing"]["sbp"], bp["before_dosing"]["dbp"], bp["before_dosing"]["source"]) == (
        144,
        92,
        "screening",
    )
    assert (bp["about_40_min"]["sbp"], bp["about_40_min"]["minutes_after_dose"]) == (152, 40)
    assert (bp["before_end"]["sbp"], bp["before_end"]["dbp"], bp["before_end"]["minutes_after_dose"]) == (122, 78, 121)
    in_range = record["vitals_in_range"]
    assert in_range["before_dosing"]["in_range"] is False and "dr.ade" in in_range["before_dosing"]["detail"]
    assert in_range["before_leaving"]["in_range"] is True
    assert [s["moaa_s"] for s in record["scales"]] == [4, 4, 5] and [s["rass"] for s in record["scales"]] == [1, 0, 0]
    [event] = record["adverse_events"]
    assert event["priority"] == "medium" and event["status"] == "resolved"
    assert (event["action"], event["outcome"], event["acknowledged_by"]) == (ACTION, OUTCOME, "lena")
    consent = record["consent"]
    assert consent["agreement"]["touch"] == ["hand", "shoulder"] and consent["as_it_stands"]["touch"] == ["hand"]
    assert consent["withdrawals"][0]["items"] == ["touch:shoulder"]
    assert [(p["what"], p["requested_by"]) for p in record["pauses_and_stops"]] == [
        ("pause", "participant"),
        ("resume", "participant"),
    ]
    assert record["transport"]["plan"] == "Partner drives her home" and record["transport"]["confirmed_by"] == "farah"
    assert record["checklist"]["complete"] is True
    ticks = {t["item"]: t for t in record["checklist_ticks"]}
    assert set(ticks) == {*MANUAL_ITEMS, "transport_confirmed"} and all(t["by"] == "farah" for t in ticks.values())
    assert record["outcome"]["kind"] == "discharged" and record["outcome"]["by"] == "farah"
    notes = {n["seq"]: n for n in record["notes"]}
    assert notes[dyad.note_seq]["amendments"][0]["correction"] == "Spoke about her grandfather"
    assert {n["kind"] for n in record["notes"]} >= {"intention", "observation", "integration"}
    assert [e["seq"] for e in record["timeline"]] == sorted(e["seq"] for e in record["timeline"])
    assert_private(json.dumps(record), BEA, dyad.bea)

    # ... and Bea's record holds none of Ada's entries; the refusal of Bea's discharge keeps its words.
    bea = json.loads(export(farah, dyad, dyad.bea, "json", "application/json").text)
    assert bea["participant"]["chart_id"] == BEA["chart"] and bea["dose"] is None
    assert any(f"is the only support person of {ADA['name']}" in r["message"] for r in bea["refusals"])
    assert_private(json.dumps(bea), ADA, dyad.ada)
    assert "Crying" not in json.dumps(bea) and [v["sbp"] for v in bea["vitals"]] == [117]


# ------------------------------------------------------------------ FHIR


def test_the_fhir_bundle_is_valid_r4_with_loinc_vitals(client_for: Clients, dyad: Dyad, db_url: str) -> None:
    farah = client_for("farah")
    body = json.loads(export(farah, dyad, dyad.ada, "fhir.json", "application/fhir+json").text)
    bundle = Bundle.model_validate(body)
    assert bundle.type == "collection"
    resources: dict[str, list[Any]] = {}
    for entry in bundle.entry or []:
        resources.setdefault(entry.resource.get_resource_type(), []).append(entry.resource)
    assert {
        "Patient",
        "Encounter",
        "Observation",
        "MedicationAdministration",
        "Consent",
        "QuestionnaireResponse",
        "Flag",
        "Provenance",
    } <= set(resources)
    [patient] = resources["Patient"]
    assert patient.identifier[0].value == ADA["chart"]
    loinc = {
        coding.code
        for obs in resources["Observation"]
        for coding in obs.code.coding or []
        if coding.system == "http://loinc.org"
    }
    assert LOINC_VITALS <= loinc
    scales = {
        obs.code.coding[0].code for obs in resources["Observation"] if obs.code.coding[0].system != "http://loinc.org"
    }
    assert scales == {"distress", "moaa_s", "rass"}
    [med] = resources["MedicationAdministration"]
    assert med.dosage.dose.value == 200 and med.dosage.dose.unit == "mg" and med.dosage.route.text == "sublingual"
    assert med.performer[0].actor.display == "dr.ade" and med.medicationCodeableConcept.text == "ketamine"
    [flag] = resources["Flag"]
    assert {x.valueString for x in flag.extension} == {ACTION, OUTCOME}
    [questionnaire] = resources["QuestionnaireResponse"]
    assert questionnaire.status == "completed" and {i.linkId for i in questionnaire.item} >= set(MANUAL_ITEMS)
    [provenance] = resources["Provenance"]
    _seq_, digest = last_hash(db_url, dyad.sid)
    assert provenance.entity[0].what.identifier.value == digest and bundle.identifier.value == digest
    assert len(provenance.target) == len(bundle.entry) - 1
    assert_private(json.dumps(body), BEA, dyad.bea)


# ------------------------------------------------------------------ who may export what


def test_exports_follow_room_visibility_and_the_zip_is_for_leads(client_for: Clients, dyad: Dyad) -> None:
    mika, lou = client_for("mika"), client_for("lou")  # Willow Room only
    for suffix in ("pdf", "csv", "json", "fhir.json"):
        assert_error(mika.get(part(dyad.sid, dyad.ada, f"/export.{suffix}")), 404, "not_found")
    assert_error(lou.get(sess(dyad.sid, "/export.zip")), 404, "not_found")
    farah = client_for("farah")
    assert_error(farah.get(part(dyad.sid, "nobody", "/export.json")), 404, "not_found")
    assert_error(farah.get(sess("no-such-session", "/participants/x/export.pdf")), 404, "not_found")
    assert_error(farah.get(sess(dyad.sid, "/export.zip")), 403, "forbidden")

    lena = client_for("lena")
    response = lena.get(sess(dyad.sid, "/export.zip"))
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = archive.namelist()
        assert len(names) == 8
        for chart in (ADA["chart"], BEA["chart"]):
            mine = sorted(n for n in names if n.startswith(f"{chart}/"))
            assert mine == [f"{chart}/chart-record_{chart}_{dyad.sid}.{s}" for s in ("csv", "fhir.json", "json", "pdf")]
        ada_json = json.loads(archive.read(f"{ADA['chart']}/chart-record_{ADA['chart']}_{dyad.sid}.json"))
        assert ada_json["participant"]["chart_id"] == ADA["chart"]
        Bundle.model_validate(
            json.loads(archive.read(f"{BEA['chart']}/chart-record_{BEA['chart']}_{dyad.sid}.fhir.json"))
        )
        assert archive.read(f"{BEA['chart']}/chart-record_{BEA['chart']}_{dyad.sid}.pdf")[:5] == b"%PDF-"

    page = farah.get(f"/sessions/{dyad.sid}/participants/{dyad.ada}")
    assert page.status_code == 200
    for suffix in ("pdf", "csv", "json", "fhir.json"):
        assert f'href="{API}/sessions/{dyad.sid}/participants/{dyad.ada}/export.{suffix}"' in page.text


# ------------------------------------------------------------------ tampering


def test_a_tampered_event_breaks_the_chain_and_the_record_says_so(
    client_for: Clients, dyad: Dyad, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    path = make_url(db_url).database
    assert path is not None
    with sqlite3.connect(path) as raw:
        (data,) = raw.execute(
            "SELECT data FROM event WHERE session_id = ? AND seq = ?", (dyad.sid, dyad.dose_seq)
        ).fetchone()
        assert '"dose_mg":200' in data
        raw.execute(
            "UPDATE event SET data = ? WHERE session_id = ? AND seq = ?",
            (data.replace('"dose_mg":200', '"dose_mg":20'), dyad.sid, dyad.dose_seq),
        )
    raw.close()

    engine = make_engine(db_url)
    try:
        with unit_of_work(engine) as db:
            broken = verify_chain(read_records(db, dyad.sid))
    finally:
        engine.dispose()
    assert broken is not None and broken[0] == dyad.dose_seq and "edited" in broken[1]

    monkeypatch.setenv("HOLDSPACE_DATABASE_URL", db_url)
    monkeypatch.delenv("HOLDSPACE_POLICY", raising=False)
    capsys.readouterr()
    assert main(["verify"]) == 1
    captured = capsys.readouterr()
    assert f"session {dyad.sid}" in captured.out and f"event {dyad.dose_seq}" in captured.out

    record = json.loads(client_for("farah").get(part(dyad.sid, dyad.ada, "/export.json")).text)
    assert record["chain"]["intact"] is False and record["chain"]["broken_at_seq"] == dyad.dose_seq
    csv_text = client_for("farah").get(part(dyad.sid, dyad.ada, "/export.csv")).text
    assert f"# chain_intact=false broken_at_seq={dyad.dose_seq}" in csv_text


# ------------------------------------------------------------------ a transfer, and a record with almost nothing


def test_a_transfer_and_an_empty_record_export_cleanly(client_for: Clients, clock: Clock) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    sid = open_session(farah, kind="group")
    cleo = add_participant(farah, sid, "Cleo Marsh", "KAP-3003")
    odd = add_participant(farah, sid, "Zoë <O'Brien> & Co", "KAP/4 ü")
    check_in(farah, sid, "farah")
    screen(farah, sid, cleo)
    ok(farah.put(part(sid, cleo, "/consent"), json=CONSENT))
    ok(farah.post(part(sid, cleo, "/support"), json={"kind": "staff", "id": "farah"}))
    ok(doc.post(part(sid, cleo, "/dose"), json={"route": "intramuscular", "dose_mg": 35.5}))
    clock.advance(minutes=12)
    ok(farah.post(part(sid, cleo, "/vitals"), json={"sbp": 210, "dbp": 124, "hr": 136, "spo2": 90}))
    transfer = {"reason": "Hypertensive emergency", "destination": "St Mary's emergency department"}
    ok(farah.post(part(sid, cleo, "/transfer"), json=transfer))

    record = json.loads(farah.get(part(sid, cleo, "/export.json")).text)
    assert record["outcome"]["kind"] == "transferred" and record["outcome"]["destination"] == transfer["destination"]
    assert record["vitals_in_range"]["before_leaving"]["in_range"] is False
    assert record["adverse_events"][0]["status"] == "open" and record["checklist"]["complete"] is False
    assert record["dose"]["dose_mg"] == 35.5
    assert record["blood_pressure"]["about_40_min"] is None  # the only reading is 12 min after the dose
    assert record["blood_pressure"]["before_end"]["sbp"] == 210
    text = flat(
        "\n".join(
            p.extract_text() for p in PdfReader(io.BytesIO(farah.get(part(sid, cleo, "/export.pdf")).content)).pages
        )
    )
    assert "TRANSFERRED" in text and "St Mary's emergency department" in text and "OPEN" in text
    assert "Zoë" not in text and "KAP/4" not in text
    bundle = Bundle.model_validate(json.loads(farah.get(part(sid, cleo, "/export.fhir.json")).text))
    [encounter] = [e.resource for e in bundle.entry or [] if e.resource.get_resource_type() == "Encounter"]
    assert encounter.status == "finished" and "St Mary's" in encounter.hospitalization.dischargeDisposition.text

    # Someone who only arrived: every format still renders, and the file name is made safe.
    for suffix in ("pdf", "csv", "json", "fhir.json"):
        response = farah.get(part(sid, odd, f"/export.{suffix}"))
        assert response.status_code == 200, response.text
        assert f'filename="chart-record_KAP_4_{sid}.{suffix}"' in response.headers["content-disposition"]
    pdf = PdfReader(io.BytesIO(farah.get(part(sid, odd, "/export.pdf")).content))
    assert "Zoë <O'Brien> & Co" in flat(pdf.pages[0].extract_text())
    assert "Cleo" not in flat("\n".join(p.extract_text() for p in pdf.pages))
    Bundle.model_validate(json.loads(farah.get(part(sid, odd, "/export.fhir.json")).text))
