"""Stop (``--duration`` or Ctrl-C) while a launch batch is being written: launching ends at
once, the calls in flight get a bounded drain and every attempt is closed once."""

from __future__ import annotations

import asyncio

import pytest
from e2e_rig import PBX_KINDS, attempts_of, rig_for
from pg_cut import PgCut
from virtual_time import in_virtual_time, open_pool

from dialer_core.campaign import calls as c
from dialer_core.campaign.drain import DRAIN_MARGIN, HANGUP_WAIT
from dialer_core.campaign.launch import HALTED
from dialer_core.face.service import run_campaign
from dialer_core.store.attempts import NOT_DIALED

STOP_AT_ROUND = 3  # the launch round whose INSERT is on the wire when stop is set


async def _set(event: asyncio.Event) -> None:
    event.set()


@pytest.mark.parametrize("pbx", PBX_KINDS)
@in_virtual_time
async def test_stop_during_a_launch_batch_ends_launching_at_once(db, db_dsn, pbx):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    inserts: list[float] = []

    def insert_seen() -> None:  # on the relay's thread: a round's INSERT is on its way
        inserts.append(loop.time())
        if len(inserts) == STOP_AT_ROUND:  # stop (on the test's loop) before it goes on
            asyncio.run_coroutine_threadsafe(_set(stop), loop).result(30)

    relay = PgCut(db_dsn, b"INSERT INTO attempts", cut=False, on_marker=insert_seen)
    async with relay, rig_for(pbx, db, agents=20, time_scale=20, seed=4) as rig:
        pool = await open_pool(relay.dsn, statement_cache_size=0)  # every INSERT shows its text
        try:
            cid, campaign = await rig.seed_cases("stop-mid-batch", 400)
            holder: list = []
            task = asyncio.create_task(
                run_campaign(pool, rig.driver, campaign, rig.registry, stop, holder, rig.clock)
            )
            await asyncio.wait_for(stop.wait(), 60)
            stopped_at, at_stop = rig.clock(), loop.time()
            await asyncio.sleep(2.0)
            sent_2s_after = list(rig.originates_received)
            stats = await asyncio.wait_for(task, 600)
            returned_at = rig.clock()
        finally:
            await loop.outside(pool.close())
        rows = await attempts_of(db, cid)
        originated = list(rig.originates_received)
    assert loop.time() - at_stop >= 2.0
    assert originated == sent_2s_after, "no Originate left later than 2 s after the stop"
    assert len(originated) == len(set(originated)), "no call dialed twice"
    by_id = {r["cid"]: r for r in rows}
    assert set(originated) <= set(by_id)
    held = {i for i, r in by_id.items() if HALTED in (r["cause_text"] or "")}
    assert held, "the batch on its way when stop came was written, then held"
    assert not held & set(originated), "none of the held batch was dialed"
    assert all(by_id[i]["disposition"] == NOT_DIALED for i in held)
    last_round = max(r["created_at"] for r in rows)
    assert all(by_id[i]["created_at"] == last_round for i in held), "held: the last round only"
    assert {i for i, r in by_id.items() if r["disposition"] != NOT_DIALED} == set(originated)
    assert all(r["state"] == "done" and r["disposition"] for r in rows), "every attempt closed"
    assert stats.finished == len(rows), "each closed once"
    drain = campaign.ring_timeout + c.HANDLER_GRACE + DRAIN_MARGIN + HANGUP_WAIT
    assert returned_at - stopped_at <= drain + 10, "the drain is bounded"  # + PBX replies
