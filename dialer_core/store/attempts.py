"""Leasing contacts and writing attempts: the only SQL the campaign runner runs per call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg

from dialer_core.compliance.decision import Contact as RuleContact
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
    debtor_key: str = ""  # the debtor the caps count on (cases.debtor_key)
    address_zones: tuple[str, ...] = ()  # zones known from the debtor's address

    def rule_contact(self) -> RuleContact:
        """The contact as the compliance rules see it (number, case, debtor, address zones)."""
        return RuleContact(str(self.case_id), self.e164, self.address_zones, self.debtor_key)


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
                     c.due_date, c.debtor_key, c.address_zones""",
        campaign_id,
        now,
        limit,
        runner,
        lease,
    )
    return [Contact(**{**dict(r), "address_zones": tuple(r["address_zones"])}) for r in rows]


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

    Returns None when the case or the number already has an open attempt (another runner,
    campaign or case rings it): the partial unique indexes make a double dial impossible
    whatever the leases say, and nothing is written (the attempt is not consumed).
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
# An AMD false positive (a MACHINE verdict on a person, once known) is an abandoned call on
# the rules' keys too (Ofcom: the 72 h lock-out), and a machine verdict for the same-day rule.
RULE_COLUMNS = """coalesce(a.disposition, 'in_progress') AS disposition,
                  (a.answered_at IS NOT NULL AND NOT a.abandoned
                   AND coalesce(a.disposition, '') <> 'machine') AS connected,
                  (a.abandoned OR EXISTS (
                       SELECT 1 FROM amd_decisions d WHERE d.call_id = a.call_id
                       AND d.status = 'MACHINE' AND d.truth = 'human')) AS abandoned,
                  coalesce(a.disposition, '') = 'machine' AS machine"""
NOT_DIALED = "not_dialed"


def _past(r: asyncpg.Record, now: datetime | None = None):
    """One attempt row as the rules see it at ``now``: a call that started after ``now`` or
    ended after it (another runner's, written meanwhile) was in flight at that instant."""
    from dialer_core.compliance.model import PastAttempt

    later = now is not None and (
        r["created_at"] > now or (r["ended_at"] is not None and r["ended_at"] > now)
    )
    return PastAttempt(
        r["created_at"],
        r["e164"],
        str(r["case_id"]),
        "in_progress" if later else r["disposition"],
        r["connected"],
        r["abandoned"],
        r["machine"],
        r["debtor_key"],
        None if later else r["ended_at"],
    )


# Every attempt on one of the keys, with the debtor key as it is now (merged debtors included).
_KEYED_HISTORY = f"""SELECT a.case_id, a.created_at, a.ended_at, a.e164, c.debtor_key,
           {RULE_COLUMNS}
    FROM attempts a JOIN cases c ON c.id = a.case_id
    WHERE coalesce(a.disposition, '') <> $4
      AND (a.case_id = ANY($1::bigint[]) OR a.e164 = ANY($2::text[])
           OR a.case_id IN (SELECT id FROM cases WHERE debtor_key = ANY($3::text[])))"""


async def rule_histories(
    conn: asyncpg.Connection, contacts: list[Contact], now: datetime
) -> dict[int, list]:
    """For each contact (by case id), every attempt on the law's keys at ``now``: its case, its
    number (any case, any campaign) and its debtor (all their cases), open ones and those that
    ended or started after ``now`` ``in_progress`` (so a call started at ``now`` never overlaps
    one the history shows)."""
    rows = await conn.fetch(
        _KEYED_HISTORY,
        [c.case_id for c in contacts],
        [c.e164 for c in contacts],
        [c.debtor_key for c in contacts if c.debtor_key],
        NOT_DIALED,
    )
    past = [(r["case_id"], _past(r, now)) for r in rows]
    out: dict[int, list] = {}
    for c in contacts:
        out[c.case_id] = [
            a
            for case_id, a in past
            if case_id == c.case_id or a.phone == c.e164 or a.debtor == c.debtor_key
        ]
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
