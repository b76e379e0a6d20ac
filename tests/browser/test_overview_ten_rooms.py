"""The lead's overview with ten rooms under way, on a laptop and on a portrait tablet: every room
is on the one page, and an alarm stays at the top, in view, without scrolling."""

from __future__ import annotations

import pytest

from app.store import people
from app.store.db import make_engine, unit_of_work
from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser

NAMES = ["Alder", "Birch", "Cypress", "Elm", "Fir", "Hazel", "Larch", "Maple", "Oak", "Rowan"]


def _ten_rooms(server, db_url: str) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(db_url)
    with unit_of_work(engine) as db:
        room = people.find_room(db, "Cedar Room")
        for name in NAMES[1:]:
            extra = people.create_room(db, f"{name} Room", lead="lena")
            people.assign(db, extra, "farah")
        db.commit()
    engine.dispose()
    assert room is not None
    api = server.api("farah")
    rooms = [r for r in api.get("/api/v1/rooms").json() if r["lead"] == "lena"]
    assert len(rooms) == 10
    for index, room in enumerate(rooms):
        sid = api.post(
            "/api/v1/sessions", json={"room_id": room["id"], "kind": "group", "facilitators": ["farah"], "lead": "lena"}
        ).json()["id"]
        api.post(f"/api/v1/sessions/{sid}/facilitators/farah/check-in").raise_for_status()
        for n in range(3):
            pid = api.post(
                f"/api/v1/sessions/{sid}/participants",
                json={"display_name": f"P{index}-{n}", "chart_id": f"C-{index}{n}"},
            ).json()["id"]
            if index == 7 and n == 1:
                api.post(
                    f"/api/v1/sessions/{sid}/participants/{pid}/observations", json={"distress": 4}
                ).raise_for_status()


@pytest.mark.parametrize("viewport", [(1366, 768), (768, 1024)], ids=["laptop", "tablet"])
def test_ten_rooms_fit_one_overview_with_the_alarm_in_view(live_server, browser, db_url, viewport) -> None:  # type: ignore[no-untyped-def]
    _ten_rooms(live_server, db_url)
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, color_scheme="dark")
    try:
        page = context.new_page()
        sign_in(page, live_server, "lena", "/overview")
        page.locator("#live-status").filter(has_text="Live").wait_for(timeout=5000)
        assert page.locator(".room-tile").count() == 10
        alarm = page.locator(".alarm.prio-high")
        alarm.wait_for(timeout=3000)
        box = alarm.bounding_box()
        assert box is not None and box["y"] + box["height"] <= viewport[1], (
            "the alarm must be in view without scrolling"
        )
        # Nothing overflows sideways on a tablet.
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport[0]
        screenshot(page, f"overview-ten-rooms-{viewport[0]}x{viewport[1]}")
    finally:
        context.close()
