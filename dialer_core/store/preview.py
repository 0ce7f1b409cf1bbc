"""Preview mode's schedule reads and writes: the next case to show, putting a case off."""

from __future__ import annotations

from datetime import datetime

import asyncpg


async def next_preview_case(
    conn: asyncpg.Connection, campaign_id: int, now: datetime
) -> asyncpg.Record | None:
    """The campaign's next due, unleased case with its phone, or None."""
    return await conn.fetchrow(
        """SELECT s.case_id, s.attempts, s.next_attempt_at, c.external_id, c.debtor_name,
                  c.amount_minor, c.currency, c.days_past_due, c.product, p.e164,
                  p.province, p.city
           FROM schedule s JOIN cases c ON c.id = s.case_id JOIN phones p ON p.id = s.phone_id
           WHERE s.campaign_id = $1 AND s.next_attempt_at <= $2
             AND (s.lease_until IS NULL OR s.lease_until < $2)
           ORDER BY s.priority DESC, s.next_attempt_at LIMIT 1""",
        campaign_id,
        now,
    )


async def skip_case(
    conn: asyncpg.Connection, case_id: int, campaign_id: int, until: datetime
) -> int | None:
    """Put a waiting (unleased) case off until ``until``; its id, or None if it is not waiting."""
    return await conn.fetchval(
        """UPDATE schedule SET next_attempt_at = $3
           WHERE case_id = $1 AND campaign_id = $2
             AND (lease_until IS NULL OR lease_until < now())
           RETURNING case_id""",
        case_id,
        campaign_id,
        until,
    )
