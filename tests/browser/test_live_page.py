"""What the page does now that the pushed fragment is the same for everyone and time-free: it
writes relative times itself, ignores an older fragment, fills the entry forms it keeps, and shows
each role only its own controls."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot, sign_in
from tests.browser.test_room_tablet import _open_session_with_participant

pytestmark = pytest.mark.browser


def test_the_page_writes_relative_times_and_ignores_an_older_fragment(live_server, page) -> None:  # type: ignore[no-untyped-def]
    sid, pid = _open_session_with_participant(live_server)
    sign_in(page, live_server, "farah", "/rooms/cedar-room")
    page.locator("#live-status").filter(has_text="Live").wait_for(timeout=5000)
    api = live_server.api("theo")
    api.post(f"/api/v1/sessions/{sid}/participants/{pid}/vitals", json={"sbp": 120, "dbp": 80}).raise_for_status()
    age = page.locator(f"#p-{pid} [data-testid=vitals] time[data-rel=ago]")
    age.wait_for(timeout=3000)
    # Twelve minutes later by the tablet's own clock: no message from the server needed.
    page.evaluate(
        """el => { el.setAttribute('datetime', new Date(Date.now() - 12 * 60000 - 5000).toISOString());
                   window.holdspace.updateTimes(); }""",
        age.element_handle(),
    )
    assert age.inner_text() == "12 min ago"

    shown = int(page.locator("#room-live").get_attribute("data-seq") or "0")
    assert shown > 0
    verdicts = page.evaluate(
        """([sid, shown]) => [shown - 1, shown + 1].map(seq => {
             const message = `<div id="room-live" data-session="${sid}" data-seq="${seq}"></div>`;
             const init = {detail: {message}, cancelable: true, bubbles: true};
             const event = new CustomEvent('htmx:wsBeforeMessage', init);
             document.getElementById('room-socket').dispatchEvent(event);
             return event.defaultPrevented;
           })""",
        [sid, shown],
    )
    assert verdicts == [True, False], "an older fragment is ignored, a newer one is taken"


def test_the_support_dialog_is_filled_from_the_card_and_lead_only_controls_stay_hidden(live_server, page) -> None:  # type: ignore[no-untyped-def]
    sid, pid = _open_session_with_participant(live_server)
    api = live_server.api("farah")
    api.post(f"/api/v1/sessions/{sid}/participants/{pid}/support", json={"kind": "staff", "id": "farah"})
    sign_in(page, live_server, "farah", "/rooms/cedar-room")
    card = page.locator(f"#p-{pid}")
    card.locator("[data-testid=support]").filter(has_text="farah").wait_for(timeout=5000)
    card.locator("button.drawer-btn", has_text="Support person").click()
    dialog = page.locator("#entry-dialog")
    assert dialog.locator(".support-list li").all_inner_texts() == ["farah remove"]
    assert dialog.locator("select[name=id] option").all_inner_texts() == ["farah"]
    assert dialog.locator(".only-lead").count() == 0  # not altered: no handover form at all
    remove = dialog.locator(".support-list button")
    assert remove.get_attribute("hx-delete") == f"/api/v1/sessions/{sid}/participants/{pid}/support/farah"
    screenshot(page, "support-dialog-from-the-page")
    dialog.locator(".dialog-close").click()
    # The dose form is in every viewer's fragment; the page shows it to prescribers only.
    card.locator("button.drawer-btn", has_text="Before dosing").click()
    assert dialog.locator("form.only-prescriber").first.is_hidden()
    assert dialog.locator("form[hx-put$='/consent']").is_visible()
