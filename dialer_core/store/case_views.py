"""Cases and attempts as the API shows them: a case with its phones and schedule, an attempt
with its number, case and campaign."""

from __future__ import annotations

import asyncpg

_CASES_SQL = """
    SELECT c.id, c.external_id, c.debtor_name, c.amount_minor, c.currency, c.days_past_due,
           c.product, c.due_date, s.next_attempt_at,
           (SELECT count(*) FROM attempts a WHERE a.case_id = c.id) AS attempts,
           (SELECT json_agg(json_build_object('e164', p.e164, 'country', p.country,
                   'province', p.province, 'city', p.city, 'status', p.status)
                   ORDER BY p.position) FROM phones p WHERE p.case_id = c.id) AS phones
    FROM cases c LEFT JOIN schedule s ON s.case_id = c.id
    WHERE c.campaign_id = $1"""

_ATTEMPTS_SQL = """
    SELECT a.call_id::text AS call_id, a.attempt_no, a.caller_id, a.state, a.created_at,
           a.answered_at, a.ended_at, a.disposition, a.pbx_result, a.q850_cause, a.cause_text,
           a.talk_seconds, a.agent, a.abandoned, a.next_attempt_at, p.e164,
           c.external_id, cp.name AS campaign
    FROM attempts a JOIN phones p ON p.id = a.phone_id JOIN cases c ON c.id = a.case_id
    JOIN campaigns cp ON cp.id = a.campaign_id"""


async def list_cases(
    conn: asyncpg.Connection, campaign_id: int, phone: str, limit: int, offset: int
) -> list[asyncpg.Record]:
    """One page of the campaign's cases by id (only those with ``phone`` when it is given)."""
    return await conn.fetch(
        _CASES_SQL
        + """ AND ($2 = '' OR EXISTS (SELECT 1 FROM phones p
                                      WHERE p.case_id = c.id AND p.e164 = $2))
              ORDER BY c.id LIMIT $3 OFFSET $4""",
        campaign_id,
        phone,
        limit,
        offset,
    )


async def find_case(
    conn: asyncpg.Connection, campaign_id: int, external_id: str
) -> asyncpg.Record | None:
    """The campaign's case with this external id, or None."""
    return await conn.fetchrow(_CASES_SQL + " AND c.external_id = $2", campaign_id, external_id)


async def case_attempts(conn: asyncpg.Connection, case_id: int) -> list[asyncpg.Record]:
    """Every attempt of a case, oldest first."""
    return await conn.fetch(_ATTEMPTS_SQL + " WHERE a.case_id = $1 ORDER BY a.created_at", case_id)


async def list_attempts(
    conn: asyncpg.Connection, campaign_id: int, disposition: str, limit: int
) -> list[asyncpg.Record]:
    """The campaign's latest attempts (only those with ``disposition`` when it is given)."""
    return await conn.fetch(
        _ATTEMPTS_SQL
        + """ WHERE a.campaign_id = $1 AND ($2 = '' OR a.disposition = $2)
              ORDER BY a.created_at DESC LIMIT $3""",
        campaign_id,
        disposition,
        limit,
    )


async def find_attempt(conn: asyncpg.Connection, call_id: str) -> asyncpg.Record | None:
    """The attempt with this call id (a UUID string), or None."""
    return await conn.fetchrow(_ATTEMPTS_SQL + " WHERE a.call_id = $1::uuid", call_id)
