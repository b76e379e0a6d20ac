"""Step 3 of an escalation reaches every lead on duty and the medical on-call, not only the
staff of the room it comes from (PRODUCT.md, escalation steps)."""

from __future__ import annotations

from typing import Any

from tests.conftest import Clock


def _cedar_with_participant(client_for: Any) -> tuple[Any, str, str]:
    farah = client_for("farah")
    sid = farah.post(
        "/api/v1/sessions",
        json={"room_id": "cedar-room", "kind": "group", "facilitators": ["farah"], "lead": "lena"},
    ).json()["id"]
    pid = farah.post(
        f"/api/v1/sessions/{sid}/participants", json={"display_name": "Rowan A.", "chart_id": "C-1"}
    ).json()["id"]
    return farah, sid, pid


def test_a_high_alarm_reaches_the_lead_of_another_room_who_may_acknowledge_it(client_for: Any) -> None:
    farah, sid, pid = _cedar_with_participant(client_for)
    lou = client_for("lou")  # leads Willow, not Cedar
    mika = client_for("mika")  # a facilitator in Willow
    farah.post(f"/api/v1/sessions/{sid}/participants/{pid}/observations", json={"distress": 4}).raise_for_status()

    seen = lou.get("/api/v1/escalations").json()
    assert [(e["priority"], e["step"], e["room_id"]) for e in seen] == [("high", 3, "cedar-room")]
    assert mika.get("/api/v1/escalations").json() == []
    assert "Rowan A.: Distress 4" in lou.get("/overview").text

    acked = lou.post(f"/api/v1/escalations/{seen[0]['id']}/ack")
    assert acked.status_code == 200, acked.text
    assert acked.json()["acknowledged_by"] == "lou"
    assert mika.post(f"/api/v1/escalations/{seen[0]['id']}/ack").status_code == 404
    # The rest of Cedar's record stays out of reach.
    assert lou.get(f"/api/v1/sessions/{sid}").status_code == 404


def test_a_medium_alarm_reaches_other_leads_only_once_it_climbs_to_step_three(
    client_for: Any, app: Any, clock: Clock
) -> None:
    farah, sid, pid = _cedar_with_participant(client_for)
    lou = client_for("lou")
    farah.post(f"/api/v1/sessions/{sid}/participants/{pid}/observations", json={"distress": 3}).raise_for_status()
    assert lou.get("/api/v1/escalations").json() == []
    eid = client_for("lena").get("/api/v1/escalations").json()[0]["id"]
    assert lou.post(f"/api/v1/escalations/{eid}/ack").status_code == 404

    clock.advance(seconds=60)
    app.state.services.tick_due()
    assert [e["step"] for e in lou.get("/api/v1/escalations").json()] == [3]
