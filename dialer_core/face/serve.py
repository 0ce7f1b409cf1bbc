"""``pacedial serve``: the HTTP API and dashboard for a site, with its PBX and database.

``run_serve`` opens everything a site file names (database, answered-call server, PBX driver
for Asterisk or FreeSWITCH, see dialer_core.face.pbx_link) and serves the API on ``[api]
host:port`` until stopped. The PBX may be down: the dashboard is served anyway, ``GET
/api/pbx`` and a printed line show the link state, and the link connects by itself.
``serve_api`` serves the API for a pool and manager the caller already has (the demo uses it)
and yields the dashboard URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import TextIO

import asyncpg
from aiohttp import web

from dialer_core.api.app import create_app
from dialer_core.api.auth import InsecureBind, TokenTable, check_bind
from dialer_core.campaign.manager import CampaignManager
from dialer_core.face.pbx_link import PbxLink, build_driver, port_in_use, start_answered_server
from dialer_core.face.site import load_site, use_site_recordings
from dialer_core.operator_errors import NotLoopback
from dialer_core.store.database import open_database


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
    pbx_status: Callable[[], dict[str, str]] | None = None,
) -> AsyncIterator[str]:
    """Serve the API and dashboard for ``manager``; yields the dashboard URL (printed to ``out``).

    Refuses (NotLoopback) a non-loopback ``host`` when no token is configured; a taken port is
    PortInUse.
    """
    bind_checked(host, TokenTable.build(token, tokens))
    app = create_app(
        pool,
        manager,
        token=token,
        tokens=tokens,
        recordings_dir=recordings_dir,
        pbx_status=pbx_status,
        bind_host=host,
        allowed_hosts=allowed_hosts,
    )
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        try:
            await site.start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise port_in_use(f"[api] port {host}:{port}") from exc
        bound = runner.addresses[0][1] if runner.addresses else port
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{bound}/"
        if out is not None:
            print(f"pacedial dashboard: {url}", file=out, flush=True)
        yield url
    finally:
        await runner.cleanup()


def bind_checked(host: str, tokens: TokenTable) -> None:
    """check_bind as an operator error: what was refused, where, and the two ways out."""
    try:
        check_bind(host, tokens)
    except InsecureBind as exc:
        raise NotLoopback(
            "refusing to serve the API off loopback without a token",
            f"[api] host {host}",
            "set [api] token in the site file (or PACEDIAL_API_TOKEN), or bind 127.0.0.1",
        ) from exc


async def run_serve(site_path: str | None, stop: asyncio.Event, *, out: TextIO = sys.stdout) -> int:
    """Serve the API for the site in ``site_path`` until ``stop`` is set; returns an exit code.

    Starts whether or not the PBX answers; the link connects in the background."""
    site = load_site(site_path)
    use_site_recordings(site)
    bind_checked(site.api_host, TokenTable.build(site.api_token, site.api_tokens))
    async with open_database(site.database_url) as pool:
        answered = await start_answered_server(site)
        driver = build_driver(site)
        link = PbxLink(site, driver)
        connecting = asyncio.create_task(
            link.keep_connecting(lambda line: print(line, file=out, flush=True))
        )
        try:
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
                pbx_status=link.status,
            ):
                await stop.wait()
            await manager.stop_all()
        finally:
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await connecting
            with contextlib.suppress(Exception):
                await driver.close()
            await answered.close()
    return 0
