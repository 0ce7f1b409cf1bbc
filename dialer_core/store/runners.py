"""The runners table: who is alive (heartbeat), and whose open attempts are orphans."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class OpenAttempt:
    """An open attempt of another runner, with what is known of that runner."""

    call_id: str
    case_id: int
    runner: str
    host: str | None  # None: the runner has no row (an id from before migration 070)
    pid: int | None
    heartbeat_age: float | None  # seconds since its last heartbeat, by the database's clock
    stopped: bool


async def register_runner(
    conn: asyncpg.Connection,
    runner: str,
    host: str,
    pid: int,
    started_at: datetime,
    campaign_id: int | None,
) -> None:
    """Record a runner before it writes anything (its heartbeat starts now)."""
    await conn.execute(
        """INSERT INTO runners (id, host, pid, started_at, campaign_id, heartbeat_at)
           VALUES ($1, $2, $3, $4, $5, now())
           ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), stopped_at = NULL""",
        runner,
        host,
        pid,
        started_at,
        campaign_id,
    )


async def heartbeat(conn: asyncpg.Connection, runner: str) -> None:
    """This runner is alive (the database's clock stamps it, so hosts need not agree)."""
    await conn.execute("UPDATE runners SET heartbeat_at = now() WHERE id = $1", runner)


async def mark_stopped(conn: asyncpg.Connection, runner: str) -> None:
    """This runner stopped cleanly: anything it left open may be recovered at once."""
    await conn.execute("UPDATE runners SET stopped_at = now() WHERE id = $1", runner)


async def others_open_attempts(
    conn: asyncpg.Connection, campaign_id: int, me: str
) -> list[OpenAttempt]:
    """Open attempts of this campaign held by any runner but ``me``, with their runner's row."""
    rows = await conn.fetch(
        """SELECT a.call_id::text, a.case_id, a.runner, r.host, r.pid,
                  extract(epoch FROM now() - r.heartbeat_at)::float8 AS age,
                  r.stopped_at IS NOT NULL AS stopped
           FROM attempts a LEFT JOIN runners r ON r.id = a.runner
           WHERE a.campaign_id = $1 AND a.state <> 'done' AND a.runner <> $2""",
        campaign_id,
        me,
    )
    return [
        OpenAttempt(
            r["call_id"], r["case_id"], r["runner"], r["host"], r["pid"], r["age"], r["stopped"]
        )
        for r in rows
    ]
