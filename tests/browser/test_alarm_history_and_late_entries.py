"""In real Chromium: a low alarm raised to medium reads "Medium since … (raised as low …)" on the room
tablet and the overview; a screening and an agreement typed in from paper show when they happened
and that they were entered late; the before-dosing dialog lists what a dose still needs."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser

SCREENING = {"contraindications": {"psychosis_history": False}, "bp": {"sbp": 118, "dbp": 76}}
CONSENT = {
    "touch": ["hand"],
    "pause_signal": "hand on heart",
    "stop_signal": "red card",
    "music": True,
    "eyeshades": False,
    "emergency_contact": "Sam, +1 555 0100",
    "transport_plan": "Partner drives her home",
    "signed_by_participant": True,
}


def test_an_upgraded_alarm_shows_since_when_it_is_medium_on_the_tablet_and_the_overview(live_server, browser) -> None:  # type: ignore[no-untyped-def]
    api, doc = live_server.api("farah"), live_server.api("dr.ade")
    sid = api.post(
        "/api/v1/sessions",
        json={"room_id": "cedar-room", "kind": "group", "facilitators": ["farah", "theo"], "lead": "lena"},
    ).json()["id"]
    base = f"/api/v1/sessions/{sid}/participants"
    pid = api.post(base, json={"display_name": "Rowan A.", "chart_id": "C-1042"}).json()["id"]
    api.put(f"{base}/{pid}/screening", json=SCREENING).raise_for_status()
    api.put(f"{base}/{pid}/consent", json=CONSENT).raise_for_status()
    api.post(f"/api/v1/sessions/{sid}/facilitators/farah/check-in").raise_for_status()
    api.post(f"{base}/{pid}/support", json={"kind": "staff", "id": "farah"}).raise_for_status()
    doc.post(f"{base}/{pid}/dose", json={"route": "sublingual", "dose_mg": 50}).raise_for_status()
    api.post(f"{base}/{pid}/observations", json={"distress": 2}).raise_for_status()
    live_server.clock.advance(minutes=11)
    api.post(f"{base}/{pid}/observations", json={"distress": 3}).raise_for_status()

    tablet_context = browser.new_context(viewport={"width": 1024, "height": 768}, color_scheme="dark")
    lead_context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    try:
        tablet, overview = tablet_context.new_page(), lead_context.new_page()
        sign_in(tablet, live_server, "farah", "/rooms/cedar-room")
        sign_in(overview, live_server, "lena", "/overview")
        since = re.compile(r"Medium since \d\d:\d\d, just now \(raised as low \d\d:\d\d, 11 min ago\)")
        for screen, name in ((tablet, "room-upgraded-alarm"), (overview, "overview-upgraded-alarm")):
            meta = screen.locator(".alarm.prio-medium .alarm-meta")
            meta.wait_for(timeout=5000)
            assert since.search(meta.inner_text()), meta.inner_text()
            screenshot(screen, name)
    finally:
        tablet_context.close()
        lead_context.close()


def test_late_screening_and_agreement_show_both_times_and_the_dialog_lists_what_a_dose_needs(live_server, page) -> None:  # type: ignore[no-untyped-def]
    api = live_server.api("farah")
    sid = api.post(
        "/api/v1/sessions",
        json={"room_id": "cedar-room", "kind": "group", "facilitators": ["farah", "theo"], "lead": "lena"},
    ).json()["id"]
    base = f"/api/v1/sessions/{sid}/participants"
    pid = api.post(base, json={"display_name": "Jules M.", "chart_id": "C-1057"}).json()["id"]
    on_paper = live_server.clock()
    live_server.clock.advance(minutes=40)
    api.put(f"{base}/{pid}/screening", json={**SCREENING, "observed_at": on_paper.isoformat()}).raise_for_status()
    signed = on_paper + timedelta(minutes=5)
    api.put(f"{base}/{pid}/consent", json={**CONSENT, "observed_at": signed.isoformat()}).raise_for_status()

    sign_in(page, live_server, "farah", "/rooms/cedar-room")
    card = page.locator(f"#p-{pid}")
    card.wait_for(timeout=5000)
    assert re.search(
        r"signed \d\d:\d\d \(entered late, at \d\d:\d\d\)", card.locator("[data-testid=agreed]").inner_text()
    )
    card.locator("button.drawer-btn", has_text="Before dosing").click()
    dialog = page.locator("#entry-dialog")
    missing = dialog.locator("[data-testid=dose-missing]")
    missing.wait_for(timeout=3000)
    assert missing.inner_text() == (
        "Before the dose, still missing: a support person assigned; a facilitator checked in to the room."
    )
    assert re.search(r"Screening · done \d\d:\d\d \(entered late, at \d\d:\d\d\)", dialog.inner_text())
    screenshot(page, "room-before-dosing-late-entries")

    page.goto(f"{live_server.url}/sessions/{sid}/participants/{pid}")
    screening = page.locator("[data-testid=screening]")
    assert re.search(r"Done \d\d:\d\d · entered late, at \d\d:\d\d", screening.inner_text())
    assert re.search(
        r"Signed \d\d:\d\d · entered late, at \d\d:\d\d", page.locator("[data-testid=agreement]").inner_text()
    )
    screenshot(page, "participant-late-entries")
