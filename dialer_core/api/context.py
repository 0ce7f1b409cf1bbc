"""What every API handler can reach: the pool, the campaign manager, settings and caches."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from aiohttp import web

from dialer_core.api.auth import TokenTable, has_pii
from dialer_core.api.errors import ApiError
from dialer_core.api.live_stats import LiveStats
from dialer_core.campaign.manager import CampaignManager, CampaignNotFound, RunningCampaign
from dialer_core.compliance.model import mask
from dialer_core.store.campaigns import campaign_id as store_campaign_id


@dataclass
class ApiContext:
    pool: asyncpg.Pool
    manager: CampaignManager
    tokens: TokenTable
    recordings_dir: Path | None
    clock: Callable[[], float]
    live_interval: float
    live: LiveStats
    background: set[asyncio.Task] = field(default_factory=set)
    closing: asyncio.Event = field(default_factory=asyncio.Event)  # set at server shutdown

    def spawn(self, coro) -> asyncio.Task:  # noqa: ANN001
        """Run ``coro`` in the background, keeping a reference until it ends."""
        task = asyncio.create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task

    async def campaign_id(self, name: str) -> int:
        """The campaign's id, or a 404 naming it."""
        async with self.pool.acquire() as conn:
            cid = await store_campaign_id(conn, name)
        if cid is None:
            raise ApiError(404, "campaign_not_found", f"no campaign named {name!r}")
        return cid

    def running(self, name: str) -> RunningCampaign:
        """The campaign's runner in this process, or a 409 saying it is not running here."""
        try:
            rc = self.manager.get(name)
        except CampaignNotFound:
            raise ApiError(
                409, "not_running", f"campaign {name!r} is not running in this process"
            ) from None
        if rc.task.done():
            raise ApiError(409, "not_running", f"campaign {name!r} has stopped")
        return rc


CTX: web.AppKey[ApiContext] = web.AppKey("pacedial_api", ApiContext)


def ctx_of(request: web.Request) -> ApiContext:
    return request.app[CTX]


def phone_out(request: web.Request, e164: str | None) -> str | None:
    """The number in full for a ``pii`` token, otherwise masked to its last 4 digits."""
    if e164 is None:
        return None
    return e164 if has_pii(request) else mask(e164)


def name_out(request: web.Request, name: str | None) -> str | None:
    """A debtor's name in full for a ``pii`` token, otherwise its first character only."""
    if name is None:
        return None
    return name if has_pii(request) or not name else name[0] + "*" * (len(name) - 1)
