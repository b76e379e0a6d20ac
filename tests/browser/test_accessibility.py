"""Issue 13 item 5 in Chromium: axe-core finds no violations on the login, room, overview and
participant pages, with and without open alarms; every touch target is at least 44×44 CSS px; the
distress buttons say their words. Screenshots of each page at the three tablet and laptop sizes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import screenshot, sign_in
from tests.browser.scenes import group_room

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
SIZES = [(820, 1180), (1180, 820), (1366, 768)]

# Every visible thing a finger can tap, with the box that takes the tap (a checkbox's label).
SMALL_TARGETS = """() => {
  const out = [];
  const seen = new Set();
  document.querySelectorAll('a[href], button, select, input:not([type=hidden]), textarea, summary').forEach((el) => {
    let target = el;
    if (el.matches('input[type=checkbox], input[type=radio]') && el.closest('label')) target = el.closest('label');
    if (seen.has(target)) return;
    seen.add(target);
    const box = target.getBoundingClientRect();
    const style = getComputedStyle(target);
    if (box.width === 0 || box.height === 0 || style.visibility === 'hidden') return;
    if (target.closest('[hidden], template, dialog:not([open])')) return;
    if (box.width < 44 || box.height < 44) {
      const label = (target.textContent || target.name || '').trim().slice(0, 40);
      out.push(`${target.tagName.toLowerCase()} "${label}" ${Math.round(box.width)}x${Math.round(box.height)}`);
    }
  });
  return out;
}"""


def axe_violations(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, { resultTypes: ['violations'] })")
    return [
        f"{v['id']}: {v['help']} — " + "; ".join(n["target"][0] if n["target"] else "?" for n in v["nodes"][:5])
        for v in result["violations"]
    ]


def check_page(page: Any, name: str) -> None:
    problems = {}
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(100)
        small = page.evaluate(SMALL_TARGETS)
        if small:
            problems[f"{width}x{height} touch targets under 44x44"] = small
        screenshot(page, f"{name}-{width}x{height}")
    violations = axe_violations(page)
    if violations:
        problems["axe"] = violations
    assert not problems, f"{name}: {problems}"


@pytest.mark.parametrize("alarms", [False, True], ids=["quiet", "alarms"])
def test_every_page_passes_axe_and_has_large_touch_targets(live_server, browser, alarms: bool) -> None:  # type: ignore[no-untyped-def]
    scene = group_room(live_server, alarms=alarms)
    suffix = "alarms" if alarms else "quiet"
    # bypass_csp: axe is injected as a script of the test's, which the page's CSP would refuse.
    context = browser.new_context(viewport={"width": 1180, "height": 820}, color_scheme="dark", bypass_csp=True)
    try:
        page = context.new_page()
        if not alarms:
            page.goto(f"{live_server.url}/login")
            check_page(page, "login")
        sign_in(page, live_server, "farah", "/rooms/cedar-room")
        page.locator("#live-status").filter(has_text="Live").wait_for(timeout=5000)
        check_page(page, f"room-{suffix}")
        # The entry dialogs are touched as much as the cards.
        for opener in ("Record vitals", "Observation", "Session note"):
            page.locator(f"#p-{scene.pids[0]} button.drawer-btn", has_text=opener).click()
            small = page.evaluate(SMALL_TARGETS)
            assert not small, f"{opener} dialog: {small}"
            page.locator("#entry-dialog .dialog-close").click()
        page.locator(f"#p-{scene.pids[0]} button.drawer-btn", has_text="Observation").click()
        assert not axe_violations(page), "the observation dialog"
        page.locator("#entry-dialog .dialog-close").click()
        page.goto(f"{live_server.url}/sessions/{scene.sid}/participants/{scene.pids[0]}")
        check_page(page, f"participant-{suffix}")
        lead = context.new_page()
        lead.context.clear_cookies()
        sign_in(lead, live_server, "lena", "/overview")
        lead.locator("#live-status").filter(has_text="Live").wait_for(timeout=5000)
        check_page(lead, f"overview-{suffix}")
    finally:
        context.close()


def test_the_distress_buttons_say_their_words(live_server, page) -> None:  # type: ignore[no-untyped-def]
    scene = group_room(live_server, people=2)
    sign_in(page, live_server, "farah", "/rooms/cedar-room")
    buttons = page.locator(f"#p-{scene.pids[0]} .distress-btn")
    words = [" ".join(buttons.nth(i).inner_text().split()) for i in range(buttons.count())]
    assert words[:4] == ["0 settled", "1 processing", "2 distressed", "3 acute"]
    assert words[4].startswith("4 emergency")
    assert "pages every lead and the medical on-call" in words[4]
    group = page.locator(f"#p-{scene.pids[0]} [data-testid=distress-buttons]")
    assert group.get_attribute("role") == "group"
