"""Building one campaign's runner: its policy, rules, DNC list, ledger and call handling."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg

from agi_scripts.handling import build_call_handling
from agi_scripts.registry import CallRegistry
from dialer_core.campaign.config import CampaignConfig
from dialer_core.campaign.queue_board import QueueBoard
from dialer_core.campaign.runner import CampaignRunner
from dialer_core.config_errors import InputError
from dialer_core.ownership import RunnerIdentity
from dialer_core.pacing.factory import make_policy
from dialer_core.paths import sound_dir
from dialer_core.run_metrics import RunMetrics
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.dnc import load_dnc
from dialer_core.store.ledger import load_ledger
from pbx.driver import PbxDriver


class AmdMissing(InputError):
    """The campaign asks for answering-machine detection the PBX does not have."""


async def make_runner(
    pool: asyncpg.Pool,
    driver: PbxDriver,
    campaign: CampaignConfig,
    registry: CallRegistry,
    clock: Callable[[], float] = time.time,
    metrics: RunMetrics | None = None,
    board: QueueBoard | None = None,
) -> CampaignRunner:
    """A runner for ``campaign`` with its policy, rules, DNC list and answered-call settings;
    ``board``: the runners of this process feeding the same agent queue."""
    async with pool.acquire() as conn:
        campaign_id = await ensure_campaign(conn, campaign.name, campaign.mode, campaign.raw)
        dnc = await load_dnc(conn, campaign.name)
        now = datetime.fromtimestamp(clock(), UTC)
        ledger = await load_ledger(conn, campaign_id, now, campaign.pacing.ledger_windows_seconds)
    handling = await build_call_handling(
        campaign.raw, f"campaign {campaign.name}", sound_dir=sound_dir()
    )
    if handling.amd.enabled and (missing := await driver.amd_missing()):
        await handling.close()  # never drop answered calls for want of a detector
        raise AmdMissing(f"campaign {campaign.name}: [amd] enabled = true, but {missing}")
    return CampaignRunner(
        pool,
        driver,
        campaign,
        campaign_id,
        make_policy(campaign.mode, campaign.pacing, ledger=ledger),
        registry,
        identity=RunnerIdentity.of_this_process(),
        clock=clock,
        dnc=dnc,
        handling=handling,
        metrics=metrics,
        board=board,
    )
