"""One launch round's database work: lease contacts, apply the rules, write the attempts.

The round reads the clock once (the runner passes ``now``): the lease, every rules check, the
attempts' ``created_at``, the caller-ID use and the calls' launch time are that one instant.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from dialer_core.callerid.presence import NoCallerId
from dialer_core.campaign.agent_book import RunnerStats
from dialer_core.campaign.callerid_book import CallerIdBook
from dialer_core.campaign.calls import Call, Event, Hold, Launch
from dialer_core.campaign.config import CampaignConfig
from dialer_core.compliance.decision import check_contact
from dialer_core.compliance.dnc import DncList
from dialer_core.compliance.model import Disposition, PastAttempt, mask
from dialer_core.compliance.region import ZoneUnknown
from dialer_core.compliance.windows import window_check
from dialer_core.store import attempts as store
from dialer_core.store.attempt_batches import create_attempts, open_attempts
from dialer_core.store.database import DATABASE_ERRORS
from dialer_core.store.dnc import fresh_dnc

log = logging.getLogger(__name__)
UNCONFIRMED = "unconfirmed"  # Hold code: the attempt's INSERT lost its answer, never dialed
HALTED = "halted"  # Hold code: stop or pause came between the attempt's write and its Originate
LAUNCH_BATCH = 200  # contacts leased per round: stop and pause are checked between rounds
CALLERID_RETRY = timedelta(minutes=15)  # a contact with no usable caller ID comes back then


_Item = tuple[store.Contact, list[PastAttempt], str]  # a checked contact, its history, caller ID


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def last_check(contact: store.Contact, now: float, campaign: CampaignConfig, dnc: DncList) -> str:
    """The check right before the Originate: DNC and the window; '' or the blocking code."""
    if dnc.match(contact.e164) is not None:
        return "dnc"
    region = contact.rule_contact().region()
    if isinstance(region, ZoneUnknown) or not window_check(
        region, _dt(now), campaign.compliance.window
    ):
        return "window"
    return ""


def in_flight(contact: store.Contact, now: float) -> PastAttempt:
    """The attempt about to be written for ``contact``, as the rules see a call in flight."""
    rule = contact.rule_contact()
    return PastAttempt(
        _dt(now), rule.phone, rule.case_id, Disposition.IN_PROGRESS, debtor=rule.debtor
    )


class InRound:
    """A round's calls so far, by the keys the rules follow (number, case, debtor): a contact's
    history gets only the ones on its own keys, as ``check_contact`` asks (O(1) per look)."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], list[PastAttempt]] = {}

    def add(self, attempt: PastAttempt) -> None:
        for key in _keys(attempt.phone, attempt.case_id, attempt.debtor_key):
            self._by_key.setdefault(key, []).append(attempt)

    def on(self, contact: store.Contact) -> list[PastAttempt]:
        """The round's calls on any of ``contact``'s keys, each once."""
        rule = contact.rule_contact()
        found: dict[int, PastAttempt] = {}
        for key in _keys(rule.phone, rule.case_id, rule.debtor_key):
            for attempt in self._by_key.get(key, ()):
                found[id(attempt)] = attempt
        return list(found.values())


def _keys(phone: str, case_id: str, debtor: str) -> tuple[tuple[str, str], ...]:
    return (("number", phone), ("case", case_id), ("debtor", debtor))


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
    fresh: DncList | None = None  # the DNC list as of this round (``fresh_dnc``)

    launched: int = 0  # Launches of the last round
    # call id -> (the batch item, clock time after which a missing row was surely never written)
    unconfirmed: dict[str, tuple[_Item, float]] = field(default_factory=dict)

    async def round(self, n: int, clock: Callable[[], float]) -> list[tuple[Call, Event]]:
        """Lease up to ``n`` (at most LAUNCH_BATCH) contacts; each written call with its Launch or
        Hold. The clock is read once, with a connection in hand (a wait for the pool never makes
        the round's instant stale): the lease, the rules, ``created_at`` and the launch time.

        Once the attempts' INSERT has answered, its calls are returned whatever happens to the
        database afterwards (a lost connection, a failed lease release): a written attempt is
        always started or closed, never left open. An INSERT with no answer may still have
        committed: its rows are settled by a later round (``_settle``)."""
        n, self.launched = min(n, LAUNCH_BATCH), 0
        out: list[tuple[Call, Event]] = []
        written: list[tuple[_Item, str | None]] = []
        try:
            async with self.pool.acquire() as conn:
                now = clock()
                out = await self._settle(conn, now)
                batch = await self._checked(conn, n, now)
                written = await self._write(conn, batch, now)
                for (contact, _, _), call_id in written:
                    if call_id is None:  # the case or the number is being rung: give it back
                        await store.release_lease(conn, contact.case_id, self.runner_id)
        except DATABASE_ERRORS as exc:
            if not (out or written):
                raise
            log.warning("launch round: database lost after the attempts were written: %s", exc)
        for (contact, history, caller_id), call_id in written:
            if call_id is None:  # not consumed: another runner, campaign or case rings it
                self.stats.skipped_duplicates += 1
                continue
            self.callerids.note(caller_id, _dt(now))
            call = Call(call_id, contact, self.campaign, caller_id, history)
            blocked = last_check(contact, now, self.campaign, self.fresh)
            out.append((call, Hold(now, blocked) if blocked else Launch(now)))
            self.launched += not blocked
        return out

    def still_on(self, event: Event) -> Event:
        """A Launch that meets a stop or a pause on its way out is held instead (not dialed)."""
        if isinstance(event, Launch) and self.paused():
            return Hold(event.at, HALTED)
        return event

    async def settle(self, now: float) -> list[tuple[Call, Event]]:
        """At stop: close the attempts of unanswered INSERTs that did get written."""
        if not self.unconfirmed:
            return []
        async with self.pool.acquire() as conn:
            return await self._settle(conn, now)

    async def _checked(self, conn, n: int, now: float) -> list[_Item]:
        """Lease up to ``n`` contacts and keep those the rules allow, each with a caller ID."""
        lease = timedelta(seconds=self.campaign.lease)
        contacts = await store.lease_contacts(
            conn, self.campaign_id, self.runner_id, n, _dt(now), lease
        )
        if not contacts:
            return []
        # The DNC list from the database as of now (one read when nothing changed).
        self.fresh = await fresh_dnc(conn, self.campaign.name, self.fresh or self.dnc())
        histories = await store.rule_histories(conn, contacts, _dt(now))
        batch: list[_Item] = []
        in_round = InRound()
        for i, contact in enumerate(contacts, 1):
            if i % 16 == 0:
                await asyncio.sleep(0)  # a long round lets the PBX's events in between
            if self.paused():  # paused mid-round: hand the rest back undialed
                await store.release_lease(conn, contact.case_id, self.runner_id)
                continue
            history = histories[contact.case_id]
            # This round's earlier calls are in flight too (same number, debtor, case).
            if not await self._rules_allow(conn, contact, history + in_round.on(contact), now):
                continue
            caller_id = await self._caller_id_for(conn, contact, now)
            if caller_id is not None:
                batch.append((contact, history, caller_id))
                in_round.add(in_flight(contact, now))
        return batch

    async def _write(self, conn, batch: list[_Item], now: float) -> list[tuple[_Item, str | None]]:
        """The batch's attempt rows in one INSERT, before any of their Originates; each item
        with its call id (None: refused as a double dial). Without an answer the ids wait in
        ``unconfirmed`` until a later round finds out whether they were written."""
        ids = [str(uuid.uuid4()) for _ in batch]
        try:
            call_ids = await create_attempts(
                conn,
                self.campaign_id,
                [(contact, caller_id) for contact, _, caller_id in batch],
                self.runner_id,
                _dt(now),
                ids,
            )
        except DATABASE_ERRORS:
            until = now + self.campaign.lease
            self.unconfirmed.update({i: (item, until) for i, item in zip(ids, batch, strict=True)})
            raise
        return list(zip(batch, call_ids, strict=True))

    async def _settle(self, conn, now: float) -> list[tuple[Call, Event]]:
        """Attempts whose INSERT lost its answer: a row that exists is closed as not dialed (its
        Originate never went out); one still missing once its lease has run out was never
        written."""
        if not self.unconfirmed:
            return []
        found = await open_attempts(conn, list(self.unconfirmed))
        for call_id, (_, until) in list(self.unconfirmed.items()):
            if call_id not in found and now >= until:  # never written; its lease has run out
                del self.unconfirmed[call_id]
        out: list[tuple[Call, Event]] = []
        for call_id in found & self.unconfirmed.keys():
            (contact, history, caller_id), _ = self.unconfirmed.pop(call_id)
            call = Call(call_id, contact, self.campaign, caller_id, history)
            out.append((call, Hold(now, UNCONFIRMED)))
        return out

    async def _caller_id_for(self, conn, contact: store.Contact, now: float) -> str | None:
        """A local number for this callee; None (contact released) if every number is spent."""
        region = contact.rule_contact().region()
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
            contact.rule_contact(),
            history,
            _dt(now),
            self.campaign.compliance,
            self.fresh or self.dnc(),
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
