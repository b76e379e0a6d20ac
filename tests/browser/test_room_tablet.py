"""The room's tablet view in real Chromium: live updates without reload, and an honest banner
when the live link drops."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import screenshot, sign_in
from tests.browser.scenes import cedar_session

pytestmark = pytest.mark.browser


def _open_session_with_participant(server) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    sid, [pid] = cedar_session(server, ("Rowan A.", "C-1042"))
    return sid, pid


def test_a_change_made_through_the_api_appears_on_the_tablet_without_a_reload(live_server, page) -> None:  # type: ignore[no-untyped-def]
    sid, pid = _open_session_with_participant(live_server)
    sign_in(page, live_server, "farah", "/rooms/cedar-room")
    status = page.locator("#live-status")
    status.filter(has_text="Live").wait_for(timeout=5000)
    page.evaluate("window.__marker = 'same page'")

    other_tablet = live_server.api("theo")
    base = f"/api/v1/sessions/{sid}/participants/{pid}"
    other_tablet.post(base + "/vitals", json={"sbp": 126, "dbp": 81, "hr": 74, "spo2": 98}).raise_for_status()
    other_tablet.post(base + "/observations", json={"distress": 2}).raise_for_status()

    card = page.locator(f"#p-{pid}")
    card.locator("[data-testid=vitals]").filter(has_text="BP 126/81").wait_for(timeout=3000)
    card.locator("[data-testid=distress]").filter(has_text="2 · distressed").wait_for(timeout=3000)
    assert page.evaluate("window.__marker") == "same page", "the page reloaded instead of updating live"

    # A tap on the tablet goes through the same API and comes back over the socket.
    card.locator("button.distress-btn", has_text="1").click()
    card.locator("[data-testid=distress]").filter(has_text="1 · processing").wait_for(timeout=3000)
    events = other_tablet.get(f"/api/v1/sessions/{sid}/events").json()
    distress_events = [e for e in events if e["kind"] == "observation_recorded"]
    assert [e["data"]["distress"] for e in distress_events][:2] == [2, 1]
    assert distress_events[-1]["actor"] == "farah"
    # A push while a facilitator is typing must not wipe what they typed.
    card.locator("button.drawer-btn", has_text="Record vitals").click()
    dialog = page.locator("#entry-dialog")
    dialog.locator("input[name='sbp:int']").fill("131")
    other_tablet.post(base + "/observations", json={"distress": 0}).raise_for_status()
    card.locator("[data-testid=distress]").filter(has_text="0 · settled").wait_for(timeout=3000)
    assert dialog.locator("input[name='sbp:int']").input_value() == "131"
    dialog.locator("input[name='dbp:int']").fill("84")
    dialog.locator("button[type=submit]").click()
    card.locator("[data-testid=vitals]").filter(has_text="BP 131/84").wait_for(timeout=3000)
    assert not dialog.is_visible()
    shot = screenshot(page, "room-tablet-dim")
    assert shot.stat().st_size > 10_000


def test_the_reconnect_banner_shows_when_the_link_drops_and_clears_when_it_returns(live_server, page) -> None:  # type: ignore[no-untyped-def]
    _open_session_with_participant(live_server)
    sign_in(page, live_server, "farah", "/rooms/cedar-room")
    page.locator("#live-status").filter(has_text="Live").wait_for(timeout=5000)
    banner = page.locator("#link-banner")
    assert banner.is_hidden()

    live_server.stop()
    banner.wait_for(state="visible", timeout=3000)
    assert re.search(r"Reconnecting — last update \d\d:\d\d:\d\d", banner.inner_text())
    assert "offline" in (page.locator("body").get_attribute("class") or "")
    screenshot(page, "room-tablet-reconnecting")

    live_server.start()
    banner.wait_for(state="hidden", timeout=8000)
    page.locator("#live-status").filter(has_text="Live").wait_for(timeout=3000)
