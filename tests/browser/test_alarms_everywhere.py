"""Issue 13 item 3 in Chromium: leaving the room view never leaves the alarms. The participant's
record (and the rooms list) shows the open alarms of the user's rooms live, and a tablet moving
between its pages is not "tablet offline" on the lead's overview."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser


def test_the_record_page_shows_alarms_live_and_a_page_change_is_not_offline(live_server, browser) -> None:  # type: ignore[no-untyped-def]
    api = live_server.api("farah")
    sid = api.post(
        "/api/v1/sessions",
        json={"room_id": "cedar-room", "kind": "group", "facilitators": ["farah", "theo"], "lead": "lena"},
    ).json()["id"]
    api.post(f"/api/v1/sessions/{sid}/facilitators/farah/check-in").raise_for_status()
    pids = [
        api.post(f"/api/v1/sessions/{sid}/participants", json={"display_name": n, "chart_id": n}).json()["id"]
        for n in ("Rowan A.", "Mira K.")
    ]
    tablet_context = browser.new_context(viewport={"width": 820, "height": 1180}, color_scheme="dark")
    lead_context = browser.new_context(viewport={"width": 1366, "height": 768}, color_scheme="dark")
    try:
        tablet = tablet_context.new_page()
        overview = lead_context.new_page()
        sign_in(tablet, live_server, "farah", "/rooms/cedar-room")
        tablet.locator("#live-status").filter(has_text="Live").wait_for(timeout=5000)
        sign_in(overview, live_server, "lena", "/overview")
        overview.locator("#live-status").filter(has_text="Live").wait_for(timeout=5000)
        assert "tablets live: 1" in overview.locator(".present-line").inner_text()

        # The facilitator opens Rowan's record: the tablet stays present, and alarms follow.
        tablet.locator(f"#p-{pids[0]} h2 a").click()
        tablet.wait_for_url(f"**/participants/{pids[0]}")
        tablet.locator("[data-testid=strip-quiet]").wait_for(timeout=5000)
        api.post(f"/api/v1/sessions/{sid}/participants/{pids[1]}/observations", json={"distress": 4}).raise_for_status()
        strip = tablet.locator("[data-testid=strip-alarm]")
        strip.wait_for(timeout=3000)
        assert "HIGH" in strip.inner_text() and "Mira K.: Distress 4: emergency" in strip.inner_text()
        assert strip.get_attribute("href") == f"/rooms/cedar-room#p-{pids[1]}"
        screenshot(tablet, "participant-alarm-strip")

        # Well past the grace period and a heartbeat, the overview has never called the tablet offline.
        overview.wait_for_timeout(11000)
        assert overview.locator("[data-testid=offline-tablets]").count() == 0
        assert "tablets live: 1" in overview.locator(".present-line").inner_text()

        # The strip link leads back to the card; the rooms list shows the alarm too.
        strip.click()
        tablet.wait_for_url(f"**/rooms/cedar-room#p-{pids[1]}")
        assert tablet.locator(f"#p-{pids[1]}").get_attribute("data-alarm") == "high"
        tablet.goto(f"{live_server.url}/rooms")
        tablet.locator("[data-testid=strip-alarm]").filter(has_text="Mira K.").wait_for(timeout=5000)

        # A tablet that really goes away shows as offline once the grace period has passed.
        tablet_context.close()
        overview.locator("[data-testid=offline-tablets]").filter(has_text="farah").wait_for(timeout=20000)
    finally:
        lead_context.close()
