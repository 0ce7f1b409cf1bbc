"""Leasing and attempt bookkeeping against a real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from dialer_core.cases_csv import parse_cases_csv
from dialer_core.demo_data import demo_cases_csv
from dialer_core.store import attempts as store
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.cases import import_cases

NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
LEASE = timedelta(minutes=10)


async def seed(db, cases: int = 20) -> int:
    parsed = parse_cases_csv(demo_cases_csv(cases, seed=3))
    async with db.acquire() as conn:
        cid = await ensure_campaign(conn, "c")
        await import_cases(conn, cid, parsed.rows, parsed.errors, "demo")
    return cid


def result(call_id: str, disposition: str, next_at=None, stop_phone=False):
    return store.AttemptResult(
        call_id, NOW, disposition, disposition, 17, "busy", 0.0, next_at, stop_phone=stop_phone
    )


async def test_concurrent_leases_never_hand_out_the_same_case(db):
    cid = await seed(db, 30)

    async def lease(runner: str):
        async with db.acquire() as conn:
            return await store.lease_contacts(conn, cid, runner, 12, NOW, LEASE)

    got = await asyncio.gather(*(lease(f"r{i}") for i in range(4)))
    case_ids = [c.case_id for batch in got for c in batch]
    assert len(case_ids) == len(set(case_ids)) == 30


async def test_a_lease_expires_and_the_case_comes_back(db):
    cid = await seed(db, 3)
    async with db.acquire() as conn:
        first = await store.lease_contacts(conn, cid, "a", 10, NOW, LEASE)
        assert len(first) == 3
        assert (
            await store.lease_contacts(conn, cid, "b", 10, NOW + timedelta(minutes=5), LEASE) == []
        )
        again = await store.lease_contacts(conn, cid, "b", 10, NOW + timedelta(minutes=11), LEASE)
        assert {c.case_id for c in again} == {c.case_id for c in first}


async def test_a_second_open_attempt_for_a_case_is_refused_by_the_database(db):
    cid = await seed(db, 1)
    async with db.acquire() as conn:
        (contact,) = await store.lease_contacts(conn, cid, "a", 1, NOW, LEASE)
        first = await store.create_attempt(conn, cid, contact, "a", "", NOW)
        assert first is not None
        assert await store.create_attempt(conn, cid, contact, "b", "", NOW) is None
        assert await store.finish_attempt(conn, result(first, "busy", NOW + LEASE))
        assert await store.create_attempt(conn, cid, contact, "b", "", NOW) is not None


async def test_finish_is_exactly_once_and_reschedules(db):
    cid = await seed(db, 1)
    async with db.acquire() as conn:
        (contact,) = await store.lease_contacts(conn, cid, "a", 1, NOW, LEASE)
        call_id = await store.create_attempt(conn, cid, contact, "a", "", NOW)
        retry = NOW + timedelta(minutes=10)
        assert await store.finish_attempt(conn, result(call_id, "busy", retry))
        assert not await store.finish_attempt(conn, result(call_id, "no_answer", None))
        row = await conn.fetchrow("SELECT * FROM attempts WHERE call_id = $1", call_id)
        assert (row["state"], row["disposition"]) == ("done", "busy")
        sched = await conn.fetchrow("SELECT * FROM schedule WHERE case_id = $1", contact.case_id)
        assert sched["next_attempt_at"] == retry and sched["attempts"] == 1
        assert sched["leased_by"] is None
        assert await store.lease_contacts(conn, cid, "a", 1, NOW, LEASE) == []
        (again,) = await store.lease_contacts(conn, cid, "a", 1, retry, LEASE)
        assert again.attempt_no == 2


async def test_invalid_number_moves_to_the_next_phone_then_finishes(db):
    csv = (
        "external_id,debtor_name,amount,days_past_due,phone1,phone2\n"
        "X1,张三,10,3,13800138000,18602012345\n"
    ).encode()
    parsed = parse_cases_csv(csv)
    async with db.acquire() as conn:
        cid = await ensure_campaign(conn, "c")
        await import_cases(conn, cid, parsed.rows, parsed.errors, "x")
        (c1,) = await store.lease_contacts(conn, cid, "a", 1, NOW, LEASE)
        assert c1.e164 == "+8613800138000"
        call = await store.create_attempt(conn, cid, c1, "a", "", NOW)
        await store.finish_attempt(conn, result(call, "invalid_number", NOW, stop_phone=True))
        (c2,) = await store.lease_contacts(conn, cid, "a", 1, NOW, LEASE)
        assert c2.e164 == "+8618602012345"
        call = await store.create_attempt(conn, cid, c2, "a", "", NOW)
        await store.finish_attempt(conn, result(call, "invalid_number", NOW, stop_phone=True))
        assert await conn.fetchval("SELECT count(*) FROM schedule") == 0
        assert await conn.fetchval("SELECT count(*) FROM phones WHERE status = 'stopped'") == 2


@pytest.mark.parametrize("bad", ["002_Bad.sql", "2_x.sql"])
def test_badly_named_migration_is_an_error(tmp_path, bad):
    from dialer_core.store.migrate import discover

    (tmp_path / bad).write_text("SELECT 1;")
    with pytest.raises(ValueError, match="NNN_lower_case.sql"):
        discover(tmp_path)


async def test_the_final_write_carries_the_agent_and_the_abandon_flag(db):
    """If the handler's own write was lost (database briefly down), the close still records it."""
    cid = await seed(db, 1)
    async with db.acquire() as conn:
        (contact,) = await store.lease_contacts(conn, cid, "a", 1, NOW, LEASE)
        call_id = await store.create_attempt(conn, cid, contact, "a", "", NOW)
        final = store.AttemptResult(
            call_id,
            NOW,
            "abandoned",
            "answered",
            16,
            "NORMAL_CLEARING",
            3.0,
            NOW + LEASE,
            agent="",
            abandoned=True,
        )
        assert await store.finish_attempt(conn, final)
        row = await conn.fetchrow(
            "SELECT abandoned, agent FROM attempts WHERE call_id = $1", call_id
        )
        assert row["abandoned"] is True and row["agent"] is None
