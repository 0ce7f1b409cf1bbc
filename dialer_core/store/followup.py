"""Case follow-up storage: tasks, notes after a call, promises to pay, payments, promise
checks, callbacks and visits. All follow-up SQL for dialer_core.allocation.

Decisions (what a missed promise becomes) are made by the pure functions in
dialer_core.allocation.followup; these functions read their inputs and apply them in bulk.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import asyncpg

from dialer_core.allocation.followup import PromiseFacts, Settlement, settle
from dialer_core.store.allocation import AllocationError, manager_id

# -- after a call: notes, promises, payments --------------------------------------------------


async def add_task(
    conn: asyncpg.Connection,
    case: int,
    kind: str,
    due_at: dt.datetime,
    *,
    now: dt.datetime,
    manager: str | None = None,
    priority: int = 0,
    note: str = "",
    promise_id: int | None = None,
) -> int:
    """A follow-up task on a case (callback, visit, promise_due, call, sms); its id.

    Without ``manager`` the task goes to whoever holds the case.
    """
    mid = await manager_id(conn, manager) if manager else None
    return await conn.fetchval(
        """INSERT INTO tasks (case_id, manager_id, kind, due_at, priority, note, promise_id,
                              created_at)
           VALUES ($1, coalesce($2, (SELECT manager_id FROM case_assignments
                                     WHERE case_id = $1)), $3, $4, $5, $6, $7, $8)
           RETURNING id""",
        case,
        mid,
        kind,
        due_at,
        priority,
        note,
        promise_id,
        now,
    )


async def finish_task(
    conn: asyncpg.Connection, task_id: int, *, at: dt.datetime, status: str = "done"
) -> bool:
    """Close an open task (done or cancelled); False if it was not open."""
    done = await conn.fetchval(
        """UPDATE tasks SET status = $2, done_at = $3 WHERE id = $1 AND status = 'open'
           RETURNING id""",
        task_id,
        status,
        at,
    )
    return done is not None


def _day_start(day: dt.date, tz: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), ZoneInfo(tz))


async def record_promise(
    conn: asyncpg.Connection,
    case: int,
    amount_minor: int,
    due_date: dt.date,
    *,
    now: dt.datetime,
    source: str,
    call_id: str | None = None,
    tz: str = "UTC",
) -> int:
    """A promise to pay and its follow-up task due on the promised day (in ``tz``); its id."""
    pid = await conn.fetchval(
        """INSERT INTO promises (case_id, call_id, amount_minor, due_date, made_at, source)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
        case,
        call_id,
        amount_minor,
        due_date,
        now,
        source,
    )
    await add_task(
        conn,
        case,
        "promise_due",
        _day_start(due_date, tz),
        now=now,
        note=f"promised {amount_minor} by {due_date.isoformat()}",
        promise_id=pid,
    )
    return pid


async def record_outcome(
    conn: asyncpg.Connection,
    case: int,
    manager: str,
    outcome: str,
    *,
    now: dt.datetime,
    note: str = "",
    call_id: str | None = None,
    ptp_amount_minor: int | None = None,
    ptp_date: dt.date | None = None,
    task_id: int | None = None,
    tz: str = "UTC",
    extra: dict | None = None,
) -> int:
    """A manager's disposition and note after a call; returns the note id.

    With ``call_id`` the outcome is also written to the attempt (detail.agent_outcome, the
    promise keys and ``extra``), so the cycle report counts agents' promises. A
    ``promise_to_pay`` outcome needs an amount and a date and records the promise; ``task_id``
    is closed as done.
    """
    if outcome == "promise_to_pay" and (ptp_amount_minor is None or ptp_date is None):
        raise AllocationError("outcome promise_to_pay needs ptp_amount_minor and ptp_date")
    mid = await manager_id(conn, manager)
    async with conn.transaction():
        note_id = await conn.fetchval(
            """INSERT INTO case_notes (case_id, manager_id, call_id, at, outcome, note)
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
            case,
            mid,
            call_id,
            now,
            outcome,
            note,
        )
        if call_id is not None:
            detail: dict = {**(extra or {}), "agent_outcome": outcome}
            if outcome == "promise_to_pay":
                detail |= {"ptp_amount_minor": ptp_amount_minor, "ptp_date": ptp_date.isoformat()}
            await conn.execute(
                "UPDATE attempts SET detail = detail || $2::jsonb WHERE call_id = $1",
                call_id,
                detail,
            )
        if outcome == "promise_to_pay":
            await record_promise(
                conn,
                case,
                ptp_amount_minor,
                ptp_date,
                now=now,
                source="human",
                call_id=call_id,
                tz=tz,
            )
        if task_id is not None:
            await finish_task(conn, task_id, at=now)
    return note_id


async def import_robot_promises(
    conn: asyncpg.Connection, campaign_id: int, *, now: dt.datetime, tz: str = "UTC"
) -> int:
    """Promises the robot took (attempts.detail) become promises with due tasks; once each."""
    return await conn.fetchval(
        """WITH new AS (
               INSERT INTO promises (case_id, call_id, amount_minor, due_date, made_at, source)
               SELECT a.case_id, a.call_id, (a.detail->>'ptp_amount_minor')::bigint,
                      (a.detail->>'ptp_date')::date, coalesce(a.ended_at, a.created_at), 'robot'
               FROM attempts a
               WHERE a.campaign_id = $1 AND a.detail->>'robot_outcome' = 'promise_to_pay'
                 AND (a.detail->>'ptp_amount_minor')::bigint > 0
                 AND a.detail ? 'ptp_date'
               ON CONFLICT (call_id) DO NOTHING
               RETURNING id, case_id, amount_minor, due_date),
           t AS (
               INSERT INTO tasks (case_id, manager_id, kind, due_at, note, promise_id, created_at)
               SELECT n.case_id, ca.manager_id, 'promise_due',
                      n.due_date::timestamp AT TIME ZONE $3,
                      'robot: promised ' || n.amount_minor || ' by ' || n.due_date, n.id, $2
               FROM new n LEFT JOIN case_assignments ca ON ca.case_id = n.case_id
               RETURNING 1)
           SELECT count(*) FROM t""",
        campaign_id,
        now,
        tz,
    )


async def record_payment(
    conn: asyncpg.Connection,
    case: int,
    amount_minor: int,
    paid_at: dt.datetime,
    *,
    reference: str = "",
) -> int:
    """A payment against a case; a repeated non-empty reference is refused by the database."""
    return await conn.fetchval(
        """INSERT INTO payments (case_id, amount_minor, paid_at, reference)
           VALUES ($1, $2, $3, $4) RETURNING id""",
        case,
        amount_minor,
        paid_at,
        reference,
    )


async def check_promises(
    conn: asyncpg.Connection, *, today: dt.date, now: dt.datetime
) -> list[Settlement]:
    """Settle open promises as of ``today``: kept ones close, missed ones get a follow-up task."""
    async with conn.transaction():
        rows = await conn.fetch(
            """SELECT p.id, p.case_id, p.amount_minor, p.due_date,
                      coalesce((SELECT sum(amount_minor) FROM payments y
                                WHERE y.case_id = p.case_id AND y.paid_at >= p.made_at), 0)
                          AS paid,
                      (SELECT count(*) FROM promises q
                       WHERE q.case_id = p.case_id AND q.status = 'missed') AS missed_before
               FROM promises p WHERE p.status = 'open'
               FOR UPDATE OF p"""
        )
        facts = [
            PromiseFacts(
                r["id"],
                r["case_id"],
                r["amount_minor"],
                r["due_date"],
                int(r["paid"]),
                r["missed_before"],
            )
            for r in rows
        ]
        settled = [s for s in (settle(f, today) for f in facts) if s is not None]
        if not settled:
            return []
        await conn.execute(
            """WITH s AS (SELECT * FROM unnest($1::bigint[], $2::text[]) AS s(id, status))
               UPDATE promises p SET status = s.status, settled_at = $3 FROM s WHERE p.id = s.id""",
            [s.promise_id for s in settled],
            [s.status for s in settled],
            now,
        )
        await conn.execute(
            """UPDATE tasks SET status = 'done', done_at = $2
               WHERE promise_id = ANY($1::bigint[]) AND kind = 'promise_due' AND status = 'open'""",
            [s.promise_id for s in settled],
            now,
        )
        missed = [s for s in settled if s.followup is not None]
        await conn.execute(
            """INSERT INTO tasks (case_id, manager_id, kind, due_at, priority, note, promise_id,
                                  created_at)
               SELECT m.case_id, ca.manager_id, m.kind, $6, m.priority, m.note, m.promise_id, $6
               FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::int[], $5::text[])
                   AS m(promise_id, case_id, kind, priority, note)
               LEFT JOIN case_assignments ca ON ca.case_id = m.case_id
               ON CONFLICT DO NOTHING""",
            [s.promise_id for s in missed],
            [s.case_id for s in missed],
            [s.followup for s in missed],
            [s.priority for s in missed],
            [s.note for s in missed],
            now,
        )
    return settled


# -- callbacks and visits -------------------------------------------------------------------


async def schedule_callback(
    conn: asyncpg.Connection,
    case: int,
    at: dt.datetime,
    *,
    now: dt.datetime,
    priority: int = 10,
    manager: str | None = None,
    note: str = "",
) -> int:
    """Put the case back in its campaign's schedule at ``at`` with ``priority``; a task id.

    The runner leases it like any other due contact (highest priority first), so the dial-time
    compliance checks (window, caps, DNC) apply unchanged. A finished case is re-scheduled on
    its first active phone; a case with no active phone is refused.
    """
    async with conn.transaction():
        phone = await conn.fetchval(
            """SELECT id FROM phones WHERE case_id = $1 AND status = 'active'
               ORDER BY position LIMIT 1""",
            case,
        )
        if phone is None:
            raise AllocationError(f"case {case}: no active phone to call back")
        await conn.execute(
            """INSERT INTO schedule (case_id, campaign_id, phone_id, next_attempt_at, priority,
                                     attempts)
               SELECT c.id, c.campaign_id, $2, $3, $4,
                      (SELECT count(*) FROM attempts a WHERE a.case_id = c.id)
               FROM cases c WHERE c.id = $1
               ON CONFLICT (case_id) DO UPDATE SET next_attempt_at = excluded.next_attempt_at,
                   priority = excluded.priority""",
            case,
            phone,
            at,
            priority,
        )
        return await add_task(
            conn, case, "callback", at, now=now, manager=manager, priority=priority, note=note
        )


async def schedule_visit(
    conn: asyncpg.Connection,
    case: int,
    due_at: dt.datetime,
    *,
    now: dt.datetime,
    manager: str | None = None,
    note: str = "",
) -> int:
    """An on-site visit task for the case; its id."""
    return await add_task(conn, case, "visit", due_at, now=now, manager=manager, note=note)
