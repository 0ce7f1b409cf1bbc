"""``pacedial run``: one campaign against a real PBX, configured by a site and a campaign file."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from dialer_core.campaign.config import load_campaign
from dialer_core.campaign.service import AnsweredCallServer, run_campaign
from dialer_core.site import load_site
from dialer_core.store.database import open_database
from pbx.asterisk.driver import AsteriskDriver

log = logging.getLogger(__name__)


async def run_live(
    site_path: str, campaign_path: str, stop: asyncio.Event, duration: float | None = None
) -> int:
    """Run until ``stop`` is set (Ctrl-C) or ``duration`` seconds have passed."""
    site = load_site(site_path)
    campaign = load_campaign(campaign_path)
    if site.pbx != "asterisk":
        raise SystemExit(f"{site_path}: pbx.kind = {site.pbx!r} is not supported by run yet")
    async with open_database(site.database_url) as pool:
        answered = await AnsweredCallServer.start(site.fastagi_host, site.fastagi_port)
        ast = site.asterisk
        driver = AsteriskDriver(
            host=ast.host,
            port=ast.port,
            username=ast.username,
            secret=ast.secret,
            dial_template=ast.dial_template,
            answered_context=ast.answered_context,
        )
        await driver.connect()
        log.info("campaign %s running against Asterisk %s:%s", campaign.name, ast.host, ast.port)
        timer = None
        if duration is not None:
            timer = asyncio.get_running_loop().call_later(duration, stop.set)
        try:
            stats = await run_campaign(pool, driver, campaign, answered.registry, stop)
        finally:
            if timer is not None:
                timer.cancel()
            with contextlib.suppress(Exception):
                await driver.close()
            await answered.close()
    print(
        f"campaign {campaign.name}: launched {stats.launched}, finished {stats.finished}, "
        f"dispositions {stats.dispositions}"
    )
    return 0
