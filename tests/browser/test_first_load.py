"""Issue 13 item 8 in Chromium: the room page with eight participants is light to carry on clinic
Wi-Fi — at most 150 KB on the wire on first load, compressed (bench/first_load.py also times the
first contentful paint; figures in bench/README.md)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import sign_in
from tests.browser.scenes import group_room

pytestmark = pytest.mark.browser


def test_the_room_page_with_eight_people_is_at_most_150_kb_on_first_load(live_server, browser) -> None:  # type: ignore[no-untyped-def]
    group_room(live_server, people=8, alarms=True)
    context = browser.new_context(viewport={"width": 820, "height": 1180}, color_scheme="dark")
    try:
        page = context.new_page()
        sign_in(page, live_server, "farah", "/rooms")
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        sizes: dict[str, int] = {}
        encodings: dict[str, str] = {}

        def on_response(params: dict[str, Any]) -> None:
            headers = {k.lower(): v for k, v in params["response"]["headers"].items()}
            encodings[params["response"]["url"].split("?")[0]] = headers.get("content-encoding", "")

        cdp.on("Network.responseReceived", on_response)
        cdp.on(
            "Network.loadingFinished",
            lambda params: sizes.__setitem__(params["requestId"], params["encodedDataLength"]),
        )
        page.goto(f"{live_server.url}/rooms/cedar-room", wait_until="load")
        page.locator("#live-status").filter(has_text="Live").wait_for(timeout=5000)
        assert page.locator("article.card").count() == 8
        total = sum(sizes.values())
        assert total <= 150 * 1024, f"{total} bytes on first load"
        assert encodings[f"{live_server.url}/rooms/cedar-room"] == "gzip"
        assert encodings[f"{live_server.url}/static/vendor/htmx.min.js"] == "gzip"
        fcp = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
        assert fcp > 0
    finally:
        context.close()
