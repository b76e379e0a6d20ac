"""Seen is a fact, in real Chromium: a visible overview reports the alarm on screen (the lead's
sighting goes on the record with the device), a hidden tablet reports nothing until it is looked
at; the session review and the replay show it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.browser.conftest import screenshot, sign_in
from tests.browser.scenes import cedar_session

pytestmark = pytest.mark.browser

# A page whose visibility the test controls (a headless browser counts every page as visible).
HIDDEN_UNTIL_TOLD = """
window.__hidden = true;
Object.defineProperty(document, 'visibilityState', {
  configurable: true, get: () => window.__hidden ? 'hidden' : 'visible'
});
"""


def _sightings(api: Any, sid: str) -> list[tuple[str, str | None]]:
    found = api.get(f"/api/v1/sessions/{sid}/events").json()
    return [(e["actor"], e.get("device")) for e in found if e["kind"] == "escalation_seen"]


def _wait_for(check: Any, timeout: float = 6.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    return check()


def test_a_visible_screen_reports_what_it_shows_and_a_hidden_one_does_not(live_server, browser) -> None:  # type: ignore[no-untyped-def]
    farah, lena = live_server.api("farah"), live_server.api("lena")
    sid, [pid] = cedar_session(live_server, ("Rowan A.", "C-1042"))

    tablet_context = browser.new_context(viewport={"width": 1024, "height": 768}, color_scheme="dark")
    lead_context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    try:
        tablet = tablet_context.new_page()
        tablet.add_init_script(HIDDEN_UNTIL_TOLD)
        overview = lead_context.new_page()
        sign_in(tablet, live_server, "farah", "/rooms/cedar-room")
        sign_in(overview, live_server, "lena", "/overview")
        overview.locator("#live-status").filter(has_text="Live").wait_for(timeout=5000)

        farah.post(f"/api/v1/sessions/{sid}/participants/{pid}/observations", json={"distress": 3}).raise_for_status()
        overview.locator(".alarm.prio-medium").wait_for(timeout=3000)
        tablet.locator(".alarm.prio-medium").wait_for(timeout=3000)
        lead_device = overview.evaluate("localStorage.getItem('holdspace-device')")
        assert _wait_for(lambda: _sightings(lena, sid)) == [("lena", lead_device)]
        # The tablet has had it in its page for seconds, but nobody was looking: nothing recorded.
        time.sleep(2.5)
        assert [who for who, _ in _sightings(lena, sid)] == ["lena"]

        tablet.evaluate("window.__hidden = false; document.dispatchEvent(new Event('visibilitychange'))")
        tablet_device = tablet.evaluate("localStorage.getItem('holdspace-device')")
        assert _wait_for(lambda: len(_sightings(lena, sid)) == 2)
        assert _sightings(lena, sid) == [("lena", lead_device), ("farah", tablet_device)]
        time.sleep(2.5)  # both pages keep running; the record keeps only the first sightings
        assert len(_sightings(lena, sid)) == 2

        review = lead_context.new_page()
        violations: list[str] = []
        review.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        review.goto(f"{live_server.url}/sessions/{sid}/review")
        alarms = review.locator("[data-testid=alarms]")
        assert "lena at" in alarms.inner_text() and lead_device in alarms.inner_text()
        assert review.locator("svg.timeline").count() == 1
        screenshot(review, "session-review")
        review.locator("[data-testid=replay-link]").click()
        review.locator("[data-testid=replay-position]").wait_for(timeout=3000)
        review.locator("[data-testid=previous]").click()
        assert "on screen for: lena" in review.locator("[data-testid=replay-alarms]").inner_text()
        screenshot(review, "session-replay")
        # The scrubber goes to an event at once: before the alarm, nothing was open.
        review.locator("[data-testid=scrubber]").fill("3")
        review.locator("[data-testid=replay-position]").filter(has_text="Event 3 of").wait_for(timeout=3000)
        assert "No alarm was open." in review.locator("[data-testid=replay-alarms]").inner_text()
        review.keyboard.press("ArrowRight")
        review.locator("[data-testid=replay-position]").filter(has_text="Event 4 of").wait_for(timeout=3000)

        reports = review
        reports.goto(f"{live_server.url}/reports")
        lead_row = reports.locator("[data-testid=report-lead] tbody tr").first
        assert "lena" in lead_row.inner_text() and "0 / 1 / 0" in lead_row.inner_text()  # alarms high/medium/low
        assert reports.locator("svg.bars").count() == 2
        screenshot(reports, "response-report")
        assert violations == [], violations  # the review, replay and report pages run under the CSP
    finally:
        tablet_context.close()
        lead_context.close()


def test_an_alarm_in_the_list_every_page_carries_is_seen_there_too(live_server, browser) -> None:  # type: ignore[no-untyped-def]
    """The participant record shows no full alarm card, only the live list of open alarms at the
    top: a person reading that list has seen the alarm, and the record says so."""
    farah, theo = live_server.api("farah"), live_server.api("theo")
    sid, [pid] = cedar_session(live_server, ("Rowan A.", "C-1042"))
    farah.post(f"/api/v1/sessions/{sid}/participants/{pid}/observations", json={"distress": 3}).raise_for_status()
    context = browser.new_context(viewport={"width": 1024, "height": 768}, color_scheme="dark")
    try:
        page = context.new_page()
        sign_in(page, live_server, "theo", f"/sessions/{sid}/participants/{pid}")
        page.locator("[data-testid=strip-alarm]").first.wait_for(timeout=5000)
        assert page.locator(".alarm[data-escalation-id]").count() == 0  # no full card on this page
        device = page.evaluate("localStorage.getItem('holdspace-device')")
        assert _wait_for(lambda: _sightings(theo, sid)) == [("theo", device)]
        screenshot(page, "seen-from-the-alarm-list")
    finally:
        context.close()
