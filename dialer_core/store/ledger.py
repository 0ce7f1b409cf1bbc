"""The abandonment ledger, summed in PostgreSQL from every node's attempts.

The attempts table is the record: a live answer is an answered attempt that was not a machine
and whose callee did not hang up while AMD listened (no person was heard: as
``pacing.classify``) nor one the agent disposed of as an answering machine (a call placed with
AMD off, pacing.amd_plan), an abandon is an attempt flagged abandoned. An AMD false positive (a
MACHINE verdict whose ``amd_decisions.truth`` is ``human``) was a person hung up on: a live
answer and an abandon, as Ofcom counts it. Summing it here (per minute) is what makes the legal
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
        """SELECT (floor(extract(epoch FROM a.answered_at) / 60) * 60)::bigint AS minute,
                  count(*) FILTER (WHERE fp OR (coalesce(a.disposition, '') <> 'machine'
                                                AND d.status IS DISTINCT FROM 'HANGUP'
                                                AND a.detail->>'agent_outcome'
                                                    IS DISTINCT FROM 'answering_machine'))
                      AS answers,
                  count(*) FILTER (WHERE a.abandoned OR fp) AS abandons
           FROM attempts a
           LEFT JOIN amd_decisions d ON d.call_id = a.call_id,
           LATERAL (SELECT (d.status = 'MACHINE' AND d.truth = 'human') IS TRUE AS fp) f
           WHERE a.campaign_id = $1 AND a.answered_at >= $2
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
