"""The cycle report's SQL: every aggregate is computed by PostgreSQL in one statement.

One scan of the campaign's attempts in the period feeds a ``GROUPING SETS`` aggregate whose
rows are rolled up, in the same statement, into the breakdowns: totals, region, DPD bucket,
caller ID, hour of day, attempt number, day, handler (robot/human/none), agent-day and agent.
Region and days past due come from the attempt row itself (sql/011), as they were at dial time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

# Robot or agent outcomes that say the callee was not the debtor or never spoke.
NOT_RIGHT_PARTY = ("wrong_party", "third_party", "no_input", "hung_up")

_SUMS = (
    "attempts",
    "contacts",
    "right_party",
    "promises",
    "promised_minor",
    "abandoned",
    "robot",
    "human",
    "talk_seconds",
    "human_talk_seconds",
)
_ROLL = ", ".join(f"sum({c}) AS {c}" for c in _SUMS)
_COLS = ", ".join(_SUMS)
# GROUPING(region, caller_id, day) of each level-1 set: a bit is 1 where the column is not grouped.
_BY_PLACE, _BY_DIAL, _BY_TIME = 0b011, 0b101, 0b110

# Level 1 reads each attempt once and feeds three small grouping sets, (region, bucket),
# (caller_id, attempt_no) and (day, hour, handler, agent); every other breakdown is a sum over
# one of them (level 2), and the per-agent rows are sums over agent-days (level 3). Fewer sets
# at level 1 means fewer aggregate transitions per attempt, which is what the time goes on.
CYCLE_SQL = f"""
WITH f AS (
    SELECT coalesce(nullif(a.region, ''), '(unknown)') AS region,
           CASE WHEN a.days_past_due IS NULL THEN -1
                WHEN a.days_past_due <= 0 THEN 0
                ELSE least((a.days_past_due - 1) / 30 + 1, 7) END AS bucket,
           a.caller_id, a.attempt_no, coalesce(a.agent, '') AS agent,
           a.created_at AT TIME ZONE $4 AS local_at,
           a.created_at, coalesce(a.ended_at, a.created_at) AS ended_at,
           a.abandoned, coalesce(a.talk_seconds, 0) AS talk,
           (a.answered_at IS NOT NULL OR a.pbx_result = 'answered')
               AND a.disposition IS DISTINCT FROM 'machine' AS contact,
           coalesce(a.detail->>'agent_outcome', a.detail->>'robot_outcome', a.disposition, '')
               AS outcome,
           coalesce(a.detail->>'handled_by',
                    CASE WHEN coalesce(a.agent, '') <> '' OR a.disposition = 'agent_talked'
                         THEN 'human'
                         WHEN a.detail ? 'robot_outcome' THEN 'robot'
                         ELSE '' END) AS handled_by,
           a.detail->>'right_party' AS right_party,
           a.detail->>'ptp_amount_minor' AS ptp_amount
    FROM attempts a
    WHERE a.campaign_id = $1 AND a.created_at >= $2 AND a.created_at < $3
), flags AS (
    SELECT region, bucket, caller_id, attempt_no, agent, handled_by,
           local_at::date AS day, date_part('hour', local_at)::int AS hour,
           created_at, ended_at,
           contact::int AS contact,
           (CASE WHEN right_party IS NOT NULL THEN right_party::boolean
                 ELSE contact AND NOT abandoned AND handled_by <> ''
                      AND outcome <> ALL($5::text[]) END)::int AS rpc,
           (outcome = 'promise_to_pay')::int AS ptp,
           CASE WHEN outcome = 'promise_to_pay' THEN coalesce(ptp_amount::bigint, 0)
                ELSE 0 END AS ptp_minor,
           abandoned::int AS abandoned,
           (handled_by = 'robot')::int AS robot,
           (handled_by = 'human')::int AS human,
           talk,
           CASE WHEN handled_by = 'human' THEN talk ELSE 0 END AS human_talk
    FROM f
), s AS (
    SELECT GROUPING(region, caller_id, day) AS g,
           region, bucket, caller_id, attempt_no, day, hour, handled_by, agent,
           count(*) AS attempts, sum(contact) AS contacts, sum(rpc) AS right_party,
           sum(ptp) AS promises, sum(ptp_minor) AS promised_minor,
           sum(abandoned) AS abandoned, sum(robot) AS robot, sum(human) AS human,
           sum(talk) AS talk_seconds, sum(human_talk) AS human_talk_seconds,
           min(created_at) AS first_at, max(ended_at) AS last_at
    FROM flags
    GROUP BY GROUPING SETS ((region, bucket), (caller_id, attempt_no),
                            (day, hour, handled_by, agent))
), t AS (
    SELECT CASE WHEN GROUPING(day) = 0 AND GROUPING(agent) = 0 THEN 'agent_day'
                WHEN GROUPING(day) = 0 THEN 'day'
                WHEN GROUPING(hour) = 0 THEN 'hour'
                WHEN GROUPING(handled_by) = 0 THEN 'handled_by'
                ELSE 'total' END AS dimension,
           day, hour, handled_by, agent, {_ROLL},
           min(first_at) AS first_at, max(last_at) AS last_at
    FROM s WHERE g = {_BY_TIME}
    GROUP BY GROUPING SETS ((), (day), (hour), (handled_by), (day, agent))
), agent_days AS (
    SELECT agent, day, {_COLS},
           date_part('epoch', last_at - first_at) AS span_seconds
    FROM t WHERE dimension = 'agent_day' AND agent <> ''
)
SELECT CASE WHEN GROUPING(region) = 0 THEN 'region' ELSE 'dpd_bucket' END AS dimension,
       CASE WHEN GROUPING(region) = 0 THEN region
            WHEN bucket < 0 THEN 'unknown' ELSE 'M' || bucket END AS key,
       '' AS agent, NULL::date AS day, 0::bigint AS days, {_ROLL}, 0::float8 AS span_seconds
FROM s WHERE g = {_BY_PLACE}
GROUP BY GROUPING SETS ((region), (bucket))
UNION ALL
SELECT CASE WHEN GROUPING(caller_id) = 0 THEN 'caller_id' ELSE 'attempt_no' END,
       CASE WHEN GROUPING(caller_id) = 0 THEN caller_id ELSE attempt_no::text END,
       '', NULL, 0, {_ROLL}, 0
FROM s WHERE g = {_BY_DIAL}
GROUP BY GROUPING SETS ((caller_id), (attempt_no))
UNION ALL
SELECT dimension,
       CASE dimension WHEN 'day' THEN to_char(day, 'YYYY-MM-DD')
                      WHEN 'hour' THEN hour::text
                      WHEN 'handled_by' THEN coalesce(nullif(handled_by, ''), 'none')
                      WHEN 'agent_day' THEN agent || ' ' || to_char(day, 'YYYY-MM-DD')
                      ELSE 'all' END,
       coalesce(agent, ''), CASE WHEN dimension = 'agent_day' THEN day END, 0, {_COLS},
       coalesce(date_part('epoch', last_at - first_at), 0)
FROM t WHERE dimension <> 'agent_day' OR agent <> ''
UNION ALL
SELECT CASE WHEN GROUPING(agent) = 0 THEN 'agent' ELSE 'agent_days' END,
       coalesce(agent, 'all agents'), coalesce(agent, ''), NULL, count(*), {_ROLL},
       sum(span_seconds)
FROM agent_days
GROUP BY GROUPING SETS ((agent), ())
"""


@dataclass(frozen=True)
class Metrics:
    """Counts for one group of attempts. Money in minor units, times in seconds."""

    attempts: int
    contacts: int
    right_party: int
    promises: int
    promised_minor: int
    abandoned: int
    robot: int
    human: int
    talk_seconds: float
    human_talk_seconds: float
    span_seconds: float  # first attempt start to last attempt end within the group

    @property
    def contact_rate(self) -> float:
        """Live answers over attempts."""
        return self.contacts / self.attempts if self.attempts else 0.0

    @property
    def right_party_rate(self) -> float:
        """Right-party contacts over attempts."""
        return self.right_party / self.attempts if self.attempts else 0.0

    @property
    def promise_rate(self) -> float:
        """Promises to pay over right-party contacts."""
        return self.promises / self.right_party if self.right_party else 0.0

    @property
    def abandon_rate(self) -> float:
        """Abandoned calls over live answers."""
        return self.abandoned / self.contacts if self.contacts else 0.0

    @property
    def utilization(self) -> float:
        """Agent talk time over the span of the group (meaningful per agent-day)."""
        return self.human_talk_seconds / self.span_seconds if self.span_seconds > 0 else 0.0


@dataclass(frozen=True)
class Group:
    """One row of a breakdown: its dimension, its key (as text) and its metrics."""

    dimension: str  # total, region, dpd_bucket, caller_id, hour, attempt_no, day,
    # handled_by, agent_day, agent, agent_days (all agent-days together)
    key: str
    metrics: Metrics
    agent: str = ""
    day: date | None = None
    days: int = 0  # agent-days behind an "agent" or "agent_days" row


async def cycle_groups(
    conn: asyncpg.Connection,
    campaign_id: int,
    start: datetime,
    end: datetime,
    tz: str,
    *,
    work_mem: str = "256MB",
) -> list[Group]:
    """All breakdowns of the campaign's attempts created in [start, end), hours/days in ``tz``."""
    async with conn.transaction():
        # Room for the hash tables of every grouping set, so nothing spills to disk.
        await conn.execute(f"SET LOCAL work_mem = '{work_mem}'")
        rows = await conn.fetch(CYCLE_SQL, campaign_id, start, end, tz, list(NOT_RIGHT_PARTY))
    groups: list[Group] = []
    for r in rows:
        metrics = Metrics(
            attempts=int(r["attempts"] or 0),
            contacts=int(r["contacts"] or 0),
            right_party=int(r["right_party"] or 0),
            promises=int(r["promises"] or 0),
            promised_minor=int(r["promised_minor"] or 0),
            abandoned=int(r["abandoned"] or 0),
            robot=int(r["robot"] or 0),
            human=int(r["human"] or 0),
            talk_seconds=float(r["talk_seconds"] or 0.0),
            human_talk_seconds=float(r["human_talk_seconds"] or 0.0),
            span_seconds=float(r["span_seconds"] or 0.0),
        )
        groups.append(
            Group(r["dimension"], r["key"], metrics, r["agent"], r["day"], int(r["days"] or 0))
        )
    return groups


async def campaign_id_by_name(conn: asyncpg.Connection, name: str) -> int | None:
    """The id of the campaign called ``name``, or None."""
    return await conn.fetchval("SELECT id FROM campaigns WHERE name = $1", name)
