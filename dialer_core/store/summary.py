"""The end-of-run summary, read back from the database (SQL aggregates, not Python loops)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class RunSummary:
    attempts: int
    open_attempts: int
    by_disposition: tuple[tuple[str, int], ...]
    answered: int
    connected: int
    abandoned: int
    talk_seconds: float
    by_handler: tuple[tuple[str, int], ...] = ()  # ("robot" | "human", answered calls)
    promises: int = 0
    promised_minor: int = 0

    @property
    def abandon_rate(self) -> float:
        """Abandoned calls over live answers (the regulators' definition)."""
        live = self.connected + self.abandoned
        return self.abandoned / live if live else 0.0


async def campaign_summary(conn: asyncpg.Connection, campaign_id: int) -> RunSummary:
    """Counts for one campaign's attempts."""
    totals = await conn.fetchrow(
        """SELECT count(*) AS attempts,
                  count(*) FILTER (WHERE state <> 'done') AS open_attempts,
                  count(*) FILTER (WHERE answered_at IS NOT NULL) AS answered,
                  count(*) FILTER (WHERE disposition = 'agent_talked') AS connected,
                  count(*) FILTER (WHERE abandoned) AS abandoned,
                  coalesce(sum(talk_seconds) FILTER (WHERE disposition = 'agent_talked'), 0)
                      AS talk_seconds
           FROM attempts WHERE campaign_id = $1""",
        campaign_id,
    )
    rows = await conn.fetch(
        """SELECT disposition, count(*) AS n FROM attempts
           WHERE campaign_id = $1 AND disposition IS NOT NULL
           GROUP BY disposition ORDER BY n DESC, disposition""",
        campaign_id,
    )
    handlers = await conn.fetch(
        """SELECT detail->>'handled_by' AS handler, count(*) AS n FROM attempts
           WHERE campaign_id = $1 AND detail ? 'handled_by' GROUP BY 1 ORDER BY 1""",
        campaign_id,
    )
    ptp = await conn.fetchrow(
        """SELECT count(*) AS n, coalesce(sum((detail->>'ptp_amount_minor')::bigint), 0) AS amt
           FROM attempts WHERE campaign_id = $1 AND disposition = 'promise_to_pay'""",
        campaign_id,
    )
    return RunSummary(
        attempts=totals["attempts"],
        open_attempts=totals["open_attempts"],
        by_disposition=tuple((r["disposition"], r["n"]) for r in rows),
        answered=totals["answered"],
        connected=totals["connected"],
        abandoned=totals["abandoned"],
        talk_seconds=float(totals["talk_seconds"]),
        by_handler=tuple((r["handler"], r["n"]) for r in handlers),
        promises=ptp["n"],
        promised_minor=ptp["amt"],
    )
