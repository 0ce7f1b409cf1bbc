"""The campaign's periodic work beside dialing, on the runner's clock.

Re-read the DNC entries and the abandonment ledger (every node's calls), judge caller-ID
health, send SMS reminders, and check recordings (duration, checksum, retention).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg

from dialer_core.callerid.health import pool_health
from dialer_core.campaign.callerid_book import CallerIdBook
from dialer_core.campaign.config import CampaignConfig
from dialer_core.compliance.dnc import DncList
from dialer_core.compliance.model import mask
from dialer_core.pacing.interface import LedgerObservation
from dialer_core.paths import recordings_dir
from dialer_core.sms.config import sms_config_for
from dialer_core.sms.cycle import run_sms_cycle
from dialer_core.store import callerid as cid_store
from dialer_core.store import recordings as rec_store
from dialer_core.store.database import DATABASE_ERRORS
from dialer_core.store.dnc import load_dnc
from dialer_core.store.ledger import load_ledger

log = logging.getLogger(__name__)
HEALTH_INTERVAL = 300.0  # clock seconds between caller-ID health checks
HEALTH_SAMPLE = timedelta(days=7)  # calls a health verdict looks at
LEDGER_SYNC = 60.0  # clock seconds between re-reads of the campaign's ledger
DNC_RELOAD = 60.0  # clock seconds between re-reads of the DNC entries
SMS_INTERVAL = 300.0  # clock seconds between SMS reminder cycles
RECORDING_CHECK = 60.0  # clock seconds between recording checks (duration, checksum, retention)
Job = Callable[[], Awaitable[None]]


class CampaignChores:
    """The periodic jobs of one campaign; what they learn goes out through ``on_dnc`` and
    ``on_ledger`` (None: the policy keeps no abandonment ledger)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        campaign: CampaignConfig,
        campaign_id: int,
        clock: Callable[[], float],
        callerids: CallerIdBook,
        handling: Any,
        *,
        on_dnc: Callable[[DncList], None],
        on_ledger: Callable[[LedgerObservation], None] | None = None,
    ) -> None:
        self.pool, self.campaign, self.campaign_id = pool, campaign, campaign_id
        self.clock, self.callerids, self.handling = clock, callerids, handling
        self.on_dnc, self.on_ledger = on_dnc, on_ledger
        self._http: aiohttp.ClientSession | None = None

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def load_callerid_book(self) -> None:
        """Today's caller-ID use and the resting numbers, from the database."""
        since = self._now() - timedelta(days=2)
        async with self.pool.acquire() as conn:
            for number, at in await cid_store.usage_since(conn, self.campaign_id, since):
                self.callerids.note(number, at)
            self.callerids.resting = await cid_store.resting_numbers(conn)

    async def check_callerid_health(self) -> list:
        """Judge every number against its pool; warn and rest numbers whose rate collapsed."""
        now = self._now()
        async with self.pool.acquire() as conn:
            stats = await cid_store.health_cells(conn, self.campaign_id, now - HEALTH_SAMPLE)
            for n in self.callerids.config.numbers:
                stats.setdefault(n.number, {})
            verdicts = pool_health(stats, self.campaign.callerid.health)
            changed = await cid_store.record_health(conn, list(verdicts.values()), now)
            self.callerids.resting = await cid_store.resting_numbers(conn)
        for h in changed:
            log.warning("caller ID %s: %s (%s)", mask(h.number), h.status.value, h.reason)
        return changed

    async def sync_ledger(self) -> None:
        """The campaign's abandonment ledger from the database (all nodes' calls)."""
        windows = self.campaign.pacing.ledger_windows_seconds
        async with self.pool.acquire() as conn:
            fresh = await load_ledger(conn, self.campaign_id, self._now(), windows)
        assert self.on_ledger is not None
        self.on_ledger(LedgerObservation(self.clock(), fresh))

    async def reload_dnc(self) -> None:
        """Pick up DNC entries added while the campaign runs."""
        async with self.pool.acquire() as conn:
            fresh = await load_dnc(conn, self.campaign.name)
        self.on_dnc(fresh)

    async def check_recordings(self) -> None:
        """Fill in duration and checksum of finished calls' recordings; apply the retention."""
        folder = recordings_dir()
        async with self.pool.acquire() as conn:
            await rec_store.finalize_recordings(conn, folder, self.campaign_id, self._now())
            if self.handling.retention_days:
                cutoff = self._now() - timedelta(days=self.handling.retention_days)
                await rec_store.purge_recordings(conn, folder, self.campaign_id, cutoff)

    async def send_sms_reminders(self) -> None:
        """One SMS cycle: reminders due now (no-answer streaks, promises, due dates)."""
        if self._http is None:
            self._http = aiohttp.ClientSession()
        await run_sms_cycle(self.pool, self.campaign, self._now(), self._http)

    def schedule(self) -> list[tuple[float, Job]]:
        """(interval in clock seconds, job) of the periodic work next to dialing."""
        chores: list[tuple[float, Job]] = [(DNC_RELOAD, self.reload_dnc)]
        if self.on_ledger is not None:
            chores.append((LEDGER_SYNC, self.sync_ledger))
        if self.callerids.config.numbers:
            chores.append((HEALTH_INTERVAL, self.check_callerid_health))
        if self.handling is not None and self.handling.record:
            chores.append((RECORDING_CHECK, self.check_recordings))
        if sms_config_for(self.campaign) is not None:
            chores.append((SMS_INTERVAL, self.send_sms_reminders))
        return chores

    async def run(self, chores: list[tuple[float, Job]]) -> None:
        """Run each job every ``interval`` clock seconds until cancelled."""
        last = [self.clock()] * len(chores)
        try:
            while True:
                await asyncio.sleep(1.0)
                for i, (interval, job) in enumerate(chores):
                    if self.clock() - last[i] < interval:
                        continue
                    last[i] = self.clock()
                    try:
                        await job()
                    except (*DATABASE_ERRORS, aiohttp.ClientError) as exc:
                        log.warning("%s failed: %s", job.__name__, exc)
        finally:
            if self._http is not None:
                await self._http.close()

    async def finish(self) -> None:
        """Last work when the campaign stops: check the recordings of the final calls."""
        if self.handling is not None and self.handling.record:
            with contextlib.suppress(*DATABASE_ERRORS):
                await self.check_recordings()
