"""Issue 5 in real Chromium: discharge is refused in plain words while the grounding checklist is
incomplete, and allowed once every item is done."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser


def _grounding_participant(server) -> tuple[str, str, object]:  # type: ignore[no-untyped-def]
    api = server.api("farah")
    sid = api.post(
        "/api/v1/sessions",
        json={"room_id": "cedar-room", "kind": "individual", "facilitators": ["farah"], "lead": "lena"},
    ).json()["id"]
    api.post(f"/api/v1/sessions/{sid}/facilitators/farah/check-in").raise_for_status()
    pid = api.post(
        f"/api/v1/sessions/{sid}/participants", json={"display_name": "Ivy M.", "chart_id": "C-3107"}
    ).json()["id"]
    base = f"/api/v1/sessions/{sid}/participants/{pid}"
    api.put(base + "/screening", json={"contraindications": {}, "bp": {"sbp": 118, "dbp": 76}}).raise_for_status()
    api.put(
        base + "/consent",
        json={
            "touch": [],
            "pause_signal": "hand up",
            "stop_signal": "'stop'",
            "emergency_contact": "Lee, 555 0111",
            "transport_plan": "sister drives",
            "signed_by_participant": True,
        },
    ).raise_for_status()
    api.post(base + "/support", json={"kind": "staff", "id": "farah"}).raise_for_status()
    server.api("dr.ade").post(base + "/dose", json={"route": "intramuscular", "dose_mg": 60}).raise_for_status()
    for to in ("journeying", "re_entry", "grounding"):
        api.post(base + "/phase", json={"to": to}).raise_for_status()
    return sid, pid, api


def test_discharge_is_refused_until_the_checklist_is_complete_then_allowed(live_server, page) -> None:  # type: ignore[no-untyped-def]
    sid, pid, api = _grounding_participant(live_server)
    base = f"/api/v1/sessions/{sid}/participants/{pid}"
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, live_server, "farah", "/rooms/cedar-room")
    page.locator("#live-status").filter(has_text="Live").wait_for(timeout=5000)
    card = page.locator(f"#p-{pid}")
    card.locator("[data-testid=checklist]").wait_for(timeout=5000)
    assert "earliest discharge" in card.locator("[data-testid=checklist-summary]").inner_text()

    card.locator("button", has_text="Discharge").click()
    notice = page.locator("#notice")
    notice.filter(has_text="cannot leave yet").wait_for(timeout=3000)
    assert "Minimum observation time since the dose has passed" in notice.inner_text()
    assert "Walks steadily" in notice.inner_text()
    screenshot(page, "discharge-refused")

    # Two hours later: vitals back in range, alert and calm, settled — the record decides these.
    live_server.clock.advance(minutes=121)
    api.post(base + "/vitals", json={"sbp": 124, "dbp": 80, "hr": 72, "spo2": 98}).raise_for_status()
    api.post(base + "/observations", json={"distress": 0, "moaa_s": 5, "rass": 0}).raise_for_status()
    # The items only a person can judge are ticked on the tablet, one tap each.
    manual = [
        "oriented",
        "steady_gait",
        "nausea_settled",
        "transport_confirmed",
        "followup_scheduled",
        "belongings_returned",
    ]
    for key in manual:
        item = card.locator(f"li[data-item={key}]")
        item.locator("button", has_text="Done").click()
        item.locator(".mark", has_text="✓").wait_for(timeout=3000)
    assert card.locator(".checklist li.missing").count() == 0
    screenshot(page, "checklist-complete")

    card.locator("button", has_text="Discharge").click()
    card.locator("[data-testid=phase]").filter(has_text="Discharged").wait_for(timeout=3000)
    events = api.get(f"/api/v1/sessions/{sid}/events").json()
    discharged = [e for e in events if e["kind"] == "discharged"]
    assert len(discharged) == 1
    ticked = {i["key"]: i["by"] for i in discharged[0]["data"]["checklist"] if not i["automatic"]}
    assert ticked == {key: "farah" for key in manual}
    refused = [e["data"]["code"] for e in events if e["kind"] == "command_refused"]
    assert refused == ["checklist_incomplete"]
