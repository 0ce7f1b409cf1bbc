"""SMS reminders in PostgreSQL: which cases may be due, what was sent, and the send records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from dialer_core.compliance.model import PastAttempt

_LOCK_CLASS = 0x736D73  # advisory lock namespace ("sms"): one cycle per campaign at a time


@dataclass(frozen=True)
class SmsCase:
    """A case that may need a reminder, with the latest open promise if any."""

    case_id: int
    external_id: str
    debtor_name: str
    amount_minor: int
    due_date: date | None
    link: str | None  # cases.extra->>'link'
    promise_due: date | None
    promise_amount: int | None


@dataclass(frozen=True)
class CasePhone:
    """An active phone of a case."""

    phone_id: int
    e164: str


@dataclass(frozen=True)
class SendRecord:
    """A reminder already recorded for a case."""

    case_id: int
    at: datetime
    trigger: str
    status: str


async def try_lock_campaign(conn: asyncpg.Connection, campaign: int) -> bool:
    """Take the campaign's SMS cycle lock on this connection, or False if another holds it."""
    return await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", _LOCK_CLASS, campaign)


async def unlock_campaign(conn: asyncpg.Connection, campaign: int) -> None:
    """Release the lock taken by ``try_lock_campaign``."""
    await conn.execute("SELECT pg_advisory_unlock($1, $2)", _LOCK_CLASS, campaign)


async def due_candidates(
    conn: asyncpg.Connection,
    campaign: int,
    since: datetime,
    first_due: date | None,
    last_due: date | None,
    limit: int,
) -> list[SmsCase]:
    """Cases with a no-answer or a promise since ``since``, or a due date in
    [first_due, last_due]; the pure trigger rules decide which of them are really due."""
    rows = await conn.fetch(
        """SELECT c.id, c.external_id, c.debtor_name, c.amount_minor, c.due_date,
                  c.extra->>'link' AS link, pr.due_date AS promise_due,
                  pr.amount_minor AS promise_amount
           FROM cases c
           LEFT JOIN LATERAL (
               SELECT due_date, amount_minor FROM promises p
               WHERE p.case_id = c.id AND p.status = 'open'
               ORDER BY p.made_at DESC LIMIT 1) pr ON true
           WHERE c.campaign_id = $1 AND (
               ($3::date IS NOT NULL AND c.due_date BETWEEN $3 AND $4)
               OR EXISTS (SELECT 1 FROM attempts a
                          WHERE a.case_id = c.id AND a.created_at >= $2
                            AND a.disposition IN ('no_answer', 'promise_to_pay'))
               OR EXISTS (SELECT 1 FROM promises p
                          WHERE p.case_id = c.id AND p.made_at >= $2 AND p.status = 'open'))
           ORDER BY c.id
           LIMIT $5""",
        campaign,
        since,
        first_due,
        last_due,
        limit,
    )
    return [
        SmsCase(
            r["id"],
            r["external_id"],
            r["debtor_name"],
            r["amount_minor"],
            r["due_date"],
            r["link"],
            r["promise_due"],
            r["promise_amount"],
        )
        for r in rows
    ]


async def case_histories(
    conn: asyncpg.Connection, case_ids: list[int]
) -> dict[int, list[PastAttempt]]:
    """Each case's dialed attempts as ``PastAttempt`` (newest last), plus promises recorded
    without a call (by a manager) as ``promise_to_pay`` entries on no phone."""
    rows = await conn.fetch(
        """SELECT a.case_id, a.created_at AS at, p.e164,
                  coalesce(a.disposition, 'in_progress') AS d
           FROM attempts a JOIN phones p ON p.id = a.phone_id
           WHERE a.case_id = ANY($1::bigint[]) AND coalesce(a.disposition, '') <> 'not_dialed'
           UNION ALL
           SELECT pr.case_id, pr.made_at, '', 'promise_to_pay'
           FROM promises pr
           WHERE pr.case_id = ANY($1::bigint[])
             AND (pr.call_id IS NULL
                  OR NOT EXISTS (SELECT 1 FROM attempts a WHERE a.call_id = pr.call_id
                                 AND a.disposition = 'promise_to_pay'))
           ORDER BY 2""",
        case_ids,
    )
    out: dict[int, list[PastAttempt]] = {cid: [] for cid in case_ids}
    for r in rows:
        out[r["case_id"]].append(PastAttempt(r["at"], r["e164"], str(r["case_id"]), r["d"]))
    return out


async def active_phones(
    conn: asyncpg.Connection, case_ids: list[int]
) -> dict[int, list[CasePhone]]:
    """Each case's active phones, first position first."""
    rows = await conn.fetch(
        """SELECT case_id, id, e164 FROM phones
           WHERE case_id = ANY($1::bigint[]) AND status = 'active'
           ORDER BY case_id, position""",
        case_ids,
    )
    out: dict[int, list[CasePhone]] = {cid: [] for cid in case_ids}
    for r in rows:
        out[r["case_id"]].append(CasePhone(r["id"], r["e164"]))
    return out


async def sends_of(conn: asyncpg.Connection, case_ids: list[int]) -> dict[int, list[SendRecord]]:
    """Every reminder recorded for these cases, oldest first."""
    rows = await conn.fetch(
        """SELECT case_id, created_at, trigger, status FROM sms_sends
           WHERE case_id = ANY($1::bigint[]) ORDER BY created_at""",
        case_ids,
    )
    out: dict[int, list[SendRecord]] = {cid: [] for cid in case_ids}
    for r in rows:
        out[r["case_id"]].append(
            SendRecord(r["case_id"], r["created_at"], r["trigger"], r["status"])
        )
    return out


async def record_send(
    conn: asyncpg.Connection,
    send_id: str,
    campaign: int,
    case_id: int,
    phone_id: int,
    to_masked: str,
    trigger: str,
    body: str,
    at: datetime,
) -> None:
    """Write the send row (status 'sending') BEFORE the first POST."""
    await conn.execute(
        """INSERT INTO sms_sends (id, campaign_id, case_id, phone_id, to_masked, trigger, body,
                                  created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        send_id,
        campaign,
        case_id,
        phone_id,
        to_masked,
        trigger,
        body,
        at,
    )


async def finish_send(
    conn: asyncpg.Connection,
    send_id: str,
    status: str,
    tries: int,
    response_code: int | None,
    error: str,
    at: datetime,
) -> None:
    """Close the send row with the gateway's last answer."""
    await conn.execute(
        """UPDATE sms_sends SET status = $2, tries = $3, response_code = $4, error = $5,
                  finished_at = $6
           WHERE id = $1""",
        send_id,
        status,
        tries,
        response_code,
        error,
        at,
    )
