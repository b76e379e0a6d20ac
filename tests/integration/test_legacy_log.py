"""A log written before event payloads were typed keeps verifying, reading and exporting.

`data/legacy_log_unversioned.json` is a closed group session exactly as an earlier Holdspace
stored it (commit aa8bb9b: payloads without a schema version, written from dicts, driven through
that tree's own `decide` and hashed by its own store): two
journeyers supported by the same facilitator, whose check-out was refused with one follow-up for
each (`followup` and `more_followups`), an alarm raised, acknowledged, raised again, muted and
resolved, notes with an amendment, pause, resume, stop, check-ins, a transfer and a discharge.
Its rows go into a fresh database byte for byte, as a migration would leave them.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app import cli
from app.domain import upcast
from app.store.db import make_engine, unit_of_work
from app.store.events import read_records, to_event, verify_chain
from app.store.tables import CareSession, EventRecord
from tests.integration.helpers import ok, part, sess

LEGACY = Path(__file__).resolve().parent / "data" / "legacy_log_unversioned.json"
Clients = Callable[[str], TestClient]


def _legacy() -> dict[str, Any]:
    return json.loads(LEGACY.read_text(encoding="utf-8"))


@pytest.fixture
def legacy_sid(db_url: str) -> str:
    log = _legacy()
    meta, rows = log["session"], log["events"]
    engine = make_engine(db_url)
    try:
        with unit_of_work(engine) as db:
            db.add(
                CareSession(
                    id=meta["id"],
                    room_id=meta["room_id"],
                    live_room_id=None,
                    kind=meta["kind"],
                    lead=meta["lead"],
                    opened_at=datetime.fromisoformat(meta["opened_at"]),
                    closed_at=datetime.fromisoformat(meta["closed_at"]),
                    head_seq=rows[-1]["seq"],
                    head_hash=rows[-1]["hash"],
                )
            )
            db.flush()
            for row in rows:
                db.add(EventRecord(**{**row, "at": datetime.fromisoformat(row["at"])}))
            db.commit()
    finally:
        engine.dispose()
    return str(meta["id"])


def test_a_log_stored_before_payloads_had_a_schema_still_verifies(
    legacy_sid: str, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = make_engine(db_url)
    try:
        with unit_of_work(engine) as db:
            records = list(read_records(db, legacy_sid))
        head = (records[-1].seq, records[-1].hash)
        assert verify_chain(records, head) is None
        # Nothing was rewritten: every row holds the stored bytes, without a schema version.
        assert [r.data for r in records] == [row["data"] for row in _legacy()["events"]]
        assert all("schema" not in json.loads(r.data) for r in records)
        # ...and each reads as its typed payload (upcast from version 0).
        kinds = {type(to_event(r).payload).__name__ for r in records}
        assert {"CommandRefused", "EscalationUpdated", "Amended", "Transferred", "Discharged"} <= kinds
    finally:
        engine.dispose()
    monkeypatch.setenv("HOLDSPACE_DATABASE_URL", db_url)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    capsys.readouterr()
    assert cli.main(["verify"]) == 0
    assert "every event log is whole" in capsys.readouterr().out


def test_a_legacy_refusal_that_opened_two_follow_ups_reads_as_both(legacy_sid: str) -> None:
    [row] = [r for r in _legacy()["events"] if r["kind"] == "command_refused"]
    stored = json.loads(row["data"])
    refused = upcast("command_refused", stored)
    assert [f.participant_id for f in refused.followups] == ["p1", "p2"]  # type: ignore[attr-defined]
    # Written again, it keeps the shape it was stored in, now with its schema version.
    assert refused.to_data() == stored
    assert refused.stored() == {**stored, "schema": 1}


def test_the_legacy_session_reads_through_the_api_as_it_was_recorded(legacy_sid: str, client_for: Clients) -> None:
    lena = client_for("lena")
    events = ok(lena.get(sess(legacy_sid, "/events")))
    rows = _legacy()["events"]
    assert [e["seq"] for e in events] == [r["seq"] for r in rows]
    for event, row in zip(events, rows, strict=True):
        assert set(event) <= {"seq", "kind", "at", "actor", "participant_id", "device", "data"}
        assert event["kind"] == row["kind"] and event["actor"] == row["actor"]
        stored = json.loads(row["data"])
        # The command's fields as stored; a field added since shows its default, nothing is lost.
        assert {k: v for k, v in event["data"].items() if k in stored} == stored, row["kind"]
    refusal_seq = next(r["seq"] for r in rows if r["kind"] == "command_refused")
    opened = {
        pid: [f["id"] for f in json.loads(lena.get(part(legacy_sid, pid, "/export.json")).text)["followups"]]
        for pid in ("p1", "p2")
    }
    assert f"{legacy_sid}-f{refusal_seq}" in opened["p1"] and f"{legacy_sid}-f{refusal_seq}.1" in opened["p2"]


@pytest.mark.parametrize("pid", ["p1", "p2"])
def test_both_participants_records_show_the_refused_attempt_that_opened_their_follow_up(
    legacy_sid: str, client_for: Clients, pid: str
) -> None:
    """One refused check-out locked two journeyers; the second one's record lost the attempt
    when the chart record read `followups` where the refusal wrote `more_followups`."""
    record = json.loads(client_for("lena").get(part(legacy_sid, pid, "/export.json")).text)
    assert record["chain"]["intact"] is True
    [refusal] = record["refusals"]
    assert refusal["code"] == "dyad_locked" and refusal["command"] == "check_out"
    assert any(row["kind"] == "command_refused" for row in record["timeline"])
    reasons = [f["reason"] for f in record["followups"]]
    assert any(reason.startswith("Attempt to break a dyad lock") for reason in reasons)
