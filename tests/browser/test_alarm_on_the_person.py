"""Issue 13 item 1 in Chromium: the alarm is on the person's card, marked by priority, saying what
and since when; the alarm list links to the card; out-of-range readings are marked."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser


def _session(server):  # type: ignore[no-untyped-def]
    api = server.api("farah")
    sid = api.post(
        "/api/v1/sessions",
        json={"room_id": "cedar-room", "kind": "group", "facilitators": ["farah", "theo"], "lead": "lena"},
    ).json()["id"]
    api.post(f"/api/v1/sessions/{sid}/facilitators/farah/check-in").raise_for_status()
    pids = [
        api.post(f"/api/v1/sessions/{sid}/participants", json={"display_name": name, "chart_id": f"C-{i}"}).json()["id"]
        for i, name in enumerate(["Rowan A.", "Mira K.", "Ade O."])
    ]
    return api, sid, pids


def test_a_high_alarm_is_on_the_card_and_the_alarm_list_links_to_it(live_server, page) -> None:  # type: ignore[no-untyped-def]
    api, sid, pids = _session(live_server)
    sign_in(page, live_server, "farah", "/rooms/cedar-room")
    page.locator("#live-status").filter(has_text="Live").wait_for(timeout=5000)
    quiet = page.locator(f"#p-{pids[0]}")
    assert quiet.locator("[data-testid=card-alarm]").count() == 0
    assert quiet.get_attribute("data-alarm") is None

    base = f"/api/v1/sessions/{sid}/participants/{pids[2]}"
    api.post(base + "/vitals", json={"sbp": 126, "dbp": 81, "hr": 74, "spo2": 89}).raise_for_status()

    card = page.locator(f"#p-{pids[2]}")
    card.locator("[data-testid=card-alarm]").wait_for(timeout=3000)
    assert card.get_attribute("data-alarm") == "high"
    assert "prio-high" in (card.get_attribute("class") or "")
    text = card.locator("[data-testid=card-alarm]").inner_text()
    assert "HIGH alarm" in text
    assert "SpO2 89% below 92%" in text
    assert "since " in text
    # Only the reading past the clinic's threshold is marked, in words as well as colour.
    marked = card.locator("[data-testid=out-of-range]")
    assert marked.count() == 1
    assert "SpO₂ 89%" in marked.inner_text()
    assert "out of range, high alarm" in (marked.text_content() or "")
    assert "BP 126/81" in card.locator("[data-testid=vitals]").inner_text()
    screenshot(page, "room-alarm-on-card")

    # The alarm list at the top links to the card.
    link = page.locator(".alarms .alarm a.to-card")
    assert link.get_attribute("href") == f"#p-{pids[2]}"
    link.click()
    page.wait_for_function(f"() => location.hash === '#p-{pids[2]}'")
    # And the card's alarm links back to the alarm with its actions.
    alarm_id = page.locator(".alarms .alarm").get_attribute("id")
    assert card.locator("[data-testid=card-alarm]").get_attribute("href") == f"#{alarm_id}"


def test_the_overview_links_an_alarm_to_the_card_in_its_room(live_server, page) -> None:  # type: ignore[no-untyped-def]
    api, sid, pids = _session(live_server)
    api.post(f"/api/v1/sessions/{sid}/participants/{pids[1]}/observations", json={"distress": 3}).raise_for_status()
    sign_in(page, live_server, "lena", "/overview")
    link = page.locator(".alarm a.to-card")
    assert link.inner_text() == "Mira K."
    link.click()
    page.wait_for_url(f"{live_server.url}/rooms/cedar-room#p-{pids[1]}")
    card = page.locator(f"#p-{pids[1]}")
    assert card.get_attribute("data-alarm") == "medium"
    assert "Distress 3: acute distress" in card.locator("[data-testid=card-alarm]").inner_text()
