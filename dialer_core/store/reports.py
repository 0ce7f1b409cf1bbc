"""The cycle report's SQL: every aggregate is computed by PostgreSQL.

The period is read in slices of whole local days, one statement per slice on its own pool
connection, run concurrently (PostgreSQL does not run ``GROUPING SETS`` in parallel itself, and
the statement is CPU-bound). Each statement does one scan of the campaign's attempts in its
slice, feeds a ``GROUPING SETS`` aggregate and rolls its rows up, in the same statement, into
the breakdowns: totals, region, DPD bucket, caller ID, hour of day, attempt number, day, handler
(robot/human/none), agent-day and agent. Because no day (so no agent-day) spans two slices, the
slices' rows of one breakdown key are merged by adding them (``merge_groups``).
Region and days past due come from the attempt row itself (sql/011), as they were at dial time.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, timedelta

import asyncpg

from dialer_core.period import Period, bin_seconds, day_slices

# Robot or agent outcomes that say the callee was not the debtor or never spoke.
NOT_RIGHT_PARTY = ("wrong_party", "third_party", "no_input", "hung_up", "answering_machine")
# Concurrent slices (one connection each) unless the caller says otherwise.
DEFAULT_SLICES = max(2, min(os.cpu_count() or 2, 8))

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
# GROUPING(region, bin) of each level-1 set: a bit is 1 where the column is not grouped.
_BY_DIAL, _BY_TIME = 0b01, 0b10

# Level 1 reads each attempt once and feeds two small grouping sets, (region, bucket, caller ID,
# attempt number) and (time bin, handler, agent); every other breakdown is a sum over one of
# them (level 2), and the per-agent rows are sums over agent-days (level 3). The time spent is
# per attempt, so level 1 keeps per-row work minimal: raw columns as keys where they can be
# (region and agent are tidied at level 2), an integer DPD bucket, and ``date_bin`` into
# bins from the period start instead of a local time per row (level 2 turns each bin into a
# local day and hour with the zone's offsets). The contact test runs once per row; the jsonb
# detail is only read for live answers, which are a minority. OFFSET 0 keeps each subquery a
# projection of its own instead of copying its expressions into every aggregate that uses them.
CYCLE_SQL = f"""
WITH x AS (
    SELECT a.region, (least(greatest(a.days_past_due, 0), 181) + 29) / 30 AS bucket,
           a.caller_id, a.attempt_no, a.agent, date_bin($7::interval, a.created_at, $8) AS bin,
           a.created_at, coalesce(a.ended_at, a.created_at) AS ended_at,
           (a.answered_at IS NOT NULL OR a.pbx_result = 'answered')
               AND a.disposition IS DISTINCT FROM 'machine' AS contact,
           a.detail, a.talk_seconds, a.abandoned, a.disposition
    FROM attempts a
    WHERE a.campaign_id = $1 AND a.created_at >= $2 AND a.created_at < $3
    OFFSET 0
), y AS (
    SELECT region, bucket, caller_id, attempt_no, agent, bin, created_at, ended_at, abandoned,
           contact, CASE WHEN contact THEN coalesce(talk_seconds, 0) END AS talk,
           CASE WHEN contact THEN
               coalesce(detail->>'handled_by',
                        CASE WHEN coalesce(agent, '') <> '' OR disposition = 'agent_talked'
                             THEN 'human'
                             WHEN detail ? 'robot_outcome' THEN 'robot' END)
           END AS handler,
           CASE WHEN contact THEN
               coalesce(detail->>'agent_outcome', detail->>'robot_outcome', disposition)
           END AS outcome,
           CASE WHEN contact THEN detail->>'right_party' END AS right_party,
           CASE WHEN contact THEN detail->>'ptp_amount_minor' END AS ptp_amount
    FROM x
    OFFSET 0
), z AS (
    SELECT region, bucket, caller_id, attempt_no, agent, bin, created_at, ended_at, talk,
           abandoned, contact, handler AS handled_by,
           contact AND CASE WHEN right_party IS NOT NULL THEN right_party::boolean
                            ELSE NOT abandoned AND handler IS NOT NULL
                                 AND outcome <> ALL($6::text[]) END AS rpc,
           outcome = 'promise_to_pay' AS ptp,
           CASE WHEN outcome = 'promise_to_pay' THEN coalesce(ptp_amount::bigint, 0) END
               AS ptp_minor,
           handler = 'robot' AS robot, handler = 'human' AS human, agent <> '' AS has_agent
    FROM y
    OFFSET 0
), s AS (
    SELECT GROUPING(region, bin) AS g,
           region, bucket, caller_id, attempt_no, bin, handled_by, agent,
           count(*) AS attempts,
           count(*) FILTER (WHERE contact) AS contacts,
           count(*) FILTER (WHERE rpc) AS right_party,
           count(*) FILTER (WHERE ptp) AS promises,
           sum(ptp_minor) AS promised_minor,
           count(*) FILTER (WHERE abandoned) AS abandoned,
           count(*) FILTER (WHERE robot) AS robot,
           count(*) FILTER (WHERE human) AS human,
           sum(talk) AS talk_seconds,
           sum(talk) FILTER (WHERE human) AS human_talk_seconds,
           min(created_at) FILTER (WHERE has_agent) AS first_at,
           max(ended_at) FILTER (WHERE has_agent) AS last_at
    FROM z
    GROUP BY GROUPING SETS ((region, bucket, caller_id, attempt_no), (bin, handled_by, agent))
), d AS (
    SELECT coalesce(nullif(region, ''), '(unknown)') AS region, bucket, caller_id, attempt_no,
           {_COLS}
    FROM s WHERE g = {_BY_DIAL}
), b AS (
    SELECT floor(local_epoch / 86400)::int AS day,
           (floor(local_epoch / 3600)::bigint % 24)::int AS hour,
           coalesce(handled_by, '') AS handled_by, coalesce(agent, '') AS agent, {_COLS},
           first_at, last_at
    FROM (SELECT s.*, date_part('epoch', bin)
                      + ($5::float8[])[width_bucket(bin, $4::timestamptz[])] AS local_epoch
          FROM s WHERE g = {_BY_TIME}) binned
), t AS (
    SELECT CASE WHEN GROUPING(day) = 0 AND GROUPING(agent) = 0 THEN 'agent_day'
                WHEN GROUPING(day) = 0 THEN 'day'
                WHEN GROUPING(hour) = 0 THEN 'hour'
                WHEN GROUPING(handled_by) = 0 THEN 'handled_by'
                ELSE 'total' END AS dimension,
           day, hour, handled_by, agent, {_ROLL},
           min(first_at) AS first_at, max(last_at) AS last_at
    FROM b
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
                CASE WHEN bucket IS NULL THEN 'unknown' ELSE 'M' || bucket END
            WHEN GROUPING(caller_id) = 0 THEN caller_id
            ELSE attempt_no::text END AS key,
       '' AS agent, NULL::date AS day, 0::bigint AS days, {_ROLL}, 0::float8 AS span_seconds
FROM d
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
       CASE WHEN dimension = 'agent_day' THEN date_part('epoch', last_at - first_at) ELSE 0 END
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
    # Agent rows only (agent_day, agent, agent_days), 0 elsewhere: first call start to last
    # call end of the agent-day, summed over the days of an agent or of all agents.
    span_seconds: float

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


def _group(r: asyncpg.Record) -> Group:
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
    return Group(r["dimension"], r["key"], metrics, r["agent"], r["day"], int(r["days"] or 0))


def merge_groups(parts: Iterable[Iterable[Group]]) -> list[Group]:
    """One group per (dimension, key, agent, day): the slices' metrics and days added up.

    Exact because every slice holds whole local days: an agent-day, and so its span, lies in
    one slice; an agent's days and spans over the period are the sums of theirs per slice.
    """
    merged: dict[tuple[str, str, str, date | None], Group] = {}
    for part in parts:
        for g in part:
            k = (g.dimension, g.key, g.agent, g.day)
            seen = merged.get(k)
            if seen is None:
                merged[k] = g
                continue
            metrics = Metrics(
                **{
                    f.name: getattr(seen.metrics, f.name) + getattr(g.metrics, f.name)
                    for f in fields(Metrics)
                }
            )
            merged[k] = Group(g.dimension, g.key, metrics, g.agent, g.day, seen.days + g.days)
    return list(merged.values())


async def _slice_groups(
    pool: asyncpg.Pool, args: tuple[object, ...], work_mem: str, timeout: float
) -> list[Group]:
    async with pool.acquire() as conn, conn.transaction():
        # The planner cannot estimate the group counts of computed keys and guesses millions;
        # below this it would sort every attempt for one grouping set (about twice the time).
        # The real hash tables hold tens of thousands of groups.
        await conn.execute(f"SET LOCAL work_mem = '{work_mem}'")
        rows = await conn.fetch(CYCLE_SQL, *args, timeout=timeout)
    return [_group(r) for r in rows]


async def cycle_groups(
    pool: asyncpg.Pool,
    campaign_id: int,
    period: Period,
    *,
    slices: int = DEFAULT_SLICES,
    work_mem: str = "1GB",
    timeout: float = 900.0,
) -> list[Group]:
    """All breakdowns of the campaign's attempts started within ``period`` (local days/hours).

    The period is split into up to ``slices`` runs of whole days, aggregated concurrently on
    as many pool connections and merged. ``timeout`` replaces the pool's short per-command
    timeout: a slice over millions of attempts is one long statement.
    """
    step = timedelta(seconds=bin_seconds(period))
    common = (list(period.since), list(period.offsets), list(NOT_RIGHT_PARTY), step, period.start)
    parts = await asyncio.gather(
        *(
            _slice_groups(pool, (campaign_id, lo, hi, *common), work_mem, timeout)
            for lo, hi in day_slices(period, slices)
        )
    )
    return merge_groups(parts)
