"""A launch round at one clock reading: lease, rules, created_at and launch time agree."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from e2e_rig import attempts_of, campaign_doc, import_campaign, launcher_for
from pg_cut import PgCut

from dialer_core.campaign import calls as c
from dialer_core.campaign.launch import UNCONFIRMED, Launcher, _dt
from dialer_core.clock import next_local_time
from dialer_core.demo_data import demo_cases_csv
from dialer_core.store.attempt_batches import finish_attempts
from dialer_core.store.attempts import NOT_DIALED, lease_contacts
from dialer_core.store.database import DATABASE_ERRORS, create_pool

NOW = next_local_time(10, "Asia/Shanghai", time.time())  # inside the calling window
LEASE = timedelta(minutes=5)


async def test_every_call_of_a_round_is_written_and_launched_at_the_rounds_instant(db):
    launcher, cid = await _launcher(db, "one-instant")
    now = next_local_time(10, "Asia/Shanghai", time.time())  # inside the calling window
    launched = await launcher.round(4, lambda: now)
    assert launched, "the round wrote calls"
    assert all(isinstance(event, c.Launch) and event.at == now for _, event in launched)
    rows = {r["cid"]: r for r in await attempts_of(db, cid)}
    assert set(rows) == {call.call_id for call, _ in launched}
    assert {r["created_at"] for r in rows.values()} == {datetime.fromtimestamp(now, UTC)}
    for call, event in launched:
        effects = call.handle(event)
        assert call.launched_at == now and any(isinstance(e, c.Originate) for e in effects)


async def _launcher(db, name: str, pool=None) -> tuple[Launcher, int]:
    cid, campaign = await import_campaign(db, campaign_doc(name), demo_cases_csv(6, seed=3))
    return launcher_for(pool or db, campaign, cid, "runner-a"), cid


def _cut(db_dsn: str, *, lose_answer: bool) -> PgCut:
    return PgCut(db_dsn, b"INSERT INTO attempts", b"INSERT 0 ", lose_answer=lose_answer)


async def test_a_round_that_loses_the_database_after_its_insert_still_starts_what_it_wrote(
    db, db_dsn
):
    async with _cut(db_dsn, lose_answer=False) as cut:
        pool = await create_pool(cut.dsn)
        try:
            launcher, cid = await _launcher(db, "cut-after", pool)
            launched = await launcher.round(4, lambda: NOW)
        finally:
            pool.terminate()
    assert cut.cut, "the link went down right after the INSERT's answer"
    rows = {r["cid"] for r in await attempts_of(db, cid)}
    assert rows and rows == {call.call_id for call, _ in launched}
    assert all(isinstance(event, c.Launch) for _, event in launched)
    assert not launcher.unconfirmed


async def test_an_insert_whose_answer_is_lost_is_closed_undialed_by_the_next_round(db, db_dsn):
    async with _cut(db_dsn, lose_answer=True) as cut:
        pool = await create_pool(cut.dsn)
        try:
            launcher, cid = await _launcher(db, "cut-answer", pool)
            with pytest.raises(DATABASE_ERRORS):
                await launcher.round(4, lambda: NOW)
        finally:
            pool.terminate()
    assert cut.cut
    written = {r["cid"]: r for r in await attempts_of(db, cid)}
    assert len(written) == 4 and all(r["state"] != "done" for r in written.values())
    assert set(launcher.unconfirmed) == set(written), "the runner knows what it may have written"

    launcher.pool = db  # the database is back: the next round settles them
    again = await launcher.round(6, lambda: NOW + 1)
    settled = {call.call_id: (call, event) for call, event in again if call.call_id in written}
    assert set(settled) == set(written) and not launcher.unconfirmed
    results = []
    for call, event in settled.values():
        assert isinstance(event, c.Hold) and event.code == UNCONFIRMED
        effects = call.handle(event)
        assert not any(isinstance(e, c.Originate) for e in effects), "never dialed"
        results += [e.result for e in effects if isinstance(e, c.WriteResult)]
    fresh = [call for call, _ in again if call.call_id not in written]
    leased = {written[i]["case_id"] for i in written}
    assert all(call.contact.case_id not in leased for call in fresh), "no case dialed twice"
    async with db.acquire() as conn:
        assert all(await finish_attempts(conn, results))
    rows = {r["cid"]: r for r in await attempts_of(db, cid)}
    assert all(rows[i]["state"] == "done" and rows[i]["disposition"] == NOT_DIALED for i in written)


async def test_after_the_lease_time_a_missing_unconfirmed_row_is_forgotten(db):
    launcher, _ = await _launcher(db, "never-written")
    contact = await _one_contact(db, launcher)
    launcher.unconfirmed["00000000-0000-0000-0000-000000000001"] = ((contact, [], "+1"), NOW + 60)
    assert await launcher.settle(NOW) == [] and launcher.unconfirmed, "may still be running"
    assert await launcher.settle(NOW + 61) == [] and not launcher.unconfirmed


async def _one_contact(db, launcher: Launcher):
    async with db.acquire() as conn:
        return (await lease_contacts(conn, launcher.campaign_id, "other", 1, _dt(NOW), LEASE))[0]
