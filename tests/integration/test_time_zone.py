"""The clinic's time zone (HOLDSPACE_TIMEZONE): stored times stay UTC; a page, the notices and
every export show local time and name the zone; an unknown zone stops start-up; and no code
converts to the server process's own zone."""

from __future__ import annotations

import ast
import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from app import cli
from app.config import ConfigError, Settings
from tests.conftest import Clock
from tests.integration.helpers import (
    dose,
    ok,
    open_session,
    part,
    ready_participant,
)

APP = Path(__file__).resolve().parents[2] / "app"
# 08:30 UTC on 2 March is 09:30 in Berlin (CET, UTC+01:00); a process in UTC would show 08:30.
DOSED_AT = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
BERLIN = "Europe/Berlin (CET, UTC+01:00)"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, secret_key="test-secret-key-0123456789", timezone="Europe/Berlin")


@pytest.fixture
def clock() -> Clock:
    return Clock(DOSED_AT)


@pytest.fixture
def dosed(client_for: Any) -> tuple[str, str]:
    farah, doc = client_for("farah"), client_for("dr.ade")
    sid = open_session(farah)
    pid = ready_participant(farah, sid, "Ada")
    assert dose(doc, sid, pid)["dosed_at"] == DOSED_AT.isoformat(), "stored and served as a UTC instant"
    return sid, pid


def test_the_room_page_shows_local_times_and_names_the_zone(app: Any, client_for: Any, dosed: Any) -> None:
    farah = client_for("farah")
    page = farah.get("/rooms/cedar-room", headers={"Accept": "text/html"}).text
    # Earliest discharge: 120 min after the dose, 10:30 UTC, is 11:30 in Berlin.
    assert "earliest discharge 11:30" in page and "earliest discharge 10:30" not in page
    assert f"Times are {BERLIN}." in page
    assert '<meta name="time-zone" content="Europe/Berlin">' in page
    # The checklist's own words (from the domain) use the clinic's zone too.
    sid, pid = dosed
    view = ok(farah.get(part(sid, pid)))
    [observation] = [item for item in view["checklist"] if item["key"] == "observation_time"]
    assert observation["detail"].endswith("(at 11:30)"), observation


def test_a_notice_says_the_local_time(app: Any, client_for: Any, clock: Clock, dosed: Any) -> None:
    farah = client_for("farah")
    sid, pid = dosed
    due = datetime.fromisoformat(ok(farah.get(part(sid, pid)))["vitals_due_at"])
    clock.now = due + timedelta(minutes=1)
    app.state.services.tick_due()
    [alarm] = [e for e in ok(farah.get("/api/v1/escalations?status=open")) if e["participant_id"] == pid]
    local = (due + timedelta(hours=1)).strftime("%H:%M")
    assert f"vitals check due at {local}" in alarm["reason"], alarm
    assert due.strftime("%H:%M") != local


def test_every_export_shows_local_time_and_names_the_zone(app: Any, client_for: Any, dosed: Any) -> None:
    farah = client_for("farah")
    sid, pid = dosed

    text = farah.get(part(sid, pid, "/export.csv")).text
    assert "# time_zone=Europe/Berlin (at, observed_at: UTC; *_local: this zone)" in text.splitlines()
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    [dose_row] = [r for r in rows if r["kind"] == "dose_administered"]
    assert dose_row["at"] == DOSED_AT.isoformat()
    assert dose_row["at_local"] == "2026-03-02T09:30:00+01:00"
    assert "administered at 02 Mar 2026 09:30" in dose_row["summary"]

    record = json.loads(farah.get(part(sid, pid, "/export.json")).content)
    assert record["time_zone"] == "Europe/Berlin"
    [entry] = [r for r in record["timeline"] if r["kind"] == "dose_administered"]
    assert entry["at"] == DOSED_AT.isoformat() and entry["at_local"] == "2026-03-02T09:30:00+01:00"

    pdf = PdfReader(io.BytesIO(farah.get(part(sid, pid, "/export.pdf")).content))
    words = " ".join(page.extract_text() for page in pdf.pages)
    assert f"Times are {BERLIN}" in words
    assert "09:30" in words and "08:30" not in words

    bundle = json.loads(farah.get(part(sid, pid, "/export.fhir.json")).content)
    [given] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationAdministration"]
    # FHIR keeps ISO instants with their offset.
    assert datetime.fromisoformat(given["effectiveDateTime"]) == DOSED_AT


def test_an_unknown_zone_stops_start_up_with_a_clear_message(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(database_url=db_url, secret_key="test-secret-key-0123456789", timezone="Mars/Olympus_Mons")
    from app.main import create_app

    with pytest.raises(ConfigError, match="HOLDSPACE_TIMEZONE='Mars/Olympus_Mons' is not a known IANA time zone"):
        create_app(settings)
    monkeypatch.setenv("HOLDSPACE_DATABASE_URL", db_url)
    monkeypatch.setenv("HOLDSPACE_SECRET_KEY", "test-secret-key-0123456789")
    monkeypatch.setenv("HOLDSPACE_TIMEZONE", "Europe/Nowhere")
    assert cli.main(["serve"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "HOLDSPACE_TIMEZONE='Europe/Nowhere'" in err and "Traceback" not in err
    monkeypatch.setenv("HOLDSPACE_TIMEZONE", "../../etc/passwd")
    with pytest.raises(ConfigError):
        _ = Settings().clinic_zone


def test_no_code_converts_to_the_server_process_zone() -> None:
    """`.astimezone()` without an argument uses the zone of whatever machine runs the app."""
    offenders = []
    for path in APP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "astimezone"
                and not node.args
                and not node.keywords
            ):
                offenders.append(f"{path.relative_to(APP.parent)}:{node.lineno}")
    assert offenders == []


def test_no_template_compares_times_as_text() -> None:
    """Times are compared as datetimes (`| moment`), never as ISO strings."""
    offenders = []
    for path in (APP / "templates").rglob("*.html"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"isoformat\(\)|[<>]=?\s*now\b(?!\))", line) and "| moment" not in line:
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert offenders == []
