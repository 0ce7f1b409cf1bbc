"""The cycle report's SQL: every aggregate is computed by PostgreSQL in one statement.

One scan of the campaign's attempts in the period feeds a ``GROUPING SETS`` aggregate whose
rows are rolled up, in the same statement, into the breakdowns: totals, region, DPD bucket,
caller ID, hour of day, attempt number, day, handler (robot/human/none), agent-day and agent.
Region and days past due come from the attempt row itself (sql/011), as they were at dial time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import asyncpg

from dialer_core.reports.period import Period

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
# GROUPING(region, day) of each level-1 set: a bit is 1 where the column is not grouped.
_BY_DIAL, _BY_TIME = 0b01, 0b10

# Level 1 reads each attempt once and feeds two small grouping sets, (region, bucket, caller ID,
# attempt number) and (day, hour, handler, agent); every other breakdown is a sum over one of
# them (level 2), and the per-agent rows are sums over agent-days (level 3). Per attempt the
# cost is the scan, one hash lookup per level-1 set and the aggregate transitions, so level 1
# has as few sets as possible and the flags are computed once (OFFSET 0 keeps each subquery a
# projection of its own instead of copying its expressions into every aggregate that uses
# them). Most attempts are not answered: FILTER skips their transitions, and the jsonb detail
# is only read for live answers.
_CONTACT = (
    "((a.answered_at IS NOT NULL OR a.pbx_result = 'answered') "
    "AND a.disposition IS DISTINCT FROM 'machine')"
)
CYCLE_SQL = f"""
WITH f AS (
    SELECT coalesce(nullif(a.region, ''), '(unknown)') AS region,
           CASE WHEN a.days_past_due IS NULL THEN -1
                WHEN a.days_past_due <= 0 THEN 0
                ELSE least((a.days_past_due - 1) / 30 + 1, 7) END AS bucket,
           a.caller_id, a.attempt_no, coalesce(a.agent, '') AS agent,
           date_part('epoch', a.created_at)
               + ($5::float8[])[width_bucket(a.created_at, $4::timestamptz[])] AS local_epoch,
           a.created_at, coalesce(a.ended_at, a.created_at) AS ended_at,
           a.abandoned, coalesce(a.talk_seconds, 0) AS talk,
           {_CONTACT} AS contact,
           CASE WHEN {_CONTACT} THEN
               coalesce(a.detail->>'agent_outcome', a.detail->>'robot_outcome', a.disposition)
           END AS outcome,
           CASE WHEN {_CONTACT} THEN
               coalesce(a.detail->>'handled_by',
                        CASE WHEN coalesce(a.agent, '') <> '' OR a.disposition = 'agent_talked'
                             THEN 'human'
                             WHEN a.detail ? 'robot_outcome' THEN 'robot' END)
           END AS handler,
           CASE WHEN {_CONTACT} THEN a.detail->>'right_party' END AS right_party,
           CASE WHEN {_CONTACT} THEN a.detail->>'ptp_amount_minor' END AS ptp_amount
    FROM attempts a
    WHERE a.campaign_id = $1 AND a.created_at >= $2 AND a.created_at < $3
    OFFSET 0
), flags AS (
    SELECT region, bucket, caller_id, attempt_no, agent, coalesce(handler, '') AS handled_by,
           floor(local_epoch / 86400)::int AS day,
           (floor(local_epoch / 3600)::bigint % 24)::int AS hour,
           created_at, ended_at, contact, abandoned, talk,
           contact AND CASE WHEN right_party IS NOT NULL THEN right_party::boolean
                            ELSE NOT abandoned AND handler IS NOT NULL
                                 AND outcome <> ALL($6::text[]) END AS rpc,
           contact AND outcome = 'promise_to_pay' AS ptp,
           CASE WHEN contact AND outcome = 'promise_to_pay'
                THEN coalesce(ptp_amount::bigint, 0) END AS ptp_minor,
           handler IS NOT DISTINCT FROM 'robot' AS robot,
           handler IS NOT DISTINCT FROM 'human' AS human,
           agent <> '' AS has_agent
    FROM f
    OFFSET 0
), s AS (
    SELECT GROUPING(region, day) AS g,
           region, bucket, caller_id, attempt_no, day, hour, handled_by, agent,
           count(*) AS attempts,
           count(*) FILTER (WHERE contact) AS contacts,
           count(*) FILTER (WHERE rpc) AS right_party,
           count(*) FILTER (WHERE ptp) AS promises,
           sum(ptp_minor) FILTER (WHERE ptp) AS promised_minor,
           count(*) FILTER (WHERE abandoned) AS abandoned,
           count(*) FILTER (WHERE robot) AS robot,
           count(*) FILTER (WHERE human) AS human,
           sum(talk) FILTER (WHERE contact) AS talk_seconds,
           sum(talk) FILTER (WHERE human) AS human_talk_seconds,
           min(created_at) FILTER (WHERE has_agent) AS first_at,
           max(ended_at) FILTER (WHERE has_agent) AS last_at
    FROM flags
    GROUP BY GROUPING SETS ((region, bucket, caller_id, attempt_no),
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
SELECT CASE WHEN GROUPING(region) = 0 THEN 'region'
            WHEN GROUPING(bucket) = 0 THEN 'dpd_bucket'
            WHEN GROUPING(caller_id) = 0 THEN 'caller_id'
            ELSE 'attempt_no' END AS dimension,
       CASE WHEN GROUPING(region) = 0 THEN region
            WHEN GROUPING(bucket) = 0 THEN
                CASE WHEN bucket < 0 THEN 'unknown' ELSE 'M' || bucket END
            WHEN GROUPING(caller_id) = 0 THEN caller_id
            ELSE attempt_no::text END AS key,
       '' AS agent, NULL::date AS day, 0::bigint AS days, {_ROLL}, 0::float8 AS span_seconds
FROM s WHERE g = {_BY_DIAL}
GROUP BY GROUPING SETS ((region), (bucket), (caller_id), (attempt_no))
UNION ALL
SELECT dimension,
       CASE dimension WHEN 'day' THEN to_char(DATE '1970-01-01' + day, 'YYYY-MM-DD')
                      WHEN 'hour' THEN hour::text
                      WHEN 'handled_by' THEN coalesce(nullif(handled_by, ''), 'none')
                      WHEN 'agent_day'
                          THEN agent || ' ' || to_char(DATE '1970-01-01' + day, 'YYYY-MM-DD')
                      ELSE 'all' END,
       coalesce(agent, ''), CASE WHEN dimension = 'agent_day' THEN DATE '1970-01-01' + day END,
       0, {_COLS},
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
    period: Period,
    *,
    work_mem: str = "1GB",
    timeout: float = 900.0,
) -> list[Group]:
    """All breakdowns of the campaign's attempts started within ``period`` (local days/hours).

    ``timeout`` replaces the pool's short per-command timeout: a cycle over tens of millions
    of attempts is one long statement.
    """
    async with conn.transaction():
        # The planner cannot estimate the group counts of computed keys and guesses millions;
        # below this it would sort every attempt for one grouping set (10M rows: 33 s instead
        # of 18 s of CPU). The real hash tables hold tens of thousands of groups.
        await conn.execute(f"SET LOCAL work_mem = '{work_mem}'")
        rows = await conn.fetch(
            CYCLE_SQL,
            campaign_id,
            period.start,
            period.end,
            list(period.since),
            list(period.offsets),
            list(NOT_RIGHT_PARTY),
            timeout=timeout,
        )
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
