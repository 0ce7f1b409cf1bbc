"""``pacedial serve``: the HTTP API and dashboard for a site, with its PBX and database.

``run_serve`` opens everything a site file names (database, answered-call server, PBX driver
for Asterisk or FreeSWITCH, see dialer_core.face.pbx_link) and serves the API on ``[api]
host:port`` until stopped. ``serve_api`` serves the API for a pool
and manager the caller already has (the demo uses it) and yields the dashboard URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import TextIO

import asyncpg
from aiohttp import web

from dialer_core.api.app import create_app
from dialer_core.api.auth import TokenTable, check_bind
from dialer_core.campaign.manager import CampaignManager
from dialer_core.face.pbx_link import build_driver, describe, start_answered_server
from dialer_core.face.site import load_site
from dialer_core.store.database import open_database

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def serve_api(
    pool: asyncpg.Pool,
    manager: CampaignManager,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    tokens: Mapping[str, Iterable[str]] | None = None,
    recordings_dir: Path | None = None,
    allowed_hosts: Iterable[str] = (),
    out: TextIO | None = None,
) -> AsyncIterator[str]:
    """Serve the API and dashboard for ``manager``; yields the dashboard URL (printed to ``out``).

    Refuses (InsecureBind) a non-loopback ``host`` when no token is configured.
    """
    check_bind(host, TokenTable.build(token, tokens))
    app = create_app(
        pool,
        manager,
        token=token,
        tokens=tokens,
        recordings_dir=recordings_dir,
        bind_host=host,
        allowed_hosts=allowed_hosts,
    )
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
        bound = runner.addresses[0][1] if runner.addresses else port
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{bound}/"
        if out is not None:
            print(f"pacedial dashboard: {url}", file=out, flush=True)
        yield url
    finally:
        await runner.cleanup()


async def run_serve(site_path: str | None, stop: asyncio.Event, *, out: TextIO = sys.stdout) -> int:
    """Serve the API for the site in ``site_path`` until ``stop`` is set; returns an exit code."""
    site = load_site(site_path)
    check_bind(site.api_host, TokenTable.build(site.api_token, site.api_tokens))
    async with open_database(site.database_url) as pool:
        answered = await start_answered_server(site)
        driver = build_driver(site)
        try:
            await driver.connect()
            log.info("serving against %s", describe(site))
            manager = CampaignManager(pool, driver, answered.registry)
            async with serve_api(
                pool,
                manager,
                host=site.api_host,
                port=site.api_port,
                token=site.api_token,
                tokens=site.api_tokens,
                recordings_dir=site.recordings_dir,
                allowed_hosts=site.api_allowed_hosts,
                out=out,
            ):
                await stop.wait()
            await manager.stop_all()
        finally:
            with contextlib.suppress(Exception):
                await driver.close()
            await answered.close()
    return 0
