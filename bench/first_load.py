"""First load of the room tablet page with eight participants, in Chromium: bytes transferred
(compressed, as on the wire) and first contentful paint. `make bench-first-load`, or
`.venv/bin/python bench/first_load.py --runs 5`.

Starts a real uvicorn server on loopback with a fresh SQLite database, opens a group session with
eight participants at different points of their day, signs in, then loads /rooms/cedar-room with
an empty cache in a new browser context for each run."""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.config import Settings  # noqa: E402
from tests.browser.conftest import CHROMIUM_FLAGS, LiveServer, RealTimeClock  # noqa: E402
from tests.browser.scenes import group_room  # noqa: E402
from tests.conftest import PASSWORD, create_schema, seed_clinic  # noqa: E402

BUDGET_BYTES = 150 * 1024
BUDGET_FCP_MS = 500


def measure(browser: Any, server: LiveServer, cookies: list[dict[str, Any]]) -> tuple[int, float, list[str]]:
    context = browser.new_context(viewport={"width": 820, "height": 1180}, color_scheme="dark")
    context.add_cookies(cookies)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    sizes: dict[str, int] = {}
    urls: dict[str, str] = {}

    def on_response(params: dict[str, Any]) -> None:
        urls[params["requestId"]] = params["response"]["url"]

    def on_finished(params: dict[str, Any]) -> None:
        sizes[params["requestId"]] = int(params["encodedDataLength"])

    cdp.on("Network.responseReceived", on_response)
    cdp.on("Network.loadingFinished", on_finished)
    page.goto(f"{server.url}/rooms/cedar-room", wait_until="load")
    page.locator("#live-status").filter(has_text="Live").wait_for(timeout=10000)
    fcp = page.evaluate("() => performance.getEntriesByName('first-contentful-paint').map(e => e.startTime)[0] || null")
    total = sum(sizes.values())
    detail = [f"{sizes[r]:>7} B  {urls.get(r, r)}" for r in sorted(sizes, key=lambda r: -sizes[r])]
    context.close()
    return total, float(fcp or 0.0), detail


def main() -> int:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        create_schema(url)
        seed_clinic(url)
        settings = Settings(database_url=url, secret_key="bench-secret-0123456789abcdef", secure_cookies=False)
        server = LiveServer(settings, RealTimeClock())
        server.start()
        try:
            group_room(server, people=8, alarms=True)
            executable = shutil.which("chromium")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
                login = browser.new_context()
                page = login.new_page()
                page.goto(f"{server.url}/login")
                page.fill("input[name=username]", "farah")
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(f"{server.url}/rooms")
                cookies = login.cookies()
                login.close()
                results = [measure(browser, server, cookies) for _ in range(args.runs)]
                browser.close()
        finally:
            server.close_clients()
            server.stop()
    totals = [r[0] for r in results]
    fcps = [r[1] for r in results]
    print("\n".join(results[0][2]))
    print(f"transferred: {totals[0]} B ({totals[0] / 1024:.1f} KiB), budget {BUDGET_BYTES // 1024} KiB")
    print(
        f"first contentful paint over {len(fcps)} runs: median {statistics.median(fcps):.0f} ms, max {max(fcps):.0f} ms"
    )
    ok = max(totals) <= BUDGET_BYTES and statistics.median(fcps) < BUDGET_FCP_MS
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
