"""The write-behind queue: the event path never waits, a round is one transaction, a database
outage keeps every close (handed once to the journal hook) and writes it exactly once later."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg

from dialer_core.cases_csv import parse_cases_csv
from dialer_core.demo_data import demo_cases_csv
from dialer_core.store import attempts as store
from dialer_core.store.attempt_batches import create_attempts
from dialer_core.store.campaigns import ensure_campaign
from dialer_core.store.cases import import_cases
from dialer_core.store.write_behind import WriteBehind

NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)


async def _open_attempts(db, n: int) -> list[str]:
    parsed = parse_cases_csv(demo_cases_csv(n, seed=4))
    async with db.acquire() as conn:
        cid = await ensure_campaign(conn, "wb")
        await import_cases(conn, cid, parsed.rows, parsed.errors, "t")
        contacts = await store.lease_contacts(conn, cid, "r", n, NOW, timedelta(minutes=10))
        return await create_attempts(conn, cid, [(c, "") for c in contacts], "r", NOW)


def _result(call_id: str, disposition: str = "busy") -> store.AttemptResult:
    return store.AttemptResult(
        call_id, NOW, disposition, "busy", 17, "USER_BUSY", 0.0, NOW + timedelta(minutes=5)
    )


async def test_queued_writes_land_in_one_round_and_a_close_wins_over_progress(db):
    ids = await _open_attempts(db, 30)
    wb = WriteBehind(db)
    for call_id in ids:
        wb.progress(call_id, "ringing", NOW)
    for call_id in ids[:10]:
        wb.abandon(call_id)
        wb.close(_result(call_id, "abandoned"))
    wb.close(_result(ids[0], "no_answer"))  # a second close of one call: the first wins
    assert wb.depth == 30 + 10 + 11  # nothing written until the flusher runs
    assert await wb.flush() and wb.depth == 0 and wb.rounds == 1
    async with db.acquire() as conn:
        rows = {
            r["call_id"]: r
            for r in await conn.fetch(
                "SELECT call_id::text, state, disposition, abandoned, ringing_at FROM attempts"
            )
        }
    assert all(rows[c]["ringing_at"] == NOW for c in ids)
    assert [rows[c]["disposition"] for c in ids[:10]] == ["abandoned"] * 10
    assert all(rows[c]["abandoned"] for c in ids[:10])
    assert {rows[c]["state"] for c in ids[10:]} == {"ringing"}


async def test_an_outage_keeps_every_close_hands_it_once_to_the_hook_and_writes_it_once(db, db_dsn):
    server, name = db_dsn.rsplit("/", 1)
    ids = await _open_attempts(db, 20)
    held: list[str] = []
    written: list[str] = []
    wb = WriteBehind(
        db,
        interval=0.01,
        retry=(0.05, 0.1),
        on_held=lambda rs: held.extend(r.call_id for r in rs),
        on_written=lambda rs: written.extend(r.call_id for r in rs),
    )
    flusher = asyncio.create_task(wb.run())
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        for call_id in ids:
            wb.close(_result(call_id))
        for _ in range(200):
            await asyncio.sleep(0.02)
            if wb.failures >= 3:
                break
        assert wb.failures >= 3 and wb.depth == 20  # retried, nothing dropped
        assert sorted(held) == sorted(ids)  # each close handed to the hook exactly once
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    finally:
        await admin.close()
    assert await wb.drain(20.0)
    flusher.cancel()
    assert sorted(written) == sorted(ids)
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM attempts WHERE state = 'done'") == 20
