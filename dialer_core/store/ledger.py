"""The abandonment ledger, summed in PostgreSQL from every node's attempts.

The attempts table is the record: a live answer is an answered attempt that was not a machine,
an abandon is an attempt flagged abandoned. Summing it here (per minute) is what makes the legal
cap hold across restarts and across several controller processes dialing one campaign.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from dialer_core.pacing.ledger import AbandonmentLedger


async def ledger_rows(
    conn: asyncpg.Connection, campaign_id: int, since: datetime
) -> list[tuple[int, int, int]]:
    """(minute start in epoch seconds, live answers, abandons) since ``since``."""
    rows = await conn.fetch(
        """SELECT (floor(extract(epoch FROM answered_at) / 60) * 60)::bigint AS minute,
                  count(*) FILTER (WHERE coalesce(disposition, '') <> 'machine') AS answers,
                  count(*) FILTER (WHERE abandoned) AS abandons
           FROM attempts
           WHERE campaign_id = $1 AND answered_at >= $2
           GROUP BY 1""",
        campaign_id,
        since,
    )
    return [(r["minute"], r["answers"], r["abandons"]) for r in rows]


async def load_ledger(
    conn: asyncpg.Connection, campaign_id: int, now: datetime, windows_seconds: tuple[int, ...]
) -> AbandonmentLedger:
    """The campaign's ledger over its longest window, rebuilt from the attempts."""
    from datetime import timedelta

    since = now - timedelta(seconds=max(windows_seconds))
    return AbandonmentLedger.from_rows(await ledger_rows(conn, campaign_id, since), windows_seconds)
