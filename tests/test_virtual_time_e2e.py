"""Virtual time makes an end-to-end campaign a function of its seed (same calls, same times)."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import pytest
from e2e_rig import PBX_KINDS, attempts_of, rig_for
from virtual_time import VirtualTimeLoop, in_virtual_time, open_pool, run_in_virtual_time


async def campaign_outcome(db, pbx: str, name: str) -> list[tuple]:
    """Each attempt as (seconds after the first launch, case, attempt no, disposition, seconds
    it lasted), in launch order."""
    async with rig_for(pbx, db, agents=3, time_scale=40, seed=9) as rig:
        cid, campaign = await rig.seed_cases(name, 120)
        await rig.run_for(campaign, 4.0)
        rows = await attempts_of(db, cid)
    first = rows[0]["created_at"]
    return [
        (
            round((r["created_at"] - first).total_seconds(), 3),
            r["case_id"] - rows[0]["case_id"],
            r["attempt_no"],
            r["disposition"],
            round((r["ended_at"] - r["created_at"]).total_seconds(), 3),
        )
        for r in rows
    ]


@pytest.fixture
async def other_dsn(pg_server, pg_template):
    """A second fresh database, so the second run starts from the same empty state."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(f"{pg_server}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    finally:
        await admin.close()
    yield f"{pg_server}/{name}"
    admin = await asyncpg.connect(f"{pg_server}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.mark.parametrize("pbx", PBX_KINDS)
@in_virtual_time
async def test_the_same_seed_gives_the_same_calls_at_the_same_times(db, other_dsn, pbx):
    first = await campaign_outcome(db, pbx, "seeded")
    other = await open_pool(other_dsn)
    try:
        second = await campaign_outcome(other, pbx, "seeded")
    finally:
        await asyncio.get_running_loop().outside(other.close())
    assert len(first) >= 10
    assert first == second


def test_the_loop_clock_jumps_over_idle_time_and_waits_for_outside_work():
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop)
        await asyncio.sleep(3600)  # an idle hour passes at once
        slept = loop.time()
        # While a thread works, no timer fires early: the clock stands still until it is done.
        timer = asyncio.ensure_future(asyncio.sleep(0.01))
        await asyncio.to_thread(time.sleep, 0.05)
        assert not timer.done()
        await timer
        return slept, loop.time()

    slept, after = run_in_virtual_time(main())
    assert slept == 3600
    assert after == pytest.approx(3600.01)


def test_open_pool_needs_the_virtual_loop():
    with pytest.raises(AssertionError):
        asyncio.run(open_pool("postgresql://unused"))
