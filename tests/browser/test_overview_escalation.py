"""Issue 4 in real Chromium: distress tapped on a room tablet alarms the lead's overview, which
acknowledges (the alarm stays open) and resolves it with what was done; a tablet that drops its
link shows as offline on the overview."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import screenshot, sign_in
from tests.browser.scenes import cedar_session

pytestmark = pytest.mark.browser


def test_distress_on_a_tablet_alarms_the_overview_which_acknowledges_and_resolves_it(live_server, browser) -> None:  # type: ignore[no-untyped-def]
    api = live_server.api("farah")
    sid, [pid] = cedar_session(live_server, ("Rowan A.", "C-1042"))

    tablet_context = browser.new_context(viewport={"width": 1024, "height": 768}, color_scheme="dark")
    lead_context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    try:
        tablet = tablet_context.new_page()
        overview = lead_context.new_page()
        sign_in(tablet, live_server, "farah", "/rooms/cedar-room")
        sign_in(overview, live_server, "lena", "/overview")
        overview.locator("#live-status").filter(has_text="Live").wait_for(timeout=5000)
        assert overview.locator(".alarm").count() == 0

        tablet.locator(f"#p-{pid} button.distress-btn", has_text="3").click()

        alarm = overview.locator(".alarm.prio-medium")
        alarm.wait_for(timeout=3000)
        assert "Rowan A.: Distress 3" in alarm.inner_text()
        assert alarm.get_attribute("data-sounding") == "true"
        alarm.locator(".countdown").filter(has_text=re.compile(r"climbs to every lead and medical in \d+ s")).wait_for(
            timeout=3000
        )
        # The room-disruption options appear for a group session.
        overview.locator("[data-testid=disrupted]").filter(has_text="Rowan A. at distress 3").wait_for(timeout=3000)
        screenshot(overview, "overview-alarm")

        alarm.locator("button", has_text="Acknowledge").click()
        overview.locator(".alarm.acked").filter(has_text="acknowledged by lena").wait_for(timeout=3000)
        assert overview.locator(".alarm").count() == 1, "acknowledging must not close the escalation"
        assert overview.locator(".alarm").get_attribute("data-sounding") == "false"

        overview.locator(".alarm button", has_text="Resolve").click()
        dialog = overview.locator("#entry-dialog")
        dialog.locator("textarea[name=outcome]").fill("Settled within ten minutes")
        dialog.locator("button[type=submit]").click()
        # Without what was done the form does not go out, and the alarm stays open.
        assert dialog.locator("textarea[name=action]").evaluate("el => !el.validity.valid")
        assert api.get("/api/v1/escalations").json()[0]["status"] == "open"
        dialog.locator("textarea[name=action]").fill("Theo sat with her; grounding breath")
        dialog.locator("button[type=submit]").click()
        overview.locator(".alarms .quiet", has_text="No open alarms").wait_for(timeout=3000)

        resolved = api.get("/api/v1/escalations", params={"status": "resolved"}).json()
        assert len(resolved) == 1
        assert resolved[0]["action"] == "Theo sat with her; grounding breath"
        assert resolved[0]["resolved_by"] == "lena"
        # The escalation reached the lead, so a follow-up (repair) item is open.
        overview.locator(".followup").filter(has_text="Escalated to the lead").wait_for(timeout=3000)

        # A tablet that loses its link shows as offline on the overview.
        tablet_context.close()
        overview.locator("[data-testid=offline-tablets]").filter(has_text="farah").wait_for(timeout=20000)
        screenshot(overview, "overview-after-resolve")
    finally:
        lead_context.close()
