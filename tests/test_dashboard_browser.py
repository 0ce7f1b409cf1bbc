"""The dashboard in headless Chromium: start a campaign by clicking, see it dial, pause it.

Runs Debian's /usr/bin/chromium through Playwright (the session's browser: tests/conftest.py).
The screenshot is saved to PACEDIAL_SCREENSHOT (default /tmp/pacedial-dashboard.png) and its
path printed.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from e2e_rig import AsteriskRig, campaign_doc

from dialer_core.campaign.config import parse_campaign
from dialer_core.campaign.manager import CampaignManager
from dialer_core.cases_csv import parse_cases_csv
from dialer_core.demo_data import demo_cases_csv
from dialer_core.face.serve import serve_api
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.cases import import_cases

ARTIFACTS: list[str] = []  # printed in the run's summary by tests/conftest.py
SCREENSHOT = Path(os.environ.get("PACEDIAL_SCREENSHOT", "/tmp/pacedial-dashboard.png"))
TOKEN = "browser-test-token"


async def number(page, selector: str) -> int:
    return int((await page.text_content(selector)) or "0")


async def test_dashboard_starts_a_campaign_shows_it_dialing_and_pauses_it(db, browser):
    # 1:1 at ten times real speed: a loaded machine's event-loop stalls stay well under the
    # 2-second rule in simulated seconds, so the abandonment brake never pauses this campaign
    # before the page has seen it run (at 40x and 1.5 lines per agent it did, under load).
    async with AsteriskRig(db, agents=4, time_scale=10) as rig:
        doc = campaign_doc("browser", lines_per_agent=1.0)
        campaign = parse_campaign(doc, "test campaign")
        parsed = parse_cases_csv(demo_cases_csv(300, seed=11))
        async with db.acquire() as conn:
            cid = await ensure_campaign(conn, "browser", campaign.mode, campaign.raw)
            await import_cases(conn, cid, parsed.rows, parsed.errors, "demo")
        manager = CampaignManager(db, rig.driver, rig.answered.registry, clock=rig.clock)
        async with serve_api(db, manager, host="127.0.0.1", port=0, token=TOKEN) as url:
            try:
                # Playwright polls wait_for_function with eval, which the page's CSP forbids
                # (tests/test_hostile_pages.py loads the dashboard under its CSP).
                page = await browser.new_page(
                    viewport={"width": 1400, "height": 1000}, bypass_csp=True
                )
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                await page.goto(url)
                # No token yet: the page shows the API's refusal, then works once given one.
                await page.wait_for_selector("#error:not([hidden])", timeout=5000)
                assert "Authorization" in (await page.text_content("#error"))
                await page.fill("#token", TOKEN)
                await page.click("#token-form button")
                row = 'tr[data-name="browser"]'
                await page.wait_for_selector(f"{row} [data-role=state]:text('stopped')")
                assert await page.is_disabled(f'{row} button[data-action="pause"]')

                await page.click(f'{row} button[data-action="start"]')
                await page.wait_for_selector("#kpi-state:text('running')", timeout=5000)
                await page.wait_for_function(
                    "Number(document.querySelector('#kpi-launched').textContent) >= 5",
                    timeout=15000,
                )
                first = await number(page, "#kpi-launched")
                await page.wait_for_function(
                    f"Number(document.querySelector('#kpi-launched').textContent) > {first}",
                    timeout=10000,
                )
                assert await number(page, "#kpi-dialrate") > 0
                assert await page.locator("#agent-board .agent").count() == 4
                assert await page.locator("#windows tbody tr").count() == 3

                await page.click(f'{row} button[data-action="pause"]')
                await page.wait_for_selector("#kpi-state:text('paused')", timeout=5000)
                await page.wait_for_selector(f"{row} [data-role=state]:text('paused')")
                assert manager.get("browser").runner.paused
                launched = manager.get("browser").runner.stats.launched
                await asyncio.sleep(1.2)  # paused: the page and the runner stop counting up
                assert manager.get("browser").runner.stats.launched == launched
                assert await number(page, "#kpi-launched") == launched
                assert await page.is_enabled(f'{row} button[data-action="resume"]')
                await page.wait_for_selector("#callerid tbody tr")
                await page.screenshot(path=str(SCREENSHOT), full_page=True)
                print(f"\ndashboard screenshot: {SCREENSHOT}")
                ARTIFACTS.append(f"dashboard screenshot: {SCREENSHOT}")
                assert not errors, errors
            finally:
                for context in browser.contexts:
                    await context.close()
            await manager.stop_all()
    assert SCREENSHOT.stat().st_size > 10_000
