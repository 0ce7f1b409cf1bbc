"""The agent desktop and the supervisor's floor in headless Chromium, on the simulated PBX.

An agent logs in, pauses and goes ready, takes a call, sees the screen pop, saves a promise to
pay with a callback; the supervisor's floor shows the promise, listens in on the agent's call
(a real ChanSpy originate on the simulated PBX) and names the agent. Screenshots of both pages
are saved (PACEDIAL_SCREENSHOT_DIR, default /tmp) and their paths printed.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from e2e_rig import AsteriskRig
from test_dashboard_browser import ARTIFACTS

from dialer_core import accounts
from dialer_core.campaign.manager import CampaignManager
from dialer_core.face.serve import serve_api
from dialer_core.reports.cycle import build_cycle_report
from dialer_core.store import users as user_store

SEAT = "Local/agent1@sim-agents/n"
PASSWORD = "correct horse battery"
SHOTS = Path(os.environ.get("PACEDIAL_SCREENSHOT_DIR", "/tmp"))

# Two different CJK characters drawn in the page's font: a missing font draws both as the same
# "tofu" box, a real one draws different glyphs.
CJK_RENDERS = """() => {
  const font = getComputedStyle(document.body).fontFamily;
  const draw = (ch) => {
    const c = document.createElement("canvas");
    c.width = c.height = 40;
    const g = c.getContext("2d");
    g.font = "32px " + font;
    g.fillText(ch, 2, 34);
    return Array.from(g.getImageData(0, 0, 40, 40).data).join(",");
  };
  const a = draw("张"), b = draw("债"), blank = draw(" ");
  return a !== b && a !== blank;
}"""


async def add_user(db, username: str, role: str, **kw) -> None:
    async with db.acquire() as conn:
        await user_store.create_user(conn, username, role, accounts.hash_password(PASSWORD), **kw)


async def log_in(page, url: str, username: str) -> None:
    await page.goto(url)
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button[type=submit]")


async def test_an_agent_takes_a_call_and_saves_a_promise_the_supervisor_sees(db, browser):
    await add_user(db, "wang", "agent", display_name="王芳 Wang", pbx_agent=SEAT)
    await add_user(db, "boss", "supervisor", display_name="Boss", phone="Local/s@sim-supervisor")
    async with AsteriskRig(db, agents=1, time_scale=10, agent_talk=300) as rig:
        await rig.seed_cases("floor", 200)
        manager = CampaignManager(db, rig.driver, rig.answered.registry, clock=rig.clock)
        async with serve_api(db, manager, host="127.0.0.1", port=0) as url:
            try:
                errors: list[str] = []
                floor = await browser.new_page(viewport={"width": 1400, "height": 1100})
                floor.on("pageerror", lambda exc: errors.append(str(exc)))
                await log_in(floor, url, "boss")
                await floor.wait_for_selector("#who:text('Boss')")

                agent = await browser.new_page(viewport={"width": 1300, "height": 1000})
                agent.on("pageerror", lambda exc: errors.append(str(exc)))
                await log_in(agent, url + "agent", "wang")
                await agent.wait_for_selector("#me:text('王芳 Wang')")
                await agent.wait_for_selector("#pause-code option[value=break]", state="attached")
                await agent.select_option("#pause-code", "break")
                await agent.click("#pause")  # on the PBX even before any campaign runs
                await manager.start("floor")
                await floor.wait_for_selector("#floor:not([hidden])")
                await agent.wait_for_selector("#agent-state:text('paused')", timeout=10000)
                await agent.click("#ready")
                # Ready: the PBX offers the seat a call; the screen pop shows its case.
                await agent.wait_for_selector("#call-panel:not([hidden])", timeout=30000)
                assert (await agent.text_content("#debtor-name")).strip()
                phones = await agent.text_content("#case-facts")
                assert "*" in phones  # an agent without the pii scope sees masked numbers
                assert "CNY" in (await agent.text_content("#case-facts"))
                assert await agent.evaluate(CJK_RENDERS), "CJK text renders as tofu boxes"

                # The supervisor listens in while the conversation lasts.
                board_agent = f'#agent-board .agent[data-agent="{SEAT}"]'
                await floor.wait_for_selector(f"{board_agent} .who:text('王芳 Wang')")
                await floor.click(f"{board_agent} button[data-spy=listen]", timeout=15000)
                await floor.wait_for_selector("#spy-result:text('listen call placed')")
                [spy] = rig.sim.spies
                assert spy.spyee is not None and spy.spyee.name.startswith("Local/agent1@")
                assert spy.mode == "listen" and spy.spyer.cid_name.startswith("Listen")

                now = datetime.fromtimestamp(rig.clock(), UTC)
                await agent.click("label[data-outcome=promise_to_pay]")
                await agent.fill("#ptp-amount", "500.50")
                await agent.fill("#ptp-date", (now + timedelta(days=3)).date().isoformat())
                await agent.fill(
                    "#callback-at", (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
                )
                await agent.fill("#note", "will pay on Friday · 周五还款")
                await agent.screenshot(path=str(SHOTS / "pacedial-agent.png"), full_page=True)
                await agent.click("#save")
                await agent.wait_for_selector("#save-result:text('saved')", timeout=10000)

                # Today's tiles show the promise within 2 s of the save (the page polls 1/s).
                await floor.wait_for_selector("#tile-promises:text('1')", timeout=2500)
                assert "500.50 CNY" in await floor.text_content("#tile-promised")
                # The campaign detail: its settings, and the cycle report served in the page.
                assert '"floor"' in await floor.input_value("#config-editor")
                await floor.fill("#report-to", (now + timedelta(days=1)).date().isoformat())
                await floor.click("#report-form button[type=submit]")
                await floor.wait_for_selector("#report-result a:text('report ready')")
                await floor.screenshot(path=str(SHOTS / "pacedial-floor.png"), full_page=True)
                assert not errors, errors
            finally:
                for context in browser.contexts:
                    await context.close()
            async with db.acquire() as conn:
                promise = await conn.fetchrow("SELECT amount_minor, source FROM promises")
                kinds = {r["kind"] for r in await conn.fetch("SELECT kind FROM tasks")}
            assert dict(promise) == {"amount_minor": 50050, "source": "human"}
            assert kinds == {"promise_due", "callback"}
            await manager.stop_all()
            day = datetime.fromtimestamp(rig.clock(), UTC).date()
    report = await build_cycle_report(db, "floor", day - timedelta(days=1), day + timedelta(days=1))
    [row] = [g for g in report.table("agents").rows if g.agent == SEAT]
    assert row.metrics.promises == 1 and row.metrics.promised_minor == 50050
    for name in ("pacedial-agent.png", "pacedial-floor.png"):
        path = SHOTS / name
        assert path.stat().st_size > 10_000
        ARTIFACTS.append(f"screenshot: {path}")
