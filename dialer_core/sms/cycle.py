"""One pass of SMS reminders for a campaign: find the due ones with SQL, send, record.

The runner schedules ``run_sms_cycle`` (every few minutes is plenty). Which reminder is due is
decided by the pure ``dialer_core.compliance.sms.sms_trigger`` (triggers, once per occurrence,
per-case caps); the window is ``window_check`` with the ``[sms]`` hours in the callee's zone.
Each message is recorded before its first POST, so a crash never sends it twice; one cycle per
campaign runs at a time across processes (a PostgreSQL advisory lock).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import aiohttp
import asyncpg
import phonenumbers

from dialer_core.compliance.dnc import DncList
from dialer_core.compliance.model import PastAttempt, mask, require_utc
from dialer_core.compliance.region import Region, ZoneUnknown, region_of
from dialer_core.compliance.sms import CaseFields, SmsSent, render, sms_trigger
from dialer_core.compliance.windows import window_check, zone
from dialer_core.sms.config import SmsCampaign, SmsConfig, sms_config_for
from dialer_core.sms.sender import GAVE_UP, SendOutcome, post_with_retries
from dialer_core.store import sms as store
from dialer_core.store.campaigns import campaign_id
from dialer_core.store.dnc import load_dnc

log = logging.getLogger(__name__)
LOOKBACK = timedelta(days=7)  # no-answers and promises older than this trigger nothing new
MAX_CASES = 2000  # cases examined per cycle
_SMS_TYPES = (
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
)


@dataclass(frozen=True)
class SmsCycleResult:
    """What one cycle did: messages by final status, and reminders skipped by reason."""

    examined: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # sent / failed / gave_up → count
    skipped: dict[str, int] = field(default_factory=dict)  # window, dnc, not_mobile, … → count
    locked: bool = False  # another process was running this campaign's cycle


@dataclass(frozen=True)
class _Due:
    case: store.SmsCase
    phone: store.CasePhone
    trigger: str
    body: str


def _pick_phone(
    phones: list[store.CasePhone], history: list[PastAttempt]
) -> store.CasePhone | None:
    """The phone last dialed (where a no-answer streak lives) if still active, else the first."""
    by_number = {p.e164: p for p in phones}
    for a in sorted(history, key=lambda a: a.at, reverse=True):
        if a.phone in by_number:
            return by_number[a.phone]
    return phones[0] if phones else None


def _can_receive_sms(e164: str) -> bool:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(number) in _SMS_TYPES


def _sent_for_triggers(records: list[store.SendRecord], now: datetime, sms: SmsConfig):
    """Sends that count for the trigger and cap rules: everything recorded, except messages
    that gave up long enough ago to be tried again."""
    again = now - sms.retry.retry_failed_after
    return [
        SmsSent(r.at, r.trigger) for r in records if not (r.status == GAVE_UP and r.at <= again)
    ]


def _fields(case: store.SmsCase, trigger: str, sms: SmsConfig) -> CaseFields | None:
    due, amount = case.due_date, case.amount_minor
    if trigger == "promise" and case.promise_due is not None:
        due, amount = case.promise_due, case.promise_amount or amount
    if due is None and "due_date" in sms.uses:
        return None
    link = case.link or sms.link.replace("{external_id}", case.external_id)
    return CaseFields(case.debtor_name, amount, due or date.min, link)


def _decide(
    case: store.SmsCase,
    phones: list[store.CasePhone],
    history: list[PastAttempt],
    sent: list[store.SendRecord],
    dnc: DncList,
    now: datetime,
    sms: SmsConfig,
) -> _Due | str:
    """The reminder due now for ``case``, or the reason none is sent ("" when none is due)."""
    phone = _pick_phone(phones, history)
    if phone is None:
        return "no_active_phone"
    region = region_of(phone.e164)
    if isinstance(region, ZoneUnknown):
        return "zone_unknown"
    assert isinstance(region, Region)
    today = now.astimezone(zone(region.zones[0])).date()
    trigger = sms_trigger(
        phone.e164,
        history,
        _sent_for_triggers(sent, now, sms),
        case.due_date or date.min,
        today,
        now,
        sms.rules,
    )
    if trigger is None:
        return ""
    if not _can_receive_sms(phone.e164):
        return "not_mobile"
    if sms.respect_dnc and dnc.match(phone.e164) is not None:
        return "dnc"
    if not window_check(region, now, sms.window):
        return "window"
    values = _fields(case, trigger, sms)
    if values is None:
        return "no_due_date"
    return _Due(case, phone, trigger, render(sms.template, values))


async def _send_one(
    pool: asyncpg.Pool,
    session: aiohttp.ClientSession,
    campaign_id: int,
    campaign: str,
    due: _Due,
    now: datetime,
    sms: SmsConfig,
    token: str,
    gate: asyncio.Semaphore,
) -> SendOutcome:
    send_id = str(uuid.uuid4())
    masked = mask(due.phone.e164)
    async with pool.acquire() as conn:
        await store.record_send(
            conn,
            send_id,
            campaign_id,
            due.case.case_id,
            due.phone.phone_id,
            masked,
            due.trigger,
            due.body,
            now,
        )
    payload = {
        "id": send_id,
        "to": due.phone.e164,
        "text": due.body,
        "campaign": campaign,
        "case": due.case.external_id,
        "trigger": due.trigger,
    }
    started = time.monotonic()
    async with gate:
        outcome = await post_with_retries(
            session,
            sms.webhook,
            payload,
            delays=sms.rules.retry_delays,
            timeout=sms.timeout,
            idempotency_key=send_id,
            token=token,
        )
    finished = now + timedelta(seconds=time.monotonic() - started)
    async with pool.acquire() as conn:
        await store.finish_send(
            conn,
            send_id,
            outcome.status,
            outcome.tries,
            outcome.response_code,
            outcome.error,
            finished,
        )
    log.info(
        "sms %s case=%s to=%s trigger=%s: %s after %d tries",
        send_id,
        due.case.external_id,
        masked,
        due.trigger,
        outcome.status,
        outcome.tries,
    )
    return outcome


async def run_sms_cycle(
    pool: asyncpg.Pool,
    campaign: SmsCampaign,
    now: datetime,
    session: aiohttp.ClientSession,
    sms: SmsConfig | None = None,
) -> SmsCycleResult:
    """Send every reminder of ``campaign`` due at ``now`` (UTC-aware) and record each send.

    ``sms`` defaults to the campaign's ``[sms]`` table (template paths relative to the
    current directory); a campaign without one sends nothing.
    """
    require_utc(now)
    sms = sms if sms is not None else sms_config_for(campaign)
    if sms is None:
        return SmsCycleResult()
    token = os.environ.get(sms.auth_env, "") if sms.auth_env else ""
    async with pool.acquire() as lock_conn:
        cid = await campaign_id(lock_conn, campaign.name)
        if cid is None:
            return SmsCycleResult()
        if not await store.try_lock_campaign(lock_conn, cid):
            return SmsCycleResult(locked=True)
        try:
            return await _cycle(pool, lock_conn, cid, campaign.name, now, session, sms, token)
        finally:
            await store.unlock_campaign(lock_conn, cid)


async def _cycle(
    pool: asyncpg.Pool,
    conn: asyncpg.Connection,
    cid: int,
    name: str,
    now: datetime,
    session: aiohttp.ClientSession,
    sms: SmsConfig,
    token: str,
) -> SmsCycleResult:
    days = sms.rules.days_before_due
    utc_today = now.astimezone(UTC).date()
    first_due = utc_today - timedelta(days=1) if days is not None else None
    last_due = utc_today + timedelta(days=days + 1) if days is not None else None
    cases = await store.due_candidates(conn, cid, now - LOOKBACK, first_due, last_due, MAX_CASES)
    ids = [c.case_id for c in cases]
    histories = await store.case_histories(conn, ids)
    phones = await store.active_phones(conn, ids)
    sent = await store.sends_of(conn, ids)
    dnc = await load_dnc(conn, name)
    skipped: Counter[str] = Counter()
    due: list[_Due] = []
    for case in cases:
        d = _decide(
            case, phones[case.case_id], histories[case.case_id], sent[case.case_id], dnc, now, sms
        )
        if isinstance(d, _Due):
            due.append(d)
        elif d:
            skipped[d] += 1
    gate = asyncio.Semaphore(sms.concurrency)
    outcomes = await asyncio.gather(
        *(_send_one(pool, session, cid, name, d, now, sms, token, gate) for d in due)
    )
    return SmsCycleResult(
        examined=len(cases),
        outcomes=dict(Counter(o.status for o in outcomes)),
        skipped=dict(skipped),
    )
