"""The campaigns this process runs: start, pause, resume, stop, and their live state.

The HTTP API and the CLI go through this; the database's ``campaigns.state`` column mirrors it
so a supervisor on another node sees the same state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from dialer_core.campaign.config import CampaignConfig, parse_campaign
from dialer_core.campaign.registry import CallRegistry
from dialer_core.campaign.runner import CampaignRunner
from dialer_core.campaign.service import make_runner
from dialer_core.store.cases import ensure_campaign
from pbx.driver import PbxDriver

log = logging.getLogger(__name__)


class CampaignNotFound(KeyError):
    """No campaign of that name in the database."""


@dataclass
class RunningCampaign:
    config: CampaignConfig
    campaign_id: int
    runner: CampaignRunner
    stop: asyncio.Event
    task: asyncio.Task

    @property
    def state(self) -> str:
        if self.task.done():
            return "stopped"
        if self.stop.is_set():
            return "stopping"
        return "paused" if self.runner.paused else "running"


class CampaignManager:
    """Runs campaigns against one PBX driver, sharing one answered-call registry."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        driver: PbxDriver,
        registry: CallRegistry,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pool, self.driver, self.registry, self.clock = pool, driver, registry, clock
        self.running: dict[str, RunningCampaign] = {}

    async def _set_state(self, campaign_id: int, state: str) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute("UPDATE campaigns SET state = $2 WHERE id = $1", campaign_id, state)

    async def load(self, name: str) -> tuple[int, CampaignConfig]:
        """A campaign's id and validated config from the database."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT id, config FROM campaigns WHERE name = $1", name)
        if row is None:
            raise CampaignNotFound(name)
        doc = row["config"] or {}
        doc.setdefault("campaign", {})["name"] = name
        return row["id"], parse_campaign(doc, f"campaign {name!r} (database)")

    async def create(self, config: CampaignConfig) -> int:
        """Store (or replace) a campaign's config; returns its id."""
        async with self.pool.acquire() as conn:
            return await ensure_campaign(conn, config.name, config.mode, config.raw)

    async def start(self, name: str) -> RunningCampaign:
        """Start a runner for ``name`` (a no-op if it already runs here)."""
        current = self.running.get(name)
        if current is not None and not current.task.done():
            return current
        campaign_id, config = await self.load(name)
        runner = await make_runner(self.pool, self.driver, config, self.registry, self.clock)
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop), name=f"campaign:{name}")
        task.add_done_callback(lambda t: self._ended(name, campaign_id, t))
        self.running[name] = RunningCampaign(config, campaign_id, runner, stop, task)
        await self._set_state(campaign_id, "running")
        log.info("campaign %s started", name)
        return self.running[name]

    def _ended(self, name: str, campaign_id: int, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("campaign %s stopped on an error: %r", name, task.exception())
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(self._set_state(campaign_id, "stopped"))

    def get(self, name: str) -> RunningCampaign:
        try:
            return self.running[name]
        except KeyError as exc:
            raise CampaignNotFound(name) from exc

    async def pause(self, name: str) -> None:
        """Launch no new calls; calls in flight finish normally."""
        rc = self.get(name)
        rc.runner.paused = True
        await self._set_state(rc.campaign_id, "paused")

    async def resume(self, name: str) -> None:
        rc = self.get(name)
        rc.runner.paused = False
        await self._set_state(rc.campaign_id, "running")

    async def stop(self, name: str, timeout: float = 120.0) -> None:
        """Stop launching, let calls in flight end, close every attempt."""
        rc = self.get(name)
        rc.stop.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(rc.task), timeout)

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(n) for n in list(self.running)), return_exceptions=True)
