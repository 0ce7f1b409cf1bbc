"""One launch round's database work: lease contacts, apply the rules, write the attempts.

The round reads the clock once (the runner passes ``now``): the lease, every rules check, the
attempts' ``created_at``, the caller-ID use and the calls' launch time are that one instant.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from dialer_core.callerid.presence import NoCallerId
from dialer_core.campaign.agent_book import RunnerStats
from dialer_core.campaign.callerid_book import CallerIdBook
from dialer_core.campaign.calls import Call, Event, Hold, Launch
from dialer_core.campaign.config import CampaignConfig
from dialer_core.compliance.decision import Contact as RuleContact
from dialer_core.compliance.decision import check_contact
from dialer_core.compliance.dnc import DncList
from dialer_core.compliance.model import PastAttempt, mask
from dialer_core.compliance.region import ZoneUnknown
from dialer_core.compliance.windows import window_check
from dialer_core.store import attempts as store

log = logging.getLogger(__name__)
CALLERID_RETRY = timedelta(minutes=15)  # a contact with no usable caller ID comes back then


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def last_check(contact: store.Contact, now: float, campaign: CampaignConfig, dnc: DncList) -> str:
    """The check right before the Originate: DNC and the window; '' or the blocking code."""
    if dnc.match(contact.e164) is not None:
        return "dnc"
    region = RuleContact(str(contact.case_id), contact.e164).region()
    if isinstance(region, ZoneUnknown) or not window_check(
        region, _dt(now), campaign.compliance.window
    ):
        return "window"
    return ""


@dataclass
class Launcher:
    """What a launch round needs: the campaign, its runner id, caller IDs, DNC and statistics."""

    pool: asyncpg.Pool
    campaign: CampaignConfig
    campaign_id: int
    runner_id: str
    callerids: CallerIdBook
    stats: RunnerStats
    dnc: Callable[[], DncList]
    paused: Callable[[], bool]

    async def round(
        self, n: int, now: float, start: Callable[[Call, Event], Awaitable[None]]
    ) -> None:
        """Lease up to ``n`` contacts at ``now``; ``start`` each call with its Launch or Hold
        as soon as its attempt is written (a round cut short keeps the calls it wrote)."""
        async with self.pool.acquire() as conn:
            lease = timedelta(seconds=self.campaign.lease)
            contacts = await store.lease_contacts(
                conn, self.campaign_id, self.runner_id, n, _dt(now), lease
            )
            if not contacts:
                return
            histories = await store.case_histories(conn, [c.case_id for c in contacts])
            for contact in contacts:
                if self.paused():  # paused mid-round: hand the rest back undialed
                    await store.release_lease(conn, contact.case_id, self.runner_id)
                    continue
                call = await self._write(conn, contact, histories[contact.case_id], now)
                if call is not None:
                    blocked = last_check(contact, now, self.campaign, self.dnc())
                    await start(call, Hold(now, blocked) if blocked else Launch(now))

    async def _write(
        self, conn, contact: store.Contact, history: list[PastAttempt], now: float
    ) -> Call | None:
        if not await self._rules_allow(conn, contact, history, now):
            return None
        caller_id = await self._caller_id_for(conn, contact, now)
        if caller_id is None:
            return None
        call_id = await store.create_attempt(
            conn, self.campaign_id, contact, self.runner_id, caller_id, _dt(now)
        )
        if call_id is None:
            self.stats.skipped_duplicates += 1
            return None
        self.callerids.note(caller_id, _dt(now))
        return Call(call_id, contact, self.campaign, caller_id, history)

    async def _caller_id_for(self, conn, contact: store.Contact, now: float) -> str | None:
        """A local number for this callee; None (contact released) if every number is spent."""
        region = RuleContact(str(contact.case_id), contact.e164).region()
        choice = self.callerids.pick(region, _dt(now))
        if isinstance(choice, NoCallerId):
            self.stats.count("held", "callerid")
            log.warning("no caller ID for case %s: %s", contact.external_id, choice.reason)
            retry = _dt(now) + CALLERID_RETRY
            await store.release_lease(conn, contact.case_id, self.runner_id, retry)
            return None
        return choice.number

    async def _rules_allow(
        self, conn, contact: store.Contact, history: list[PastAttempt], now: float
    ) -> bool:
        """The compliance check at lease time; a held contact goes back with its retry time."""
        decision = check_contact(
            RuleContact(str(contact.case_id), contact.e164),
            history,
            _dt(now),
            self.campaign.compliance,
            self.dnc(),
        )
        if decision:
            return True
        self.stats.count("held", decision.code)
        if decision.retry_at is not None:
            await store.release_lease(conn, contact.case_id, self.runner_id, decision.retry_at)
        else:
            log.info(
                "case %s phone %s stopped by the rules: %s",
                contact.external_id,
                mask(contact.e164),
                decision.reason,
            )
            await store.stop_contact(
                conn, contact.case_id, contact.phone_id, self.runner_id, decision.code
            )
        return False
