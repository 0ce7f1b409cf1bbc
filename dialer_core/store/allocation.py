"""Case assignment storage: account managers, assignment with its history, and worklists.
All assignment SQL for dialer_core.allocation; follow-up lives in dialer_core.store.followup.

Decisions (who gets a case) are made by the pure functions in dialer_core.allocation.rules;
these functions read their inputs and apply their plans in bulk.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg

from dialer_core.allocation.rules import Assignment, CaseFacts, Manager, Plan, plan_assignments


class AllocationError(ValueError):
    """A request names something that does not exist or cannot be done (the message says)."""


# -- managers --------------------------------------------------------------------------------


async def upsert_manager(
    conn: asyncpg.Connection,
    name: str,
    *,
    display_name: str = "",
    regions: tuple[str, ...] = (),
    dpd_buckets: tuple[str, ...] = (),
    amount_min_minor: int | None = None,
    amount_max_minor: int | None = None,
    max_cases: int | None = None,
    active: bool = True,
) -> int:
    """Create or update the manager called ``name``; return their id."""
    return await conn.fetchval(
        """INSERT INTO managers (name, display_name, regions, dpd_buckets, amount_min_minor,
                                 amount_max_minor, max_cases, active)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (name) DO UPDATE SET display_name = excluded.display_name,
               regions = excluded.regions, dpd_buckets = excluded.dpd_buckets,
               amount_min_minor = excluded.amount_min_minor,
               amount_max_minor = excluded.amount_max_minor,
               max_cases = excluded.max_cases, active = excluded.active
           RETURNING id""",
        name,
        display_name,
        list(regions),
        list(dpd_buckets),
        amount_min_minor,
        amount_max_minor,
        max_cases,
        active,
    )


async def manager_id(conn: asyncpg.Connection, name: str) -> int:
    """The id of manager ``name``; AllocationError if there is none."""
    found = await conn.fetchval("SELECT id FROM managers WHERE name = $1", name)
    if found is None:
        raise AllocationError(f"no account manager named {name!r}")
    return found


async def active_managers(conn: asyncpg.Connection) -> list[Manager]:
    """Active managers with their current load (cases held and their total amount)."""
    rows = await conn.fetch(
        """SELECT m.id, m.name, m.regions, m.dpd_buckets, m.amount_min_minor,
                  m.amount_max_minor, m.max_cases,
                  count(ca.case_id) AS load_cases, coalesce(sum(c.amount_minor), 0) AS load_minor
           FROM managers m
           LEFT JOIN case_assignments ca ON ca.manager_id = m.id
           LEFT JOIN cases c ON c.id = ca.case_id
           WHERE m.active
           GROUP BY m.id ORDER BY m.name"""
    )
    return [
        Manager(
            r["id"],
            r["name"],
            frozenset(r["regions"]),
            frozenset(r["dpd_buckets"]),
            r["amount_min_minor"],
            r["amount_max_minor"],
            r["max_cases"],
            r["load_cases"],
            int(r["load_minor"]),
        )
        for r in rows
    ]


# -- assignment ------------------------------------------------------------------------------


async def case_id(conn: asyncpg.Connection, campaign: str, external_id: str) -> int:
    """The id of case ``external_id`` in campaign ``campaign``; AllocationError if none."""
    found = await conn.fetchval(
        """SELECT c.id FROM cases c JOIN campaigns k ON k.id = c.campaign_id
           WHERE k.name = $1 AND c.external_id = $2""",
        campaign,
        external_id,
    )
    if found is None:
        raise AllocationError(f"campaign {campaign!r} has no case {external_id!r}")
    return found


async def unassigned_cases(conn: asyncpg.Connection, campaign_id: int) -> list[CaseFacts]:
    """The campaign's cases nobody holds, with the province of their first phone."""
    rows = await conn.fetch(
        """SELECT c.id, coalesce(p.province, '') AS province, c.days_past_due, c.amount_minor
           FROM cases c
           LEFT JOIN LATERAL (SELECT province FROM phones WHERE case_id = c.id
                              ORDER BY position LIMIT 1) p ON true
           WHERE c.campaign_id = $1
             AND NOT EXISTS (SELECT 1 FROM case_assignments ca WHERE ca.case_id = c.id)""",
        campaign_id,
    )
    return [CaseFacts(r["id"], r["province"], r["days_past_due"], r["amount_minor"]) for r in rows]


async def apply_assignments(
    conn: asyncpg.Connection,
    assignments: tuple[Assignment, ...] | list[Assignment],
    *,
    at: dt.datetime,
    by: str,
    kind: str,
) -> int:
    """Give each case to its manager and log an event per change; one statement, in bulk.

    A case already held by the same manager is left alone (no event). Returns the number of
    cases that changed hands.
    """
    if not assignments:
        return 0
    return await conn.fetchval(
        """WITH new AS (
               SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[])
                   AS n(case_id, manager_id, reason)),
           changed AS (
               SELECT n.*, ca.manager_id AS old FROM new n
               LEFT JOIN case_assignments ca ON ca.case_id = n.case_id
               WHERE ca.manager_id IS DISTINCT FROM n.manager_id),
           up AS (
               INSERT INTO case_assignments (case_id, manager_id, assigned_at, assigned_by, reason)
               SELECT case_id, manager_id, $4, $5, reason FROM changed
               ON CONFLICT (case_id) DO UPDATE SET manager_id = excluded.manager_id,
                   assigned_at = excluded.assigned_at, assigned_by = excluded.assigned_by,
                   reason = excluded.reason
               RETURNING case_id),
           ev AS (
               INSERT INTO assignment_events (case_id, from_manager_id, to_manager_id, at, by,
                                              kind, reason)
               SELECT case_id, old, manager_id, $4, $5, $6, reason FROM changed
               RETURNING 1)
           SELECT count(*) FROM ev""",
        [a.case_id for a in assignments],
        [a.manager_id for a in assignments],
        [a.reason for a in assignments],
        at,
        by,
        kind,
    )


async def assign_by_rules(
    conn: asyncpg.Connection,
    campaign_id: int,
    *,
    at: dt.datetime,
    by: str = "rules",
    balance: str = "count",
) -> Plan:
    """Assign the campaign's unassigned cases by the allocation rules; return the plan."""
    async with conn.transaction():
        # One allocation run at a time, so two runs cannot both count a manager's free room.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('pacedial.allocation'))")
        plan = plan_assignments(
            await unassigned_cases(conn, campaign_id),
            await active_managers(conn),
            balance=balance,
        )
        await apply_assignments(conn, plan.assignments, at=at, by=by, kind="rule")
    return plan


async def assign_cases(
    conn: asyncpg.Connection,
    case_ids: list[int],
    manager: str,
    *,
    at: dt.datetime,
    by: str,
    reason: str = "",
    kind: str = "manual",
) -> int:
    """Give cases to ``manager`` by hand (kind "manual", or "reassign"); return how many moved."""
    mid = await manager_id(conn, manager)
    return await apply_assignments(
        conn, [Assignment(c, mid, reason) for c in case_ids], at=at, by=by, kind=kind
    )


async def unassign(
    conn: asyncpg.Connection, case_ids: list[int], *, at: dt.datetime, by: str, reason: str = ""
) -> int:
    """Take cases away from whoever holds them (logged); return how many were held."""
    return await conn.fetchval(
        """WITH gone AS (DELETE FROM case_assignments WHERE case_id = ANY($1::bigint[])
                         RETURNING case_id, manager_id),
               ev AS (INSERT INTO assignment_events (case_id, from_manager_id, to_manager_id,
                                                     at, by, kind, reason)
                      SELECT case_id, manager_id, NULL, $2, $3, 'unassign', $4 FROM gone
                      RETURNING 1)
           SELECT count(*) FROM ev""",
        case_ids,
        at,
        by,
        reason,
    )


@dataclass(frozen=True)
class AssignmentEvent:
    at: dt.datetime
    kind: str
    from_manager: str | None
    to_manager: str | None
    by: str
    reason: str


async def assignment_history(conn: asyncpg.Connection, case: int) -> list[AssignmentEvent]:
    """Every change of holder of a case, oldest first."""
    rows = await conn.fetch(
        """SELECT e.at, e.kind, f.name AS from_manager, t.name AS to_manager, e.by, e.reason
           FROM assignment_events e
           LEFT JOIN managers f ON f.id = e.from_manager_id
           LEFT JOIN managers t ON t.id = e.to_manager_id
           WHERE e.case_id = $1 ORDER BY e.at, e.id""",
        case,
    )
    return [AssignmentEvent(**dict(r)) for r in rows]


# -- worklist --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkItem:
    """One case on a manager's worklist. Money in minor units; masked phone."""

    case_id: int
    external_id: str
    debtor_name: str
    amount_minor: int
    days_past_due: int
    province: str
    phone_last4: str
    next_task_id: int | None
    next_task_kind: str | None
    next_task_due: dt.datetime | None
    open_tasks: int
    promise_minor: int | None
    promise_due: dt.date | None
    paid_minor: int
    last_outcome: str | None
    last_note_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    currency: str = "CNY"


async def worklist(conn: asyncpg.Connection, manager: str, *, limit: int = 500) -> list[WorkItem]:
    """The manager's cases: earliest open task first, then the largest amounts."""
    mid = await manager_id(conn, manager)
    rows = await conn.fetch(
        """SELECT c.id AS case_id, c.external_id, c.debtor_name, c.amount_minor, c.currency,
                  c.days_past_due, coalesce(p.province, '') AS province,
                  right(coalesce(p.e164, ''), 4) AS phone_last4,
                  t.id AS next_task_id, t.kind AS next_task_kind, t.due_at AS next_task_due,
                  coalesce(tc.n, 0) AS open_tasks,
                  pr.amount_minor AS promise_minor, pr.due_date AS promise_due,
                  coalesce(pay.total, 0) AS paid_minor,
                  n.outcome AS last_outcome, n.at AS last_note_at,
                  s.next_attempt_at
           FROM case_assignments ca
           JOIN cases c ON c.id = ca.case_id
           LEFT JOIN LATERAL (SELECT province, e164 FROM phones WHERE case_id = c.id
                              ORDER BY position LIMIT 1) p ON true
           LEFT JOIN LATERAL (SELECT id, kind, due_at FROM tasks
                              WHERE case_id = c.id AND status = 'open'
                              ORDER BY due_at, priority DESC, id LIMIT 1) t ON true
           LEFT JOIN LATERAL (SELECT count(*) AS n FROM tasks
                              WHERE case_id = c.id AND status = 'open') tc ON true
           LEFT JOIN LATERAL (SELECT amount_minor, due_date FROM promises
                              WHERE case_id = c.id AND status = 'open'
                              ORDER BY due_date LIMIT 1) pr ON true
           LEFT JOIN LATERAL (SELECT sum(amount_minor) AS total FROM payments
                              WHERE case_id = c.id) pay ON true
           LEFT JOIN LATERAL (SELECT outcome, at FROM case_notes WHERE case_id = c.id
                              ORDER BY at DESC, id DESC LIMIT 1) n ON true
           LEFT JOIN schedule s ON s.case_id = c.id
           WHERE ca.manager_id = $1
           ORDER BY t.due_at NULLS LAST, c.amount_minor DESC, c.id
           LIMIT $2""",
        mid,
        limit,
    )
    return [WorkItem(**{**dict(r), "paid_minor": int(r["paid_minor"])}) for r in rows]


async def active_manager_count(conn: asyncpg.Connection) -> int:
    """How many account managers can take cases."""
    return await conn.fetchval("SELECT count(*) FROM managers WHERE active")
