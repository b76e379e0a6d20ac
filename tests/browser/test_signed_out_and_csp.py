"""In real Chromium: the pages run under the Content-Security-Policy without a single violation,
and a tablet whose sign-in ends (signed out in another tab) leaves the record and says so."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser


def test_the_room_page_works_under_the_csp_and_leaves_the_record_on_sign_out(live_server, page) -> None:  # type: ignore[no-untyped-def]
    api = live_server.api("farah")
    sid = api.post(
        "/api/v1/sessions",
        json={"room_id": "cedar-room", "kind": "group", "facilitators": ["farah"], "lead": "lena"},
    ).json()["id"]
    api.post(f"/api/v1/sessions/{sid}/participants", json={"display_name": "Rowan A.", "chart_id": "C-1"})
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    sign_in(page, live_server, "farah", "/rooms/cedar-room")
    page.locator("#live-status").filter(has_text="Live").wait_for(timeout=5000)
    # htmx and app.js work: a tap goes out as JSON and comes back over the socket.
    page.locator("button.distress-btn", has_text="1").first.click()
    page.locator("[data-testid=distress]").filter(has_text="1 · processing").first.wait_for(timeout=5000)
    assert violations == []

    # Signed out in another tab of the same browser: this tablet's socket closes (4401) at once.
    other_tab = page.context.new_page()
    other_tab.goto(f"{live_server.url}/rooms")
    other_tab.locator("form[action='/logout'] button").click()
    other_tab.wait_for_url(f"{live_server.url}/login")
    page.wait_for_url("**/login?signed_out=1**", timeout=5000)
    notice = page.locator("#signed-out")
    notice.wait_for(timeout=3000)
    assert "signed out" in notice.inner_text()
    assert "Rowan" not in page.content()
    screenshot(page, "signed-out-tablet")
    assert violations == []
