"""Wiring one process: the answered-call server and running a campaign until stopped."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from agi_scripts.answered import make_answered_handler
from agi_scripts.registry import CallRegistry
from dialer_core.campaign.assembly import make_runner
from dialer_core.campaign.config import CampaignConfig
from dialer_core.campaign.runner import CampaignRunner, RunnerStats
from pbx.asterisk.agi_server import FastAgiServer
from pbx.driver import PbxDriver
from pbx.peer_gate import PeerGate


@dataclass
class AnsweredCallServer:
    """The FastAGI server handing answered calls to this process's runners."""

    registry: CallRegistry
    server: FastAgiServer

    @classmethod
    async def start(
        cls, host: str = "127.0.0.1", port: int = 0, gate: PeerGate | None = None
    ) -> AnsweredCallServer:
        registry = CallRegistry()
        server = FastAgiServer(make_answered_handler(registry), host=host, port=port, gate=gate)
        await server.start()
        return cls(registry, server)

    async def close(self) -> None:
        await self.server.close()


async def run_campaign(
    pool: asyncpg.Pool,
    driver: PbxDriver,
    campaign: CampaignConfig,
    registry: CallRegistry,
    stop: asyncio.Event,
    runner: list[CampaignRunner] | None = None,
    clock: Callable[[], float] = time.time,
) -> RunnerStats:
    """Run ``campaign`` until ``stop``; ``runner`` (if given) receives the live runner object."""
    live = await make_runner(pool, driver, campaign, registry, clock)
    if runner is not None:
        runner.append(live)
    try:
        return await live.run(stop)
    finally:
        await live.handling.close()
