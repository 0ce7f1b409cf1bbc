"""The live dashboard's counts: connects and abandons per rolling window, recent dials."""

from __future__ import annotations

from datetime import datetime

import asyncpg


async def window_counts(
    conn: asyncpg.Connection,
    campaign_id: int,
    now: datetime,
    windows: tuple[int, ...],
    dial_rate_seconds: int,
) -> tuple[dict[int, tuple[int, int]], int, int]:
    """Per window (connected, abandoned), plus attempts and connects in the last
    ``dial_rate_seconds``."""
    rows = await conn.fetch(
        """SELECT w,
                  count(*) FILTER (WHERE a.disposition = 'agent_talked') AS connected,
                  count(*) FILTER (WHERE a.abandoned) AS abandoned
           FROM unnest($3::int[]) AS w
           LEFT JOIN attempts a
             ON a.campaign_id = $1 AND a.created_at > $2::timestamptz - make_interval(secs => w)
            AND a.created_at <= $2::timestamptz
           GROUP BY w""",
        campaign_id,
        now,
        list(windows),
    )
    minute = await conn.fetchrow(
        """SELECT count(*) AS dialed,
                  count(*) FILTER (WHERE disposition = 'agent_talked') AS connects
           FROM attempts
           WHERE campaign_id = $1 AND created_at > $2::timestamptz - make_interval(secs => $3)""",
        campaign_id,
        now,
        dial_rate_seconds,
    )
    counts = {r["w"]: (r["connected"], r["abandoned"]) for r in rows}
    return counts, minute["dialed"], minute["connects"]
