"""What the collection floor shows: the case on an agent's call, today's tiles, agent figures.

All read-only SQL for the agent desktop and the supervisor view. "Today" is whatever span the
caller passes (the campaign's local day), so the numbers match the cycle report's definitions:
a promise is an attempt whose agent or robot outcome is ``promise_to_pay``; the abandon rate is
abandoned / (connected + abandoned).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import asyncpg

from dialer_core.store.reports import NOT_RIGHT_PARTY

_OUTCOME = "coalesce(a.detail->>'agent_outcome', a.detail->>'robot_outcome', a.disposition)"
_PROMISE = f"{_OUTCOME} = 'promise_to_pay'"
_HUMAN = (
    "(coalesce(a.agent, '') <> '' OR a.disposition = 'agent_talked' OR a.detail ? 'agent_outcome')"
)
_ROBOT = "(a.detail ? 'robot_outcome' AND coalesce(a.agent, '') = '')"


@dataclass(frozen=True)
class CallRef:
    """An attempt an agent handled (or is handling)."""

    call_id: str
    campaign: str
    case_id: int
    created_at: dt.datetime
    ended_at: dt.datetime | None
    outcome_saved: bool
    agent: str


async def call_ref(conn: asyncpg.Connection, call_id: str) -> CallRef | None:
    """The attempt ``call_id`` with its campaign name and case."""
    row = await conn.fetchrow(
        """SELECT a.call_id::text AS call_id, c.name AS campaign, a.case_id, a.created_at,
                  a.ended_at, a.detail ? 'agent_outcome' AS saved, a.agent
           FROM attempts a JOIN campaigns c ON c.id = a.campaign_id
           WHERE a.call_id = $1::uuid""",
        call_id,
    )
    return _ref(row) if row else None


def _ref(row: asyncpg.Record) -> CallRef:
    return CallRef(
        row["call_id"],
        row["campaign"],
        row["case_id"],
        row["created_at"],
        row["ended_at"],
        row["saved"],
        row["agent"] or "",
    )


async def pending_disposition(
    conn: asyncpg.Connection, seat: str, since: dt.datetime
) -> CallRef | None:
    """The agent's latest finished call since ``since`` that has no disposition saved yet."""
    row = await conn.fetchrow(
        """SELECT a.call_id::text AS call_id, c.name AS campaign, a.case_id, a.created_at,
                  a.ended_at, false AS saved, a.agent
           FROM attempts a JOIN campaigns c ON c.id = a.campaign_id
           WHERE a.agent = $1 AND a.created_at >= $2 AND a.state = 'done'
             AND NOT a.detail ? 'agent_outcome'
           ORDER BY a.created_at DESC LIMIT 1""",
        seat,
        since,
    )
    return _ref(row) if row else None


async def case_card(conn: asyncpg.Connection, case_id: int) -> dict[str, Any] | None:
    """The screen pop: the case, its phones, earlier attempts, promises, notes, open tasks."""
    case = await conn.fetchrow(
        """SELECT c.id, c.external_id, c.debtor_name, c.amount_minor, c.currency,
                  c.days_past_due, c.product, c.due_date, c.extra, k.name AS campaign
           FROM cases c JOIN campaigns k ON k.id = c.campaign_id WHERE c.id = $1""",
        case_id,
    )
    if case is None:
        return None
    phones = await conn.fetch(
        "SELECT e164, status, province, city FROM phones WHERE case_id = $1 ORDER BY position",
        case_id,
    )
    attempts = await conn.fetch(
        f"""SELECT a.created_at, a.disposition, a.talk_seconds, a.agent, a.abandoned,
                   {_OUTCOME} AS outcome
            FROM attempts a WHERE a.case_id = $1 ORDER BY a.created_at DESC LIMIT 20""",
        case_id,
    )
    promises = await conn.fetch(
        """SELECT amount_minor, due_date, status, source, made_at FROM promises
           WHERE case_id = $1 ORDER BY made_at DESC LIMIT 10""",
        case_id,
    )
    notes = await conn.fetch(
        """SELECT n.at, n.outcome, n.note, coalesce(m.display_name, m.name, '') AS by
           FROM case_notes n LEFT JOIN managers m ON m.id = n.manager_id
           WHERE n.case_id = $1 ORDER BY n.at DESC LIMIT 20""",
        case_id,
    )
    tasks = await conn.fetch(
        """SELECT kind, due_at, note FROM tasks WHERE case_id = $1 AND status = 'open'
           ORDER BY due_at LIMIT 10""",
        case_id,
    )
    return {
        "case": dict(case),
        "phones": [dict(r) for r in phones],
        "attempts": [dict(r) for r in attempts],
        "promises": [dict(r) for r in promises],
        "notes": [dict(r) for r in notes],
        "tasks": [dict(r) for r in tasks],
    }


async def today_tiles(
    conn: asyncpg.Connection, campaign_id: int, start: dt.datetime, end: dt.datetime
) -> dict[str, Any]:
    """The floor's headline figures over [start, end): promises, dispositions, robot vs human."""
    row = await conn.fetchrow(
        f"""SELECT count(*) AS attempts,
                   count(*) FILTER (WHERE {_PROMISE}) AS promises,
                   coalesce(sum((a.detail->>'ptp_amount_minor')::bigint)
                            FILTER (WHERE {_PROMISE}), 0)::bigint AS promised_minor,
                   count(*) FILTER (WHERE {_PROMISE} AND {_HUMAN}) AS human_promises,
                   count(*) FILTER (WHERE {_PROMISE} AND {_ROBOT}) AS robot_promises,
                   count(*) FILTER (WHERE {_HUMAN}) AS human,
                   count(*) FILTER (WHERE {_ROBOT}) AS robot,
                   count(*) FILTER (WHERE a.disposition = 'agent_talked') AS connected,
                   count(*) FILTER (WHERE a.abandoned) AS abandoned
            FROM attempts a
            WHERE a.campaign_id = $1 AND a.created_at >= $2 AND a.created_at < $3""",
        campaign_id,
        start,
        end,
    )
    dispositions = await conn.fetch(
        """SELECT disposition, count(*) AS n FROM attempts
           WHERE campaign_id = $1 AND created_at >= $2 AND created_at < $3
             AND disposition IS NOT NULL
           GROUP BY disposition ORDER BY n DESC, disposition""",
        campaign_id,
        start,
        end,
    )
    leads = await conn.fetchrow(
        """SELECT count(*) AS scheduled, count(*) FILTER (WHERE next_attempt_at <= $2) AS due
           FROM schedule WHERE campaign_id = $1""",
        campaign_id,
        end,
    )
    currency = await conn.fetchval(
        "SELECT currency FROM cases WHERE campaign_id = $1 LIMIT 1", campaign_id
    )
    live = row["connected"] + row["abandoned"]
    return {
        **dict(row),
        "drop_rate": row["abandoned"] / live if live else None,
        "currency": currency or "",
        "dispositions": {r["disposition"]: r["n"] for r in dispositions},
        "leads_scheduled": leads["scheduled"],
        "leads_due": leads["due"],
    }


async def agent_figures(
    conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime
) -> dict[str, dict[str, Any]]:
    """Per agent seat over [start, end), every campaign: calls, talk, promises, right party."""
    rows = await conn.fetch(
        f"""SELECT a.agent, count(*) AS calls,
                   coalesce(sum(a.talk_seconds), 0)::float8 AS talk_seconds,
                   count(*) FILTER (WHERE {_PROMISE}) AS promises,
                   coalesce(sum((a.detail->>'ptp_amount_minor')::bigint)
                            FILTER (WHERE {_PROMISE}), 0)::bigint AS promised_minor,
                   count(*) FILTER (WHERE a.detail ? 'agent_outcome'
                                    AND a.detail->>'agent_outcome' <> ALL($3::text[]))
                       AS right_party,
                   count(*) FILTER (WHERE a.detail ? 'agent_outcome') AS dispositioned
            FROM attempts a
            WHERE a.created_at >= $1 AND a.created_at < $2 AND coalesce(a.agent, '') <> ''
            GROUP BY a.agent""",
        start,
        end,
        list(NOT_RIGHT_PARTY),
    )
    return {r["agent"]: dict(r) for r in rows}
