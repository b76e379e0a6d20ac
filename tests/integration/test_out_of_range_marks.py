"""Issue 13 item 1: out-of-range readings are marked where they are shown — the participant's record
page and every export — by the domain's own thresholds (a policy change moves the mark)."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from app.domain import DEFAULT_POLICY
from app.domain.escalation import vitals_flags
from tests.integration.helpers import (
    add_participant,
    check_in,
    ok,
    open_session,
    part,
)


def test_vitals_flags_follow_the_alarm_thresholds() -> None:
    assert vitals_flags({"sbp": 126, "dbp": 81, "hr": 74, "spo2": 89}, DEFAULT_POLICY) == {"spo2": "high"}
    assert vitals_flags({"sbp": 185, "dbp": 111, "hr": 131, "spo2": 92}, DEFAULT_POLICY) == {
        "sbp": "medium",
        "dbp": "medium",
        "hr": "high",
    }
    assert vitals_flags({"sbp": 180, "hr": 50, "spo2": 92, "rr": 30}, DEFAULT_POLICY) == {}


def _spo2_89(client_for) -> tuple[TestClient, str, str]:  # type: ignore[no-untyped-def]
    farah = client_for("farah")
    sid = open_session(farah)
    check_in(farah, sid, "farah")
    pid = add_participant(farah, sid, "Ada", "KAP-1")
    ok(farah.post(part(sid, pid, "/vitals"), json={"sbp": 126, "dbp": 81, "hr": 74, "spo2": 89}))
    ok(farah.post(part(sid, pid, "/vitals"), json={"sbp": 120, "dbp": 80, "hr": 70, "spo2": 97}))
    return farah, sid, pid


def test_every_export_marks_the_out_of_range_reading(client_for) -> None:  # type: ignore[no-untyped-def]
    farah, sid, pid = _spo2_89(client_for)
    data = ok(farah.get(part(sid, pid, "/export.json")))
    first, second = data["vitals"]
    assert first["out_of_range"] == {"spo2": "high"}
    assert second["out_of_range"] == {}
    summaries = [row["summary"] for row in data["timeline"] if row["kind"] == "vitals_recorded"]
    assert "out of range: SpO2 (high alarm)" in summaries[0]
    assert "out of range" not in summaries[1]

    text = farah.get(part(sid, pid, "/export.csv")).text
    rows = list(csv.reader(io.StringIO("\n".join(line for line in text.splitlines() if not line.startswith("#")))))
    assert any("out of range: SpO2 (high alarm)" in cell for row in rows for cell in row)

    bundle = ok(farah.get(part(sid, pid, "/export.fhir.json")))
    spo2 = [
        entry["resource"]
        for entry in bundle["entry"]
        if entry["resource"]["resourceType"] == "Observation"
        and entry["resource"]["code"]["coding"][0].get("code") == "59408-5"
    ]
    interpretations = [obs.get("interpretation") for obs in spo2]
    assert sum(1 for i in interpretations if i) == 1
    assert next(i for i in interpretations if i)[0]["coding"][0]["code"] == "AA"


def test_the_record_page_marks_the_out_of_range_reading(client_for) -> None:  # type: ignore[no-untyped-def]
    farah, sid, pid = _spo2_89(client_for)
    ok(farah.post(part(sid, pid, "/vitals"), json={"spo2": 88}))
    html = farah.get(f"/sessions/{sid}/participants/{pid}").text
    assert html.count('data-testid="out-of-range"') >= 2
    assert "SpO₂ 88%" in html
