"""Leasing contacts and writing attempts: the only SQL the campaign runner runs per call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg

from dialer_core.store.attempt_batches import create_attempts, finish_attempts, mark_states


@dataclass(frozen=True)
class Contact:
    """A leased case with the phone to dial next."""

    case_id: int
    phone_id: int
    e164: str
    country: str
    province: str
    city: str
    attempt_no: int  # 1 for the first attempt of this case
    external_id: str
    debtor_name: str
    amount_minor: int
    currency: str
    days_past_due: int
    product: str
    due_date: date | None


@dataclass(frozen=True)
class AttemptResult:
    """Everything known when a call is over; written once, in one transaction."""

    call_id: str
    ended_at: datetime
    disposition: str
    pbx_result: str
    q850_cause: int | None
    cause_text: str
    talk_seconds: float
    next_attempt_at: datetime | None  # None: no further call to this phone by the dialer
    stop_phone: bool = False  # the number is dead (invalid, wrong party): never again
    advance_phone: bool = False  # try the case's next active phone (from now, rules permitting)
    close_case: bool = False  # the case leaves the dialer (done, promise to pay)
    reason: str = ""
    agent: str = ""  # the agent who took the call, if one did
    abandoned: bool = False  # answered, no agent within the limit
    detail: dict | None = None


async def lease_contacts(
    conn: asyncpg.Connection,
    campaign_id: int,
    runner: str,
    limit: int,
    now: datetime,
    lease: timedelta,
) -> list[Contact]:
    """Lease up to ``limit`` due cases nobody else holds (FOR UPDATE SKIP LOCKED)."""
    if limit <= 0:
        return []
    rows = await conn.fetch(
        """WITH due AS (
               SELECT case_id FROM schedule
               WHERE campaign_id = $1 AND next_attempt_at <= $2
                 AND (lease_until IS NULL OR lease_until < $2)
               ORDER BY priority DESC, next_attempt_at
               LIMIT $3
               FOR UPDATE SKIP LOCKED)
           UPDATE schedule s SET leased_by = $4, lease_until = $2 + $5::interval
           FROM due, phones p, cases c
           WHERE s.case_id = due.case_id AND p.id = s.phone_id AND c.id = s.case_id
           RETURNING s.case_id, s.phone_id, p.e164, p.country, p.province, p.city,
                     s.attempts + 1 AS attempt_no, c.external_id, c.debtor_name,
                     c.amount_minor, c.currency, c.days_past_due, c.product,
                     c.due_date""",
        campaign_id,
        now,
        limit,
        runner,
        lease,
    )
    return [Contact(**dict(r)) for r in rows]


async def release_lease(
    conn: asyncpg.Connection, case_id: int, runner: str, retry_at: datetime | None = None
) -> None:
    """Give a leased case back without dialing it (e.g. the rules said not now)."""
    await conn.execute(
        """UPDATE schedule SET leased_by = NULL, lease_until = NULL,
                  next_attempt_at = COALESCE($3, next_attempt_at)
           WHERE case_id = $1 AND leased_by = $2""",
        case_id,
        runner,
        retry_at,
    )


async def renew_leases(
    conn: asyncpg.Connection, runner: str, case_ids: list[int], until: datetime
) -> None:
    """Keep the leases of cases whose calls are still in flight."""
    await conn.execute(
        "UPDATE schedule SET lease_until = $3 WHERE leased_by = $1 AND case_id = ANY($2)",
        runner,
        case_ids,
        until,
    )


async def create_attempt(
    conn: asyncpg.Connection,
    campaign_id: int,
    contact: Contact,
    runner: str,
    caller_id: str,
    now: datetime,
) -> str | None:
    """Write the attempt row (state dialing) BEFORE the originate; return its call id.

    Returns None when the case already has an open attempt (another runner dials it): the
    partial unique index makes a double dial impossible whatever the leases say.
    """
    ids = await create_attempts(conn, campaign_id, [(contact, caller_id)], runner, now)
    return ids[0]


async def mark_state(conn: asyncpg.Connection, call_id: str, state: str, at: datetime) -> None:
    """Record progress (ringing / answered) of an open attempt; never reopens a done one."""
    await mark_states(conn, [(call_id, state, at)])


async def record_abandon(conn: asyncpg.Connection, call_id: str) -> None:
    """An answered call found no agent within the limit (visible to the ledger at once)."""
    await conn.execute("UPDATE attempts SET abandoned = true WHERE call_id = $1", call_id)


async def finish_attempt(conn: asyncpg.Connection, result: AttemptResult) -> bool:
    """Close the attempt and reschedule (or finish) its case, atomically and exactly once.

    Returns False when the attempt was already closed (a duplicate hangup, a reconciliation
    racing a late event): the first writer wins and nothing is written twice.
    """
    return (await finish_attempts(conn, [result]))[0]


# The rules' view of one attempt row ``a``, shared by the runner and the audit so both judge
# the same facts: open attempts count as in progress; a conversation is an answer that was
# neither abandoned nor a machine; attempts held by the rules before dialing are not calls.
RULE_COLUMNS = """coalesce(a.disposition, 'in_progress') AS disposition,
                  (a.answered_at IS NOT NULL AND NOT a.abandoned
                   AND coalesce(a.disposition, '') <> 'machine') AS connected,
                  a.abandoned, coalesce(a.disposition, '') = 'machine' AS machine"""
NOT_DIALED = "not_dialed"


async def case_histories(conn: asyncpg.Connection, case_ids: list[int]) -> dict[int, list]:
    """Every attempt of these cases as compliance ``PastAttempt`` rows (open ones in_progress)."""
    from dialer_core.compliance.model import PastAttempt

    rows = await conn.fetch(
        f"""SELECT a.case_id, a.created_at, p.e164, {RULE_COLUMNS}
            FROM attempts a JOIN phones p ON p.id = a.phone_id
            WHERE a.case_id = ANY($1::bigint[]) AND coalesce(a.disposition, '') <> $2""",
        case_ids,
        NOT_DIALED,
    )
    out: dict[int, list] = {cid: [] for cid in case_ids}
    for r in rows:
        out[r["case_id"]].append(
            PastAttempt(
                r["created_at"],
                r["e164"],
                str(r["case_id"]),
                r["disposition"],
                r["connected"],
                r["abandoned"],
                r["machine"],
            )
        )
    return out


async def stop_contact(
    conn: asyncpg.Connection, case_id: int, phone_id: int, runner: str, reason: str
) -> None:
    """The rules forbid this phone for good (DNC, unknown zone): stop it, go on with the next."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE phones SET status = 'stopped', stop_reason = $2 WHERE id = $1",
            phone_id,
            reason,
        )
        other = await conn.fetchval(
            """SELECT id FROM phones WHERE case_id = $1 AND status = 'active'
               ORDER BY position LIMIT 1""",
            case_id,
        )
        if other is None:
            await conn.execute(
                "DELETE FROM schedule WHERE case_id = $1 AND leased_by = $2", case_id, runner
            )
        else:
            await conn.execute(
                """UPDATE schedule SET phone_id = $3, leased_by = NULL, lease_until = NULL
                   WHERE case_id = $1 AND leased_by = $2""",
                case_id,
                runner,
                other,
            )


async def open_attempts(conn: asyncpg.Connection, runner: str) -> list[asyncpg.Record]:
    """Attempts this runner left open (after a crash or restart), for reconciliation."""
    return await conn.fetch(
        "SELECT call_id::text, case_id, state, created_at, answered_at FROM attempts "
        "WHERE runner = $1 AND state <> 'done'",
        runner,
    )


async def record_amd(
    conn: asyncpg.Connection, call_id: str, status: str, cause: str, action: str, at: datetime
) -> None:
    """Log an answering-machine verdict (to study false positives later)."""
    await conn.execute(
        """INSERT INTO amd_decisions (call_id, status, cause, action, at)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (call_id) DO NOTHING""",
        call_id,
        status,
        cause,
        action,
        at,
    )


async def record_recording(conn: asyncpg.Connection, call_id: str, path: str, at: datetime) -> None:
    """The PBX started recording this call into ``path``."""
    await conn.execute(
        """INSERT INTO recordings (call_id, path, started_at) VALUES ($1, $2, $3)
           ON CONFLICT (call_id) DO NOTHING""",
        call_id,
        path,
        at,
    )
