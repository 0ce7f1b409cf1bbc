"""Wiring one process: database pool, answered-call server, PBX driver, campaign runners."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from agi_scripts.answered import make_answered_handler
from agi_scripts.handling import build_call_handling
from dialer_core.campaign.config import CampaignConfig
from dialer_core.campaign.registry import CallRegistry
from dialer_core.campaign.runner import CampaignRunner, RunnerStats
from dialer_core.pacing.factory import make_policy
from dialer_core.paths import sound_dir
from dialer_core.store.cases import ensure_campaign
from dialer_core.store.dnc import load_dnc
from dialer_core.store.ledger import load_ledger
from pbx.asterisk.agi_server import FastAgiServer
from pbx.driver import PbxDriver
from pbx.peer_gate import PeerGate


def runner_id(campaign: str) -> str:
    """A stable id for this host's runner of a campaign (its open attempts survive a restart)."""
    return f"{socket.gethostname()}:{campaign}:{os.environ.get('PACEDIAL_NODE', '0')}"


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


async def make_runner(
    pool: asyncpg.Pool,
    driver: PbxDriver,
    campaign: CampaignConfig,
    registry: CallRegistry,
    clock: Callable[[], float] = time.time,
) -> CampaignRunner:
    """A runner for ``campaign`` with its policy, rules, DNC list and answered-call settings."""
    async with pool.acquire() as conn:
        campaign_id = await ensure_campaign(conn, campaign.name, campaign.mode, campaign.raw)
        dnc = await load_dnc(conn, campaign.name)
        now = datetime.fromtimestamp(clock(), UTC)
        ledger = await load_ledger(conn, campaign_id, now, campaign.pacing.ledger_windows_seconds)
    handling = await build_call_handling(
        campaign.raw, f"campaign {campaign.name}", sound_dir=sound_dir()
    )
    return CampaignRunner(
        pool,
        driver,
        campaign,
        campaign_id,
        make_policy(campaign.mode, campaign.pacing, ledger=ledger),
        registry,
        runner_id=runner_id(campaign.name),
        clock=clock,
        dnc=dnc,
        handling=handling,
    )


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
