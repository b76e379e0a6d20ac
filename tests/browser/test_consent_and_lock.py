"""Issue 3 in real Chromium: a refused attempt to break the dyad lock is explained in plain words
and kept on the record; a participant's own stop takes effect with one tap."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot, sign_in
from tests.browser.scenes import cedar_session

pytestmark = pytest.mark.browser


def _dosed_participant(server) -> tuple[str, str, object]:  # type: ignore[no-untyped-def]
    api = server.api("farah")
    sid, [pid] = cedar_session(server, ("Wren K.", "C-2001"))
    base = f"/api/v1/sessions/{sid}/participants/{pid}"
    api.put(
        base + "/screening", json={"contraindications": {"pregnancy": False}, "bp": {"sbp": 124, "dbp": 78}}
    ).raise_for_status()
    api.put(
        base + "/consent",
        json={
            "touch": ["hand"],
            "pause_signal": "raised hand",
            "stop_signal": "says 'stop'",
            "music": True,
            "eyeshades": True,
            "emergency_contact": "Sam, 555 0100",
            "transport_plan": "partner drives",
            "signed_by_participant": True,
        },
    ).raise_for_status()
    api.post(base + "/support", json={"kind": "staff", "id": "farah"}).raise_for_status()
    server.api("dr.ade").post(base + "/dose", json={"route": "sublingual", "dose_mg": 150}).raise_for_status()
    api.post(base + "/phase", json={"to": "journeying"}).raise_for_status()
    return sid, pid, api


def test_removing_a_journeyers_support_is_refused_in_plain_words_and_recorded(live_server, page) -> None:  # type: ignore[no-untyped-def]
    sid, pid, api = _dosed_participant(live_server)
    sign_in(page, live_server, "farah", "/rooms/cedar-room")
    card = page.locator(f"#p-{pid}")
    card.locator("[data-testid=support]").filter(has_text="locked until discharge").wait_for(timeout=5000)

    card.locator("button.drawer-btn", has_text="Support person").click()
    dialog = page.locator("#entry-dialog")
    dialog.locator(".support-list button", has_text="remove").click()
    notice = dialog.locator(".dialog-error")
    notice.filter(has_text="support person stays").wait_for(timeout=3000)
    assert "Only a lead's emergency handover" in notice.inner_text()
    screenshot(page, "dyad-lock-refused")

    state = api.get(f"/api/v1/sessions/{sid}").json()
    participant = next(p for p in state["participants"] if p["id"] == pid)
    assert [s["id"] for s in participant["support"]] == ["farah"]
    refused = [e for e in api.get(f"/api/v1/sessions/{sid}/events").json() if e["kind"] == "command_refused"]
    assert [(e["actor"], e["data"]["code"]) for e in refused] == [("farah", "dyad_locked")]
    # The refusal is visible on the room's record for the lead.
    dialog.locator(".dialog-close").click()
    page.locator(".refusals summary").filter(has_text="1 refused attempt").wait_for(timeout=3000)


def test_a_participants_own_stop_takes_effect_with_one_tap(live_server, page) -> None:  # type: ignore[no-untyped-def]
    sid, pid, api = _dosed_participant(live_server)
    sign_in(page, live_server, "farah", "/rooms/cedar-room")
    card = page.locator(f"#p-{pid}")
    card.locator("[data-testid=phase]").filter(has_text="Journeying").wait_for(timeout=5000)

    card.locator("button", has_text="Stop · they asked").click()
    card.locator("[data-testid=phase]").filter(has_text="Stopped").wait_for(timeout=3000)
    assert "participant's request" in card.inner_text()
    # Stopping leads to grounding, never straight out of the door.
    assert card.locator("button", has_text="→ Grounding").count() == 1
    assert card.locator("button", has_text="Discharge").count() == 0
    screenshot(page, "participant-stopped")

    events = api.get(f"/api/v1/sessions/{sid}/events").json()
    stops = [e for e in events if e["kind"] == "stopped"]
    assert len(stops) == 1
    assert stops[0]["data"]["requested_by"] == "participant"
    assert stops[0]["data"]["from"] == "journeying"
