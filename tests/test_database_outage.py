"""The database goes away in the middle of a campaign: no call record is lost or doubled."""

from __future__ import annotations

import asyncio

from e2e_rig import attempts_of, rig_for
from virtual_time import connect_outside, in_virtual_time


@in_virtual_time
async def test_a_database_outage_mid_campaign_leaves_every_attempt_closed_once(db, db_dsn):
    server, name = db_dsn.rsplit("/", 1)

    async def outage(holder):
        for _ in range(100):  # wait until calls are in flight
            await asyncio.sleep(0.05)
            if holder and len(holder[0].inflight) >= 2:
                break
        admin = await connect_outside(f"{server}/postgres")
        try:
            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
            )
            await asyncio.sleep(2.0)  # calls end while the database is unreachable
            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        finally:
            await admin.close()

    async with rig_for("asterisk", db, agents=3, time_scale=40, seed=12) as rig:
        cid, campaign = await rig.seed_cases("outage", 150)
        runner = await rig.run_for(campaign, 5.0, during=outage)
        rows = await attempts_of(db, cid)
        originated = rig.originates_received
    assert runner.results.pending == 0, "results kept during the outage were all written"
    assert len(originated) == len(set(originated))
    assert set(originated) <= {r["cid"] for r in rows}
    assert all(r["state"] == "done" and r["disposition"] for r in rows)
    assert runner.stats.finished == len(rows)
