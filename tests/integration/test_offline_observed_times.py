"""Issue 13 item 7, the server's side: an entry sent late by a tablet that was offline keeps the time
it was observed — consent check-in answers and checklist ticks too, as vitals and notes already do."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import Clock
from tests.integration.helpers import (
    assert_error,
    dosed_participant,
    events,
    ok,
    open_session,
    part,
)


def test_a_late_checkin_answer_and_checklist_tick_keep_their_observed_time(client_for, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    farah, doc = client_for("farah"), client_for("dr.ade")
    sid = open_session(farah)
    pid = dosed_participant(farah, doc, sid)
    asked = clock.now + timedelta(minutes=1)
    clock.now = asked + timedelta(minutes=6)
    ok(farah.post(part(sid, pid, "/consent/checkin"), json={"ok": True, "observed_at": asked.isoformat()}))
    ok(farah.post(part(sid, pid, "/checklist/oriented"), json={"done": True, "observed_at": asked.isoformat()}))
    ok(farah.post(part(sid, pid, "/checklist/steady_gait"), json={"done": True}))
    found = {e["kind"] + e["data"].get("item", ""): e for e in events(farah, sid) if e.get("participant_id") == pid}
    for kind in ("consent_checkin_answered", "checklist_item_tickedoriented"):
        assert found[kind]["data"]["observed_at"] == asked.isoformat()
        assert found[kind]["data"]["late"] is True
    assert "observed_at" not in found["checklist_item_tickedsteady_gait"]["data"]

    future = (clock.now + timedelta(hours=1)).isoformat()
    assert_error(
        farah.post(part(sid, pid, "/checklist/nausea_settled"), json={"observed_at": future}), 422, "validation_error"
    )
