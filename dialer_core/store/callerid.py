"""Caller-ID usage and health data: per-number counts from the attempts, and health state."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from dialer_core.callerid.health import Counts, Health, Status

Cells = dict[tuple[int, str], Counts]  # (UTC hour of day, callee province) → counts


async def health_cells(
    conn: asyncpg.Connection, campaign_id: int, since: datetime
) -> dict[str, Cells]:
    """Calls and answers per caller ID and cell since ``since`` (after a number's restore)."""
    rows = await conn.fetch(
        """SELECT a.caller_id, extract(hour FROM a.created_at)::int AS hour, p.province,
                  count(*) AS calls, count(a.answered_at) AS answered
           FROM attempts a JOIN phones p ON p.id = a.phone_id
           LEFT JOIN callerid_state s ON s.number = a.caller_id
           WHERE a.campaign_id = $1 AND a.caller_id <> '' AND a.state = 'done'
             AND a.created_at >= greatest($2, coalesce(s.restored_at, $2))
           GROUP BY 1, 2, 3""",
        campaign_id,
        since,
    )
    stats: dict[str, Cells] = {}
    for r in rows:
        stats.setdefault(r["caller_id"], {})[(r["hour"], r["province"])] = Counts(
            r["calls"], r["answered"]
        )
    return stats


async def usage_since(
    conn: asyncpg.Connection, campaign_id: int, since: datetime
) -> list[tuple[str, datetime]]:
    """(caller ID, launch time) of this campaign's calls since ``since``, for daily caps."""
    rows = await conn.fetch(
        "SELECT caller_id, created_at FROM attempts "
        "WHERE campaign_id = $1 AND created_at >= $2 AND caller_id <> ''",
        campaign_id,
        since,
    )
    return [(r["caller_id"], r["created_at"]) for r in rows]


async def resting_numbers(conn: asyncpg.Connection) -> set[str]:
    return {
        r["number"]
        for r in await conn.fetch("SELECT number FROM callerid_state WHERE status = 'rest'")
    }


async def record_health(
    conn: asyncpg.Connection, verdicts: list[Health], at: datetime
) -> list[Health]:
    """Store warn/rest verdicts whose status changed; return those changes (for alerts)."""
    changed: list[Health] = []
    async with conn.transaction():
        for h in verdicts:
            if h.status not in (Status.WARN, Status.REST):
                continue
            previous = await conn.fetchval(
                "SELECT status FROM callerid_state WHERE number = $1", h.number
            )
            if previous == h.status.value or previous == "rest":
                continue  # a resting number stays resting until an operator restores it
            await conn.execute(
                """INSERT INTO callerid_state (number, status, reason, p_value, changed_at)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (number) DO UPDATE SET status = excluded.status,
                       reason = excluded.reason, p_value = excluded.p_value,
                       changed_at = excluded.changed_at""",
                h.number,
                h.status.value,
                h.reason,
                h.p_value,
                at,
            )
            await conn.execute(
                "INSERT INTO callerid_events (number, status, reason, at) VALUES ($1,$2,$3,$4)",
                h.number,
                h.status.value,
                h.reason,
                at,
            )
            changed.append(h)
    return changed


async def restore_number(conn: asyncpg.Connection, number: str, at: datetime) -> None:
    """An operator puts a number back in rotation; its health sample starts afresh."""
    await conn.execute(
        """INSERT INTO callerid_state (number, status, reason, changed_at, restored_at)
           VALUES ($1, 'ok', 'restored by an operator', $2, $2)
           ON CONFLICT (number) DO UPDATE SET status = 'ok', reason = excluded.reason,
               changed_at = $2, restored_at = $2""",
        number,
        at,
    )
    await conn.execute(
        "INSERT INTO callerid_events (number, status, reason, at) VALUES ($1, 'ok', $2, $3)",
        number,
        "restored by an operator",
        at,
    )
