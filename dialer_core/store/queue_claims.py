"""The queue_claims table: each runner's calls aimed at an agent queue, for the others."""

from __future__ import annotations

import asyncpg

from dialer_core.pacing.sharing import QueueClaim


async def publish_claim(conn: asyncpg.Connection, queue: str, claim: QueueClaim) -> None:
    """Write this runner's claim on ``queue`` (stamped by the database's clock)."""
    await conn.execute(
        """INSERT INTO queue_claims (runner, queue, ringing, waiting, dialing, updated_at)
           VALUES ($1, $2, $3, $4, $5, now())
           ON CONFLICT (runner) DO UPDATE SET queue = $2, ringing = $3, waiting = $4,
               dialing = $5, updated_at = now()""",
        claim.runner,
        queue,
        claim.ringing,
        claim.waiting,
        claim.dialing,
    )


async def peer_claims(
    conn: asyncpg.Connection, queue: str, me: str, ttl: float
) -> list[QueueClaim]:
    """The claims on ``queue`` of every other live runner: not stopped, its heartbeat and its
    claim both younger than ``ttl`` seconds (by the database's clock)."""
    rows = await conn.fetch(
        """SELECT q.runner, q.ringing, q.waiting, q.dialing
           FROM queue_claims q JOIN runners r ON r.id = q.runner
           WHERE q.queue = $1 AND q.runner <> $2 AND r.stopped_at IS NULL
             AND r.heartbeat_at > now() - make_interval(secs => $3)
             AND q.updated_at > now() - make_interval(secs => $3)""",
        queue,
        me,
        ttl,
    )
    return [QueueClaim(r["runner"], r["ringing"], r["waiting"], r["dialing"]) for r in rows]
