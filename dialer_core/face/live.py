"""``pacedial run``: one campaign against the site's real PBX (Asterisk or FreeSWITCH)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time

from dialer_core.campaign.config import load_campaign
from dialer_core.clock import LAB_CLOCK_ENV, lab_clock
from dialer_core.face.metrics_server import MetricsServer
from dialer_core.face.pbx_link import (
    build_driver,
    connect_driver,
    describe,
    start_answered_server,
)
from dialer_core.face.preflight import check_drop_message
from dialer_core.face.service import run_campaign
from dialer_core.face.site import load_site, use_site_recordings
from dialer_core.paths import sound_dir
from dialer_core.run_metrics import RunMetrics
from dialer_core.store.database import open_database

log = logging.getLogger(__name__)


async def run_live(
    site_path: str,
    campaign_path: str,
    stop: asyncio.Event,
    duration: float | None = None,
    metrics_port: int | None = None,
) -> int:
    """Run until ``stop`` is set (Ctrl-C) or ``duration`` seconds have passed.

    With ``metrics_port``, ``GET http://127.0.0.1:<port>/metrics`` serves the run's metrics.
    """
    site = load_site(site_path)
    use_site_recordings(site)
    campaign = load_campaign(campaign_path)
    clock = time.time
    if os.environ.get(LAB_CLOCK_ENV):  # test labs only: never set on a real site
        clock = lab_clock(os.environ[LAB_CLOCK_ENV])
        log.warning("LAB CLOCK: %s set, the run's clock reads %.0f", LAB_CLOCK_ENV, clock())
    drop = check_drop_message(campaign.name, campaign.compliance.abandon.prompt, sound_dir())
    log.info("campaign %s: drop message %s", campaign.name, drop)
    async with open_database(site.database_url) as pool:
        answered = await start_answered_server(site)
        driver = build_driver(site, queues=[campaign.queue], clock=clock)
        try:
            await connect_driver(site, driver)
        except BaseException:
            await answered.close()
            raise
        log.info("campaign %s running against %s", campaign.name, describe(site))
        timer = None
        if duration is not None:
            timer = asyncio.get_running_loop().call_later(duration, stop.set)
        metrics, exporter = RunMetrics(), None
        if metrics_port is not None:
            exporter = MetricsServer(metrics, port=metrics_port)
            await exporter.start()
            log.info("metrics at http://127.0.0.1:%d/metrics", exporter.port)
        try:
            stats = await run_campaign(
                pool, driver, campaign, answered.registry, stop, clock=clock, metrics=metrics
            )
        finally:
            if timer is not None:
                timer.cancel()
            if exporter is not None:
                await exporter.close()
            with contextlib.suppress(Exception):
                await driver.close()
            await answered.close()
    print(
        f"campaign {campaign.name}: launched {stats.launched}, finished {stats.finished}, "
        f"dispositions {stats.dispositions}, held by rules {stats.held_by_rules}, "
        f"double dials refused {stats.skipped_duplicates}"
    )
    return 0
