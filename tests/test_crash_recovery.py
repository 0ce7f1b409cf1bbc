"""A runner that died with calls in flight: the next start closes every open attempt once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from e2e_rig import attempts_of, rig_for

from dialer_core.campaign.assembly import runner_id
from dialer_core.store import attempts as store


async def test_attempts_left_open_by_a_crash_are_closed_as_lost_and_redialed(db):
    async with rig_for("asterisk", db, agents=2, time_scale=40) as rig:
        cid, campaign = await rig.seed_cases("crashed", 30)
        me = runner_id(campaign.name)
        now = datetime.fromtimestamp(rig.clock(), UTC)
        # The previous process leased three contacts and wrote their attempt rows, then died
        # before any result (whether or not its Originates went out).
        async with db.acquire() as conn:
            contacts = await store.lease_contacts(conn, cid, me, 3, now, timedelta(minutes=10))
            orphans = [await store.create_attempt(conn, cid, c, me, "", now) for c in contacts]
        runner = await rig.run_for(campaign, 2.0)
        rows = {r["cid"]: r for r in await attempts_of(db, cid)}
        async with db.acquire() as conn:
            schedule = {r["case_id"]: r for r in await conn.fetch("SELECT * FROM schedule")}
    for call_id, contact in zip(orphans, contacts, strict=True):
        row = rows[call_id]
        assert (row["state"], row["disposition"]) == ("done", "lost")
        assert row["next_attempt_at"] is not None
        # The case is free again (its lease was cleared) and comes back after the lost delay.
        assert schedule[contact.case_id]["leased_by"] is None
        assert schedule[contact.case_id]["next_attempt_at"] == row["next_attempt_at"]
    assert all(r["state"] == "done" for r in rows.values())
    assert runner.stats.launched >= 1
