"""Typed events end to end: what a decision writes is stored with its schema version, shown by the
API and the stream in the shape API.md gives, and read back by the chart record without loss."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient

from app.domain.events import PAYLOAD_TYPES
from app.store.db import make_engine, unit_of_work
from app.store.events import read_records
from app.web.templating import clock as clock_filter
from tests.conftest import Clock
from tests.integration.helpers import (
    assert_error,
    check_in,
    dose,
    events,
    ok,
    open_session,
    part,
    ready_participant,
    sess,
)

Clients = Callable[[str], TestClient]


def _two_journeyers_held_by_farah(client_for: Clients) -> tuple[str, str, str]:
    farah, doc = client_for("farah"), client_for("dr.ade")
    sid = open_session(farah)
    ada = ready_participant(farah, sid, "Ada", support="farah", present="farah")
    bea = ready_participant(farah, sid, "Bea", support="farah", present="farah")
    check_in(client_for("theo"), sid, "theo")  # the room stays covered, so only the support lock refuses
    dose(doc, sid, ada)
    dose(doc, sid, bea)
    return sid, ada, bea


def test_one_refused_check_out_shows_on_the_record_of_every_journeyer_it_would_have_left(
    client_for: Clients,
) -> None:
    sid, ada, bea = _two_journeyers_held_by_farah(client_for)
    farah = client_for("farah")
    assert_error(farah.post(sess(sid, "/facilitators/farah/check-out")), 409, "dyad_locked")
    [refused] = [e for e in events(farah, sid) if e["kind"] == "command_refused"]
    assert refused["data"]["followup"]["participant_id"] == ada
    assert [f["participant_id"] for f in refused["data"]["more_followups"]] == [bea]
    for pid in (ada, bea):
        record = json.loads(farah.get(part(sid, pid, "/export.json")).text)
        assert [(r["seq"], r["code"]) for r in record["refusals"]] == [(refused["seq"], "dyad_locked")], pid
        assert refused["seq"] in [row["seq"] for row in record["timeline"]], pid
        assert any(f["reason"].startswith("Attempt to break a dyad lock") for f in record["followups"]), pid


def test_new_events_are_stored_with_their_schema_version_and_shown_without_it(client_for: Clients, db_url: str) -> None:
    sid, _ada, _bea = _two_journeyers_held_by_farah(client_for)
    shown = events(client_for("lena"), sid)
    engine = make_engine(db_url)
    try:
        with unit_of_work(engine) as db:
            stored = {r.seq: json.loads(r.data) for r in read_records(db, sid)}
    finally:
        engine.dispose()
    assert len(shown) == len(stored) > 10
    for event in shown:
        row = stored[event["seq"]]
        assert row.pop("schema") == PAYLOAD_TYPES[event["kind"]].SCHEMA
        assert event["data"] == row, event["kind"]
        assert "schema" not in event["data"]


def test_the_participant_page_shows_a_refused_attempt_and_a_late_entry_from_typed_events(
    client_for: Clients, clock: Clock
) -> None:
    sid, ada, _bea = _two_journeyers_held_by_farah(client_for)
    farah = client_for("farah")
    refusal = assert_error(farah.delete(part(sid, ada, "/support/farah")), 409, "dyad_locked")
    observed = clock() - timedelta(minutes=30)
    ok(farah.post(part(sid, ada, "/vitals"), json={"hr": 72, "observed_at": observed.isoformat()}))
    page = farah.get(f"/sessions/{sid}/participants/{ada}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    timeline = text[text.index("<h2>Timeline</h2>") :]
    assert refusal["message"] in timeline
    [late] = re.findall(r"\(observed (\d\d:\d\d)\)", timeline)
    assert late == clock_filter(observed)


def test_an_event_that_would_not_read_back_is_never_written(client_for: Clients, db_url: str) -> None:
    """A payload with a field of the wrong type (None where the schema says text) is refused by
    the store before it is written, instead of making the whole log unreadable afterwards."""
    import pytest

    from app.domain import Event
    from app.domain.events import BloodPressure, ScreeningRecorded, UnreadablePayload
    from app.store import events as event_store

    farah = client_for("farah")
    sid = open_session(farah)
    before = events(farah, sid)
    engine = make_engine(db_url)
    try:
        with unit_of_work(engine) as db:
            head = before[-1]
            bad = ScreeningRecorded(contraindications={}, bp=BloodPressure(120, 80), notes=None)  # type: ignore[arg-type]
            event = Event(session_id=sid, seq=head["seq"] + 1, at=Clock().now, actor="farah", payload=bad)
            with pytest.raises(UnreadablePayload):
                event_store.append(db, [event])
            db.rollback()
        with unit_of_work(engine) as db:
            assert [r.seq for r in read_records(db, sid)] == [e["seq"] for e in before]
    finally:
        engine.dispose()
    assert events(farah, sid) == before  # and the log still reads
