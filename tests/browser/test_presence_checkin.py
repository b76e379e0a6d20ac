"""Issue 9, item 1 in real Chromium: on the room tablet a facilitator alone with two journeying
participants cannot make the room read as covered by checking in an absent colleague; with the
colleague's own PIN typed on the tablet, the check-in counts and she may step out."""

from __future__ import annotations

import pytest

from app.store import people
from app.store.db import make_engine, unit_of_work
from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser

THEO_PIN = "3579"
CONSENT = {
    "touch": ["hand"],
    "pause_signal": "raised hand",
    "stop_signal": "says 'stop'",
    "music": True,
    "eyeshades": True,
    "emergency_contact": "Sam, 555 0100",
    "transport_plan": "partner drives",
    "signed_by_participant": True,
}


def _farah_alone_with_two_journeying(server) -> tuple[str, list[str], object]:  # type: ignore[no-untyped-def]
    api = server.api("farah")
    sid = api.post(
        "/api/v1/sessions",
        json={"room_id": "cedar-room", "kind": "group", "facilitators": ["farah", "theo"], "lead": "lena"},
    ).json()["id"]
    api.post(f"/api/v1/sessions/{sid}/facilitators/farah/check-in").raise_for_status()
    prescriber = server.api("dr.ade")
    pids = []
    for name, chart in (("Wren K.", "C-2001"), ("Jules P.", "C-2002")):
        pid = api.post(f"/api/v1/sessions/{sid}/participants", json={"display_name": name, "chart_id": chart}).json()[
            "id"
        ]
        base = f"/api/v1/sessions/{sid}/participants/{pid}"
        api.put(base + "/screening", json={"contraindications": {}, "bp": {"sbp": 124, "dbp": 78}}).raise_for_status()
        api.put(base + "/consent", json=CONSENT).raise_for_status()
        api.post(base + "/support", json={"kind": "staff", "id": "farah"}).raise_for_status()
        prescriber.post(base + "/dose", json={"route": "sublingual", "dose_mg": 150}).raise_for_status()
        api.post(base + "/phase", json={"to": "journeying"}).raise_for_status()
        pids.append(pid)
    engine = make_engine(server.settings.database_url, for_writes=True)
    try:
        with unit_of_work(engine) as db:
            people.set_pin(db, "theo", THEO_PIN)
            db.commit()
    finally:
        engine.dispose()
    return sid, pids, api


def _in_the_room(present) -> list[str]:  # type: ignore[no-untyped-def]
    return list(present.locator(".chip").evaluate_all("chips => chips.map(c => c.dataset.username)"))


def test_an_absent_colleague_cannot_be_checked_in_but_their_own_pin_checks_them_in(live_server, page) -> None:  # type: ignore[no-untyped-def]
    sid, pids, api = _farah_alone_with_two_journeying(live_server)
    sign_in(page, live_server, "farah", "/rooms/cedar-room")
    page.locator("#live-status").filter(has_text="Live").wait_for(timeout=5000)
    page.on("dialog", lambda d: d.accept())  # the "Check yourself out of the room?" confirmation
    present = page.locator("[data-testid=present]")
    assert _in_the_room(present) == ["farah"]
    # The old "check in theo" control is gone: only theo can check theo in.
    assert page.get_by_role("button", name="check in theo").count() == 0

    # farah tries to check theo in without his PIN: the dialog asks for it; a guess is refused.
    present.get_by_role("button", name="I'm theo — check me in").click()
    dialog = page.locator("#entry-dialog")
    dialog.locator("input[name=pin]").fill("0000")
    dialog.get_by_role("button", name="Check me in").click()
    error = dialog.locator(".dialog-error")
    error.filter(has_text="That PIN is not theo's").wait_for(timeout=3000)
    screenshot(page, "presence-wrong-pin")
    dialog.locator(".dialog-close").click()
    assert _in_the_room(present) == ["farah"]

    # So she is the last facilitator with two journeyers: stepping out is refused.
    present.locator(".chip[data-username=farah] button", has_text="step out").click()
    notice = page.locator("#notice")
    notice.filter(has_text="last facilitator").wait_for(timeout=3000)
    screenshot(page, "presence-room-uncovered")
    state = api.get(f"/api/v1/sessions/{sid}").json()  # type: ignore[attr-defined]
    assert state["facilitators_present"] == ["farah"]
    codes = [r["code"] for r in state["refusals"]]
    assert codes == ["wrong_pin", "room_uncovered"]

    # theo arrives and types his own PIN on farah's tablet: now he is in the room.
    present.get_by_role("button", name="I'm theo — check me in").click()
    dialog.locator("input[name=pin]").fill(THEO_PIN)
    dialog.get_by_role("button", name="Check me in").click()
    present.locator(".chip[data-username=theo]").wait_for(timeout=3000)
    screenshot(page, "presence-colleague-pin-checked-in")
    # With theo supporting both journeyers too, farah may step out; the room stays covered.
    for pid in pids:
        api.post(  # type: ignore[attr-defined]
            f"/api/v1/sessions/{sid}/participants/{pid}/support", json={"kind": "staff", "id": "theo"}
        ).raise_for_status()
    present.locator(".chip[data-username=farah] button", has_text="step out").click()
    present.locator(".chip[data-username=farah]").wait_for(state="detached", timeout=3000)
    assert _in_the_room(present) == ["theo"]
    present.get_by_role("button", name="Check me in (farah)").wait_for(timeout=3000)
    screenshot(page, "presence-farah-stepped-out")
    state = api.get(f"/api/v1/sessions/{sid}").json()  # type: ignore[attr-defined]
    assert state["facilitators_present"] == ["theo"]
